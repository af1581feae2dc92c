/**
 * What every way in has in common. HTTP events, import, the demo and OTLP are peers: each turns
 * what it receives into samples of the per-project aggregation (events through their fast path,
 * the others through src/aggregate/samples.ts) and reports what it took and dropped as the
 * gateway's own metrics.
 */

/** Where sources report, as the gateway's own metrics (events keep their `meterway_events_*`). */
export interface SourceObserver {
  sourceSamples(source: string, n: number): void;
  sourceDropped(source: string, reason: string, n: number): void;
}

/**
 * A source with a life of its own (a scraper's timers, the demo's simulation): started once the
 * gateway is assembled, stopped before the store closes. Sources that only answer requests (the
 * HTTP routes) have nothing to start.
 */
export interface Source {
  /** Stable name, the `source` label of the self-metrics. */
  readonly name: string;
  start?(): void;
  stop?(): Promise<void>;
}
