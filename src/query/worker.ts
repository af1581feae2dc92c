/**
 * A query worker: parses, checks and evaluates one PromQL query at a time. It holds no data of
 * its own and knows no project: every read is a synchronous request to the main thread, which
 * opens the querier for the job's project (see README.md).
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import type { LabelMatcher, Querier, Queryable, SeriesSamples } from '../core/queryable.js';
import { Engine } from '../promql/index.js';
import { rebuildError, serializeError, type ReadReply, type ReadRequest, type RunMessage, type RunReply } from './protocol.js';

const { port, flag } = workerData as { port: MessagePort; flag: Int32Array };

/** Sends a read request and blocks until the main thread has posted the answer and raised the flag. */
function call(request: ReadRequest): ReadReply {
  port.postMessage(request);
  Atomics.wait(flag, 0, 0);
  Atomics.store(flag, 0, 0);
  const reply = receiveMessageOnPort(port);
  if (reply === undefined) throw new Error('query worker: the read channel answered nothing');
  return reply.message as ReadReply;
}

class RemoteQuerier implements Querier {
  constructor(private readonly bounds: { minMs: number; maxMs: number }) {}

  *select(matchers: readonly LabelMatcher[], minMs: number, maxMs: number): Iterable<SeriesSamples> {
    const plain = matchers.map(({ type, name, value }) => ({ type, name, value }));
    let reply = call({ op: 'select', bounds: this.bounds, matchers: plain, minMs, maxMs });
    let open = false;
    try {
      for (;;) {
        if ('error' in reply) throw rebuildError(reply.error);
        open = !reply.done;
        for (const s of reply.series) yield { labels: s.labels, timestamps: s.ts, values: s.vs, startTimestamps: s.sts };
        if (reply.done) return;
        reply = call({ op: 'next', cursor: reply.cursor });
      }
    } finally {
      // Only reached with the cursor open when the engine gave up on the selector mid-way.
      if (open && !('error' in reply) && !reply.done) port.postMessage({ op: 'close', cursor: reply.cursor } satisfies ReadRequest);
    }
  }

  // The engine reads series only through select().
  labelNames(): string[] {
    throw new Error('query worker: labelNames is answered on the main thread');
  }

  labelValues(): string[] {
    throw new Error('query worker: labelValues is answered on the main thread');
  }
}

const source: Queryable = { querier: (_project, minMs, maxMs) => new RemoteQuerier({ minMs, maxMs }) };

parentPort!.on('message', async ({ id, request, settings }: RunMessage) => {
  let reply: RunReply;
  try {
    const engine = new Engine({
      lookbackDeltaMs: settings.lookbackDeltaMs,
      maxSamples: settings.maxSamples,
      timeoutMs: Math.max(1, settings.deadline - Date.now()),
      maxDepth: settings.maxDepth,
      maxPointsPerSubquery: settings.maxPointsPerSubquery,
    });
    // The project is bound by the main thread when it opens the querier; the worker never names it.
    const result =
      request.kind === 'instant'
        ? await engine.instantQueryOn(source, '', request.query, request.timeMs)
        : await engine.rangeQueryOn(source, '', request.query, request.startMs, request.endMs, request.stepMs);
    reply = { id, result };
  } catch (err) {
    reply = { id, error: serializeError(err) };
  }
  parentPort!.postMessage(reply);
});
parentPort!.postMessage('ready');
