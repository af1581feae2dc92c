/**
 * Loads the configuration from an optional file (JSON or YAML), the environment and command-line
 * flags (in rising precedence), validated by one schema. This is the only module that reads
 * process.env. An issue with a value the file gave names the file and the key's line.
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { Value } from '@sinclair/typebox/value';
import { DEFAULT_BUCKETS, type BucketFamily } from '../catalog/catalog.js';
import { parseDuration } from '../core/duration.js';
import { PROJECT_ID } from '../control/ids.js';
import type { ProjectRateLimits, RateLimit, RateLimits } from '../ingest/rate-limit.js';
import { defaultQueryLimits, defaultWorkerCount, type QueryConfig, type QueryLimits } from '../query/limits.js';
import { ConfigSchema, type LogFormat, type RawConfig } from './schema.js';
import { resolveScrapeConfigs, type ScrapeJob } from '../sources/scrape/config.js';
import { Secret } from './secret.js';
import type { RefusalBackoffOptions } from '../server/refusal-backoff.js';

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
  /** How a caller who keeps being refused is answered (src/server/refusal-backoff.ts). */
  readonly refusalBackoff: RefusalBackoffOptions;
  /** `scrape_configs`: the exporters the gateway scrapes, each job's targets resolved. */
  readonly scrape: { readonly jobs: readonly ScrapeJob[] };
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
  logLevel?: string;
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
  const path = flags.config ?? env.METERWAY_CONFIG;
  const file = path === undefined ? undefined : readConfigFile(path);
  const merged: Record<string, unknown> = { ...file?.values };
  /** Top-level keys the environment or a flag set: an issue under them is not the file's. */
  const overridden = new Set<string>();
  for (const [name, key] of ENV_KEYS) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    merged[key] = key === 'allow_private_egress' ? v === '1' || v.toLowerCase() === 'true' : v;
    overridden.add(key);
  }
  const flagValues: Partial<Record<keyof RawConfig, unknown>> = {
    host: flags.host, port: flags.port, data_dir: flags.dataDir, retention: flags.retention, demo: flags.demo,
    log_level: flags.logLevel, log_format: flags.logFormat,
  };
  for (const [k, v] of Object.entries(flagValues)) {
    if (v === undefined) continue;
    merged[k] = v;
    overridden.add(k);
  }
  const fail = (list: string[]): never => {
    throw new ConfigError(file === undefined ? list : list.map((issue) => file.locateIssue(issue, overridden)));
  };

  const raw = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, merged)) as RawConfig;
  for (const err of Value.Errors(ConfigSchema, raw)) {
    const path = pathOf(err.path);
    const got = SECRET_KEYS.has(path) ? '' : ` (got ${JSON.stringify(err.value)})`;
    issues.push(`${path}: ${err.message.toLowerCase()}${describeAllowed(err.schema)}${got}`);
  }
  if (issues.length > 0) fail(dedupe(issues));

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
  const refusalDelayMs = parseDuration(raw.refusal_backoff.max_delay);
  if (refusalDelayMs === undefined || refusalDelayMs < 0 || refusalDelayMs > 60_000) {
    issues.push(`refusal_backoff.max_delay: must be a duration of at most 1m like 2s or 500ms (got ${JSON.stringify(raw.refusal_backoff.max_delay)})`);
  }
  const scrapeJobs = resolveScrapeConfigs(raw.scrape_configs, raw.global, { gaugeStaleAfterMs }, issues);
  if (issues.length > 0) fail(issues);

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
    refusalBackoff: { perSecond: raw.refusal_backoff.per_second, burst: raw.refusal_backoff.burst, maxDelayMs: refusalDelayMs ?? 0 },
    scrape: { jobs: scrapeJobs },
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

interface ConfigFile {
  readonly values: Record<string, unknown>;
  /** The issue, with the file and line of the key it is about when the file gave that key. */
  locateIssue(issue: string, overridden: ReadonlySet<string>): string;
}

/**
 * The file's keys. YAML for `.yaml` and `.yml`; JSON for `.json`; any other name is read as JSON,
 * and as YAML when it is not JSON. Errors name the file, and the line and column where they can.
 */
function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'it is a directory' : (e.code ?? e.message);
    throw new ConfigError([`config: cannot read ${path} (${why}); check --config or METERWAY_CONFIG`]);
  }
  const ext = extname(path).toLowerCase();
  const yaml = ext === '.yaml' || ext === '.yml';
  let values: unknown;
  let form = 'JSON';
  if (!yaml) {
    try {
      values = JSON.parse(text);
    } catch (err) {
      if (ext === '.json') throw new ConfigError([`config: ${path} is not valid JSON: ${jsonErrorAt(text, (err as Error).message)}`]);
    }
  }
  let doc: Document | undefined;
  const lines = new LineCounter();
  const parse = (): Document => (doc ??= parseDocument(text, { lineCounter: lines }));
  if (values === undefined) {
    form = 'YAML';
    const d = parse();
    const err = d.errors[0];
    if (err !== undefined) {
      const at = err.linePos?.[0];
      const what = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      throw new ConfigError([`config: ${path}${at === undefined ? '' : ` line ${at.line}, column ${at.col}`} is not valid YAML: ${what}`]);
    }
    values = d.toJS() ?? {};
  }
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new ConfigError([`config: ${path}: the top level must be ${form === 'JSON' ? 'an object, like {"port": 9470}' : 'a mapping of keys, like port: 9470'}`]);
  }
  return {
    values: values as Record<string, unknown>,
    locateIssue(issue, overridden) {
      const segments = issuePath(issue);
      if (segments === undefined || overridden.has(segments[0])) return issue;
      const line = lineOf(parse(), lines, segments);
      return line === undefined ? issue : `${issue} (in ${path}:${line})`;
    },
  };
}

/** Node 20 says where JSON went wrong as an offset; people count lines and columns. */
function jsonErrorAt(text: string, message: string): string {
  const m = /\s*(?:in JSON )?at position (\d+)(?: \(line \d+ column \d+\))?/.exec(message);
  if (m === null) return message;
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  const col = Number(m[1]) - before.lastIndexOf('\n');
  return `line ${line}, column ${col}: ${message.replace(m[0], '')}`;
}

/** `a.b["p-x"].c` at the start of an issue, as keys; undefined when the issue starts otherwise. */
function issuePath(issue: string): string[] | undefined {
  const m = /^((?:[A-Za-z_]\w*|\d+)(?:\.(?:[A-Za-z_]\w*|\d+)|\["(?:[^"\\]|\\.)*"\])*): /.exec(issue);
  if (m === null) return undefined;
  const out: string[] = [];
  for (const part of m[1].matchAll(/\["((?:[^"\\]|\\.)*)"\]|[^.[\]]+/g)) out.push(part[1] !== undefined ? (JSON.parse(`"${part[1]}"`) as string) : part[0]);
  return out;
}

/** The 1-based line of the deepest key along `segments` that the document has. */
function lineOf(doc: Document, lines: LineCounter, segments: readonly string[]): number | undefined {
  let node: unknown = doc.contents;
  let line: number | undefined;
  for (const seg of segments) {
    if (isAlias(node)) node = node.resolve(doc);
    let next: YamlNode | undefined;
    let at: number | undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
      if (pair === undefined) break;
      at = (pair.key as YamlNode).range?.[0];
      next = pair.value as YamlNode | undefined;
    } else if (isSeq(node) && /^\d+$/.test(seg)) {
      next = node.items[Number(seg)] as YamlNode | undefined;
      at = next?.range?.[0];
    }
    if (at === undefined) break;
    line = lines.linePos(at).line;
    node = next;
  }
  return line;
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
