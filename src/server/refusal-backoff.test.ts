import { describe, expect, it } from 'vitest';
import { RefusalBackoff } from './refusal-backoff.js';

describe('RefusalBackoff', () => {
  it('answers a burst at once, then at the rate, holding each answer until the budget takes it', () => {
    const b = new RefusalBackoff({ perSecond: 10, burst: 3, maxDelayMs: 2000 });
    const at = 1_000_000;
    expect([b.delayFor('x', at), b.delayFor('x', at), b.delayFor('x', at)]).toEqual([0, 0, 0]);
    // The fourth at the same instant waits one interval, the fifth two.
    expect(b.delayFor('x', at)).toBe(100);
    expect(b.delayFor('x', at)).toBe(200);
    // Another caller has its own budget.
    expect(b.delayFor('y', at)).toBe(0);
  });

  it('is whole again once the caller keeps to the rate', () => {
    const b = new RefusalBackoff({ perSecond: 10, burst: 2, maxDelayMs: 2000 });
    let t = 0;
    for (let i = 0; i < 100; i++, t += 100) expect(b.delayFor('x', t)).toBe(0);
    // The burst is there again whole.
    expect([b.delayFor('x', t), b.delayFor('x', t), b.delayFor('x', t)]).toEqual([0, 0, 100]);
    expect(b.delayFor('x', t + 10_000)).toBe(0);
  });

  it('holds an answer at most max_delay, and a held answer does not push the schedule further', () => {
    const b = new RefusalBackoff({ perSecond: 1, burst: 1, maxDelayMs: 1500 });
    expect(b.delayFor('x', 0)).toBe(0);
    expect(b.delayFor('x', 0)).toBe(1000);
    expect(b.delayFor('x', 0)).toBe(1500);
    expect(b.delayFor('x', 0)).toBe(1500);
    // Served again as soon as the two counted refusals have passed.
    expect(b.delayFor('x', 2000)).toBe(0);
  });

  it('a closed loop of clients is held to the rate', () => {
    // Four connections, each sending again as soon as it is answered, for ten seconds.
    const b = new RefusalBackoff({ perSecond: 10, burst: 50, maxDelayMs: 2000 });
    const next = [0, 0, 0, 0];
    let answered = 0;
    for (;;) {
      const i = next.indexOf(Math.min(...next));
      if (next[i] >= 10_000) break;
      next[i] += 1 + b.delayFor('attacker', next[i]);
      answered++;
    }
    // The burst, then ten a second.
    expect(answered).toBeGreaterThanOrEqual(140);
    expect(answered).toBeLessThanOrEqual(160);
  });

  it('per_second 0 turns it off', () => {
    const b = new RefusalBackoff({ perSecond: 0, burst: 1, maxDelayMs: 2000 });
    expect(b.enabled).toBe(false);
    for (let i = 0; i < 100; i++) expect(b.delayFor('x', 0)).toBe(0);
  });
});
