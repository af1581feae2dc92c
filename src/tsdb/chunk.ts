/**
 * Chunk encoding: Gorilla's delta-of-delta timestamps, and for values whichever of two encodings
 * is smaller for the chunk:
 * - XOR (Gorilla): each value XORed with the previous one, only the meaningful bits written;
 *   exact for every float64 bit pattern (NaN payloads such as the staleness marker, -0, ±Inf).
 * - Decimal: when every value is an integer divided by 10^k (k ≤ 9) that divides back to the very
 *   same float, the integers are stored as deltas or deltas of deltas. Counters and gauges with a
 *   few significant digits (0.73, 41.5) cost a few bits this way where XOR spends 40 or more,
 *   because decimal fractions have long binary mantissas. VictoriaMetrics makes the same move.
 *
 * Samples may come in any order (out-of-order buffers are encoded as written); timestamps must be
 * integers with |t| ≤ 2^50 ms so every delta of deltas stays exact in a double.
 *
 * Decimal integers are written as deltas or deltas of deltas in a prefix code, or as a frame of
 * reference (every delta minus the smallest, divided by their common divisor, in a fixed bit
 * width): the latter suits noisy counters, histogram buckets and byte gauges in whole MiB.
 *
 * Header integers are written as a 6-bit length and that many bits. Layout: byte 0 = value encoding (1 XOR, 2 decimal delta, 3 decimal delta-of-delta, 4 decimal
 * frame of reference) plus 0x80 when timestamps lie on an exact grid; then a bit stream: count,
 * first timestamp (zigzag), [grid: step], [decimal: scale (4 bits), first integer (zigzag),
 * [frame: smallest delta (zigzag), divisor, width (6 bits)]], [XOR: first value (64 bits)], then per further sample its timestamp delta of delta (unless on a grid) and its value.
 */
import { BitReader, BitWriter, peekBits } from './bits.js';

const ENC_XOR = 1;
const ENC_DEC_DELTA = 2;
const ENC_DEC_DOD = 3;
const ENC_DEC_FOR = 4;
/** Flag in byte 0: timestamps on an exact grid, stored as first timestamp and step only. */
const REGULAR_TS = 0x80;
/** Flag in byte 0: timestamp deltas as a frame of reference (jittered scrapes: a few bits each). */
const FRAME_TS = 0x40;

const MAX_ABS_INT = 2 ** 50;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
// Little-endian is what every platform Node runs on uses; the word order below depends on it.
const LO = 0;
const HI = 1;

function zigzag(x: number): number {
  return x >= 0 ? x * 2 : -x * 2 - 1;
}

function unzigzag(z: number): number {
  // z / 2 rather than z >>> 1: z may exceed 32 bits.
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/** Bits a signed integer takes in the bucket code below. */
function bucketBits(x: number): number {
  const z = zigzag(x);
  if (z === 0) return 1;
  if (z < 128) return 9;
  if (z < 4096) return 15;
  if (z < 131072) return 21;
  if (z < 16777216) return 29;
  if (z < 4294967296) return 38;
  return 59;
}

function writeBucket(w: BitWriter, x: number): void {
  const z = zigzag(x);
  if (z === 0) w.write(0, 1);
  else if (z < 128) w.write((0b10 << 7) | z, 9);
  else if (z < 4096) w.write((0b110 << 12) | z, 15);
  else if (z < 131072) w.write((0b1110 << 17) | z, 21);
  else if (z < 16777216) {
    w.write(0b11110, 5);
    w.write(z, 24);
  } else if (z < 4294967296) {
    w.write(0b111110, 6);
    w.write32(z, 32);
  } else {
    w.write(0b111111, 6);
    w.writeBig(z);
  }
}

function readBucket(r: BitReader): number {
  if (r.read(1) === 0) return 0;
  if (r.read(1) === 0) return unzigzag(r.read(7));
  if (r.read(1) === 0) return unzigzag(r.read(12));
  if (r.read(1) === 0) return unzigzag(r.read(17));
  if (r.read(1) === 0) return unzigzag(r.read(24));
  if (r.read(1) === 0) return unzigzag(r.read32(32));
  return unzigzag(r.readBig());
}

/** A non-negative integer below 2^53 as its bit length (6 bits) and its bits: headers stay short. */
function writeUVar(w: BitWriter, x: number): void {
  const n = bitLength(x);
  w.write(n, 6);
  if (n > 32) {
    w.write32(Math.floor(x / 4294967296), n - 32);
    w.write32(x >>> 0, 32);
  } else if (n > 0) {
    w.write32(x, n);
  }
}

function readUVar(r: BitReader): number {
  const n = r.read(6);
  if (n > 32) return r.read32(n - 32) * 4294967296 + r.read32(32);
  return n > 0 ? r.read32(n) : 0;
}

/** Whether `t` can be stored: an integer within ±2^50 ms (about ±35,000 years). */
export function validTimestamp(t: number): boolean {
  return Number.isInteger(t) && t <= MAX_ABS_INT && t >= -MAX_ABS_INT;
}

/** The smallest k for which every value is an exact integer / 10^k, or -1. */
function decimalScale(vs: ArrayLike<number>, n: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) {
    const v = vs[i];
    if (v === 0 && 1 / v < 0) return -1; // -0 would come back as +0
    for (;;) {
      const p = POW10[k];
      const m = Math.round(v * p);
      if (m / p === v && Math.abs(m) <= MAX_ABS_INT) break;
      if (++k >= POW10.length) return -1;
    }
  }
  return k;
}

function dodCost(ms: ArrayLike<number>, n: number, dod: boolean): number {
  let bits = 0;
  let prevDelta = 0;
  for (let i = 1; i < n; i++) {
    const d = ms[i] - ms[i - 1];
    bits += bucketBits(dod ? d - prevDelta : d);
    prevDelta = d;
  }
  return bits;
}

function xorCost(vs: ArrayLike<number>, n: number): number {
  // An upper-bound-ish estimate is enough to choose: the real encoder reuses windows.
  let bits = 0;
  f64[0] = vs[0];
  let ph = u32[HI];
  let pl = u32[LO];
  for (let i = 1; i < n; i++) {
    f64[0] = vs[i];
    const h = u32[HI];
    const l = u32[LO];
    const xh = (h ^ ph) >>> 0;
    const xl = (l ^ pl) >>> 0;
    ph = h;
    pl = l;
    if (xh === 0 && xl === 0) {
      bits += 1;
      continue;
    }
    const lz = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    const tz = xl !== 0 ? 31 - Math.clz32(xl & -xl) : 32 + 31 - Math.clz32(xh & -xh);
    bits += 2 + 64 - lz - tz;
  }
  return bits;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const r = a % b;
    a = b;
    b = r;
  }
  return a;
}

/** The smallest w (at most 53) with x < 2^w: bits of an integer up to 2^53. */
export function bitLength(x: number): number {
  // With clz32 rather than a loop of powers: every chunk written asks it for its timestamps, and
  // the loop was a fifth of the store's sampling time (41 powers for a millisecond timestamp).
  if (!(x >= 1)) return 0;
  if (x >= 2 ** 53) return 53;
  if (x < 2 ** 32) return 32 - Math.clz32(x);
  return 64 - Math.clz32(Math.floor(x / 2 ** 32));
}

/** Frame of reference for the integer deltas: smallest delta, common divisor, bit width. */
interface Frame {
  min: number;
  g: number;
  width: number;
}

function frameOf(ms: ArrayLike<number>, n: number): Frame {
  let min = Infinity;
  for (let i = 1; i < n; i++) {
    const d = ms[i] - ms[i - 1];
    if (d < min) min = d;
  }
  let g = 0;
  let max = 0;
  for (let i = 1; i < n; i++) {
    const e = ms[i] - ms[i - 1] - min;
    if (e > max) max = e;
    if (e !== 0) g = g === 0 ? e : gcd(g, e);
  }
  if (g === 0) g = 1;
  return { min: n > 1 ? min : 0, g, width: bitLength(max / g) };
}

/** Encodes `n` samples (timestamps in ms, values as float64). */
export function encodeChunk(ts: ArrayLike<number>, vs: ArrayLike<number>, n: number): Uint8Array {
  // Timestamps on an exact grid (the sampler aligns them) cost nothing per sample.
  let regular = n >= 2;
  const step = n >= 2 ? ts[1] - ts[0] : 0;
  for (let i = 2; i < n && regular; i++) regular = ts[i] - ts[i - 1] === step;
  let tsFrame: Frame | undefined;
  if (!regular && n > 2) {
    const f = frameOf(ts, n);
    if (2 * 6 + bitLength(zigzag(f.min)) + bitLength(f.g) + 6 + (n - 1) * f.width < dodCost(ts, n, true)) tsFrame = f;
  }
  const k = n > 0 ? decimalScale(vs, n) : -1;
  let enc = ENC_XOR;
  let ms: Float64Array | undefined;
  let frame: Frame | undefined;
  if (k >= 0) {
    const p = POW10[k];
    ms = new Float64Array(n);
    for (let i = 0; i < n; i++) ms[i] = Math.round(vs[i] * p);
    frame = frameOf(ms, n);
    const costs: Array<[number, number]> = [
      [ENC_DEC_DELTA, dodCost(ms, n, false)],
      [ENC_DEC_DOD, dodCost(ms, n, true)],
      [ENC_DEC_FOR, 2 * 6 + bitLength(zigzag(frame.min)) + bitLength(frame.g) + 6 + (n - 1) * frame.width],
    ];
    let best = costs[0];
    for (const c of costs) if (c[1] < best[1]) best = c;
    enc = best[0];
    // The XOR estimate is a lower bound (window changes cost 11 bits more): when it is not
    // clearly worse, encode both ways and keep the smaller.
    if (xorCost(vs, n) + 64 <= best[1] + 57) {
      const dec = encodeAs(enc, ts, vs, n, regular, step, tsFrame, k, ms, frame);
      const xor = encodeAs(ENC_XOR, ts, vs, n, regular, step, tsFrame, k, ms, frame);
      return xor.length < dec.length ? xor : dec;
    }
  }
  return encodeAs(enc, ts, vs, n, regular, step, tsFrame, k, ms, frame);
}

function writeFrame(w: BitWriter, f: Frame): void {
  writeUVar(w, zigzag(f.min));
  writeUVar(w, f.g);
  w.write(f.width, 6);
}

function readFrame(r: BitReader): Frame {
  const min = unzigzag(readUVar(r));
  const g = readUVar(r);
  return { min, g, width: r.read(6) };
}

/** One delta in a frame of reference. */
function writeFramed(w: BitWriter, f: Frame, d: number): void {
  const q = (d - f.min) / f.g;
  if (f.width > 32) {
    w.write32(Math.floor(q / 4294967296), f.width - 32);
    w.write32(q >>> 0, 32);
  } else if (f.width > 0) {
    w.write32(q, f.width);
  }
}

function readFramed(r: BitReader, f: Frame): number {
  let q = 0;
  if (f.width > 32) q = r.read32(f.width - 32) * 4294967296 + r.read32(32);
  else if (f.width > 0) q = r.read32(f.width);
  return f.min + q * f.g;
}

/** The timestamp part of sample i ≥ 1: nothing on a grid, else framed delta or delta of delta. */
function writeTs(w: BitWriter, ts: ArrayLike<number>, i: number, regular: boolean, tsFrame: Frame | undefined): void {
  if (regular) return;
  const dt = ts[i] - ts[i - 1];
  if (tsFrame !== undefined) writeFramed(w, tsFrame, dt);
  else writeBucket(w, i === 1 ? dt : dt - (ts[i - 1] - ts[i - 2]));
}

function encodeAs(enc: number, ts: ArrayLike<number>, vs: ArrayLike<number>, n: number, regular: boolean, step: number, tsFrame: Frame | undefined, k: number, ms: Float64Array | undefined, frame: Frame | undefined): Uint8Array {
  const w = new BitWriter(16 + n * 2);
  w.write(enc | (regular ? REGULAR_TS : 0) | (tsFrame !== undefined ? FRAME_TS : 0), 8);
  writeUVar(w, n);
  if (n === 0) return w.finish().slice();
  writeUVar(w, zigzag(ts[0]));
  if (regular) writeUVar(w, zigzag(step));
  if (tsFrame !== undefined) writeFrame(w, tsFrame);
  if (enc === ENC_XOR) {
    writeXor(w, ts, vs, n, regular, tsFrame);
    return w.finish().slice();
  }
  w.write(k, 4);
  writeUVar(w, zigzag(ms![0]));
  if (enc === ENC_DEC_FOR) writeFrame(w, frame!);
  let prevDm = 0;
  for (let i = 1; i < n; i++) {
    writeTs(w, ts, i, regular, tsFrame);
    const dm = ms![i] - ms![i - 1];
    if (enc === ENC_DEC_FOR) writeFramed(w, frame!, dm);
    else {
      writeBucket(w, enc === ENC_DEC_DOD ? dm - prevDm : dm);
    }
    prevDm = dm;
  }
  return w.finish().slice();
}

function writeXor(w: BitWriter, ts: ArrayLike<number>, vs: ArrayLike<number>, n: number, regular: boolean, tsFrame: Frame | undefined): void {
  f64[0] = vs[0];
  let ph = u32[HI];
  let pl = u32[LO];
  w.write32(ph, 32);
  w.write32(pl, 32);
  let wLz = -1; // the reusable window, -1 while there is none
  let wTz = 0;
  for (let i = 1; i < n; i++) {
    writeTs(w, ts, i, regular, tsFrame);
    f64[0] = vs[i];
    const h = u32[HI];
    const l = u32[LO];
    const xh = (h ^ ph) >>> 0;
    const xl = (l ^ pl) >>> 0;
    ph = h;
    pl = l;
    if (xh === 0 && xl === 0) {
      w.write(0, 1);
      continue;
    }
    let lz = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    const tz = xl !== 0 ? 31 - Math.clz32(xl & -xl) : 63 - Math.clz32(xh & -xh);
    if (lz > 31) lz = 31; // 5 bits of leading-zero count, as in Gorilla
    let useLz: number;
    let useTz: number;
    if (wLz >= 0 && lz >= wLz && tz >= wTz) {
      w.write(0b10, 2);
      useLz = wLz;
      useTz = wTz;
    } else {
      const sig = 64 - lz - tz;
      w.write(0b11, 2);
      w.write(lz, 5);
      w.write(sig & 63, 6); // 64 significant bits are written as 0
      wLz = lz;
      wTz = tz;
      useLz = lz;
      useTz = tz;
    }
    writeBits64(w, xh, xl, useTz, 64 - useLz - useTz);
  }
}

/** Writes `sig` bits of the 64-bit value (xh:xl) shifted right by `tz`. */
function writeBits64(w: BitWriter, xh: number, xl: number, tz: number, sig: number): void {
  let sh: number;
  let sl: number;
  if (tz === 0) {
    sh = xh;
    sl = xl;
  } else if (tz < 32) {
    sl = ((xl >>> tz) | (xh << (32 - tz))) >>> 0;
    sh = xh >>> tz;
  } else {
    sl = xh >>> (tz - 32);
    sh = 0;
  }
  if (sig > 32) {
    w.write32(sh, sig - 32);
    w.write32(sl, 32);
  } else {
    w.write32(sl, sig);
  }
}

/** Number of samples in an encoded chunk, without decoding it. */
export function chunkCount(buf: Uint8Array): number {
  // The count is the header's first field, at byte 1: its 6-bit length, then its bits. Read in
  // place (a BitReader would copy the whole chunk for these few bits).
  const w = ((buf[1] << 24) | ((buf[2] ?? 0) << 16) | ((buf[3] ?? 0) << 8) | (buf[4] ?? 0)) >>> 0;
  const n = w >>> 26;
  if (n === 0) return 0;
  if (n <= 26) return (w >>> (26 - n)) & ((1 << n) - 1);
  return readUVar(new BitReader(buf, 1));
}

/**
 * Decodes a chunk into `ts`/`vs` from index `at`; returns the number of samples. The arrays must
 * have room for chunkCount(buf) more samples.
 *
 * Each value encoding has its loop in a function of its own: one function holding them all was
 * optimised by V8 for whichever kind of chunk it met first, and ran up to 5x slower on the others.
 */
export function decodeChunkInto(buf: Uint8Array, ts: Float64Array, vs: Float64Array, at: number): number {
  const r = new BitReader(buf, 1);
  const enc = buf[0] & ~(REGULAR_TS | FRAME_TS);
  const regular = (buf[0] & REGULAR_TS) !== 0;
  const n = readUVar(r);
  if (n === 0) return 0;
  const t0 = unzigzag(readUVar(r));
  ts[at] = t0;
  if (regular) fillGrid(ts, at, n, t0, unzigzag(readUVar(r)));
  const tsFrame = (buf[0] & FRAME_TS) !== 0 ? readFrame(r) : undefined;
  const times = regular ? null : { frame: tsFrame, t: t0, dt: 0 };
  if (enc === ENC_XOR) {
    decodeXor(r, ts, vs, at, n, times);
    return n;
  }
  const k = r.read(4);
  const m0 = unzigzag(readUVar(r));
  const vFrame = enc === ENC_DEC_FOR ? readFrame(r) : undefined;
  if (times === null && vFrame !== undefined && vFrame.width <= 32) {
    decodeFramedOnGrid(r.bytes, r.bitPos, vs, at, n, m0, vFrame.min, vFrame.g, vFrame.width, POW10[k]);
  } else {
    decodeDecimal(r, ts, vs, at, n, times, enc, vFrame, m0, POW10[k]);
  }
  return n;
}

/** Timestamps of an off-grid chunk, read one per sample ahead of its value. */
interface TimeCursor {
  readonly frame: Frame | undefined;
  t: number;
  dt: number;
}

function nextTime(r: BitReader, c: TimeCursor): number {
  if (c.frame !== undefined) c.dt = readFramed(r, c.frame);
  else c.dt += readBucket(r);
  return (c.t += c.dt);
}

function fillGrid(ts: Float64Array, at: number, n: number, t0: number, step: number): void {
  for (let i = 1; i < n; i++) ts[at + i] = t0 + i * step;
}

/**
 * The common case, sampled on the grid (counters, buckets, few-digit gauges): one fixed-width
 * read per sample, straight from the reader's padded bytes.
 */
function decodeFramedOnGrid(s: Uint8Array, pos: number, vs: Float64Array, at: number, n: number, m: number, min: number, g: number, width: number, p: number): void {
  vs[at] = m / p;
  for (let i = 1; i < n; i++) {
    let q = 0;
    if (width > 0) {
      const j = pos >>> 3;
      const o = pos & 7;
      const w = (s[j] << 24) | (s[j + 1] << 16) | (s[j + 2] << 8) | s[j + 3];
      q = o + width <= 32 ? (w << o) >>> (32 - width) : ((w << o) | (s[j + 4] >>> (8 - o))) >>> (32 - width);
      pos += width;
    }
    m += min + q * g;
    vs[at + i] = p === 1 ? m : m / p;
  }
}

function decodeDecimal(r: BitReader, ts: Float64Array, vs: Float64Array, at: number, n: number, times: TimeCursor | null, enc: number, vFrame: Frame | undefined, m: number, p: number): void {
  vs[at] = m / p;
  let dm = 0;
  for (let i = 1; i < n; i++) {
    if (times !== null) ts[at + i] = nextTime(r, times);
    if (vFrame !== undefined) dm = readFramed(r, vFrame);
    else if (enc === ENC_DEC_DOD) dm += readBucket(r);
    else dm = readBucket(r);
    m += dm;
    vs[at + i] = m / p;
  }
}

function decodeXor(r: BitReader, ts: Float64Array, vs: Float64Array, at: number, n: number, times: TimeCursor | null): void {
  // Bits are read with peekBits and a local position (the reader only for off-grid timestamps):
  // this loop is the slowest decoder, full-precision floats take 20 to 60 bits a sample.
  const s = r.bytes;
  let pos = r.bitPos;
  let h = peekBits(s, pos, 32);
  let l = peekBits(s, pos + 32, 32);
  pos += 64;
  u32[HI] = h;
  u32[LO] = l;
  vs[at] = f64[0];
  let wLz = 0;
  let wTz = 0;
  for (let i = 1; i < n; i++) {
    if (times !== null) {
      r.bitPos = pos;
      ts[at + i] = nextTime(r, times);
      pos = r.bitPos;
    }
    const control = peekBits(s, pos, 2);
    if (control < 2) {
      pos += 1; // '0': same value as before
    } else {
      pos += 2;
      if (control === 3) {
        // '11': a new window of leading zeros (5 bits) and significant bits (6 bits, 0 = 64)
        const win = peekBits(s, pos, 11);
        pos += 11;
        wLz = win >>> 6;
        const sig = win & 63 || 64;
        wTz = 64 - wLz - sig;
      }
      const sig = 64 - wLz - wTz;
      let sh = 0;
      let sl: number;
      if (sig > 32) {
        sh = peekBits(s, pos, sig - 32);
        sl = peekBits(s, pos + sig - 32, 32);
      } else {
        sl = peekBits(s, pos, sig);
      }
      pos += sig;
      let xh: number;
      let xl: number;
      if (wTz === 0) {
        xh = sh;
        xl = sl;
      } else if (wTz < 32) {
        xl = (sl << wTz) >>> 0;
        xh = ((sh << wTz) | (sl >>> (32 - wTz))) >>> 0;
      } else {
        xl = 0;
        xh = (sl << (wTz - 32)) >>> 0;
      }
      h = (h ^ xh) >>> 0;
      l = (l ^ xl) >>> 0;
      u32[HI] = h;
      u32[LO] = l;
    }
    vs[at + i] = f64[0];
  }
}

/** Decodes a whole chunk. */
export function decodeChunk(buf: Uint8Array): { ts: Float64Array; vs: Float64Array } {
  const n = chunkCount(buf);
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  decodeChunkInto(buf, ts, vs, 0);
  return { ts, vs };
}
