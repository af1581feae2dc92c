/** The limits queries run under, global and per project (config key `query`). */
import { availableParallelism } from 'node:os';

export interface QueryLimits {
  readonly timeoutMs: number;
  /** Samples read from the store, and points held by the engine, per query. */
  readonly maxSamples: number;
  readonly maxSeriesPerSelector: number;
  readonly maxPointsPerSubquery: number;
  /** Points per series of a range query's result (Prometheus: 11,000). */
  readonly maxPointsPerSeries: number;
  readonly maxDepth: number;
  /** Characters of a query or a match[] selector, checked before anything parses it. */
  readonly maxQueryLength: number;
  /** Queries of the project evaluated at once. */
  readonly maxConcurrent: number;
  /** Queries of the project waiting for a worker; more are refused with 429. */
  readonly maxQueued: number;
}

export interface QueryConfig {
  readonly workers: number;
  /** Queries waiting across all projects; more are refused with 503. */
  readonly maxQueued: number;
  readonly workerHeapMb: number;
  readonly limits: QueryLimits;
  /** Per-project overrides, already merged with `limits`. */
  readonly projects: Readonly<Record<string, QueryLimits>>;
}

export function defaultWorkerCount(): number {
  return Math.max(2, availableParallelism());
}

/**
 * Defaults sized for the gateway rather than copied from Prometheus: 10 million samples is about
 * 160 MB of timestamps and values in a worker (Prometheus allows 50 million in a process that
 * does nothing else); one project may use all workers but one, so another tenant's query never
 * waits behind it.
 */
export function defaultQueryLimits(workers: number): QueryLimits {
  return {
    timeoutMs: 120_000,
    maxSamples: 10_000_000,
    maxSeriesPerSelector: 50_000,
    maxPointsPerSubquery: 1_000_000,
    maxPointsPerSeries: 11_000,
    maxDepth: 256,
    maxQueryLength: 128 * 1024,
    maxConcurrent: Math.max(1, workers - 1),
    maxQueued: 64,
  };
}

export function limitsFor(config: QueryConfig, project: string): QueryLimits {
  return Object.hasOwn(config.projects, project) ? config.projects[project] : config.limits;
}
