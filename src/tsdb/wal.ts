/**
 * The append log's record format (table `wal`, one record per append batch since the last
 * checkpoint): a u32 group count, then per group the series id (u32), the byte length (u32) and
 * the group's samples as a chunk.
 */
import { encodeChunk } from './chunk.js';

/**
 * One append batch as a log record: samples grouped per series, each group encoded as a chunk,
 * so a record costs about what the chunks will (a raw record would be 20 bytes a sample).
 */
export class LogBuilder {
  private ids: Uint32Array;
  private ts: Float64Array;
  private vs: Float64Array;
  n = 0;

  constructor(capacity: number) {
    this.ids = new Uint32Array(Math.max(1, capacity));
    this.ts = new Float64Array(Math.max(1, capacity));
    this.vs = new Float64Array(Math.max(1, capacity));
  }

  add(id: number, t: number, v: number): void {
    this.ids[this.n] = id;
    this.ts[this.n] = t;
    this.vs[this.n++] = v;
  }

  encode(): Buffer {
    const n = this.n;
    // Group by series, keeping each series' samples in append order (replay order matters for
    // out-of-order ties).
    const order = Array.from({ length: n }, (_, i) => i);
    const ids = this.ids;
    order.sort((a, b) => ids[a] - ids[b] || a - b);
    const parts: Buffer[] = [];
    let groups = 0;
    let i = 0;
    const gt = new Float64Array(n);
    const gv = new Float64Array(n);
    while (i < n) {
      const id = ids[order[i]];
      let k = 0;
      while (i < n && ids[order[i]] === id) {
        gt[k] = this.ts[order[i]];
        gv[k++] = this.vs[order[i]];
        i++;
      }
      const enc = encodeChunk(gt, gv, k);
      const head = Buffer.allocUnsafe(8);
      head.writeUInt32LE(id, 0);
      head.writeUInt32LE(enc.length, 4);
      parts.push(head, Buffer.from(enc.buffer, enc.byteOffset, enc.length));
      groups++;
    }
    const count = Buffer.allocUnsafe(4);
    count.writeUInt32LE(groups, 0);
    return Buffer.concat([count, ...parts]);
  }
}

/** Calls `visit` with each group of a record, in the order written: the series id and its chunk. */
export function readLogRecord(buf: Buffer, visit: (id: number, chunk: Buffer) => void): void {
  let off = 0;
  const groups = buf.readUInt32LE(off);
  off += 4;
  for (let g = 0; g < groups; g++) {
    const id = buf.readUInt32LE(off);
    const len = buf.readUInt32LE(off + 4);
    off += 8;
    visit(id, buf.subarray(off, off + len));
    off += len;
  }
}
