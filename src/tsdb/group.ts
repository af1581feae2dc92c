/**
 * Chunk groups: a series' in-order chunks packed into one database row. One row per chunk made a
 * day of a 15 s series 48 rows, and each row costs a B-tree step and a Buffer on the way out
 * (about 1 µs): a third of a large query's time went there. A group keeps each chunk whole and
 * indexes them by end time, so a read still decodes only the chunks its range touches.
 *
 * Layout: a marker byte (never set in a chunk's first byte), the chunk count, the group's first
 * timestamp, then per chunk its byte length and its last timestamp minus the group's first, then
 * the chunks back to back. Integers are LEB128 (7 bits a byte), the first timestamp zigzagged.
 */

export const GROUP_MARK = 0x20;
/** Upper bounds of a group's size beyond its chunks: the header, and the index per chunk. */
export const GROUP_HEADER_BYTES = 1 + 3 + 8;
export const GROUP_MEMBER_BYTES = 3 + 8;

export interface GroupMember {
  readonly minT: number;
  readonly maxT: number;
  readonly data: Uint8Array;
}

export function isGroup(blob: Uint8Array): boolean {
  return blob.length > 0 && (blob[0] & GROUP_MARK) !== 0;
}

/** Packs in-order, non-overlapping chunks (oldest first) into one blob. */
export function encodeGroup(members: readonly GroupMember[]): Uint8Array {
  const base = members[0].minT;
  const head: number[] = [GROUP_MARK];
  writeLeb(head, members.length);
  writeLeb(head, base >= 0 ? base * 2 : -base * 2 - 1);
  let body = 0;
  for (const m of members) {
    writeLeb(head, m.data.length);
    writeLeb(head, m.maxT - base);
    body += m.data.length;
  }
  const out = new Uint8Array(head.length + body);
  out.set(head);
  let at = head.length;
  for (const m of members) {
    out.set(m.data, at);
    at += m.data.length;
  }
  return out;
}

/**
 * Appends to `out` the chunks of a stored blob that may hold samples in [minMs, maxMs]: the blob
 * itself when it is a plain chunk, else the group members whose span can meet the range (a
 * member starts after the previous one ends, so that end bounds its start from below).
 */
export function chunksIn(blob: Uint8Array, minMs: number, maxMs: number, out: Uint8Array[]): void {
  if (!isGroup(blob)) {
    out.push(blob);
    return;
  }
  const cur = { at: 1 };
  const count = readLeb(blob, cur);
  const z = readLeb(blob, cur);
  const base = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  const lens: number[] = new Array(count);
  const ends: number[] = new Array(count);
  for (let i = 0; i < count; i++) {
    lens[i] = readLeb(blob, cur);
    ends[i] = base + readLeb(blob, cur);
  }
  let data = cur.at;
  let prevEnd = base - 1;
  for (let i = 0; i < count; i++) {
    if (prevEnd >= maxMs) break;
    if (ends[i] >= minMs) out.push(blob.subarray(data, data + lens[i]));
    data += lens[i];
    prevEnd = ends[i];
  }
}

function writeLeb(out: number[], x: number): void {
  while (x >= 128) {
    out.push(x % 128 | 128);
    x = Math.floor(x / 128);
  }
  out.push(x);
}

function readLeb(buf: Uint8Array, cur: { at: number }): number {
  let x = 0;
  let scale = 1;
  for (;;) {
    const b = buf[cur.at++];
    x += (b & 127) * scale;
    if (b < 128) return x;
    scale *= 128;
  }
}
