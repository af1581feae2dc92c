/**
 * The ingest benchmarks' client, run as a child process so that building and sending requests does
 * not share the gateway's event loop. Keeps CONCURRENCY requests in flight on keep-alive sockets,
 * first for a warm-up, then for the measured window, and reports over IPC. Sends event NDJSON to
 * /v1/events, or (with `otlp`) prepared OTLP protobuf bodies to the OTLP receiver.
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
  /** OTLP mode: a file of base64 protobuf bodies (one per line), each holding `pointsPerBody` points. */
  otlp?: { bodiesFile: string; pointsPerBody: number };
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
  const otlp = cfg.otlp;
  const bodies = otlp === undefined
    ? makeBatches(cfg.projectId, cfg.batches).map((b) => Buffer.from(b))
    : readFileSync(otlp.bodiesFile, 'utf8').trim().split('\n').map((l) => Buffer.from(l, 'base64'));
  const path = otlp === undefined ? '/v1/events' : '/v1/otlp/v1/metrics';
  const contentType = otlp === undefined ? 'application/x-ndjson' : 'application/x-protobuf';
  const agent = new Agent({ keepAlive: true, maxSockets: cfg.concurrency });
  const post = (body: Buffer): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1', port: cfg.port, path, method: 'POST', agent,
          headers: { authorization: `Bearer ${cfg.token}`, 'content-type': contentType, 'content-length': body.length },
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
        if (status !== 200) {
          tally.failures++;
          tally.firstError ??= `${status} ${text.slice(0, 200)}`;
          continue;
        }
        if (otlp !== undefined) {
          // An empty ExportMetricsServiceResponse: every point taken; anything else names rejections.
          if (text.length === 0) tally.accepted += otlp.pointsPerBody;
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
