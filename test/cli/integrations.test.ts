/**
 * `meterway integrations ...` and `meterway keys rotate` run as a user runs them
 * (`node --import tsx src/cli/main.ts ...`) against a gateway listening on loopback, with the OTLP
 * receiver of test/otlp-receiver.ts as the destination. Header values are secrets: none of them may
 * appear in anything the CLI prints, as a table or as --json, on success or on failure.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createGateway } from '../../src/server/gateway.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { decodeLogsProtobuf, startOtlpReceiver, type OtlpReceiver, type ReceivedRequest } from '../otlp-receiver.js';
import { freePort, type RunResult } from '../peers.js';

import { expectServerError, runCli, serverError } from './harness.js';
const PRIVATE_EGRESS = { METERWAY_ALLOW_PRIVATE_EGRESS: '1' };

// Secret values: each is checked against every byte the CLI prints.
const SECRET_AUTH = 'Bearer s3cret-auth-value-7731';
const SECRET_SCOPE = 'tenant-scope-secret-5519';
const SECRET_NEW = 'rotated-secret-value-2202';
const GRAFANA_TOKEN = 'glc_grafana-token-secret-8841';
const GRAFANA_BASIC = `Basic ${Buffer.from(`987654:${GRAFANA_TOKEN}`).toString('base64')}`;
const ROTATE_SECRET = 'Bearer survives-rotation-6610';
const DD_KEY = 'dd-api-key-secret-40c1f2';
const SECRETS = [DD_KEY, SECRET_AUTH, SECRET_SCOPE, SECRET_NEW, GRAFANA_TOKEN, GRAFANA_BASIC, ROTATE_SECRET];



/** Every output of every command run, to check that no secret value ever shows. */
const printed: string[] = [];

async function meterway(args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  const r = await runCli(args, env);
  printed.push(r.stdout, r.stderr);
  for (const s of SECRETS) {
    expect(r.stdout, `meterway ${args.join(' ')} printed a secret`).not.toContain(s);
    expect(r.stderr, `meterway ${args.join(' ')} printed a secret`).not.toContain(s);
  }
  return r;
}

async function ok(args: string[]): Promise<string> {
  const r = await meterway(args);
  expect({ code: r.code, stderr: r.stderr }, `meterway ${args.join(' ')}`).toEqual({ code: 0, stderr: '' });
  return r.stdout;
}

async function okJson<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, '--json'])) as T;
}

function tableRows(stdout: string): string[][] {
  return stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/));
}

const COLUMNS = ['ID', 'NAME', 'KIND', 'ENDPOINT', 'ENABLED', 'STATE', 'LAST_SUCCESS_AT', 'CONSECUTIVE_FAILURES'];

describe('meterway integrations against a running gateway', { timeout: 90_000 }, () => {
  let gw: TestGateway;
  let rx: OtlpReceiver;
  let url: string;
  let p: Awaited<ReturnType<TestGateway['project']>>;
  const as = (token = p.manage) => ['--server', url, '--token', token, '--project', p.id];



  beforeAll(async () => {
    // Pushes are driven by `integrations test` here, so the receiver only sees what a test caused.
    gw = await startTestGateway({ env: PRIVATE_EGRESS, delivery: { schedule: false } });
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
    rx = await startOtlpReceiver();
    // The base path tells the receiver how to answer: /unauth -> 401, /missing -> 404, else 200.
    rx.setDefault((r) => (r.path.startsWith('/unauth/') ? { status: 401, body: 'bad key' } : r.path.startsWith('/missing/') ? { status: 404 } : {}));
    p = await gw.project('cli integrations');
    const res = await gw.app.inject({
      method: 'POST', url: '/v1/events', headers: gw.auth(ADMIN_TOKEN),
      payload: [{ type: 'run', project_id: p.id, app_name: 'chat', region: 'eu', status: 'success', execution_time_ms: 120 }],
    });
    expect(res.json().rejected).toEqual([]);
  });
  afterAll(async () => {
    await gw?.close();
    await rx?.close();
  });

  const requestsTo = (prefix: string): ReceivedRequest[] => rx.requests.filter((r) => r.path.startsWith(prefix));

  it('creates with --endpoint and repeated --header, lists and gets as tables and JSON, never printing a header value', async () => {
    const [created, tableOut] = await Promise.all([
      okJson(['integrations', 'create', ...as(), '--name', 'rx main', '--endpoint', `${rx.url}/main`,
        '--header', `Authorization: ${SECRET_AUTH}`, '--header', `X-Scope-OrgID:${SECRET_SCOPE}`, '--interval', '15']),
      ok(['integrations', 'create', ...as(), '--name', 'rx table', '--endpoint', `${rx.url}/table`, '--header', `Authorization: ${SECRET_AUTH}`, '--disabled']),
    ]);
    expect(created).toMatchObject({
      id: expect.stringMatching(/^i-[a-z0-9]{12}$/), project_id: p.id, name: 'rx main', kind: 'otlp', endpoint: `${rx.url}/main`,
      auth_header_names: ['Authorization', 'X-Scope-OrgID'], enabled: true,
      config: { interval_s: 15, protocol: 'http/protobuf', temporality: 'cumulative', gzip: true, logs: false },
      status: { state: 'active', consecutive_failures: 0, last_error: null },
    });
    const rows = tableRows(tableOut);
    expect(rows[0]).toEqual(COLUMNS);
    expect(rows[1]).toEqual([expect.stringMatching(/^i-/), 'rx table', 'otlp', `${rx.url}/table`, 'false', 'disabled', '-', '0']);
    const tableId = rows[1][0];

    const [list, listTable, got, gotTable] = await Promise.all([
      okJson(['integrations', 'list', ...as()]),
      ok(['integrations', 'list', ...as()]),
      okJson(['integrations', 'get', created.id, ...as()]),
      ok(['integrations', 'get', created.id, ...as()]),
    ]);
    expect(list.items.map((i: { id: string }) => i.id)).toEqual(expect.arrayContaining([created.id, tableId]));
    expect(list.items.find((i: { id: string }) => i.id === created.id)).toEqual(created);
    const listed = tableRows(listTable);
    expect(listed[0]).toEqual(COLUMNS);
    expect(listed.slice(1).map((r) => r[0])).toEqual(expect.arrayContaining([created.id, tableId]));
    expect(got).toEqual(created);
    expect(tableRows(gotTable)).toEqual([COLUMNS, [created.id, 'rx main', 'otlp', `${rx.url}/main`, 'true', 'active', '-', '0']]);

    // The headers arrive at the destination with their values (integrations test sends a real request).
    const before = requestsTo('/main/').length;
    expect((await ok(['integrations', 'test', created.id, ...as()])).trim()).toMatch(/^ok: works: .*\/main\/v1\/metrics accepted an OTLP export request \(\d+ ms\)$/);
    const sent = requestsTo('/main/').slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0].headers.authorization).toBe(SECRET_AUTH);
    expect(sent[0].headers['x-scope-orgid']).toBe(SECRET_SCOPE);
    await ok(['integrations', 'delete', tableId, ...as()]);
  });

  it('updates the interval, replaces headers with --header and removes them with --clear-headers', async () => {
    const created = await okJson(['integrations', 'create', ...as(), '--endpoint', `${rx.url}/upd`, '--header', `Authorization: ${SECRET_AUTH}`, '--header', `X-Scope-OrgID: ${SECRET_SCOPE}`]);
    expect(created.name).toBe(`otlp 127.0.0.1:${rx.port}`);
    expect(created.config.interval_s).toBe(60);

    const interval = await okJson(['integrations', 'update', created.id, ...as(), '--interval', '5', '--name', 'renamed']);
    expect(interval).toMatchObject({ name: 'renamed', config: { interval_s: 5 }, auth_header_names: ['Authorization', 'X-Scope-OrgID'] });

    const replacedTable = await ok(['integrations', 'update', created.id, ...as(), '--header', `X-Api-Key: ${SECRET_NEW}`]);
    expect(tableRows(replacedTable)[1]).toEqual([created.id, 'renamed', 'otlp', `${rx.url}/upd`, 'true', 'active', '-', '0']);
    const replaced = await okJson(['integrations', 'get', created.id, ...as()]);
    expect(replaced.auth_header_names).toEqual(['X-Api-Key']);
    expect(replaced.config.interval_s).toBe(5);
    let before = requestsTo('/upd/').length;
    await ok(['integrations', 'test', created.id, ...as()]);
    let sent = requestsTo('/upd/').slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0].headers['x-api-key']).toBe(SECRET_NEW);
    expect(sent[0].headers.authorization).toBeUndefined();
    expect(sent[0].headers['x-scope-orgid']).toBeUndefined();

    const cleared = await okJson(['integrations', 'update', created.id, ...as(), '--clear-headers']);
    expect(cleared.auth_header_names).toEqual([]);
    before = requestsTo('/upd/').length;
    await ok(['integrations', 'test', created.id, ...as()]);
    sent = requestsTo('/upd/').slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0].headers['x-api-key']).toBeUndefined();
    await ok(['integrations', 'delete', created.id, ...as()]);
  });

  it('test: exit 0 and "ok: works" on 200; exit 1 and plain words on 401, 404 and a refused connection', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const mk = (endpoint: string) => okJson(['integrations', 'create', ...as(), '--endpoint', endpoint, '--header', `Authorization: ${SECRET_AUTH}`]);
    const [good, unauth, missing, refused] = await Promise.all([mk(`${rx.url}/good`), mk(`${rx.url}/unauth`), mk(`${rx.url}/missing`), mk(dead)]);
    const [rGood, rUnauth, rMissing, rRefused, jUnauth] = await Promise.all([
      meterway(['integrations', 'test', good.id, ...as()]),
      meterway(['integrations', 'test', unauth.id, ...as()]),
      meterway(['integrations', 'test', missing.id, ...as()]),
      meterway(['integrations', 'test', refused.id, ...as()]),
      meterway(['integrations', 'test', unauth.id, ...as(), '--json']),
    ]);
    expect({ code: rGood.code, stderr: rGood.stderr }).toEqual({ code: 0, stderr: '' });
    expect(rGood.stdout).toMatch(/^ok: works: http:\/\/127\.0\.0\.1:\d+\/good\/v1\/metrics accepted an OTLP export request \(\d+ ms\)\n$/);
    expect(rUnauth.code).toBe(1);
    expect(rUnauth.stdout).toMatch(/^failed: HTTP 401: the destination refused the request; check the credentials \(auth headers\) \(\d+ ms\)\n$/);
    expect(rMissing.code).toBe(1);
    expect(rMissing.stdout).toMatch(/^failed: HTTP 404: check the path; tried http:\/\/127\.0\.0\.1:\d+\/missing\/v1\/metrics \(\d+ ms\)\n$/);
    expect(rRefused.code).toBe(1);
    expect(rRefused.stdout).toContain(`failed: connection refused by ${new URL(dead).host}: nothing is listening there; check the host and port`);
    expect(jUnauth.code).toBe(1);
    expect(JSON.parse(jUnauth.stdout)).toEqual({ ok: false, status_code: 401, latency_ms: expect.any(Number), message: expect.stringContaining('check the credentials') });
    for (const i of [good, unauth, missing, refused]) await gw.integrations.delete(p.id, i.id);
  });

  it('disables, enables and deletes', async () => {
    const [created, other] = await Promise.all([
      okJson(['integrations', 'create', ...as(), '--endpoint', `${rx.url}/toggle`]),
      okJson(['integrations', 'create', ...as(), '--endpoint', `${rx.url}/toggle2`]),
    ]);
    const [disabled, disabledTable] = await Promise.all([
      okJson(['integrations', 'disable', created.id, ...as()]),
      ok(['integrations', 'disable', other.id, ...as()]),
    ]);
    expect(disabled).toMatchObject({ id: created.id, enabled: false, status: { state: 'disabled' } });
    expect(tableRows(disabledTable)[1]).toEqual([other.id, `otlp 127.0.0.1:${rx.port}`, 'otlp', `${rx.url}/toggle2`, 'false', 'disabled', '-', '0']);
    const enabled = await okJson(['integrations', 'enable', created.id, ...as()]);
    expect(enabled).toMatchObject({ id: created.id, enabled: true, status: { state: 'active', consecutive_failures: 0 } });
    expect(gw.integrations.get(p.id, created.id).status.state).toBe('active');

    const [delJson, delTable] = await Promise.all([
      okJson(['integrations', 'delete', created.id, ...as()]),
      ok(['integrations', 'delete', other.id, ...as()]),
    ]);
    expect(delJson).toEqual({ deleted: created.id });
    expect(delTable.trim()).toBe(`deleted integration ${other.id}`);
    const gone = await meterway(['integrations', 'get', created.id, ...as()]);
    expectServerError(gone, await serverError(url, 'GET', `/v1/projects/${p.id}/integrations/${created.id}`, p.manage));
  });

  it('create --kind takes each kind with its own flags, and the server names a flag that is not the kind\'s', async () => {
    const [otlp, rw, dd, statsd] = await Promise.all([
      okJson(['integrations', 'create', ...as(), '--endpoint', `${rx.url}/otel`, '--naming', 'otel']),
      okJson(['integrations', 'create', ...as(), '--kind', 'prometheus_remote_write', '--endpoint', `${rx.url}/api/v1/write`, '--protocol-version', '2.0']),
      okJson(['integrations', 'create', ...as(), '--kind', 'datadog', '--site', 'datadoghq.eu', '--api-key', DD_KEY, '--histograms', 'counters', '--tag', 'env:prod', '--tag', 'team:ml']),
      okJson(['integrations', 'create', ...as(), '--kind', 'statsd', '--endpoint', 'udp://127.0.0.1:8125', '--flavor', 'statsd', '--prefix', 'prod', '--max-datagram-bytes', '8192', '--interval', '10']),
    ]);
    expect(otlp).toMatchObject({ kind: 'otlp', config: { naming: 'otel' } });
    expect(rw).toMatchObject({ kind: 'prometheus_remote_write', endpoint: `${rx.url}/api/v1/write`, config: { protocol_version: '2.0' } });
    expect(dd).toMatchObject({ kind: 'datadog', endpoint: 'https://api.datadoghq.eu', auth_header_names: ['DD-API-KEY'], config: { site: 'datadoghq.eu', histograms: 'counters', tags: ['env:prod', 'team:ml'] } });
    expect(statsd).toMatchObject({ kind: 'statsd', endpoint: 'udp://127.0.0.1:8125', config: { flavor: 'statsd', prefix: 'prod', max_datagram_bytes: 8192, interval_s: 10 } });
    const wrong = await meterway(['integrations', 'create', ...as(), '--kind', 'statsd', '--endpoint', 'udp://127.0.0.1:8125', '--protocol', 'http/json']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('config');
    expect(wrong.stderr).toContain('protocol');
    const unknown = await meterway(['integrations', 'create', ...as(), '--kind', 'kafka', '--endpoint', rx.url]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('otlp, prometheus_remote_write, datadog, statsd');
    for (const i of [otlp, rw, dd, statsd]) await ok(['integrations', 'delete', i.id, ...as()]);
  });

  it('--kind offers exactly the server\'s sink kinds', async () => {
    const { SINK_FACTORIES } = await import('../../src/sinks/registry.js');
    const help = await ok(['integrations', 'create', '--help']);
    const choices = /--kind <kind>[\s\S]*?\(choices: ([^)]*?),\s+default:/.exec(help)![1];
    expect([...choices.matchAll(/"([^"]+)"/g)].map((m) => m[1])).toEqual([...SINK_FACTORIES.keys()]);
  });

  it('create and connect-otlp -q print only the id, for IID=$(...)', async () => {
    const [created, connected] = await Promise.all([
      ok(['integrations', 'create', ...as(), '--endpoint', `${rx.url}/q1`, '--name', 'quiet', '-q']),
      ok(['integrations', 'connect-otlp', ...as(), '--endpoint', `${rx.url}/q2`, '--quiet']),
    ]);
    for (const out of [created, connected]) {
      expect(out).toMatch(/^i-[a-z0-9]+\n$/);
      expect((await okJson(['integrations', 'get', out.trim(), ...as(), '--json'])).id).toBe(out.trim());
      await ok(['integrations', 'delete', out.trim(), ...as()]);
    }
  });

  it('connect-otlp --logs forwards raw events as logs; --preset grafana-cloud sends the right Basic header', async () => {
    const [logs, grafana] = await Promise.all([
      okJson(['integrations', 'connect-otlp', ...as(), '--endpoint', `${rx.url}/collector`, '--logs']),
      okJson(['integrations', 'connect-otlp', ...as(), '--preset', 'grafana-cloud', '--instance-id', '987654', '--api-token', GRAFANA_TOKEN, '--endpoint', `${rx.url}/otlp`]),
    ]);
    expect(logs).toMatchObject({ name: 'otlp', kind: 'otlp', endpoint: `${rx.url}/collector`, auth_header_names: [], config: { logs: true }, enabled: true });
    expect(grafana).toMatchObject({ name: 'otlp', endpoint: `${rx.url}/otlp`, auth_header_names: ['Authorization'], config: { logs: false } });

    // An accepted event goes to {endpoint}/v1/logs (the forwarder flushes within a second).
    const res = await gw.app.inject({
      method: 'POST', url: '/v1/events', headers: gw.auth(ADMIN_TOKEN),
      payload: [{ type: 'run', project_id: p.id, app_name: 'logged', region: 'eu', status: 'success', execution_time_ms: 80 }],
    });
    expect(res.json().rejected).toEqual([]);
    const [logReq] = await rx.waitForRequests(1, { path: '/collector/v1/logs', timeoutMs: 10_000 });
    expect(logReq.headers['content-type']).toBe('application/x-protobuf');
    // The receiver decodes /v1/logs at its root only; this one is decoded here, with the official schema.
    const records = decodeLogsProtobuf(logReq.bytes).resourceLogs![0].scopeLogs![0].logRecords!;
    expect(records).toHaveLength(1);
    const attrs = Object.fromEntries(records[0].attributes!.map((kv) => [kv.key, kv.value.stringValue ?? kv.value.intValue ?? kv.value.doubleValue]));
    expect(attrs).toMatchObject({ type: 'run', project_id: p.id, app_name: 'logged', region: 'eu', status: 'success' });

    const before = requestsTo('/otlp/').length;
    expect((await ok(['integrations', 'test', grafana.id, ...as()])).trim()).toMatch(/^ok: works: .*\/otlp\/v1\/metrics accepted/);
    const sent = requestsTo('/otlp/').slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0].headers.authorization).toBe(GRAFANA_BASIC);
    await Promise.all([ok(['integrations', 'delete', logs.id, ...as()]), ok(['integrations', 'delete', grafana.id, ...as()])]);
  });

  it("fails with a non-zero exit and the server's message: bad endpoint, unknown project; a --header without a colon never leaves the CLI", async () => {
    const [badEndpoint, ftp, unknownProject, noColon, badPreset] = await Promise.all([
      meterway(['integrations', 'create', ...as(), '--endpoint', 'not a url']),
      meterway(['integrations', 'create', ...as(), '--endpoint', 'ftp://example.com']),
      meterway(['integrations', 'list', '--server', url, '--token', ADMIN_TOKEN, '--project', 'p-nosuch01']),
      meterway(['integrations', 'create', ...as(), '--endpoint', rx.url, '--header', 'Authorization=Bearer x']),
      meterway(['integrations', 'create', ...as(), '--preset', 'grafana-cloud', '--endpoint', rx.url, '--instance-id', '1']),
    ]);
    const path = `/v1/projects/${p.id}/integrations`;
    expectServerError(badEndpoint, await serverError(url, 'POST', path, p.manage, { kind: 'otlp', endpoint: 'not a url' }));
    expect(badEndpoint.stderr).toContain('endpoint: must be an absolute http:// or https:// URL');
    expectServerError(ftp, await serverError(url, 'POST', path, p.manage, { kind: 'otlp', endpoint: 'ftp://example.com' }));
    expect(ftp.stderr).toContain('endpoint: must use http:// or https://, got ftp:');
    expectServerError(unknownProject, await serverError(url, 'GET', '/v1/projects/p-nosuch01/integrations', ADMIN_TOKEN));
    expectServerError(badPreset, await serverError(url, 'POST', path, p.manage, { preset: 'grafana-cloud', endpoint: rx.url, preset_options: { instance_id: '1' } }));
    expect(badPreset.stderr).toContain('the grafana-cloud preset needs api_token');

    expect(noColon.code).toBe(1);
    expect(noColon.stdout).toBe('');
    expect(noColon.stderr).toMatch(/^error: --header must look like 'Name: value'; one of them has no name before a colon/);
    expect(gw.integrations.list(p.id).filter((i) => i.endpoint === rx.url)).toEqual([]);
  });
});

describe('meterway integrations, a --header without a colon', { timeout: 60_000 }, () => {
  // A --header without a colon is most often a pasted token without its name: the error must not
  // quote any of it.
  it('does not echo the start of the argument, which is usually the secret', async () => {
    const r = await meterway(['integrations', 'create', '--server', 'http://127.0.0.1:9', '--token', ADMIN_TOKEN, '--project', 'p-nosuch01',
      '--endpoint', 'http://127.0.0.1:9', '--header', 'sk-live-0123456789abcdef']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--header must look like 'Name: value'");
    expect(r.stderr).not.toContain('sk-live-0123');
  });
});

describe('meterway keys rotate', { timeout: 90_000 }, () => {
  let rx: OtlpReceiver;
  beforeAll(async () => {
    rx = await startOtlpReceiver();
  });
  afterAll(async () => rx?.close());

  it("re-encrypts a stopped gateway's credentials; a gateway started on the dir afterwards pushes with the same header", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'meterway-cli-rotate-'));
    let cleanup = true;
    try {
      // A gateway whose close() leaves the data dir in place.
      const config = loadConfig({ dataDir, port: 0 }, { METERWAY_ADMIN_TOKEN: ADMIN_TOKEN, METERWAY_LOG_LEVEL: 'silent', ...PRIVATE_EGRESS });
      const first = await createGateway(config, undefined, { delivery: { schedule: false } });
      const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const proj = await first.app.inject({ method: 'POST', url: '/v1/projects', headers: auth, payload: { name: 'rotate' } });
      const pid = proj.json().id as string;
      const created = await first.app.inject({
        method: 'POST', url: `/v1/projects/${pid}/integrations`, headers: auth,
        payload: { endpoint: `${rx.url}/rot`, auth_headers: { Authorization: ROTATE_SECRET }, config: { interval_s: 1 } },
      });
      expect(created.statusCode).toBe(201);
      const iid = created.json().id as string;
      await first.close();
      const keyBefore = readFileSync(join(dataDir, 'master.key'), 'utf8');

      const r = await meterway(['keys', 'rotate', '--data-dir', dataDir]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toBe(`re-encrypted 1 credential record(s) under master key version 2\nthe new key is in ${join(dataDir, 'master.key')}\n`);
      expect(readFileSync(join(dataDir, 'master.key'), 'utf8')).not.toBe(keyBefore);
      expect(existsSync(join(dataDir, 'master.key.next'))).toBe(false);

      // The real scheduler this time: a push every second once the project has a series.
      cleanup = false; // the test gateway's close() removes the dir
      const second = await startTestGateway({ dataDir, env: PRIVATE_EGRESS });
      try {
        expect(second.integrations.get(pid, iid).auth_header_names).toEqual(['Authorization']);
        const ev = await second.app.inject({
          method: 'POST', url: '/v1/events', headers: second.auth(ADMIN_TOKEN),
          payload: [{ type: 'run', project_id: pid, app_name: 'chat', region: 'eu', status: 'success', execution_time_ms: 50 }],
        });
        expect(ev.json().rejected).toEqual([]);
        const [req] = await rx.waitForRequests(1, { path: '/rot/v1/metrics', timeoutMs: 10_000 });
        expect(req.headers.authorization).toBe(ROTATE_SECRET);
        expect(second.integrations.get(pid, iid).status.last_error).toBeNull();
      } finally {
        await second.close();
      }
    } finally {
      if (cleanup) rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

afterAll(() => {
  // Belt and braces: the per-command checks ran already; this one also covers outputs of commands
  // whose assertions failed early.
  for (const s of SECRETS) for (const out of printed) expect(out).not.toContain(s);
});
