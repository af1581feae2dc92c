/**
 * A start that fails leaves the data directory as it found it: it removes nothing it did not make
 * and leaves nothing it made (files, the directory itself and its parents), and says which port
 * and which flag. The data directory is made for its owner alone (0700); one open to others is
 * warned about. Run as an operator runs `meterway serve`, plus the gateway's own abandon() for a
 * listen that fails after the start made its files.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createGateway } from '../../src/server/gateway.js';
import { freePort, type RunResult, type Spawned } from '../peers.js';
import { cleanedUpAfterAll, runCli, startServe } from './harness.js';

const ADMIN = 'mw_admin_failed-start-0123456789abcdefghijklm';
const KEY = Buffer.alloc(32, 9).toString('base64');
const { servers, tempDir } = cleanedUpAfterAll('meterway-failed-start-');

/** A port something else listens on, for the whole file. */
const busy: Server[] = [];
afterAll(() => busy.forEach((s) => s.close()));
async function busyPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  busy.push(srv);
  return (srv.address() as { port: number }).port;
}

const serve = (dataDir: string, env: Record<string, string | undefined> = {}) => startServe(servers, ['--data-dir', dataDir], env);

/** Every entry under `dir` with its kind, mode, size and content hash: what "as it was" means. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, prefix: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        out[prefix + name + '/'] = (st.mode & 0o777).toString(8);
        walk(p, `${prefix}${name}/`);
      } else {
        out[prefix + name] = `${(st.mode & 0o777).toString(8)} ${st.size} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
      }
    }
  };
  walk(dir, '');
  return out;
}

function expectBusyRefusal(r: RunResult, port: number): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).not.toContain('Meterway is listening');
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}: port ${port} is already in use`);
  expect(r.stderr).toContain('--port or METERWAY_PORT');
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe('a start that fails', { timeout: 120_000 }, () => {
  it('on a busy port makes no data directory (nor its parents), naming the port, --port and METERWAY_PORT', async () => {
    const base = tempDir();
    const dataDir = join(base, 'new', 'data');
    const port = await busyPort();
    const [byFlag, byEnv] = await Promise.all([
      runCli(['serve', '--port', String(port), '--data-dir', dataDir]),
      runCli(['serve', '--data-dir', dataDir], { METERWAY_PORT: String(port) }),
    ]);
    expectBusyRefusal(byFlag, port);
    expectBusyRefusal(byEnv, port);
    expect(readdirSync(base)).toEqual([]);
  });

  it('on a busy port leaves an empty directory empty, and a used one exactly as it was', async () => {
    const empty = tempDir();
    const used = tempDir();
    const first = await serve(used);
    await fetch(`${first.url}/v1/projects`, { method: 'POST', headers: { authorization: `Bearer ${readFileSync(join(used, 'admin-token'), 'utf8').trim()}`, 'content-type': 'application/json' }, body: '{"name":"kept"}' });
    expect(await first.proc.stop()).toEqual({ code: 0, signal: null });
    const before = snapshot(used);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['admin-token', 'master.key', 'meterway.db', 'tsdb.db']));
    const port = await busyPort();
    const [a, b] = await Promise.all([
      runCli(['serve', '--port', String(port), '--data-dir', empty]),
      runCli(['serve', '--port', String(port), '--data-dir', used]),
    ]);
    expectBusyRefusal(a, port);
    expectBusyRefusal(b, port);
    expect(readdirSync(empty)).toEqual([]);
    expect(snapshot(used)).toEqual(before);
  });

  it('on a damaged file takes away what it made before noticing, and keeps the damaged file and everything else', async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'tsdb.db'), 'this is not a SQLite database at all, just text that is long enough to look like a header'.repeat(20));
    writeFileSync(join(dataDir, 'notes.txt'), 'the operator keeps notes here\n');
    const before = snapshot(dataDir);
    const r = await runCli(['serve', '--port', String(await freePort()), '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(join(dataDir, 'tsdb.db'));
    // the admin token, master key and control database it made on the way are gone again
    expect(snapshot(dataDir)).toEqual(before);
  });

  it('a listen that fails after the start made its files: abandon() removes them and the directories it made', async () => {
    const base = tempDir();
    const dataDir = join(base, 'made', 'data');
    const port = await busyPort();
    const gw = await createGateway(loadConfig({ dataDir, port }, {}), pino({ level: 'silent' }));
    expect(readdirSync(dataDir)).toEqual(expect.arrayContaining(['admin-token', 'master.key', 'meterway.db', 'tsdb.db', 'LOCK']));
    await expect(gw.app.listen({ host: '127.0.0.1', port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const removed = await gw.abandon();
    expect(removed).toEqual(expect.arrayContaining([join(dataDir, 'admin-token'), join(dataDir, 'master.key'), dataDir, join(base, 'made')]));
    expect(readdirSync(base)).toEqual([]);
  });

  it('abandon() on a directory used before undoes the bootstrap token and master key fingerprint, so the next start works', async () => {
    const dataDir = tempDir();
    // first run: the operator's own token and key, so no admin-token or master.key file
    const first = await createGateway(loadConfig({ dataDir, port: 0 }, { METERWAY_ADMIN_TOKEN: ADMIN, METERWAY_MASTER_KEY: KEY }), pino({ level: 'silent' }));
    await first.close();
    const before = readdirSync(dataDir).sort();
    expect(before).not.toContain('admin-token');
    expect(before).not.toContain('master.key');

    // second: neither set, so both files are made; then the listen fails
    const port = await busyPort();
    const second = await createGateway(loadConfig({ dataDir, port }, {}), pino({ level: 'silent' }));
    expect(existsSync(join(dataDir, 'admin-token'))).toBe(true);
    expect(existsSync(join(dataDir, 'master.key'))).toBe(true);
    await expect(second.app.listen({ host: '127.0.0.1', port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await second.abandon();
    expect(readdirSync(dataDir).sort()).toEqual(before);

    // the operator's key still opens the database (its fingerprint is back) ...
    const third = await createGateway(loadConfig({ dataDir, port: 0 }, { METERWAY_ADMIN_TOKEN: ADMIN, METERWAY_MASTER_KEY: KEY }), pino({ level: 'silent' }));
    await third.close();
    // ... and a start without a token makes the admin token again (the abandoned one is not in the database)
    const fourth = await createGateway(loadConfig({ dataDir, port: 0 }, { METERWAY_MASTER_KEY: KEY }), pino({ level: 'silent' }));
    try {
      expect(fourth.adminTokenFile).toBe(join(dataDir, 'admin-token'));
      const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
      const res = await fourth.app.inject({ method: 'GET', url: '/v1/tokens', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
      expect((res.json() as { items: Array<{ scope: string }> }).items.filter((t) => t.scope === 'admin')).toHaveLength(1);
    } finally {
      await fourth.close();
    }
  });
});

describe('the data directory mode', { timeout: 120_000 }, () => {
  it('is made 0700 (its parents as usual), and one open to other users is warned about, naming chmod 700', async () => {
    const base = tempDir();
    const fresh = join(base, 'parent', 'data');
    const open = tempDir();
    chmodSync(open, 0o755);
    const closed = tempDir();
    chmodSync(closed, 0o700);
    const [a, b, c] = await Promise.all([serve(fresh, { METERWAY_ADMIN_TOKEN: ADMIN }), serve(open, { METERWAY_ADMIN_TOKEN: ADMIN }), serve(closed, { METERWAY_ADMIN_TOKEN: ADMIN })]);
    for (const s of [a, b, c]) expect(await s.proc.stop()).toEqual({ code: 0, signal: null });
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
    expect(statSync(join(base, 'parent')).mode & 0o777).not.toBe(0);
    const warned = (s: { proc: Spawned }) => s.proc.stdout.split('\n').filter((l) => l.includes('open to other users')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warned(b)).toEqual([expect.objectContaining({ level: 40, data_dir: open, mode: '0755' })]);
    expect(String(warned(b)[0].msg)).toContain(`chmod 700 ${open}`);
    // a warning, not a change: the operator decides
    expect(statSync(open).mode & 0o777).toBe(0o755);
    expect(warned(a)).toEqual([]);
    expect(warned(c)).toEqual([]);
  });

  it('refuses a data directory path that is a file, and leaves the file alone', async () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, 'x');
    const r = await runCli(['serve', '--port', String(await freePort()), '--data-dir', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the data directory ${file} is not a directory`);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });
});
