/**
 * Builds the HTTP app from an assembled Gateway: routes, OpenAPI at /docs, and the one place where
 * errors become `{"error": {code, message}}` responses.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Gateway } from './context.js';
import type { IngestLimiter } from '../ingest/rate-limit.js';
import type { QueryPool } from '../query/pool.js';
import { ApiError, asApiError } from './errors.js';
import { RefusalBackoff } from './refusal-backoff.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { secureRoutes } from './auth.js';
import { controlRoutes } from '../api/control.js';
import { eventRoutes } from '../api/events.js';
import { tooLarge } from '../api/body.js';
import { scrapeRoutes } from '../api/scrape.js';
import { healthRoutes } from '../api/health.js';
import { integrationRoutes } from '../api/integrations.js';
import { importRoutes } from '../api/import.js';
import { otlpRoutes } from '../api/otlp.js';
import { promWriteRoutes } from '../api/prom-write.js';
import { prometheusRoutes } from '../api/prometheus.js';
import { ErrorBody } from '../api/schemas.js';
import { ACCESS_MESSAGE } from '../config/logging.js';
import { PROJECT_ID } from '../control/ids.js';
import type { Principal } from '../control/tokens.js';

declare const METERWAY_VERSION: string | undefined;

/** `limiter` is charged by every ingest route (events, import); `queries` evaluates PromQL. */
export async function buildApp(gw: Gateway, { limiter, queries }: { limiter: IngestLimiter; queries: QueryPool }): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: gw.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // Large scrapes and ingest batches: leave the body limit to each route.
    bodyLimit: gw.config.ingest.maxBodyBytes,
    ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
  });

  // A caller who keeps being refused is answered later (src/server/refusal-backoff.ts): on the
  // query API, where a flood of refusals would hold other tenants' queries, and for unknown tokens
  // everywhere (also a brake on guessing). Not on ingest: a sender whose batches each hold one bad
  // series must not have its valid data slowed; ingest has its rate limits.
  const backoff = new RefusalBackoff(gw.config.refusalBackoff);
  const delayed = new WeakMap<FastifyRequest, number>();
  if (backoff.enabled) {
    app.addHook('onSend', async (req, reply, payload) => {
      const status = reply.statusCode;
      const refused = status === 401 || (req.routeOptions.config?.refusalBackoff === true && ((status >= 400 && status < 500) || status === 503));
      if (!refused) return payload;
      const tokenId = req.principal?.tokenId;
      const ms = backoff.delayFor(tokenId !== undefined ? `t\u0000${tokenId}` : `a\u0000${req.ip}`, Date.now());
      if (ms > 0) {
        delayed.set(req, ms);
        gw.selfMetrics.refusalDelayed(tokenId !== undefined ? 'token' : 'address');
        await sleep(ms);
      }
      return payload;
    });
  }

  // One line per request, refusals (401, 403, 404) included. Only what cannot hold a secret: the
  // route's pattern, never the URL (a path or query string may carry a token), no header at all,
  // and the caller as its token's id.
  app.addHook('onResponse', async (req, reply) => {
    const status = reply.statusCode;
    const fields: Record<string, unknown> = {
      method: req.method,
      route: req.routeOptions.url ?? NO_ROUTE,
      status,
      duration_ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    const principal = req.principal ?? (status === 403 || status === 404 ? refusedPrincipal(gw, req) : null);
    const pid = (req.params as Record<string, unknown> | undefined)?.pid;
    // A pid that is not a project id may be anything pasted there, a token included.
    const project = typeof pid === 'string' && PROJECT_ID.test(pid) ? pid : principal?.project;
    if (project != null) fields.project_id = project;
    if (principal != null) fields.token_id = principal.tokenId;
    const heldMs = delayed.get(req);
    if (heldMs !== undefined) fields.delayed_ms = Math.round(heldMs);
    if (status >= 500) req.log.error(fields, ACCESS_MESSAGE);
    else req.log.info(fields, ACCESS_MESSAGE);
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const apiErr = toApiError(err, gw.config.ingest.maxBodyBytes);
    if (apiErr.status >= 500) req.log.error({ err }, 'unhandled error');
    return reply.code(apiErr.status).send(apiErr.toBody());
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(new ApiError(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}; see /docs for the API`).toBody()),
  );

  app.addSchema(ErrorBody);
  await app.register(swagger, {
    openapi: {
      info: { title: 'Meterway', version: typeof METERWAY_VERSION === 'string' ? METERWAY_VERSION : '0.1.0', description: 'Metrics export gateway for AI inference and GPU platforms.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(async (scope) => healthRoutes(scope, gw));
  // Every route in here declares who may call it (config.auth), checked by one hook before its handler.
  await app.register(async (secured) => {
    secureRoutes(secured, gw.tokens, (pid) => gw.aggregator.get(pid) !== undefined);
    await secured.register(async (scope) => controlRoutes(scope, gw));
    await secured.register(async (scope) => eventRoutes(scope, gw, limiter));
    await secured.register(async (scope) => scrapeRoutes(scope, gw));
    await secured.register(async (scope) => integrationRoutes(scope, gw));
    await secured.register(async (scope) => importRoutes(scope, gw, limiter));
    await secured.register(async (scope) => otlpRoutes(scope, gw, limiter));
    await secured.register(async (scope) => promWriteRoutes(scope, gw, limiter));
    await secured.register(async (scope) => prometheusRoutes(scope, gw, gw.tsdb, queries));
  });
  return app;
}

/** The access log's route for a request that matched none (the 404 handler's). */
const NO_ROUTE = '(no route)';

/**
 * Who made a request that the auth hook refused after knowing the token (403 scope, 404 project
 * not visible), for the access log: the hook sets no principal then. Null for a missing, unknown or
 * revoked token.
 */
function refusedPrincipal(gw: Gateway, req: FastifyRequest): Principal | null {
  const auth = req.routeOptions.config?.auth;
  if (auth === undefined || auth === 'public') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (m === null) return null;
  const outcome = gw.tokens.authenticate(m[1]);
  return typeof outcome === 'object' ? outcome : null;
}

function toApiError(err: FastifyError, maxBody: number): ApiError {
  const known = asApiError(err);
  if (known !== undefined) return known;
  if (err.validation !== undefined) {
    const first = err.validation[0];
    const where = `${err.validationContext ?? 'body'}${first?.instancePath.replace(/\//g, '.') ?? ''}`;
    const params = first?.params as Record<string, unknown> | undefined;
    let hint = '';
    if (params?.allowedValues) return new ApiError(400, 'validation_error', `${where}: must be one of ${(params.allowedValues as string[]).join(', ')}`);
    if (params?.additionalProperty) hint = `: unknown field ${JSON.stringify(params.additionalProperty)}`;
    else if (params?.missingProperty) return new ApiError(400, 'validation_error', `${where}.${params.missingProperty as string}: is required`);
    return new ApiError(400, 'validation_error', `${where}: ${first?.message ?? 'is invalid'}${hint}`, err.validation);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return tooLarge(maxBody);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'unsupported_media_type', 'unsupported Content-Type: send application/json or application/x-ndjson');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError(400, 'invalid_body', `the body is not valid JSON: ${err.message}`);
  }
  if (err.statusCode !== undefined && err.statusCode < 500) return new ApiError(err.statusCode, 'bad_request', err.message);
  return new ApiError(500, 'internal', 'internal error; the server log has the details');
}
