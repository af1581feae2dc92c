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
import { compress, uncompress } from 'snappyjs';

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

/**
 * Throws on a malformed block, and, when `maxLength` is given, on one that says it holds more
 * than that many bytes (before allocating them: a receiver's guard against a tiny body that
 * claims gigabytes).
 */
export function snappyUncompress(bytes: Uint8Array, maxLength?: number): Uint8Array {
  return uncompress(bytes, maxLength);
}
