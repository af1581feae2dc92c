/**
 * The one error the SDK throws: the API's own `code` and message (REST errors' `error.code`, the
 * query API's `errorType`), the HTTP status, and `retryAfterS` where the server said when to come
 * back. The request's token never appears in it: messages are the server's, which never echoes a
 * secret, or the SDK's own.
 */
export class MeterwayError extends Error {
  override readonly name = 'MeterwayError';
  constructor(
    /** The HTTP status; 0 when no answer came (network, timeout). */
    readonly status: number,
    /** Stable and machine-readable: `invalid_token`, `validation_error`, `bad_data`, `rate_limited`, `network`, ... */
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Seconds, from the answer's Retry-After. */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

/** The error an API answer stands for, from its body in either of the gateway's two error shapes. */
export function errorFromAnswer(status: number, body: unknown, retryAfter: string | null): MeterwayError {
  const retryAfterS = retryAfter === null || !/^\d+$/.test(retryAfter.trim()) ? undefined : Number(retryAfter);
  const b = body as { error?: unknown; errorType?: unknown } | undefined;
  if (b !== undefined && b !== null && typeof b.error === 'object' && b.error !== null) {
    const e = b.error as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof e.code === 'string') return new MeterwayError(status, e.code, String(e.message ?? e.code), e.details, retryAfterS);
  }
  if (b !== undefined && b !== null && typeof b.errorType === 'string') {
    return new MeterwayError(status, b.errorType, String(b.error ?? b.errorType), undefined, retryAfterS);
  }
  const text = typeof body === 'string' && body.trim() !== '' ? body.trim().split('\n')[0] : `HTTP ${status}`;
  return new MeterwayError(status, status === 429 ? 'rate_limited' : 'http_error', text, undefined, retryAfterS);
}
