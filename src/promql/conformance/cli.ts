/**
 * `npm run conformance -- DIR_OR_FILE...`: runs promqltest `.test` files against the engine.
 *
 * Prints one line per failing eval, a per-file table, a summary line for the experimental files
 * and, last, `N passed, M failed, K skipped` for the non-experimental files. The exit status is
 * non-zero only when the runner crashes or a file cannot be parsed, never for failing evals.
 * Each instant eval is also run as a range query around its time (Prometheus' range-mode check)
 * unless `--no-range-check` is given, and with `@ t` on its selectors at other times (the
 * @-modifier check) unless `--no-at-check` is given. `--no-annotations` ignores `expect warn/info/no_warn/no_info` lines (FORMAT.md allows it).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runTestFile, type FileResult } from './runner.js';

export function collectTestFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    if (statSync(p).isDirectory()) {
      for (const f of readdirSync(p).sort()) if (f.endsWith('.test')) files.push(join(p, f));
    } else {
      files.push(p);
    }
  }
  return files;
}

export function summarize(results: readonly FileResult[]): { passed: number; failed: number; skipped: number } {
  return results.reduce(
    (acc, r) => ({ passed: acc.passed + r.passed, failed: acc.failed + r.failed, skipped: acc.skipped + r.skipped }),
    { passed: 0, failed: 0, skipped: 0 },
  );
}

function main(argv: string[]): number {
  const checkAnnotations = !argv.includes('--no-annotations');
  const rangeCheck = !argv.includes('--no-range-check');
  const atCheck = !argv.includes('--no-at-check');
  const paths = argv.filter((a) => !a.startsWith('--'));
  if (paths.length === 0) {
    console.error('usage: npm run conformance -- [--no-annotations] [--no-range-check] [--no-at-check] DIR_OR_FILE...');
    return 2;
  }
  const results = collectTestFiles(paths).map((f) => runTestFile(f, { checkAnnotations, rangeCheck, atCheck }));
  let fileErrors = 0;
  for (const r of results) {
    if (r.error) {
      fileErrors++;
      console.log(`${r.file}: cannot parse file: ${r.error}`);
    }
    for (const f of r.failures) {
      console.log(`FAIL ${f.file}:${f.line}: ${f.expr} | expected: ${f.expected} | got: ${f.got}`);
    }
    for (const s of r.skips) console.log(`SKIP ${s.file}:${s.line}: ${s.expr} (${s.reason})`);
  }
  console.log('');
  console.log(`${'file'.padEnd(40)}passed  failed  skipped`);
  for (const r of results) {
    const tag = r.experimental ? ' (experimental)' : '';
    console.log(`${(r.file + tag).padEnd(40)}${String(r.passed).padStart(6)}${String(r.failed).padStart(8)}${String(r.skipped).padStart(9)}${r.error ? '  FILE ERROR' : ''}`);
  }
  const experimental = results.filter((r) => r.experimental);
  const stable = results.filter((r) => !r.experimental);
  if (experimental.length > 0) {
    const e = summarize(experimental);
    console.log(`experimental files: ${e.passed} passed, ${e.failed} failed, ${e.skipped} skipped`);
  }
  const s = summarize(stable);
  console.log(`${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
  return fileErrors > 0 ? 1 : 0;
}

const invokedDirectly = process.argv[1] !== undefined && /conformance[\\/]cli\.[jt]s$/.test(process.argv[1]);
if (invokedDirectly) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(err);
    process.exitCode = 2;
  }
}
