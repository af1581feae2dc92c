/**
 * The bounded queue between a StatsD sink and its socket. Node's `socket.send` never says no: it
 * queues in libuv for as long as the kernel is slow, so a push of thousands of datagrams, or one
 * push after another against a stuck interface, would pile up without limit. Here at most
 * `window` datagrams of a sink are with the socket and unconfirmed at any time; a send waits for
 * room, but not past its deadline: what has not gone out by then is dropped and counted.
 */

/** Where datagrams go: one socket, or a test's stand-in. */
export interface DatagramLink {
  /** Hands one datagram to the kernel; `done` once it has been (null) or refused (the error). */
  send(datagram: Uint8Array, done: (err: Error | null) => void): void;
}

export interface OutboxReport {
  /** Taken by the kernel. */
  readonly handed: number;
  /** Refused by the kernel (the send's callback had an error). */
  readonly failed: number;
  /** Never handed to the socket: no room before the deadline, or the send was cancelled. */
  readonly dropped: number;
  /** Handed to the socket but not confirmed by the deadline: they may still go out, or not. */
  readonly unconfirmed: number;
  /** Indexes of the datagrams not confirmed as taken (failed, dropped, unconfirmed), ascending. */
  readonly lost: number[];
  /** Error codes of the failed ones, with how many had each. */
  readonly errors: ReadonlyMap<string, number>;
  readonly firstError?: Error;
  /** The send ended because its signal was aborted. */
  readonly cancelled: boolean;
}

const NOT_HANDED = 0;
const IN_FLIGHT = 1;
const TAKEN = 2;
const FAILED = 3;

export class Outbox {
  private inFlight = 0;
  /** Sends waiting for room; all are woken when a slot frees and each looks again. */
  private readonly waiting = new Set<() => void>();

  constructor(readonly window: number) {
    if (!(window >= 1)) throw new Error(`Outbox: window must be at least 1, got ${window}`);
  }

  /** Datagrams with the socket and not yet confirmed, all sends of this sink together. */
  get busy(): number {
    return this.inFlight;
  }

  /** Sends `datagrams` in order through `link`; resolves once each is confirmed, or at the deadline. */
  async send(link: DatagramLink, datagrams: readonly Uint8Array[], deadlineMs: number, signal?: AbortSignal): Promise<OutboxReport> {
    const n = datagrams.length;
    const state = new Uint8Array(n);
    const errors = new Map<string, number>();
    let firstError: Error | undefined;
    let pending = 0;
    let over = false;
    let cancelled = false;
    let wakeMe: (() => void) | undefined;
    let allConfirmed: (() => void) | undefined;
    const stop = () => {
      over = true;
      wakeMe?.();
      allConfirmed?.();
    };
    const onAbort = () => {
      cancelled = true;
      stop();
    };
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(stop, Math.max(0, deadlineMs - Date.now()));
    try {
      for (let i = 0; i < n && !over; i++) {
        while (this.inFlight >= this.window && !over) {
          await new Promise<void>((resolve) => {
            wakeMe = resolve;
            this.waiting.add(resolve);
          });
          if (wakeMe !== undefined) this.waiting.delete(wakeMe);
          wakeMe = undefined;
        }
        if (over) break;
        this.inFlight++;
        pending++;
        state[i] = IN_FLIGHT;
        const at = i;
        link.send(datagrams[at], (err) => {
          this.inFlight--;
          pending--;
          // A confirmation after the deadline changes nothing: the report has been made.
          if (!over) {
            state[at] = err === null ? TAKEN : FAILED;
            if (err !== null) {
              firstError ??= err;
              const code = (err as NodeJS.ErrnoException).code ?? 'error';
              errors.set(code, (errors.get(code) ?? 0) + 1);
            }
          }
          for (const wake of this.waiting) wake();
          if (pending === 0) allConfirmed?.();
        });
      }
      if (pending > 0 && !over) await new Promise<void>((resolve) => (allConfirmed = resolve));
    } finally {
      over = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    let handed = 0;
    let failed = 0;
    let dropped = 0;
    let unconfirmed = 0;
    const lost: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = state[i];
      if (s === TAKEN) {
        handed++;
        continue;
      }
      lost.push(i);
      if (s === FAILED) failed++;
      else if (s === IN_FLIGHT) unconfirmed++;
      else if (s === NOT_HANDED) dropped++;
    }
    return { handed, failed, dropped, unconfirmed, lost, errors, firstError, cancelled };
  }
}
