/**
 * PromQL off the event loop: a pool of worker threads evaluates queries, with a fair queue per
 * project in front of it. The main thread keeps the store and answers each worker's reads
 * through a synchronous channel, in batches, so ingest, scrapes and other tenants' requests run
 * between them. A query past its deadline has its worker terminated and replaced; one that runs
 * a worker out of memory loses only that worker. See README.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Queryable, Querier, SeriesSamples } from '../core/queryable.js';
import { PromQLExecutionError, PromQLTimeoutError, PromQLTooManySamplesError, type QueryResult } from '../promql/index.js';
import type { QueryLimits } from './limits.js';
import { rebuildError, serializeError, type EvalSettings, type QueryRequest, type ReadReply, type ReadRequest, type RunMessage, type RunReply, type WireSeries } from './protocol.js';

export interface QueryPoolOptions {
  readonly workers: number;
  /** Queries waiting across all projects; more are refused with 503. */
  readonly maxQueued: number;
  readonly workerHeapMb: number;
  readonly lookbackDeltaMs?: number;
  readonly limitsFor: (project: string) => QueryLimits;
}

/** A query turned away before it was queued: the API answers 429 or 503 with Retry-After. */
export interface QueryPoolStats {
  readonly workers: number;
  readonly busy: number;
  readonly queued: number;
  readonly refusedProject: number;
  readonly refusedGateway: number;
  /** Workers terminated because their query ran past its deadline. */
  readonly killed: number;
  /** Queries that timed out before a worker took them. */
  readonly timedOutQueued: number;
}

export class QueryRefused extends Error {
  constructor(
    message: string,
    readonly status: 429 | 503,
    readonly retryAfterS: number,
  ) {
    super(message);
    this.name = 'QueryRefused';
  }
}

/** A finished job's worker is told so much time past its deadline to report its own timeout. */
const KILL_GRACE_MS = 100;
/** One read answer holds at most this much, so the main thread is never held long by one worker. */
const BATCH_SERIES = 64;
const BATCH_SAMPLES = 100_000;

interface Job {
  readonly id: number;
  readonly project: string;
  readonly request: QueryRequest;
  readonly limits: QueryLimits;
  readonly deadline: number;
  readonly resolve: (r: QueryResult) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly queuedAt: number;
  slot?: Slot;
  querier?: Querier;
  samples: number;
  settled?: boolean;
}

interface Cursor {
  readonly iterator: Iterator<SeriesSamples>;
  series: number;
}

interface Slot {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly flag: Int32Array;
  readonly cursors: Map<number, Cursor>;
  /** Set once the worker has loaded its code: a job never waits behind a worker's start. */
  ready: boolean;
  job?: Job;
  nextCursor: number;
}

/**
 * The worker's script: the compiled worker.js beside this file. Under tsx or vitest this module is
 * TypeScript; a thread that compiled the worker's modules itself on every start would spend a
 * second of CPU per replaced worker (and Node 20 applies no loader from a worker's execArgv), so
 * the worker is bundled once per process with esbuild (a dev dependency) into plain JavaScript.
 */
let devBundle: string | undefined;
function workerScript(): URL | string {
  if (!import.meta.url.endsWith('.ts')) return new URL('./worker.js', import.meta.url);
  if (devBundle === undefined) {
    const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
    const dir = mkdtempSync(join(tmpdir(), 'meterway-query-worker-'));
    const outfile = join(dir, 'worker.mjs');
    buildSync({ entryPoints: [fileURLToPath(new URL('./worker.ts', import.meta.url))], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'error' });
    // Threads load it once at their start, so it can go with the process (tests start hundreds).
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    devBundle = outfile;
  }
  return devBundle;
}

export class QueryPool {
  private readonly slots: Slot[] = [];
  /** Waiting jobs per project; the Map's order is the round-robin order (served projects move last). */
  private readonly queues = new Map<string, Job[]>();
  private readonly running = new Map<string, number>();
  private queued = 0;
  private nextId = 1;
  private closed = false;
  /** Recent evaluation time, for Retry-After. */
  private averageMs = 100;
  /** Since start, for the self-metrics: queries refused (429 per project, 503 gateway-wide) and workers stopped at a deadline. */
  private readonly counts = { refusedProject: 0, refusedGateway: 0, killed: 0, timedOutQueued: 0 };

  constructor(
    private readonly source: Queryable,
    private readonly options: QueryPoolOptions,
  ) {}

  /** Evaluates a query of `project`, waiting for a worker; `timeoutMs` may shorten the project's timeout. */
  run(project: string, request: QueryRequest, timeoutMs?: number): Promise<QueryResult> {
    if (this.closed) return Promise.reject(new QueryRefused('the gateway is shutting down', 503, 1));
    const limits = this.options.limitsFor(project);
    const waiting = this.queues.get(project)?.length ?? 0;
    if (waiting >= limits.maxQueued) {
      this.counts.refusedProject++;
      return Promise.reject(
        new QueryRefused(
          `too many queries of this project are waiting (${waiting}; limit query.max_queued_per_project); retry later or send fewer at once`,
          429,
          this.retryAfter(waiting, limits.maxConcurrent),
        ),
      );
    }
    if (this.queued >= this.options.maxQueued) {
      this.counts.refusedGateway++;
      return Promise.reject(new QueryRefused(`the gateway has ${this.queued} queries waiting (limit query.max_queued); retry later`, 503, this.retryAfter(this.queued, this.options.workers)));
    }
    const timeout = Math.min(limits.timeoutMs, timeoutMs ?? Infinity);
    const queuedAt = Date.now();
    return new Promise<QueryResult>((resolve, reject) => {
      const id = this.nextId++;
      const job: Job = {
        id, project, request, limits, resolve, reject, queuedAt, samples: 0,
        deadline: queuedAt + timeout,
        timer: setTimeout(() => this.expire(job), timeout + KILL_GRACE_MS),
      };
      let queue = this.queues.get(project);
      if (queue === undefined) this.queues.set(project, (queue = []));
      queue.push(job);
      this.queued++;
      this.dispatch();
    });
  }

  /**
   * Starts every worker now rather than at the first queries, and one spare: a worker stopped at
   * a deadline is replaced by the spare at once instead of by a thread that takes tens of
   * milliseconds (under tsx, most of a second) to load, which another tenant's query would wait for.
   */
  warm(): Promise<void> {
    while (this.slots.length < this.options.workers + 1) this.slots.push(this.spawn());
    return new Promise((resolve) => {
      const check = () => (this.slots.every((s) => s.ready) ? resolve() : setTimeout(check, 10).unref());
      check();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const queue of this.queues.values()) for (const job of queue) this.settle(job, new QueryRefused('the gateway is shutting down', 503, 1));
    this.queues.clear();
    const slots = this.slots.splice(0);
    for (const slot of slots) if (slot.job) this.settle(slot.job, new QueryRefused('the gateway is shutting down', 503, 1));
    await Promise.all(slots.map((s) => this.discard(s)));
  }

  /** Workers, busy ones, waiting queries and what was refused or stopped since start, for the self-metrics. */
  stats(): QueryPoolStats {
    return { workers: this.slots.length, busy: this.slots.filter((s) => s.job).length, queued: this.queued, ...this.counts };
  }

  private retryAfter(ahead: number, concurrency: number): number {
    return Math.min(60, Math.max(1, Math.ceil((this.averageMs * (ahead + 1)) / Math.max(1, concurrency) / 1000)));
  }

  private dispatch(): void {
    while (this.queued > 0) {
      if (this.slots.filter((s) => s.job !== undefined).length >= this.options.workers) return;
      const slot = this.slots.find((s) => s.ready && s.job === undefined);
      if (slot === undefined) {
        // Starting ones will call dispatch when ready; all of them start at once, not one per wait.
        void this.warm();
        return;
      }
      const job = this.nextJob();
      if (job === undefined) return;
      this.start(slot, job);
    }
  }

  /** The first waiting job, in round-robin order, of a project below its concurrency limit. */
  private nextJob(): Job | undefined {
    for (const [project, queue] of this.queues) {
      const job = queue[0];
      if ((this.running.get(project) ?? 0) >= job.limits.maxConcurrent) continue;
      queue.shift();
      this.queued--;
      this.queues.delete(project);
      if (queue.length > 0) this.queues.set(project, queue);
      return job;
    }
    return undefined;
  }

  private start(slot: Slot, job: Job): void {
    slot.job = job;
    job.slot = slot;
    this.running.set(job.project, (this.running.get(job.project) ?? 0) + 1);
    const settings: EvalSettings = {
      deadline: job.deadline,
      maxSamples: job.limits.maxSamples,
      maxDepth: job.limits.maxDepth,
      maxPointsPerSubquery: job.limits.maxPointsPerSubquery,
      lookbackDeltaMs: this.options.lookbackDeltaMs ?? 300_000,
    };
    slot.worker.postMessage({ id: job.id, request: job.request, settings } satisfies RunMessage);
  }

  private spawn(): Slot {
    const { port1, port2 } = new MessageChannel();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(workerScript(), {
      workerData: { port: port2, flag },
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: this.options.workerHeapMb },
    });
    worker.unref();
    port1.unref();
    const slot: Slot = { worker, port: port1, flag, cursors: new Map(), nextCursor: 1, ready: false };
    port1.on('message', (req: ReadRequest) => this.answer(slot, req));
    worker.on('message', (reply: RunReply | 'ready') => {
      if (reply !== 'ready') return this.finished(slot, reply);
      slot.ready = true;
      this.dispatch();
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (!slot.ready) return this.failedToStart(slot, err);
      const lost = slot.job;
      this.remove(slot);
      if (lost) {
        const outOfMemory = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
        this.settle(lost, outOfMemory
          ? new PromQLExecutionError(`the query ran out of memory (a query worker may use ${this.options.workerHeapMb} MiB); select fewer series or a shorter range`)
          : new Error(`query worker failed: ${err.message}`));
      }
      this.dispatch();
    });
    worker.on('exit', () => {
      if (!this.slots.includes(slot)) return;
      const lost = slot.job;
      this.remove(slot);
      if (lost) this.settle(lost, new Error('query worker exited during the query'));
      this.dispatch();
    });
    return slot;
  }

  private finished(slot: Slot, reply: RunReply): void {
    const job = slot.job;
    if (job === undefined || job.id !== reply.id) return;
    this.release(slot);
    this.averageMs = this.averageMs * 0.8 + (Date.now() - job.queuedAt) * 0.2;
    if ('error' in reply) this.settle(job, rebuildError(reply.error));
    else this.settle(job, undefined, reply.result);
    this.dispatch();
  }

  /** The job's deadline passed: drop it from the queue, or stop its worker for real. */
  private expire(job: Job): void {
    const slot = job.slot;
    if (slot === undefined) {
      const queue = this.queues.get(job.project);
      const at = queue?.indexOf(job) ?? -1;
      if (queue && at >= 0) {
        queue.splice(at, 1);
        this.queued--;
        if (queue.length === 0) this.queues.delete(job.project);
      }
      this.counts.timedOutQueued++;
      this.settle(job, new PromQLTimeoutError('query timed out in query queue'));
      return;
    }
    if (slot.job !== job) return;
    this.counts.killed++;
    this.remove(slot);
    void this.discard(slot);
    this.settle(job, new PromQLTimeoutError('query timed out in expression evaluation'));
    this.dispatch();
  }

  /** Answers one read of a worker from the live store, bound to the project of the worker's job. */
  private answer(slot: Slot, req: ReadRequest): void {
    const job = slot.job;
    if (req.op === 'close') {
      slot.cursors.get(req.cursor)?.iterator.return?.();
      slot.cursors.delete(req.cursor);
      return;
    }
    let reply: ReadReply;
    const transfer: ArrayBuffer[] = [];
    try {
      if (job === undefined) throw new Error('no query is running on this worker');
      let id: number;
      if (req.op === 'select') {
        job.querier ??= this.source.querier(job.project, req.bounds.minMs, req.bounds.maxMs);
        id = slot.nextCursor++;
        slot.cursors.set(id, { iterator: job.querier.select(req.matchers, req.minMs, req.maxMs)[Symbol.iterator](), series: 0 });
      } else {
        id = req.cursor;
      }
      reply = this.batch(slot, job, id, transfer);
    } catch (err) {
      reply = { error: serializeError(err) };
    }
    slot.port.postMessage(reply, transfer);
    Atomics.store(slot.flag, 0, 1);
    Atomics.notify(slot.flag, 0);
  }

  private batch(slot: Slot, job: Job, id: number, transfer: ArrayBuffer[]): ReadReply {
    const cursor = slot.cursors.get(id);
    if (cursor === undefined) throw new Error(`no open selector ${id}`);
    const series: WireSeries[] = [];
    let samples = 0;
    try {
      while (series.length < BATCH_SERIES && samples < BATCH_SAMPLES) {
        const next = cursor.iterator.next();
        if (next.done) {
          slot.cursors.delete(id);
          return { cursor: id, series, done: true };
        }
        const s = next.value;
        if (++cursor.series > job.limits.maxSeriesPerSelector) {
          throw new PromQLExecutionError(
            `a selector of the query matched more than ${job.limits.maxSeriesPerSelector.toLocaleString('en-US')} series (limit query.max_series_per_selector); add label matchers to select fewer`,
          );
        }
        job.samples += s.timestamps.length;
        if (job.samples > job.limits.maxSamples) throw new PromQLTooManySamplesError();
        samples += s.timestamps.length;
        const wire: WireSeries = { labels: s.labels, ts: copyOf(s.timestamps), vs: copyOf(s.values), ...(s.startTimestamps ? { sts: copyOf(s.startTimestamps) } : {}) };
        transfer.push(wire.ts.buffer as ArrayBuffer, wire.vs.buffer as ArrayBuffer);
        if (wire.sts) transfer.push(wire.sts.buffer as ArrayBuffer);
        series.push(wire);
      }
    } catch (err) {
      slot.cursors.delete(id);
      throw err;
    }
    return { cursor: id, series, done: false };
  }

  private release(slot: Slot): void {
    const job = slot.job;
    if (job === undefined) return;
    slot.job = undefined;
    for (const c of slot.cursors.values()) c.iterator.return?.();
    slot.cursors.clear();
    const n = (this.running.get(job.project) ?? 1) - 1;
    if (n > 0) this.running.set(job.project, n);
    else this.running.delete(job.project);
  }

  /** Takes a lost or stopped worker out and starts its replacement at once, so it is ready when needed. */
  /**
   * A worker that cannot even load would fail the same way if replaced at once, so nothing is
   * respawned here: the waiting queries get the error and the next query tries again.
   */
  private failedToStart(slot: Slot, err: Error): void {
    this.release(slot);
    const at = this.slots.indexOf(slot);
    if (at >= 0) this.slots.splice(at, 1);
    if (this.slots.some((s) => s.ready)) return;
    const error = new Error(`the query workers cannot start: ${err.message}`);
    for (const queue of this.queues.values()) for (const job of queue) this.settle(job, error);
    this.queues.clear();
    this.queued = 0;
  }

  private remove(slot: Slot): void {
    this.release(slot);
    const at = this.slots.indexOf(slot);
    if (at >= 0) this.slots.splice(at, 1);
    if (!this.closed) void this.warm();
  }

  private async discard(slot: Slot): Promise<void> {
    slot.port.close();
    await slot.worker.terminate();
  }

  private settle(job: Job, err: Error | undefined, result?: QueryResult): void {
    if (job.settled) return;
    job.settled = true;
    clearTimeout(job.timer);
    if (err) job.reject(err);
    else job.resolve(result!);
  }
}

/**
 * A fresh copy that can be handed to the worker: the store's arrays may be views into buffers it
 * keeps (and a view is cloned with its whole buffer), and transferring those would detach them.
 */
function copyOf(a: ArrayLike<number>): Float64Array {
  return a instanceof Float64Array ? a.slice() : Float64Array.from(a);
}
