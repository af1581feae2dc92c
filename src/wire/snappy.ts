/**
 * Snappy in the block format (a varint of the uncompressed length, then literal and copy
 * elements; no stream framing, no checksums): what Prometheus remote write sends
 * (`Content-Encoding: snappy`), for any sink or source that needs it.
 *
 * Two implementations, the same format: snappyjs (pure JS, synchronous) and the `snappy` package
 * (napi-rs, prebuilt per platform). Native compression is no faster per byte here, but its async
 * call runs on libuv's thread pool: a remote write push spends most of its CPU compressing (a 1.0
 * body repeats every label of every sample), and off the event loop that CPU no longer delays
 * the other integrations' pushes, ingest or queries. Where the native package does not load
 * (a platform without a prebuilt binary), the same call compresses with snappyjs.
 */
import { createRequire } from 'node:module';
import { compress } from 'snappyjs';

interface NativeSnappy {
  compress(input: Uint8Array): Promise<Buffer>;
}

const native: NativeSnappy | undefined = (() => {
  try {
    return createRequire(import.meta.url)('snappy') as NativeSnappy;
  } catch {
    return undefined;
  }
})();

export function snappyCompress(bytes: Uint8Array): Uint8Array {
  return compress(bytes);
}

/** Compresses off the event loop where the native package loaded, on it otherwise. */
export async function snappyCompressAsync(bytes: Uint8Array): Promise<Uint8Array> {
  return native === undefined ? compress(bytes) : native.compress(bytes);
}

/** Whether snappyCompressAsync runs off the event loop (for the self-check and the benchmark). */
export const nativeSnappy = native !== undefined;

/** A block that is not Snappy, or not all there. */
export class SnappyError extends Error {
  override readonly name = 'SnappyError';
}

/**
 * Throws a SnappyError on a malformed or truncated block, and, when `maxLength` is given, on one
 * that says it holds more than that many bytes (before allocating them: a receiver's guard
 * against a tiny body that claims gigabytes).
 *
 * Written here rather than taken from snappyjs, whose decompressor copies byte by byte: a remote
 * write receiver spends a third of its CPU here, and literals and non-overlapping copies of 16
 * bytes or more go faster as `set` and `copyWithin`. It is also stricter: a block must fill
 * exactly the length it declares, where snappyjs leaves the rest zeros.
 */
export function snappyUncompress(src: Uint8Array, maxLength?: number): Uint8Array {
  let pos = 0;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    if (shift > 28) throw new SnappyError('snappy: the uncompressed length is longer than 32 bits');
    if (pos >= src.length) throw new SnappyError('snappy: the block ends inside its uncompressed length');
    const c = src[pos++];
    length += (c & 0x7f) * 2 ** shift;
    if (c < 0x80) break;
  }
  if (maxLength !== undefined && length > maxLength) {
    throw new SnappyError(`snappy: the uncompressed length of ${length} bytes is too big, at most ${maxLength} allowed`);
  }
  const out = new Uint8Array(length);
  let op = 0;
  const end = src.length;
  while (pos < end) {
    const c = src[pos++];
    const kind = c & 3;
    if (kind === 0) {
      let n = (c >>> 2) + 1;
      if (n > 60) {
        const bytes = n - 60;
        if (pos + bytes > end) throw truncated();
        n = 1;
        for (let k = 0; k < bytes; k++) n += src[pos + k] * 2 ** (8 * k);
        pos += bytes;
      }
      if (pos + n > end) throw truncated();
      if (op + n > length) throw overrun();
      if (n < 16) for (let k = 0; k < n; k++) out[op + k] = src[pos + k];
      else out.set(src.subarray(pos, pos + n), op);
      pos += n;
      op += n;
      continue;
    }
    let n: number;
    let offset: number;
    if (kind === 1) {
      if (pos >= end) throw truncated();
      n = ((c >>> 2) & 7) + 4;
      offset = ((c >>> 5) << 8) | src[pos++];
    } else if (kind === 2) {
      if (pos + 2 > end) throw truncated();
      n = (c >>> 2) + 1;
      offset = src[pos] | (src[pos + 1] << 8);
      pos += 2;
    } else {
      if (pos + 4 > end) throw truncated();
      n = (c >>> 2) + 1;
      offset = (src[pos] | (src[pos + 1] << 8) | (src[pos + 2] << 16)) + src[pos + 3] * 0x1000000;
      pos += 4;
    }
    if (offset === 0 || offset > op) throw new SnappyError(`snappy: a copy reaches ${offset} bytes back, before the start of the output`);
    if (op + n > length) throw overrun();
    const from = op - offset;
    // Overlapping copies repeat the last `offset` bytes: byte by byte is what they mean.
    if (n >= 16 && offset >= n) out.copyWithin(op, from, from + n);
    else for (let k = 0; k < n; k++) out[op + k] = out[from + k];
    op += n;
  }
  if (op !== length) throw new SnappyError(`snappy: the block holds ${op} bytes, not the ${length} it declares (truncated?)`);
  return out;
}

const truncated = () => new SnappyError('snappy: the block ends inside an element (truncated?)');
const overrun = () => new SnappyError('snappy: the block holds more than the length it declares');
