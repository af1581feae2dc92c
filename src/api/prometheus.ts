/**
 * The Prometheus HTTP API per project (CONTRACT section 8), for Grafana, promtool, Prometheus'
 * UI and any Prometheus client: query, query_range, series, labels, label values, metadata, the
 * status pages, format_query and parse_query, the empty targets, rules, alerts and exemplars,
 * and /federate; GET and form POST; bodies, errorType and statuses as Prometheus answers them;
 * any other path under the prefix a Prometheus-style 404 (see README.md here). Every read goes
 * through the store's querier for the token's project, so nothing here can widen what a query sees.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../server/context.js';
import type { Labels } from '../core/labels.js';
import type { LabelMatcher, Queryable } from '../core/queryable.js';
import { asApiError } from '../server/errors.js';
import { PromQLError, PromQLParseError, formatValue, parse, type QueryResult } from '../promql/index.js';
import type { Expr } from '../promql/ast.js';
import { QueryRefused, type QueryPool } from '../query/pool.js';
import { limitsFor, type QueryLimits } from '../query/limits.js';
import { exemplarData, type ExemplarSource } from './exemplars.js';
import { BadParam, MAX_TIME_MS, MIN_TIME_MS, parseDurationParam, parseLimit, parseTime } from './prom-params.js';
import { LOOKBACK_DELTA_MS, buildInfo, configYaml, flags, jsonWithInt64, runtimeInfo, tsdbStatus, type IndexedStore } from './prom-status.js';
import { FEDERATE_CONTENT_TYPE, federate } from './prom-federate.js';
import { pretty } from './promql-format.js';
import { astToJson } from './promql-ast-json.js';

type ErrorType = 'bad_data' | 'execution' | 'timeout' | 'canceled' | 'internal' | 'not_found' | 'unavailable' | 'unauthorized' | 'forbidden';

const STATUS: Readonly<Record<ErrorType, number>> = {
  bad_data: 400, execution: 422, timeout: 503, canceled: 503, internal: 500, not_found: 404, unavailable: 503, unauthorized: 401, forbidden: 403,
};

class PromApiError extends Error {
  constructor(
    readonly errorType: ErrorType,
    message: string,
    /** For a refused query: its own status (429 or 503) and when to come back. */
    readonly refusal?: { status: number; retryAfterS: number },
  ) {
    super(message);
  }
}

const READ_SCOPES = ['manage', 'monitoring'] as const;

export interface MetricMetadata {
  readonly type: string;
  readonly help: string;
  readonly unit: string;
}

/** What the query API reads: the store (its per-project index where it has one), and metric metadata per project. */
export interface QuerySource extends Queryable, IndexedStore, ExemplarSource {
  metadata(project: string): ReadonlyMap<string, MetricMetadata>;
}

export async function prometheusRoutes(app: FastifyInstance, gw: Gateway, source: QuerySource, queries: QueryPool): Promise<void> {
  const limits = (pid: string) => limitsFor(gw.config.query, pid);
  // Prometheus clients POST forms; repeated keys (match[]) must survive, so keep URLSearchParams.
  // A form larger than the longest query any project may send (with room for encoding and the
  // other parameters) is refused from its Content-Length, before a byte of it is read: a flood of
  // over-long queries then costs the event loop next to nothing (bench/tail-latency.ts).
  const longest = Math.max(gw.config.query.limits.maxQueryLength, ...Object.values(gw.config.query.projects).map((l) => l.maxQueryLength));
  const formLimit = Math.ceil(longest * 1.25) + 16 * 1024;
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: formLimit }, (_req, body, done) =>
    done(null, new URLSearchParams(body as string)),
  );

  const prefix = '/v1/projects/:pid/prometheus';
  const base = `${prefix}/api/v1`;
  const startedAt = new Date();
  /** Paths under the prefix that exist, with their methods, for the not-found handler's 405s. */
  const known: Array<{ path: RegExp; methods: readonly string[] }> = [];
  const promErrors = (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    // The auth hook's refusals in Prometheus' form, like the handler's own errors; what Fastify
    // itself refuses (a form body it cannot take) goes on to the app's handler, as it always did.
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // 400 bad_data, as every over-long query is (issue 14), though the body is not even read.
      return reply.code(400).send({
        status: 'error', errorType: 'bad_data',
        error: `the form body is larger than ${formLimit} bytes, more than a query within query.max_query_length (${longest.toLocaleString('en-US')} characters) needs; send a shorter query`,
      });
    }
    if (typeof err.code === 'string' && err.code.startsWith('FST_')) throw err;
    return sendPromError(req, reply, err);
  };
  const remember = (url: string, methods: readonly string[]) => {
    const rest = url.slice(prefix.length + 1).split('/').map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    known.push({ path: new RegExp(`^${rest.join('/')}$`), methods: methods.includes('GET') ? [...methods, 'HEAD'] : methods });
  };
  const handle = (
    route: string,
    fn: (project: string, params: URLSearchParams, routeParams: Record<string, string>) => Promise<unknown> | unknown,
    methods: Array<'GET' | 'POST'> = ['GET', 'POST'],
    opts: { int64?: boolean } = {},
  ) => {
    remember(`${base}/${route}`, methods);
    app.route({
      method: methods,
      url: `${base}/${route}`,
      schema: { tags: ['prometheus'], summary: `Prometheus API: ${route}`, hide: false },
      config: { auth: { scopes: READ_SCOPES, project: 'pid' }, refusalBackoff: true },
      errorHandler: promErrors,
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        try {
          const routeParams = req.params as Record<string, string>;
          const pid = routeParams.pid;
          const out = await fn(pid, requestParams(req), routeParams);
          const { data, warnings, infos } = out as { data: unknown; warnings?: string[]; infos?: string[] };
          const body = { status: 'success', data, ...(warnings?.length ? { warnings } : {}), ...(infos?.length ? { infos } : {}) };
          // Go's int64 bounds (an empty TSDB head's minTime and maxTime) do not fit a double.
          if (opts.int64) return reply.type('application/json; charset=utf-8').send(jsonWithInt64(body));
          return reply.send(body);
        } catch (err) {
          return sendPromError(req, reply, err);
        }
      },
    });
  };

  handle('query', async (pid, p) => {
    const query = queryParam(p, limits(pid));
    const time = parseTime(p.get('time') ?? undefined, 'time', Date.now());
    const result = await queries.run(pid, { kind: 'instant', query, timeMs: time }, timeoutParam(p));
    return withLimit(formatResult(result), parseLimit(p.get('limit') ?? undefined), result);
  });

  handle('query_range', async (pid, p) => {
    const projectLimits = limits(pid);
    const query = queryParam(p, projectLimits);
    const start = parseTime(required(p, 'start'), 'start', 0);
    const end = parseTime(required(p, 'end'), 'end', 0);
    if (end < start) throw new PromApiError('bad_data', 'end timestamp must not be before start time');
    const step = parseDurationParam(required(p, 'step'), 'step');
    if (step <= 0) throw new PromApiError('bad_data', 'zero or negative query resolution step widths are not accepted. Try a positive integer');
    const maxPoints = projectLimits.maxPointsPerSeries;
    if ((end - start) / step > maxPoints) {
      // Prometheus' own wording (its limit is 11,000, our default), so clients that look for it still do.
      throw new PromApiError('bad_data', `exceeded maximum resolution of ${maxPoints.toLocaleString('en-US')} points per timeseries. Try decreasing the query resolution (?step=XX)`);
    }
    const result = await queries.run(pid, { kind: 'range', query, startMs: start, endMs: end, stepMs: step }, timeoutParam(p));
    return withLimit(formatResult(result), parseLimit(p.get('limit') ?? undefined), result);
  });

  handle('series', (pid, p) => {
    const matchers = matcherSets(p, true, limits(pid));
    const { start, end } = timeRange(p);
    const limit = parseLimit(p.get('limit') ?? undefined);
    const querier = source.querier(pid, start, end);
    const seen = new Map<string, Labels>();
    for (const set of matchers) for (const s of querier.select(set, start, end)) seen.set(labelKey(s.labels), s.labels);
    const all = [...seen.values()].sort(compareLabelSets);
    return truncated(all, limit);
  });

  handle('labels', (pid, p) => {
    const { start, end } = timeRange(p);
    const querier = source.querier(pid, start, end);
    const names = new Set<string>();
    for (const set of matcherSets(p, false, limits(pid))) for (const n of querier.labelNames(set)) names.add(n);
    return truncated([...names].sort(), parseLimit(p.get('limit') ?? undefined));
  });

  handle('label/:name/values', (pid, p, route) => {
    const label = decodeLabelName(route.name);
    const { start, end } = timeRange(p);
    const querier = source.querier(pid, start, end);
    const values = new Set<string>();
    for (const set of matcherSets(p, false, limits(pid))) for (const v of querier.labelValues(label, set)) values.add(v);
    return truncated([...values].sort(), parseLimit(p.get('limit') ?? undefined));
  }, ['GET']);

  handle('metadata', (pid, p) => {
    const metric = p.get('metric') ?? undefined;
    const limit = parseLimit(p.get('limit') ?? undefined);
    const perMetric = parseLimit(p.get('limit_per_metric') ?? undefined);
    const data: Record<string, MetricMetadata[]> = {};
    let n = 0;
    for (const [name, meta] of source.metadata(pid)) {
      if (metric !== undefined && metric !== name) continue;
      if (limit > 0 && n >= limit) break;
      data[name] = perMetric > 0 ? [meta].slice(0, perMetric) : [meta];
      n++;
    }
    return { data };
  }, ['GET']);

  handle('status/buildinfo', () => ({ data: buildInfo() }), ['GET']);
  handle('status/flags', (pid) => ({ data: flags(gw.config, limits(pid), pid) }), ['GET']);
  handle('status/config', () => ({ data: { yaml: configYaml(gw.config) } }), ['GET']);
  handle('status/runtimeinfo', () => ({ data: runtimeInfo(startedAt, gw.config) }), ['GET']);
  // Nothing to replay: the store is open before the API is (Prometheus' UI asks while it starts).
  handle('status/walreplay', () => ({ data: { min: 0, max: 0, current: 0 } }), ['GET']);
  handle('status/tsdb', (pid, p) => {
    const limit = p.get('limit') === null || p.get('limit') === '' ? 10 : Number(p.get('limit'));
    if (!Number.isInteger(limit) || limit < 1) throw new PromApiError('bad_data', 'limit must be a positive number');
    return { data: tsdbStatus(source, pid, limit) };
  }, ['GET'], { int64: true });

  // The query as Prometheus' formatter prints it, and its syntax tree (Prometheus 3's shape).
  handle('format_query', (pid, p) => ({ data: pretty(parseQueryParam(p, limits(pid))) }));
  handle('parse_query', (pid, p) => ({ data: astToJson(parseQueryParam(p, limits(pid))) }));

  // Grafana and Prometheus' UI ask for these; a gateway has no targets, rules, alerts or
  // Alertmanagers to show, and no exemplars (yet): well-formed and empty.
  handle('query_exemplars', (pid, p) => {
    const text = p.get('query') ?? '';
    checkLength(text, 'query', limits(pid));
    const { start, end } = timeRange(p); // checked as Prometheus checks them
    let expr;
    try {
      expr = parse(text, limits(pid).maxDepth);
    } catch (err) {
      // Prometheus 2.42 answers the parse error without naming the parameter here.
      if (err instanceof PromQLParseError) throw new PromApiError('bad_data', err.message);
      throw err;
    }
    return { data: exemplarData(source, pid, expr, start, end) };
  });
  handle('targets', () => ({ data: { activeTargets: [], droppedTargets: [] } }), ['GET']);
  handle('targets/metadata', () => ({ data: [] }), ['GET']);
  handle('alertmanagers', () => ({ data: { activeAlertmanagers: [], droppedAlertmanagers: [] } }), ['GET']);
  handle('rules', (_pid, p) => {
    const type = p.get('type');
    if (type !== null && type !== '' && type !== 'alert' && type !== 'record') {
      throw new PromApiError('bad_data', `invalid parameter "type": not supported value ${JSON.stringify(type)}`);
    }
    return { data: { groups: [] } };
  }, ['GET']);
  handle('alerts', () => ({ data: { alerts: [] } }), ['GET']);

  // Federation: the latest sample of each matching series of the project, as text.
  remember(`${prefix}/federate`, ['GET']);
  app.route({
    method: 'GET',
    url: `${prefix}/federate`,
    schema: { tags: ['prometheus'], summary: 'Prometheus federation: latest samples of the series matching match[] (text format 0.0.4)', hide: false },
    config: { auth: { scopes: READ_SCOPES, project: 'pid' }, refusalBackoff: true },
    errorHandler: promErrors,
    handler: async (req, reply) => {
      try {
        const pid = (req.params as Record<string, string>).pid;
        const p = requestParams(req);
        const projectLimits = limits(pid);
        const sets = p.getAll('match[]').length === 0 ? [] : matcherSets(p, true, projectLimits);
        const now = Date.now();
        const querier = source.querier(pid, now - LOOKBACK_DELTA_MS, now);
        const text = federate(querier, sets, now, LOOKBACK_DELTA_MS, projectLimits.maxSeriesPerSelector);
        return reply.type(FEDERATE_CONTENT_TYPE).send(text);
      } catch (err) {
        return sendPromError(req, reply, err);
      }
    },
  });

  // Prometheus' management checks, for clients that probe them before querying.
  for (const [path, text] of [['-/healthy', 'Prometheus Server is Healthy.\n'], ['-/ready', 'Prometheus Server is Ready.\n']] as const) {
    remember(`${prefix}/${path}`, ['GET']);
    app.route({
      method: 'GET',
      url: `${prefix}/${path}`,
      schema: { tags: ['prometheus'], summary: `Prometheus API: ${path}`, hide: false },
      config: { auth: { scopes: READ_SCOPES, project: 'pid' }, refusalBackoff: true },
      errorHandler: promErrors,
      handler: async (_req, reply) => reply.type('text/plain; charset=utf-8').send(text),
    });
  }

  // Everything else under the prefix: Prometheus' error shape (a client cannot read Meterway's),
  // after the same token check as every route here, so another project's token still gets that
  // project's 404 and nothing tells which paths exist to a caller who may not see the project.
  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: `${prefix}/*`,
    schema: { hide: true },
    config: { auth: { scopes: READ_SCOPES, project: 'pid' }, refusalBackoff: true },
    errorHandler: (err: FastifyError, req, reply) => sendPromError(req, reply, typeof err.code === 'string' && err.code.startsWith('FST_') ? notFound(req) : err),
    handler: async (req, reply) => {
      const rest = (req.params as Record<string, string>)['*'] ?? '';
      const route = known.find((k) => k.path.test(rest));
      if (route !== undefined && !route.methods.includes(req.method)) {
        const allowed = route.methods.filter((m) => m !== 'HEAD');
        reply.header('allow', [...allowed, 'OPTIONS'].join(', '));
        return reply.code(405).send({ status: 'error', errorType: 'bad_data', error: `method ${req.method} not allowed on ${rest}; use ${allowed.join(' or ')}` });
      }
      return sendPromError(req, reply, notFound(req));
    },
  });
}

function notFound(req: FastifyRequest): PromApiError {
  const path = req.url.split('?')[0];
  return new PromApiError('not_found', `no Prometheus API endpoint ${req.method} ${path}; the endpoints Meterway serves are listed at /docs`);
}

/** The query string's parameters, then a form body's (Prometheus reads both). */
function requestParams(req: FastifyRequest): URLSearchParams {
  const params = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  if (req.body instanceof URLSearchParams) for (const [k, v] of req.body) params.append(k, v);
  return params;
}

/** `query` parsed as Prometheus' format_query and parse_query parse it (empty: "no expression found"). */
function parseQueryParam(p: URLSearchParams, limits: QueryLimits): Expr {
  const text = p.get('query') ?? '';
  checkLength(text, 'query', limits);
  return parse(text, limits.maxDepth);
}

function required(p: URLSearchParams, name: string): string {
  const v = p.get(name);
  if (v === null || v === '') throw new PromApiError('bad_data', `invalid parameter "${name}": missing ${name === 'query' ? 'query' : 'parameter'}`);
  return v;
}

/** The request's `timeout`, which can only shorten the project's `query.timeout`. */
function timeoutParam(p: URLSearchParams): number | undefined {
  const t = p.get('timeout');
  return t === null || t === '' ? undefined : parseDurationParam(t, 'timeout');
}

/** Checked before the query is queued or parsed: parsing alone takes time in proportion to length. */
function checkLength(text: string, name: string, limits: QueryLimits): void {
  if (text.length > limits.maxQueryLength) {
    throw new PromApiError('bad_data',
      `invalid parameter "${name}": ${text.length.toLocaleString('en-US')} characters, more than the limit of ${limits.maxQueryLength.toLocaleString('en-US')} (query.max_query_length); ` +
      'split it into several shorter queries');
  }
}

function queryParam(p: URLSearchParams, limits: QueryLimits): string {
  const query = required(p, 'query');
  checkLength(query, 'query', limits);
  return query;
}

function timeRange(p: URLSearchParams): { start: number; end: number } {
  const start = parseTime(p.get('start') ?? undefined, 'start', MIN_TIME_MS);
  const end = parseTime(p.get('end') ?? undefined, 'end', MAX_TIME_MS);
  if (end < start) throw new PromApiError('bad_data', 'end timestamp must not be before start time');
  return { start, end };
}

/** `match[]` selectors as matcher lists; `[[]]` (everything) when none are given and none are required. */
function matcherSets(p: URLSearchParams, requiredOne: boolean, limits: QueryLimits): LabelMatcher[][] {
  const texts = p.getAll('match[]');
  if (texts.length === 0) {
    if (requiredOne) throw new PromApiError('bad_data', 'no match[] parameter provided');
    return [[]];
  }
  return texts.map((text) => {
    checkLength(text, 'match[]', limits);
    const expr = parse(text, limits.maxDepth);
    if (expr.type !== 'vectorSelector') throw new PromApiError('bad_data', `invalid parameter "match[]": ${text} is not a series selector`);
    return [...expr.matchers];
  });
}

function decodeLabelName(name: string): string {
  // Prometheus 3 accepts UTF-8 names escaped as U__ in the path.
  if (!name.startsWith('U__')) return name;
  return name.slice(3).replace(/_([0-9a-fA-F]+)_/g, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16))).replace(/__/g, '_');
}

function truncated<T>(items: T[], limit: number): { data: T[]; warnings?: string[] } {
  if (limit > 0 && items.length > limit) return { data: items.slice(0, limit), warnings: ['results truncated due to limit'] };
  return { data: items };
}

const seconds = (ms: number): number => ms / 1000;

function formatResult(r: QueryResult): { data: unknown; warnings?: string[]; infos?: string[] } {
  let result: unknown;
  switch (r.resultType) {
    case 'scalar':
    case 'string':
      result = [seconds(r.result.timestampMs), r.resultType === 'scalar' ? formatValue(r.result.value) : r.result.value];
      break;
    case 'vector':
      result = r.result.map((s) => ({ metric: s.labels, value: [seconds(s.timestampMs), formatValue(s.value)] }));
      break;
    case 'matrix':
      result = r.result.map((s) => ({ metric: s.labels, values: s.timestampsMs.map((t, i) => [seconds(t), formatValue(s.values[i])]) }));
      break;
  }
  return { data: { resultType: r.resultType, result }, warnings: r.annotations.warnings, infos: r.annotations.infos };
}

function withLimit(out: { data: unknown; warnings?: string[]; infos?: string[] }, limit: number, r: QueryResult) {
  if (limit <= 0 || (r.resultType !== 'vector' && r.resultType !== 'matrix')) return out;
  const data = out.data as { resultType: string; result: unknown[] };
  if (data.result.length <= limit) return out;
  return { ...out, data: { ...data, result: data.result.slice(0, limit) }, warnings: [...(out.warnings ?? []), 'results truncated due to limit'] };
}

function labelKey(l: Labels): string {
  return Object.keys(l).sort().map((k) => `${k}\u0000${l[k]}`).join('\u0001');
}

function compareLabelSets(a: Labels, b: Labels): number {
  const ka = labelKey(a);
  const kb = labelKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** An error as Prometheus answers it: `{status: "error", errorType, error}` with its status. */
function sendPromError(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = toPromError(err);
  if (e.errorType === 'internal') req.log.error({ err }, 'query API error');
  if (e.refusal) reply.header('retry-after', String(e.refusal.retryAfterS));
  return reply.code(e.refusal?.status ?? STATUS[e.errorType]).send({ status: 'error', errorType: e.errorType, error: e.message });
}

function toPromError(err: unknown): PromApiError {
  if (err instanceof PromApiError) return err;
  if (err instanceof BadParam) return new PromApiError('bad_data', err.message);
  if (err instanceof QueryRefused) return new PromApiError('unavailable', err.message, { status: err.status, retryAfterS: err.retryAfterS });
  if (err instanceof PromQLParseError) return new PromApiError('bad_data', `invalid parameter "query": ${err.message}`);
  if (err instanceof PromQLError) return new PromApiError(err.errorType, err.message);
  const api = asApiError(err);
  if (api !== undefined) {
    const type: ErrorType = api.status === 401 ? 'unauthorized' : api.status === 403 ? 'forbidden' : api.status === 404 ? 'not_found' : 'bad_data';
    return new PromApiError(type, api.message);
  }
  return new PromApiError('internal', 'internal error; the server log has the details');
}
