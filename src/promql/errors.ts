/**
 * Typed errors. Each carries Prometheus' API `errorType` so the HTTP layer can map any of them with
 * one lookup instead of instanceof chains.
 */
export type PromQLErrorType = 'bad_data' | 'execution' | 'timeout';

export abstract class PromQLError extends Error {
  abstract readonly errorType: PromQLErrorType;
}

export interface Position {
  /** 0-based offsets into the query text, end exclusive. */
  readonly start: number;
  readonly end: number;
  /** 1-based line and column of `start`, as Prometheus prints them. */
  readonly line: number;
  readonly column: number;
}

export function positionOf(text: string, start: number, end: number = start): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < start && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { start, end, line, column: start - lineStart + 1 };
}

export class PromQLParseError extends PromQLError {
  readonly errorType = 'bad_data' as const;
  /** The message without the position prefix. */
  readonly detail: string;
  constructor(
    detail: string,
    readonly position: Position,
  ) {
    // Prometheus' wording: "1:5: parse error: unexpected end of input".
    super(`${position.line}:${position.column}: parse error: ${detail}`);
    this.name = 'PromQLParseError';
    this.detail = detail;
  }
}

export class PromQLExecutionError extends PromQLError {
  readonly errorType = 'execution' as const;
  constructor(message: string) {
    super(message);
    this.name = 'PromQLExecutionError';
  }
}

export class PromQLTimeoutError extends PromQLError {
  readonly errorType = 'timeout' as const;
  constructor(message = 'query timed out in expression evaluation') {
    super(message);
    this.name = 'PromQLTimeoutError';
  }
}

export class PromQLTooManySamplesError extends PromQLError {
  readonly errorType = 'execution' as const;
  constructor() {
    super('query processing would load too many samples into memory in query execution');
    this.name = 'PromQLTooManySamplesError';
  }
}

/** A query refused before evaluation because it would exceed a configured limit (a 400 in the API). */
export class PromQLLimitError extends PromQLError {
  readonly errorType = 'bad_data' as const;
  constructor(message: string) {
    super(message);
    this.name = 'PromQLLimitError';
  }
}
