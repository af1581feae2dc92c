import { describe, expect, it } from 'vitest';
import { nativeSnappy, snappyCompress, snappyCompressAsync, snappyUncompress } from './snappy.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const text = (s: string) => new TextEncoder().encode(s);

describe('snappy (block format)', () => {
  // Block format: varint(uncompressed length), then elements. A literal of n <= 60 bytes is the
  // tag byte (n-1)<<2 (low bits 00) followed by the n bytes; inputs this short are never matched.
  it('writes a short string as one literal: varint(5), tag (5-1)<<2 = 0x10, "hello"', () => {
    const hello = bytes(0x05, 0x10, 0x68, 0x65, 0x6c, 0x6c, 0x6f);
    expect(Array.from(snappyCompress(text('hello')))).toEqual(Array.from(hello));
    expect(new TextDecoder().decode(snappyUncompress(hello))).toBe('hello');
  });

  it('reads a copy element: literal "a", then copy length 7 from offset 1 (tag (7-4)<<2 | 01 = 0x0d, offset 0x01)', () => {
    expect(new TextDecoder().decode(snappyUncompress(bytes(0x08, 0x00, 0x61, 0x0d, 0x01)))).toBe('aaaaaaaa');
  });

  it('reads a literal over 60 bytes: tag 60<<2 = 0xf0, then one byte of length-1', () => {
    const payload = Uint8Array.from({ length: 100 }, (_, i) => i);
    const block = bytes(100, 0xf0, 99, ...payload);
    expect(Array.from(snappyUncompress(block))).toEqual(Array.from(payload));
  });

  it('round-trips empty, repetitive, random and multi-block (over 64 KiB) input', () => {
    let seed = 42;
    const random = Uint8Array.from({ length: 5000 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    const repetitive = text('http_requests_total{job="api",instance="10.0.0.1:9090"} 1\n'.repeat(5000));
    for (const input of [new Uint8Array(0), text('x'), random, repetitive]) {
      const packed = snappyCompress(input);
      expect(Array.from(snappyUncompress(packed))).toEqual(Array.from(input));
    }
    expect(repetitive.length).toBeGreaterThan(65_536);
    expect(snappyCompress(repetitive).length).toBeLessThan(repetitive.length / 10);
  });

  it('takes a Buffer as well', () => {
    const packed = snappyCompress(Buffer.from('hello hello hello hello'));
    expect(Buffer.from(snappyUncompress(Buffer.from(packed))).toString()).toBe('hello hello hello hello');
  });

  it('refuses a malformed block, and one that claims more than maxLength', () => {
    expect(() => snappyUncompress(bytes(0x05, 0x10, 0x68))).toThrow(/Invalid Snappy/);
    // varint 0x80 0x80 0x80 0x01 is 2^21 bytes, over a 1 MiB limit.
    expect(() => snappyUncompress(bytes(0x80, 0x80, 0x80, 0x01, 0x00, 0x61), 1 << 20)).toThrow(/too big/);
  });

  it('compresses off the event loop (native, prebuilt for Linux x64 and arm64) into blocks snappyjs reads back', async () => {
    if (process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64')) expect(nativeSnappy).toBe(true);
    const input = text(Array.from({ length: 5000 }, (_, i) => `meterway_runs_total{project_id="p-${i % 50}",app_name="app-${i % 7}"} ${i}`).join('\n'));
    const block = await snappyCompressAsync(input);
    expect(block.length).toBeLessThan(input.length / 3);
    expect(Buffer.from(snappyUncompress(block)).equals(Buffer.from(input))).toBe(true);
  });
});
