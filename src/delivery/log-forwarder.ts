/**
 * Forwards raw events as log records for one integration. Ingest only appends to a bounded queue
 * (when full, the record is dropped and counted), so forwarding never blocks or slows ingest; a
 * background flush sends batches, one request at a time, behind a circuit breaker.
 */
import type { EventRecord } from '../push/types.js';
import type { SendResult } from '../push/sink.js';
import { CircuitBreaker } from './breaker.js';

export interface LogForwarderOptions {
  readonly maxQueue: number;
  readonly batchSize: number;
  readonly flushMs: number;
  readonly breakerThreshold: number;
  readonly breakerCoolDownMs: number;
}

export const DEFAULT_LOG_FORWARDING: LogForwarderOptions = { maxQueue: 10_000, batchSize: 1_000, flushMs: 1_000, breakerThreshold: 5, breakerCoolDownMs: 30_000 };

export interface LogForwarderHooks {
  outcome(outcome: 'sent' | 'dropped' | 'failed', records: number): void;
}

export class LogForwarder {
  private queue: EventRecord[] = [];
  private sending = false;
  /** The latest flush (settled when none is under way): close() hands it out so the sink is not closed under it. */
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private readonly abort = new AbortController();
  readonly breaker: CircuitBreaker;

  constructor(
    private readonly send: (records: readonly EventRecord[], signal: AbortSignal) => Promise<SendResult>,
    private readonly opts: LogForwarderOptions,
    private readonly hooks: LogForwarderHooks,
  ) {
    this.breaker = new CircuitBreaker(opts.breakerThreshold, opts.breakerCoolDownMs);
    this.timer = setInterval(() => void this.flush(), opts.flushMs);
    this.timer.unref();
  }

  offer(record: EventRecord): void {
    if (this.queue.length >= this.opts.maxQueue) {
      this.hooks.outcome('dropped', 1);
      return;
    }
    this.queue.push(record);
    if (this.queue.length >= this.opts.batchSize && !this.sending) setImmediate(() => void this.flush());
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Sends what is queued, a batch at a time, while the breaker allows. */
  async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    this.flushing = this.drain();
    await this.flushing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.breaker.allow()) {
        const batch = this.queue.slice(0, this.opts.batchSize);
        try {
          await this.send(batch, this.abort.signal);
          this.queue = this.queue.slice(batch.length);
          this.breaker.success();
          this.hooks.outcome('sent', batch.length);
        } catch {
          // Forwarding is best effort: a failed batch is dropped, not retried, so a dead collector
          // cannot make the queue grow; the breaker stops the next attempts for a while.
          this.queue = this.queue.slice(batch.length);
          this.breaker.failure();
          this.hooks.outcome('failed', batch.length);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** Stops forwarding and drops what is queued; resolves when the send in flight (aborted) has ended. */
  close(): Promise<void> {
    clearInterval(this.timer);
    this.abort.abort();
    if (this.queue.length > 0) this.hooks.outcome('dropped', this.queue.length);
    this.queue = [];
    return this.flushing;
  }
}
