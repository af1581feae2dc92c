/**
 * A stored series in memory: its identity, the open head chunk (raw samples until it is cut and
 * encoded), the out-of-order buffer, and the time bounds of its chunks on disk, so reads and
 * retention skip the database for series that cannot have data in a range.
 */
import type { Labels } from '../core/labels.js';

export class MemSeries {
  /** Position in its project's label-set order (see ProjectIndex.ordered). */
  rank = 0;
  deleted = false;

  headT: Float64Array | null = null;
  headV: Float64Array | null = null;
  headN = 0;
  /** Newest in-order timestamp ever appended; a sample at or before it is out of order. */
  lastT = -Infinity;
  /** Wall-clock time of the last append, for cutting idle heads. */
  lastAppendMs = 0;

  oooT: Float64Array | null = null;
  oooV: Float64Array | null = null;
  oooN = 0;

  /** Bounds over stored chunks (Infinity / -Infinity when none). */
  storedMinT = Infinity;
  storedMaxT = -Infinity;
  /** Smallest max_t of a stored chunk: retention has work here only when it is below the cutoff. */
  oldestChunkMaxT = Infinity;
  /** Whether any stored chunk is an out-of-order one (reads must then merge). */
  storedOoo = false;
  /** Bytes of the open (not yet packed) in-order chunk rows, and the max_t of the oldest of them. */
  openBytes = 0;
  openSinceMaxT = Infinity;

  constructor(
    readonly id: number,
    readonly project: string,
    /** Canonical key: the sorted name/value pairs, JSON. Also what the database stores. */
    readonly key: string,
    /** Sorted flat [name, value, name, value, ...]. */
    readonly pairs: readonly string[],
    readonly labels: Labels,
  ) {}

  pushHead(t: number, v: number, cap: number): void {
    if (this.headT === null || this.headN === this.headT.length) {
      const size = this.headT === null ? 8 : Math.min(cap, this.headT.length * 2);
      const nt = new Float64Array(size);
      const nv = new Float64Array(size);
      if (this.headT !== null) {
        nt.set(this.headT);
        nv.set(this.headV!);
      }
      this.headT = nt;
      this.headV = nv;
    }
    this.headT[this.headN] = t;
    this.headV![this.headN++] = v;
  }

  pushOoo(t: number, v: number, cap: number): void {
    if (this.oooT === null || this.oooN === this.oooT.length) {
      const size = this.oooT === null ? 4 : Math.min(cap, this.oooT.length * 2);
      const nt = new Float64Array(size);
      const nv = new Float64Array(size);
      if (this.oooT !== null) {
        nt.set(this.oooT);
        nv.set(this.oooV!);
      }
      this.oooT = nt;
      this.oooV = nv;
    }
    this.oooT[this.oooN] = t;
    this.oooV![this.oooN++] = v;
  }

  clearHead(): void {
    this.headN = 0;
  }

  /** Drops the head's arrays (not just its samples): the series may never be appended to again. */
  releaseHead(): void {
    this.headT = null;
    this.headV = null;
    this.headN = 0;
  }

  clearOoo(): void {
    this.oooT = null;
    this.oooV = null;
    this.oooN = 0;
  }

  noteChunk(minT: number, maxT: number, ooo: boolean): void {
    if (minT < this.storedMinT) this.storedMinT = minT;
    if (maxT > this.storedMaxT) this.storedMaxT = maxT;
    if (maxT < this.oldestChunkMaxT) this.oldestChunkMaxT = maxT;
    if (ooo) this.storedOoo = true;
  }

  /** Earliest and latest timestamps held anywhere (disk, head, out-of-order buffer). */
  minT(): number {
    let m = this.storedMinT;
    if (this.headN > 0 && this.headT![0] < m) m = this.headT![0];
    for (let i = 0; i < this.oooN; i++) if (this.oooT![i] < m) m = this.oooT![i];
    return m;
  }

  maxT(): number {
    let m = this.storedMaxT;
    if (this.headN > 0 && this.headT![this.headN - 1] > m) m = this.headT![this.headN - 1];
    for (let i = 0; i < this.oooN; i++) if (this.oooT![i] > m) m = this.oooT![i];
    return m;
  }

  maxOooT(): number {
    let m = -Infinity;
    for (let i = 0; i < this.oooN; i++) if (this.oooT![i] > m) m = this.oooT![i];
    return m;
  }

  overlaps(minMs: number, maxMs: number): boolean {
    return this.minT() <= maxMs && this.maxT() >= minMs;
  }

  isEmpty(): boolean {
    return this.headN === 0 && this.oooN === 0 && this.storedMaxT === -Infinity;
  }
}
