/**
 * refusal_backoff through the front door: a token that keeps being refused by the query API has
 * its answers held back past its burst, while another project's queries and the same token's
 * valid ones are answered at once; unknown tokens are held back by address; the self-metric and
 * the access log say who was held and for how long.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/logging.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';

let gw: TestGateway;
let a: Awaited<ReturnType<TestGateway['project']>>;
let b: Awaited<ReturnType<TestGateway['project']>>;
const written: string[] = [];
const accessLines = () => written.join('').split('\n').filter((l) => l.includes('"status"')).map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  const log = await createLogger({ level: 'info', format: 'json', destination: { write: (s: string) => void written.push(s) }, isTTY: false });
  // Five refusals a second with a burst of three, held at most 400 ms.
  gw = await startTestGateway({ log, file: { refusal_backoff: { per_second: 5, burst: 3, max_delay: '400ms' } } });
  a = await gw.project('attacker');
  b = await gw.project('bystander');
}, 30_000);
afterAll(async () => gw.close());

const timed = async (token: string, project: string, query: string) => {
  const t0 = performance.now();
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${project}/prometheus/api/v1/query?query=${encodeURIComponent(query)}`, headers: gw.auth(token) });
  return { status: res.statusCode, ms: performance.now() - t0, body: res.json() as { errorType?: string } };
};

describe('refusal_backoff', () => {
  it('holds back a token that keeps being refused, not its valid queries nor another project', async () => {
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await timed(a.monitoring, a.id, 'sum(('));
    expect(answers.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 400]);
    expect(answers[0].body.errorType).toBe('bad_data');
    // Past the burst of three, each answer waits until the budget takes it (200 ms at 5 a second,
    // less the time the previous requests took), then at most max_delay.
    const heldMs = answers.slice(3).reduce((n, r) => n + r.ms, 0);
    expect(heldMs).toBeGreaterThanOrEqual(3 * 150);

    const fine = await timed(a.monitoring, a.id, 'vector(1)');
    const other = await timed(b.monitoring, b.id, 'vector(1)');
    expect([fine.status, other.status]).toEqual([200, 200]);

    const lines = accessLines().filter((l) => String(l.route).endsWith('/query'));
    const delayed = lines.filter((l) => l.delayed_ms !== undefined);
    expect(delayed.length).toBeGreaterThanOrEqual(3);
    for (const l of delayed) {
      expect(l).toMatchObject({ status: 400, project_id: a.id });
      expect(l.delayed_ms as number).toBeGreaterThan(0);
      expect(l.delayed_ms as number).toBeLessThanOrEqual(400);
    }
    // The answers that were not refusals were not held.
    expect(lines.filter((l) => l.status === 200 && l.delayed_ms !== undefined)).toEqual([]);
  });

  it('holds back unknown tokens by address, on any route', async () => {
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push((await gw.app.inject({ method: 'GET', url: '/v1/projects', headers: gw.auth('mw_admin_unknown-0123456789abcdefghij') })).statusCode);
    expect(codes).toEqual([401, 401, 401, 401, 401, 401]);
    const held = accessLines().filter((l) => l.status === 401 && l.delayed_ms !== undefined);
    expect(held.length).toBeGreaterThanOrEqual(2);
    expect(held.every((l) => l.token_id === undefined)).toBe(true);
  });

  it('counts the held answers by caller on /metrics', async () => {
    const res = await gw.app.inject({ method: 'GET', url: '/metrics', headers: gw.auth(ADMIN_TOKEN) });
    const text = res.body;
    const count = (caller: string) => Number(new RegExp(`^meterway_http_refusals_delayed_total\\{caller="${caller}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    expect(count('token')).toBeGreaterThanOrEqual(3);
    expect(count('address')).toBeGreaterThanOrEqual(2);
  });
});

describe('refusal_backoff off', () => {
  it('per_second 0 answers every refusal at once', async () => {
    const off = await startTestGateway({ file: { refusal_backoff: { per_second: 0 } } });
    try {
      const p = await off.project();
      for (let i = 0; i < 60; i++) {
        const res = await off.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/query?query=sum((`, headers: off.auth(p.monitoring) });
        expect(res.statusCode).toBe(400);
      }
      // Sixty refusals at once are past the default burst (50): none was held.
      const metrics = await off.app.inject({ method: 'GET', url: '/metrics', headers: off.auth(ADMIN_TOKEN) });
      expect(metrics.body).not.toMatch(/^meterway_http_refusals_delayed_total\{/m);
    } finally {
      await off.close();
    }
  });

  it('a bad max_delay is refused at start, naming the key', async () => {
    await expect(startTestGateway({ file: { refusal_backoff: { max_delay: 'soon' } } })).rejects.toThrow(/refusal_backoff\.max_delay: must be a duration/);
  });
});
