// Label regexes have RE2 semantics and linear-time matching, so no pattern can hold the process.
import { describe, expect, it } from 'vitest';
import { Engine, PromQLParseError, parse } from '../../src/promql/index.js';
import { compileRegex } from '../../src/promql/regex.js';
import { MemoryStorage } from '../../src/promql/conformance/memory.js';

describe('label regexes', () => {
  it('matches anchored, with (?s) dot semantics, case folding and Unicode classes', () => {
    expect(compileRegex('a.c').test('a\nc')).toBe(true);
    expect(compileRegex('b').test('abc')).toBe(false);
    expect(compileRegex('(?i)GPU-\\pL+\\z').test('gpu-éa')).toBe(true);
    expect(compileRegex('[[:digit:]]+').test('0123')).toBe(true);
    expect(compileRegex('foo|bar').test('bar')).toBe(true);
    expect(compileRegex('foo|bar').test('foobar')).toBe(false);
    expect(compileRegex('pre.*').test('prefix')).toBe(true);
    expect(compileRegex('pre.*').test('xpre')).toBe(false);
    expect(compileRegex('.+').test('')).toBe(false);
    expect(compileRegex('a\\.b').test('axb')).toBe(false);
  });

  it('matches catastrophic patterns in linear time', () => {
    const started = process.hrtime.bigint();
    expect(compileRegex('(a|a)*b').test('a'.repeat(5_000))).toBe(false);
    expect(compileRegex('meterway_run_([a-z_]|[a-z_])*Z').test('meterway_run_' + 'x'.repeat(5_000))).toBe(false);
    expect(compileRegex('(x+x+)+y').test('x'.repeat(5_000))).toBe(false);
    // A backtracking engine needs longer than the universe for these; RE2 well under a second.
    expect(Number(process.hrtime.bigint() - started) / 1e9).toBeLessThan(5);
  });

  it('refuses what RE2 refuses as a parse error with RE2 s reason', () => {
    for (const [re, reason] of [
      ['a(?=b)', 'invalid or unsupported Perl syntax'],
      ['(a)\\1', 'invalid escape sequence'],
      ['(a', 'missing closing )'],
      ['a{2,1}', 'invalid repeat count'],
    ]) {
      let err: unknown;
      try {
        parse(`up{job=~${JSON.stringify(re)}}`);
      } catch (e) {
        err = e;
      }
      expect(err, re).toBeInstanceOf(PromQLParseError);
      expect((err as Error).message, re).toContain(reason);
    }
  });

  it('uses submatches and named groups in label_replace', async () => {
    const storage = new MemoryStorage();
    storage.append({ __name__: 'up', instance: 'host-7:9100' }, 0, 1);
    const r = await new Engine().instantQuery(
      storage,
      'label_replace(up, "host", "${name}/$2", "instance", "(?P<name>[a-z]+)-([0-9]+):.*")',
      0,
    );
    expect(r.result).toEqual([
      expect.objectContaining({ labels: { __name__: 'up', instance: 'host-7:9100', host: 'host/7' } }),
    ]);
    await expect(new Engine().instantQuery(storage, 'label_replace(up, "a", "b", "c", "(?<=x)")', 0)).rejects.toThrow(
      /invalid regular expression in label_replace/,
    );
  });
});
