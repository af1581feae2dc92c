import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from './helpers.js';

describe('smoke', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => gw.close());

  it('takes an event and shows it on the scrape endpoint', async () => {
    const p = await gw.project();
    const post = await gw.app.inject({
      method: 'POST', url: '/v1/events', headers: gw.auth(p.ingest),
      payload: { type: 'run', project_id: p.id, app_name: 'chat', status: 'success', execution_time_ms: 120 },
    });
    expect(post.json()).toEqual({ accepted: 1, rejected: [] });
    const scrape = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/metrics`, headers: gw.auth(p.monitoring) });
    expect(scrape.statusCode).toBe(200);
    expect(scrape.body).toContain(`meterway_runs_total{project_id="${p.id}",app_id="${p.id}-chat",app_name="chat"} 1\n`);
    expect(ADMIN_TOKEN).toMatch(/^mw_admin_/);
  });
});
