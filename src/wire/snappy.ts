/**
 * Snappy in the block format (a varint of the uncompressed length, then literal and copy
 * elements; no stream framing, no checksums): what Prometheus remote write sends
 * (`Content-Encoding: snappy`), for any sink or source that needs it. snappyjs is pure JS, so
 * there is no native build to go wrong; it interoperates with Prometheus and VictoriaMetrics.
 */
import { compress, uncompress } from 'snappyjs';

export function snappyCompress(bytes: Uint8Array): Uint8Array {
  return compress(bytes);
}

/**
 * Throws on a malformed block, and, when `maxLength` is given, on one that says it holds more
 * than that many bytes (before allocating them: a receiver's guard against a tiny body that
 * claims gigabytes).
 */
export function snappyUncompress(bytes: Uint8Array, maxLength?: number): Uint8Array {
  return uncompress(bytes, maxLength);
}
