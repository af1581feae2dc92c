/** POST /v1/events (CONTRACT section 4). */
import type { FastifyInstance } from 'fastify';
import type { Gateway } from '../server/context.js';
import { authenticate, requireScope } from '../server/auth.js';
import { ApiError } from '../server/errors.js';
import { decodedBody } from './body.js';
import { BodyNotJsonError, decodeEvents } from '../sources/http-events/decode.js';
import { Type } from '@sinclair/typebox';
import { ErrorBody, errorResponses, IngestResponse } from './schemas.js';

const JSON_TYPES = ['application/json'];
const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines'];

export async function eventRoutes(app: FastifyInstance, gw: Gateway): Promise<void> {
  const limit = gw.config.ingest.maxBodyBytes;
  // Raw bytes in: the body is decoded here so that one bad NDJSON line rejects that line, not the request.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...JSON_TYPES, ...NDJSON_TYPES], { parseAs: 'buffer', bodyLimit: limit }, (_req, body, done) => done(null, body));

  app.post('/v1/events', {
    bodyLimit: limit,
    schema: {
      tags: ['events'],
      summary: 'Ingest events: a JSON object, a JSON array, or NDJSON (application/x-ndjson), optionally gzip-encoded',
      description: 'Valid events are kept even when others are rejected; 200 when at least one was accepted, 400 when none was.',
      response: { ...errorResponses, 200: IngestResponse, 400: Type.Union([IngestResponse, ErrorBody]), 413: ErrorBody, 415: ErrorBody },
    },
  }, async (req, reply) => {
    const p = authenticate(gw.tokens, req);
    requireScope(p, ['ingest', 'admin']);
    const body = await decodedBody(req, limit);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    let items;
    try {
      items = decodeEvents(body.toString('utf8'), NDJSON_TYPES.includes(contentType));
    } catch (err) {
      if (err instanceof BodyNotJsonError) throw new ApiError(400, 'invalid_body', err.message);
      throw err;
    }
    const result = gw.ingestor.ingest(items, { project: p.project ?? undefined });
    const response: Record<string, unknown> = { accepted: result.accepted, rejected: result.rejected };
    if (result.seriesLimited.size > 0) {
      const max = gw.config.metrics.maxSeriesPerProject;
      response.series_limit = [...result.seriesLimited].map(([project_id, dropped]) => ({
        project_id,
        limit: max,
        dropped_samples: dropped,
        message: `project ${project_id} has reached its limit of ${max} series: ${dropped} samples for new series were dropped; reduce label cardinality (app_name, region, model_name) or raise metrics.max_series_per_project`,
      }));
    }
    return reply.code(result.accepted > 0 ? 200 : 400).send(response);
  });
}
