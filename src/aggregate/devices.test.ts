import { describe, expect, it } from 'vitest';
import { ActiveDevices } from './devices.js';
import { GaugeSeries } from './series.js';

describe('ActiveDevices', () => {
  it('counts distinct devices per series and forgets those last seen before the cutoff', () => {
    const d = new ActiveDevices();
    expect(d.seen('ios', 'a', 1000, 0).count).toBe(1);
    expect(d.seen('ios', 'a', 1500, 0).count).toBe(1);
    expect(d.seen('ios', 'b', 2000, 0).count).toBe(2);
    expect(d.seen('android', 'a', 2000, 0).count).toBe(1);
    // a (ios) was seen again at 1500, so a cutoff of 1600 leaves it out and b in.
    const ios = d.seen('ios', 'c', 3000, 1600);
    expect(ios.count).toBe(2);
    expect(d.tracked).toBe(3);
    d.prune(10_000);
    expect(d.tracked).toBe(0);
    expect(ios.count).toBe(0);
  });

  it('sets the gauge it was given to the count as devices age out', () => {
    const d = new ActiveDevices();
    const set = d.seen('k', 'a', 1, 0);
    set.gauge = new GaugeSeries(['platform'], ['ios']);
    d.seen('k', 'b', 2, 0);
    set.gauge.value = set.count;
    expect(set.gauge.value).toBe(2);
    d.prune(2);
    expect(set.gauge.value).toBe(1);
  });

  it('holds at most its bound, forgetting the least recently seen first', () => {
    const d = new ActiveDevices(3);
    for (const id of ['a', 'b', 'c']) d.seen('k', id, 1, 0);
    d.seen('k', 'a', 2, 0);
    const set = d.seen('k', 'd', 3, 0);
    expect(d.tracked).toBe(3);
    expect(set.count).toBe(3);
    // b went (the oldest sighting), a stayed.
    expect(d.seen('k', 'a', 4, 0).count).toBe(3);
    expect(d.seen('k', 'b', 5, 0).count).toBe(3);
  });

  it('keeps series apart whose keys share a prefix, absent labels included', () => {
    const d = new ActiveDevices();
    // Keys as events build them (app\0region\0platform), '' for an absent label.
    expect(d.seen('a\u0000\u0000', 'x', 1, 0).count).toBe(1);
    expect(d.seen('\u0000a\u0000', 'x', 1, 0).count).toBe(1);
    expect(d.seen('a\u0000\u0000', 'y', 1, 0).count).toBe(2);
    expect(d.tracked).toBe(3);
  });
});
