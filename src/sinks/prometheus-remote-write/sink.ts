/**
 * Prometheus remote write, 1.0 and 2.0: a batch as one snappy-compressed protobuf request POSTed
 * to the receiver's URL as given. It encodes, sends once and classifies; delivery/ does the rest
 * (schedule, retries of 5xx and 429, pause, status, egress guard, credentials).
 */
import type { CheckResult, SendResult, Sink, SinkContext, SinkFactory } from '../../push/sink.js';
import type { MetricBatch } from '../../push/types.js';
import { pointCount } from '../../push/types.js';
import { DeliveryError } from '../../delivery/errors.js';
import { expectSuccess, post, type HttpResponse } from '../../delivery/http.js';
import { describeForPeople } from '../../delivery/describe.js';
import { snappyCompressAsync } from '../../wire/snappy.js';
import { RemoteWriteConfigSchema, type RemoteWriteConfig } from './config.js';
import { encodeRequestV2, encodeWriteRequestV1, type GoneSeries } from './encode.js';
import { goneSince, seriesOf, type PushedSeries } from './stale.js';

const USER_AGENT = 'meterway/0.1.0';

const HEADERS_V1: Readonly<Record<string, string>> = {
  'content-encoding': 'snappy',
  'content-type': 'application/x-protobuf',
  'user-agent': USER_AGENT,
  'x-prometheus-remote-write-version': '0.1.0',
};

const HEADERS_V2: Readonly<Record<string, string>> = {
  'content-encoding': 'snappy',
  'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
  'user-agent': USER_AGENT,
  'x-prometheus-remote-write-version': '2.0.0',
};

/** What a 2.0 receiver says it wrote (spec: "Required Written Response Headers"). */
const WRITTEN_SAMPLES = 'x-prometheus-remote-write-samples-written';
const WRITTEN_HEADERS = [WRITTEN_SAMPLES, 'x-prometheus-remote-write-histograms-written', 'x-prometheus-remote-write-exemplars-written'];

type Version = '1.0' | '2.0';

/** One batch's request, made once: a retry resends these bytes. */
interface Prepared {
  readonly points: number;
  /** The series the batch carries: the memory for the next push's markers once this one is delivered. */
  readonly series: PushedSeries;
  readonly gone: readonly GoneSeries[];
  /** Compressed off the event loop (src/wire/snappy.ts); encoded in the snapshot's turn. */
  v1?: { readonly body: Promise<Uint8Array>; readonly samples: number };
  v2?: { readonly body: Promise<Uint8Array>; readonly samples: number };
  /**
   * For a 2.0 request, the batch with its histogram counts copied: a fallback to 1.0 encodes it
   * after the 2.0 answer came, when the live counts the batch points at have moved on.
   */
  frozen?: MetricBatch;
}

export class RemoteWriteSink implements Sink {
  /** 2.0 until the receiver shows it speaks only 1.0; then 1.0 for the rest of this sink's life. */
  private version: Version;
  /**
   * Each batch's request, made in the same synchronous turn as the snapshot: the batch may point
   * at live histogram counts (a cumulative snapshot does not copy them), so later would be another
   * instant, and a retry must resend the very request it retries.
   */
  private readonly prepared = new WeakMap<MetricBatch, Prepared>();
  /** The series of the last successful push (see stale.ts). */
  private delivered: PushedSeries | undefined;
  /** Why the sink fell back to 1.0, until a successful push has shown it in the status. */
  private fallbackNote: string | undefined;

  constructor(
    private readonly url: URL,
    private readonly config: RemoteWriteConfig,
    private readonly ctx: SinkContext,
  ) {
    this.version = config.protocol_version;
  }

  async send(batch: MetricBatch, signal: AbortSignal): Promise<SendResult> {
    let p = this.prepared.get(batch);
    if (p === undefined) {
      p = this.prepare(batch);
      this.prepared.set(batch, p);
    }
    const result = await this.deliver(p, signal);
    this.delivered = p.series;
    return result;
  }

  async check(signal: AbortSignal): Promise<CheckResult> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    // An empty request is a valid one (Prometheus answers 204) and writes nothing.
    const empty: MetricBatch = { projectId: this.ctx.projectId, temporality: 'cumulative', startMs: Date.now(), timeMs: Date.now(), metrics: [] };
    const url = this.url;
    try {
      if (this.version === '1.0') {
        const res = await this.post(await snappyCompressAsync(encodeWriteRequestV1(empty).bytes), HEADERS_V1, signal);
        expectSuccess(res, url);
        return { ok: true, status_code: res.status, latency_ms: latency(), message: `works: ${url} accepted a remote write 1.0 request` };
      }
      const res = await this.post(await snappyCompressAsync(encodeRequestV2(empty).bytes), HEADERS_V2, signal);
      if (res.status === 415) {
        const v1 = await this.post(await snappyCompressAsync(encodeWriteRequestV1(empty).bytes), HEADERS_V1, signal);
        expectSuccess(v1, url);
        return {
          ok: true, status_code: v1.status, latency_ms: latency(),
          message: `works with remote write 1.0 only: ${url} refused 2.0 with HTTP 415 and accepted 1.0; pushes will fall back to 1.0 (set protocol_version to "1.0" to ask for it)`,
        };
      }
      expectSuccess(res, url);
      if (!WRITTEN_HEADERS.some((h) => res.headers[h] !== undefined)) {
        return {
          ok: true, status_code: res.status, latency_ms: latency(),
          message: `works, but ${url} answered without the X-Prometheus-Remote-Write-*-Written headers every 2.0 receiver sends: it looks like a 1.0 receiver; pushes will fall back to 1.0 (set protocol_version to "1.0" to ask for it)`,
        };
      }
      return { ok: true, status_code: res.status, latency_ms: latency(), message: `works: ${url} accepted a remote write 2.0 request` };
    } catch (err) {
      const e = err instanceof DeliveryError ? err : new DeliveryError('network', (err as Error).message, true);
      return { ok: false, ...(e.statusCode === undefined ? {} : { status_code: e.statusCode }), latency_ms: latency(), message: describeForPeople(e, url) };
    }
  }

  private prepare(batch: MetricBatch): Prepared {
    const series = seriesOf(batch);
    const gone = goneSince(this.delivered, series);
    const p: Prepared = { points: pointCount(batch), series, gone };
    try {
      if (this.version === '1.0') {
        const e = encodeWriteRequestV1(batch, gone);
        p.v1 = { body: snappyCompressAsync(e.bytes), samples: e.samples };
      } else {
        const e = encodeRequestV2(batch, gone);
        p.v2 = { body: snappyCompressAsync(e.bytes), samples: e.samples };
        p.frozen = frozen(batch);
      }
    } catch (err) {
      throw new DeliveryError('encode', `could not encode the remote write request: ${(err as Error).message}`, false);
    }
    return p;
  }

  private async deliver(p: Prepared, signal: AbortSignal): Promise<SendResult> {
    if (this.version === '1.0' || p.v2 === undefined) return this.deliverV1(p, signal);
    const res = await this.post(await p.v2.body, HEADERS_V2, signal);
    if (res.status === 415) {
      this.fallBack(`${this.url} refused remote write 2.0 with HTTP 415 (Unsupported Media Type)`);
      return this.deliverV1(p, signal);
    }
    expectSuccess(res, this.url);
    if (!WRITTEN_HEADERS.some((h) => res.headers[h] !== undefined)) {
      // A 1.0 receiver reads a 2.0 body as an empty WriteRequest (the fields differ) and answers
      // 2xx having written nothing: the spec's reason for the headers. So the data goes again, as 1.0.
      this.fallBack(`${this.url} answered a remote write 2.0 request without the X-Prometheus-Remote-Write-*-Written headers, so it is taken for a 1.0 receiver, which writes nothing of a 2.0 body`);
      return this.deliverV1(p, signal);
    }
    return { sent: p.points, ...shortfall(res, p.v2.samples, p.points) };
  }

  private async deliverV1(p: Prepared, signal: AbortSignal): Promise<SendResult> {
    if (p.v1 === undefined) {
      let e;
      try {
        e = encodeWriteRequestV1(p.frozen!, p.gone);
      } catch (err) {
        throw new DeliveryError('encode', `could not encode the remote write request: ${(err as Error).message}`, false);
      }
      p.v1 = { body: snappyCompressAsync(e.bytes), samples: e.samples };
    }
    const res = await this.post(await p.v1.body, HEADERS_V1, signal);
    expectSuccess(res, this.url);
    const note = this.fallbackNote;
    this.fallbackNote = undefined;
    // Nothing was refused: status.last_notice says why this integration now sends 1.0.
    return note === undefined ? { sent: p.points } : { sent: p.points, notice: note };
  }

  private fallBack(why: string): void {
    this.version = '1.0';
    this.fallbackNote = `${why}; sent as remote write 1.0, which this integration uses from now on (set config.protocol_version to "1.0" to ask for it and stop trying 2.0 after an edit or a restart)`;
  }

  private post(body: Uint8Array, headers: Readonly<Record<string, string>>, signal: AbortSignal): Promise<HttpResponse> {
    const secretHeaders = this.ctx.authHeaders();
    return post(this.url, body, { headers, secretHeaders, timeoutMs: this.config.timeout_s * 1000, allowPrivate: this.ctx.allowPrivateEgress, signal });
  }
}

/** The batch with copies of its live parts (histogram counts); everything else in a snapshot is already a value. */
function frozen(batch: MetricBatch): MetricBatch {
  return {
    ...batch,
    metrics: batch.metrics.map((m) =>
      m.type !== 'histogram' ? m : { ...m, points: m.points.map((p) => ('bucketCounts' in p ? { ...p, bucketCounts: Float64Array.from(p.bucketCounts) } : p)) }),
  };
}

/**
 * A 2.0 receiver that wrote fewer samples than it was sent: recorded, not retried (the spec's
 * partial write; resending would not change what the receiver refuses). Remote write counts
 * samples and the status counts data points: a histogram point is one sample per bucket plus
 * `_sum` and `_count`, a gone series is a marker sample, so the data points rejected are at most
 * the samples lost, and at most all of them.
 */
function shortfall(res: HttpResponse, sent: number, points: number): Pick<SendResult, 'partial'> {
  const header = res.headers[WRITTEN_SAMPLES];
  const text = Array.isArray(header) ? header[0] : header;
  // The spec's receivers send all three headers; one missing among the others means none of that kind written.
  const written = text === undefined ? 0 : Number(text.trim());
  if (!Number.isInteger(written) || written < 0 || written >= sent) return {};
  const lost = sent - written;
  const rejected = Math.min(points, lost);
  const exact = sent === points;
  const message = exact
    ? `the receiver wrote ${written} of the ${sent} samples sent (X-Prometheus-Remote-Write-Samples-Written)`
    : `the receiver wrote ${written} of the ${sent} samples sent (X-Prometheus-Remote-Write-Samples-Written; remote write counts a histogram point as one sample per bucket plus _sum and _count, so the data points rejected are at most ${rejected})`;
  return { partial: { rejected, message } };
}

export const remoteWriteSinkFactory: SinkFactory<RemoteWriteConfig> = {
  kind: 'prometheus_remote_write',
  configSchema: RemoteWriteConfigSchema,
  // Prometheus counters are cumulative; remote write has no delta.
  temporality: () => 'cumulative',
  create: (endpoint, config, ctx) => new RemoteWriteSink(endpoint, config, ctx),
};
