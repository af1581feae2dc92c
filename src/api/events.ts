/** POST /v1/events (CONTRACT section 4). */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Gateway } from '../server/context.js';
import { ApiError } from '../server/errors.js';
import { decodedBody } from './body.js';
import { BodyNotJsonError, decodeEvents } from '../sources/http-events/decode.js';
import type { BatchItem } from '../ingest/ingest.js';
import { limitKey, type IngestLimiter, type Refusal } from '../ingest/rate-limit.js';
import { Type } from '@sinclair/typebox';
import { ErrorBody, errorResponses, IngestResponse } from './schemas.js';

const JSON_TYPES = ['application/json'];
const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines'];

export async function eventRoutes(app: FastifyInstance, gw: Gateway, limiter: IngestLimiter): Promise<void> {
  const limit = gw.config.ingest.maxBodyBytes;
  // Raw bytes in: the body is decoded here so that one bad NDJSON line rejects that line, not the request.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...JSON_TYPES, ...NDJSON_TYPES], { parseAs: 'buffer', bodyLimit: limit }, (_req, body, done) => done(null, body));

  app.post('/v1/events', {
    bodyLimit: limit,
    config: { auth: { scopes: ['ingest', 'admin'] } },
    schema: {
      tags: ['events'],
      summary: 'Ingest events: a JSON object, a JSON array, or NDJSON (application/x-ndjson), optionally gzip-encoded',
      description: 'Valid events are kept even when others are rejected; 200 when at least one was accepted, 400 when none was. ' +
        'A batch over a rate limit (ingest.rate_limit) gets 429 with Retry-After and is not applied at all; one with more events for a project than the limit\'s burst gets 413: split it.',
      response: { ...errorResponses, 200: IngestResponse, 400: Type.Union([IngestResponse, ErrorBody]), 413: ErrorBody, 415: ErrorBody, 429: ErrorBody },
    },
  }, async (req, reply) => {
    const p = req.principal;
    const body = await decodedBody(req, limit);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    let items;
    try {
      items = decodeEvents(body.toString('utf8'), NDJSON_TYPES.includes(contentType));
    } catch (err) {
      if (err instanceof BodyNotJsonError) throw new ApiError(400, 'invalid_body', err.message);
      throw err;
    }
    const scope = { project: p.project ?? undefined };
    const refusal = limiter.admit(p.tokenId, eventCosts(items, scope.project, (pid) => gw.aggregator.get(pid) !== undefined));
    if (refusal !== undefined) throw refused(reply, refusal, 'events');
    const result = gw.ingestor.ingest(items, scope);
    const response: Record<string, unknown> = { accepted: result.accepted, rejected: result.rejected };
    if (result.seriesLimited.size > 0) {
      const max = gw.config.metrics.maxSeriesPerProject;
      response.series_limit = [...result.seriesLimited].map(([project_id, dropped]) => ({
        project_id,
        limit: max,
        dropped_samples: dropped,
        message: `project ${project_id} has reached its limit of ${max} series: ${dropped} samples for new series were dropped; reduce label cardinality (app_name, region, model_name, device_id) or raise metrics.max_series_per_project`,
      }));
    }
    return reply.code(result.accepted > 0 ? 200 : 400).send(response);
  });
}

/**
 * Events per project in a batch, as the rate limits count them: every item that names an existing
 * project the token may write to (or, from a project-bound token, names none), valid or not. Items
 * the ingestor will refuse as unknown-project are free: they touch no project.
 */
export function eventCosts(items: readonly BatchItem[], boundTo: string | undefined, exists: (pid: string) => boolean): Map<string, number> {
  const costs = new Map<string, number>();
  for (const item of items) {
    const v = 'value' in item ? item.value : undefined;
    const named = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>).project_id : undefined;
    const pid = named ?? boundTo;
    if (typeof pid !== 'string' || (boundTo !== undefined && pid !== boundTo)) continue;
    const n = costs.get(pid);
    if (n !== undefined) costs.set(pid, n + 1);
    else if (exists(pid)) costs.set(pid, 1);
  }
  return costs;
}

/**
 * A refused batch as the error the routes send: 429 with Retry-After when the batch fits the
 * limit's burst and only has to wait, 413 when it is larger than the burst (waiting never helps:
 * it must be split). `what` names the batch's items in the message: events, or imported samples.
 */
export function refused(reply: FastifyReply, r: Refusal, what: 'events' | 'samples'): ApiError {
  const who = r.limit === 'project' ? `project ${r.projectId}` : `token ${r.tokenId} in project ${r.projectId}`;
  const limitName = r.limit === 'project' ? 'project rate limit' : 'per-token rate limit';
  const rateKey = limitKey(r, 'rate');
  const burstKey = limitKey(r, 'burst');
  const details = {
    limit: r.limit, project_id: r.projectId, ...(r.limit === 'token' ? { token_id: r.tokenId } : {}),
    events_per_second: r.eventsPerSecond, burst: r.burst, batch: r.events, config_key: r.reason === 'burst' ? burstKey : rateKey,
    ...(r.reason === 'rate' ? { retry_after_seconds: r.retryAfterS } : {}),
  };
  if (r.reason === 'burst') {
    return new ApiError(413, 'batch_too_large',
      `this batch has ${r.events} ${what} for ${who}, more than the ${limitName}'s burst of ${r.burst} (${r.eventsPerSecond} ${what}/s) allows at once; ` +
      `nothing of it was applied: split it into batches of at most ${r.burst} ${what}, or raise ${burstKey}`, details);
  }
  // Override keys only apply to this project; for a project on the defaults, offer both.
  const raise = r.overridden ? rateKey : `${rateKey} (every project) or ${limitKey(r, 'rate', 'project')} (this project only)`;
  reply.header('retry-after', String(r.retryAfterS));
  return new ApiError(429, 'rate_limited',
    `${who} is over its ${limitName} of ${r.eventsPerSecond} ${what}/s (burst ${r.burst}): this batch of ${r.events} ${what} was not applied, nothing of it; ` +
    `send it again after ${r.retryAfterS} s (Retry-After), or raise ${raise}`, details);
}
