import { describe, expect, it } from 'vitest';
import { parseImport } from './parse.js';

describe('parseImport', () => {
  it('reads samples with labels, escapes, timestamps and special values, and metadata', () => {
    const r = parseImport([
      '# HELP jobs_total Jobs done.',
      '# TYPE jobs_total counter',
      'jobs_total{app="a",note="q\\"uote \\\\ n\\nl ✓"} 12 1700000000000',
      'temperature -3.5e2 0',
      'up NaN 1000',
      'big +Inf -86400000',
      '{"my.metric", env="prod"} 1 5',
      '# just a comment',
      '',
    ].join('\n'), 42);
    expect(r.errors).toEqual([]);
    expect(r.samples).toEqual([
      { line: 3, labels: { __name__: 'jobs_total', app: 'a', note: 'q"uote \\ n\nl ✓' }, t: 1700000000000, v: 12 },
      { line: 4, labels: { __name__: 'temperature' }, t: 0, v: -350 },
      { line: 5, labels: { __name__: 'up' }, t: 1000, v: NaN },
      { line: 6, labels: { __name__: 'big' }, t: -86400000, v: Infinity },
      { line: 7, labels: { __name__: 'my.metric', env: 'prod' }, t: 5, v: 1 },
    ]);
    expect(r.metadata.get('jobs_total')).toEqual({ help: 'Jobs done.', type: 'counter' });
  });

  it('reports bad lines by number and keeps the good ones', () => {
    const r = parseImport(['ok 1 1000', 'bad{a="x" 1 1000', 'ok 2 2000', 'nameless{} 1', 'x{a=1} 1', 'y 1 12.5', 'z abc', 'w 1 2 3', '{a="b"} 1'].join('\n'), 0);
    expect(r.samples.map((s) => s.v)).toEqual([1, 2, 1]);
    expect(r.errors).toEqual([
      { line: 2, error: 'expected "," or "}" after the value of label a' },
      { line: 5, error: 'the value of label a must be a quoted string' },
      { line: 6, error: 'the timestamp must be whole milliseconds since the epoch, got "12.5"' },
      { line: 7, error: 'the value "abc" is not a number' },
      { line: 8, error: 'expected "value [timestamp_ms]" after the labels, got 3 fields' },
      { line: 9, error: 'the sample has no metric name' },
    ]);
  });
});
