/**
 * Types for snappyjs 0.7 (pure JS Snappy, block format; the package ships none). Only what
 * src/wire/snappy.ts uses. The result is of the input's kind: a Uint8Array for a Uint8Array,
 * a Buffer for a Buffer, an ArrayBuffer for an ArrayBuffer.
 */
declare module 'snappyjs' {
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T;
  /** Throws on a malformed stream, and when the length it declares is over `maxLength`. */
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T;
}
