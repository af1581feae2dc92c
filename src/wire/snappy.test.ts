import { describe, expect, it } from 'vitest';
import { compress as snappyjsCompress } from 'snappyjs';
import { nativeSnappy, snappyCompress, snappyCompressAsync, snappyUncompress, SnappyError } from './snappy.js';

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
    expect(() => snappyUncompress(bytes(0x05, 0x10, 0x68))).toThrow(/ends inside an element/);
    // a copy before the start of the output; a literal shorter than declared; more than declared
    expect(() => snappyUncompress(bytes(0x04, 0x01, 0x01))).toThrow(/before the start/);
    expect(() => snappyUncompress(bytes(0x06, 0x10, 0x68, 0x65, 0x6c, 0x6c, 0x6f))).toThrow(/holds 5 bytes, not the 6/);
    expect(() => snappyUncompress(bytes(0x04, 0x10, 0x68, 0x65, 0x6c, 0x6c, 0x6f))).toThrow(/more than the length it declares/);
    expect(() => snappyUncompress(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0x01))).toThrow(SnappyError);
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

  it('reads back what snappyjs and the native compressor write: literals and copies of every length, overlapping ones too', async () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const inputs: Uint8Array[] = [new Uint8Array(0), text('a'.repeat(100_000)), text('ab'.repeat(70_000))];
    for (let i = 0; i < 60; i++) {
      // Runs of repeated words at random distances (copies with 1-, 2- and 4-byte offsets), and random bytes (long literals).
      const parts: number[] = [];
      const size = Math.floor(random() * 200_000);
      while (parts.length < size) {
        if (random() < 0.3) for (let k = Math.floor(random() * 3000); k > 0; k--) parts.push(Math.floor(random() * 256));
        else {
          const word = Array.from({ length: 1 + Math.floor(random() * 70) }, () => 97 + Math.floor(random() * 4));
          for (let k = Math.floor(random() * 20); k >= 0; k--) parts.push(...word);
        }
      }
      inputs.push(Uint8Array.from(parts));
    }
    for (const input of inputs) {
      for (const block of [snappyjsCompress(input), await snappyCompressAsync(input)]) {
        expect(Buffer.from(snappyUncompress(block, input.length)).equals(Buffer.from(input))).toBe(true);
      }
    }
  });

  it('turns every truncation and any garbage into a SnappyError, never another exception', () => {
    const input = text(Array.from({ length: 300 }, (_, i) => `series_${i % 17} ${i}`).join('\n'));
    const block = snappyCompress(input);
    for (let cut = 0; cut < block.length; cut++) expect(() => snappyUncompress(block.subarray(0, cut))).toThrow(SnappyError);
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      const garbage = Uint8Array.from({ length: 1 + Math.floor(random() * 64) }, () => Math.floor(random() * 256));
      try {
        snappyUncompress(garbage, 1 << 20);
      } catch (err) {
        expect(err).toBeInstanceOf(SnappyError);
      }
    }
  });
});
