/**
 * Runs many periodic jobs from one timer. Each job's phase is spread at random over its interval so
 * thousands of integrations do not fire together; after that it keeps a fixed period (no drift). A
 * job still running when it is due again skips that turn rather than piling up.
 */
/** Longest stretch of starting jobs in one turn of the event loop, in ms. */
const SLICE_MS = 10;

export interface ScheduledJob {
  readonly id: string;
  readonly intervalMs: number;
  run(scheduledAtMs: number): Promise<void>;
}

interface Entry {
  job: ScheduledJob;
  dueMs: number;
  running: boolean;
  removed: boolean;
}

export interface SchedulerHooks {
  /** How late a run started against the latest turn it was due (measured when it starts). */
  lateness?(ms: number): void;
  /** A turn not run: the previous run was still going, or the loop was too busy to start it. */
  skipped?(id: string): void;
}

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private heap: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly hooks: SchedulerHooks = {},
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  /** Adds or replaces a job; a replaced job keeps its phase when its interval is unchanged. */
  upsert(job: ScheduledJob): void {
    const existing = this.entries.get(job.id);
    if (existing !== undefined && existing.job.intervalMs === job.intervalMs) {
      existing.job = job;
      return;
    }
    if (existing !== undefined) existing.removed = true;
    const entry: Entry = { job, dueMs: this.now() + Math.floor(this.random() * job.intervalMs), running: false, removed: false };
    this.entries.set(job.id, entry);
    this.push(entry);
    this.arm();
  }

  remove(id: string): void {
    const e = this.entries.get(id);
    if (e === undefined) return;
    e.removed = true;
    this.entries.delete(id);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.stopped) return;
    while (this.heap.length > 0 && this.heap[0].removed) this.pop();
    if (this.heap.length === 0) return;
    const wait = Math.max(0, this.heap[0].dueMs - this.now());
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), wait);
    this.timer.unref();
  }

  private tick(): void {
    this.timer = undefined;
    const sliceStart = this.now();
    let now = sliceStart;
    while (this.heap.length > 0 && this.heap[0].dueMs <= now) {
      // Starting a job runs its synchronous part (a snapshot, an encoding) here: past a slice,
      // hand the loop back so a thousand due jobs do not hold it for a second.
      if (now - sliceStart >= SLICE_MS) {
        this.timer = setTimeout(() => this.tick(), 0);
        this.timer.unref();
        return;
      }
      const e = this.pop();
      if (e.removed) continue;
      const due = e.dueMs;
      // Keep the job's phase: its next turn is the first one of its own grid after now, so jobs
      // that ran late together do not end up due together from then on.
      const missed = Math.floor((now - due) / e.job.intervalMs);
      e.dueMs = due + (missed + 1) * e.job.intervalMs;
      this.push(e);
      for (let i = 0; i < missed; i++) this.hooks.skipped?.(e.job.id);
      if (e.running) {
        this.hooks.skipped?.(e.job.id);
        continue;
      }
      e.running = true;
      this.hooks.lateness?.(now - (due + missed * e.job.intervalMs));
      e.job.run(due).finally(() => {
        e.running = false;
      });
      now = this.now();
    }
    this.arm();
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent].dueMs <= h[i].dueMs) break;
      [h[parent], h[i]] = [h[i], h[parent]];
      i = parent;
    }
  }

  private pop(): Entry {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l].dueMs < h[m].dueMs) m = l;
        if (r < h.length && h[r].dueMs < h[m].dueMs) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
