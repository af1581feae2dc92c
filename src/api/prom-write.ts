/**
 * POST /v1/prom/write (CONTRACT section 9): Prometheus remote write 1.0 in, so Prometheus, vmagent
 * or Grafana Alloy can forward into a project.
 *
 * Status codes follow the remote write specification, because senders act on them: a 2xx is
 * done, a 4xx is dropped for good (other than 429), a 5xx or 429 is sent again and again, holding
 * the sender's queue meanwhile. So a 5xx is only for trouble that passes (there is none in this
 * handler: the aggregation is in memory), and whatever can never succeed is a 4xx. A request
 * with some refused series is a 400 naming the first reasons and the counts, with everything
 * valid in it taken: as Prometheus' own receiver does for remote write 2.0 (its 1.0 path skips
 * invalid series in silence and answers 204, or fails the whole request on an out-of-order
 * sample); a silent 204 would hide the loss from the sender's logs, and failing everything would
 * lose the valid rest.
 *
 * Errors are one line of plain text, as Prometheus' receiver writes them: senders log the first
 * line of the body (Prometheus: "server returned HTTP status 400 Bad Request: <line>").
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../server/context.js';
import { ApiError, asApiError } from '../server/errors.js';
import { bodyRouteError, tooLarge } from './body.js';
import { refused } from './events.js';
import type { IngestLimiter } from '../ingest/rate-limit.js';
import { decodeWriteRequest, RemoteWriteBodyError } from '../sources/remote-write/decode.js';
import { RemoteWriteReceiver, refusalMessage } from '../sources/remote-write/receiver.js';
import { snappyUncompress } from '../wire/snappy.js';

const PROTOBUF_TYPE = 'application/x-protobuf';

export async function promWriteRoutes(app: FastifyInstance, gw: Gateway, limiter: IngestLimiter): Promise<void> {
  const limit = gw.config.ingest.maxBodyBytes;
  const receiver = new RemoteWriteReceiver(gw.aggregator, gw.selfMetrics);
  app.removeAllContentTypeParsers();
  // Every content type reaches the handler as bytes, so a wrong one gets this route's answer.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limit }, (_req, body, done) => done(null, body));

  app.post('/v1/prom/write', {
    bodyLimit: limit,
    schema: {
      tags: ['remote write'],
      summary: 'Prometheus remote write 1.0 receiver: prometheus.WriteRequest, protobuf, Snappy block-compressed',
      description: 'The project is the ingest token\'s, or for a server-wide ingest token the series\' project_id label. ' +
        '204 when every sample was taken; 400 naming the first refused series and the counts when some were not (the rest is taken); ' +
        'errors are plain text.',
    },
    config: { auth: { scopes: ['ingest', 'admin'] } },
    // Every error lands here, the auth hook's too, and is answered as remote write senders read it.
    errorHandler: (err, req, reply) => sendError(req, reply, asApiError(err) ?? bodyRouteError(err, limit)),
    // Checked before the token (the auth hook is a preHandler), as the OTLP route checks its own.
    preValidation: async (req) => {
      const type = mediaType(req.headers['content-type']);
      // No Content-Type at all is taken as remote write 1.0, as Prometheus' receiver takes it.
      if (type !== '' && type !== PROTOBUF_TYPE) {
        throw new ApiError(415, 'unsupported_media_type', `Content-Type ${JSON.stringify(req.headers['content-type'])} is not remote write: send ${PROTOBUF_TYPE} with a Snappy-compressed prometheus.WriteRequest`);
      }
      const proto = /;\s*proto\s*=\s*([^;\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1];
      if (proto !== undefined && proto !== 'prometheus.WriteRequest') {
        throw new ApiError(415, 'unsupported_media_type', `proto=${proto} is not supported: this receiver takes remote write 1.0 (prometheus.WriteRequest); configure the sender for protobuf_message prometheus.WriteRequest`);
      }
      const encoding = (req.headers['content-encoding'] ?? 'snappy').toLowerCase().trim();
      if (encoding !== 'snappy') {
        throw new ApiError(415, 'unsupported_content_encoding', `Content-Encoding ${JSON.stringify(encoding)} is not remote write's: compress the body with Snappy (block format) and send Content-Encoding: snappy`);
      }
    },
  }, async (req, reply) => {
    const p = req.principal;
    const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
    let raw: Uint8Array;
    try {
      raw = snappyUncompress(body, limit);
    } catch (err) {
      if (/too big/.test((err as Error).message)) throw tooLarge(limit);
      throw new ApiError(400, 'invalid_snappy', `the body is not Snappy block-compressed (${(err as Error).message}); remote write bodies are Snappy in the block format, not the framed (stream) format`);
    }
    let write;
    try {
      write = decodeWriteRequest(raw);
    } catch (err) {
      if (err instanceof RemoteWriteBodyError) throw new ApiError(400, 'invalid_body', err.message);
      throw err;
    }
    const resolved = receiver.resolve(write, { project: p.project ?? undefined, tokenId: p.tokenId });
    const refusal = limiter.admit(p.tokenId, resolved.costs);
    if (refusal !== undefined) {
      const e = refused(reply, refusal, 'samples');
      // A sender cannot split a batch it was refused; it can send smaller ones from now on.
      throw e.status === 413 ? new ApiError(e.status, e.code, `${e.message} (Prometheus: lower queue_config.max_samples_per_send)`, e.details) : e;
    }
    const result = receiver.apply(resolved);
    if (result.rejected > 0) throw new ApiError(400, 'samples_refused', refusalMessage(result));
    return reply.code(204).send();
  });
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

function sendError(req: FastifyRequest, reply: FastifyReply, err: ApiError): FastifyReply {
  if (err.status >= 500) req.log.error({ err }, 'remote write request failed');
  // One line: a sender shows the first line of the body, and a message never needs more.
  return reply.code(err.status).header('content-type', 'text/plain; charset=utf-8').send(`${err.message.replace(/\n/g, ' ')}\n`);
}
