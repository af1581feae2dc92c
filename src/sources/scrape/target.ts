/**
 * One target's scrape: the HTTP exchange Prometheus 2.42 has (its Accept header, gzip, the
 * timeout header), the body parsed as it arrives, every series relabelled once and remembered,
 * and then, only if the whole exposition was valid, its samples into the projects they name.
 *
 * A scrape is all or nothing where Prometheus' is (a body that is no exposition, a line past the
 * limit, sample_limit, a timeout: `up 0`, nothing applied, the target's series end as Prometheus
 * marks them stale) and per series where Meterway's aggregation refuses one (no or an unknown
 * project, a name another source holds with another type, the series limit): those are dropped
 * and counted, the rest of the scrape goes in.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { isAscii } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import { TextDecoder } from 'node:util';
import type { Readable } from 'node:stream';
import type { Aggregator, ProjectMetrics } from '../../aggregate/project.js';
import { DeclareError } from '../../aggregate/project.js';
import type { Family } from '../../aggregate/registry.js';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../../aggregate/series.js';
import { applyCounter, applyGauge, applyHistogram, identity, type SeriesIdentity } from '../../aggregate/samples.js';
import { labelNameProblem, metricNameProblem } from '../../core/labels.js';
import { MAX_LABEL_CHARS } from '../../ingest/fields.js';
import type { SourceObserver } from '../source.js';
import type { ScrapeJob, ScrapeTarget } from './config.js';
import { assembleHistogram, rebucket } from './histogram.js';
import { relabel } from './relabel.js';
import { ExpositionParser, ScrapeFailure, SeriesCache, describe, parseValue, type ExposedSeries, type Exposition, type ExposedType, type FailureReason } from './parse.js';

/** What Prometheus 2.42 asks for (scrape/scrape.go, without its protobuf-first variant). */
export const ACCEPT_HEADER = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
export const USER_AGENT = 'Meterway-scraper';
/** Longest line taken: no exporter writes one near this, and a body that does is not an exposition. */
export const MAX_LINE_CHARS = 1024 * 1024;
/** Inflated bytes per chunk of a gzipped body. */
const GUNZIP_CHUNK_BYTES = 256 * 1024;
/** As far ahead of the gateway's clock as a sample's timestamp may be (the remote write receiver's rule). */
const MAX_AHEAD_MS = 10 * 60_000;
const PROJECT_LABEL = 'project_id';

export type DropReason = 'no_project' | 'unknown_project' | 'invalid' | 'conflict' | 'series_limit' | 'duplicate';

export interface TargetReport {
  readonly up: boolean;
  readonly durationSeconds: number;
  readonly samplesScraped: number;
  readonly samplesPostRelabel: number;
  readonly failure?: FailureReason;
}

/** Where a target's scrapes are reported: the gateway's own metrics. */
export interface ScrapeObserver extends SourceObserver {
  targetScraped(job: string, instance: string, report: TargetReport): void;
  targetDropped(job: string, instance: string, reason: DropReason, n: number): void;
}

export interface ScrapeOutcome {
  readonly report: TargetReport;
  /** The failure's message, when the scrape failed. */
  readonly error?: string;
  /** Samples dropped, by reason, with the first message of each. */
  readonly dropped: ReadonlyMap<DropReason, { n: number; message: string }>;
}

/** A series a scrape feeds in the aggregation: found once per project, remembered for staleness. */
interface SeriesRef {
  readonly pid: string;
  readonly name: string;
  readonly id: SeriesIdentity;
  readonly help: string;
  readonly unit: string;
  pm: ProjectMetrics | undefined;
  fam: Family | string | undefined;
  /** The last scrape that applied it. */
  stamp: number;
}

interface SimpleRef extends SeriesRef {
  readonly type: 'counter' | 'gauge';
}

/** A histogram's series, assembled from the samples of its `_bucket`, `_sum` and `_count` lines in each scrape. */
interface HistGroup extends SeriesRef {
  /** The bounds its family was found for (a family's bounds are fixed; the exporter's may change). */
  famBounds: string;
  rebucketed: boolean;
  scale: number;
  // This scrape's samples:
  touched: number;
  les: number[];
  cums: number[];
  sum: number | undefined;
  count: number | undefined;
  timeMs: number;
  samples: number;
  duplicate: boolean;
}

/** An exposition histogram (family and labels but le), for the checks of the exposition itself. */
interface RawGroup {
  readonly what: string;
  stamp: number;
  hasInf: boolean;
}

type Outcome =
  | { readonly k: 'dropped' }
  | { readonly k: 'refused'; readonly reason: DropReason; readonly message: string }
  | { readonly k: 'series'; readonly ref: SimpleRef }
  | { readonly k: 'component'; readonly part: 'bucket' | 'sum' | 'count'; readonly le: number; readonly group: HistGroup };

interface SeriesState {
  /** out.k, here too: the hot loops read it once per sample, one object less to reach. */
  readonly k: Outcome['k'];
  readonly kind: Kind;
  /** The metadata epoch `kind` was last checked in (see TargetScraper.metaEpoch). */
  epoch: number;
  readonly out: Outcome;
  readonly scale: number;
  readonly rawGroup: RawGroup | undefined;
  readonly rawLe: number;
}

/** What an exposition name is, given the metadata of the scrape. */
interface Kind {
  readonly sig: string;
  readonly as: 'counter' | 'gauge' | 'bucket' | 'sum' | 'count';
  /** The exposition's family (the TYPE line's name), or the name itself when untyped. */
  readonly family: string;
  readonly help: string;
  readonly unit: string;
}

const HIST_SUFFIX = { bucket: '_bucket', sum: '_sum', count: '_count' } as const;

export class TargetScraper {
  private readonly cache = new SeriesCache();
  private readonly refs = new Map<string, SimpleRef>();
  private readonly groups = new Map<string, HistGroup>();
  private readonly rawGroups = new Map<string, RawGroup>();
  /** Each name's kind as the last scrape found it. */
  private readonly kinds = new Map<string, Kind>();
  /**
   * Bumped when an exposition's metadata lines differ from the last one's. A series whose state was
   * checked in this epoch has the right kind without a lookup: exporters rarely change a TYPE.
   */
  private metaEpoch = 0;
  private metaText: string | undefined;
  /** What the first pass of the last scrape that passed it found: samples kept (-1: none did), in which epoch. */
  private checkedPost = -1;
  private checkedEpoch = -1;
  private stamp = 0;
  /** What the last successful scrape applied: the series that end when a later scrape lacks them. */
  private applied: SeriesRef[] = [];
  private readonly agent: HttpAgent;
  private readonly targetLabels: ReadonlyMap<string, string>;
  private inFlight: AbortController | undefined;

  constructor(
    readonly job: ScrapeJob,
    readonly target: ScrapeTarget,
    private readonly aggregator: Aggregator,
    private readonly observer?: ScrapeObserver,
  ) {
    this.targetLabels = new Map(target.labels);
    const tls = job.tls;
    this.agent = target.scheme === 'https'
      ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: tls?.ca, cert: tls?.cert, key: tls?.key, servername: tls?.serverName, rejectUnauthorized: !(tls?.insecureSkipVerify ?? false) })
      : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  }

  /** One scrape, start to end; never throws (a failure is its outcome). */
  async scrape(nowMs = Date.now): Promise<ScrapeOutcome> {
    const startMs = nowMs();
    const t0 = performance.now();
    const stamp = ++this.stamp;
    let scraped = 0;
    let post = 0;
    const dropped = new Map<DropReason, { n: number; message: string }>();
    try {
      const ex = await this.fetch(stamp);
      scraped = ex.series.length;
      const applied = this.apply(ex, stamp, startMs, nowMs(), dropped);
      post = applied.post;
      const report: TargetReport = { up: true, durationSeconds: (performance.now() - t0) / 1000, samplesScraped: scraped, samplesPostRelabel: post };
      this.report(report, dropped, applied.accepted);
      return { report, dropped };
    } catch (err) {
      const failure = err instanceof ScrapeFailure ? err : new ScrapeFailure('connection', `unexpected error: ${(err as Error).message}`);
      // As Prometheus marks them stale: a target that cannot be scraped keeps no series.
      this.endAll();
      const report: TargetReport = { up: false, durationSeconds: (performance.now() - t0) / 1000, samplesScraped: scraped, samplesPostRelabel: post, failure: failure.reason };
      this.report(report, dropped, 0);
      return { report, error: failure.message, dropped };
    }
  }

  /** Aborts a scrape in progress (the gateway is stopping). */
  abort(): void {
    this.inFlight?.abort();
  }

  close(): void {
    this.abort();
    this.agent.destroy();
  }

  private report(report: TargetReport, dropped: Map<DropReason, { n: number; message: string }>, accepted: number): void {
    const o = this.observer;
    if (o === undefined) return;
    o.targetScraped(this.target.job, this.target.instance, report);
    for (const [reason, { n }] of dropped) {
      o.targetDropped(this.target.job, this.target.instance, reason, n);
      o.sourceDropped('scrape', reason, n);
    }
    o.sourceSamples('scrape', accepted);
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = {
      accept: ACCEPT_HEADER,
      'accept-encoding': 'gzip',
      'user-agent': USER_AGENT,
      'x-prometheus-scrape-timeout-seconds': String(this.target.timeoutMs / 1000),
    };
    const auth = this.job.auth;
    if (auth.kind === 'authorization') {
      const credentials = auth.file !== undefined ? readSecretFile(auth.file) : (auth.credentials?.reveal() ?? '');
      h.authorization = `${auth.type} ${credentials}`;
    } else if (auth.kind === 'basic') {
      const password = auth.file !== undefined ? readSecretFile(auth.file) : (auth.password?.reveal() ?? '');
      h.authorization = `Basic ${Buffer.from(`${auth.username}:${password}`).toString('base64')}`;
    }
    return h;
  }

  /** The exchange and the parse, bounded by the scrape timeout. */
  private async fetch(stamp: number): Promise<Exposition> {
    const controller = new AbortController();
    this.inFlight = controller;
    const timer = setTimeout(() => controller.abort(), this.target.timeoutMs);
    const url = this.target.url;
    let res: IncomingMessage | undefined;
    try {
      const send = (mayRetry: boolean) => new Promise<IncomingMessage>((resolve, reject) => {
        const request = this.target.scheme === 'https' ? httpsRequest : httpRequest;
        const req = request(url, { method: 'GET', headers: this.headers(), agent: this.agent, signal: controller.signal }, resolve);
        req.on('error', (err: NodeJS.ErrnoException) => {
          // The target closed the kept-alive connection as this request went out on it (its idle
          // timeout ran out meanwhile): sent again on a new one, as Go's client (Prometheus') does.
          if (mayRetry && req.reusedSocket && err.code === 'ECONNRESET' && !controller.signal.aborted) resolve(send(false));
          else reject(err);
        });
        req.end();
      });
      res = await send(true);
      if (res.statusCode !== 200) {
        throw new ScrapeFailure('http_status', `server returned HTTP status ${res.statusCode} ${res.statusMessage ?? ''}`.trim());
      }
      const type = res.headers['content-type'] ?? '';
      if (/^\s*text\/html\b/i.test(type)) {
        throw new ScrapeFailure('not_metrics', `the target answered a web page (Content-Type ${type}), not metrics; check scheme, metrics_path and the port`);
      }
      const declared = Number(res.headers['content-length']);
      const limit = this.job.bodySizeLimit;
      if (res.headers['content-encoding'] !== 'gzip' && declared > limit) throw bodyTooLarge(limit);
      const format = /application\/openmetrics-text/i.test(type) ? 'openmetrics' : 'text';
      const parser = new ExpositionParser(format, this.cache, stamp, {
        maxLineChars: MAX_LINE_CHARS,
        labelLimit: this.job.labelLimit,
        labelNameLengthLimit: this.job.labelNameLengthLimit,
        labelValueLengthLimit: this.job.labelValueLengthLimit,
      });
      let body: Readable = res;
      if (res.headers['content-encoding'] === 'gzip') {
        // zlib's default 16 KiB output chunks cost five times the inflating itself in stream
        // events and parser calls (measured: 45 ms against 9 ms for a 14.6 MB exposition).
        const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
        res.on('error', (e) => gunzip.destroy(e));
        body = res.pipe(gunzip);
      }
      const decoder = new TextDecoder('utf-8', { fatal: true });
      // Expositions are ASCII nearly always: such a chunk becomes a string without UTF-8 decoding
      // (and a one-byte string, cheaper to compare). Once a chunk is not, the decoder takes the
      // rest, since it may hold the start of a character cut by the chunk's end.
      let ascii = true;
      let bytes = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        // Prometheus' rule: a body of the limit or more fails.
        if (bytes >= limit) throw bodyTooLarge(limit);
        if (ascii && isAscii(chunk)) parser.push(chunk.toString('latin1'));
        else {
          ascii = false;
          parser.push(decodeChunk(decoder, chunk));
        }
      }
      if (!ascii) parser.push(decodeChunk(decoder, undefined));
      return parser.end();
    } catch (err) {
      if (err instanceof ScrapeFailure) throw err;
      if (controller.signal.aborted) throw new ScrapeFailure('timeout', `the scrape took longer than scrape_timeout (${this.target.timeoutMs / 1000}s)`);
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'Z_DATA_ERROR' || e.code === 'Z_BUF_ERROR') throw new ScrapeFailure('not_metrics', `the body says it is gzip (Content-Encoding: gzip) but is not: ${e.message}`);
      throw new ScrapeFailure('connection', `GET ${url}: ${e.message}`);
    } finally {
      clearTimeout(timer);
      if (this.inFlight === controller) this.inFlight = undefined;
      // A body not read to its end (a failure) must not leave its socket to the next scrape; one
      // that came whole but unread (an error status) is drained, so the socket goes back to the agent.
      if (res !== undefined && !res.complete) res.destroy();
      else if (res !== undefined && !res.readableEnded) res.resume();
    }
  }

  /**
   * Applies a parsed exposition: first every series resolved and the exposition checked whole
   * (so a failure applies nothing), then the samples.
   */
  private apply(ex: Exposition, stamp: number, startMs: number, nowMs: number, dropped: Map<DropReason, { n: number; message: string }>): { post: number; accepted: number } {
    const kinds = new Map<string, Kind>();
    const known = this.kinds;
    const n = ex.series.length;
    if (ex.metaText !== this.metaText) {
      this.metaText = ex.metaText;
      this.metaEpoch++;
    }
    const epoch = this.metaEpoch;
    const touchedRaw: RawGroup[] = [];
    // The same series in the same order under the same metadata as the last good scrape: what this
    // pass finds (states, the count kept, the +Inf buckets) is what it found then.
    const unchanged = ex.same && epoch === this.checkedEpoch && this.checkedPost >= 0;
    let post = unchanged ? this.checkedPost : 0;
    this.checkedPost = -1;
    for (let i = 0; i < (unchanged ? 0 : n); i++) {
      const s = ex.series[i];
      let st = s.state as SeriesState | undefined;
      if (st === undefined || st.epoch !== epoch) {
        let kind = kinds.get(s.name);
        if (kind === undefined) {
          // The same Kind object as last scrape when nothing about the name changed, so a series'
          // state is checked by identity, not by comparing strings.
          kind = kindOf(s.name, ex);
          const had = known.get(s.name);
          if (had !== undefined && had.sig === kind.sig) kind = had;
          else known.set(s.name, kind);
          kinds.set(s.name, kind);
        }
        if (st === undefined || st.kind !== kind) s.state = st = this.resolve(s, kind);
        st.epoch = epoch;
      }
      if (st.k !== 'dropped') post++;
      const rg = st.rawGroup;
      if (rg !== undefined) {
        if (rg.stamp !== stamp) {
          rg.stamp = stamp;
          rg.hasInf = false;
          touchedRaw.push(rg);
        }
        if (st.rawLe === Infinity) rg.hasInf = true;
      }
    }
    for (const rg of touchedRaw) {
      if (!rg.hasInf) throw new ScrapeFailure('histogram_invalid', `the histogram ${rg.what} has no le="+Inf" bucket; every classic histogram ends with one (it counts all observations)`);
    }
    const limit = this.job.sampleLimit;
    if (limit > 0 && post > limit) throw new ScrapeFailure('sample_limit', `sample limit exceeded: ${post} samples after metric_relabel_configs, sample_limit is ${limit}`);
    this.checkedPost = post;
    this.checkedEpoch = epoch;

    const drop = (reason: DropReason, message: string, count = 1) => {
      const d = dropped.get(reason);
      if (d === undefined) dropped.set(reason, { n: count, message });
      else d.n += count;
    };
    const applied: SeriesRef[] = [];
    const groups: HistGroup[] = [];
    let accepted = 0;
    const honor = this.job.honorTimestamps;
    for (let i = 0; i < n; i++) {
      const st = ex.series[i].state as SeriesState;
      const out = st.out;
      if (out.k === 'dropped') continue;
      if (out.k === 'refused') {
        drop(out.reason, out.message);
        continue;
      }
      const t = ex.times[i];
      const timeMs = honor && !Number.isNaN(t) ? t : startMs;
      const value = ex.values[i] * st.scale;
      if (out.k === 'component') {
        const g = out.group;
        if (g.touched !== stamp) {
          g.touched = stamp;
          g.les = [];
          g.cums = [];
          g.sum = undefined;
          g.count = undefined;
          g.timeMs = timeMs;
          g.samples = 0;
          g.duplicate = false;
          g.scale = st.scale;
          groups.push(g);
        }
        g.samples++;
        if (timeMs > g.timeMs) g.timeMs = timeMs;
        if (out.part === 'bucket') {
          g.les.push(out.le * st.scale);
          g.cums.push(ex.values[i]);
        } else if (out.part === 'sum') {
          if (g.sum !== undefined) g.duplicate = true;
          g.sum = value;
        } else {
          if (g.count !== undefined) g.duplicate = true;
          g.count = ex.values[i];
        }
        continue;
      }
      const ref = out.ref;
      const pm = this.project(ref, drop);
      if (pm === undefined) continue;
      if (ref.pm !== pm || ref.fam === undefined) {
        ref.pm = pm;
        const found = simpleFamily(pm, ref);
        if (found instanceof Refused) {
          // A project at its series limit may have room later: only a conflict is for good.
          ref.fam = found.reason === 'conflict' ? found.message : undefined;
          drop(found.reason, found.message);
          continue;
        }
        ref.fam = found;
      }
      if (typeof ref.fam === 'string') {
        drop('conflict', ref.fam);
        continue;
      }
      if (ref.stamp === stamp) {
        drop('duplicate', `series ${ref.name}: two series of the exposition become the same series after relabelling (${describeId(ref)}); keep a label that tells them apart`);
        continue;
      }
      ref.stamp = stamp;
      applied.push(ref);
      const why = this.applyValue(pm, ref, value, timeMs, nowMs);
      if (why === undefined) accepted++;
      else drop(why[0], why[1]);
    }
    for (const g of groups) {
      const ok = this.applyGroup(g, stamp, nowMs, drop);
      if (ok === true) {
        accepted += g.samples;
        applied.push(g);
      } else if (ok === 'seen') applied.push(g);
    }
    this.endMissing(stamp, applied);
    this.cache.trim(stamp, n);
    if (this.refs.size > 2 * n + 1000) for (const [k, r] of this.refs) if (r.stamp !== stamp) this.refs.delete(k);
    if (this.groups.size > n + 1000) for (const [k, g] of this.groups) if (g.touched !== stamp) this.groups.delete(k);
    // An unchanged scrape stamps no raw group (its first pass was skipped) and resolves none anew.
    if (!unchanged && this.rawGroups.size > n + 1000) for (const [k, g] of this.rawGroups) if (g.stamp !== stamp) this.rawGroups.delete(k);
    // Names no longer written are forgotten when the metadata changes (every name was looked up then).
    if (kinds.size > 0 && this.kinds.size > 2 * kinds.size + 1000) for (const k of this.kinds.keys()) if (!kinds.has(k)) this.kinds.delete(k);
    return { post, accepted };
  }

  /** The project a series names, or undefined (and the drop counted) when it is gone. */
  private project(ref: SeriesRef, drop: (reason: DropReason, message: string, n?: number) => void, n = 1): ProjectMetrics | undefined {
    const pm = this.aggregator.get(ref.pid);
    if (pm === undefined) drop('unknown_project', `series ${ref.name}: the project_id label names ${JSON.stringify(ref.pid)}, which is not a project of this gateway`, n);
    return pm;
  }

  private applyValue(pm: ProjectMetrics, ref: SimpleRef, value: number, timeMs: number, nowMs: number): readonly [DropReason, string] | undefined {
    if (timeMs > nowMs + MAX_AHEAD_MS) return ['invalid', `series ${ref.name}: its timestamp ${new Date(timeMs).toISOString()} is more than 10 minutes ahead of the gateway's clock; check the exporter's clock, or set honor_timestamps: false`];
    const fam = ref.fam as Family;
    const t = { startMs: 0, timeMs };
    let why;
    if (ref.type === 'counter') {
      if (!(value >= 0) || value === Infinity) return ['invalid', `series ${ref.name}: ${value} is not a value a counter can hold (a finite number, not negative)`];
      why = applyCounter(pm, fam as Family<CounterSeries>, ref.id, value, t, 'cumulative', nowMs);
    } else {
      why = applyGauge(pm, fam as Family<GaugeSeries>, ref.id, value, t, undefined, nowMs);
    }
    return why === undefined ? undefined : [why.reason, `series ${ref.name}: ${why.message}`];
  }

  /** Assembles and applies one histogram; true when applied, 'seen' when refused but its series stays, false when refused. */
  private applyGroup(g: HistGroup, stamp: number, nowMs: number, drop: (reason: DropReason, message: string, n?: number) => void): boolean | 'seen' {
    if (g.duplicate) {
      drop('duplicate', `histogram ${g.name}: two series of the exposition become the same series after relabelling (${describeId(g)}); keep a label that tells them apart`, g.samples);
      return false;
    }
    const h = assembleHistogram(g.les, g.cums, g.count, g.sum);
    if (typeof h === 'string') {
      drop('invalid', `histogram ${g.name} (${describeId(g)}): ${h}`, g.samples);
      return false;
    }
    const pm = this.project(g, drop, g.samples);
    if (pm === undefined) return false;
    const boundsKey = h.bounds.join(',');
    if (g.pm !== pm || g.fam === undefined || g.famBounds !== boundsKey) {
      g.pm = pm;
      g.famBounds = boundsKey;
      const found = histogramFamily(pm, g, h.bounds, this.job.rebucket);
      if (found instanceof Refused) {
        g.fam = found.reason === 'conflict' ? found.message : undefined;
        drop(found.reason, found.message, g.samples);
        return false;
      }
      g.fam = found.fam;
      g.rebucketed = found.rebucketed;
    }
    if (typeof g.fam === 'string') {
      drop('conflict', g.fam, g.samples);
      return false;
    }
    if (g.timeMs > nowMs + MAX_AHEAD_MS) {
      drop('invalid', `histogram ${g.name}: its timestamp is more than 10 minutes ahead of the gateway's clock; check the exporter's clock, or set honor_timestamps: false`, g.samples);
      return false;
    }
    const fam = g.fam as Family<HistogramSeries>;
    const bucketCounts = g.rebucketed ? rebucket(h.bounds, h.bucketCounts, fam.def.buckets ?? []) : h.bucketCounts;
    g.stamp = stamp;
    const why = applyHistogram(pm, fam, g.id, { count: h.count, sum: h.sum, bucketCounts }, { startMs: 0, timeMs: g.timeMs }, 'cumulative', nowMs);
    if (why === undefined) return true;
    drop(why.reason, `histogram ${g.name}: ${why.message}`, g.samples);
    return 'seen';
  }

  /** The series the last scrape applied and this one did not: they end, as a stale marker ends them in Prometheus. */
  private endMissing(stamp: number, applied: SeriesRef[]): void {
    for (const ref of this.applied) if (ref.stamp !== stamp) this.remove(ref);
    this.applied = applied;
  }

  private endAll(): void {
    for (const ref of this.applied) this.remove(ref);
    this.applied = [];
  }

  private remove(ref: SeriesRef): void {
    const pm = ref.pm;
    if (pm === undefined || typeof ref.fam !== 'object' || this.aggregator.get(ref.pid) !== pm) return;
    pm.registry.remove(ref.fam, ref.id.key);
  }

  /**
   * A series of the exposition relabelled into what it feeds: the target's labels joined as
   * honor_labels says, metric_relabel_configs applied, the project and the family name found.
   * Done once per series (and again only when the exposition's TYPE for it changes).
   */
  private resolve(s: ExposedSeries, kind: Kind): SeriesState {
    const job = this.job;
    const scale = job.valueScale.get(kind.family) ?? job.valueScale.get(s.name) ?? 1;
    let rawGroup: RawGroup | undefined;
    let rawLe = NaN;
    if (kind.as === 'bucket') {
      const le = s.label('le');
      const v = le === undefined ? undefined : parseValue(le);
      if (v === undefined) {
        throw new ScrapeFailure('histogram_invalid', `the bucket ${describe(s)} of the histogram ${kind.family} has ${le === undefined ? 'no le label' : `le=${JSON.stringify(le)}, not a number`}`);
      }
      rawLe = v;
      const rest: string[] = [];
      for (let i = 0; i < s.labels.length; i += 2) if (s.labels[i] !== 'le') rest.push(s.labels[i], s.labels[i + 1]);
      const key = `${kind.family}\u0000${rest.join('\u0000')}`;
      rawGroup = this.rawGroups.get(key);
      if (rawGroup === undefined) this.rawGroups.set(key, (rawGroup = { what: describe({ name: kind.family, labels: rest }), stamp: 0, hasInf: false }));
    }
    const base = { kind, epoch: 0, scale, rawGroup, rawLe };
    const labels = this.joinTargetLabels(s);
    if (!relabel(labels, job.metricRelabel)) return { ...base, k: 'dropped', out: { k: 'dropped' } };
    const name = labels.get('__name__');
    if (name === undefined) {
      throw new ScrapeFailure('invalid_series', `metric_relabel_configs left the series ${describe(s)} without a metric name (the __name__ label); Prometheus fails such a scrape too`);
    }
    const badName = metricNameProblem(name);
    if (badName !== undefined) throw new ScrapeFailure('invalid_series', `after metric_relabel_configs, the series ${describe(s)}: ${badName}`);
    labels.delete('__name__');
    const refuse = (message: string, reason: DropReason = 'invalid'): SeriesState => ({ ...base, k: 'refused', out: { k: 'refused', reason, message } });
    for (const [n, v] of labels) {
      const bad = labelNameProblem(n);
      if (bad !== undefined) {
        if (n.startsWith('__')) return refuse(`series ${name}: ${bad}; drop it in metric_relabel_configs (action: labeldrop)`);
        throw new ScrapeFailure('invalid_series', `after metric_relabel_configs, the series ${describe(s)}: ${bad}`);
      }
      if (v.length > MAX_LABEL_CHARS) return refuse(`series ${name}: the label ${n} is ${v.length} characters long, more than the ${MAX_LABEL_CHARS} a label value may have`);
      if (v.includes('\u0000')) return refuse(`series ${name}: the label ${n} contains the NUL character`);
    }
    const pid = labels.get(PROJECT_LABEL);
    if (pid === undefined) {
      return refuse(`series ${name}: no project_id label after relabelling; give the target one (static_configs labels) or make one in metric_relabel_configs (deploy/scrape/ has examples)`, 'no_project');
    }
    let family = name;
    let le = NaN;
    if (kind.as === 'bucket' || kind.as === 'sum' || kind.as === 'count') {
      const suffix = HIST_SUFFIX[kind.as];
      if (!name.endsWith(suffix) || name.length === suffix.length) {
        return refuse(`series ${name}: metric_relabel_configs renamed the ${suffix} series of the histogram ${kind.family} to ${name}; a histogram's series must keep their suffixes (_bucket, _sum, _count), so rename them alike, e.g. regex '${kind.family}(_bucket|_sum|_count)', replacement 'new_name\${1}'`);
      }
      family = name.slice(0, -suffix.length);
      if (kind.as === 'bucket') {
        const v = labels.get('le');
        const parsed = v === undefined ? undefined : parseValue(v);
        if (parsed === undefined) return refuse(`histogram ${family}: metric_relabel_configs left a _bucket series without a numeric le label`);
        le = parsed;
        labels.delete('le');
      }
    }
    const names = [...labels.keys()].sort();
    const id = identity(names, names.map((k) => labels.get(k)!));
    if (kind.as === 'counter' || kind.as === 'gauge') {
      const key = `${pid}\u0000${name}\u0000${id.key}`;
      let ref = this.refs.get(key);
      if (ref === undefined) this.refs.set(key, (ref = { pid, name, id, help: kind.help, unit: kind.unit, type: kind.as, pm: undefined, fam: undefined, stamp: 0 }));
      return { ...base, k: 'series', out: { k: 'series', ref } };
    }
    const key = `${pid}\u0000${family}\u0000${id.key}`;
    let group = this.groups.get(key);
    if (group === undefined) {
      group = {
        pid, name: family, id, help: kind.help, unit: kind.unit, pm: undefined, fam: undefined, stamp: 0, famBounds: '', rebucketed: false, scale,
        touched: 0, les: [], cums: [], sum: undefined, count: undefined, timeMs: 0, samples: 0, duplicate: false,
      };
      this.groups.set(key, group);
    }
    return { ...base, k: 'component', out: { k: 'component', part: kind.as, le, group } };
  }

  /**
   * The exposition's labels with the target's: as Prometheus' mutateSampleLabels joins them. With
   * honor_labels the exposition's win; without, the target's win and a clashing exposition label
   * is kept as `exported_<name>` (more `exported_` until the name is free).
   */
  private joinTargetLabels(s: ExposedSeries): Map<string, string> {
    const labels = new Map<string, string>([['__name__', s.name]]);
    for (let i = 0; i < s.labels.length; i += 2) labels.set(s.labels[i], s.labels[i + 1]);
    const target = this.targetLabels;
    if (this.job.honorLabels) {
      for (const [n, v] of target) if (!labels.has(n)) labels.set(n, v);
      return labels;
    }
    const conflicts: Array<[string, string]> = [];
    for (const [n, v] of target) {
      const exposed = labels.get(n);
      if (exposed !== undefined) conflicts.push([n, exposed]);
      labels.set(n, v);
    }
    if (conflicts.length === 0) return labels;
    // Shorter names first, as Prometheus' resolveConflictingExposedLabels orders them.
    conflicts.sort((a, b) => a[0].length - b[0].length);
    const taken: string[] = [];
    for (const c of conflicts) {
      let name = c[0];
      do name = `exported_${name}`;
      while (s.label(name) !== undefined || target.has(name) || taken.includes(name));
      taken.push(name);
      c[0] = name;
    }
    for (const [n, v] of conflicts) labels.set(n, v);
    return labels;
  }
}

/**
 * The name's kind from the scrape's TYPE lines, as Prometheus' parsers assign samples to
 * families: the name itself when typed, else the family its suffix belongs to. Counters are
 * counters; gauges, untyped (unknown), info and stateset are gauges; a histogram's `_bucket`,
 * `_sum` and `_count` assemble into one histogram; a summary's quantiles are gauges and its
 * `_sum` and `_count` counters; `_created` and a gauge histogram's series are gauges.
 */
function kindOf(name: string, ex: Exposition): Kind {
  const meta = ex.metadata;
  const own = meta.get(name);
  const make = (as: Kind['as'], family: string, type: ExposedType | undefined): Kind => {
    const m = meta.get(family);
    return { sig: `${as}\u0000${family}\u0000${type ?? ''}\u0000${m?.help ?? ''}\u0000${m?.unit ?? ''}`, as, family, help: m?.help ?? '', unit: m?.unit ?? '' };
  };
  if (own?.type !== undefined) {
    switch (own.type) {
      case 'counter':
        return make('counter', name, own.type);
      case 'histogram':
      case 'gaugehistogram':
        throw new ScrapeFailure('parse_error', `a sample is named ${name}, like its ${own.type}; a ${own.type}'s samples are ${name}_bucket, ${name}_${own.type === 'histogram' ? 'sum' : 'gsum'} and ${name}_${own.type === 'histogram' ? 'count' : 'gcount'}`);
      default:
        return make('gauge', name, own.type);
    }
  }
  const cut = (suffix: string) => (name.endsWith(suffix) ? meta.get(name.slice(0, -suffix.length)) : undefined);
  const base = (suffix: string) => name.slice(0, -suffix.length);
  let m = cut('_total');
  if (m?.type === 'counter') return make('counter', base('_total'), m.type);
  for (const suffix of ['_bucket', '_sum', '_count'] as const) {
    m = cut(suffix);
    if (m?.type === 'histogram') return make(suffix === '_bucket' ? 'bucket' : suffix === '_sum' ? 'sum' : 'count', base(suffix), m.type);
    if (m?.type === 'summary' && suffix !== '_bucket') return make('counter', base(suffix), m.type);
    if (m?.type === 'gaugehistogram' && suffix === '_bucket') return make('gauge', base(suffix), m.type);
  }
  for (const suffix of ['_created', '_gsum', '_gcount', '_info']) {
    m = cut(suffix);
    if (m?.type !== undefined) return make('gauge', base(suffix), m.type);
  }
  return make('gauge', name, own?.type);
}

class Refused {
  constructor(readonly reason: 'conflict' | 'series_limit', readonly message: string) {}
}

/** A new family needs room under the series limit (ProjectMetrics.declare); anything else refused is a conflict. */
function declareRefusal(pm: ProjectMetrics, name: string, message: string, fix: string): Refused {
  if (pm.registry.getFamily(name) === undefined && pm.registry.full()) return new Refused('series_limit', `${name}: ${message}`);
  return new Refused('conflict', `${name}: ${message}; ${fix}`);
}

/** The family a counter or gauge goes to in a project, or why it cannot. */
function simpleFamily(pm: ProjectMetrics, ref: SimpleRef): Family | Refused {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!ref.name.endsWith(suffix)) continue;
    const base = pm.registry.getFamily(ref.name.slice(0, -suffix.length));
    if (base?.def.type === 'histogram') {
      return new Refused('conflict', `series ${ref.name}: it is a series of the histogram ${base.def.name} in this project; the scrape would show two different series under one name, so rename it in metric_relabel_configs`);
    }
  }
  const fam = pm.declare({ name: ref.name, type: ref.type, help: ref.help, unit: unitFor(ref), otlpUnit: '' });
  return fam instanceof DeclareError ? declareRefusal(pm, `series ${ref.name}`, fam.message, 'rename it in metric_relabel_configs') : fam;
}

function histogramFamily(pm: ProjectMetrics, g: HistGroup, bounds: readonly number[], allowRebucket: boolean): { fam: Family; rebucketed: boolean } | Refused {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const other = pm.registry.getFamily(`${g.name}${suffix}`);
    if (other !== undefined) {
      return new Refused('conflict', `histogram ${g.name}: ${other.def.name} is already a ${other.def.type} in this project, and the histogram would show a second series under that name; rename one in metric_relabel_configs`);
    }
  }
  const fam = pm.declare({ name: g.name, type: 'histogram', help: g.help, unit: unitFor(g), otlpUnit: '', buckets: bounds });
  if (!(fam instanceof DeclareError)) return { fam, rebucketed: false };
  const existing = pm.registry.getFamily(g.name);
  if (existing?.def.type === 'histogram' && allowRebucket) return { fam: existing, rebucketed: true };
  const fix = existing?.def.type === 'histogram'
    ? "set meterway.rebucket: true on the job to merge its buckets onto the family's bounds, or keep the exporter's own name"
    : 'rename it in metric_relabel_configs';
  return declareRefusal(pm, `histogram ${g.name}`, fam.message, fix);
}

function unitFor(ref: { name: string; unit: string }): string {
  return ref.unit !== '' && ref.name.endsWith(`_${ref.unit}`) ? ref.unit : '';
}

function describeId(ref: SeriesRef): string {
  return describe({ name: ref.name, labels: ref.id.names.flatMap((n, i) => [n, ref.id.values[i]]) });
}

function bodyTooLarge(limit: number): ScrapeFailure {
  return new ScrapeFailure('body_too_large', `the body reached body_size_limit (${limit} bytes) and was cut off; raise body_size_limit if the exporter is that large`);
}

function decodeChunk(decoder: TextDecoder, chunk: Buffer | undefined): string {
  try {
    return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
  } catch {
    throw new ScrapeFailure('not_metrics', 'the body is not UTF-8 text (a binary answer, or compressed without Content-Encoding: gzip?)');
  }
}

function readSecretFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ScrapeFailure('connection', `cannot read ${file} for the Authorization header: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
