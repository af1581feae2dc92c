/**
 * Bit streams for chunk encoding. Writes take at most 24 bits at a time so the pending bits plus
 * the new ones stay within a 32-bit integer: JavaScript's bit operators are 32-bit, and Number
 * arithmetic on wider accumulators would be slower than two calls. Reads take up to 32 bits from
 * a 5-byte window.
 */

export class BitWriter {
  private buf: Uint8Array;
  private pos = 0;
  private acc = 0;
  private bits = 0;

  constructor(initialBytes = 64) {
    this.buf = new Uint8Array(initialBytes);
  }

  /** Appends the low `n` bits of `value` (n ≤ 24), most significant first. */
  write(value: number, n: number): void {
    this.acc = (this.acc << n) | (value & ((1 << n) - 1));
    this.bits += n;
    while (this.bits >= 8) {
      this.bits -= 8;
      if (this.pos === this.buf.length) this.grow();
      this.buf[this.pos++] = (this.acc >>> this.bits) & 0xff;
    }
    this.acc &= (1 << this.bits) - 1;
  }

  /** Appends the low `n` bits (n ≤ 32) of an unsigned 32-bit value. */
  write32(value: number, n: number): void {
    if (n > 24) {
      this.write(value >>> 16, n - 16);
      this.write(value & 0xffff, 16);
    } else {
      this.write(value, n);
    }
  }

  /** Appends a non-negative integer below 2^53 in 53 bits. */
  writeBig(x: number): void {
    const hi = Math.floor(x / 4294967296);
    this.write(hi, 21);
    this.write32(x >>> 0, 32);
  }

  bit(b: number): void {
    this.write(b, 1);
  }

  /** The written bytes, the last one zero-padded. */
  finish(): Uint8Array {
    if (this.bits > 0) {
      if (this.pos === this.buf.length) this.grow();
      this.buf[this.pos++] = (this.acc << (8 - this.bits)) & 0xff;
      this.acc = 0;
      this.bits = 0;
    }
    return this.buf.subarray(0, this.pos);
  }

  private grow(): void {
    const next = new Uint8Array(this.buf.length * 2);
    next.set(this.buf);
    this.buf = next;
  }
}

/**
 * The `n` bits (1 ≤ n ≤ 32) at bit position `pos` of a reader's padded bytes, as an unsigned
 * integer. A pure function, so decoders' inner loops can keep the position in a local variable.
 */
export function peekBits(s: Uint8Array, pos: number, n: number): number {
  const i = pos >>> 3;
  const o = pos & 7;
  const w = (s[i] << 24) | (s[i + 1] << 16) | (s[i + 2] << 8) | s[i + 3];
  if (o + n <= 32) return (w << o) >>> (32 - n);
  return ((w << o) | (s[i + 4] >>> (8 - o))) >>> (32 - n);
}

/** Zero bytes after a reader's copy of the chunk, so a 5-byte window never leaves the array. */
const PAD = 8;
let scratch = new Uint8Array(4096);

/**
 * Reads from a private, zero-padded copy of the bytes: every read takes the 5 bytes around its
 * position at once, with no bounds checks and no carried state but the bit position. Chunks are a
 * few hundred bytes, so the copy costs less than the branches it saves. One reader at a time: the
 * copy is shared, so a new reader invalidates the previous one.
 */
export class BitReader {
  private pos: number;
  private readonly s: Uint8Array;

  /** The padded copy, for a decoder's inner loop that reads it directly from `bitPos` on. */
  get bytes(): Uint8Array {
    return this.s;
  }

  get bitPos(): number {
    return this.pos;
  }

  set bitPos(pos: number) {
    this.pos = pos;
  }

  constructor(buf: Uint8Array, offset = 0) {
    if (scratch.length < buf.length + PAD) scratch = new Uint8Array(2 * (buf.length + PAD));
    scratch.set(buf);
    scratch.fill(0, buf.length, buf.length + PAD);
    this.s = scratch;
    this.pos = offset * 8;
  }

  /** Reads `n` bits (0 ≤ n ≤ 32) as an unsigned integer; zeros past the end. */
  read(n: number): number {
    if (n === 0) return 0;
    const v = peekBits(this.s, this.pos, n);
    this.pos += n;
    return v;
  }

  /** Same as read: kept for the writer's symmetry (write32). */
  read32(n: number): number {
    return this.read(n);
  }

  readBig(): number {
    const hi = this.read(21);
    return hi * 4294967296 + this.read(32);
  }

  bit(): number {
    return this.read(1);
  }
}
