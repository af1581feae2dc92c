/**
 * The `partial_success` of an OTLP export response. The vendored schema (OTLP v0.19) predates the
 * field, so a decoder generated from it would drop it; this reads it by hand:
 *
 *   Export{Metrics,Logs}ServiceResponse { Export…PartialSuccess partial_success = 1; }
 *   Export…PartialSuccess { int64 rejected_data_points | rejected_log_records = 1; string error_message = 2; }
 *
 * A success body is informational: anything unreadable yields `undefined` rather than an error, so
 * a receiver's odd body never turns a delivered push into a failure.
 */

export interface PartialSuccess {
  /** Data points (or log records) the receiver rejected; 0 with a message is a warning. */
  readonly rejected: number;
  readonly message: string;
}

const TWO_32 = 0x1_0000_0000;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Decodes a response body. `contentType` picks the encoding; without one (or an unknown one) a
 * body whose first non-blank byte is `{` is read as JSON, anything else as protobuf (a protobuf
 * response cannot start with `{`: that would be field 15 with a group wire type).
 * Returns `undefined` when there is no partial success, or it is empty (nothing rejected, no
 * message), or the body cannot be read.
 */
export function decodePartialSuccess(body: Uint8Array, contentType?: string): PartialSuccess | undefined {
  if (body.length === 0) return undefined;
  const ct = (contentType ?? '').toLowerCase();
  let json: boolean;
  if (ct.includes('json')) json = true;
  else if (ct.includes('protobuf')) json = false;
  else json = firstNonBlank(body) === 0x7b;
  try {
    const found = json ? fromJson(utf8.decode(body)) : fromProtobuf(body);
    if (found === undefined || (found.rejected === 0 && found.message === '')) return undefined;
    return found;
  } catch {
    return undefined;
  }
}

function firstNonBlank(b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c;
  }
  return -1;
}

function fromJson(text: string): PartialSuccess | undefined {
  const doc: unknown = JSON.parse(text);
  if (typeof doc !== 'object' || doc === null) return undefined;
  const d = doc as Record<string, unknown>;
  // proto3 JSON parsers accept the lowerCamelCase name and the proto field name alike.
  const ps = d.partialSuccess ?? d.partial_success;
  if (typeof ps !== 'object' || ps === null) return undefined;
  const p = ps as Record<string, unknown>;
  const rejectedRaw = p.rejectedDataPoints ?? p.rejected_data_points ?? p.rejectedLogRecords ?? p.rejected_log_records ?? p.rejectedSpans ?? p.rejected_spans;
  const msgRaw = p.errorMessage ?? p.error_message;
  let rejected = 0;
  if (typeof rejectedRaw === 'number') rejected = rejectedRaw;
  else if (typeof rejectedRaw === 'string' && /^-?\d+$/.test(rejectedRaw.trim())) rejected = Number(rejectedRaw);
  return { rejected: Number.isFinite(rejected) ? rejected : 0, message: typeof msgRaw === 'string' ? msgRaw : '' };
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end: number = buf.length) {}

  /** A varint as [lo, hi] 32-bit halves. */
  varint(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      const bits = b & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    throw new Error('varint too long');
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        const [len] = this.varint();
        this.pos += len;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) throw new Error('truncated field');
  }

  lengthDelimited(): [number, number] {
    const [len] = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new Error('truncated message');
    this.pos += len;
    return [start, start + len];
  }
}

/** int64 two's complement halves as a number (exact up to 2^53 in magnitude). */
function int64ToNumber(lo: number, hi: number): number {
  if (hi & 0x80000000) {
    const nlo = (~lo + 1) >>> 0;
    const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
    return -(nhi * TWO_32 + nlo);
  }
  return hi * TWO_32 + lo;
}

function fromProtobuf(buf: Uint8Array): PartialSuccess | undefined {
  const r = new Reader(buf);
  let found: PartialSuccess | undefined;
  while (r.pos < r.end) {
    const [key] = r.varint();
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 1 && wire === 2) {
      const [start, end] = r.lengthDelimited();
      // A repeated occurrence of a message field merges into the first (protobuf rules).
      found = readPartialSuccess(new Reader(buf.subarray(0, end), end), start, found);
    } else {
      r.skip(wire);
    }
  }
  return found;
}

function readPartialSuccess(r: Reader, start: number, prev: PartialSuccess | undefined): PartialSuccess {
  r.pos = start;
  let rejected = prev?.rejected ?? 0;
  let message = prev?.message ?? '';
  while (r.pos < r.end) {
    const [key] = r.varint();
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 1 && wire === 0) {
      const [lo, hi] = r.varint();
      rejected = int64ToNumber(lo, hi);
    } else if (field === 2 && wire === 2) {
      const [s, e] = r.lengthDelimited();
      message = utf8.decode(r.buf.subarray(s, e));
    } else {
      r.skip(wire);
    }
  }
  return { rejected, message };
}
