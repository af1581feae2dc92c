import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => gw.close());

const admin = () => gw.auth(ADMIN_TOKEN);
const inject = (method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH', url: string, headers: Record<string, string> = {}, payload?: unknown) =>
  gw.app.inject({ method, url, headers, payload: payload as any });

describe('projects', () => {
  it('creates, lists, reads and deletes a project', async () => {
    const created = await inject('POST', '/v1/projects', admin(), { name: 'Acme' });
    expect(created.statusCode).toBe(201);
    const project = created.json();
    expect(project).toEqual({ id: expect.stringMatching(/^p-[a-z0-9]{8}$/), name: 'Acme', created_at: expect.any(String) });
    expect(new Date(project.created_at).toISOString()).toBe(project.created_at);

    const list = await inject('GET', '/v1/projects', admin());
    expect(list.statusCode).toBe(200);
    expect(list.json().items).toContainEqual(project);

    const read = await inject('GET', `/v1/projects/${project.id}`, admin());
    expect(read.json()).toEqual(project);

    const del = await inject('DELETE', `/v1/projects/${project.id}`, admin());
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    const gone = await inject('GET', `/v1/projects/${project.id}`, admin());
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('project_not_found');
  });

  it('takes a chosen id, and refuses a malformed or duplicate one', async () => {
    const ok = await inject('POST', '/v1/projects', admin(), { name: 'Chosen', id: 'p-chosen01' });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().id).toBe('p-chosen01');
    const dup = await inject('POST', '/v1/projects', admin(), { name: 'Again', id: 'p-chosen01' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error).toEqual({ code: 'project_exists', message: 'a project with id p-chosen01 already exists' });
    const bad = await inject('POST', '/v1/projects', admin(), { name: 'Bad', id: 'P_UPPER' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('validation_error');
    expect(bad.json().error.message).toContain('body.id');
  });

  it('says which field is wrong in a bad body', async () => {
    const missing = await inject('POST', '/v1/projects', admin(), {});
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toMatchObject({ code: 'validation_error', message: 'body.name: is required' });
    const unknown = await inject('POST', '/v1/projects', admin(), { name: 'x', colour: 'red' });
    expect(unknown.json().error.message).toBe('body: must NOT have additional properties: unknown field "colour"');
  });

  it('lets a project token see only its own project', async () => {
    const a = await gw.project('A');
    const b = await gw.project('B');
    const list = await inject('GET', '/v1/projects', gw.auth(a.monitoring));
    expect(list.json().items.map((p: { id: string }) => p.id)).toEqual([a.id]);
    expect((await inject('GET', `/v1/projects/${a.id}`, gw.auth(a.manage))).statusCode).toBe(200);
    for (const token of [a.ingest, a.manage, a.monitoring]) {
      const other = await inject('GET', `/v1/projects/${b.id}`, gw.auth(token));
      expect(other.statusCode).toBe(404);
      expect(other.json().error.code).toBe('project_not_found');
    }
  });

  it('keeps project creation and deletion to the admin', async () => {
    const a = await gw.project();
    const create = await inject('POST', '/v1/projects', gw.auth(a.manage), { name: 'nope' });
    expect(create.statusCode).toBe(403);
    expect(create.json().error).toEqual({ code: 'insufficient_scope', message: "this needs a token with scope admin; this token's scope is manage" });
    expect((await inject('DELETE', `/v1/projects/${a.id}`, gw.auth(a.manage))).statusCode).toBe(403);
  });

  it('deleting a project drops its tokens and metrics', async () => {
    const a = await gw.project();
    await inject('POST', '/v1/events', gw.auth(a.ingest), { type: 'run', project_id: a.id, app_name: 'x', status: 'success' });
    expect((await inject('DELETE', `/v1/projects/${a.id}`, admin())).statusCode).toBe(204);
    const scrape = await inject('GET', `/v1/projects/${a.id}/metrics`, gw.auth(a.monitoring));
    expect(scrape.statusCode).toBe(401);
    const asAdmin = await inject('GET', `/v1/projects/${a.id}/metrics`, admin());
    expect(asAdmin.statusCode).toBe(404);
  });
});

describe('tokens', () => {
  it('shows a project token once, lists it without the secret, and revokes it', async () => {
    const a = await gw.project();
    const created = await inject('POST', `/v1/projects/${a.id}/tokens`, admin(), { scope: 'monitoring', name: 'grafana' });
    expect(created.statusCode).toBe(201);
    const t = created.json();
    expect(t).toEqual({
      id: expect.stringMatching(/^t-[a-z0-9]{12}$/), token: expect.stringMatching(/^mw_monitoring_[A-Za-z0-9_-]{43}$/),
      scope: 'monitoring', name: 'grafana', project_id: a.id, prefix: expect.stringMatching(/^mw_monitoring_.{4}…$/),
      created_at: expect.any(String), last_used_at: null,
    });
    expect(t.token.startsWith(t.prefix.slice(0, -1))).toBe(true);

    const list = await inject('GET', `/v1/projects/${a.id}/tokens`, gw.auth(a.manage));
    expect(list.statusCode).toBe(200);
    const listed = list.json().items.find((x: { id: string }) => x.id === t.id);
    expect(listed).toEqual({ ...t, token: undefined, last_used_at: null });
    expect(JSON.stringify(list.json())).not.toContain(t.token);

    const revoke = await inject('DELETE', `/v1/projects/${a.id}/tokens/${t.id}`, gw.auth(a.manage));
    expect(revoke.statusCode).toBe(204);
    const after = await inject('GET', `/v1/projects/${a.id}/metrics`, gw.auth(t.token));
    expect(after.statusCode).toBe(401);
    expect(after.json().error.code).toBe('token_revoked');
    const again = await inject('DELETE', `/v1/projects/${a.id}/tokens/${t.id}`, gw.auth(a.manage));
    expect(again.statusCode).toBe(404);
  });

  it('records last_used_at', async () => {
    const a = await gw.project();
    await inject('GET', `/v1/projects/${a.id}/metrics`, gw.auth(a.monitoring));
    const list = await inject('GET', `/v1/projects/${a.id}/tokens`, gw.auth(a.manage));
    const mon = list.json().items.find((x: { scope: string }) => x.scope === 'monitoring');
    expect(mon.last_used_at).toEqual(expect.any(String));
    expect(Date.now() - Date.parse(mon.last_used_at)).toBeLessThan(60_000);
  });

  it('refuses a project token with a server scope, and names the allowed ones', async () => {
    const a = await gw.project();
    const res = await inject('POST', `/v1/projects/${a.id}/tokens`, admin(), { scope: 'admin', name: 'x' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('validation_error');
    expect(res.json().error.message).toBe('body.scope: must be one of ingest, manage, monitoring');
  });

  it('lets only admin and manage tokens manage tokens', async () => {
    const a = await gw.project();
    for (const token of [a.ingest, a.monitoring]) {
      const res = await inject('POST', `/v1/projects/${a.id}/tokens`, gw.auth(token), { scope: 'monitoring', name: 'x' });
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('insufficient_scope');
      expect((await inject('GET', `/v1/projects/${a.id}/tokens`, gw.auth(token))).statusCode).toBe(403);
    }
  });

  it("never touches another project's tokens", async () => {
    const a = await gw.project();
    const b = await gw.project();
    const bTokens = (await inject('GET', `/v1/projects/${b.id}/tokens`, admin())).json().items;
    const res = await inject('DELETE', `/v1/projects/${b.id}/tokens/${bTokens[0].id}`, gw.auth(a.manage));
    expect(res.statusCode).toBe(404);
    // Naming B's token under A's own path finds nothing either.
    const viaOwn = await inject('DELETE', `/v1/projects/${a.id}/tokens/${bTokens[0].id}`, gw.auth(a.manage));
    expect(viaOwn.statusCode).toBe(404);
    expect((await inject('GET', `/v1/projects/${b.id}/metrics`, gw.auth(bTokens[0].id))).statusCode).toBe(401);
  });

  it('creates, lists and revokes server-wide tokens (admin only)', async () => {
    const created = await inject('POST', '/v1/tokens', admin(), { scope: 'ingest', name: 'platform' });
    expect(created.statusCode).toBe(201);
    const t = created.json();
    expect(t).toMatchObject({ scope: 'ingest', name: 'platform', project_id: null, token: expect.stringMatching(/^mw_ingest_/) });
    const list = await inject('GET', '/v1/tokens', admin());
    expect(list.json().items.map((x: { id: string }) => x.id)).toContain(t.id);
    const a = await gw.project();
    expect((await inject('POST', '/v1/tokens', gw.auth(a.manage), { scope: 'ingest', name: 'x' })).statusCode).toBe(403);
    expect((await inject('POST', '/v1/tokens', admin(), { scope: 'monitoring', name: 'x' })).statusCode).toBe(400);
    expect((await inject('DELETE', `/v1/tokens/${t.id}`, admin())).statusCode).toBe(204);
    const used = await inject('POST', '/v1/events', gw.auth(t.token), { type: 'run', project_id: a.id, app_name: 'x', status: 'success' });
    expect(used.json().error.code).toBe('token_revoked');
  });
});

describe('authentication', () => {
  it('answers 401 with a stable code for a missing, malformed or unknown token', async () => {
    const missing = await inject('GET', '/v1/projects');
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error.code).toBe('missing_token');
    const basic = await inject('GET', '/v1/projects', { authorization: 'Basic abc' });
    expect(basic.json().error.code).toBe('invalid_token');
    const wrong = await inject('GET', '/v1/projects', gw.auth('mw_admin_not-a-real-token'));
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error.code).toBe('invalid_token');
  });

  it('keeps a monitoring token from posting or managing', async () => {
    const a = await gw.project();
    const post = await inject('POST', '/v1/events', gw.auth(a.monitoring), { type: 'run', project_id: a.id, app_name: 'x', status: 'success' });
    expect(post.statusCode).toBe(403);
    expect(post.json().error.code).toBe('insufficient_scope');
    const manage = await inject('POST', `/v1/projects/${a.id}/tokens`, gw.auth(a.monitoring), { scope: 'ingest', name: 'x' });
    expect(manage.statusCode).toBe(403);
  });

  it('uses the admin token file when no admin token is configured', async () => {
    const fresh = await startTestGateway({ env: { METERWAY_ADMIN_TOKEN: '' } });
    try {
      const { readFileSync, statSync } = await import('node:fs');
      const file = `${fresh.dataDir}/admin-token`;
      expect(fresh.adminTokenFile).toBe(file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, 'utf8').trim();
      expect(token).toMatch(/^mw_admin_/);
      const res = await fresh.app.inject({ method: 'GET', url: '/v1/projects', headers: fresh.auth(token) });
      expect(res.statusCode).toBe(200);
      const db = readFileSync(`${fresh.dataDir}/meterway.db`);
      expect(db.includes(Buffer.from(token))).toBe(false);
      const key = `${fresh.dataDir}/master.key`;
      expect(statSync(key).mode & 0o777).toBe(0o600);
      expect(Buffer.from(readFileSync(key, 'utf8').trim(), 'base64')).toHaveLength(32);
    } finally {
      await fresh.close();
    }
  });
});

describe('service endpoints', () => {
  it('answers health and readiness without a token', async () => {
    expect((await inject('GET', '/healthz')).json()).toEqual({ status: 'ok' });
    expect((await inject('GET', '/readyz')).json()).toEqual({ status: 'ready' });
  });

  it('serves the OpenAPI document at /docs', async () => {
    const doc = await inject('GET', '/docs/json');
    expect(doc.statusCode).toBe(200);
    const paths = Object.keys(doc.json().paths);
    for (const p of ['/v1/projects', '/v1/projects/{pid}', '/v1/projects/{pid}/tokens', '/v1/tokens', '/v1/events', '/v1/projects/{pid}/metrics', '/v1/projects/{pid}/apps/{app_name}/metrics', '/metrics']) {
      expect(paths).toContain(p);
    }
    const ui = await inject('GET', '/docs/');
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
  });

  it('answers an unknown route with the error envelope', async () => {
    const res = await inject('GET', '/v1/nothing');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /v1/nothing; see /docs for the API' } });
  });

  it('serves a page at /', async () => {
    const res = await inject('GET', '/');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Meterway');
  });
});
