/**
 * Turns the chunk generator into a Readable that gives the event loop back between chunks, so a
 * scrape of tens of megabytes never holds it for long (ingest keeps flowing during a scrape).
 */
import { Readable } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

/**
 * Longest stretch of synchronous rendering before yielding, in ms. A block is one slice plus
 * the scavenges its allocations trigger (2 to 5 ms), so 4 keeps blocks well under 20 ms; the
 * extra turns cost nothing measurable in a scrape's total time.
 */
const SLICE_MS = 4;

export function chunksToStream(chunks: Iterator<string>): Readable {
  async function* paced(): AsyncGenerator<Buffer> {
    // Start on a turn of its own: the request arrives in the loop's poll phase and a yield then
    // resumes in the check phase of the same turn, so the first two slices would run back to
    // back with no timers between them (a block of two slices). From here on every
    // slice runs in its own check phase, with timers and I/O in between.
    await yieldToLoop();
    let sliceStart = performance.now();
    for (let r = chunks.next(); !r.done; r = chunks.next()) {
      yield Buffer.from(r.value, 'utf8');
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
  }
  return Readable.from(paced(), { objectMode: false });
}

/** Renders everything at once, for tests and small outputs. */
export function collect(chunks: Iterable<string>): string {
  let out = '';
  for (const c of chunks) out += c;
  return out;
}
