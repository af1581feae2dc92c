// Runs the conformance runner over Meterway's own `.test` files (all must pass) and, where the
// shared Prometheus corpus is checked out next to the repo, guards its pass rate.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { collectTestFiles, summarize } from '../../src/promql/conformance/cli.js';
import { runTestFile } from '../../src/promql/conformance/runner.js';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = join(here, '..', '..', '..', 'shared', 'promql-tests');

/** Measured when the runner was written: every eval of the non-experimental files passed. */
const MEASURED_PASS_RATE = 1.0;
/** Experimental files: every eval passed too. */
const MEASURED_EXPERIMENTAL_PASS_RATE = 1.0;
const MARGIN = 0.01;

function tempTestFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'promql-conformance-'));
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('conformance runner', () => {
  it('reports a wrong expectation as a failure with expected and got', () => {
    const r = runTestFile(tempTestFile('wrong.test', 'load 1m\n  m 1 2 3\n\neval instant at 2m m\n  m 4\n'));
    expect(r.passed).toBe(0);
    expect(r.failed).toBe(1);
    expect(r.failures[0]).toMatchObject({ line: 4, expr: 'm', expected: '{__name__="m"} 4' });
    expect(r.failures[0].got).toContain('{__name__="m"} 3');
  });

  it('compares floats with a relative tolerance of 1e-6 and NaN exactly', () => {
    const content = 'load 1m\n  m 1000000 NaN\n\neval instant at 0 m\n  m 1000000.5\n\neval instant at 0 m\n  m 1000003\n\neval instant at 1m m\n  m NaN\n';
    const r = runTestFile(tempTestFile('eps.test', content));
    expect([r.passed, r.failed]).toEqual([2, 1]);
    expect(r.failures[0].line).toBe(7);
  });

  it('skips native-histogram evals and says why, and reports unparseable files', () => {
    const content = 'load 1m\n  h {{schema:0 sum:1 count:1}}x2\n  f 1 2\n\neval instant at 1m h\n  h 1\n\neval instant at 1m f\n  f 2\n';
    const r = runTestFile(tempTestFile('nh.test', content));
    expect([r.passed, r.failed, r.skipped]).toEqual([1, 0, 1]);
    expect(r.skips[0]).toMatchObject({ line: 5, reason: 'selects native histogram series' });
    const bad = runTestFile(tempTestFile('bad.test', 'frobnicate 1m\n'));
    expect(bad.error).toMatch(/unknown command/);
  });
});

describe('PromQL conformance', () => {
  it("passes every eval of Meterway's own .test files", () => {
    const results = collectTestFiles([here]).map((f) => runTestFile(f));
    expect(results.length).toBeGreaterThanOrEqual(5);
    expect(results.filter((r) => r.error).map((r) => `${r.file}: ${r.error}`)).toEqual([]);
    expect(results.flatMap((r) => r.failures)).toEqual([]);
    expect(summarize(results).passed).toBeGreaterThan(50);
  });

  it.runIf(existsSync(corpus))('keeps the pass rate of the shared corpus (non-experimental files)', () => {
    const results = collectTestFiles([corpus])
      .map((f) => runTestFile(f))
      .filter((r) => !r.experimental);
    expect(results.filter((r) => r.error).map((r) => `${r.file}: ${r.error}`)).toEqual([]);
    const { passed, failed } = summarize(results);
    expect(passed + failed).toBeGreaterThan(600);
    expect(passed / (passed + failed)).toBeGreaterThanOrEqual(MEASURED_PASS_RATE - MARGIN);
  });

  it.runIf(existsSync(corpus))('keeps the pass rate of the experimental files of the shared corpus', () => {
    const results = collectTestFiles([corpus])
      .map((f) => runTestFile(f))
      .filter((r) => r.experimental);
    const { passed, failed } = summarize(results);
    expect(passed + failed).toBeGreaterThan(200);
    expect(passed / (passed + failed)).toBeGreaterThanOrEqual(MEASURED_EXPERIMENTAL_PASS_RATE - MARGIN);
  });
});
