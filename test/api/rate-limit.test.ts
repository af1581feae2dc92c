/** Ingest rate limits (ingest.rate_limit) through the HTTP API, with the limiter's clock moved by hand. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';

let now = 0;
let gw: TestGateway;
let a: Awaited<ReturnType<TestGateway['project']>>;
let b: Awaited<ReturnType<TestGateway['project']>>;

afterAll(async () => gw?.close());

const run = (pid: string, app = 'svc') => ({ type: 'run', project_id: pid, app_name: app, status: 'success' });
const post = (events: object[], token: string) =>
  gw.app.inject({ method: 'POST', url: '/v1/events', payload: events, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
const runsOf = async (pid: string, token: string) => {
  const text = (await gw.app.inject({ method: 'GET', url: `/v1/projects/${pid}/metrics`, headers: gw.auth(token) })).body;
  const line = text.split('\n').find((l) => l.startsWith('meterway_runs_total{'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
};
const times = (n: number, pid: string) => Array.from({ length: n }, () => run(pid));

describe('ingest rate limits', () => {
  beforeAll(async () => {
    // A fresh directory would lose the projects, so these tests keep everything in one gateway:
    // limits for c are set through the override key once its id is known.
    gw = await startTestGateway({
      rateLimitClock: () => now,
      file: { ingest: { rate_limit: { events_per_second: 10, per_token_events_per_second: 0, projects: {} } } },
    });
    a = await gw.project('a');
    b = await gw.project('b');
  });

  it('admits a batch within the burst, refuses the next whole with 429 and Retry-After, keeps nothing of it', async () => {
    expect((await post(times(20, a.id), a.ingest)).statusCode).toBe(200); // burst = 2 x 10
    const res = await post(times(5, a.id), a.ingest);
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    const body = res.json();
    expect(body.error.code).toBe('rate_limited');
    expect(body.error.message).toContain(`project ${a.id}`);
    expect(body.error.message).toContain('10 events/s (burst 20)');
    expect(body.error.message).toContain('ingest.rate_limit.events_per_second');
    expect(body.error.message).toContain(`ingest.rate_limit.projects["${a.id}"].events_per_second`);
    expect(await runsOf(a.id, a.monitoring)).toBe(20);

    now += 500; // 5 events refilled
    expect((await post(times(5, a.id), a.ingest)).statusCode).toBe(200);
    expect(await runsOf(a.id, a.monitoring)).toBe(25);
  });

  it('one tenant at its limit does not throttle another', async () => {
    expect((await post(times(1, a.id), a.ingest)).statusCode).toBe(429);
    expect((await post(times(20, b.id), b.ingest)).statusCode).toBe(200);
    expect(await runsOf(b.id, b.monitoring)).toBe(20);
  });

  it('a batch larger than the burst gets 413 telling how to split it', async () => {
    now += 10_000;
    const res = await post(times(21, a.id), a.ingest);
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('batch_too_large');
    expect(res.json().error.message).toContain('split it into batches of at most 20 events');
    expect(res.headers['retry-after']).toBeUndefined();
    expect((await post(times(20, a.id), a.ingest)).statusCode).toBe(200); // nothing was charged for the refusal
  });

  it('a mixed batch from a server-wide token is refused whole when one project is over', async () => {
    now += 10_000;
    const admin = await gw.app.inject({ method: 'POST', url: '/v1/tokens', headers: gw.auth(ADMIN_TOKEN), payload: { scope: 'ingest', name: 'fleet' } });
    expect(admin.statusCode).toBe(201);
    const token = admin.json().token as string;
    expect((await post(times(20, b.id), b.ingest)).statusCode).toBe(200);
    const before = [await runsOf(a.id, a.monitoring), await runsOf(b.id, b.monitoring)];
    const res = await post([...times(3, a.id), ...times(3, b.id)], token);
    expect(res.statusCode).toBe(429);
    expect(res.json().error.details.project_id).toBe(b.id);
    expect([await runsOf(a.id, a.monitoring), await runsOf(b.id, b.monitoring)]).toEqual(before);
  });

  it('counts throttled requests and events per project on the admin self-metrics', async () => {
    const text = (await gw.app.inject({ method: 'GET', url: '/metrics', headers: gw.auth(ADMIN_TOKEN) })).body;
    const line = (name: string, pid: string) => text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`project_id="${pid}"`) && l.includes('limit="project"'));
    expect(Number(line('meterway_ingest_throttled_requests_total', a.id)?.split(' ').at(-1))).toBeGreaterThanOrEqual(3);
    expect(Number(line('meterway_ingest_throttled_events_total', a.id)?.split(' ').at(-1))).toBeGreaterThanOrEqual(27);
    expect(text).not.toContain(a.ingest);
  });

  it('charges imports against the same project limit', async () => {
    now += 10_000;
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `backfill_total{job="x"} ${i} ${Date.now() - (n - i) * 1000}`).join('\n');
    const imp = (n: number) => gw.app.inject({ method: 'POST', url: `/v1/projects/${a.id}/import`, payload: lines(n), headers: { ...gw.auth(a.manage), 'content-type': 'text/plain' } });
    expect((await imp(15)).json().imported).toBe(15);
    const res = await imp(10);
    expect(res.statusCode).toBe(429);
    expect(res.json().error.message).toContain('samples');
  });
});

describe('per-project overrides and per-token limits', () => {
  let gw2: TestGateway;
  let pid: string;
  let tokens: { ingest: string };
  beforeAll(async () => {
    // The override is keyed by a project id, known only once the project exists: make it, then
    // restart on the same directory with the override set.
    const boot = await startTestGateway();
    const p = await boot.project('override');
    pid = p.id;
    tokens = p;
    await boot.closeKeepingData();
    gw2 = await startTestGateway({
      dataDir: boot.dataDir,
      rateLimitClock: () => now,
      file: { ingest: { rate_limit: { events_per_second: 1000, projects: { [pid]: { events_per_second: 2, per_token_events_per_second: 1, per_token_burst: 3 } } } } },
    });
  });
  afterAll(async () => gw2?.close());

  it('the override replaces the default for that project, and per-token limits name their key', async () => {
    const send = (n: number) => gw2.app.inject({ method: 'POST', url: '/v1/events', payload: times(n, pid), headers: { authorization: `Bearer ${tokens.ingest}`, 'content-type': 'application/json' } });
    expect((await send(3)).statusCode).toBe(200);
    const res = await send(1);
    expect(res.statusCode).toBe(429);
    expect(res.json().error.details).toMatchObject({ limit: 'token', events_per_second: 1, burst: 3 });
    expect(res.json().error.message).toContain(`ingest.rate_limit.projects["${pid}"].per_token_events_per_second`);
    expect(res.json().error.message).not.toContain(tokens.ingest);
  });
});

describe('ingest.rate_limit configuration', () => {
  const load = (rate_limit: object) => {
    const dir = mkdtempSync(join(tmpdir(), 'meterway-rl-config-'));
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ ingest: { rate_limit } }));
    try {
      return loadConfig({ dataDir: dir, config: join(dir, 'c.json') }, { METERWAY_ADMIN_TOKEN: ADMIN_TOKEN }).ingest.rateLimits;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  it('defaults the burst to twice the rate, the one set beside it', () => {
    expect(load({})).toMatchObject({ project: { eventsPerSecond: 50_000, burst: 100_000 }, perToken: { eventsPerSecond: 0, burst: 0 } });
    expect(load({ events_per_second: 2.5 }).project).toEqual({ eventsPerSecond: 2.5, burst: 5 });
    const merged = load({ events_per_second: 100, burst: 150, projects: { 'p-abcdefgh': { events_per_second: 7 }, 'p-abcdefg2': { per_token_events_per_second: 1 } } });
    expect(merged.projects['p-abcdefgh'].project).toEqual({ eventsPerSecond: 7, burst: 14 });
    expect(merged.projects['p-abcdefg2'].project).toEqual({ eventsPerSecond: 100, burst: 150 });
    expect(merged.projects['p-abcdefg2'].perToken).toEqual({ eventsPerSecond: 1, burst: 2 });
  });
  it('refuses a fractional burst, a burst without a rate, and a key that is not a project id, by name', () => {
    expect(() => load({ burst: 1.5 })).toThrow(/ingest\.rate_limit\.burst: must be a whole number/);
    expect(() => load({ per_token_burst: 5 })).toThrow(/ingest\.rate_limit\.per_token_burst: has no effect while the rate is 0/);
    expect(() => load({ projects: { acme: { events_per_second: 1 } } })).toThrow(/ingest\.rate_limit\.projects\["acme"\]: not a project id/);
  });
});
