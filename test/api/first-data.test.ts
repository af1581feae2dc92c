/**
 * The first data of a project is queryable at once: until the sampler's first tick stores the
 * project (15 s by default), queries read its live series (src/tsdb/head.ts); nothing extra is
 * written to the store.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

async function query(pid: string, token: string, q: string): Promise<Array<{ value: [number, string] }>> {
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${pid}/prometheus/api/v1/query?query=${encodeURIComponent(q)}`, headers: gw.auth(token) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.result;
}

it('answers a query on the first events and OTLP points without waiting for a tick', async () => {
  const p = await gw.project('first data');
  const ev = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(p.ingest), payload: { type: 'run', app_name: 'chat', status: 'success' } });
  expect(ev.json().accepted).toBe(1);
  expect((await query(p.id, p.monitoring, 'meterway_runs_total'))[0].value[1]).toBe('1');
  expect(gw.tsdb.stats().series).toBe(0);

  const q = await gw.project('first otlp');
  const otlp = { resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'first_gauge', gauge: { dataPoints: [{ asDouble: 4, timeUnixNano: String(Date.now() * 1e6) }] } }] }] }] };
  const res = await gw.app.inject({ method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...gw.auth(q.ingest), 'content-type': 'application/json' }, payload: JSON.stringify(otlp) });
  expect(res.json()).toEqual({});
  expect((await query(q.id, q.monitoring, 'first_gauge'))[0].value[1]).toBe('4');
  // After the first tick the store answers, with the same names and values.
  gw.sampler.sampleOnce(Date.now());
  expect(gw.tsdb.stats().series).toBeGreaterThan(0);
  expect((await query(q.id, q.monitoring, 'first_gauge'))[0].value[1]).toBe('4');
  expect((await query(p.id, p.monitoring, 'meterway_runs_total'))[0].value[1]).toBe('1');
});
