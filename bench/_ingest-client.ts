/**
 * The ingest benchmarks' client, run as a child process so that building and sending requests does
 * not share the gateway's event loop. Keeps CONCURRENCY requests in flight on keep-alive sockets,
 * first for a warm-up, then for the measured window, and reports over IPC. Sends event NDJSON to
 * /v1/events, or (with `prepared`) prepared OTLP protobuf or Snappy remote write bodies to those receivers.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { makeBatches } from './_ingest-data.js';

export interface ClientConfig {
  port: number;
  token: string;
  projectId: string;
  concurrency: number;
  warmupMs: number;
  measureMs: number;
  batches: number;
  /** A file of base64 bodies (one per line) for the OTLP or remote write receiver, each holding `perBody` points or samples. */
  prepared?: { receiver: 'otlp' | 'remote-write'; bodiesFile: string; perBody: number };
}

export interface ClientResult {
  requests: number;
  accepted: number;
  rejected: number;
  failures: number;
  ms: number;
  firstError?: string;
}

export type ClientMessage = { kind: 'measuring' } | { kind: 'done'; result: ClientResult };

async function run(cfg: ClientConfig): Promise<ClientResult> {
  const prepared = cfg.prepared;
  const bodies = prepared === undefined
    ? makeBatches(cfg.projectId, cfg.batches).map((b) => Buffer.from(b))
    : readFileSync(prepared.bodiesFile, 'utf8').trim().split('\n').map((l) => Buffer.from(l, 'base64'));
  const target = prepared === undefined
    ? { path: '/v1/events', ok: 200, headers: { 'content-type': 'application/x-ndjson' } }
    : prepared.receiver === 'otlp'
      ? { path: '/v1/otlp/v1/metrics', ok: 200, headers: { 'content-type': 'application/x-protobuf' } }
      : { path: '/v1/prom/write', ok: 204, headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' } };
  const agent = new Agent({ keepAlive: true, maxSockets: cfg.concurrency });
  const post = (body: Buffer): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1', port: cfg.port, path: target.path, method: 'POST', agent,
          headers: { authorization: `Bearer ${cfg.token}`, ...target.headers, 'content-length': body.length },
        },
        (res) => {
          let text = '';
          res.setEncoding('latin1');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  let next = 0;
  const phase = async (ms: number, tally: ClientResult | undefined): Promise<void> => {
    const end = performance.now() + ms;
    const worker = async (): Promise<void> => {
      while (performance.now() < end) {
        const { status, text } = await post(bodies[next++ % bodies.length]);
        if (tally === undefined) continue;
        tally.requests++;
        if (status !== target.ok) {
          tally.failures++;
          tally.firstError ??= `${status} ${text.slice(0, 200)}`;
          continue;
        }
        if (prepared !== undefined) {
          // An empty answer (OTLP's ExportMetricsServiceResponse, remote write's 204): every point taken; anything else names rejections.
          if (text.length === 0) tally.accepted += prepared.perBody;
          else {
            tally.rejected++;
            tally.firstError ??= text.slice(0, 300);
          }
          continue;
        }
        const body = JSON.parse(text) as { accepted: number; rejected: unknown[] };
        tally.accepted += body.accepted;
        tally.rejected += body.rejected.length;
        if (body.rejected.length > 0) tally.firstError ??= JSON.stringify(body.rejected[0]);
      }
    };
    await Promise.all(Array.from({ length: cfg.concurrency }, worker));
  };

  await phase(cfg.warmupMs, undefined);
  const result: ClientResult = { requests: 0, accepted: 0, rejected: 0, failures: 0, ms: 0 };
  process.send!({ kind: 'measuring' } satisfies ClientMessage);
  const t0 = performance.now();
  await phase(cfg.measureMs, result);
  result.ms = performance.now() - t0;
  agent.destroy();
  return result;
}

const cfg = JSON.parse(process.env.METERWAY_BENCH_CLIENT ?? 'null') as ClientConfig | null;
if (cfg !== null && process.send !== undefined) {
  const result = await run(cfg);
  process.send({ kind: 'done', result } satisfies ClientMessage, () => process.exit(0));
}
