/**
 * A protobuf writer that writes backwards: from the end of its buffer towards the start.
 *
 * Why backwards: a length-delimited message needs its byte length before its content, and the
 * content of an OTLP request nests six deep (request, ResourceMetrics, ScopeMetrics, Metric,
 * Sum/Histogram, data point). Forward writers either measure everything in a first pass (the
 * OpenTelemetry serializer does) or reserve a guess and move the content when the guess is wrong.
 * Written back to front, a message's content is already there when its length is due, so every
 * length is exact and minimal, nothing is measured twice and nothing moves. The price is that a
 * caller writes the fields of a message in reverse order (last field first) and the elements of a
 * repeated field from the last one to the first, so the bytes come out in the usual order.
 *
 * Positions handed out by `mark()` count from the end of the buffer, so they stay valid when the
 * buffer grows (growth copies the written tail to the end of a larger buffer).
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const TWO_32 = 0x1_0000_0000;

export class ProtoWriter {
  buf: Uint8Array;
  /** First written byte; the output is `buf[pos .. buf.length)`. */
  pos: number;
  private view: DataView;

  constructor(initialSize = 64 * 1024) {
    this.buf = new Uint8Array(Math.max(64, initialSize));
    this.pos = this.buf.length;
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes room for `n` more bytes in front of what is written. */
  ensure(n: number): void {
    if (this.pos >= n) return;
    const used = this.buf.length - this.pos;
    let size = this.buf.length * 2;
    while (size - used < n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(this.pos), size - used);
    this.buf = next;
    this.pos = size - used;
    this.view = new DataView(next.buffer);
  }

  /** Bytes written so far; doubles as a position that survives growth. */
  mark(): number {
    return this.buf.length - this.pos;
  }

  /** Writes the varint length of everything written since `mark` (in front of it). */
  lengthSince(mark: number): void {
    this.varint32(this.buf.length - this.pos - mark);
  }

  /** An unsigned varint below 2^32. */
  varint32(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    if (v < 0x80) {
      buf[--this.pos] = v;
    } else if (v < 0x4000) {
      this.pos -= 2;
      buf[this.pos] = (v & 0x7f) | 0x80;
      buf[this.pos + 1] = v >>> 7;
    } else {
      const n = varint32Size(v);
      let p = (this.pos -= n);
      while (v > 0x7f) {
        buf[p++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      buf[p] = v;
    }
  }

  /** An unsigned varint of a non-negative safe integer (up to 2^53). */
  varint(v: number): void {
    if (v >= 0 && v < TWO_32) {
      this.varint32(v >>> 0);
      return;
    }
    this.varint64(v >>> 0, Math.floor(v / TWO_32) >>> 0);
  }

  /** A varint of the 64-bit two's-complement value `hi * 2^32 + lo` (int64 fields). */
  varint64(lo: number, hi: number): void {
    this.ensure(10);
    const tmp: number[] = [];
    while (hi !== 0 || lo > 0x7f) {
      tmp.push((lo & 0x7f) | 0x80);
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    tmp.push(lo);
    this.pos -= tmp.length;
    for (let i = 0; i < tmp.length; i++) this.buf[this.pos + i] = tmp[i];
  }

  /** A signed integer as int64 (negative numbers take ten bytes, as protobuf says). */
  int64(v: number): void {
    if (v >= 0) {
      this.varint(v);
      return;
    }
    const abs = -v;
    let lo = ~(abs >>> 0) >>> 0;
    let hi = ~(Math.floor(abs / TWO_32) >>> 0) >>> 0;
    lo = (lo + 1) >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
    this.varint64(lo, hi);
  }

  tag(field: number, wire: number): void {
    this.varint32(((field << 3) | wire) >>> 0);
  }

  fixed32(v: number): void {
    this.ensure(4);
    const buf = this.buf;
    const p = (this.pos -= 4);
    buf[p] = v;
    buf[p + 1] = v >>> 8;
    buf[p + 2] = v >>> 16;
    buf[p + 3] = v >>> 24;
  }

  /** A fixed64 given as its two 32-bit halves. */
  fixed64(lo: number, hi: number): void {
    // Written back to front: the high half first lands after the low one (little-endian).
    this.fixed32(hi);
    this.fixed32(lo);
  }

  /** A fixed64 of a non-negative integer up to 2^53 (counts). */
  fixed64Number(v: number): void {
    // A negative count (a delta taken across a reset) would wrap to an absurd uint64.
    if (!(v >= 0)) throw new RangeError(`negative or NaN count: ${v}`);
    this.fixed64(v >>> 0, Math.floor(v / TWO_32) >>> 0);
  }

  double(v: number): void {
    this.ensure(8);
    this.pos -= 8;
    this.view.setFloat64(this.pos, v, true);
  }

  /** Packed repeated double, tag included; an empty list writes nothing. */
  packedDoubles(field: number, values: ArrayLike<number>): void {
    const n = values.length;
    if (n === 0) return;
    this.ensure(n * 8);
    const view = this.view;
    let p = (this.pos -= n * 8);
    for (let i = 0; i < n; i++, p += 8) view.setFloat64(p, values[i], true);
    this.varint32(n * 8);
    this.tag(field, WIRE_LEN);
  }

  /** Packed repeated fixed64 of non-negative integers up to 2^53, tag included. */
  packedFixed64(field: number, values: ArrayLike<number>): void {
    const n = values.length;
    if (n === 0) return;
    this.ensure(n * 8);
    const view = this.view;
    let p = (this.pos -= n * 8);
    for (let i = 0; i < n; i++, p += 8) {
      const v = values[i];
      if (!(v >= 0)) throw new RangeError(`negative or NaN count: ${v}`);
      view.setUint32(p, v >>> 0, true);
      view.setUint32(p + 4, v < TWO_32 ? 0 : Math.floor(v / TWO_32) >>> 0, true);
    }
    this.varint32(n * 8);
    this.tag(field, WIRE_LEN);
  }

  /** A string's UTF-8 bytes preceded by their length (no tag). */
  string(s: string): void {
    const len = s.length;
    let ascii = true;
    for (let i = 0; i < len; i++) {
      if (s.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      this.ensure(len + 5);
      const buf = this.buf;
      const p = (this.pos -= len);
      for (let i = 0; i < len; i++) buf[p + i] = s.charCodeAt(i);
      this.varint32(len);
      return;
    }
    const n = utf8Length(s);
    this.ensure(n + 5);
    this.pos -= n;
    const written = encoder.encodeInto(s, this.buf.subarray(this.pos, this.pos + n)).written;
    if (written !== n) throw new Error('protobuf writer: UTF-8 length mismatch');
    this.varint32(n);
  }

  /** Raw bytes (already encoded), no length. */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    const p = (this.pos -= n);
    if (n <= 64) {
      const buf = this.buf;
      for (let i = 0; i < n; i++) buf[p + i] = bytes[i];
    } else {
      this.buf.set(bytes, p);
    }
  }

  /** Bytes preceded by their length (no tag). */
  bytes(bytes: Uint8Array): void {
    this.raw(bytes);
    this.varint32(bytes.length);
  }

  /**
   * Copies `len` bytes written earlier, found `fromEnd` bytes before the end of the buffer
   * (a `mark()` taken before they were written), in front of the current position. Lets an encoder
   * write a repeated piece (an attribute, a bucket layout) once and copy it afterwards.
   */
  copyWritten(fromEnd: number, len: number): void {
    this.ensure(len);
    const buf = this.buf;
    const src = buf.length - fromEnd;
    // copyWithin (a memmove) beats a byte loop even for attribute-sized copies (measured: the
    // encoder ran 1.5x faster with it than with a loop for copies under 48 bytes).
    buf.copyWithin((this.pos -= len), src, src + len);
  }

  /** The written bytes, as a view of the writer's buffer (no copy). */
  finish(): Uint8Array {
    return this.buf.subarray(this.pos);
  }
}

const encoder = new TextEncoder();

export function varint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** UTF-8 byte length as TextEncoder produces it (a lone surrogate becomes U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * Nanoseconds since the epoch of a millisecond time, as the two 32-bit halves of a uint64.
 * `ms * 1e6` exceeds 2^53 for any current date, so a double product would round; instead the
 * millisecond count is split at 2^32 and each half is multiplied separately: `lo * 1e6` stays
 * below 2^53 and `hi` is at most a few thousand for any date a uint64 of nanoseconds can hold.
 * Fractions of a millisecond are kept to the nanosecond (rounded).
 */
export function nanosFromMs(ms: number): { lo: number; hi: number } {
  if (!(ms >= 0)) throw new RangeError(`time before the epoch or not a number: ${ms}`);
  let whole = Math.floor(ms);
  let sub = Math.round((ms - whole) * 1e6);
  if (sub >= 1e6) {
    whole += 1;
    sub -= 1e6;
  }
  const msLo = whole >>> 0;
  const msHi = Math.floor(whole / TWO_32);
  const low = msLo * 1e6 + sub; // < 2^53
  const carry = Math.floor(low / TWO_32);
  const hi = msHi * 1e6 + carry;
  if (hi >= TWO_32) throw new RangeError(`time beyond the uint64 nanosecond range: ${ms}`);
  return { lo: low >>> 0, hi };
}

/** The same nanosecond count as a decimal string (OTLP/JSON writes fixed64 as strings). */
export function nanosDecimalFromMs(ms: number): string {
  if (!(ms >= 0)) throw new RangeError(`time before the epoch or not a number: ${ms}`);
  let whole = Math.floor(ms);
  let sub = Math.round((ms - whole) * 1e6);
  if (sub >= 1e6) {
    whole += 1;
    sub -= 1e6;
  }
  if (whole === 0) return String(sub);
  // Number#toString switches to exponent form from 1e21; ms that large is beyond uint64 ns anyway.
  if (whole >= 1e21) throw new RangeError(`time beyond the uint64 nanosecond range: ${ms}`);
  const s = String(sub);
  return String(whole) + '000000'.slice(s.length) + s;
}

/** The value of the uint64 `hi * 2^32 + lo` as a decimal string, exact beyond 2^53. */
export function uint64Decimal(lo: number, hi: number): string {
  if (hi === 0) return String(lo >>> 0);
  // Split into base-1e6 digits with exact double arithmetic (every intermediate stays below 2^53).
  const B = 1e6;
  let h = hi >>> 0;
  let l = lo >>> 0;
  const parts: number[] = [];
  while (h !== 0 || l !== 0) {
    const hq = Math.floor(h / B);
    const hr = h - hq * B;
    const cur = hr * TWO_32 + l; // < 1e6 * 2^32 < 2^53
    const lq = Math.floor(cur / B);
    parts.push(cur - lq * B);
    h = hq;
    l = lq;
  }
  let out = String(parts[parts.length - 1]);
  for (let i = parts.length - 2; i >= 0; i--) out += String(parts[i]).padStart(6, '0');
  return out;
}
