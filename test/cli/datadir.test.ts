/**
 * The data directory as an operator meets it through the CLI: one process at a time (DIR/LOCK),
 * and damaged files refused at start-up with one message that says what to do.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, poll, type RunResult } from '../peers.js';
import { runCli, cleanedUpAfterAll, startServe } from './harness.js';

const ADMIN = 'mw_admin_datadir-test-0123456789abcdefghijklmn';

const { servers, tempDir } = cleanedUpAfterAll('meterway-datadir-');

const serve = (dataDir: string, env: Record<string, string | undefined> = {}) => startServe(servers, ['--data-dir', dataDir], { METERWAY_ADMIN_TOKEN: ADMIN, ...env });

/** `meterway serve` that is expected to refuse: the result, and whether its port was ever bound. */
async function serveRefused(dataDir: string, env: Record<string, string | undefined> = {}): Promise<RunResult & { port: number }> {
  const port = await freePort();
  const r = await runCli(['serve', '--port', String(port), '--data-dir', dataDir], { METERWAY_ADMIN_TOKEN: ADMIN, ...env });
  return { ...r, port };
}

/** A refusal as an operator should see it: non-zero, one message on stderr, no stack trace. */
function expectRefusal(r: RunResult): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code).not.toBe(null);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/SqliteError|node:internal/);
}

/** A pid that was alive a moment ago and is not now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise((r) => child.on('exit', r));
  return pid;
}

describe('the data directory lock', { timeout: 120_000 }, () => {
  it('refuses a second serve on a directory in use, naming the directory and the pid; after kill -9 a restart replaces the stale lock', async () => {
    const dataDir = tempDir();
    const lock = join(dataDir, 'LOCK');
    const first = await serve(dataDir);
    const pid = first.proc.child.pid!;
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(pid));

    const second = await serveRefused(dataDir);
    expectRefusal(second);
    expect(second.stderr).toContain(dataDir);
    expect(second.stderr).toContain(`pid ${pid}`);
    expect(second.stdout).not.toContain('listening');
    await expect(fetch(`http://127.0.0.1:${second.port}/healthz`)).rejects.toThrow();
    // the first one was not disturbed
    expect((await fetch(`${first.url}/healthz`)).ok).toBe(true);
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(pid));

    // kill -9 leaves the lock behind with a pid that is gone
    process.kill(pid, 'SIGKILL');
    expect(await first.proc.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(pid));

    const restarted = await serve(dataDir);
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(restarted.proc.child.pid));
    await poll('the stale-lock log line', () => (restarted.proc.stdout.includes('stale') ? true : undefined), 5_000);
    expect(restarted.proc.stdout).toContain(`pid ${pid}, no longer running`);
    const res = await fetch(`${restarted.url}/v1/projects`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);

    // a clean shutdown removes the lock
    expect(await restarted.proc.stop()).toEqual({ code: 0, signal: null });
    expect(existsSync(lock)).toBe(false);
  });

  it('checks the lock before opening any database: nothing is created in a directory another live process holds', async () => {
    const dataDir = tempDir();
    // This test process is alive and is not the gateway.
    writeFileSync(join(dataDir, 'LOCK'), `${process.pid}\n`);
    const r = await serveRefused(dataDir);
    expectRefusal(r);
    expect(r.stderr).toContain(`pid ${process.pid}`);
    expect(r.stderr).toContain(join(dataDir, 'LOCK'));
    for (const f of ['meterway.db', 'tsdb.db', 'master.key', 'admin-token']) expect(existsSync(join(dataDir, f)), f).toBe(false);
    expect(readFileSync(join(dataDir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('treats a lock without a pid, or with a dead pid, as stale', async () => {
    const garbled = tempDir();
    writeFileSync(join(garbled, 'LOCK'), '\u0000\u0001 not a pid');
    const a = await serve(garbled);
    expect(readFileSync(join(garbled, 'LOCK'), 'utf8').trim()).toBe(String(a.proc.child.pid));
    await poll('the stale-lock log line', () => (a.proc.stdout.includes('stale') ? true : undefined), 5_000);
    expect(await a.proc.stop()).toEqual({ code: 0, signal: null });
    expect(existsSync(join(garbled, 'LOCK'))).toBe(false);
  });
});

describe('meterway keys rotate and the lock', { timeout: 120_000 }, () => {
  it('refuses while a gateway runs on the directory, naming its pid, and changes nothing', async () => {
    const dataDir = tempDir();
    const gw = await serve(dataDir, { METERWAY_ADMIN_TOKEN: undefined });
    const pid = gw.proc.child.pid!;
    const keyBefore = readFileSync(join(dataDir, 'master.key'), 'utf8');
    const r = await runCli(['keys', 'rotate', '--data-dir', dataDir]);
    expectRefusal(r);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('stop the gateway first');
    expect(r.stderr).toContain(`process ${pid}`);
    expect(r.stderr).toContain(dataDir);
    expect(readFileSync(join(dataDir, 'master.key'), 'utf8')).toBe(keyBefore);
    expect(existsSync(join(dataDir, 'master.key.next'))).toBe(false);
    expect(readFileSync(join(dataDir, 'LOCK'), 'utf8').trim()).toBe(String(pid));
    expect((await fetch(`${gw.url}/healthz`)).ok).toBe(true);

    // once the gateway is stopped, the rotation runs
    expect(await gw.proc.stop()).toEqual({ code: 0, signal: null });
    const ok = await runCli(['keys', 'rotate', '--data-dir', dataDir]);
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
    expect(readFileSync(join(dataDir, 'master.key'), 'utf8')).not.toBe(keyBefore);
    expect(existsSync(join(dataDir, 'LOCK'))).toBe(false);
  });

  it('takes the lock itself: a stale one is replaced (and said so), and none is left afterwards', async () => {
    const dataDir = tempDir();
    const gw = await serve(dataDir, { METERWAY_ADMIN_TOKEN: undefined });
    expect(await gw.proc.stop()).toEqual({ code: 0, signal: null });
    const dead = await deadPid();
    writeFileSync(join(dataDir, 'LOCK'), `${dead}\n`);
    const r = await runCli(['keys', 'rotate', '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`removed a stale lock ${join(dataDir, 'LOCK')} (pid ${dead}, no longer running)`);
    expect(r.stdout).toContain('under master key version 2');
    expect(existsSync(join(dataDir, 'LOCK'))).toBe(false);
  });
});
