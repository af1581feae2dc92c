/**
 * The `meterway` CLI end to end, run as a user runs it (`node --import tsx src/cli/main.ts ...`,
 * no build needed): the REST client commands against a gateway listening on loopback, and `serve`
 * itself as a child process.
 */
import { readFileSync, statSync, existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { freePort, poll, spawnProcess, type Spawned } from '../peers.js';

import { CLI, REPO, cleanEnv, expectServerError, runCli, serverError, cleanedUpAfterAll } from './harness.js';

/** Runs `meterway <args>`; never blocks the event loop, so the in-process gateway keeps serving. */
const meterway = runCli;

/** Asserts a zero exit and returns stdout. */
async function ok(args: string[], env: Record<string, string | undefined> = {}): Promise<string> {
  const r = await meterway(args, env);
  expect({ code: r.code, stderr: r.stderr }, `meterway ${args.join(' ')}`).toEqual({ code: 0, stderr: '' });
  return r.stdout;
}

async function okJson<T = any>(args: string[], env: Record<string, string | undefined> = {}): Promise<T> {
  return JSON.parse(await ok([...args, '--json'], env)) as T;
}

/** Lines of a table, with runs of spaces between columns split apart. */
function tableRows(stdout: string): string[][] {
  return stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/));
}

// Each command is a fresh Node process loading TypeScript through tsx (about a second of CPU), so on
// a busy two-core machine a test with several commands needs more than the default 30 s.
describe('meterway CLI against a running gateway', { timeout: 90_000 }, () => {
  let gw: TestGateway;
  let url: string;
  const admin = () => ['--server', url, '--token', ADMIN_TOKEN];



  beforeAll(async () => {
    gw = await startTestGateway();
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => gw?.close());

  it('creates, reads, lists and deletes projects, as JSON and as tables', async () => {
    const [created, tableOut] = await Promise.all([
      okJson(['projects', 'create', '--name', 'CLI JSON project', ...admin()]),
      ok(['projects', 'create', '--name', 'CLI table project', '--id', 'p-cli00001', ...admin()]),
    ]);
    expect(created).toEqual({ id: expect.stringMatching(/^p-[a-z0-9]{8}$/), name: 'CLI JSON project', created_at: expect.any(String) });
    expect(Number.isNaN(Date.parse(created.created_at))).toBe(false);
    const rows = tableRows(tableOut);
    expect(rows[0]).toEqual(['ID', 'NAME', 'CREATED_AT']);
    expect(rows.slice(1)).toEqual([['p-cli00001', 'CLI table project', expect.any(String)]]);

    const [got, list, listTable] = await Promise.all([
      okJson(['projects', 'get', created.id, ...admin()]),
      okJson(['projects', 'list', ...admin()]),
      ok(['projects', 'list', ...admin()]),
    ]);
    expect(got).toEqual(created);
    expect(list.items).toEqual(expect.arrayContaining([created, expect.objectContaining({ id: 'p-cli00001', name: 'CLI table project' })]));
    const listed = tableRows(listTable);
    expect(listed[0]).toEqual(['ID', 'NAME', 'CREATED_AT']);
    expect(listed.map((r) => r[0])).toEqual(expect.arrayContaining([created.id, 'p-cli00001']));

    const [delJson, delTable] = await Promise.all([
      okJson(['projects', 'delete', created.id, ...admin()]),
      ok(['projects', 'delete', 'p-cli00001', ...admin()]),
    ]);
    expect(delJson).toEqual({ deleted: created.id });
    expect(delTable.trim()).toBe('deleted project p-cli00001');

    const gone = await meterway(['projects', 'get', created.id, ...admin()]);
    await expectServerError(gone, await serverError(url, 'GET', `/v1/projects/${created.id}`, ADMIN_TOKEN));
  });

  it('takes the server from METERWAY_URL and the token from METERWAY_TOKEN; --server and --token win over them', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const p = await gw.project('env project');
    const [fromEnv, serverFlagWins, tokenFlagWins, tokenFlagLoses, own] = await Promise.all([
      meterway(['projects', 'get', p.id, '--json'], { METERWAY_URL: url, METERWAY_TOKEN: ADMIN_TOKEN }),
      meterway(['projects', 'get', p.id, '--json', '--server', url], { METERWAY_URL: dead, METERWAY_TOKEN: ADMIN_TOKEN }),
      meterway(['projects', 'get', p.id, '--json', '--token', ADMIN_TOKEN], { METERWAY_URL: url, METERWAY_TOKEN: 'mw_admin_wrong-token-000000000000000000000' }),
      meterway(['projects', 'get', p.id, '--json', '--token', 'mw_admin_wrong-token-000000000000000000000'], { METERWAY_URL: url, METERWAY_TOKEN: ADMIN_TOKEN }),
      // a project-scoped token from the environment reads its own project too
      meterway(['projects', 'get', p.id, '--json'], { METERWAY_URL: url, METERWAY_TOKEN: p.manage }),
    ]);
    for (const r of [fromEnv, serverFlagWins, tokenFlagWins, own]) {
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(r.stdout)).toMatchObject({ id: p.id, name: 'env project' });
    }
    await expectServerError(tokenFlagLoses, await serverError(url, 'GET', `/v1/projects/${p.id}`, 'mw_admin_wrong-token-000000000000000000000'));
  });

  it("creates, lists and revokes a project's tokens; the secret is shown once and works", async () => {
    const p = await gw.project('token project');
    const scrape = (token: string) => fetch(`${url}/v1/projects/${p.id}/metrics`, { headers: { authorization: `Bearer ${token}` } });

    const [mon, tableOut, quiet] = await Promise.all([
      okJson(['tokens', 'create', '--project', p.id, '--scope', 'monitoring', '--name', 'grafana', ...admin()]),
      ok(['tokens', 'create', '--project', p.id, '--scope', 'ingest', '--name', 'platform', ...admin()]),
      ok(['tokens', 'create', '--project', p.id, '--scope', 'manage', '--name', 'script', '-q', ...admin()]),
    ]);
    // -q prints the token alone, for TOKEN=$(meterway tokens create ... -q)
    expect(quiet).toMatch(/^mw_manage_\S{32,}\n$/);
    expect((await scrape(quiet.trim())).status).toBe(200);
    expect(mon).toMatchObject({ id: expect.any(String), scope: 'monitoring', name: 'grafana', token: expect.stringMatching(/^mw_monitoring_/) });
    expect(mon.created_at).toEqual(expect.any(String));
    expect((await scrape(mon.token)).status).toBe(200);

    // Table form: the row, then the token on its own last line with a warning that it is shown once.
    const lines = tableOut.trimEnd().split('\n');
    const ingestSecret = lines[lines.length - 1];
    expect(ingestSecret).toMatch(/^mw_ingest_\S{32,}$/);
    expect(tableOut).toMatch(/shown once/);
    const rows = tableRows(lines.slice(0, 2).join('\n'));
    expect(rows[0]).toEqual(['ID', 'SCOPE', 'NAME', 'PROJECT_ID']);
    expect(rows[1].slice(1)).toEqual(['ingest', 'platform', p.id]);
    const ingestId = rows[1][0];
    const post = await fetch(`${url}/v1/events`, {
      method: 'POST', headers: { authorization: `Bearer ${ingestSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'run', project_id: p.id, app_name: 'cli', status: 'success' }),
    });
    expect(await post.json()).toEqual({ accepted: 1, rejected: [] });

    const [list, listTable] = await Promise.all([
      okJson(['tokens', 'list', '--project', p.id, ...admin()]),
      ok(['tokens', 'list', '--project', p.id, ...admin()]),
    ]);
    const ids = list.items.map((t: { id: string }) => t.id);
    expect(ids).toEqual(expect.arrayContaining([mon.id, ingestId]));
    for (const t of list.items) {
      expect(t).not.toHaveProperty('token');
      expect(t.project_id).toBe(p.id);
    }
    for (const out of [JSON.stringify(list), listTable]) {
      expect(out).not.toContain(mon.token);
      expect(out).not.toContain(ingestSecret);
    }
    const listRows = tableRows(listTable);
    expect(listRows[0]).toEqual(['ID', 'SCOPE', 'NAME', 'PROJECT_ID', 'PREFIX', 'CREATED_AT', 'LAST_USED_AT']);
    expect(listRows.map((r) => r[0])).toEqual(expect.arrayContaining([mon.id, ingestId]));

    const [revJson, revTable] = await Promise.all([
      okJson(['tokens', 'revoke', mon.id, '--project', p.id, ...admin()]),
      ok(['tokens', 'revoke', ingestId, '--project', p.id, ...admin()]),
    ]);
    expect(revJson).toEqual({ revoked: mon.id });
    expect(revTable.trim()).toBe(`revoked token ${ingestId}`);
    const denied = await scrape(mon.token);
    expect(denied.status).toBe(401);
    // a revoked token can no longer drive the CLI either, and the CLI says why in the server's words
    const r = await meterway(['projects', 'get', p.id, '--server', url, '--token', mon.token]);
    await expectServerError(r, await serverError(url, 'GET', `/v1/projects/${p.id}`, mon.token));
  });

  it('creates, lists and revokes server-wide tokens', async () => {
    const t = await okJson(['tokens', 'create', '--scope', 'ingest', '--name', 'fleet-wide', ...admin()]);
    expect(t).toMatchObject({ scope: 'ingest', name: 'fleet-wide', token: expect.stringMatching(/^mw_ingest_/) });
    expect(t.project_id ?? null).toBe(null);
    const p = await gw.project('server-wide ingest target');
    const post = await fetch(`${url}/v1/events`, {
      method: 'POST', headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'run', project_id: p.id, app_name: 'cli', status: 'success' }),
    });
    expect(await post.json()).toEqual({ accepted: 1, rejected: [] });
    const list = await okJson(['tokens', 'list', ...admin()]);
    expect(list.items.map((x: { id: string }) => x.id)).toContain(t.id);
    expect(JSON.stringify(list)).not.toContain(t.token);
    expect(await okJson(['tokens', 'revoke', t.id, ...admin()])).toEqual({ revoked: t.id });
    const again = await fetch(`${url}/v1/events`, {
      method: 'POST', headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'run', project_id: p.id, app_name: 'cli', status: 'success' }),
    });
    expect(again.status).toBe(401);
  });

  it("exits non-zero with the server's message on errors", async () => {
    const a = await gw.project('A');
    const b = await gw.project('B');
    const bad = 'mw_admin_not-a-real-token-00000000000000000000';
    const [badToken, noToken, unknown, badScope, monCreates, otherProject, badScopeWide] = await Promise.all([
      meterway(['projects', 'list', '--server', url, '--token', bad]),
      meterway(['projects', 'list', '--server', url]),
      meterway(['projects', 'get', 'p-nosuch00', ...admin()]),
      meterway(['tokens', 'create', '--project', a.id, '--scope', 'admin', '--name', 'nope', ...admin()]),
      meterway(['projects', 'create', '--name', 'not allowed', '--server', url, '--token', a.monitoring]),
      meterway(['tokens', 'list', '--project', b.id, '--server', url, '--token', a.manage]),
      meterway(['tokens', 'create', '--scope', 'monitoring', '--name', 'nope', ...admin()]),
    ]);
    await expectServerError(badToken, await serverError(url, 'GET', '/v1/projects', bad));
    // no token at all: the CLI says how to give it one, without asking the server
    expect(noToken.code).toBe(1);
    expect(noToken.stdout).toBe('');
    expect(noToken.stderr).toContain('pass --token or set METERWAY_TOKEN');
    await expectServerError(unknown, await serverError(url, 'GET', '/v1/projects/p-nosuch00', ADMIN_TOKEN));
    const scopeErr = await serverError(url, 'POST', `/v1/projects/${a.id}/tokens`, ADMIN_TOKEN, { scope: 'admin', name: 'nope' });
    expect(scopeErr.status).toBe(400);
    await expectServerError(badScope, scopeErr);
    const forbidden = await serverError(url, 'POST', '/v1/projects', a.monitoring, { name: 'not allowed' });
    expect(forbidden.status).toBe(403);
    await expectServerError(monCreates, forbidden);
    const hidden = await serverError(url, 'GET', `/v1/projects/${b.id}/tokens`, a.manage);
    expect(hidden.status).toBe(404);
    await expectServerError(otherProject, hidden);
    await expectServerError(badScopeWide, await serverError(url, 'POST', '/v1/tokens', ADMIN_TOKEN, { scope: 'monitoring', name: 'nope' }));
  });

  // The CLI shows only the message, so the message itself must list what is allowed.
  it('names the allowed scopes when a scope is not allowed', async () => {
    const p = await gw.project('scope message');
    const err = await serverError(url, 'POST', `/v1/projects/${p.id}/tokens`, ADMIN_TOKEN, { scope: 'admin', name: 'nope' });
    expect(err.message).toMatch(/ingest/);
    expect(err.message).toMatch(/manage/);
    expect(err.message).toMatch(/monitoring/);
  });

  it('says so when the server cannot be reached, and when a required option is missing', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const [unreachable, missing] = await Promise.all([
      meterway(['projects', 'list', '--server', dead, '--token', ADMIN_TOKEN]),
      meterway(['projects', 'create', ...admin()]),
    ]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toBe('');
    expect(unreachable.stderr).toContain(`cannot reach the Meterway server at ${dead}`);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--name/);
  });

  // Regression: the listed `prefix` was once cut at the last `_` of the whole token, and base64url
  // secrets often contain `_`, so a list could show much of a secret. With 20 tokens the chance that
  // none has an `_` in its secret (and the check proves nothing) is about 1e-6.
  it('lists at most the scope prefix and a few characters of each secret', async () => {
    const p = await gw.project('prefix project');
    const secrets = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${url}/v1/projects/${p.id}/tokens`, {
        method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ scope: 'monitoring', name: `t${i}` }),
      });
      const t = (await res.json()) as { id: string; token: string };
      secrets.set(t.id, t.token);
    }
    const list = await okJson(['tokens', 'list', '--project', p.id, ...admin()]);
    const mine = (list.items as Array<{ id: string; prefix: string }>).filter((t) => secrets.has(t.id));
    expect(mine).toHaveLength(20);
    for (const t of mine) {
      const shown = t.prefix.replace(/…$/, '');
      expect(secrets.get(t.id)!.startsWith(shown)).toBe(true);
      expect(shown.length).toBeLessThanOrEqual('mw_monitoring_'.length + 8);
    }
  });
});

describe('meterway serve', { timeout: 90_000 }, () => {
  const { servers, tempDir } = cleanedUpAfterAll('meterway-serve-');

  /** `meterway serve` on a free port, given by --port or, with `portFromEnv`, by METERWAY_PORT. */
  async function serve(args: string[], env: Record<string, string | undefined> = {}, portFromEnv = false): Promise<{ proc: Spawned; url: string }> {
    const port = await freePort();
    const portArgs = portFromEnv ? [] : ['--port', String(port)];
    const fullEnv = cleanEnv({ ...env, ...(portFromEnv ? { METERWAY_PORT: String(port) } : {}) });
    const proc = spawnProcess(process.execPath, [...CLI, 'serve', ...portArgs, ...args], { env: fullEnv, cwd: REPO });
    servers.push(proc);
    const url = `http://127.0.0.1:${port}`;
    await poll('meterway serve to listen', async () => {
      if (proc.exited) throw new Error(`serve exited early:\n${proc.stdout}\n${proc.stderr}`);
      const res = await fetch(`${url}/healthz`);
      return res.ok ? true : undefined;
    }, 45_000, 100);
    return { proc, url };
  }

  it('generates an admin token into DATA_DIR/admin-token (0600), never prints it, and keeps it across restarts', async () => {
    const dataDir = tempDir();
    const first = await serve(['--data-dir', dataDir], { METERWAY_ADMIN_TOKEN: undefined });
    const file = join(dataDir, 'admin-token');
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readFileSync(file, 'utf8').trim();
    expect(token).toMatch(/^mw_admin_\S{32,}$/);
    // and, with no METERWAY_MASTER_KEY, a master key generated once, also 0600
    const keyFile = join(dataDir, 'master.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const masterKey = readFileSync(keyFile, 'utf8').trim();
    expect(Buffer.from(masterKey, 'base64')).toHaveLength(32);
    const res = await fetch(`${first.url}/v1/projects`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ items: [] });
    // says where the token is, but not the token
    await poll('the start-up log', () => (first.proc.stdout.includes('admin-token') ? true : undefined), 5_000);
    expect(first.proc.stdout + first.proc.stderr).toContain(file);
    expect(first.proc.stdout + first.proc.stderr).not.toContain(token);
    expect(first.proc.stdout + first.proc.stderr).not.toContain(token.slice(-20));
    expect(first.proc.stdout + first.proc.stderr).not.toContain(masterKey);

    // the CLI on the same machine finds the token through METERWAY_DATA_DIR, with no --token
    const listed = await meterway(['projects', 'list', '--json', '--server', first.url], { METERWAY_DATA_DIR: dataDir });
    expect({ code: listed.code, stderr: listed.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(listed.stdout)).toEqual({ items: [] });

    // SIGTERM stops it cleanly; a restart keeps the same token and makes no new one
    expect(await first.proc.stop()).toEqual({ code: 0, signal: null });
    const second = await serve(['--data-dir', dataDir], { METERWAY_ADMIN_TOKEN: undefined });
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(masterKey);
    expect(second.proc.stdout + second.proc.stderr).not.toContain(masterKey);
    expect((await fetch(`${second.url}/v1/projects`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect(second.proc.stdout + second.proc.stderr).not.toContain(token);
    expect(second.proc.stdout).not.toMatch(/created the admin token/);
    expect(await second.proc.stop()).toEqual({ code: 0, signal: null });
  });

  it('takes its settings from the environment (token, master key, port, data dir) and runs the demo with --demo', async () => {
    const dataDir = tempDir();
    const token = 'mw_admin_from-env-0123456789abcdefghijklmnopqrstuv';
    const key = Buffer.alloc(32, 7).toString('base64');
    const s = await serve(['--demo'], { METERWAY_ADMIN_TOKEN: token, METERWAY_MASTER_KEY: key, METERWAY_DATA_DIR: dataDir }, true);
    expect(existsSync(join(dataDir, 'meterway.db'))).toBe(true);
    expect(existsSync(join(dataDir, 'admin-token'))).toBe(false);
    expect(existsSync(join(dataDir, 'master.key'))).toBe(false);
    const auth = { authorization: `Bearer ${token}` };
    const projects = await fetch(`${s.url}/v1/projects`, { headers: auth });
    expect(projects.status).toBe(200);
    expect(((await projects.json()) as { items: Array<{ id: string }> }).items.map((p) => p.id)).toEqual(expect.arrayContaining(['p-demoacme', 'p-demoblue']));
    // the demo's live data, through a monitoring token as the README shows
    const mon = (await (await fetch(`${s.url}/v1/projects/p-demoacme/tokens`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ scope: 'monitoring', name: 'demo' }),
    })).json()) as { token: string };
    const scraped = await poll('demo data on the scrape endpoint', async () => {
      const body = await (await fetch(`${s.url}/v1/projects/p-demoacme/metrics`, { headers: { authorization: `Bearer ${mon.token}` } })).text();
      return body.includes('meterway_runs_total{') && body.includes('meterway_gpu_memory_usage_bytes{') ? body : undefined;
    }, 20_000, 250);
    expect(scraped).toContain('app_name="chat-llama"');
    const out = s.proc.stdout + s.proc.stderr;
    expect(out).not.toContain(token);
    expect(out).not.toContain(key);
    expect(out).not.toContain(mon.token);
    expect(await s.proc.stop()).toEqual({ code: 0, signal: null });
  });

  it('exits non-zero on a bad configuration, naming the field', async () => {
    const dataDir = tempDir();
    const [badPort, badRetention] = await Promise.all([
      meterway(['serve', '--port', 'abc', '--data-dir', dataDir]),
      meterway(['serve', '--port', String(await freePort()), '--retention', 'banana', '--data-dir', dataDir]),
    ]);
    expect(badPort.code).not.toBe(0);
    expect(badPort.code).not.toBe(null);
    expect(badPort.stderr).toMatch(/\bport\b/);
    expect(badPort.stderr).toContain('abc');
    expect(badRetention.code).not.toBe(0);
    expect(badRetention.code).not.toBe(null);
    expect(badRetention.stderr).toMatch(/\bretention\b/);
    expect(badRetention.stderr).toContain('banana');
    expect(existsSync(join(dataDir, 'admin-token'))).toBe(false);
  });
});
