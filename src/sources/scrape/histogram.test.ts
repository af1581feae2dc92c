import { describe, expect, it } from 'vitest';
import { assembleHistogram, rebucket } from './histogram.js';

describe('assembling a classic histogram', () => {
  it('cumulative buckets in any order into per-bucket counts, bounds without +Inf', () => {
    expect(assembleHistogram([1, Infinity, 0.1, 0.5], [5, 6, 2, 4], 6, 2.75)).toEqual({ bounds: [0.1, 0.5, 1], bucketCounts: [2, 2, 1, 1], count: 6, sum: 2.75 });
  });

  it('takes the +Inf bucket as the count when there is no _count, and keeps a _count that differs', () => {
    expect(assembleHistogram([1, Infinity], [3, 4], undefined, 1)).toMatchObject({ count: 4 });
    expect(assembleHistogram([1, Infinity], [3, 4], 5, 1)).toMatchObject({ count: 5, bucketCounts: [3, 1] });
  });

  it('a histogram of only +Inf, and negative bounds', () => {
    expect(assembleHistogram([Infinity], [7], 7, 3)).toEqual({ bounds: [], bucketCounts: [7], count: 7, sum: 3 });
    expect(assembleHistogram([-1, 0, Infinity], [1, 1, 2], 2, -0.5)).toEqual({ bounds: [-1, 0], bucketCounts: [1, 0, 1], count: 2, sum: -0.5 });
  });

  it('says why when it is not a histogram', () => {
    expect(assembleHistogram([0.1, 1], [1, 2], 2, 1)).toBe('it has no le="+Inf" bucket');
    expect(assembleHistogram([], [], 0, 0)).toBe('it has no le="+Inf" bucket');
    expect(assembleHistogram([1, 1, Infinity], [1, 1, 2], 2, 1)).toBe('two buckets have the upper bound le="1"');
    expect(assembleHistogram([1, Infinity], [5, 3], 3, 1)).toBe('the bucket le="+Inf" counts 3, fewer than the 5 of the bucket below it; buckets are cumulative');
    expect(assembleHistogram([1, Infinity], [-1, 3], 3, 1)).toMatch(/^the bucket le="1" counts -1/);
    expect(assembleHistogram([1, Infinity], [NaN, 3], 3, 1)).toMatch(/^the bucket le="1" counts NaN/);
    expect(assembleHistogram([1, Infinity], [1, 3], 3, undefined)).toBe('it has no _sum series');
    expect(assembleHistogram([1, Infinity], [1, 3], 3, NaN)).toBe('its _sum is NaN, not a finite number');
    expect(assembleHistogram([1, Infinity], [1, 3], -1, 1)).toMatch(/^its _count is -1/);
  });
});

describe('rebucketing onto other bounds', () => {
  it('is exact where the new bounds are among the old', () => {
    // 0.1, 0.5, 1, +Inf -> 0.5, +Inf
    expect(rebucket([0.1, 0.5, 1], [2, 2, 1, 1], [0.5])).toEqual([4, 2]);
    expect(rebucket([0.1, 0.5, 1], [2, 2, 1, 1], [0.1, 0.5, 1])).toEqual([2, 2, 1, 1]);
  });

  it('moves an observation up to the next bound the exporter has, never down', () => {
    // Old 0.1, 1: 3 observations <= 0.1, 2 in (0.1, 1], 1 above. New 0.05, 0.5, 2:
    // nothing is known to be <= 0.05 or <= 0.5 beyond the 3 at 0.1; the 2 at (0.1, 1] go to 2.
    expect(rebucket([0.1, 1], [3, 2, 1], [0.05, 0.5, 2])).toEqual([0, 3, 2, 1]);
  });

  it("vLLM's time to first token onto Meterway's latency buckets", () => {
    const vllm = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];
    const meterway = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
    const counts = vllm.map((_, i) => i + 1).concat([100]);
    const out = rebucket(vllm, counts, meterway);
    expect(out).toHaveLength(meterway.length + 1);
    // Nothing is lost: the total is the same.
    expect(out.reduce((a, b) => a + b, 0)).toBe(counts.reduce((a, b) => a + b, 0));
    // 0.005 is one of vLLM's bounds: exact (buckets 0.001 and 0.005).
    expect(out[0]).toBe(1 + 2);
    // 0.025 is not: it holds what vLLM counted at 0.02.
    expect(out[2]).toBe(4);
    // 300 is not either: vLLM's 160 is the largest at or below it; 640 and 2560 and +Inf fold into +Inf.
    expect(out[meterway.length]).toBe(21 + 22 + 100);
  });
});
