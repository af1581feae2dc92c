/** Running the `meterway` CLI as a user would, for the CLI test files. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import { run, type RunResult } from '../peers.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** Through tsx, so no build is needed. */
export const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

/** Nothing of the caller's Meterway settings leaks in; the token-file fallback finds an empty dir. */
const EMPTY_DIR = mkdtempSync(join(tmpdir(), 'meterway-cli-empty-'));
afterAll(() => rmSync(EMPTY_DIR, { recursive: true, force: true }));

export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('METERWAY_')) env[k] = v;
  env.METERWAY_DATA_DIR = EMPTY_DIR;
  env.NO_COLOR = '1';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs `meterway <args>` without blocking the event loop, so an in-process gateway keeps serving. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  return run(process.execPath, [...CLI, ...args], { env: cleanEnv(env), cwd: REPO, timeoutMs: 60_000 });
}

/** A failed command: non-zero exit, nothing on stdout, the server's message, code and status on stderr. */
export function expectServerError(r: RunResult, err: { status: number; code: string; message: string }): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code).not.toBe(null);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(err.message);
  expect(r.stderr).toContain(err.code);
  expect(r.stderr).toContain(`HTTP ${err.status}`);
}
