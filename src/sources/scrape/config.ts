/**
 * `scrape_configs` (and `global.scrape_interval`/`scrape_timeout`) in the config file, with
 * Prometheus' own keys, defaults and checks (config/config.go, scrape/target.go PopulateLabels),
 * resolved at start-up into the targets to scrape: static_configs are all there is, so every
 * target's labels, URL, interval and timeout are known before the first scrape, and a mistake in
 * any of them stops the start with the key path and the fix.
 *
 * Two keys are Meterway's own, under `meterway:` in a job, because relabelling cannot do them:
 * `value_scale` (multiply an exporter's values, e.g. MiB into bytes) and `rebucket` (merge a
 * histogram's buckets onto the bounds of the family it joins).
 */
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { parseDuration } from '../../core/duration.js';
import { Secret } from '../../config/secret.js';
import { compileRule, relabel, type RawRelabelRule, type RelabelRule } from './relabel.js';

const duration = (what: string) => Type.Optional(Type.String({ description: `a duration like 30s or 1m; ${what}` }));

const RelabelSchema = Type.Object(
  {
    source_labels: Type.Optional(Type.Array(Type.String())),
    separator: Type.Optional(Type.String()),
    regex: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    modulus: Type.Optional(Type.Integer({ minimum: 0 })),
    target_label: Type.Optional(Type.String()),
    replacement: Type.Optional(Type.String()),
    action: Type.Optional(Type.String({ description: 'replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase or uppercase' })),
  },
  { additionalProperties: false },
);

const JOB_KEYS = {
  job_name: Type.String({ minLength: 1, description: 'the job label of every target of this job; unique among scrape_configs' }),
  scrape_interval: duration('how often each target is scraped (default global.scrape_interval, 1m)'),
  scrape_timeout: duration('how long a scrape may take (default global.scrape_timeout, 10s, at most scrape_interval)'),
  metrics_path: Type.Optional(Type.String({ description: 'the HTTP path, default /metrics' })),
  scheme: Type.Optional(Type.String({ description: 'http or https' })),
  params: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()), { description: 'URL query parameters, each a list of values' })),
  honor_labels: Type.Optional(Type.Boolean()),
  honor_timestamps: Type.Optional(Type.Boolean()),
  sample_limit: Type.Optional(Type.Integer({ minimum: 0, description: 'samples a scrape may keep after metric_relabel_configs; more fail the scrape; 0 is no limit' })),
  label_limit: Type.Optional(Type.Integer({ minimum: 0 })),
  label_name_length_limit: Type.Optional(Type.Integer({ minimum: 0 })),
  label_value_length_limit: Type.Optional(Type.Integer({ minimum: 0 })),
  body_size_limit: Type.Optional(Type.Union([Type.String(), Type.Integer({ minimum: 0 })], { description: 'the largest body taken, like 10MB; 0 is Meterway\'s cap, 64MB' })),
  authorization: Type.Optional(Type.Object({
    type: Type.Optional(Type.String()),
    credentials: Type.Optional(Type.String()),
    credentials_file: Type.Optional(Type.String()),
  }, { additionalProperties: false })),
  basic_auth: Type.Optional(Type.Object({
    username: Type.String(),
    password: Type.Optional(Type.String()),
    password_file: Type.Optional(Type.String()),
  }, { additionalProperties: false })),
  bearer_token: Type.Optional(Type.String()),
  bearer_token_file: Type.Optional(Type.String()),
  tls_config: Type.Optional(Type.Object({
    ca_file: Type.Optional(Type.String()),
    cert_file: Type.Optional(Type.String()),
    key_file: Type.Optional(Type.String()),
    server_name: Type.Optional(Type.String()),
    insecure_skip_verify: Type.Optional(Type.Boolean()),
  }, { additionalProperties: false })),
  static_configs: Type.Optional(Type.Array(Type.Object({
    targets: Type.Array(Type.String()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  }, { additionalProperties: false }))),
  relabel_configs: Type.Optional(Type.Array(RelabelSchema)),
  metric_relabel_configs: Type.Optional(Type.Array(RelabelSchema)),
  meterway: Type.Optional(Type.Object({
    value_scale: Type.Optional(Type.Record(Type.String(), Type.Number(), { description: 'exporter metric name to the factor its values are multiplied by' })),
    rebucket: Type.Optional(Type.Boolean({ description: "merge a histogram's buckets onto the bounds of the family it joins" })),
  }, { additionalProperties: false })),
};

/**
 * Unknown keys are allowed through the schema and refused by `resolveScrapeConfigs` with a
 * message that says what to do instead (a Prometheus key Meterway has no use for is common when a
 * job is copied from prometheus.yml).
 */
export const ScrapeConfigSchema = Type.Object(JOB_KEYS, { additionalProperties: true });
export const GlobalSchema = Type.Object(
  { scrape_interval: duration('the default of every job, 1m'), scrape_timeout: duration('the default of every job, 10s') },
  { additionalProperties: true },
);

export type RawScrapeConfig = Static<typeof ScrapeConfigSchema>;
export type RawGlobal = Static<typeof GlobalSchema>;

/** Where a scrape's Authorization header comes from; files are read at every scrape, as Prometheus reads them. */
export type ScrapeAuth =
  | { readonly kind: 'none' }
  | { readonly kind: 'authorization'; readonly type: string; readonly credentials?: Secret; readonly file?: string }
  | { readonly kind: 'basic'; readonly username: string; readonly password?: Secret; readonly file?: string };

export interface ScrapeTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly serverName?: string;
  readonly insecureSkipVerify: boolean;
}

/** One target: what relabel_configs left of a static_configs address. */
export interface ScrapeTarget {
  readonly url: string;
  readonly scheme: 'http' | 'https';
  /** The target's labels (job, instance, the static labels), no `__` ones, sorted by name. */
  readonly labels: ReadonlyArray<readonly [string, string]>;
  readonly job: string;
  readonly instance: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface ScrapeJob {
  readonly name: string;
  readonly honorLabels: boolean;
  readonly honorTimestamps: boolean;
  readonly sampleLimit: number;
  readonly labelLimit: number;
  readonly labelNameLengthLimit: number;
  readonly labelValueLengthLimit: number;
  readonly bodySizeLimit: number;
  readonly auth: ScrapeAuth;
  readonly tls: ScrapeTls | undefined;
  readonly metricRelabel: readonly RelabelRule[];
  /** By the exporter's metric name (its family's or its sample's). */
  readonly valueScale: ReadonlyMap<string, number>;
  readonly rebucket: boolean;
  readonly targets: readonly ScrapeTarget[];
}

export const DEFAULT_SCRAPE_INTERVAL_MS = 60_000;
export const DEFAULT_SCRAPE_TIMEOUT_MS = 10_000;
/** Prometheus has no cap by default; Meterway takes at most this much of a body unless body_size_limit says otherwise. */
export const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;

const UNSUPPORTED: ReadonlyArray<readonly [RegExp, string]> = [
  [/_sd_configs$/, 'Meterway scrapes static_configs only; list the targets there, or let a Prometheus or vmagent that discovers them remote-write to /v1/prom/write'],
  [/^(oauth2|proxy_url|no_proxy|proxy_from_environment|proxy_connect_header)$/, "Meterway's scraper has no OAuth 2 or proxy support; use authorization or basic_auth, and reach the target directly"],
  [/^(follow_redirects|enable_http2)$/, "Meterway's scraper does not follow redirects and speaks HTTP/1.1; point the target at the final URL and remove the key"],
  [/^(target_limit|keep_dropped_targets)$/, 'every target of static_configs is known at start-up; remove the key'],
  [/^(native_histogram_bucket_limit|native_histogram_min_bucket_factor|scrape_classic_histograms|scrape_protocols|enable_compression)$/, 'Meterway asks for the text formats Prometheus 2.42 asks for and takes classic histograms only; remove the key'],
];

const GLOBAL_UNUSED: Readonly<Record<string, string>> = {
  evaluation_interval: 'Meterway evaluates no rules; remove it',
  external_labels: 'Meterway adds no external labels; give a job its labels in static_configs labels',
  query_log_file: 'remove it (the query API has its own limits, see query.*)',
};

/**
 * The jobs of `scrape_configs`, each with its targets resolved; the problems go to `issues`, each
 * starting with the key path the config loader places in the file.
 */
export function resolveScrapeConfigs(raw: readonly RawScrapeConfig[], global: RawGlobal | undefined, ctx: { gaugeStaleAfterMs: number }, issues: string[]): ScrapeJob[] {
  const g = resolveGlobal(global, issues);
  const jobs: ScrapeJob[] = [];
  const names = new Map<string, number>();
  raw.forEach((cfg, i) => {
    const path = `scrape_configs.${i}`;
    const seen = names.get(cfg.job_name);
    if (seen !== undefined) issues.push(`${path}.job_name: "${cfg.job_name}" is also the job_name of scrape_configs.${seen}; every job needs a name of its own`);
    names.set(cfg.job_name, i);
    const job = resolveJob(cfg, path, g, ctx, issues);
    if (job !== undefined) jobs.push(job);
  });
  return jobs;
}

function resolveGlobal(global: RawGlobal | undefined, issues: string[]): { intervalMs: number; timeoutMs: number } {
  for (const key of Object.keys(global ?? {})) {
    if (key === 'scrape_interval' || key === 'scrape_timeout') continue;
    issues.push(`global.${key}: ${GLOBAL_UNUSED[key] ?? 'Meterway takes only scrape_interval and scrape_timeout under global; remove it'}`);
  }
  const intervalMs = global?.scrape_interval === undefined ? DEFAULT_SCRAPE_INTERVAL_MS : positiveDuration(global.scrape_interval, 'global.scrape_interval', issues);
  let timeoutMs: number;
  if (global?.scrape_timeout !== undefined) {
    timeoutMs = positiveDuration(global.scrape_timeout, 'global.scrape_timeout', issues);
    if (timeoutMs > intervalMs) issues.push(`global.scrape_timeout: ${global.scrape_timeout} is longer than global.scrape_interval (${global.scrape_interval ?? '1m'}); a scrape must end before the next one starts`);
  } else timeoutMs = Math.min(DEFAULT_SCRAPE_TIMEOUT_MS, intervalMs);
  return { intervalMs, timeoutMs };
}

function positiveDuration(text: string, path: string, issues: string[]): number {
  const ms = parseDuration(text);
  // Node's timers take at most 2^31-1 ms.
  if (ms === undefined || ms <= 0 || ms > 86_400_000) {
    issues.push(`${path}: must be a duration between 1ms and 1d like 30s or 1m (got ${JSON.stringify(text)})`);
    return 1000;
  }
  return ms;
}

function resolveJob(cfg: RawScrapeConfig, path: string, g: { intervalMs: number; timeoutMs: number }, ctx: { gaugeStaleAfterMs: number }, issues: string[]): ScrapeJob | undefined {
  const before = issues.length;
  for (const key of Object.keys(cfg)) {
    if (key in JOB_KEYS) continue;
    const why = UNSUPPORTED.find(([re]) => re.test(key))?.[1];
    issues.push(`${path}.${key}: ${why ?? `not a scrape_configs key Meterway knows; the keys are ${Object.keys(JOB_KEYS).join(', ')}`}`);
  }
  const intervalMs = cfg.scrape_interval === undefined ? g.intervalMs : positiveDuration(cfg.scrape_interval, `${path}.scrape_interval`, issues);
  let timeoutMs: number;
  if (cfg.scrape_timeout !== undefined) {
    timeoutMs = positiveDuration(cfg.scrape_timeout, `${path}.scrape_timeout`, issues);
    if (timeoutMs > intervalMs) issues.push(`${path}.scrape_timeout: ${cfg.scrape_timeout} is longer than the job's scrape_interval (${fmtMs(intervalMs)}); shorten it or scrape less often`);
  } else timeoutMs = Math.min(g.timeoutMs, intervalMs);
  if (intervalMs > ctx.gaugeStaleAfterMs) {
    issues.push(`${path}.scrape_interval: ${fmtMs(intervalMs)} is longer than metrics.gauge_stale_after (${fmtMs(ctx.gaugeStaleAfterMs)}), so the job's series would go stale between scrapes; scrape more often or raise metrics.gauge_stale_after`);
  }
  const scheme = cfg.scheme ?? 'http';
  if (scheme !== 'http' && scheme !== 'https') issues.push(`${path}.scheme: must be http or https (got ${JSON.stringify(scheme)})`);
  const metricsPath = cfg.metrics_path ?? '/metrics';
  if (!metricsPath.startsWith('/')) issues.push(`${path}.metrics_path: must start with "/" (got ${JSON.stringify(metricsPath)})`);
  const auth = resolveAuth(cfg, path, issues);
  const tls = resolveTls(cfg.tls_config, `${path}.tls_config`, issues);
  const bodySizeLimit = resolveBodyLimit(cfg.body_size_limit, `${path}.body_size_limit`, issues);
  const compile = (rules: readonly RawRelabelRule[] | undefined, key: string) =>
    (rules ?? []).map((r, k) => compileRule(r, `${path}.${key}.${k}`, issues)).filter((r): r is RelabelRule => r !== undefined);
  const targetRelabel = compile(cfg.relabel_configs, 'relabel_configs');
  const metricRelabel = compile(cfg.metric_relabel_configs, 'metric_relabel_configs');
  const valueScale = new Map<string, number>();
  for (const [name, factor] of Object.entries(cfg.meterway?.value_scale ?? {})) {
    if (!Number.isFinite(factor) || factor <= 0) issues.push(`${path}.meterway.value_scale.${name}: the factor must be a finite number above 0 (got ${factor})`);
    else valueScale.set(name, factor);
  }
  if (issues.length > before) return undefined;
  const targets = resolveTargets(cfg, path, { scheme, metricsPath, intervalMs, timeoutMs }, targetRelabel, issues);
  return {
    name: cfg.job_name,
    honorLabels: cfg.honor_labels ?? false,
    honorTimestamps: cfg.honor_timestamps ?? true,
    sampleLimit: cfg.sample_limit ?? 0,
    labelLimit: cfg.label_limit ?? 0,
    labelNameLengthLimit: cfg.label_name_length_limit ?? 0,
    labelValueLengthLimit: cfg.label_value_length_limit ?? 0,
    bodySizeLimit,
    auth,
    tls,
    metricRelabel,
    valueScale,
    rebucket: cfg.meterway?.rebucket ?? false,
    targets,
  };
}

function readable(file: string, path: string, issues: string[]): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    issues.push(`${path}: cannot read ${file} (${e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : (e.code ?? e.message)}); check the path and the gateway's permissions`);
    return undefined;
  }
}

function resolveAuth(cfg: RawScrapeConfig, path: string, issues: string[]): ScrapeAuth {
  const given = (['authorization', 'basic_auth', 'bearer_token', 'bearer_token_file'] as const).filter((k) => cfg[k] !== undefined);
  if (given.length > 1) {
    issues.push(`${path}: ${given.join(' and ')} are set together; a job takes one way to authenticate`);
    return { kind: 'none' };
  }
  if (cfg.bearer_token !== undefined) return { kind: 'authorization', type: 'Bearer', credentials: new Secret(cfg.bearer_token) };
  if (cfg.bearer_token_file !== undefined) {
    readable(cfg.bearer_token_file, `${path}.bearer_token_file`, issues);
    return { kind: 'authorization', type: 'Bearer', file: cfg.bearer_token_file };
  }
  const a = cfg.authorization;
  if (a !== undefined) {
    const type = a.type ?? 'Bearer';
    if (type.toLowerCase() === 'basic') issues.push(`${path}.authorization.type: cannot be Basic; use basic_auth with username and password`);
    if (a.credentials !== undefined && a.credentials_file !== undefined) issues.push(`${path}.authorization: credentials and credentials_file are both set; keep one`);
    if (a.credentials_file !== undefined) readable(a.credentials_file, `${path}.authorization.credentials_file`, issues);
    return { kind: 'authorization', type, credentials: a.credentials === undefined ? undefined : new Secret(a.credentials), file: a.credentials_file };
  }
  const b = cfg.basic_auth;
  if (b !== undefined) {
    if (b.password !== undefined && b.password_file !== undefined) issues.push(`${path}.basic_auth: password and password_file are both set; keep one`);
    if (b.password_file !== undefined) readable(b.password_file, `${path}.basic_auth.password_file`, issues);
    return { kind: 'basic', username: b.username, password: b.password === undefined ? undefined : new Secret(b.password), file: b.password_file };
  }
  return { kind: 'none' };
}

function resolveTls(t: RawScrapeConfig['tls_config'], path: string, issues: string[]): ScrapeTls | undefined {
  if (t === undefined) return undefined;
  if ((t.cert_file === undefined) !== (t.key_file === undefined)) issues.push(`${path}: cert_file and key_file go together (a client certificate needs its key)`);
  const read = (file: string | undefined, key: string) => (file === undefined ? undefined : readable(file, `${path}.${key}`, issues));
  return { ca: read(t.ca_file, 'ca_file'), cert: read(t.cert_file, 'cert_file'), key: read(t.key_file, 'key_file'), serverName: t.server_name, insecureSkipVerify: t.insecure_skip_verify ?? false };
}

const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** Prometheus' body_size_limit: bytes, or a number with a base-2 unit (10MB is 10 MiB, as Prometheus' units package reads it). */
function resolveBodyLimit(v: string | number | undefined, path: string, issues: string[]): number {
  if (v === undefined || v === 0 || v === '0') return DEFAULT_BODY_LIMIT;
  const m = /^(\d+)(B|KB|MB|GB|KiB|MiB|GiB)?$/.exec(String(v));
  if (m === null) {
    issues.push(`${path}: must be a size like 10MB, 512KB or a number of bytes (got ${JSON.stringify(v)})`);
    return DEFAULT_BODY_LIMIT;
  }
  return Number(m[1]) * BYTE_UNITS[m[2] ?? ''];
}

/** The targets of static_configs after relabel_configs, as PopulateLabels makes them; the same target twice is one. */
function resolveTargets(cfg: RawScrapeConfig, path: string, d: { scheme: string; metricsPath: string; intervalMs: number; timeoutMs: number }, rules: readonly RelabelRule[], issues: string[]): ScrapeTarget[] {
  const out: ScrapeTarget[] = [];
  const seen = new Set<string>();
  (cfg.static_configs ?? []).forEach((sc, s) => {
    sc.targets.forEach((address, t) => {
      const where = `${path}.static_configs.${s}.targets.${t}`;
      const labels = new Map<string, string>();
      for (const [k, v] of Object.entries(sc.labels ?? {})) {
        if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k)) issues.push(`${path}.static_configs.${s}.labels.${k}: not a valid label name (letters, digits and '_', not starting with a digit)`);
        if (v !== '') labels.set(k, v);
      }
      if (address !== '') labels.set('__address__', address);
      // As PopulateLabels: the job's settings are labels a rule may read and change.
      const defaults: Array<[string, string]> = [
        ['job', cfg.job_name], ['__scrape_interval__', fmtMs(d.intervalMs)], ['__scrape_timeout__', fmtMs(d.timeoutMs)],
        ['__metrics_path__', d.metricsPath], ['__scheme__', d.scheme],
      ];
      for (const [k, v] of defaults) if (!labels.has(k)) labels.set(k, v);
      for (const [k, v] of Object.entries(cfg.params ?? {})) if (v.length > 0 && v[0] !== '') labels.set(`__param_${k}`, v[0]);
      if (!relabel(labels, rules)) return;
      const target = populate(labels, cfg, where, issues);
      if (target === undefined) return;
      const id = `${target.url}\u0000${target.labels.map(([k, v]) => `${k}=${v}`).join('\u0000')}`;
      if (seen.has(id)) return;
      seen.add(id);
      out.push(target);
    });
  });
  return out;
}

function populate(labels: Map<string, string>, cfg: RawScrapeConfig, where: string, issues: string[]): ScrapeTarget | undefined {
  let address = labels.get('__address__');
  if (address === undefined) {
    issues.push(`${where}: no address is left after relabel_configs (the __address__ label is empty)`);
    return undefined;
  }
  const scheme = labels.get('__scheme__') ?? 'http';
  if (scheme !== 'http' && scheme !== 'https') {
    issues.push(`${where}: the scheme ${JSON.stringify(scheme)} (the __scheme__ label) is not http or https`);
    return undefined;
  }
  if (/[/?#@\s]/.test(address) || (!address.startsWith('[') && (address.match(/:/g) ?? []).length > 1)) {
    issues.push(`${where}: ${JSON.stringify(address)} is not a host:port; give the address alone (the scheme and metrics_path are keys of their own), an IPv6 address in brackets ([::1]:9100)`);
    return undefined;
  }
  if (!hasPort(address)) {
    address += scheme === 'https' ? ':443' : ':80';
    labels.set('__address__', address);
  }
  const interval = parseDuration(labels.get('__scrape_interval__') ?? '');
  const timeout = parseDuration(labels.get('__scrape_timeout__') ?? '');
  if (interval === undefined || interval <= 0 || timeout === undefined || timeout <= 0) {
    issues.push(`${where}: the __scrape_interval__ or __scrape_timeout__ label relabel_configs left is not a duration above 0`);
    return undefined;
  }
  if (timeout > interval) {
    issues.push(`${where}: the scrape timeout (${fmtMs(timeout)}) is longer than the scrape interval (${fmtMs(interval)})`);
    return undefined;
  }
  if (!labels.has('instance')) labels.set('instance', address);
  const params = new Map<string, string[]>(Object.entries(cfg.params ?? {}).map(([k, v]) => [k, [...v]]));
  for (const [k, v] of labels) {
    if (!k.startsWith('__param_')) continue;
    const name = k.slice('__param_'.length);
    const list = params.get(name);
    if (list !== undefined && list.length > 0) list[0] = v;
    else params.set(name, [v]);
  }
  const query = [...params.keys()].sort().flatMap((k) => params.get(k)!.map((v) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)).join('&');
  const path = labels.get('__metrics_path__') ?? '/metrics';
  const own = [...labels].filter(([k]) => !k.startsWith('__')).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [k, v] of own) {
    if (v.length > 1024) {
      issues.push(`${where}: the target label ${k} is ${v.length} characters long, more than the 1024 a label value may have`);
      return undefined;
    }
  }
  return {
    url: `${scheme}://${address}${path.startsWith('/') ? path : `/${path}`}${query === '' ? '' : `?${query}`}`,
    scheme,
    labels: own,
    job: labels.get('job') ?? '',
    instance: labels.get('instance')!,
    intervalMs: interval,
    timeoutMs: timeout,
  };
}

/** Whether a host:port has its port (an IPv6 literal is bracketed, as Prometheus wants it). */
function hasPort(address: string): boolean {
  if (address.startsWith('[')) return /^\[[^\]]+\]:\d+$/.test(address);
  return /^[^:]+:\d+$/.test(address);
}

/** A duration as Prometheus prints one: 1m, 30s, 1m30s, 500ms. */
export function fmtMs(ms: number): string {
  if (ms === 0) return '0s';
  const parts: string[] = [];
  const units: Array<[string, number]> = [['y', 31_536_000_000], ['w', 604_800_000], ['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]];
  let rest = ms;
  for (const [u, n] of units) {
    if (rest >= n) {
      parts.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    }
  }
  return parts.join('');
}
