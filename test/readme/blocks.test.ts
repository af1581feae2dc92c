/** How the README test reads blocks, directives and outputs (blocks.ts), on small made-up READMEs. */
import { describe, expect, it } from 'vitest';
import { commandsOf, compareVersions, expandVars, fencedBlocks, jsonDifference, matchOutput, parseSeriesLine } from './blocks.js';

const SAMPLE = [
  '# Title',
  '```sh',
  'echo top',
  '```',
  '## Walk',
  'Some text.',
  '<!-- readme-test',
  'replace: https://collector.example.com => $RECEIVER',
  'replace: i-xxxxxxxxxxxx => $(get-id)',
  'env: A=1 (why)',
  '-->',
  '',
  '```sh',
  'connect --endpoint https://collector.example.com \\',
  '  --header x',
  '# ID              ENDPOINT',
  '# i-xxxxxxxxxxxx  https://collector.example.com',
  'test i-xxxxxxxxxxxx   # inline comment',
  '```',
  '<!-- readme-test skip: not here -->',
  '```bash',
  'never',
  '```',
  '```json',
  '{"a": 1}',
  '```',
].join('\n');

describe('fencedBlocks and commandsOf', () => {
  const blocks = fencedBlocks(SAMPLE);

  it('finds every block with its section, line, language and directives', () => {
    expect(blocks.map((b) => [b.section, b.line, b.lang])).toEqual([
      ['', 2, 'sh'],
      ['Walk', 13, 'sh'],
      ['Walk', 21, 'bash'],
      ['Walk', 24, 'json'],
    ]);
    expect(blocks[0].directives).toEqual({ env: [], replace: [] });
    expect(blocks[1].directives).toEqual({
      env: [{ name: 'A', value: '1' }],
      replace: [{ from: 'https://collector.example.com', to: '$RECEIVER' }, { from: 'i-xxxxxxxxxxxx', to: '$(get-id)' }],
    });
    expect(blocks[2].directives.skip).toBe('not here');
    expect(blocks[3].directives).toEqual({ env: [], replace: [] });
  });

  it('joins continued lines, attaches outputs, applies replacements and env', () => {
    const cmds = commandsOf(blocks[1]);
    expect(cmds.map((c) => ({ line: c.line, printed: c.printed, text: c.text, expected: c.expected }))).toEqual([
      {
        line: 14,
        printed: 'connect --endpoint https://collector.example.com \\\n  --header x',
        text: 'A=1 connect --endpoint $RECEIVER \\\n  --header x',
        // A replacement that runs a command is not applied to outputs.
        expected: ['ID              ENDPOINT', 'i-xxxxxxxxxxxx  $RECEIVER'],
      },
      { line: 18, printed: 'test i-xxxxxxxxxxxx   # inline comment', text: 'A=1 test $(get-id)   # inline comment', expected: [] },
    ]);
  });

  it('refuses directives it does not know and replacements that match nothing', () => {
    expect(() => fencedBlocks('<!-- readme-test\nrun faster\n-->\n```sh\nx\n```')).toThrow(/not understood/);
    const [b] = fencedBlocks('<!-- readme-test\nreplace: nowhere => x\n-->\n```sh\nx\n```');
    expect(() => commandsOf(b)).toThrow(/matches nothing/);
  });
});

describe('comparing outputs', () => {
  it('JSON: same shape and values, except times and placeholder ids', () => {
    expect(jsonDifference({ accepted: 1, rejected: [] }, { accepted: 1, rejected: [] })).toBeUndefined();
    expect(jsonDifference({ accepted: 1, rejected: [] }, { accepted: 2, rejected: [] })).toMatch(/\$\.accepted/);
    expect(jsonDifference({ a: 1 }, { a: 1, b: 2 })).toMatch(/keys/);
    expect(jsonDifference({ v: [1700000000.123, '1'] }, { v: [1796351152.291, '1'] })).toBeUndefined();
    expect(jsonDifference({ v: [1700000000.123, '1'] }, { v: [1796351152.291, '2'] })).toMatch(/\$\.v\[1\]/);
    expect(jsonDifference({ id: 'i-xxxxxxxxxxxx', at: '2025-01-01T00:00:00Z' }, { id: 'i-41mhjehtrkh4', at: '2026-12-04T02:25:50.571Z' })).toBeUndefined();
    expect(jsonDifference({ id: 'i-xxxxxxxxxxxx' }, { id: 't-41mhjehtrkh4' })).toMatch(/\$\.id/);
  });

  it('series lines: by name and labels, in the exposition form or promtool\'s', () => {
    expect(parseSeriesLine('m_total{a="b",c="d \\" e"} 1')).toEqual({ name: 'm_total', labels: { a: 'b', c: 'd \\" e' } });
    expect(parseSeriesLine('m_total{a="b", c="d"} => 1 @[1700000000]')).toEqual({ name: 'm_total', labels: { a: 'b', c: 'd' } });
    expect(parseSeriesLine('m_total 1')).toBeUndefined();
    expect(matchOutput(['m{b="2",a="1"} 1'], '# HELP m x\nm{a="1",b="2"} 7\n')).toEqual([]);
    expect(matchOutput(['m{a="1"} 1'], 'm{a="1",b="2"} 7\n')).toHaveLength(1);
  });

  it('text lines: numbers, times, ids and token prefixes vary; column widths do not matter', () => {
    expect(matchOutput(['ok: works: http://h:N/v1/metrics accepted (42 ms)'], 'ok: works: http://h:4318/v1/metrics accepted (9 ms)\n')).toEqual([]);
    expect(matchOutput(['t-w6dtup2i1d3k  ingest  mw_ingest_tijz…  2025-06-02T09:30:01.121Z  -'], 'ID  X\nt-abcdefghijkl ingest     mw_ingest_Q-9z…   2026-12-04T02:25:51.121Z   -\n')).toEqual([]);
    expect(matchOutput(['failed: nope'], 'ok: works\n')).toHaveLength(1);
    expect(matchOutput(['{"a":1}'], 'not json')).toHaveLength(1);
  });

  it('expands variables and compares versions', () => {
    expect(expandVars('at $URL/x and ${URL} not $OTHER', { URL: 'http://h' })).toBe('at http://h/x and http://h not $OTHER');
    expect(compareVersions('2.42.0', '2.43')).toBeLessThan(0);
    expect(compareVersions('2.43.1', '2.43')).toBeGreaterThan(0);
    expect(compareVersions('3.0', '2.43')).toBeGreaterThan(0);
  });
});
