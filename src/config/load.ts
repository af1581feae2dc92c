/**
 * Loads the configuration from an optional JSON file, the environment and command-line flags (in
 * rising precedence), validated by one schema. This is the only module that reads process.env.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { DEFAULT_BUCKETS, type BucketFamily } from '../catalog/catalog.js';
import { parseDuration } from '../core/duration.js';
import { PROJECT_ID } from '../control/ids.js';
import type { ProjectRateLimits, RateLimit, RateLimits } from '../ingest/rate-limit.js';
import { defaultQueryLimits, defaultWorkerCount, type QueryConfig, type QueryLimits } from '../query/limits.js';
import { ConfigSchema, type LogFormat, type RawConfig } from './schema.js';
import { Secret } from './secret.js';

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** 0 keeps everything. */
  readonly retentionMs: number;
  readonly demo: boolean;
  readonly adminToken?: Secret;
  readonly masterKey?: Secret;
  readonly allowPrivateEgress: boolean;
  readonly logLevel: string;
  /** `auto`: human-readable on a terminal, JSON lines otherwise. */
  readonly logFormat: LogFormat;
  readonly metrics: {
    readonly prefix: string;
    readonly gaugeStaleAfterMs: number;
    readonly maxSeriesPerProject: number;
    readonly buckets: Readonly<Record<BucketFamily, readonly number[]>>;
  };
  readonly ingest: {
    readonly maxBodyBytes: number;
    /** Bursts resolved, per-project overrides merged with the defaults. */
    readonly rateLimits: RateLimits;
  };
  readonly storage: { readonly intervalMs: number };
  readonly query: QueryConfig;
  readonly otlp: { readonly promoteResourceAttributes: readonly string[] };
}

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
  }
}

/** Flags as the CLI parsed them; undefined means not given. */
export interface ConfigFlags {
  host?: string;
  port?: string | number;
  dataDir?: string;
  config?: string;
  retention?: string;
  demo?: boolean;
  logFormat?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const ENV_KEYS: ReadonlyArray<readonly [env: string, key: keyof RawConfig]> = [
  ['METERWAY_HOST', 'host'],
  ['METERWAY_PORT', 'port'],
  ['METERWAY_DATA_DIR', 'data_dir'],
  ['METERWAY_RETENTION', 'retention'],
  ['METERWAY_ADMIN_TOKEN', 'admin_token'],
  ['METERWAY_MASTER_KEY', 'master_key'],
  ['METERWAY_ALLOW_PRIVATE_EGRESS', 'allow_private_egress'],
  ['METERWAY_LOG_LEVEL', 'log_level'],
  ['METERWAY_LOG_FORMAT', 'log_format'],
];

/** Their values never appear in an error message. */
const SECRET_KEYS = new Set(['admin_token', 'master_key']);

export function loadConfig(flags: ConfigFlags = {}, env: Env = process.env): Config {
  const issues: string[] = [];
  let merged: Record<string, unknown> = {};
  const file = flags.config ?? env.METERWAY_CONFIG;
  if (file !== undefined) merged = readConfigFile(file);
  for (const [name, key] of ENV_KEYS) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    merged[key] = key === 'allow_private_egress' ? v === '1' || v.toLowerCase() === 'true' : v;
  }
  const flagValues: Partial<Record<keyof RawConfig, unknown>> = {
    host: flags.host, port: flags.port, data_dir: flags.dataDir, retention: flags.retention, demo: flags.demo,
    log_format: flags.logFormat,
  };
  for (const [k, v] of Object.entries(flagValues)) if (v !== undefined) merged[k] = v;

  const raw = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, merged)) as RawConfig;
  for (const err of Value.Errors(ConfigSchema, raw)) {
    const path = pathOf(err.path);
    const got = SECRET_KEYS.has(path) ? '' : ` (got ${JSON.stringify(err.value)})`;
    issues.push(`${path}: ${err.message.toLowerCase()}${describeAllowed(err.schema)}${got}`);
  }
  if (issues.length > 0) throw new ConfigError(dedupe(issues));

  const duration = (path: string, text: string): number => {
    const ms = parseDuration(text);
    if (ms === undefined) issues.push(`${path}: must be a duration like 15d, 12h or 90s (got ${JSON.stringify(text)})`);
    return ms ?? 0;
  };
  const retentionMs = duration('retention', raw.retention);
  const gaugeStaleAfterMs = duration('metrics.gauge_stale_after', raw.metrics.gauge_stale_after);
  const storageIntervalMs = duration('storage.interval', raw.storage.interval);
  // Node's timers take at most 2^31-1 ms; a day is plenty for a sampling interval.
  if ((storageIntervalMs < 1000 || storageIntervalMs > 86_400_000) && issues.length === 0) {
    issues.push(`storage.interval: must be between 1s and 1d (got ${JSON.stringify(raw.storage.interval)})`);
  }
  const buckets = { ...DEFAULT_BUCKETS } as Record<BucketFamily, readonly number[]>;
  for (const fam of Object.keys(DEFAULT_BUCKETS) as BucketFamily[]) {
    const given = raw.metrics.buckets[fam];
    if (given === undefined) continue;
    if (given.some((b, i) => i > 0 && b <= given[i - 1])) issues.push(`metrics.buckets.${fam}: must be strictly increasing upper bounds in seconds`);
    buckets[fam] = given;
  }
  const rateLimits = resolveRateLimits(raw.ingest.rate_limit, issues);
  const query = resolveQueryConfig(raw.query, issues);
  if (raw.master_key !== undefined && Buffer.from(raw.master_key, 'base64').length !== 32) {
    issues.push('master_key: must be base64 of exactly 32 bytes (generate one with: openssl rand -base64 32)');
  }
  if (issues.length > 0) throw new ConfigError(issues);

  return {
    host: raw.host,
    port: raw.port,
    dataDir: resolve(raw.data_dir),
    retentionMs,
    demo: raw.demo,
    adminToken: raw.admin_token === undefined ? undefined : new Secret(raw.admin_token),
    masterKey: raw.master_key === undefined ? undefined : new Secret(raw.master_key),
    allowPrivateEgress: raw.allow_private_egress,
    logLevel: raw.log_level,
    logFormat: raw.log_format,
    metrics: {
      prefix: raw.metrics.prefix,
      gaugeStaleAfterMs,
      maxSeriesPerProject: raw.metrics.max_series_per_project,
      buckets,
    },
    ingest: { maxBodyBytes: raw.ingest.max_body_bytes, rateLimits },
    storage: { intervalMs: storageIntervalMs },
    query,
    otlp: { promoteResourceAttributes: raw.otlp.promote_resource_attributes },
  };
}

type RawQuery = RawConfig['query'];
type RawQueryLimits = Omit<RawQuery, 'projects' | 'workers' | 'max_queued' | 'worker_heap_mb'>;

/** `query` with every limit resolved: overrides take, key by key, the top-level value they leave out. */
function resolveQueryConfig(raw: RawQuery, issues: string[]): QueryConfig {
  const workers = raw.workers ?? defaultWorkerCount();
  const level = (keys: RawQueryLimits, inherited: QueryLimits, path: string): QueryLimits => {
    let timeoutMs = inherited.timeoutMs;
    if (keys.timeout !== undefined) {
      const ms = parseDuration(keys.timeout);
      // Node's timers take at most 2^31-1 ms.
      if (ms === undefined || ms <= 0 || ms > 86_400_000) issues.push(`${path}.timeout: must be a duration between 1ms and 1d like 2m or 30s (got ${JSON.stringify(keys.timeout)})`);
      else timeoutMs = ms;
    }
    return {
      timeoutMs,
      maxSamples: keys.max_samples ?? inherited.maxSamples,
      maxSeriesPerSelector: keys.max_series_per_selector ?? inherited.maxSeriesPerSelector,
      maxPointsPerSubquery: keys.max_points_per_subquery ?? inherited.maxPointsPerSubquery,
      maxPointsPerSeries: keys.max_points_per_series ?? inherited.maxPointsPerSeries,
      maxDepth: keys.max_depth ?? inherited.maxDepth,
      maxQueryLength: keys.max_query_length ?? inherited.maxQueryLength,
      maxConcurrent: keys.max_concurrent_per_project ?? inherited.maxConcurrent,
      maxQueued: keys.max_queued_per_project ?? inherited.maxQueued,
    };
  };
  const limits = level(raw, defaultQueryLimits(workers), 'query');
  if (limits.maxConcurrent > workers) issues.push(`query.max_concurrent_per_project: ${limits.maxConcurrent} is more than the ${workers} query workers (query.workers); at most ${workers}`);
  const projects: Record<string, QueryLimits> = {};
  for (const [id, keys] of Object.entries(raw.projects)) {
    const path = `query.projects[${JSON.stringify(id)}]`;
    if (!PROJECT_ID.test(id)) issues.push(`${path}: not a project id: ids are "p-" and 8 lowercase letters or digits, as \`meterway projects list\` shows them`);
    projects[id] = level(keys, limits, path);
  }
  return { workers, maxQueued: raw.max_queued, workerHeapMb: raw.worker_heap_mb, limits, projects };
}

type RawRateLimit = RawConfig['ingest']['rate_limit'];
type RawRateLimitKeys = Omit<RawRateLimit, 'projects'>;

/**
 * `ingest.rate_limit` as the limiter takes it. Overrides are merged key by key with the resolved
 * defaults, with one rule for bursts: a burst left out is twice the rate given beside it (rounded
 * up, at least 1), so a rate set alone, at the top or in an override, never keeps a burst sized
 * for another rate; only an override that sets neither the rate nor the burst of a limit takes
 * the default burst.
 */
function resolveRateLimits(raw: RawRateLimit, issues: string[]): RateLimits {
  const limit = (rate: number | undefined, burst: number | undefined, inherited: RateLimit | undefined, rateKey: string, burstKey: string): RateLimit => {
    const eventsPerSecond = rate ?? inherited?.eventsPerSecond ?? 0;
    if (burst !== undefined && !Number.isInteger(burst)) issues.push(`${burstKey}: must be a whole number of events (got ${JSON.stringify(burst)})`);
    if (eventsPerSecond === 0) {
      // Most likely a per-token burst set without its rate, whose default is 0: say so rather than ignore it.
      if (burst !== undefined) issues.push(`${burstKey}: has no effect while the rate is 0 (unlimited): set ${rateKey} too, or remove the burst`);
      return { eventsPerSecond: 0, burst: 0 };
    }
    const resolved = burst ?? (rate === undefined && inherited !== undefined && inherited.burst > 0 ? inherited.burst : Math.max(1, Math.ceil(2 * eventsPerSecond)));
    return { eventsPerSecond, burst: resolved };
  };
  const level = (keys: RawRateLimitKeys, inherited: ProjectRateLimits | undefined, path: string): ProjectRateLimits => ({
    project: limit(keys.events_per_second, keys.burst, inherited?.project, `${path}.events_per_second`, `${path}.burst`),
    perToken: limit(keys.per_token_events_per_second, keys.per_token_burst, inherited?.perToken, `${path}.per_token_events_per_second`, `${path}.per_token_burst`),
  });
  const defaults = level(raw, undefined, 'ingest.rate_limit');
  const projects: Record<string, ProjectRateLimits> = {};
  for (const [id, keys] of Object.entries(raw.projects)) {
    const path = `ingest.rate_limit.projects[${JSON.stringify(id)}]`;
    if (!PROJECT_ID.test(id)) issues.push(`${path}: not a project id: ids are "p-" and 8 lowercase letters or digits, as \`meterway projects list\` shows them`);
    projects[id] = level(keys, defaults, path);
  }
  return { ...defaults, projects };
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the top level must be an object');
    return parsed;
  } catch (err) {
    throw new ConfigError([`config: ${path} is not a JSON object: ${(err as Error).message}`]);
  }
}

function pathOf(pointer: string): string {
  return pointer.replace(/^\//, '').replace(/\//g, '.') || '(top level)';
}

function describeAllowed(schema: Record<string, any>): string {
  if (Array.isArray(schema.anyOf)) return `: one of ${schema.anyOf.map((s: any) => s.const).join(', ')}`;
  if (schema.description) return ` (${schema.description})`;
  return '';
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}
