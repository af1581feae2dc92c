/**
 * The read path: one series' samples in a range, merged from its chunk rows, its head and its
 * out-of-order buffer (README.md, "Out-of-order samples and duplicates"), and the merges it uses.
 */
import type SQLite from 'better-sqlite3';
import { chunkCount, decodeChunkInto } from './chunk.js';
import { chunksIn } from './group.js';
import { KIND_OOO, type ChunkRow } from './schema.js';
import type { MemSeries } from './series.js';

/** The statement `readSeries` finds a series' chunk rows in a range with (prepared once per store). */
export function prepareChunkRows(db: SQLite.Database): SQLite.Statement {
  return db.prepare('SELECT kind, seq, data FROM chunks WHERE series_id = ? AND max_t >= ? AND min_t <= ? ORDER BY max_t, seq');
}

/**
 * One series' samples in [minMs, maxMs], merged across chunks, head and out-of-order data;
 * null when there are none. Values in a Float64Array (keeps staleness markers). `readChunks`
 * is the statement from `prepareChunkRows`.
 */
export function readSeries(readChunks: SQLite.Statement, s: MemSeries, minMs: number, maxMs: number): { ts: Float64Array; vs: Float64Array } | null {
  const rows: ChunkRow[] = s.storedMaxT >= minMs && s.storedMinT <= maxMs ? (readChunks.all(s.id, minMs, maxMs) as ChunkRow[]) : [];
  const headIn = s.headN > 0 && s.headT![0] <= maxMs && s.headT![s.headN - 1] >= minMs;
  let oooIn = false;
  for (let i = 0; i < s.oooN && !oooIn; i++) oooIn = s.oooT![i] >= minMs && s.oooT![i] <= maxMs;
  let total = headIn ? s.headN : 0;
  let merge = oooIn;
  // Each row's chunks that can meet the range (a group holds many), with the row's precedence.
  const parts: Uint8Array[] = [];
  const partPrio: number[] = [];
  for (const r of rows) {
    const before = parts.length;
    chunksIn(r.data, minMs, maxMs, parts);
    for (let i = before; i < parts.length; i++) {
      total += chunkCount(parts[i]);
      partPrio.push(r.kind === KIND_OOO ? r.seq : 0);
    }
    if (r.kind === KIND_OOO) merge = true;
  }
  if (oooIn) total += s.oooN;
  if (total === 0) return null;
  const ts = new Float64Array(total);
  const vs = new Float64Array(total);
  let n = 0;
  if (!merge) {
    // In-order chunks do not overlap and come ordered by max_t; the head follows them.
    for (const p of parts) n += decodeChunkInto(p, ts, vs, n);
    if (headIn) {
      ts.set(s.headT!.subarray(0, s.headN), n);
      vs.set(s.headV!.subarray(0, s.headN), n);
      n += s.headN;
    }
    return trim(ts, vs, n, minMs, maxMs);
  }
  // The in-order chunks and the head form one sorted run (they never overlap and come
  // ordered), decoded in place. The late data, each out-of-order chunk (sorted when written)
  // and the buffer (sorted here), is merged on its own, then into that run from the back,
  // so the in-order samples, usually nearly all, are copied at most once more, in one block.
  // For equal timestamps the later write wins: in-order data, then out-of-order chunks in write
  // order (seq), then the buffer.
  for (let i = 0; i < parts.length; i++) if (partPrio[i] === 0) n += decodeChunkInto(parts[i], ts, vs, n);
  if (headIn) {
    ts.set(s.headT!.subarray(0, s.headN), n);
    vs.set(s.headV!.subarray(0, s.headN), n);
    n += s.headN;
  }
  const lateTs = new Float64Array(total - n);
  const lateVs = new Float64Array(total - n);
  let k = 0;
  const starts: number[] = [];
  const prio: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (partPrio[i] === 0) continue;
    starts.push(k);
    prio.push(partPrio[i]);
    k += decodeChunkInto(parts[i], lateTs, lateVs, k);
  }
  if (oooIn) {
    const buffered = sortDedupe(s.oooT!, s.oooV!, s.oooN);
    starts.push(k);
    prio.push(Infinity);
    lateTs.set(buffered.ts.subarray(0, buffered.n), k);
    lateVs.set(buffered.vs.subarray(0, buffered.n), k);
    k += buffered.n;
  }
  starts.push(k);
  const late = mergeRuns(lateTs, lateVs, starts, prio);
  const end = n + late.n;
  const from = mergeLateInto(ts, vs, n, late.ts, late.vs, late.n);
  return trim(ts.subarray(from, end), vs.subarray(from, end), end - from, minMs, maxMs);
}

function lowerBound(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function trim(ts: Float64Array, vs: Float64Array, n: number, minMs: number, maxMs: number): { ts: Float64Array; vs: Float64Array } | null {
  const lo = lowerBound(ts, n, minMs);
  let hi = lowerBound(ts, n, maxMs);
  if (hi < n && ts[hi] === maxMs) hi++;
  if (hi <= lo) return null;
  return { ts: ts.subarray(lo, hi), vs: vs.subarray(lo, hi) };
}

/**
 * Merges runs sorted by timestamp (run r spans [starts[r], starts[r + 1]) of ts/vs) into one
 * sample per timestamp; of equal timestamps, the run with the highest precedence wins. A heap of
 * runs: a backfill can leave many out-of-order chunks in one range.
 */
function mergeRuns(ts: Float64Array, vs: Float64Array, starts: readonly number[], prio: readonly number[]): { ts: Float64Array; vs: Float64Array; n: number } {
  const runs = prio.length;
  const pos = starts.slice(0, runs);
  const heap: number[] = [];
  // Equal timestamps come off in rising precedence, so the last one written out wins.
  const before = (a: number, b: number): boolean => ts[pos[a]] < ts[pos[b]] || (ts[pos[a]] === ts[pos[b]] && prio[a] < prio[b]);
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) return;
      const c = l + 1 < heap.length && before(heap[l + 1], heap[l]) ? l + 1 : l;
      if (!before(heap[c], heap[i])) return;
      [heap[i], heap[c]] = [heap[c], heap[i]];
      i = c;
    }
  };
  for (let r = 0; r < runs; r++) if (pos[r] < starts[r + 1]) heap.push(r);
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);
  const total = starts[runs];
  const mt = new Float64Array(total);
  const mv = new Float64Array(total);
  let m = 0;
  while (heap.length > 0) {
    const r = heap[0];
    const end = starts[r + 1];
    // The root's children hold the smallest timestamp of all other runs: everything of this run
    // before it goes out in one stretch (runs rarely overlap for long).
    let limit = heap.length > 1 ? ts[pos[heap[1]]] : Infinity;
    if (heap.length > 2 && ts[pos[heap[2]]] < limit) limit = ts[pos[heap[2]]];
    let j = pos[r];
    if (m > 0 && mt[m - 1] === ts[j]) m--;
    do {
      mt[m] = ts[j];
      mv[m++] = vs[j++];
    } while (j < end && ts[j] < limit);
    pos[r] = j;
    if (j === end) {
      const last = heap.pop()!;
      if (heap.length === 0) break;
      heap[0] = last;
    }
    siftDown(0);
  }
  return { ts: mt, vs: mv, n: m };
}

/**
 * Merges sorted late samples into the sorted run in ts/vs[0, n), which has room for them after
 * it; a late sample replaces an in-order one at the same timestamp. Works from the back, so
 * nothing is overwritten before it is read. Returns where the result starts (duplicates leave
 * that many slots unused at the front); it ends at n + lateN.
 */
function mergeLateInto(ts: Float64Array, vs: Float64Array, n: number, lateTs: Float64Array, lateVs: Float64Array, lateN: number): number {
  let i = n - 1;
  let j = lateN - 1;
  let w = n + lateN - 1;
  while (j >= 0) {
    if (i >= 0 && ts[i] > lateTs[j]) {
      ts[w] = ts[i];
      vs[w--] = vs[i--];
    } else {
      if (i >= 0 && ts[i] === lateTs[j]) i--;
      ts[w] = lateTs[j];
      vs[w--] = lateVs[j--];
    }
  }
  // What is left of the run, ts[0..i], is in order before position w + 1: close the gap.
  const from = w - i;
  if (from > 0) {
    ts.copyWithin(from, 0, i + 1);
    vs.copyWithin(from, 0, i + 1);
  }
  return from;
}

/** Sorted by timestamp, one sample per timestamp, the later write winning (reads, and the out-of-order flush). */
export function sortDedupe(ts: Float64Array, vs: Float64Array, n: number): { ts: Float64Array; vs: Float64Array; n: number } {
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => ts[a] - ts[b] || a - b);
  const ot = new Float64Array(n);
  const ov = new Float64Array(n);
  let m = 0;
  for (const j of order) {
    if (m > 0 && ot[m - 1] === ts[j]) m--;
    ot[m] = ts[j];
    ov[m++] = vs[j];
  }
  return { ts: ot, vs: ov, n: m };
}
