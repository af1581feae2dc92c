/**
 * Datadog: counters and gauges to the series API (v2, or v1 for receivers that only take v1),
 * histograms as distributions or as bucket counters, deflate-compressed and cut under Datadog's
 * size limits. It encodes, sends and classifies; delivery/ does the rest. README.md has the mapping.
 */
import { deflate } from 'node:zlib';
import { promisify } from 'node:util';
import type { CheckResult, SendResult, Sink, SinkContext, SinkFactory } from '../../push/sink.js';
import type { MetricBatch } from '../../push/types.js';
import { DeliveryError } from '../../delivery/errors.js';
import { expectSuccess, get, post } from '../../delivery/http.js';
import { describeForPeople } from '../../delivery/describe.js';
import { DatadogConfigSchema, intakeOf, KNOWN_SITES, type DatadogConfig } from './config.js';
import { encodeUnits, LIMITS, newCaches, normalizeTag, packParts, unitId, type Amount, type EncodeCaches, type EncodeOptions, type Part } from './encode.js';

const deflateAsync = promisify(deflate);
const USER_AGENT = 'meterway/0.1.0';

/** Level 1: series JSON repeats itself, so it already shrinks ~10x at a fraction of the default level's CPU. */
const compress = (text: string): Promise<Buffer> => deflateAsync(text, { level: 1 });

/**
 * What the parts of a failed push delivered, by integration. A push cut into several requests can
 * fail after some went out; delivery then commits nothing, so the next push's deltas cover the
 * same interval again, and what those parts carried is taken off them (keyed by the delta's start,
 * which stays the same until a push succeeds). Kept here rather than in the sink because delivery
 * makes a new sink after a pause, disable or edit, and the next push after those is still owed
 * the difference. An entry goes when a push succeeds or its interval is over.
 */
interface Delivered {
  readonly startMs: number;
  readonly amounts: Map<string, Amount>;
}
const deliveredByIntegration = new Map<string, Delivered>();

interface Push {
  readonly parts: Array<Part & { sent: boolean }>;
  readonly points: number;
}

export class DatadogSink implements Sink {
  private readonly base: string;
  /** The endpoint is the site's own intake, not one given by hand (a proxy, an agent, another receiver). */
  private readonly atSite: boolean;
  private readonly opts: EncodeOptions;
  private readonly caches: EncodeCaches = newCaches();
  /**
   * Each push encoded and compressed once, its parts kept with what went out: a retry sends only
   * the parts not yet accepted, so nothing a receiver took is counted twice, and nothing is
   * re-encoded from a batch that may have changed.
   */
  private readonly pushes = new WeakMap<MetricBatch, Promise<Push>>();

  constructor(
    endpoint: URL,
    private readonly config: DatadogConfig,
    private readonly ctx: SinkContext,
  ) {
    this.base = endpoint.toString().replace(/\/+$/, '');
    let site = '';
    try {
      site = intakeOf(config.site);
    } catch {
      // an unusable site is refused when the integration is saved; here it only means "not the site"
    }
    this.atSite = site !== '' && new URL(site).origin === endpoint.origin && endpoint.pathname.replace(/\/+$/, '') === '';
    const extraTags: string[] = [];
    for (const t of config.tags ?? []) {
      const n = normalizeTag(t);
      if (n !== undefined) extraTags.push(n);
    }
    this.opts = { seriesApi: config.series_api, histograms: config.histograms, intervalS: config.interval_s, extraTags };
  }

  async send(batch: MetricBatch, signal: AbortSignal): Promise<SendResult> {
    let pending = this.pushes.get(batch);
    if (pending === undefined) {
      pending = this.prepare(batch);
      this.pushes.set(batch, pending);
    }
    const push = await pending;
    const several = push.parts.length > 1;
    for (const part of push.parts) {
      if (part.sent) continue;
      await this.deliver(part, signal);
      part.sent = true;
      if (several) this.recordDelivered(batch, part);
    }
    deliveredByIntegration.delete(this.ctx.integrationId);
    return { sent: push.points };
  }

  /** The whole push as requests, encoded in the turn it is called in (see snapshotProject). */
  private prepare(batch: MetricBatch): Promise<Push> {
    const id = this.ctx.integrationId;
    let delivered = deliveredByIntegration.get(id);
    if (delivered !== undefined && delivered.startMs !== batch.startMs) {
      deliveredByIntegration.delete(id);
      delivered = undefined;
    }
    let units: ReturnType<typeof encodeUnits>;
    try {
      units = encodeUnits(batch, this.opts, this.caches, delivered?.amounts);
    } catch (err) {
      return Promise.reject(new DeliveryError('encode', `could not encode the push: ${(err as Error).message}`, false));
    }
    const seriesApi = this.opts.seriesApi;
    return Promise.all([
      packParts(units.series, 'series', LIMITS[seriesApi], compress),
      packParts(units.distributions, 'distribution_points', LIMITS.distribution_points, compress),
    ]).then(
      ([series, distributions]) => ({
        parts: [...series, ...distributions].map((p) => ({ ...p, sent: false })),
        points: units.series.length + units.distributions.length,
      }),
      (err: Error) => {
        throw new DeliveryError('encode', `could not encode the push: ${err.message}`, false);
      },
    );
  }

  private recordDelivered(batch: MetricBatch, part: Part): void {
    const id = this.ctx.integrationId;
    let d = deliveredByIntegration.get(id);
    if (d === undefined || d.startMs !== batch.startMs) {
      d = { startMs: batch.startMs, amounts: new Map() };
      deliveredByIntegration.set(id, d);
    }
    for (const u of part.units) {
      const key = unitId(u);
      if (key === undefined || u.amount === undefined) continue;
      d.amounts.set(key, addAmounts(d.amounts.get(key), u.amount));
    }
  }

  private urlOf(api: Part['api']): URL {
    if (api === 'distribution_points') return new URL(`${this.base}/api/v1/distribution_points`);
    return new URL(`${this.base}/api/${this.opts.seriesApi}/series`);
  }


  private async deliver(part: Part, signal: AbortSignal): Promise<void> {
    const url = this.urlOf(part.api);
    const headers = { 'content-type': 'application/json', 'content-encoding': 'deflate', 'user-agent': USER_AGENT };
    const res = await post(url, part.body, {
      headers, secretHeaders: this.ctx.authHeaders(), timeoutMs: this.config.timeout_s * 1000, allowPrivate: this.ctx.allowPrivateEgress, signal,
    });
    expectSuccess(res, url);
  }

  /** Datadog's key validation (GET /api/v1/validate), answered in words that say what to fix. */
  async check(signal: AbortSignal): Promise<CheckResult> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    const url = new URL(`${this.base}/api/v1/validate`);
    let secrets: Record<string, string>;
    try {
      secrets = this.ctx.authHeaders();
    } catch (err) {
      return { ok: false, latency_ms: latency(), message: (err as Error).message };
    }
    const hasKey = Object.keys(secrets).some((k) => k.toLowerCase() === 'dd-api-key');
    try {
      const res = await get(url, {
        headers: { accept: 'application/json', 'user-agent': USER_AGENT }, secretHeaders: secrets,
        timeoutMs: this.config.timeout_s * 1000, allowPrivate: this.ctx.allowPrivateEgress, signal,
      });
      const refused = (detail: string) => ({ ok: false, status_code: res.status, latency_ms: latency(), message: this.keyRefused(detail, hasKey) });
      if (res.status === 401 || res.status === 403) return refused(`HTTP ${res.status}`);
      if (res.status === 404) return { ok: false, status_code: 404, latency_ms: latency(), message: this.notFound(url) };
      expectSuccess(res, url);
      if (validFalse(res.body)) return refused(`HTTP ${res.status} {"valid":false}`);
      return { ok: true, status_code: res.status, latency_ms: latency(), message: `works: ${url.host} accepted the API key (GET ${url.pathname})` };
    } catch (err) {
      const e = err instanceof DeliveryError ? err : new DeliveryError('network', (err as Error).message, true);
      return { ok: false, ...(e.statusCode === undefined ? {} : { status_code: e.statusCode }), latency_ms: latency(), message: this.describe(e, url) };
    }
  }

  private keyRefused(detail: string, hasKey: boolean): string {
    if (!hasKey) return `${detail}: the request has no API key; add auth_headers {"DD-API-KEY": "<your API key>"}`;
    const site = this.atSite ? `, and that it is a key of an organization on site ${this.config.site} (a key works only on its own site)` : '';
    return `${detail}: the API key was refused; check the DD-API-KEY auth header${site}`;
  }

  private notFound(url: URL): string {
    return this.atSite
      ? `HTTP 404: ${url.host} has no Datadog API at ${url.pathname}; check config.site (${KNOWN_SITES.join(', ')})`
      : `HTTP 404: no Datadog API at ${url}; check the endpoint: it is the base the /api/... paths go under (e.g. http://victoria-metrics:8428/datadog), or leave it out to use config.site`;
  }

  private describe(e: DeliveryError, url: URL): string {
    if (e.reason === 'dns' && this.atSite) {
      return `DNS failure: ${url.hostname} does not resolve, so ${JSON.stringify(this.config.site)} is not a Datadog site; check config.site (${KNOWN_SITES.join(', ')})`;
    }
    return describeForPeople(e, url);
  }
}

function validFalse(body: Buffer): boolean {
  try {
    const doc = JSON.parse(body.toString('utf8')) as unknown;
    return typeof doc === 'object' && doc !== null && (doc as { valid?: unknown }).valid === false;
  } catch {
    return false;
  }
}

function addAmounts(a: Amount | undefined, b: Amount): Amount {
  if (a === undefined) return b;
  if (typeof a === 'number' || typeof b === 'number') return (typeof a === 'number' ? a : 0) + (typeof b === 'number' ? b : 0);
  const buckets = Float64Array.from(b.buckets, (c, i) => c + (a.buckets[i] ?? 0));
  return { buckets, sum: a.sum + b.sum };
}

export const datadogSinkFactory: SinkFactory<DatadogConfig> = {
  kind: 'datadog',
  configSchema: DatadogConfigSchema,
  // Datadog counts are per interval, and distributions hold one interval's observations.
  temporality: () => 'delta',
  defaultEndpoint: (config) => ({ url: intakeOf(config.site), from: 'config.site' }),
  create: (endpoint, config, ctx) => new DatadogSink(endpoint, config, ctx),
};
