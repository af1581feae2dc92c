/**
 * POST /v1/otlp/v1/metrics (CONTRACT section 9): an OTLP/HTTP metrics receiver, so an exporter
 * pointed at `http://<gateway>:9470/v1/otlp` works as configured. Answers follow OTLP/HTTP:
 * `ExportMetricsServiceResponse` (with a partial success naming what was rejected) on 200, a
 * `google.rpc.Status` on errors, each in the request's encoding; 429 and 503 carry Retry-After.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../server/context.js';
import { ApiError, asApiError } from '../server/errors.js';
import { bodyRouteError, decodedBody } from './body.js';
import { refused } from './events.js';
import type { IngestLimiter } from '../ingest/rate-limit.js';
import { decodeJson, decodeProtobuf, OtlpBodyError } from '../sources/otlp/decode.js';
import { partialMessage } from '../sources/otlp/receiver.js';
import { ProtoWriter, WIRE_LEN, WIRE_VARINT } from '../wire/protobuf-writer.js';

const PROTOBUF_TYPES = ['application/x-protobuf', 'application/protobuf'];
const JSON_TYPE = 'application/json';

/** gRPC status codes OTLP's Status carries. */
const GRPC = { invalidArgument: 3, permissionDenied: 7, resourceExhausted: 8, unauthenticated: 16, unavailable: 14, internal: 13 } as const;

export async function otlpRoutes(app: FastifyInstance, gw: Gateway, limiter: IngestLimiter): Promise<void> {
  const limit = gw.config.ingest.maxBodyBytes;
  app.removeAllContentTypeParsers();
  // Every content type reaches the handler as bytes, so a wrong one gets OTLP's 415, not Fastify's.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limit }, (_req, body, done) => done(null, body));

  app.post('/v1/otlp/v1/metrics', {
    bodyLimit: limit,
    schema: {
      tags: ['otlp'],
      summary: 'OTLP/HTTP metrics receiver: ExportMetricsServiceRequest as application/x-protobuf or application/json, optionally gzip',
      description: 'The project is the ingest token\'s, or for a server-wide ingest token the resource attribute meterway.project_id. ' +
        'Points that cannot be taken come back as a partial success naming each reason; a body that is not OTLP is a 400.',
    },
    config: { auth: { scopes: ['ingest', 'admin'] } },
    // The body is bytes of either encoding; its schema is OTLP's, checked by the decoder.
    // Every error lands here, the auth hook's too, and is answered as an OTLP Status.
    errorHandler: (err, req, reply) => sendError(req, reply, asApiError(err) ?? bodyRouteError(err, limit)),
    // A Content-Type that is not OTLP's is refused before the token is looked at, as it always was (the auth hook is a preHandler).
    preValidation: async (req) => {
      if (!isJson(req) && !PROTOBUF_TYPES.includes(mediaType(req))) {
        throw new ApiError(415, 'unsupported_media_type', `Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')} is not OTLP/HTTP: send application/x-protobuf or application/json`);
      }
    },
  }, async (req, reply) => {
    const json = isJson(req);
    const p = req.principal;
    const body = await decodedBody(req, limit);
    let resources;
    try {
      resources = json ? decodeJson(body.toString('utf8')) : decodeProtobuf(body);
    } catch (err) {
      if (err instanceof OtlpBodyError) throw new ApiError(400, 'invalid_body', err.message);
      throw err;
    }
    const resolved = gw.otlp.resolve(resources, { project: p.project ?? undefined });
    const costs = new Map<string, number>();
    for (const r of resolved) if (r.pm !== undefined) costs.set(r.pm.projectId, (costs.get(r.pm.projectId) ?? 0) + r.points);
    const refusal = limiter.admit(p.tokenId, costs);
    if (refusal !== undefined) throw refused(reply, refusal, 'samples');
    const result = gw.otlp.apply(resolved);
    const message = partialMessage(result);
    reply.code(200).header('content-type', json ? JSON_TYPE : PROTOBUF_TYPES[0]);
    return reply.send(json ? jsonResponse(result.rejected, message) : protobufResponse(result.rejected, message));
  });
}

function mediaType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

function isJson(req: FastifyRequest): boolean {
  return mediaType(req) === JSON_TYPE;
}

/** ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1 { int64 rejected_data_points = 1; string error_message = 2; } } */
function protobufResponse(rejected: number, message: string): Buffer {
  if (rejected === 0 && message === '') return Buffer.alloc(0);
  const w = new ProtoWriter(256 + message.length * 3);
  const start = w.mark();
  if (message !== '') {
    w.string(message);
    w.tag(2, WIRE_LEN);
  }
  if (rejected > 0) {
    w.varint(rejected);
    w.tag(1, WIRE_VARINT);
  }
  w.lengthSince(start);
  w.tag(1, WIRE_LEN);
  return Buffer.from(w.finish());
}

function jsonResponse(rejected: number, message: string): string {
  // int64 as a decimal string, as OTLP/JSON writes it.
  return JSON.stringify(rejected === 0 && message === '' ? {} : { partialSuccess: { rejectedDataPoints: String(rejected), errorMessage: message } });
}

/** google.rpc.Status { int32 code = 1; string message = 2; } */
function protobufStatus(code: number, message: string): Buffer {
  const w = new ProtoWriter(64 + message.length * 3);
  w.string(message);
  w.tag(2, WIRE_LEN);
  w.varint(code);
  w.tag(1, WIRE_VARINT);
  return Buffer.from(w.finish());
}

function grpcCode(status: number): number {
  if (status === 401) return GRPC.unauthenticated;
  if (status === 403 || status === 404) return GRPC.permissionDenied;
  if (status === 429 || status === 413) return GRPC.resourceExhausted;
  if (status === 503) return GRPC.unavailable;
  if (status >= 500) return GRPC.internal;
  return GRPC.invalidArgument;
}

/**
 * An error as OTLP/HTTP wants it: a Status in the request's encoding. The JSON form also carries
 * Meterway's own `error` object, so people and tools reading either shape find the code.
 */
function sendError(req: FastifyRequest, reply: FastifyReply, err: ApiError): FastifyReply {
  if (err.status >= 500) req.log.error({ err }, 'OTLP request failed');
  const code = grpcCode(err.status);
  reply.code(err.status);
  if (isJson(req) || !PROTOBUF_TYPES.includes(mediaType(req))) {
    return reply.header('content-type', JSON_TYPE).send(JSON.stringify({ code, message: err.message, ...err.toBody() }));
  }
  return reply.header('content-type', PROTOBUF_TYPES[0]).send(protobufStatus(code, err.message));
}
