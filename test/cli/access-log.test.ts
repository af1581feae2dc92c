/**
 * The access log and what never reaches any log line. A gateway logs, at the most verbose level,
 * through the logger `meterway serve` uses, while it handles requests that carry tokens in every
 * place a client may put one (the Authorization header, the query string, the path, a project id's
 * place, a cookie, an integration's auth headers); every line it writes is then checked: one access
 * line per request with the route's pattern, status, duration, project and token id, and no secret
 * anywhere.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/logging.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { freePort } from '../peers.js';

type Line = Record<string, any>;

interface Capture {
  gw: TestGateway;
  text: () => string;
}

async function capturedGateway(format: 'json' | 'pretty'): Promise<Capture> {
  const written: string[] = [];
  const log = await createLogger({ level: 'trace', format, destination: { write: (s: string) => void written.push(s) }, isTTY: false });
  const gw = await startTestGateway({ log, env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, delivery: { schedule: false, sleep: async () => {} } });
  return { gw, text: () => written.join('') };
}

const HEADER_SECRET = 'hdr-secret-5f0c9a7e1b2d4c6f8a0b';
const COOKIE_SECRET = 'cookie-secret-9d8c7b6a5f4e3d2c1b0a';
const BASIC_SECRET = 'basic-password-1a2b3c4d5e6f7a8b';
const BOGUS = 'mw_admin_bogus-0123456789abcdefghijklmnopqrstuvw';

/** Every request of the session below, with what its access line must say. */
interface Expected {
  method: string;
  route: string;
  status: number;
  project_id?: string;
  token_id?: string;
}

async function session(gw: TestGateway): Promise<{ secrets: string[]; expected: Expected[] }> {
  const expected: Expected[] = [];
  const secrets = [ADMIN_TOKEN, HEADER_SECRET, COOKIE_SECRET, BASIC_SECRET, BOGUS, Buffer.from(`user:${BASIC_SECRET}`).toString('base64')];
  const call = async (
    exp: Expected,
    req: { method: string; url: string; token?: string; headers?: Record<string, string>; payload?: unknown },
  ) => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.token !== undefined) headers.authorization = `Bearer ${req.token}`;
    const res = await gw.app.inject({ method: req.method as 'GET', url: req.url, headers, payload: req.payload as string });
    expect(res.statusCode, `${req.method} ${req.url}: ${res.body}`).toBe(exp.status);
    expected.push(exp);
    return res;
  };
  const admin = 'env-admin';

  const p = (await call({ method: 'POST', route: '/v1/projects', status: 201, token_id: admin }, { method: 'POST', url: '/v1/projects', token: ADMIN_TOKEN, payload: { name: 'logged' } })).json().id as string;
  const other = (await call({ method: 'POST', route: '/v1/projects', status: 201, token_id: admin }, { method: 'POST', url: '/v1/projects', token: ADMIN_TOKEN, payload: { name: 'other' } })).json().id as string;
  const tokens: Record<string, { id: string; token: string }> = {};
  for (const scope of ['monitoring', 'ingest', 'manage']) {
    const t = (await call(
      { method: 'POST', route: '/v1/projects/:pid/tokens', status: 201, project_id: p, token_id: admin },
      { method: 'POST', url: `/v1/projects/${p}/tokens`, token: ADMIN_TOKEN, payload: { scope, name: scope } },
    )).json();
    tokens[scope] = { id: t.id, token: t.token };
    secrets.push(t.token);
  }
  const wide = (await call({ method: 'POST', route: '/v1/tokens', status: 201, token_id: admin }, { method: 'POST', url: '/v1/tokens', token: ADMIN_TOKEN, payload: { scope: 'ingest', name: 'wide' } })).json();
  secrets.push(wide.token);
  const { monitoring, ingest, manage } = tokens;

  await call({ method: 'POST', route: '/v1/events', status: 200, project_id: p, token_id: ingest.id }, {
    method: 'POST', url: '/v1/events', token: ingest.token, payload: { type: 'run', project_id: p, app_name: 'chat', status: 'success' },
  });
  await call({ method: 'POST', route: '/v1/events', status: 200, token_id: wide.id }, {
    method: 'POST', url: '/v1/events', token: wide.token, payload: [{ type: 'run', project_id: p, app_name: 'chat', status: 'error' }],
  });
  // a token in the query string as well as in the header: neither may be logged
  await call({ method: 'GET', route: '/v1/projects/:pid/metrics', status: 200, project_id: p, token_id: monitoring.id }, {
    method: 'GET', url: `/v1/projects/${p}/metrics?token=${monitoring.token}&api_key=${HEADER_SECRET}`, token: monitoring.token,
    headers: { cookie: `session=${COOKIE_SECRET}` },
  });
  await call({ method: 'GET', route: '/v1/projects/:pid/prometheus/api/v1/query', status: 200, project_id: p, token_id: monitoring.id }, {
    method: 'GET', url: `/v1/projects/${p}/prometheus/api/v1/query?query=${encodeURIComponent('meterway_runs_total')}`, token: monitoring.token,
  });
  // refusals: 401 (unknown, missing, not Bearer), 403 (scope), 404 (another project), each with its line
  await call({ method: 'GET', route: '/v1/projects', status: 401 }, { method: 'GET', url: '/v1/projects', token: BOGUS });
  await call({ method: 'GET', route: '/v1/projects', status: 401 }, { method: 'GET', url: '/v1/projects' });
  await call({ method: 'GET', route: '/v1/projects', status: 401 }, {
    method: 'GET', url: '/v1/projects', headers: { authorization: `Basic ${Buffer.from(`user:${BASIC_SECRET}`).toString('base64')}` },
  });
  await call({ method: 'POST', route: '/v1/projects', status: 403, token_id: monitoring.id, project_id: p }, {
    method: 'POST', url: '/v1/projects', token: monitoring.token, payload: { name: 'not allowed' },
  });
  await call({ method: 'POST', route: '/v1/projects/:pid/tokens', status: 403, project_id: p, token_id: monitoring.id }, {
    method: 'POST', url: `/v1/projects/${p}/tokens`, token: monitoring.token, payload: { scope: 'ingest', name: 'x' },
  });
  await call({ method: 'GET', route: '/v1/projects/:pid/metrics', status: 404, project_id: other, token_id: monitoring.id }, {
    method: 'GET', url: `/v1/projects/${other}/metrics`, token: monitoring.token,
  });
  // a token pasted where the project id goes, and into a path that matches no route
  await call({ method: 'GET', route: '/v1/projects/:pid/metrics', status: 404, token_id: admin }, {
    method: 'GET', url: `/v1/projects/${monitoring.token}/metrics`, token: ADMIN_TOKEN,
  });
  await call({ method: 'GET', route: '(no route)', status: 404 }, { method: 'GET', url: `/v1/nothing/${manage.token}?secret=${HEADER_SECRET}`, token: manage.token });
  // an integration's auth header value, on create, update and a connection test that fails
  const endpoint = `http://127.0.0.1:${await freePort()}`;
  const integ = (await call({ method: 'POST', route: '/v1/projects/:pid/integrations', status: 201, project_id: p, token_id: manage.id }, {
    method: 'POST', url: `/v1/projects/${p}/integrations`, token: manage.token,
    payload: { name: 'otlp', kind: 'otlp', endpoint, auth_headers: { Authorization: `Bearer ${HEADER_SECRET}`, 'X-Api-Key': HEADER_SECRET } },
  })).json();
  await call({ method: 'PATCH', route: '/v1/projects/:pid/integrations/:iid', status: 200, project_id: p, token_id: manage.id }, {
    method: 'PATCH', url: `/v1/projects/${p}/integrations/${integ.id}`, token: manage.token, payload: { auth_headers: { 'X-Api-Key': HEADER_SECRET } },
  });
  await call({ method: 'POST', route: '/v1/projects/:pid/integrations/:iid/test', status: 200, project_id: p, token_id: manage.id }, {
    method: 'POST', url: `/v1/projects/${p}/integrations/${integ.id}/test`, token: manage.token,
  });
  // a push that fails, as the scheduler would run it
  await gw.exporter.pushNow(integ.id).catch(() => {});
  // an OTLP body that is not OTLP, a bad event body, and public routes
  await call({ method: 'POST', route: '/v1/otlp/v1/metrics', status: 400, project_id: p, token_id: ingest.id }, {
    method: 'POST', url: '/v1/otlp/v1/metrics', token: ingest.token, headers: { 'content-type': 'application/x-protobuf' }, payload: 'not protobuf at all',
  });
  await call({ method: 'POST', route: '/v1/events', status: 400, project_id: p, token_id: ingest.id }, {
    method: 'POST', url: '/v1/events', token: ingest.token, headers: { 'content-type': 'application/json' }, payload: `{"token": "${ingest.token}"`,
  });
  await call({ method: 'GET', route: '/healthz', status: 200 }, { method: 'GET', url: `/healthz?token=${ADMIN_TOKEN}`, token: ADMIN_TOKEN });
  return { secrets, expected };
}

/** No secret, whole or as a long piece, and no Authorization or Cookie value in `text`. */
function expectNoSecrets(text: string, secrets: string[]): void {
  for (const s of secrets) {
    expect(text, 'a secret in the log').not.toContain(s);
    // the random part alone, without the readable prefix
    const tail = s.slice(-24);
    expect(text, 'part of a secret in the log').not.toContain(tail);
  }
  expect(text).not.toMatch(/Bearer\s+\S/i);
  expect(text).not.toMatch(/Basic\s+\S/i);
  expect(text).not.toMatch(/session=/);
}

describe('the access log', { timeout: 60_000 }, () => {
  const gateways: TestGateway[] = [];
  afterAll(async () => {
    for (const g of gateways) await g.close();
  });

  it('logs one line per request with method, route pattern, status, duration, project and token id; no line holds a secret', async () => {
    const cap = await capturedGateway('json');
    gateways.push(cap.gw);
    const masterKey = readFileSync(join(cap.gw.dataDir, 'master.key'), 'utf8').trim();
    const { secrets, expected } = await session(cap.gw);
    const text = cap.text();
    const lines = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
    expect(lines.length).toBeGreaterThan(expected.length);
    expectNoSecrets(text, [...secrets, masterKey]);

    const access = lines.filter((l) => l.msg === 'request');
    const said = access.map(({ method, route, status, project_id, token_id }) =>
      Object.fromEntries(Object.entries({ method, route, status, project_id, token_id }).filter(([, v]) => v !== undefined)));
    expect(said).toEqual(expected);
    for (const l of access) {
      expect(l.level).toBe(30);
      expect(typeof l.duration_ms).toBe('number');
      expect(l.duration_ms).toBeGreaterThanOrEqual(0);
      expect(Object.keys(l).sort()).toEqual(
        ['duration_ms', 'hostname', 'level', 'method', 'msg', 'pid', 'reqId', 'route', 'status', 'time', ...(l.project_id ? ['project_id'] : []), ...(l.token_id ? ['token_id'] : [])].sort(),
      );
    }
    // nothing but the access hook logs a request as such: no raw URL, no headers, anywhere
    for (const l of lines) {
      expect(l).not.toHaveProperty('url');
      expect(l).not.toHaveProperty('req');
      expect(JSON.stringify(l)).not.toMatch(/"headers"/);
    }
  });

  it('says the same, and holds no secret either, in the pretty form', async () => {
    const cap = await capturedGateway('pretty');
    gateways.push(cap.gw);
    const masterKey = readFileSync(join(cap.gw.dataDir, 'master.key'), 'utf8').trim();
    const { secrets, expected } = await session(cap.gw);
    const text = cap.text();
    expectNoSecrets(text, [...secrets, masterKey]);
    const access = text.split('\n').filter((l) => / INFO: (GET|POST|PATCH|DELETE) /.test(l));
    expect(access).toHaveLength(expected.length);
    expected.forEach((e, i) => {
      let want = `INFO: ${e.method} ${e.route} ${e.status} `;
      expect(access[i]).toContain(want);
      want = `${e.project_id ? ` project=${e.project_id}` : ''}${e.token_id ? ` token=${e.token_id}` : ''}`;
      expect(access[i]).toMatch(new RegExp(`\\d ms${want.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    });
  });

  it('censors secret-named fields whatever a log call passes, in both forms', async () => {
    for (const format of ['json', 'pretty'] as const) {
      const written: string[] = [];
      const log = await createLogger({ level: 'info', format, destination: { write: (s: string) => void written.push(s) }, isTTY: false });
      log.info({
        token: HEADER_SECRET,
        authorization: `Bearer ${HEADER_SECRET}`,
        req: { headers: { authorization: `Bearer ${HEADER_SECRET}`, cookie: COOKIE_SECRET, 'x-api-key': HEADER_SECRET } },
        integration: { token: HEADER_SECRET, auth_headers: { 'X-Api-Key': HEADER_SECRET }, headers: { authorization: HEADER_SECRET } },
        created: { token: HEADER_SECRET },
        config: { admin_token: HEADER_SECRET, master_key: HEADER_SECRET, api_key: HEADER_SECRET, password: HEADER_SECRET },
      }, 'everything a careless call could pass');
      const text = written.join('');
      expect(text).toContain('everything a careless call could pass');
      expect(text).not.toContain(HEADER_SECRET);
      expect(text).not.toContain(COOKIE_SECRET);
      expect(text).toContain('[redacted]');
    }
  });
});
