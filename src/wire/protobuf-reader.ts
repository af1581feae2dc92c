/**
 * A protobuf reader for decoders written against a schema by hand (the OTLP receiver; remote
 * write next). Hand-written rather than generated: the decoder reads straight into the shape
 * its caller needs, with no intermediate message objects, and every malformed input becomes a
 * ProtoError that says where, never an exception from deep inside a library.
 *
 * 64-bit integers are read as JavaScript numbers: exact to 2^53, which covers every count a
 * series can hold exactly anyway, and nanosecond timestamps to well under a microsecond.
 */
import { WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './protobuf-writer.js';

export class ProtoError extends Error {}

const TWO_32 = 0x1_0000_0000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class ProtoReader {
  pos: number;
  private readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
    // Sub-readers share their parent's view: a DataView per nested message was a third of decoding.
    view?: DataView,
  ) {
    this.pos = start;
    this.view = view ?? new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /**
   * Bytes [start, end) as a string of one character per byte: a cheap, exact key for a run of
   * encoded fields (the same bytes give the same string), not text.
   */
  bytesKey(start: number, end: number): string {
    this.asBuffer ??= Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this.asBuffer.toString('latin1', start, end);
  }

  private asBuffer: Buffer | undefined;

  more(): boolean {
    return this.pos < this.end;
  }

  /** The next field's tag: `field << 3 | wire type`. */
  tag(): number {
    const t = this.varint();
    if (t >>> 3 === 0) throw new ProtoError(`field number 0 at byte ${this.pos}`);
    return t;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError('truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new ProtoError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** A varint as a signed int64 (two's complement in 64 bits). */
  /**
   * A varint as a signed int64 (two's complement in 64 bits), read in 32-bit halves: summed as
   * one double, -1 (2^64 - 1) would round to 2^64 and come out as 0.
   */
  int64(): number {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.end) throw new ProtoError('truncated varint');
      const b = this.buf[this.pos++];
      const bits = b & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if (b < 0x80) {
        lo >>>= 0;
        if ((hi & 0x80000000) === 0) return (hi >>> 0) * TWO_32 + lo;
        const nlo = (~lo + 1) >>> 0;
        const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
        return -(nhi * TWO_32 + nlo);
      }
    }
    throw new ProtoError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new ProtoError(`truncated: ${n} bytes wanted at byte ${this.pos}, ${this.end - this.pos} left`);
  }

  fixed64(): number {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }

  /**
   * A fixed64 of nanoseconds as whole milliseconds, truncated as Prometheus does. Exact: the
   * nanoseconds of today's timestamps pass 2^53, so dividing their double would come out a
   * fraction of a millisecond off (…057.9998 for …058).
   */
  fixed64NanosAsMillis(): number {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    // hi * 2^32 = hi * 4294 * 1e6 + hi * 967296, each part below 2^53.
    return hi * 4294 + Math.floor((hi * 967_296 + lo) / 1e6);
  }

  sfixed64(): number {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getInt32(this.pos + 4, true);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }

  double(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /**
   * Enters a length-delimited field: returns where its content ends, the position at its start.
   * The caller reads fields while `pos < end`, then calls `leave(end)`; no reader is allocated,
   * which matters with thousands of nested messages per request.
   */
  enter(): number {
    const len = this.varint();
    this.need(len);
    return this.pos + len;
  }

  /** Checks that the content of a field entered with enter() ended exactly at `end`. */
  leave(end: number): void {
    if (this.pos !== end) throw new ProtoError(`a field runs past the end of its message at byte ${end}`);
  }

  /** A reader over bytes [start, end) of the same buffer, for reading a part again later. */
  at(start: number, end: number): ProtoReader {
    const r = new ProtoReader(this.buf, start, end, this.view);
    r.asBuffer = this.asBuffer;
    return r;
  }

  string(): string {
    const len = this.varint();
    this.need(len);
    const start = this.pos;
    this.pos += len;
    // Names and label values are short and nearly always ASCII: built directly, they skip the
    // decoder's per-call cost; anything else is validated as UTF-8.
    if (len <= 64) {
      const buf = this.buf;
      let out = '';
      let i = start;
      for (; i < start + len; i++) {
        const c = buf[i];
        if (c >= 0x80) break;
        out += String.fromCharCode(c);
      }
      if (i === start + len) return out;
    }
    try {
      return utf8.decode(this.buf.subarray(start, start + len));
    } catch {
      throw new ProtoError(`a string field at byte ${start} is not valid UTF-8`);
    }
  }

  bytes(): Uint8Array {
    const len = this.varint();
    this.need(len);
    const start = this.pos;
    this.pos += len;
    return this.buf.subarray(start, start + len);
  }

  /** A repeated fixed64 (or double) field, packed or not, appended to `out`. */
  repeated64(wire: number, read: (r: ProtoReader) => number, out: number[]): void {
    if (wire === WIRE_FIXED64) {
      out.push(read(this));
      return;
    }
    if (wire !== WIRE_LEN) throw new ProtoError(`wire type ${wire} for a repeated 64-bit field`);
    const end = this.enter();
    if ((end - this.pos) % 8 !== 0) throw new ProtoError('a packed 64-bit field is not a multiple of 8 bytes');
    while (this.pos < end) out.push(read(this));
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.need(8);
        this.pos += 8;
        return;
      case WIRE_LEN: {
        const len = this.varint();
        this.need(len);
        this.pos += len;
        return;
      }
      case WIRE_FIXED32:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw new ProtoError(`wire type ${wire} at byte ${this.pos} (groups and unknown wire types are not protobuf 3)`);
    }
  }
}
