/**
 * Bit streams for chunk encoding. Writes and reads take at most 24 bits at a time so the pending
 * bits plus the new ones stay within a 32-bit integer: JavaScript's bit operators are 32-bit, and
 * Number arithmetic on wider accumulators would be slower than two calls.
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

export class BitReader {
  private pos: number;
  private acc = 0;
  private bits = 0;

  constructor(
    private readonly buf: Uint8Array,
    offset = 0,
  ) {
    this.pos = offset;
  }

  /** Reads `n` bits (n ≤ 24); zeros past the end, which a well-formed chunk never asks for. */
  read(n: number): number {
    while (this.bits < n) {
      const b = this.pos < this.buf.length ? this.buf[this.pos] : 0;
      this.pos++;
      this.acc = (this.acc << 8) | b;
      this.bits += 8;
    }
    this.bits -= n;
    const v = (this.acc >>> this.bits) & ((1 << n) - 1);
    this.acc &= (1 << this.bits) - 1;
    return v;
  }

  read32(n: number): number {
    if (n > 24) {
      const hi = this.read(n - 16);
      return ((hi << 16) | this.read(16)) >>> 0;
    }
    return this.read(n);
  }

  readBig(): number {
    const hi = this.read(21);
    return hi * 4294967296 + this.read32(32);
  }

  bit(): number {
    return this.read(1);
  }
}
