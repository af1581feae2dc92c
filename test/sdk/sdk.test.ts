/**
 * The SDK (CONTRACT section 11) against a real gateway on 127.0.0.1, over HTTP as a user's code
 * calls it: every method, the errors it throws with the API's codes, and the batching queue, also
 * against a scripted server that fails and recovers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Meterway, MeterwayError, type MeterwayEvent } from '../../src/sdk/index.js';
import { REPO } from '../cli/harness.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { run as runProcess } from '../peers.js';
import { startOtlpReceiver, type OtlpReceiver } from '../otlp-receiver.js';

let gw: TestGateway;
let url: string;
let rx: OtlpReceiver;
let p: Awaited<ReturnType<TestGateway['project']>>;

beforeAll(async () => {
  gw = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, delivery: { schedule: false } });
  url = await gw.app.listen({ host: '127.0.0.1', port: 0 });
  rx = await startOtlpReceiver();
  p = await gw.project('sdk');
});
afterAll(async () => {
  await gw.close();
  await rx.close();
});

/** What a call threw, which must be a MeterwayError. */
async function failure(call: Promise<unknown>): Promise<MeterwayError> {
  const err = await call.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(MeterwayError);
  return err as MeterwayError;
}

const run = (app: string, extra: Record<string, unknown> = {}): MeterwayEvent => ({ type: 'run', app_name: app, status: 'success', execution_time_ms: 120, ...extra });

describe('the client', () => {
  it('refuses a missing URL or token when it is made, naming the option', () => {
    expect(() => new Meterway({ url: '127.0.0.1:9470', token: 't' })).toThrow(/url: must be/);
    expect(() => new Meterway({ url, token: '' })).toThrow(/token: is required/);
  });

  it('tells each token who it is', async () => {
    for (const scope of ['ingest', 'manage', 'monitoring'] as const) {
      const w = await new Meterway({ url, token: p[scope] }).whoami();
      expect(w).toMatchObject({ scope, project_id: p.id });
      expect(w.token_id).toEqual(expect.any(String));
    }
    expect(await new Meterway({ url, token: ADMIN_TOKEN }).whoami()).toMatchObject({ scope: 'admin', project_id: null });
  });

  it('throws the API code for a bad token, a missing scope and an unknown project, without the token in the message', async () => {
    const bad = await failure(new Meterway({ url, token: 'mw_not-a-real-token' }).whoami());
    expect(bad).toMatchObject({ status: 401, code: 'invalid_token' });
    expect(bad.message).not.toContain('mw_not-a-real-token');
    expect(await failure(new Meterway({ url, token: p.monitoring }).tokens.create({ scope: 'ingest', name: 'x' }))).toMatchObject({ status: 403, code: 'insufficient_scope' });
    expect(await failure(new Meterway({ url, token: ADMIN_TOKEN, project: 'p-00000000' }).integrations.list())).toMatchObject({ status: 404, code: 'project_not_found' });
    expect(await failure(new Meterway({ url, token: ADMIN_TOKEN }).integrations.list())).toMatchObject({ status: 0, code: 'no_project' });
  });

  it('says no gateway answers, and a request past its timeout', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const down = await failure(new Meterway({ url: `http://127.0.0.1:${port}`, token: 't' }).whoami());
    expect(down).toMatchObject({ status: 0, code: 'network' });
    expect(down.message).toMatch(/cannot reach .*ECONNREFUSED/);

    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const slow = await failure(new Meterway({ url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, token: 't', timeoutMs: 200 }).whoami());
      expect(slow).toMatchObject({ status: 0, code: 'timeout' });
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });
});

describe('events and queries', () => {
  it('sends events and reads them back through the instant and range query API', async () => {
    const ingest = new Meterway({ url, token: p.ingest });
    expect(await ingest.events.send([run('sdk-chat'), run('sdk-chat'), run('sdk-embed')])).toEqual({ accepted: 3, rejected: [] });
    expect(await ingest.events.send(run('sdk-embed'))).toEqual({ accepted: 1, rejected: [] });

    const mon = new Meterway({ url, token: p.monitoring });
    const instant = await mon.query.instant('sum by (app_name) (meterway_runs_total{app_name=~"sdk-.*"})', { time: new Date() });
    expect(instant.resultType).toBe('vector');
    const byApp = Object.fromEntries((instant.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((s) => [s.metric.app_name, s.value[1]]));
    expect(byApp).toEqual({ 'sdk-chat': '2', 'sdk-embed': '2' });

    const now = Date.now() / 1000;
    const range = await mon.query.range('sum(meterway_runs_total{app_name="sdk-chat"})', { start: now - 60, end: now, step: '15s' });
    expect(range.resultType).toBe('matrix');
    const values = (range.result as Array<{ values: Array<[number, string]> }>)[0].values;
    expect(values.at(-1)![1]).toBe('2');
    expect(await mon.prometheusUrl()).toBe(`${url}/v1/projects/${p.id}/prometheus`);
  });

  it('answers refused events with the reasons, and throws a bad query as bad_data', async () => {
    const ingest = new Meterway({ url, token: p.ingest });
    const mixed = await ingest.events.send([run('sdk-chat'), { type: 'run', app_name: 'sdk-chat', status: 'exploded' }]);
    expect(mixed.accepted).toBe(1);
    expect(mixed.rejected).toEqual([{ index: 1, error: expect.stringContaining('status') }]);
    const none = await ingest.events.send({ type: 'no-such-type' });
    expect(none.accepted).toBe(0);
    expect(none.rejected[0].error).toContain('type');

    const mon = new Meterway({ url, token: p.monitoring });
    expect(await failure(mon.query.instant('sum(('))).toMatchObject({ status: 400, code: 'bad_data' });
    expect(await failure(mon.query.range('up', { start: 10, end: 0, step: 15 }))).toMatchObject({ status: 400, code: 'bad_data' });
  });
});

describe('control plane', () => {
  it('lists, creates, reads and deletes projects with the admin token', async () => {
    const admin = new Meterway({ url, token: ADMIN_TOKEN });
    const made = await admin.projects.create({ name: 'sdk made', id: 'p-sdkmade1' });
    expect(made).toMatchObject({ id: 'p-sdkmade1', name: 'sdk made' });
    expect((await admin.projects.list()).map((x) => x.id)).toEqual(expect.arrayContaining([p.id, 'p-sdkmade1']));
    expect(await admin.projects.get('p-sdkmade1')).toEqual(made);
    expect(await new Meterway({ url, token: p.manage }).projects.get()).toMatchObject({ id: p.id, name: 'sdk' });
    expect(await failure(admin.projects.create({ name: 'again', id: 'p-sdkmade1' }))).toMatchObject({ status: 409, code: 'project_exists' });
    await admin.projects.delete('p-sdkmade1');
    expect(await failure(admin.projects.get('p-sdkmade1'))).toMatchObject({ status: 404 });
  });

  it('creates, lists and revokes project and server-wide tokens; a revoked token is refused', async () => {
    const manage = new Meterway({ url, token: p.manage });
    const created = await manage.tokens.create({ scope: 'monitoring', name: 'sdk grafana' });
    expect(created).toMatchObject({ scope: 'monitoring', name: 'sdk grafana', project_id: p.id });
    expect(created.token.startsWith(created.prefix.replace(/…$/, ''))).toBe(true);
    const listed = await manage.tokens.list();
    expect(listed.find((t) => t.id === created.id)).toMatchObject({ name: 'sdk grafana' });
    expect(JSON.stringify(listed)).not.toContain(created.token);
    expect(await new Meterway({ url, token: created.token }).whoami()).toMatchObject({ token_id: created.id });
    await manage.tokens.revoke(created.id);
    expect(await failure(new Meterway({ url, token: created.token }).whoami())).toMatchObject({ status: 401, code: 'token_revoked' });
    expect(await failure(manage.tokens.create({ scope: 'owner' as never, name: 'x' }))).toMatchObject({ status: 400, code: 'validation_error' });

    const admin = new Meterway({ url, token: ADMIN_TOKEN });
    const server = await admin.tokens.server.create({ scope: 'ingest', name: 'sdk fleet' });
    expect(server.project_id).toBeNull();
    expect((await admin.tokens.server.list()).map((t) => t.id)).toContain(server.id);
    await admin.tokens.server.revoke(server.id);
    expect((await admin.tokens.server.list()).map((t) => t.id)).not.toContain(server.id);
  });

  it('manages an integration: create, get, update, test, disable, enable, delete; header values never come back', async () => {
    const manage = new Meterway({ url, token: p.manage });
    const made = await manage.integrations.create({ name: 'sdk rx', endpoint: rx.url, auth_headers: { authorization: 'Bearer sdk-secret-9361' } });
    expect(made).toMatchObject({ kind: 'otlp', endpoint: rx.url, auth_header_names: ['authorization'], enabled: true });
    expect(await manage.integrations.get(made.id)).toEqual(made);
    expect((await manage.integrations.list()).map((i) => i.id)).toContain(made.id);
    const renamed = await manage.integrations.update(made.id, { name: 'sdk rx 2', config: { interval_s: 30 } });
    expect(renamed).toMatchObject({ name: 'sdk rx 2', config: expect.objectContaining({ interval_s: 30 }) });

    const ok = await manage.integrations.test(made.id);
    expect(ok).toMatchObject({ ok: true, status_code: 200 });
    expect(rx.requests.at(-1)!.headers.authorization).toBe('Bearer sdk-secret-9361');
    expect((await manage.integrations.disable(made.id)).enabled).toBe(false);
    expect((await manage.integrations.enable(made.id)).enabled).toBe(true);
    expect(JSON.stringify(await manage.integrations.list())).not.toContain('sdk-secret-9361');

    expect(await failure(manage.integrations.create({ endpoint: 'ftp://example.test' }))).toMatchObject({ status: 400, code: 'validation_error' });
    await manage.integrations.delete(made.id);
    expect(await failure(manage.integrations.get(made.id))).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('connectOtlp saves, enables and tests in one call, and reports a failing endpoint in plain words', async () => {
    const manage = new Meterway({ url, token: p.manage });
    const good = await manage.integrations.connectOtlp({ endpoint: rx.url, headers: { 'x-api-key': 'k-1' }, name: 'sdk connect' });
    expect(good.integration).toMatchObject({ name: 'sdk connect', enabled: true, auth_header_names: ['x-api-key'] });
    expect(good.test.ok).toBe(true);

    rx.reply({ status: 401, body: 'unauthorized' });
    const refused = await manage.integrations.connectOtlp({ endpoint: rx.url });
    expect(refused.test).toMatchObject({ ok: false, status_code: 401 });
    expect(refused.test.message).toMatch(/401/);
    rx.setDefault({});
  });
});

interface Received {
  status: number;
  events: MeterwayEvent[];
  gzip: boolean;
  contentType: string;
}

/** A stand-in gateway for /v1/events that answers as scripted, then accepts everything. */
async function scriptedGateway(script: Array<{ status: number; body?: unknown; headers?: Record<string, string> }>) {
  const received: Received[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const gzip = req.headers['content-encoding'] === 'gzip';
      const raw = Buffer.concat(chunks);
      const text = (gzip ? gunzipSync(raw) : raw).toString('utf8');
      const events = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as MeterwayEvent);
      const next = script.shift() ?? { status: 200, body: { accepted: events.length, rejected: [] } };
      received.push({ status: next.status, events, gzip, contentType: String(req.headers['content-type']) });
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(JSON.stringify(next.body ?? { error: { code: 'unavailable', message: 'scripted failure' } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((r) => server.close(r)),
  };
}

describe('the event queue', () => {
  it('batches gzipped NDJSON into the real gateway, which counts every event', async () => {
    const client = new Meterway({ url, token: p.ingest });
    const queue = client.events.queue({ maxBatch: 40, flushIntervalMs: 60_000 });
    for (let i = 0; i < 100; i++) expect(queue.push(run('sdk-queued'))).toBe(true);
    await queue.close();
    expect(queue.stats).toEqual({ queued: 0, sent: 100, dropped: 0, rejected: 0 });
    expect(queue.push(run('sdk-queued'))).toBe(false);
    const answer = await new Meterway({ url, token: p.monitoring }).query.instant('sum(meterway_runs_total{app_name="sdk-queued"})');
    expect((answer.result as Array<{ value: [number, string] }>)[0].value[1]).toBe('100');
  });

  it('loses nothing through failures and a 429, sends in order, and flushes on its timer', async () => {
    const fake = await scriptedGateway([{ status: 503 }, { status: 502 }, { status: 429, headers: { 'retry-after': '1' }, body: { error: { code: 'rate_limited', message: 'slow down' } } }]);
    try {
      const queue = new Meterway({ url: fake.url, token: 't' }).events.queue({ maxBatch: 10, flushIntervalMs: 20, backoffMs: 5, maxBackoffMs: 20 });
      const started = Date.now();
      for (let i = 0; i < 25; i++) queue.push(run('a', { seq: i }));
      // Not flushed by hand: the full batches go at once, the rest when its timer fires.
      await expect.poll(() => queue.stats.sent, { timeout: 10_000, interval: 20 }).toBe(25);
      expect(fake.received.map((r) => r.status)).toEqual([503, 502, 429, 200, 200, 200]);
      // The 429's Retry-After was honoured before the retry.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      const delivered = fake.received.filter((r) => r.status === 200).flatMap((r) => r.events.map((e) => e.seq));
      expect(delivered).toEqual([...Array(25).keys()]);
      expect(fake.received.every((r) => r.gzip && r.contentType === 'application/x-ndjson')).toBe(true);
      expect(queue.stats).toEqual({ queued: 0, sent: 25, dropped: 0, rejected: 0 });
      await queue.close();
    } finally {
      await fake.close();
    }
  });

  it('holds at most maxBuffered events while the gateway is down, refusing the newest, then delivers what it held', async () => {
    const script = Array.from({ length: 6 }, () => ({ status: 503 }));
    const fake = await scriptedGateway(script);
    try {
      const dropped: MeterwayEvent[] = [];
      const queue = new Meterway({ url: fake.url, token: 't' }).events.queue({
        maxBatch: 50, maxBuffered: 200, flushIntervalMs: 10, backoffMs: 50, maxBackoffMs: 50, maxRetries: 20, onDrop: (e) => dropped.push(e),
      });
      let refused = 0;
      for (let i = 0; i < 1000; i++) if (!queue.push(run('b', { seq: i }))) refused++;
      expect(refused).toBe(800);
      expect(dropped.map((e) => e.seq)).toEqual([...Array(800).keys()].map((i) => i + 200));
      await queue.close();
      expect(queue.stats).toEqual({ queued: 0, sent: 200, dropped: 800, rejected: 0 });
      const delivered = fake.received.filter((r) => r.status === 200).flatMap((r) => r.events.map((e) => e.seq));
      expect(delivered).toEqual([...Array(200).keys()]);
    } finally {
      await fake.close();
    }
  });

  it('splits a batch the gateway finds too large, reports refused events, and gives up on what can never succeed', async () => {
    const fake = await scriptedGateway([
      { status: 413, body: { error: { code: 'payload_too_large', message: 'too large' } } },
      { status: 200, body: { accepted: 3, rejected: [{ index: 1, error: 'status: must be one of success, failure' }] } },
      { status: 200, body: { accepted: 4, rejected: [] } },
      { status: 400, body: { error: { code: 'validation_error', message: 'not NDJSON' } } },
    ]);
    try {
      const rejected: string[] = [];
      const errors: Array<{ code: string; events: number }> = [];
      const queue = new Meterway({ url: fake.url, token: 't' }).events.queue({
        maxBatch: 8, flushIntervalMs: 60_000, backoffMs: 1, maxBackoffMs: 1, gzip: false,
        onRejected: (r) => rejected.push(...r.map((x) => x.error)),
        onError: (err, events) => errors.push({ code: err.code, events: events.length }),
      });
      for (let i = 0; i < 8; i++) queue.push(run('c', { seq: i }));
      await queue.flush();
      expect(fake.received.map((r) => r.events.length)).toEqual([8, 4, 4]);
      expect(fake.received[0].gzip).toBe(false);
      expect(rejected).toEqual(['status: must be one of success, failure']);
      for (let i = 0; i < 3; i++) queue.push(run('c'));
      await queue.flush();
      // A 400 that is not the per-event answer is not sent again.
      expect(fake.received).toHaveLength(4);
      expect(errors).toEqual([{ code: 'validation_error', events: 3 }]);
      expect(queue.stats).toEqual({ queued: 0, sent: 7, dropped: 3, rejected: 1 });
      await queue.close();
    } finally {
      await fake.close();
    }
  });

  it('refuses options that cannot work', () => {
    const client = new Meterway({ url, token: 't' });
    expect(() => client.events.queue({ maxBatch: 0 })).toThrow(/maxBatch must be at least 1/);
    expect(() => client.events.queue({ maxBatch: 100, maxBuffered: 10 })).toThrow(/maxBuffered at least maxBatch/);
  });
});

describe('the event queue in a process that ends', () => {
  it('sends what is still queued when Node is about to exit, without keeping the process alive', async () => {
    const fake = await scriptedGateway([]);
    const dir = mkdtempSync(join(tmpdir(), 'meterway-sdk-'));
    try {
      const script = join(dir, 'exits.ts');
      writeFileSync(script, [
        `import { Meterway } from ${JSON.stringify(join(REPO, 'src/sdk/index.ts'))};`,
        `const queue = new Meterway({ url: ${JSON.stringify(fake.url)}, token: 't' }).events.queue({ flushIntervalMs: 3_600_000 });`,
        `for (let i = 0; i < 5; i++) queue.push({ type: 'run', app_name: 'exiting', status: 'success', seq: i });`,
        // Nothing awaited: the hour-long flush timer must not hold the process, and beforeExit sends.
      ].join('\n'));
      const started = Date.now();
      const child = await runProcess(process.execPath, ['--import', 'tsx', script], { cwd: REPO, timeoutMs: 30_000 });
      expect(child.code, child.stderr).toBe(0);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(fake.received.flatMap((r) => r.events.map((e) => e.seq))).toEqual([0, 1, 2, 3, 4]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await fake.close();
    }
  });
});
