/**
 * The Prometheus HTTP API per project (CONTRACT section 8), for Grafana, promtool and any
 * Prometheus client: query, query_range, series, labels, label values, metadata, buildinfo; GET and
 * form POST; bodies, errorType and statuses as Prometheus answers them. Every read goes through
 * the store's querier for the token's project, so nothing here can widen what a query sees.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../server/context.js';
import type { Labels } from '../core/labels.js';
import type { LabelMatcher, Queryable } from '../core/queryable.js';
import { asApiError } from '../server/errors.js';
import { PromQLError, PromQLParseError, formatValue, parse, type QueryResult } from '../promql/index.js';
import { QueryRefused, type QueryPool } from '../query/pool.js';
import { limitsFor, type QueryLimits } from '../query/limits.js';
import { BadParam, MAX_TIME_MS, MIN_TIME_MS, parseDurationParam, parseLimit, parseTime } from './prom-params.js';

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

/** What the query API reads: the store, and metric metadata per project. */
export interface QuerySource extends Queryable {
  metadata(project: string): ReadonlyMap<string, MetricMetadata>;
}

export async function prometheusRoutes(app: FastifyInstance, gw: Gateway, source: QuerySource, queries: QueryPool): Promise<void> {
  const limits = (pid: string) => limitsFor(gw.config.query, pid);
  // Prometheus clients POST forms; repeated keys (match[]) must survive, so keep URLSearchParams.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_req, body, done) =>
    done(null, new URLSearchParams(body as string)),
  );

  const base = '/v1/projects/:pid/prometheus/api/v1';
  const handle = (route: string, fn: (project: string, params: URLSearchParams, routeParams: Record<string, string>) => Promise<unknown> | unknown, methods: Array<'GET' | 'POST'> = ['GET', 'POST']) => {
    app.route({
      method: methods,
      url: `${base}/${route}`,
      schema: { tags: ['prometheus'], summary: `Prometheus API: ${route}`, hide: false },
      config: { auth: { scopes: READ_SCOPES, project: 'pid' } },
      // The auth hook's refusals in Prometheus' form, like the handler's own errors; what Fastify
      // itself refuses (a form body it cannot take) goes on to the app's handler, as it always did.
      errorHandler: (err: FastifyError, req, reply) => {
        if (typeof err.code === 'string' && err.code.startsWith('FST_')) throw err;
        return sendPromError(req, reply, err);
      },
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        try {
          const routeParams = req.params as Record<string, string>;
          const pid = routeParams.pid;
          const params = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
          if (req.body instanceof URLSearchParams) for (const [k, v] of req.body) params.append(k, v);
          const out = await fn(pid, params, routeParams);
          const { data, warnings, infos } = out as { data: unknown; warnings?: string[]; infos?: string[] };
          return reply.send({ status: 'success', data, ...(warnings?.length ? { warnings } : {}), ...(infos?.length ? { infos } : {}) });
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

  handle('status/buildinfo', () => ({
    data: { version: '3.0.0', revision: 'meterway', branch: 'meterway', buildUser: 'meterway', buildDate: '', goVersion: 'none (Meterway, Node.js)' },
  }), ['GET']);

  // Grafana asks for these when it explores a data source; a gateway has none to show.
  handle('query_exemplars', () => ({ data: [] }));
  handle('rules', () => ({ data: { groups: [] } }), ['GET']);
  handle('alerts', () => ({ data: { alerts: [] } }), ['GET']);
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
