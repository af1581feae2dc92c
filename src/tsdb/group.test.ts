import { describe, expect, it } from 'vitest';
import { decodeChunk, encodeChunk } from './chunk.js';
import { chunksIn, encodeGroup, isGroup } from './group.js';

/** Chunk k holds timestamps 1000k .. 1000k + 900 (ten samples, 100 ms apart), value = timestamp. */
function member(k: number): { minT: number; maxT: number; data: Uint8Array } {
  const ts = Float64Array.from({ length: 10 }, (_, i) => 1000 * k + 100 * i);
  return { minT: ts[0], maxT: ts[9], data: encodeChunk(ts, ts, 10) };
}

function timestampsIn(blob: Uint8Array, min: number, max: number): number[] {
  const parts: Uint8Array[] = [];
  chunksIn(blob, min, max, parts);
  return parts.flatMap((p) => [...decodeChunk(p).ts]);
}

describe('chunk groups', () => {
  const members = [0, 1, 2, 3].map(member);
  const group = encodeGroup(members);

  it('tells groups from chunks and passes a plain chunk through whole', () => {
    expect(isGroup(group)).toBe(true);
    expect(isGroup(members[0].data)).toBe(false);
    expect(timestampsIn(members[2].data, 0, 1)).toEqual([...decodeChunk(members[2].data).ts]);
  });

  it('yields the member chunks that can meet the range, judged by their end times', () => {
    const spanOf = (ks: number[]): number[] => ks.flatMap((k) => [...decodeChunk(members[k].data).ts]);
    expect(timestampsIn(group, -Infinity, Infinity)).toEqual(spanOf([0, 1, 2, 3]));
    expect(timestampsIn(group, 1000, 1900)).toEqual(spanOf([1]));
    // Between two members: the second's start is only known to lie after the first's end.
    expect(timestampsIn(group, 1950, 1990)).toEqual(spanOf([2]));
    expect(timestampsIn(group, 1900, 2000)).toEqual(spanOf([1, 2]));
    expect(timestampsIn(group, 2500, 2500)).toEqual(spanOf([2]));
    expect(timestampsIn(group, 3900, 10_000)).toEqual(spanOf([3]));
    expect(timestampsIn(group, 4000, 10_000)).toEqual([]);
    expect(timestampsIn(group, -5000, -1)).toEqual([]);
  });

  it('keeps timestamps of any sign and size (1970 and before, far future)', () => {
    const far = [-5e12, -1, 2 ** 49].map((t) => ({ minT: t, maxT: t, data: encodeChunk([t], [1], 1) }));
    expect(timestampsIn(encodeGroup(far), -Infinity, Infinity)).toEqual([-5e12, -1, 2 ** 49]);
    expect(timestampsIn(encodeGroup(far), 0, 2 ** 50)).toEqual([2 ** 49]);
  });
});
