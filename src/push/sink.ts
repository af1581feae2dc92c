/**
 * What a sink is: it encodes, sends and classifies the outcome of one attempt. Scheduling,
 * retries, backoff, pausing and delta bookkeeping live in delivery/, written once for all sinks.
 * Delivery and every sink kind depend on this file; sinks never depend on each other.
 */
import type { TSchema } from '@sinclair/typebox';
import type { EventRecord, MetricBatch, Temporality } from './types.js';
import type { DeliverySettings } from './settings.js';

export interface SinkContext {
  readonly integrationId: string;
  readonly projectId: string;
  readonly allowPrivateEgress: boolean;
  /**
   * The decrypted auth headers, read when a request is built and never kept in the sink. Throws a
   * non-retryable DeliveryError ('credentials') when they cannot be decrypted.
   */
  authHeaders(): Record<string, string>;
}

export interface SendResult {
  readonly sent: number;
  /** The destination kept only part of the request (OTLP partial success): recorded, not retried. */
  readonly partial?: { readonly rejected: number; readonly message: string };
  /** Nothing was lost, but the status should say something (a fallback the sink took): `status.last_notice`. */
  readonly notice?: string;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly status_code?: number;
  readonly latency_ms: number;
  readonly message: string;
}

export interface Sink {
  /** Throws DeliveryError (retryable or not) when the attempt failed. */
  send(batch: MetricBatch, signal: AbortSignal): Promise<SendResult>;
  /** Raw events as logs, for sinks that carry them. */
  sendLogs?(records: readonly EventRecord[], signal: AbortSignal): Promise<SendResult>;
  /** A real, small request, answered in plain words. */
  check(signal: AbortSignal): Promise<CheckResult>;
  /**
   * Releases what the sink holds (a socket, a connection pool). Delivery calls it once, when it
   * has no more use for the sink (the integration deleted, edited, paused or disabled, a test
   * connection done, the gateway closing), after the push and log send still using it have ended.
   * A sink that holds nothing leaves it out.
   */
  close?(): Promise<void>;
}

/** Settings every kind shares, whatever else its config holds (their schema: settings.ts). */
export type BaseSinkConfig = Readonly<DeliverySettings> & { readonly logs?: boolean };

/** The endpoint schemes a kind accepts when its factory names none. */
export const DEFAULT_SINK_SCHEMES: readonly string[] = ['http:', 'https:'];

export interface SinkFactory<C extends BaseSinkConfig = BaseSinkConfig> {
  readonly kind: string;
  /** Endpoint URL schemes the kind accepts, spelt as `URL.protocol` (`'udp:'`); DEFAULT_SINK_SCHEMES when left out. */
  readonly schemes?: readonly string[];
  readonly configSchema: TSchema;
  temporality(config: C): Temporality;
  /**
   * For a kind whose destination follows from its config (Datadog's `site`): the endpoint used
   * when an integration is created without one, or is given `""` on update. `from` is the config
   * key it was made from, so refusals name what to change. Throws an Error whose message names
   * that key and the fix when the config makes no valid endpoint. Kinds without it require an
   * endpoint.
   */
  defaultEndpoint?(config: C): { readonly url: string; readonly from: string };
  /** Builds a sink; does no I/O. */
  create(endpoint: URL, config: C, ctx: SinkContext): Sink;
}
