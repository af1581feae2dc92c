import { describe, expect, it } from 'vitest';
import { STALE_NAN, isStaleNaN } from '../core/labels.js';
import { bitLength, chunkCount, decodeChunk, encodeChunk, validTimestamp } from './chunk.js';

function bitsOf(v: number): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v);
  return dv.getBigUint64(0);
}

function fromBits(b: bigint): number {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setBigUint64(0, b);
  return dv.getFloat64(0);
}

function roundTrip(ts: number[], vs: number[] | Float64Array): void {
  const values = vs instanceof Float64Array ? vs : Float64Array.from(vs);
  const buf = encodeChunk(ts, values, ts.length);
  expect(chunkCount(buf)).toBe(ts.length);
  const out = decodeChunk(buf);
  expect(Array.from(out.ts)).toEqual(ts);
  for (let i = 0; i < vs.length; i++) {
    if (bitsOf(out.vs[i]) !== bitsOf(values[i])) {
      throw new Error(`value ${i}: got bits ${bitsOf(out.vs[i]).toString(16)}, want ${bitsOf(values[i]).toString(16)} (${values[i]})`);
    }
  }
}

/** A deterministic generator so a failure can be reproduced. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('chunk encoding', () => {
  it('round-trips an empty chunk and a single sample', () => {
    roundTrip([], []);
    roundTrip([1_700_000_000_000], [42]);
    roundTrip([0], [-0]);
  });

  it('keeps special values bit-exact: STALE_NAN, NaN, ±Inf, -0, extremes', () => {
    // Filled one by one into a Float64Array: a plain array literal may canonicalise NaN payloads.
    const specials = new Float64Array(15);
    const bits = [0x7ff0000000000002n, 0x7ff8000000000000n, 0x7ff0000000000000n, 0xfff0000000000000n, 0x8000000000000000n, 0n, 0x7fefffffffffffffn, 0xffefffffffffffffn, 1n, 1n, 0x0010000000000000n, 0x7fe1ccf385ebc8a0n, 0x01a56e1fc2f8f359n, 0x7ff8000000000001n, 0xfff0000000000001n];
    bits.forEach((b, i) => (specials[i] = fromBits(b)));
    specials[0] = STALE_NAN;
    const ts = Array.from(specials, (_, i) => 1000 + i * 15_000);
    roundTrip(ts, specials);
    const buf = encodeChunk(ts, specials, ts.length);
    const out = decodeChunk(buf);
    expect(isStaleNaN(out.vs[0])).toBe(true);
    expect(isStaleNaN(out.vs[1])).toBe(false);
    expect(Object.is(out.vs[4], -0)).toBe(true);
  });

  it('round-trips a stale marker between decimal values (falls back to XOR)', () => {
    const vs = Float64Array.from([1.5, 2.25, 0, 3]);
    vs[2] = STALE_NAN;
    roundTrip([0, 15_000, 30_000, 45_000], vs);
    expect(isStaleNaN(decodeChunk(encodeChunk([0, 15_000, 30_000, 45_000], vs, 4)).vs[2])).toBe(true);
    roundTrip([0, 15_000, 30_000], [1, -0, 2]);
  });

  it('round-trips random values and irregular, unordered and extreme timestamps', () => {
    const r = rng(7);
    for (let round = 0; round < 200; round++) {
      const n = 1 + Math.floor(r() * 200);
      const ts: number[] = [];
      const vs: number[] = [];
      let t = Math.floor((r() - 0.5) * 2 ** 40);
      for (let i = 0; i < n; i++) {
        const kind = r();
        if (kind < 0.5) t += 15_000 + Math.floor((r() - 0.5) * 20);
        else if (kind < 0.7) t += Math.floor(r() * 2 ** 36);
        else if (kind < 0.85) t -= Math.floor(r() * 2 ** 20); // out of order
        else if (kind < 0.95) t += 0; // duplicate timestamp
        else t = Math.floor((r() - 0.5) * 2 ** 51);
        ts.push(t);
        const vk = r();
        if (vk < 0.2) vs.push(Math.round(r() * 1000) / 100);
        else if (vk < 0.4) vs.push(vs.length > 0 ? vs[vs.length - 1] : 0);
        else if (vk < 0.6) vs.push((r() - 0.5) * 10 ** Math.floor(r() * 600 - 300));
        else if (vk < 0.7) vs.push(fromBits(BigInt(Math.floor(r() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(r() * 2 ** 32))));
        else if (vk < 0.8) vs.push(Math.floor(r() * 2 ** 53));
        else vs.push(r() * 100);
      }
      roundTrip(ts, vs);
    }
  });

  it('round-trips each value encoding on its own', () => {
    const ts = Array.from({ length: 120 }, (_, i) => 1_700_000_000_000 + i * 15_000);
    roundTrip(ts, ts.map((_, i) => i * 17)); // counter: decimal, delta of delta
    roundTrip(ts, ts.map((_, i) => Math.round(Math.sin(i) * 1000) / 100)); // gauge: decimal, delta
    roundTrip(ts, ts.map((_, i) => Math.sin(i) * 1e6)); // XOR
    roundTrip(ts, ts.map(() => 2 ** 50)); // largest decimal integer
    roundTrip(ts, ts.map((_, i) => (i % 2 ? 2 ** 50 : -(2 ** 50)))); // widest jumps
    roundTrip(ts, ts.map((_, i) => i * 1e-9)); // decimal at the finest scale
    roundTrip(ts, ts.map((_, i) => i * 1e-10)); // too fine: XOR
    const r = rng(3);
    let c = 1000;
    const noisy = ts.map(() => (c += Math.floor(r() * 100))); // frame of reference, 7 bits
    const mib = ts.map(() => Math.floor(r() * 4000) * 1048576); // common divisor 2^20
    let big = 0;
    const wide = ts.map(() => (big += Math.floor(r() * 2 ** 42))); // frame wider than 32 bits
    const jittered = ts.map((t) => t + Math.floor(r() * 5));
    for (const times of [ts, jittered]) {
      roundTrip(times, noisy);
      roundTrip(times, mib);
      roundTrip(times, wide);
      roundTrip(times, times.map(() => 3)); // constant
    }
    expect(encodeChunk(ts, noisy, 120).length).toBeLessThan(125); // about 7 bits a sample
    expect(encodeChunk(ts, mib, 120).length).toBeLessThan(240); // 13 bits a sample, not 32
    expect(encodeChunk(jittered, jittered.map(() => 3), 120).length).toBeLessThan(85); // 4 bits of jitter a sample, not 9
  });

  it('compresses regular counters and few-digit gauges well below 2 bytes per sample', () => {
    const ts = Array.from({ length: 120 }, (_, i) => 1_700_000_000_000 + i * 15_000);
    const counter = encodeChunk(ts, ts.map((_, i) => 1000 + i * 3), 120);
    const flat = encodeChunk(ts, ts.map(() => 7), 120);
    const gauge = encodeChunk(ts, ts.map((_, i) => Math.round(50 + 10 * Math.sin(i / 5)) / 10), 120);
    expect(counter.length / 120).toBeLessThan(0.5);
    expect(flat.length / 120).toBeLessThan(0.5);
    expect(gauge.length / 120).toBeLessThan(2);
  });

  it('validates timestamps', () => {
    expect(validTimestamp(0)).toBe(true);
    expect(validTimestamp(-(2 ** 50))).toBe(true);
    expect(validTimestamp(2 ** 50 + 1)).toBe(false);
    expect(validTimestamp(1.5)).toBe(false);
    expect(validTimestamp(NaN)).toBe(false);
  });
});

describe('bitLength', () => {
  it('is the smallest w up to 53 with x < 2^w, for every width and its edges', () => {
    const byDefinition = (x: number) => {
      let w = 0;
      while (w < 53 && x >= 2 ** w) w++;
      return w;
    };
    const xs = [0, -1, -0.5, 0.5, 0.999, 1, 1.5, NaN, Infinity, -Infinity, Date.now(), Date.now() * 1.7, Number.MAX_SAFE_INTEGER, 2 ** 60];
    for (let w = 0; w <= 54; w++) xs.push(2 ** w - 1, 2 ** w, 2 ** w + 1, 2 ** w + 0.5, 2 ** w * 1.5);
    for (const x of xs) expect(bitLength(x), String(x)).toBe(byDefinition(x));
  });
});
