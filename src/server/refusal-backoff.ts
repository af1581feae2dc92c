/**
 * Holds back the answers of a caller who keeps being refused (issue 14's tail latency).
 *
 * A refusal is cheap, but not free: the connection, the token check, the refusal, the access log
 * line. A client that loops on requests the gateway refuses at once (an over-long query, a
 * project over its queue, an unknown token) comes back as fast as it is answered, a thousand
 * times a second from four connections, and other tenants' requests queue behind that flood on
 * the event loop (BENCHMARKS.md, "Tail latency"). Answering such a caller later bounds the flood:
 * a client waits for its answer before it sends again, so its refusals run at the budget's rate,
 * or at most one per `maxDelayMs` per connection.
 *
 * The budget is a generic cell rate (GCRA): `perSecond` refusals a second per caller with
 * `burst` of them at once; within it answers go at once, so a person fixing a query or a
 * dashboard whose panels all fail together never waits. Past it each refusal waits until the
 * budget would have taken it, at most `maxDelayMs` (a refusal held that long does not push the
 * schedule further, so a caller who waits is served again).
 */
export interface RefusalBackoffOptions {
  /** Refusals a second a caller may have answered at once; 0 turns the backoff off. */
  readonly perSecond: number;
  readonly burst: number;
  readonly maxDelayMs: number;
}

/** Callers remembered at once before those whose budget is whole again are forgotten. */
const SWEEP_AT = 10_000;

export class RefusalBackoff {
  /** Per caller, when its budget is whole again (GCRA's theoretical arrival time), in ms. */
  private readonly due = new Map<string, number>();
  private readonly intervalMs: number;
  private readonly toleranceMs: number;

  constructor(private readonly options: RefusalBackoffOptions) {
    this.intervalMs = options.perSecond > 0 ? 1000 / options.perSecond : 0;
    this.toleranceMs = this.intervalMs * Math.max(0, options.burst - 1);
  }

  get enabled(): boolean {
    return this.options.perSecond > 0;
  }

  /** Counts a refusal of `caller` at `nowMs`; how long its answer waits (0 within the budget). */
  delayFor(caller: string, nowMs: number): number {
    if (!this.enabled) return 0;
    const due = Math.max(this.due.get(caller) ?? nowMs, nowMs);
    const wait = due - nowMs - this.toleranceMs;
    if (wait > this.options.maxDelayMs) return this.options.maxDelayMs;
    if (this.due.size >= SWEEP_AT && !this.due.has(caller)) this.sweep(nowMs);
    this.due.set(caller, due + this.intervalMs);
    return Math.max(0, wait);
  }

  private sweep(nowMs: number): void {
    for (const [caller, due] of this.due) if (due <= nowMs) this.due.delete(caller);
  }
}
