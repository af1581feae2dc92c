/**
 * The `status/*` answers of the per-project Prometheus API, in Prometheus 2.42's shapes, with what
 * is true of Meterway and of the project: its version, its query settings as Prometheus' flags,
 * the project's view as a Prometheus configuration, the runtime, and the cardinality of the
 * project's own series from the store's index. Nothing here names a path on the server, a
 * secret, or another project.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Labels } from '../core/labels.js';
import type { Queryable } from '../core/queryable.js';
import type { Config } from '../config/load.js';
import type { QueryLimits } from '../query/limits.js';
import { goDuration } from './promql-format.js';

/** The version of the Prometheus HTTP API these routes implement: what Grafana reads to pick features. */
export const PROMETHEUS_API_VERSION = '3.0.0';

/** Meterway's own version, from its package.json (beside `src/` and `dist/` alike). */
export const METERWAY_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** The query engine's lookback delta: the pool runs with its default, Prometheus' 5 minutes. */
export const LOOKBACK_DELTA_MS = 300_000;

/**
 * `status/buildinfo`: `version` is the Prometheus API version implemented (clients compare it to
 * decide what they may ask), Meterway's own version is in `revision`.
 */
export function buildInfo(): Record<string, string> {
  return {
    version: PROMETHEUS_API_VERSION,
    revision: `meterway-${METERWAY_VERSION}`,
    branch: 'meterway',
    buildUser: 'meterway',
    buildDate: '',
    goVersion: `none (Meterway ${METERWAY_VERSION} on Node.js ${process.versions.node})`,
  };
}

/** `status/flags`: the settings that mean something here, under Prometheus' flag names and formats. */
export function flags(config: Config, limits: QueryLimits, project: string): Record<string, string> {
  return {
    'query.lookback-delta': goDuration(LOOKBACK_DELTA_MS),
    'query.max-concurrency': String(limits.maxConcurrent),
    'query.max-samples': String(limits.maxSamples),
    'query.timeout': goDuration(limits.timeoutMs),
    'storage.tsdb.retention.size': '0B',
    'storage.tsdb.retention.time': goDuration(config.retentionMs),
    'web.enable-admin-api': 'false',
    'web.enable-lifecycle': 'false',
    'web.route-prefix': `/v1/projects/${project}/prometheus`,
  };
}

/**
 * `status/config`: the project's view as a Prometheus configuration. Series are sampled into the
 * store every `storage.interval`, which is what a scrape and evaluation interval mean to a
 * client (Grafana's default step, rate windows). No scrape job, credential or other project.
 */
export function configYaml(config: Config): string {
  const interval = config.storage.intervalMs;
  return [
    'global:',
    `  scrape_interval: ${goDuration(interval)}`,
    `  scrape_timeout: ${goDuration(Math.min(interval, 10_000))}`,
    `  evaluation_interval: ${goDuration(interval)}`,
    '',
  ].join('\n');
}

/** `status/runtimeinfo`, without `CWD` (a path on the server is none of a tenant's business). */
export function runtimeInfo(startedAt: Date, config: Config): Record<string, unknown> {
  return {
    startTime: startedAt.toISOString(),
    reloadConfigSuccess: true,
    lastConfigTime: new Date(Math.floor(startedAt.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
    corruptionCount: 0,
    goroutineCount: 0,
    GOMAXPROCS: availableParallelism(),
    GOGC: '',
    GODEBUG: '',
    storageRetention: config.retentionMs === 0 ? 'unlimited' : goDuration(config.retentionMs),
  };
}

/** A series as the store's per-project index holds it (src/tsdb: MemSeries). */
export interface IndexedSeries {
  readonly labels: Labels;
  readonly deleted: boolean;
  /** Samples in the open head chunk. */
  readonly headN: number;
  minT(): number;
  maxT(): number;
}

/** A store that has a per-project index (the embedded one); others are read through their querier. */
export interface IndexedStore {
  index?(project: string): { ordered(): readonly IndexedSeries[] } | undefined;
}

/** Go's math.MaxInt64 and MinInt64, which Prometheus answers as the bounds of an empty head. */
export const INT64_MAX = 9223372036854775807n;
export const INT64_MIN = -9223372036854775808n;

interface Stat {
  name: string;
  value: number;
}

/**
 * `status/tsdb`: the project's cardinality, `limit` entries of each list (Prometheus: 10),
 * largest first. `chunkCount` counts open head chunks (one per series being appended to).
 */
export function tsdbStatus(store: Queryable & IndexedStore, project: string, limit: number): Record<string, unknown> {
  let series: Array<{ labels: Labels; minT: number; maxT: number; head: boolean }>;
  const index = store.index?.(project);
  if (index !== undefined) {
    series = index.ordered().filter((s) => !s.deleted).map((s) => ({ labels: s.labels, minT: s.minT(), maxT: s.maxT(), head: s.headN > 0 }));
  } else {
    const q = store.querier(project, -Infinity, Infinity);
    series = (q.seriesLabels?.([], -Infinity, Infinity) ?? []).map((labels) => ({ labels, minT: Infinity, maxT: -Infinity, head: false }));
  }
  const valuesByName = new Map<string, Map<string, number>>();
  let minTime = Infinity;
  let maxTime = -Infinity;
  let chunks = 0;
  for (const s of series) {
    if (s.minT < minTime) minTime = s.minT;
    if (s.maxT > maxTime) maxTime = s.maxT;
    if (s.head) chunks++;
    for (const [name, value] of Object.entries(s.labels)) {
      let values = valuesByName.get(name);
      if (values === undefined) valuesByName.set(name, (values = new Map()));
      values.set(value, (values.get(value) ?? 0) + 1);
    }
  }
  const byMetric: Stat[] = [];
  const valueCount: Stat[] = [];
  const memory: Stat[] = [];
  const pairs: Stat[] = [];
  let labelPairs = 0;
  for (const [name, values] of valuesByName) {
    labelPairs += values.size;
    valueCount.push({ name, value: values.size });
    let bytes = 0;
    for (const [value, n] of values) {
      bytes += Buffer.byteLength(value, 'utf8');
      pairs.push({ name: `${name}=${value}`, value: n });
      if (name === '__name__') byMetric.push({ name: value, value: n });
    }
    memory.push({ name, value: bytes });
  }
  const top = (list: Stat[]) => list.sort((a, b) => b.value - a.value || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).slice(0, limit);
  return {
    headStats: {
      numSeries: series.length,
      numLabelPairs: labelPairs,
      chunkCount: chunks,
      minTime: minTime === Infinity ? INT64_MAX : minTime,
      maxTime: maxTime === -Infinity ? INT64_MIN : maxTime,
    },
    seriesCountByMetricName: top(byMetric),
    labelValueCountByLabelName: top(valueCount),
    memoryInBytesByLabelName: top(memory),
    seriesCountByLabelValuePair: top(pairs),
  };
}

/** Marks a bigint in JSON text until it is written as a number: random, so no label value can forge it. */
const INT64_MARK = `int64-${randomUUID()}:`;

/** JSON in which bigints are written as integers (Go's int64 bounds do not fit a double). */
export function jsonWithInt64(body: unknown): string {
  return JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? `${INT64_MARK}${v.toString()}` : v))
    .replaceAll(new RegExp(`"${INT64_MARK}(-?\\d+)"`, 'g'), '$1');
}
