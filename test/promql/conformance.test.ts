// Runs the conformance runner over Meterway's own `.test` files (all must pass) and, where the
// shared Prometheus corpus is checked out next to the repo, guards its pass rate.
import { existsSync } from 'node:fs';
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
