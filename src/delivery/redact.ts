/**
 * Redaction of an integration's stored secrets (its auth header values) from text a destination
 * sent back. Destinations echo what they were given in error bodies (verbatim, JSON-escaped,
 * base64, percent-encoded, or a Basic pair decoded), and that text becomes test results,
 * `status.last_error`, database rows and log lines; so every form is replaced here, once, where
 * the answer turns into text (see http.ts).
 */

export const REDACTED = '[REDACTED]';

/**
 * Shorter values are left alone: a header such as `X-Org: 42` is no secret worth garbling every
 * "HTTP 420" or port number for, and a value this short cannot be hidden by redaction anyway.
 */
const MIN_SECRET = 4;
/** The user and password of a Basic pair count on their own from this length (shorter ones are common words). */
const MIN_PART = 6;
/** A base64 run shorter than this matches too much unrelated text to be worth replacing. */
const MIN_BASE64 = 8;

export type Redact = (text: string) => string;

/** Leaves text as it is: for requests that carry no secret. */
export const noRedaction: Redact = (text) => text;

/**
 * A redactor for these secret values. The forms are only worked out when first used: they are
 * needed on failures and partial successes, not on every successful push.
 */
export function redactorFor(values: Iterable<string>): Redact {
  const list = [...values];
  if (list.length === 0) return noRedaction;
  let forms: Form[] | undefined;
  return (text) => {
    if (text === '') return text;
    forms ??= formsOf(list);
    // One alternation of every form of 32 long secrets over a 64 KiB body costs a tenth of a
    // second; a plain substring search for each form's anchor first leaves only the forms that
    // can be there (usually none), so the pattern is small or not needed at all.
    const present = forms.filter((f) => f.anchor === '' || text.includes(f.anchor));
    if (present.length === 0) return text;
    return text.replace(new RegExp([...new Set(present.map((f) => f.source))].join('|'), 'g'), REDACTED);
  };
}

/** Replaces every form of every secret value in `text`. */
export function redactSecrets(text: string, values: Iterable<string>): string {
  return redactorFor(values)(text);
}

/**
 * The secrets themselves: each value, the credentials after an auth scheme (`Bearer x` leaks as
 * `x` just as well), and for `Basic` the decoded pair and its user and password.
 */
export function secretsOf(values: Iterable<string>): string[] {
  const out = new Set<string>();
  const add = (s: string, min = MIN_SECRET) => {
    if (s.length >= min) out.add(s);
  };
  for (const raw of values) {
    const value = raw.trim();
    add(value);
    const scheme = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s+(\S.*)$/.exec(value);
    if (scheme === null) continue;
    const credentials = scheme[2].trim();
    add(credentials);
    if (scheme[1].toLowerCase() !== 'basic' || !/^[A-Za-z0-9+/]+=*$/.test(credentials)) continue;
    const pair = Buffer.from(credentials, 'base64').toString('utf8');
    if (pair.includes('\uFFFD')) continue;
    add(pair);
    const colon = pair.indexOf(':');
    if (colon < 0) continue;
    add(pair.slice(0, colon), MIN_PART);
    add(pair.slice(colon + 1), MIN_PART);
  }
  return [...out];
}

/** Base64 (standard and URL-safe) runs that only the secret's bytes determine. */
export function base64Forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = new Set<string>();
  const whole = bytes.toString('base64').replace(/=+$/, '');
  forms.add(whole);
  // Inside a longer base64 text the secret may start at any byte offset mod 3; at each, the
  // characters whose 6 bits all come from the secret are the same whatever surrounds it.
  for (let k = 0; k < 3; k++) {
    const encoded = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const run = encoded.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6));
    if (run.length >= MIN_BASE64) forms.add(run);
  }
  for (const f of [...forms]) forms.add(f.replace(/\+/g, '-').replace(/\//g, '_'));
  return [...forms].filter((f) => f.length >= MIN_BASE64 || f === whole);
}

const HTML_ENTITIES: Readonly<Record<string, readonly string[]>> = {
  '&': ['&amp;', '&#38;'], '<': ['&lt;', '&#60;'], '>': ['&gt;', '&#62;'], '"': ['&quot;', '&#34;'], "'": ['&#39;', '&#x27;', '&apos;'],
};

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/**
 * One character as a destination may write it: itself, percent-encoded (either hex case, `+`
 * for a space), JSON-escaped or as an HTML entity. So one pattern covers a secret encoded with any
 * mix of these, as URL encoders and JSON writers differ in what they escape. Letters and digits
 * are written as they are by all of them (RFC 3986 unreserved characters are not encoded).
 */
function charPattern(ch: string): string {
  if (/^[A-Za-z0-9]$/.test(ch)) return ch;
  const alternatives = new Set<string>([escapeRegex(ch)]);
  const pct = [...Buffer.from(ch, 'utf8')]
    .map((b) => `%${b.toString(16).padStart(2, '0').replace(/[a-f]/g, (h) => `[${h}${h.toUpperCase()}]`)}`)
    .join('');
  alternatives.add(pct);
  if (ch === ' ') alternatives.add('\\+');
  if (ch === '"' || ch === '\\' || ch === '/') alternatives.add(escapeRegex(`\\${ch}`));
  for (const entity of HTML_ENTITIES[ch] ?? []) alternatives.add(escapeRegex(entity));
  return alternatives.size === 1 ? [...alternatives][0] : `(?:${[...alternatives].join('|')})`;
}

interface Form {
  readonly length: number;
  readonly source: string;
  /** Text every match contains literally ('' when there is none). */
  readonly anchor: string;
}

/** Every form of every secret, longest first so that a whole value wins over its parts. */
function formsOf(values: readonly string[]): Form[] {
  const forms: Form[] = [];
  for (const secret of secretsOf(values)) {
    // Letters and digits match only themselves, so the longest run of them is in every match.
    const anchor = (secret.match(/[A-Za-z0-9]+/g) ?? []).reduce((a, r) => (r.length > a.length ? r : a), '');
    forms.push({ length: secret.length, source: [...secret].map(charPattern).join(''), anchor });
    for (const b of base64Forms(secret)) forms.push({ length: b.length, source: escapeRegex(b), anchor: b });
  }
  return forms.sort((a, b) => b.length - a.length);
}
