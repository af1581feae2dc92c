/**
 * One outbound HTTP request with a deadline, the egress guard on the address actually connected
 * to, and every failure turned into a classified DeliveryError with plain words. This is where a
 * destination's answer becomes text, so it is also where the request's secrets are redacted from
 * that text (redact.ts): every message built from an answer goes through `HttpResponse.redact`.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { DeliveryError, httpFailure } from './errors.js';
import { EgressForbiddenError, guardedLookup, refusedLiteral } from './egress.js';
import { noRedaction, redactorFor, type Redact } from './redact.js';

export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** Removes the request's secret header values, in every form, from text taken from this answer. */
  readonly redact: Redact;
}

export interface PostOptions {
  readonly headers: Readonly<Record<string, string>>;
  /** Sent like `headers`; their values never appear in an error or in `redact`ed text. */
  readonly secretHeaders?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly allowPrivate: boolean;
  readonly signal?: AbortSignal;
}

/** Most of a response body kept (error messages only need the start). */
const MAX_RESPONSE_BYTES = 64 * 1024;

// Thousands of integrations each keep a connection warm between pushes: the default of 256 idle
// sockets would close most of them and reconnect every interval.
const POOL = { keepAlive: true, maxFreeSockets: 4096 };
const agents = {
  guarded: { http: new http.Agent({ ...POOL, lookup: guardedLookup }), https: new https.Agent({ ...POOL, lookup: guardedLookup }) },
  open: { http: new http.Agent(POOL), https: new https.Agent(POOL) },
};

/** POSTs `body`; resolves with any HTTP answer, rejects with a DeliveryError when none came. */
export function post(url: URL, body: Uint8Array | string, opts: PostOptions): Promise<HttpResponse> {
  return request('POST', url, body, opts);
}

/**
 * GETs `url` through the same guard, deadline and redaction as `post()`: for the checks some
 * destinations have instead of an empty export (Datadog's key validation).
 */
export function get(url: URL, opts: PostOptions): Promise<HttpResponse> {
  return request('GET', url, undefined, opts);
}

function request(method: 'GET' | 'POST', url: URL, body: Uint8Array | string | undefined, opts: PostOptions): Promise<HttpResponse> {
  const secure = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // A literal address needs no lookup, so guardedLookup never sees it: it is checked here.
  const refused = opts.allowPrivate || isIP(host) === 0 ? undefined : refusedLiteral(host);
  if (refused !== undefined) return Promise.reject(new DeliveryError('egress_forbidden', refused, false));
  const agent = (opts.allowPrivate ? agents.open : agents.guarded)[secure ? 'https' : 'http'];
  const secrets = opts.secretHeaders ?? {};
  const redact = Object.keys(secrets).length === 0 ? noRedaction : redactorFor(Object.values(secrets));
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: DeliveryError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      reject(redactError(err, redact));
    };
    const req = (secure ? https : http).request(url, {
      method,
      agent,
      headers: body === undefined ? { ...secrets, ...opts.headers } : { ...secrets, ...opts.headers, 'content-length': Buffer.byteLength(body) },
    });
    const timer = setTimeout(() => fail(new DeliveryError('timeout', `no answer from ${url.origin} within ${opts.timeoutMs} ms (timeout)`, true)), opts.timeoutMs);
    const onAbort = () => fail(new DeliveryError('network', 'the request was cancelled', true));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => fail(networkFailure(err, url)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_RESPONSE_BYTES) chunks.push(c);
        size += c.length;
      });
      res.on('error', (err) => fail(networkFailure(err, url)));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), redact });
      });
    });
    if (body === undefined) req.end();
    else req.end(body);
  });
}

/** Throws the classified error unless the answer is 2xx. */
export function expectSuccess(res: HttpResponse, url: URL): void {
  if (res.status >= 200 && res.status < 300) return;
  // The whole kept body is redacted before it is cut, so a secret at the cut cannot leave a prefix.
  const snippet = res.redact(res.body.toString('utf8')).replace(/\s+/g, ' ').trim().slice(0, 300);
  const retryAfter = res.headers['retry-after'];
  throw httpFailure(res.status, url.toString(), snippet, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
}

/** The same error with the secrets taken out of its message (Node's own messages may quote what it was given). */
function redactError(err: DeliveryError, redact: Redact): DeliveryError {
  const message = redact(err.message);
  return message === err.message ? err : new DeliveryError(err.reason, message, err.retryable, err.statusCode, err.retryAfterMs);
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|EPROTO$|HOSTNAME_MISMATCH|ERR_OSSL)/;

/** Plain words for a failure below HTTP. */
export function networkFailure(err: Error, url: URL): DeliveryError {
  if (err instanceof EgressForbiddenError) return new DeliveryError('egress_forbidden', err.message, false);
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const host = url.host;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' || code === 'EAI_FAIL') {
    return new DeliveryError('dns', `DNS lookup for ${url.hostname} failed (${code}): check the host name`, true);
  }
  if (code === 'ECONNREFUSED') return new DeliveryError('refused', `connection to ${host} refused: nothing is listening there`, true);
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return new DeliveryError('timeout', `connection to ${host} timed out`, true);
  if (TLS_CODES.test(code) || /certificate|tls|ssl/i.test(err.message)) {
    return new DeliveryError('tls', `TLS problem with ${host}: ${err.message}; check the certificate, or use http:// for a plain-text receiver`, true);
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'HPE_INVALID_CONSTANT') {
    return new DeliveryError('reset', `connection to ${host} was reset (${code})`, true);
  }
  return new DeliveryError('network', `request to ${host} failed: ${err.message}`, true);
}
