import { describe, expect, it } from 'vitest';
import { FieldError, parseTimestamp } from './fields.js';

describe('parseTimestamp', () => {
  it('reads RFC 3339 exactly as Date.parse does, every day of every month, leap years, fractions', () => {
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const texts: string[] = [];
    for (const year of [1970, 1999, 2000, 2024, 2026, 2100, 2400, 9999]) {
      for (let month = 1; month <= 12; month++) {
        for (let day = 1; day <= 31; day++) {
          const time = `${pad(rand(24))}:${pad(rand(60))}:${pad(rand(60))}`;
          const fraction = ['', '.5', '.12', '.123', '.123456789'][rand(5)];
          texts.push(`${year}-${pad(month)}-${pad(day)}T${time}${fraction}Z`);
        }
      }
    }
    // Days that do not exist, hour 24, second 60 and other forms take Date.parse's path.
    texts.push('2026-02-29T00:00:00Z', '2024-02-29T23:59:59.999Z', '2026-04-31T00:00:00Z', '2026-01-02T24:00:00Z', '2026-01-02T15:04:60Z', '2026-01-02t15:04:05z', '2026-01-02 15:04:05Z', '2026-01-02T15:04:05+02:00', '1969-12-31T23:59:59Z');
    for (const text of texts) {
      const expected = Date.parse(text);
      const got = parseTimestamp(text, 0);
      if (Number.isNaN(expected)) expect(got, text).toBeInstanceOf(FieldError);
      else expect(got, text).toBe(expected);
    }
  });

  it('takes epoch milliseconds and refuses the rest, naming the field', () => {
    expect(parseTimestamp(1_767_366_245_000, 0)).toBe(1_767_366_245_000);
    expect(parseTimestamp(undefined, 42)).toBe(42);
    for (const bad of [-1, Number.NaN, 'yesterday', '2026-13-01T00:00:00Z', true]) {
      const r = parseTimestamp(bad, 0);
      expect(r).toBeInstanceOf(FieldError);
      expect((r as FieldError).message).toMatch(/^timestamp: /);
    }
  });
});
