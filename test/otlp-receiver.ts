/**
 * An OTLP/HTTP receiver for tests: POST /v1/metrics and /v1/logs, protobuf or JSON, gzip or not,
 * decoded with protobufjs from the vendored official .proto files (not with our own code, so a
 * mistake in our encoders cannot hide itself). Every request is recorded; each answer can be
 * scripted (status, headers, body, partial success, delay, or no answer at all).
 *
 * Decoded bodies are plain objects in protobufjs' camelCase form with 64-bit integers as decimal
 * strings and enums as numbers, the same whether the request came as protobuf or as JSON.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'wire', 'proto');

export interface OtlpSchema {
  readonly root: protobuf.Root;
  readonly ExportMetricsServiceRequest: protobuf.Type;
  readonly ExportLogsServiceRequest: protobuf.Type;
}

let schema: OtlpSchema | undefined;

/** The vendored OTLP schema, loaded once. */
export function otlpSchema(): OtlpSchema {
  if (schema !== undefined) return schema;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync([
    'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
    'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  ]);
  schema = {
    root,
    ExportMetricsServiceRequest: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    ExportLogsServiceRequest: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
  };
  return schema;
}

/** How decoded messages become plain objects: longs as decimal strings, enums as numbers. */
export const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: Number, bytes: String, defaults: false, arrays: false };

// The decoded shapes, as far as the tests read them (protobufjs camelCase, longs as strings).
export interface KeyValue {
  key: string;
  value: { stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number; [k: string]: unknown };
}
export interface NumberDataPoint {
  attributes?: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  asDouble?: number;
  asInt?: string;
}
export interface HistogramDataPoint {
  attributes?: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  count?: string;
  sum?: number;
  bucketCounts?: string[];
  explicitBounds?: number[];
}
export interface Metric {
  name: string;
  description?: string;
  unit?: string;
  gauge?: { dataPoints?: NumberDataPoint[] };
  sum?: { dataPoints?: NumberDataPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints?: HistogramDataPoint[]; aggregationTemporality?: number };
}
export interface MetricsRequest {
  resourceMetrics?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeMetrics?: Array<{ scope?: { name?: string; version?: string }; metrics?: Metric[] }>;
  }>;
}
export interface LogRecord {
  timeUnixNano?: string;
  observedTimeUnixNano?: string;
  severityNumber?: number;
  severityText?: string;
  body?: KeyValue['value'];
  attributes?: KeyValue[];
}
export interface LogsRequest {
  resourceLogs?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeLogs?: Array<{ scope?: { name?: string; version?: string }; logRecords?: LogRecord[] }>;
  }>;
}

export function decodeMetricsProtobuf(bytes: Uint8Array): MetricsRequest {
  const T = otlpSchema().ExportMetricsServiceRequest;
  return T.toObject(T.decode(bytes), TO_OBJECT) as MetricsRequest;
}

export function decodeLogsProtobuf(bytes: Uint8Array): LogsRequest {
  const T = otlpSchema().ExportLogsServiceRequest;
  return T.toObject(T.decode(bytes), TO_OBJECT) as LogsRequest;
}

/** OTLP/JSON through protobufjs' JSON rules (`fromObject`), into the same shape as protobuf. */
export function decodeMetricsJson(text: string): MetricsRequest {
  const T = otlpSchema().ExportMetricsServiceRequest;
  return T.toObject(T.fromObject(JSON.parse(text) as Record<string, unknown>), TO_OBJECT) as MetricsRequest;
}

export function decodeLogsJson(text: string): LogsRequest {
  const T = otlpSchema().ExportLogsServiceRequest;
  return T.toObject(T.fromObject(JSON.parse(text) as Record<string, unknown>), TO_OBJECT) as LogsRequest;
}

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly contentType: string;
  readonly gzip: boolean;
  /** The body as it arrived (compressed when gzip). */
  readonly raw: Buffer;
  /** The body after decompression. */
  readonly bytes: Buffer;
  /** Decoded request, or undefined when it could not be decoded (see `decodeError`). */
  readonly body: MetricsRequest | LogsRequest | undefined;
  readonly decodeError?: string;
  readonly receivedAt: number;
}

export interface Reply {
  /** HTTP status (default 200). */
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Raw response body; wins over `partialSuccess`. */
  readonly body?: string | Uint8Array;
  /** Answer with an OTLP partial success, encoded as the request was (protobuf or JSON). */
  readonly partialSuccess?: { readonly rejected: number; readonly message: string };
  /** Wait this long before answering. */
  readonly delayMs?: number;
  /** Never answer: the request stays open until the client gives up or the receiver closes. */
  readonly hang?: boolean;
}

export type Responder = (req: ReceivedRequest) => Reply;

/** A varint of a non-negative safe integer, for the hand-encoded responses. */
function varint(v: number, out: number[]): void {
  while (v > 0x7f) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/**
 * Export…ServiceResponse { partial_success = 1 { int64 rejected = 1; string error_message = 2 } },
 * encoded by hand because the vendored schema predates the field.
 */
export function encodePartialSuccessProtobuf(rejected: number, message: string): Uint8Array {
  const inner: number[] = [];
  if (rejected !== 0) {
    inner.push(0x08);
    varint(rejected, inner);
  }
  const msg = Buffer.from(message, 'utf8');
  if (msg.length > 0) {
    inner.push(0x12);
    varint(msg.length, inner);
    for (const b of msg) inner.push(b);
  }
  const out: number[] = [0x0a];
  varint(inner.length, out);
  return Uint8Array.from([...out, ...inner]);
}

export function encodePartialSuccessJson(path: string, rejected: number, message: string): string {
  const field = path.endsWith('/v1/logs') ? 'rejectedLogRecords' : 'rejectedDataPoints';
  return JSON.stringify({ partialSuccess: { [field]: String(rejected), errorMessage: message } });
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:PORT` (no path: the OTLP endpoint a sink appends /v1/metrics to). */
  readonly url: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  /** Answers for the next requests, one each, in order; afterwards the default answers. */
  reply(...replies: Reply[]): void;
  /** The answer once the scripted ones are used up (default: 200 with an empty protobuf body). */
  setDefault(reply: Reply | Responder): void;
  /** Waits (polling, bounded) until at least `n` requests arrived, optionally on one path. */
  waitForRequests(n: number, opts?: { path?: string; timeoutMs?: number }): Promise<ReceivedRequest[]>;
  /** Requests that hang right now. */
  readonly hanging: number;
  clear(): void;
  close(): Promise<void>;
}

function decodeBody(path: string, contentType: string, bytes: Buffer): { body?: MetricsRequest | LogsRequest; error?: string } {
  const isJson = contentType.includes('json');
  try {
    if (path === '/v1/metrics') return { body: isJson ? decodeMetricsJson(bytes.toString('utf8')) : decodeMetricsProtobuf(bytes) };
    if (path === '/v1/logs') return { body: isJson ? decodeLogsJson(bytes.toString('utf8')) : decodeLogsProtobuf(bytes) };
    return { error: `unknown path ${path}` };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Starts a receiver on 127.0.0.1, on a free port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: ReceivedRequest[] = [];
  const scripted: Reply[] = [];
  let fallback: Reply | Responder = {};
  const open = new Set<ServerResponse>();
  let hanging = 0;

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const gzip = String(req.headers['content-encoding'] ?? '').toLowerCase() === 'gzip';
      const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
      const path = (req.url ?? '/').split('?')[0];
      let bytes = raw;
      let decoded: { body?: MetricsRequest | LogsRequest; error?: string };
      try {
        if (gzip) bytes = gunzipSync(raw);
        decoded = decodeBody(path, contentType, bytes);
      } catch (err) {
        decoded = { error: `gunzip: ${(err as Error).message}` };
      }
      const rec: ReceivedRequest = {
        method: req.method ?? '',
        path,
        headers: req.headers,
        contentType,
        gzip,
        raw,
        bytes,
        body: decoded.body,
        ...(decoded.error === undefined ? {} : { decodeError: decoded.error }),
        receivedAt: Date.now(),
      };
      requests.push(rec);
      const next = scripted.shift();
      const reply: Reply = next ?? (typeof fallback === 'function' ? fallback(rec) : fallback);
      if (reply.hang === true) {
        hanging++;
        open.add(res);
        res.on('close', () => {
          hanging--;
          open.delete(res);
        });
        return;
      }
      const answer = () => {
        if (res.destroyed) return;
        const isJson = contentType.includes('json');
        let body: string | Uint8Array = reply.body ?? '';
        if (reply.body === undefined && reply.partialSuccess !== undefined) {
          const { rejected, message } = reply.partialSuccess;
          body = isJson ? encodePartialSuccessJson(path, rejected, message) : encodePartialSuccessProtobuf(rejected, message);
        }
        res.statusCode = reply.status ?? (req.method === 'POST' ? 200 : 405);
        res.setHeader('content-type', isJson ? 'application/json' : 'application/x-protobuf');
        for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
        res.end(body);
      };
      if (reply.delayMs !== undefined && reply.delayMs > 0) {
        open.add(res);
        const t = setTimeout(() => {
          open.delete(res);
          answer();
        }, reply.delayMs);
        res.on('close', () => {
          clearTimeout(t);
          open.delete(res);
        });
      } else {
        answer();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    get hanging() {
      return hanging;
    },
    reply(...replies) {
      scripted.push(...replies);
    },
    setDefault(reply) {
      fallback = reply;
    },
    async waitForRequests(n, opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 5000;
      const deadline = Date.now() + timeoutMs;
      const matching = () => (opts.path === undefined ? requests : requests.filter((r) => r.path === opts.path));
      for (;;) {
        const got = matching();
        if (got.length >= n) return got.slice();
        if (Date.now() >= deadline) {
          throw new Error(`OTLP receiver: ${got.length} of ${n} requests${opts.path === undefined ? '' : ` on ${opts.path}`} after ${timeoutMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    clear() {
      requests.length = 0;
      scripted.length = 0;
    },
    async close() {
      for (const res of open) res.destroy();
      open.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
