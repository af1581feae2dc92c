/**
 * Messages between the query pool (main thread) and its workers. A worker evaluates PromQL; the
 * main thread owns the store and answers the worker's reads synchronously (see README.md).
 */
import type { LabelMatcher } from '../core/queryable.js';
import type { Labels } from '../core/labels.js';
import type { QueryResult } from '../promql/index.js';
import {
  PromQLExecutionError,
  PromQLLimitError,
  PromQLParseError,
  PromQLTimeoutError,
  PromQLTooManySamplesError,
  type Position,
} from '../promql/index.js';

export type QueryRequest =
  | { readonly kind: 'instant'; readonly query: string; readonly timeMs: number }
  | { readonly kind: 'range'; readonly query: string; readonly startMs: number; readonly endMs: number; readonly stepMs: number };

/** What the worker's engine is built with for one job. */
export interface EvalSettings {
  /** Epoch milliseconds: the engine stops itself here; the pool terminates the worker soon after. */
  readonly deadline: number;
  readonly maxSamples: number;
  readonly maxDepth: number;
  readonly maxPointsPerSubquery: number;
  readonly lookbackDeltaMs: number;
}

/** Main thread to worker, on the worker's own port. */
export interface RunMessage {
  readonly id: number;
  readonly request: QueryRequest;
  readonly settings: EvalSettings;
}

/** Worker to main thread, on the worker's own port. */
export type RunReply = { readonly id: number; readonly result: QueryResult } | { readonly id: number; readonly error: SerializedError };

/** Worker to main thread on the read channel; select and next block the worker until answered. */
export type ReadRequest =
  | {
      readonly op: 'select';
      /** The querier's range, from the whole query's bounds: `Queryable.querier(project, minMs, maxMs)`. */
      readonly bounds: { readonly minMs: number; readonly maxMs: number };
      readonly matchers: readonly LabelMatcher[];
      readonly minMs: number;
      readonly maxMs: number;
    }
  | { readonly op: 'next'; readonly cursor: number }
  /** The engine stopped reading a selector early (an error); no answer is sent. */
  | { readonly op: 'close'; readonly cursor: number };

export interface WireSeries {
  readonly labels: Labels;
  readonly ts: Float64Array;
  readonly vs: Float64Array;
  readonly sts?: Float64Array;
}

export type ReadReply =
  | { readonly cursor: number; readonly series: readonly WireSeries[]; readonly done: boolean }
  | { readonly error: SerializedError };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  /** PromQLParseError's parts, so the API can report the position as Prometheus does. */
  readonly detail?: string;
  readonly position?: Position;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof PromQLParseError) return { name: err.name, message: err.message, detail: err.detail, position: err.position };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/** The typed PromQL error a serialized one was, or a plain Error (an internal error). */
export function rebuildError(e: SerializedError): Error {
  switch (e.name) {
    case 'PromQLParseError':
      return new PromQLParseError(e.detail ?? e.message, e.position ?? { start: 0, end: 0, line: 1, column: 1 });
    case 'PromQLExecutionError':
      return new PromQLExecutionError(e.message);
    case 'PromQLTimeoutError':
      return new PromQLTimeoutError(e.message);
    case 'PromQLTooManySamplesError':
      return new PromQLTooManySamplesError();
    case 'PromQLLimitError':
      return new PromQLLimitError(e.message);
    default:
      return new Error(e.message);
  }
}
