/**
 * Outcomes of one outbound attempt, classified once (here) for every sink: retryable (network
 * error, timeout, 408, 429, 5xx) or permanent (every other 4xx, a refused destination).
 */
export type FailureReason =
  | 'dns' | 'refused' | 'tls' | 'timeout' | 'reset' | 'network'
  | 'egress_forbidden' | 'http_4xx' | 'http_5xx' | 'http_429' | 'http_408' | 'auth' | 'not_found' | 'credentials' | 'encode';

export class DeliveryError extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
    readonly retryable: boolean,
    readonly statusCode?: number,
    /** From a Retry-After header, already capped. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Longest Retry-After honoured; a destination asking for more gets this. */
export const MAX_RETRY_AFTER_MS = 60_000;

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A Retry-After header (seconds or an HTTP date) in ms, capped; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, nowMs = Date.now()): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const text = header.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}

/** The error for an HTTP answer that is not 2xx, with words a user can act on. */
export function httpFailure(status: number, url: string, bodySnippet: string, retryAfter?: string): DeliveryError {
  const detail = bodySnippet ? `: ${bodySnippet}` : '';
  if (status === 401 || status === 403) {
    return new DeliveryError('auth', `HTTP ${status} from ${url}: the destination refused the credentials; check the auth headers${detail}`, false, status);
  }
  if (status === 404) return new DeliveryError('not_found', `HTTP 404 from ${url}: check the endpoint's path${detail}`, false, status);
  const retryable = isRetryableStatus(status);
  const reason: FailureReason = status === 429 ? 'http_429' : status === 408 ? 'http_408' : status >= 500 ? 'http_5xx' : 'http_4xx';
  return new DeliveryError(reason, `HTTP ${status} from ${url}${detail}`, retryable, status, retryable ? parseRetryAfter(retryAfter) : undefined);
}
