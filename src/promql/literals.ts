/**
 * Literal syntax shared by the parser and the conformance runner: Go durations, PromQL numbers
 * and Go string literals.
 */
const DURATION_UNITS: Record<string, number> = {
  y: 365 * 24 * 3600_000, w: 7 * 24 * 3600_000, d: 24 * 3600_000, h: 3600_000, m: 60_000, s: 1000, ms: 1,
};
const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_ORDER = ['y', 'w', 'd', 'h', 'm', 's', 'ms'];

/** Go's model.ParseDuration: unit parts from largest to smallest, or a bare 0. */
export function parseDurationMs(text: string): number | null {
  if (text === '0') return 0;
  const m = DURATION_RE.exec(text);
  if (!m || text === '') return null;
  let total = 0;
  for (let i = 0; i < DURATION_ORDER.length; i++) {
    const part = m[i + 1];
    if (part !== undefined) total += Number(part) * DURATION_UNITS[DURATION_ORDER[i]];
  }
  return total;
}

/** A PromQL number literal: decimal, hex, Inf/NaN, or a duration meaning seconds. */
export function parseNumberLiteral(text: string): number | null {
  if (text.startsWith('-') || text.startsWith('+')) {
    const v = parseNumberLiteral(text.slice(1).trimStart());
    return v === null ? null : text[0] === '-' ? -v : v;
  }
  const t = text.toLowerCase();
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (t === 'nan') return NaN;
  if (/^0x[0-9a-f]+$/.test(t)) return parseInt(t.slice(2), 16);
  if (/^[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?$/.test(t) || /^[0-9]+\.[0-9]*(e[+-]?[0-9]+)?$/.test(t)) return Number(t);
  const d = parseDurationMs(text);
  return d === null ? null : d / 1000;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"',
};

/**
 * Go's strconv.Unquote for "...", '...' and `...` literals. Go strings are bytes: runs of \x and
 * octal escapes are decoded as UTF-8, and bytes that are not valid UTF-8 become lone surrogates
 * (U+DC80..U+DCFF), so that validity checks on label names can still see them.
 */
export function unquoteString(raw: string): string {
  const q = raw[0];
  if (q === '`') return raw.slice(1, -1);
  const body = raw.slice(1, -1);
  let out = '';
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length === 0) return;
    try {
      out += new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
    } catch {
      for (const b of bytes) out += b < 0x80 ? String.fromCharCode(b) : String.fromCharCode(0xdc00 + b);
    }
    bytes = [];
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      flush();
      out += c;
      continue;
    }
    const e = body[++i];
    if (e === 'x') {
      bytes.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
      continue;
    }
    if (e >= '0' && e <= '7') {
      bytes.push(parseInt(body.slice(i, i + 3), 8));
      i += 2;
      continue;
    }
    flush();
    if (e in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[e];
    } else if (e === 'u') {
      out += String.fromCodePoint(parseInt(body.slice(i + 1, i + 5), 16));
      i += 4;
    } else if (e === 'U') {
      out += String.fromCodePoint(parseInt(body.slice(i + 1, i + 9), 16));
      i += 8;
    } else {
      throw new Error(`invalid syntax`);
    }
  }
  flush();
  return out;
}

/** Whether a string is valid UTF-8 in Go's sense (no lone surrogates here). */
export function isWellFormedUtf8(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

