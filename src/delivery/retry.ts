/**
 * Retries of one push: the same request up to `attempts` times, exponential backoff with full
 * jitter between attempts, a Retry-After header replacing the backoff, and no retry of permanent
 * failures.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import { DeliveryError } from './errors.js';

export interface RetryPolicy {
  /** Attempts in all, the first included (CONTRACT: 3 retries, so 4). */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 1000, maxDelayMs: 30_000 };

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = async (ms, signal) => {
  await sleepMs(ms, undefined, { signal });
};

/** Full jitter: a random delay up to the exponential bound, so retries of many pushes spread out. */
export function backoffDelay(policy: RetryPolicy, retryIndex: number, random = Math.random): number {
  const bound = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retryIndex);
  return Math.round(bound / 2 + (random() * bound) / 2);
}

export interface RetryOutcome<T> {
  readonly value?: T;
  readonly error?: DeliveryError;
  readonly attempts: number;
}

export async function withRetries<T>(
  attempt: (attemptIndex: number) => Promise<T>,
  policy: RetryPolicy,
  signal: AbortSignal,
  sleep: Sleep = realSleep,
  /** After a failed attempt that will be retried; `failedAttempt` is 1 for the first. */
  onRetry?: (err: DeliveryError, delayMs: number, failedAttempt: number) => void,
): Promise<RetryOutcome<T>> {
  let last: DeliveryError | undefined;
  for (let i = 0; i < policy.attempts; i++) {
    try {
      return { value: await attempt(i), attempts: i + 1 };
    } catch (err) {
      last = err instanceof DeliveryError ? err : new DeliveryError('network', (err as Error).message, true);
      if (!last.retryable || i === policy.attempts - 1 || signal.aborted) return { error: last, attempts: i + 1 };
      const delay = last.retryAfterMs ?? backoffDelay(policy, i);
      onRetry?.(last, delay, i + 1);
      try {
        await sleep(delay, signal);
      } catch {
        return { error: last, attempts: i + 1 };
      }
    }
  }
  return { error: last, attempts: policy.attempts };
}
