/**
 * POST /v1/projects/{pid}/import: backfill from Prometheus text lines with millisecond timestamps
 * (CONTRACT section 8). The project_id label is forced to the project; bad lines are reported by
 * number and the good ones kept; imported samples are queryable once the response is sent.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Gateway } from '../server/context.js';
import { ApiError } from '../server/errors.js';
import { parseImport } from '../sources/import/parse.js';
import { validTimestamp, type Sample } from '../tsdb/index.js';
import { decodedBody } from './body.js';
import type { IngestLimiter } from '../ingest/rate-limit.js';
import { refused } from './events.js';
import { ErrorBody, errorResponses, PidParams } from './schemas.js';

const ImportResponse = Type.Object({
  imported: Type.Integer(),
  errors: Type.Array(Type.Object({ line: Type.Integer(), error: Type.String() })),
});

const TEXT_TYPES = ['text/plain', 'application/openmetrics-text'];

export async function importRoutes(app: FastifyInstance, gw: Gateway, limiter: IngestLimiter): Promise<void> {
  const limit = gw.config.ingest.maxBodyBytes;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(TEXT_TYPES, { parseAs: 'buffer', bodyLimit: limit }, (_req, body, done) => done(null, body));

  app.post('/v1/projects/:pid/import', {
    bodyLimit: limit,
    config: { auth: { scopes: ['manage'], project: 'pid' } },
    schema: {
      tags: ['import'],
      summary: 'Backfill: Prometheus text lines `name{labels} value timestamp_ms` (manage or admin token)',
      description: 'HELP/TYPE lines are optional. project_id is set to the project whatever a line says. 200 when at least one sample was imported, 400 (same body) when none was.',
      params: PidParams,
      response: { ...errorResponses, 200: ImportResponse, 400: Type.Union([ImportResponse, ErrorBody]), 413: ErrorBody, 415: ErrorBody, 429: ErrorBody },
    },
  }, async (req, reply) => {
    const pid = (req.params as { pid: string }).pid;
    const principal = req.principal;
    const text = (await decodedBody(req, limit)).toString('utf8');
    if (text.trim() === '') throw new ApiError(400, 'invalid_body', 'the body is empty: send Prometheus text lines like `http_requests_total{job="api"} 1027 1700000000000`');
    const now = Date.now();
    const parsed = parseImport(text, now);
    const errors = [...parsed.errors];
    const oldest = gw.storage.retentionMs > 0 ? now - gw.storage.retentionMs : -Infinity;
    const samples: Sample[] = [];
    for (const s of parsed.samples) {
      if (!validTimestamp(s.t)) errors.push({ line: s.line, error: `the timestamp ${s.t} is outside what the store can hold` });
      else if (s.t < oldest) errors.push({ line: s.line, error: `the timestamp ${new Date(s.t).toISOString()} is older than the retention (${Math.round(gw.storage.retentionMs / 86_400_000)}d); start the gateway with a longer --retention to import it` });
      else samples.push({ labels: { ...s.labels, project_id: pid }, t: s.t, v: s.v });
    }
    // Charged after parsing so that only samples that would be stored count; refused means none is.
    const refusal = limiter.admit(principal.tokenId, new Map([[pid, samples.length]]));
    if (refusal !== undefined) throw refused(reply, refusal, 'samples');
    const result = gw.storage.appendBatch(pid, samples);
    for (const [name, meta] of parsed.metadata) {
      if (meta.type !== undefined || meta.help !== undefined) gw.storage.setMetadata(pid, name, { type: meta.type ?? 'unknown', help: meta.help ?? '', unit: meta.unit ?? '' });
    }
    errors.sort((a, b) => a.line - b.line);
    return reply.code(result.appended > 0 || errors.length === 0 ? 200 : 400).send({ imported: result.appended, errors });
  });
}
