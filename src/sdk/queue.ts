/**
 * A batching event queue: `push` is synchronous and never throws for the network, events go out in
 * NDJSON batches (gzip where the runtime has CompressionStream: Node 20 and every current browser),
 * one batch in flight at a time, so a slow gateway slows the queue, not the application.
 *
 * - Bounded: at most `maxBuffered` events wait; past that `push` refuses the new event (returns
 *   false, counts it in `dropped`, calls `onDrop`), keeping what is already queued, which is older
 *   and so nearer to its turn.
 * - Retries what can succeed later: no answer, 5xx, 429 (after its Retry-After), with exponential
 *   backoff and full jitter up to `maxRetries` times; a 413 splits the batch in two. What can never
 *   succeed (a 4xx, events the gateway rejected one by one) is reported through `onError` /
 *   `onRejected` and not sent again.
 * - Flushes every `flushIntervalMs`, when a batch is full, on `flush()`/`close()`, and in Node when
 *   the process is about to exit with events still queued (`beforeExit`); its timer never keeps a
 *   process alive by itself.
 */
import { errorFromAnswer, MeterwayError } from './errors.js';
import type { IngestResult, MeterwayEvent } from './types.js';

export interface QueueOptions {
  /** Events per request (default 1,000). */
  readonly maxBatch?: number;
  /** How long an event may wait for its batch (default 1 s). */
  readonly flushIntervalMs?: number;
  /** Events held at most, waiting or being sent (default 100,000). */
  readonly maxBuffered?: number;
  /** Attempts after the first for one batch (default 8). */
  readonly maxRetries?: number;
  /** First backoff; each retry doubles it, up to `maxBackoffMs` (defaults 250 ms, 30 s). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Gzip the batches (default true where CompressionStream exists). */
  readonly gzip?: boolean;
  /** A batch given up (its events are lost): the last error. */
  readonly onError?: (err: MeterwayError, events: readonly MeterwayEvent[]) => void;
  /** Events the gateway refused one by one, with its reasons (the rest of the batch was taken). */
  readonly onRejected?: (rejected: IngestResult['rejected'], batch: readonly MeterwayEvent[]) => void;
  /** An event refused by `push` because the queue was full. */
  readonly onDrop?: (event: MeterwayEvent) => void;
}

export interface QueueStats {
  /** Waiting, not yet in a request. */
  readonly queued: number;
  /** Taken by the gateway. */
  readonly sent: number;
  /** Refused by `push` (queue full) or given up after retries. */
  readonly dropped: number;
  /** Refused by the gateway one by one. */
  readonly rejected: number;
}

/** What the queue needs of the client: one POST of a body to /v1/events. */
export type PostEvents = (body: Uint8Array | string, headers: Record<string, string>) => Promise<{ status: number; body: unknown; retryAfter: string | null }>;

export class EventQueue {
  private buffer: MeterwayEvent[] = [];
  private inFlight = 0;
  private sending: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly counts = { sent: 0, dropped: 0, rejected: 0 };
  private readonly exitHook = () => {
    if (this.buffer.length > 0 && this.sending === undefined) void this.flush();
  };
  private readonly o: Required<Omit<QueueOptions, 'onError' | 'onRejected' | 'onDrop'>> & QueueOptions;

  constructor(
    private readonly post: PostEvents,
    options: QueueOptions = {},
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.o = {
      maxBatch: 1000,
      flushIntervalMs: 1000,
      maxBuffered: 100_000,
      maxRetries: 8,
      backoffMs: 250,
      maxBackoffMs: 30_000,
      gzip: typeof CompressionStream === 'function',
      ...options,
    };
    if (!(this.o.maxBatch >= 1) || !(this.o.maxBuffered >= this.o.maxBatch)) {
      throw new MeterwayError(0, 'invalid_option', `queue options: maxBatch must be at least 1 and maxBuffered at least maxBatch (got ${this.o.maxBatch} and ${this.o.maxBuffered})`);
    }
    processOf()?.on('beforeExit', this.exitHook);
  }

  /** Queues an event; false when the queue is full (the event is dropped) or closed. */
  push(event: MeterwayEvent): boolean {
    if (this.closed || this.buffer.length + this.inFlight >= this.o.maxBuffered) {
      this.counts.dropped++;
      this.o.onDrop?.(event);
      return false;
    }
    this.buffer.push(event);
    // A send under way takes the full batches itself; the timer covers one that is just ending.
    if (this.buffer.length >= this.o.maxBatch && this.sending === undefined) void this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.o.flushIntervalMs);
      (this.timer as { unref?: () => void }).unref?.();
    }
    return true;
  }

  get stats(): QueueStats {
    return { queued: this.buffer.length, ...this.counts };
  }

  /** Sends everything queued now; resolves once it is sent or given up. Never rejects. */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // One sender at a time: a flush during a send waits for it, then sends what came meanwhile.
    const run = (this.sending ?? Promise.resolve()).then(async () => {
      while (this.buffer.length > 0) {
        const batch = this.buffer.splice(0, this.o.maxBatch);
        this.inFlight = batch.length;
        try {
          await this.sendBatch(batch);
        } finally {
          this.inFlight = 0;
        }
      }
    });
    this.sending = run;
    void run.finally(() => {
      if (this.sending === run) this.sending = undefined;
    });
    return run;
  }

  /** Flushes, then refuses further events and removes the exit hook. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    processOf()?.off('beforeExit', this.exitHook);
  }

  private async sendBatch(batch: MeterwayEvent[]): Promise<void> {
    const text = `${batch.map((e) => JSON.stringify(e)).join('\n')}\n`;
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
    let body: Uint8Array | string = text;
    if (this.o.gzip) {
      body = await gzip(text);
      headers['content-encoding'] = 'gzip';
    }
    let lastError: MeterwayError | undefined;
    for (let attempt = 0; attempt <= this.o.maxRetries; attempt++) {
      if (attempt > 0) await this.sleep(this.backoff(attempt, lastError?.retryAfterS));
      let answer;
      try {
        answer = await this.post(body, headers);
      } catch (err) {
        lastError = err instanceof MeterwayError ? err : new MeterwayError(0, 'network', (err as Error).message);
        continue;
      }
      const { status } = answer;
      if (status === 200 || (status === 400 && isIngestResult(answer.body))) {
        const result = answer.body as IngestResult;
        this.counts.sent += result.accepted;
        if (result.rejected.length > 0) {
          this.counts.rejected += result.rejected.length;
          this.o.onRejected?.(result.rejected, batch);
        }
        return;
      }
      lastError = errorFromAnswer(status, answer.body, answer.retryAfter);
      if (status === 413 && batch.length > 1) {
        // Larger than the project's burst or the body limit: halves go through on their own.
        const half = Math.ceil(batch.length / 2);
        await this.sendBatch(batch.slice(0, half));
        await this.sendBatch(batch.slice(half));
        return;
      }
      if (status !== 429 && status < 500) break;
    }
    this.counts.dropped += batch.length;
    this.o.onError?.(lastError!, batch);
  }

  /** Exponential with full jitter, but never before the server's Retry-After. */
  private backoff(attempt: number, retryAfterS: number | undefined): number {
    const ceiling = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** (attempt - 1));
    const jittered = Math.random() * ceiling;
    return retryAfterS === undefined ? jittered : Math.max(retryAfterS * 1000, jittered);
  }
}

/** Whether an answer is /v1/events' per-event answer (200, or 400 when every event was refused). */
export function isIngestResult(b: unknown): boolean {
  return typeof b === 'object' && b !== null && typeof (b as IngestResult).accepted === 'number' && Array.isArray((b as IngestResult).rejected);
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Node's process, where there is one (not in a browser). */
function processOf(): { on(e: 'beforeExit', f: () => void): unknown; off(e: 'beforeExit', f: () => void): unknown } | undefined {
  const p = (globalThis as { process?: { on?: unknown; off?: unknown } }).process;
  return typeof p?.on === 'function' && typeof p.off === 'function' ? (p as ReturnType<typeof processOf>) : undefined;
}
