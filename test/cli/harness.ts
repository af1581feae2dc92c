/** Running the `meterway` CLI as a user would, for the CLI test files. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import { freePort, poll, run, spawnProcess, type RunResult, type Spawned } from '../peers.js';

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

export interface ServerError {
  status: number;
  code: string;
  message: string;
}

/** The server's own error for a request (it must fail), to compare with what the CLI prints. */
export async function serverError(baseUrl: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<ServerError> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const parsed = (await res.json()) as { error: { code: string; message: string } };
  expect(res.status).toBeGreaterThanOrEqual(400);
  return { status: res.status, code: parsed.error.code, message: parsed.error.message };
}

/** A failed command: non-zero exit, nothing on stdout, the server's message, code and status on stderr. */
export function expectServerError(r: RunResult, err: ServerError): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code).not.toBe(null);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(err.message);
  expect(r.stderr).toContain(err.code);
  expect(r.stderr).toContain(`HTTP ${err.status}`);
}

/**
 * Servers and temp directories a test file (or describe block) starts, stopped and removed after
 * all of its tests: push servers into `servers`, take directories from `tempDir()`.
 */
export function cleanedUpAfterAll(prefix: string): { servers: Spawned[]; tempDir: () => string } {
  const servers: Spawned[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return {
    servers,
    tempDir() {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
  };
}

/**
 * `meterway serve` on a free port, `args` after the port (a `--data-dir` among them) and `env`
 * through cleanEnv; pushed into `servers` (see cleanedUpAfterAll) and resolved once it answers /healthz.
 */
export async function startServe(servers: Spawned[], args: string[], env: Record<string, string | undefined> = {}): Promise<{ proc: Spawned; url: string; port: number }> {
  const port = await freePort();
  const proc = spawnProcess(process.execPath, [...CLI, 'serve', '--port', String(port), ...args], { env: cleanEnv(env), cwd: REPO });
  servers.push(proc);
  const url = `http://127.0.0.1:${port}`;
  await poll('meterway serve to listen', async () => {
    if (proc.exited) throw new Error(`serve exited early:\n${proc.stdout}\n${proc.stderr}`);
    return (await fetch(`${url}/healthz`)).ok ? true : undefined;
  }, 45_000, 100);
  return { proc, url, port };
}
