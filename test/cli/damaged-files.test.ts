/**
 * Damaged files in the data directory, as an operator meets them: after a clean start and stop,
 * the store, the control database or the master key is overwritten or cut short, and the next
 * `meterway serve` must refuse with one message naming the file, what is wrong and the exact way
 * forward, and no stack trace. Following the message's move-aside command must then start.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, closeSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RunResult } from '../peers.js';
import { runCli, cleanedUpAfterAll, startServe } from './harness.js';

const ADMIN = 'mw_admin_damaged-test-0123456789abcdefghijklm';
const ENV = { METERWAY_ADMIN_TOKEN: ADMIN, METERWAY_ALLOW_PRIVATE_EGRESS: '1' };

const { servers, tempDir } = cleanedUpAfterAll('meterway-damaged-');

/** Samples every second, so the store has rows by the time the first gateway stops. */
let configFile: string;

const serve = (dataDir: string) => startServe(servers, ['--data-dir', dataDir, '--config', configFile], ENV);

async function serveRefused(dataDir: string): Promise<RunResult> {
  const port = await freePort();
  return runCli(['serve', '--port', String(port), '--data-dir', dataDir, '--config', configFile], ENV);
}

async function api<T = any>(url: string, method: string, path: string, body?: unknown, token = ADMIN): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** One message on stderr, about `file`, no stack trace, nothing listening, the lock released. */
function expectRefusal(r: RunResult, dataDir: string, file: string): string {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code).not.toBe(null);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/SqliteError|node:internal|\.ts:\d+/);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^error: /);
  expect(r.stderr).toContain(join(dataDir, file));
  expect(r.stdout).not.toContain('listening');
  expect(existsSync(join(dataDir, 'LOCK'))).toBe(false);
  return r.stderr;
}

/** The data directory of a first clean start and stop: a project, stored samples, an integration with a secret. */
let template: string;
let projectId: string;
let integrationId: string;

beforeAll(async () => {
  const cfgDir = tempDir();
  configFile = join(cfgDir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ storage: { interval: '1s' } }));
  template = tempDir();
  const gw = await serve(template);
  projectId = (await api(gw.url, 'POST', '/v1/projects', { name: 'damaged' })).id;
  const ingest = (await api(gw.url, 'POST', `/v1/projects/${projectId}/tokens`, { scope: 'ingest', name: 'i' })).token;
  const events = Array.from({ length: 50 }, (_, i) => ({ type: 'inference', project_id: projectId, model_name: `m${i}`, input_tokens: i, output_tokens: 1 }));
  expect((await api(gw.url, 'POST', '/v1/events', events, ingest)).accepted).toBe(50);
  integrationId = (await api(gw.url, 'POST', `/v1/projects/${projectId}/integrations`, {
    name: 'otlp', kind: 'otlp', endpoint: 'http://127.0.0.1:4318', auth_headers: { 'X-Api-Key': 'a-secret-value' },
  })).id;
  await api(gw.url, 'POST', `/v1/projects/${projectId}/integrations/${integrationId}/disable`);
  // Two samplings, so the store holds chunks and not only its schema.
  await new Promise((r) => setTimeout(r, 2_500));
  expect(await gw.proc.stop()).toEqual({ code: 0, signal: null });
  expect(statSync(join(template, 'tsdb.db')).size).toBeGreaterThan(8 * 4096);
}, 120_000);

function copyOfTemplate(): string {
  const d = tempDir();
  cpSync(template, d, { recursive: true });
  return d;
}

/** Overwrites bytes from `offset` on (to the end when `length` is absent) with random ones. */
function scribble(file: string, offset: number, length?: number): void {
  const n = length ?? statSync(file).size - offset;
  const fd = openSync(file, 'r+');
  writeSync(fd, randomBytes(n), 0, n, offset);
  closeSync(fd);
}

/** Runs the message's move-aside command as the operator would paste it. */
function runMoveAside(stderr: string, expected: string): void {
  expect(stderr).toContain(expected);
  execFileSync('sh', ['-c', expected]);
}

describe('a damaged embedded store (tsdb.db)', { timeout: 180_000 }, () => {
  it('garbage: refused as not a SQLite database, file untouched; moved aside as told, the gateway starts with an empty store', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'tsdb.db');
    writeFileSync(file, randomBytes(64 * 1024));
    const before = readFileSync(file);
    const msg = expectRefusal(await serveRefused(d), d, 'tsdb.db');
    expect(msg).toContain(`the embedded time-series store ${file} is not a SQLite database or is corrupted (SQLITE_NOTADB`);
    expect(msg).toContain('Restore it from a backup');
    expect(readFileSync(file).equals(before)).toBe(true);

    runMoveAside(msg, `mv ${file} ${file}.corrupt`);
    const gw = await serve(d);
    // The control database was not touched: the project is there, its stored samples are not.
    expect((await api(gw.url, 'GET', `/v1/projects/${projectId}`)).id).toBe(projectId);
    expect(await gw.proc.stop()).toEqual({ code: 0, signal: null });
    expect(readFileSync(`${file}.corrupt`).equals(before)).toBe(true);
  });

  it('truncated: refused as truncated, with the sizes', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'tsdb.db');
    const size = statSync(file).size;
    truncateSync(file, Math.floor(size / 2));
    const msg = expectRefusal(await serveRefused(d), d, 'tsdb.db');
    expect(msg).toContain(`the embedded time-series store ${file} is truncated: ${Math.floor(size / 2)} bytes, but its header records`);
    expect(msg).toContain(`(${size} bytes)`);
    expect(msg).toContain(`mv ${file} ${file}.corrupt`);
  });

  it('a valid header over damaged pages (SQLite opens it, and fails only when it reads them): refused as corrupted', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'tsdb.db');
    scribble(file, 4096);
    const msg = expectRefusal(await serveRefused(d), d, 'tsdb.db');
    expect(msg).toMatch(new RegExp(`the embedded time-series store ${file} (is corrupted \\(SQLITE_CORRUPT|is not a SQLite database or is corrupted \\(SQLITE_NOTADB)`));
    expect(msg).toContain(`mv ${file} ${file}.corrupt`);
  });

  it('a second damaged copy is not moved over the first one', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'tsdb.db');
    writeFileSync(`${file}.corrupt`, 'an earlier one');
    writeFileSync(file, randomBytes(8192));
    const msg = expectRefusal(await serveRefused(d), d, 'tsdb.db');
    expect(msg).toContain(`mv ${file} ${file}.corrupt.2`);
  });
});

describe('a damaged control database (meterway.db)', { timeout: 180_000 }, () => {
  it('garbage: refused as not a SQLite database; moved aside as told, the gateway starts with an empty one', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'meterway.db');
    writeFileSync(file, Buffer.from('this is not a database, it was overwritten by mistake\n'.repeat(100)));
    const msg = expectRefusal(await serveRefused(d), d, 'meterway.db');
    expect(msg).toContain(`the control database ${file} is not a SQLite database or is corrupted (SQLITE_NOTADB`);
    expect(msg).toContain('projects, tokens and integrations are then gone');

    runMoveAside(msg, `mv ${file} ${file}.corrupt`);
    const gw = await serve(d);
    expect((await api(gw.url, 'GET', '/v1/projects')).items).toEqual([]);
    expect(await gw.proc.stop()).toEqual({ code: 0, signal: null });
  });

  it('truncated: refused as truncated', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'meterway.db');
    const size = statSync(file).size;
    truncateSync(file, size - 4096 - 100);
    const msg = expectRefusal(await serveRefused(d), d, 'meterway.db');
    expect(msg).toContain(`the control database ${file} is truncated: ${size - 4096 - 100} bytes, but its header records`);
    expect(msg).toContain(`mv ${file} ${file}.corrupt`);
  });

  it('truncated to nothing: refused, not taken for a new database', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'meterway.db');
    truncateSync(file, 0);
    const msg = expectRefusal(await serveRefused(d), d, 'meterway.db');
    expect(msg).toContain(`the control database ${file} is empty (0 bytes): it was truncated`);
    expect(statSync(file).size).toBe(0);
  });

  it('a valid header over damaged pages: found by the probe at open, refused as corrupted', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'meterway.db');
    // Page 1 (header and schema) intact; the tables' pages after it are garbage.
    scribble(file, 4096);
    const msg = expectRefusal(await serveRefused(d), d, 'meterway.db');
    expect(msg).toMatch(/is corrupted \((SQLITE_CORRUPT|PRAGMA quick_check)|is not a SQLite database or is corrupted \(SQLITE_NOTADB/);
    expect(msg).toContain(`mv ${file} ${file}.corrupt`);
  });
});

describe('a damaged master key file (master.key)', { timeout: 180_000 }, () => {
  const lossNote = 'moving it aside loses the stored integration secrets: the auth headers of 1 integration(s) were sealed with this key';

  it('the wrong length: says how many bytes it found; moved aside as told, the gateway starts with a new key and the secret is given up', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'master.key');
    writeFileSync(file, `${randomBytes(16).toString('base64')}\n`);
    const msg = expectRefusal(await serveRefused(d), d, 'master.key');
    expect(msg).toContain(`the master key file ${file} is damaged: master key must be 32 bytes, found 16`);
    expect(msg).toContain('Restore it from a backup');
    expect(msg).toContain(lossNote);

    runMoveAside(msg, `mv ${file} ${file}.corrupt`);
    const gw = await serve(d);
    const integration = await api(gw.url, 'GET', `/v1/projects/${projectId}/integrations/${integrationId}`);
    expect(integration.auth_header_names).toEqual([]);
    expect(integration.status.last_error).toContain('X-Api-Key');
    expect(integration.status.last_error).toContain('master.key.corrupt');
    // A header set again is sealed with the new key.
    await api(gw.url, 'PATCH', `/v1/projects/${projectId}/integrations/${integrationId}`, { auth_headers: { 'X-Api-Key': 'a-new-secret' } });
    expect(await gw.proc.stop()).toEqual({ code: 0, signal: null });
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^[A-Za-z0-9+/]{43}=$/);

    // The moved-aside key was acted on once: the new key going missing later does not give up
    // the header sealed with it.
    rmSync(file);
    const again = expectRefusal(await serveRefused(d), d, 'master.key');
    expect(again).toContain(`the master key file ${file} is missing`);
  });

  it('not base64: refused as such, without showing any of its content', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'master.key');
    const key = readFileSync(file, 'utf8').trim();
    writeFileSync(file, `${key.slice(0, 20)}\u0000\u00ff!!${key.slice(24)}`);
    const msg = expectRefusal(await serveRefused(d), d, 'master.key');
    expect(msg).toContain(`the master key file ${file} is damaged: it is not base64 text`);
    expect(msg).not.toContain(key.slice(0, 8));
    expect(msg).toContain(`mv ${file} ${file}.corrupt`);
    expect(msg).toContain(lossNote);
  });

  it('truncated to nothing: found 0 bytes', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'master.key');
    truncateSync(file, 0);
    const msg = expectRefusal(await serveRefused(d), d, 'master.key');
    expect(msg).toContain('master key must be 32 bytes, found 0');
  });

  it('unreadable (a directory where the file was): refused, naming the error', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'master.key');
    rmSync(file);
    mkdirSync(file);
    const msg = expectRefusal(await serveRefused(d), d, 'master.key');
    expect(msg).toContain(`the master key file ${file} cannot be read (EISDIR`);
    expect(msg).toContain(`mv ${file} ${file}.corrupt`);
  });

  it('missing while secrets are sealed with it: refused, and no new key file is left behind', async () => {
    const d = copyOfTemplate();
    const file = join(d, 'master.key');
    rmSync(file);
    const msg = expectRefusal(await serveRefused(d), d, 'master.key');
    expect(msg).toContain(`the master key file ${file} is missing, but the auth headers of 1 integration(s)`);
    expect(existsSync(file)).toBe(false);
  });
});
