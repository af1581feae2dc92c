/** Request bodies as the routes that take raw bytes receive them (events, import). */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../server/errors.js';

const gunzipAsync = promisify(gunzip);

/** The request body, gunzipped when Content-Encoding says gzip, never past `limit` bytes. */
export async function decodedBody(req: FastifyRequest, limit: number): Promise<Buffer> {
  const body = req.body as Buffer;
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  if (encoding === 'identity') return body;
  if (encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new ApiError(415, 'unsupported_content_encoding', `Content-Encoding ${JSON.stringify(encoding)} is not supported; use gzip or none`);
  }
  try {
    return await gunzipAsync(body, { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limit);
    throw new ApiError(400, 'invalid_gzip', `the body is marked Content-Encoding: gzip but does not decompress (${(err as Error).message}); send valid gzip or drop the header`);
  }
}

export function tooLarge(limit: number): ApiError {
  return new ApiError(413, 'payload_too_large', `the body is larger than the limit of ${limit} bytes (after decompression); send smaller batches or raise ingest.max_body_bytes`);
}

/**
 * What a route of its own error shape (OTLP's Status, remote write's plain text) makes of an error
 * Fastify raised before its handler: the body limit as 413, another client error as itself.
 */
export function bodyRouteError(err: unknown, limit: number): ApiError {
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return tooLarge(limit);
  if (e.statusCode !== undefined && e.statusCode < 500) return new ApiError(e.statusCode, 'bad_request', e.message ?? 'bad request');
  return new ApiError(500, 'internal', 'internal error; the server log has the details');
}
