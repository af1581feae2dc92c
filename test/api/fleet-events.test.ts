/**
 * `instance` and `job` events (CONTRACT sections 4 and 5) through the front door: POST /v1/events
 * with explicit timestamps, read back from the scrape endpoint and the query API. Running time
 * and cost accrue between an entity's events while it runs, stop at a terminal state, are cut at
 * the staleness time across a gap, never go back for late events, and survive a restart exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postEvents as post, queryProject as query, sampleValue as sample, scrapeProject as scrape, startTestGateway, type TestGateway, type TestProject as Project } from '../helpers.js';
import { hasPromtool, promtoolCheckMetrics } from '../peers.js';

const MIN = 60_000;
/** Two hours ago, on the minute: every event here is in the past, so nothing waits. */
const T0 = Math.floor((Date.now() - 2 * 3_600_000) / MIN) * MIN;

let gw: TestGateway;
let p: Project;
beforeAll(async () => {
  gw = await startTestGateway();
  p = await gw.project('fleet');
});
afterAll(async () => gw.close());

const instance = (q: Project, name: string, minute: number, extra: Record<string, unknown> = {}) => ({
  type: 'instance', project_id: q.id, fleet_name: 'train', instance_name: name, state: 'running', backend: 'aws',
  instance_type: 'p4d.24xlarge', region: 'us-east-1', gpu_name: 'A100', gpu_count: 8, price_per_hour: 2,
  timestamp: T0 + minute * MIN, ...extra,
});
const instanceLabels = (q: Project, name: string) =>
  `project_id="${q.id}",region="us-east-1",fleet_name="train",instance_name="${name}",backend="aws",instance_type="p4d.24xlarge",gpu_name="A100"`;

const job = (q: Project, name: string, minute: number, status: string, extra: Record<string, unknown> = {}) => ({
  type: 'job', project_id: q.id, run_name: 'finetune-1', job_name: name, status, user: 'ana', fleet_name: 'train',
  backend: 'aws', gpu_name: 'H100', gpu_count: 1, price_per_hour: 3.6, timestamp: T0 + minute * MIN, ...extra,
});
const jobLabels = (q: Project, name: string) =>
  `project_id="${q.id}",run_name="finetune-1",job_name="${name}",user="ana",fleet_name="train",backend="aws",gpu_name="H100"`;

describe('instance running time and cost', () => {
  it('at 2.00 $/h, 90 minutes of minute heartbeats cost exactly 3.00 across a restart in the middle', async () => {
    const g1 = await startTestGateway();
    const q = await g1.project('restart');
    const beats = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => instance(q, 'i-restart', from + i));
    expect((await post(g1, q, beats(0, 45))).body).toEqual({ accepted: 46, rejected: [] });
    const half = await scrape(g1, q);
    expect(sample(half, `meterway_instance_running_seconds_total{${instanceLabels(q, 'i-restart')}}`)).toBe(2700);
    expect(sample(half, `meterway_instance_cost_dollars_total{${instanceLabels(q, 'i-restart')}}`)).toBe(1.5);
    // No sample of the store is taken first: what was accrued since the last one must not be lost.
    await g1.closeKeepingData();

    const g2 = await startTestGateway({ dataDir: g1.dataDir });
    try {
      const restarted = await scrape(g2, q);
      expect(sample(restarted, `meterway_instance_cost_dollars_total{${instanceLabels(q, 'i-restart')}}`)).toBe(1.5);
      // The heartbeat of minute 45 again (a resend across the restart) counts nothing.
      expect((await post(g2, q, beats(45, 90))).body).toEqual({ accepted: 46, rejected: [] });
      const text = await scrape(g2, q);
      expect(sample(text, `meterway_instance_running_seconds_total{${instanceLabels(q, 'i-restart')}}`)).toBe(5400);
      expect(sample(text, `meterway_instance_cost_dollars_total{${instanceLabels(q, 'i-restart')}}`)).toBe(3);
      expect(sample(text, `meterway_instance_price_dollars_per_hour{${instanceLabels(q, 'i-restart')}}`)).toBe(2);
      expect(sample(text, `meterway_instance_gpus{${instanceLabels(q, 'i-restart')}}`)).toBe(8);
      const cost = await query(g2, q, 'meterway_instance_cost_dollars_total');
      expect(cost.map((r) => [r.metric.instance_name, r.value[1]])).toEqual([['i-restart', '3']]);
      expect(cost[0].metric).toEqual({
        __name__: 'meterway_instance_cost_dollars_total', project_id: q.id, region: 'us-east-1', fleet_name: 'train',
        instance_name: 'i-restart', backend: 'aws', instance_type: 'p4d.24xlarge', gpu_name: 'A100',
      });
      expect((await query(g2, q, 'meterway_instance_running_seconds_total'))[0].value[1]).toBe('5400');
    } finally {
      await g2.close();
    }
  });

  it('accrues nothing while provisioning, and stops at terminated, where its gauges go', async () => {
    await post(gw, p, [
      instance(p, 'i-life', 0, { state: 'provisioning' }),
      instance(p, 'i-life', 3),
      instance(p, 'i-life', 4),
      instance(p, 'i-life', 5, { state: 'terminated' }),
      instance(p, 'i-life', 9, { state: 'terminated' }),
    ]);
    const text = await scrape(gw, p);
    const l = instanceLabels(p, 'i-life');
    expect(sample(text, `meterway_instance_running_seconds_total{${l}}`)).toBe(120);
    expect(sample(text, `meterway_instance_cost_dollars_total{${l}}`)).toBeCloseTo(120 * 2 / 3600, 12);
    expect(sample(text, `meterway_instance_price_dollars_per_hour{${l}}`)).toBeUndefined();
    expect(sample(text, `meterway_instance_gpus{${l}}`)).toBeUndefined();
  });

  it('counts a heartbeat gap longer than the staleness time (5 min by default) only up to it', async () => {
    await post(gw, p, [instance(p, 'i-gap', 0), instance(p, 'i-gap', 20), instance(p, 'i-gap', 21)]);
    const text = await scrape(gw, p);
    expect(sample(text, `meterway_instance_running_seconds_total{${instanceLabels(p, 'i-gap')}}`)).toBe(300 + 60);
    expect(sample(text, `meterway_instance_cost_dollars_total{${instanceLabels(p, 'i-gap')}}`)).toBe(360 * 2 / 3600);
  });

  it('takes the staleness time from metrics.gauge_stale_after', async () => {
    const g = await startTestGateway({ file: { metrics: { gauge_stale_after: '2m' } } });
    try {
      const q = await g.project();
      await post(g, q, [instance(q, 'i-short', 0), instance(q, 'i-short', 10)]);
      expect(sample(await scrape(g, q), `meterway_instance_running_seconds_total{${instanceLabels(q, 'i-short')}}`)).toBe(120);
    } finally {
      await g.close();
    }
  });

  it('does not go back or count twice for out-of-order and duplicate events', async () => {
    const l = instanceLabels(p, 'i-ooo');
    await post(gw, p, [instance(p, 'i-ooo', 0), instance(p, 'i-ooo', 2)]);
    expect(sample(await scrape(gw, p), `meterway_instance_running_seconds_total{${l}}`)).toBe(120);
    // Late (minute 1), resent (minute 2) and a late termination (minute 1.5): none changes anything.
    const late = await post(gw, p, [instance(p, 'i-ooo', 1), instance(p, 'i-ooo', 2), instance(p, 'i-ooo', 1.5, { state: 'terminated', price_per_hour: 100 })]);
    expect(late.body).toEqual({ accepted: 3, rejected: [] });
    let text = await scrape(gw, p);
    expect(sample(text, `meterway_instance_running_seconds_total{${l}}`)).toBe(120);
    expect(sample(text, `meterway_instance_price_dollars_per_hour{${l}}`)).toBe(2);
    await post(gw, p, [instance(p, 'i-ooo', 3), instance(p, 'i-ooo', 3)]);
    text = await scrape(gw, p);
    expect(sample(text, `meterway_instance_running_seconds_total{${l}}`)).toBe(180);
    expect(sample(text, `meterway_instance_cost_dollars_total{${l}}`)).toBe(180 * 2 / 3600);
  });

  it('charges an interval at the price in effect over it, and keeps a price until another is given', async () => {
    const l = instanceLabels(p, 'i-price');
    const { price_per_hour: _, ...noPrice } = instance(p, 'i-price', 0);
    await post(gw, p, [
      instance(p, 'i-price', 0, { price_per_hour: 1.8 }),
      { ...noPrice, timestamp: T0 + MIN }, // 1 minute at 1.80
      instance(p, 'i-price', 2, { price_per_hour: 3.6 }), // 1 more at 1.80; 3.60 from here
      { ...noPrice, timestamp: T0 + 3 * MIN }, // 1 minute at 3.60
    ]);
    const text = await scrape(gw, p);
    expect(sample(text, `meterway_instance_cost_dollars_total{${l}}`)).toBeCloseTo(0.03 + 0.03 + 0.06, 12);
    expect(sample(text, `meterway_instance_price_dollars_per_hour{${l}}`)).toBe(3.6);
  });

  it('keeps the labels and price an event leaves out: a bare termination ends the same series', async () => {
    const l = instanceLabels(p, 'i-bare');
    const bare = (minute: number, state: string) => ({ type: 'instance', project_id: p.id, fleet_name: 'train', instance_name: 'i-bare', state, timestamp: T0 + minute * MIN });
    await post(gw, p, [instance(p, 'i-bare', 0), bare(1, 'running'), bare(2, 'terminated')]);
    const text = await scrape(gw, p);
    expect(sample(text, `meterway_instance_cost_dollars_total{${l}}`)).toBe(120 * 2 / 3600);
    expect(text.split('\n').filter((line) => line.includes('instance_name="i-bare"'))).toHaveLength(2);
  });

  it('gives no label for an absent optional field', async () => {
    await post(gw, p, { type: 'instance', project_id: p.id, fleet_name: 'bare', instance_name: 'b-0', state: 'running', timestamp: T0 });
    const text = await scrape(gw, p);
    expect(sample(text, `meterway_instance_running_seconds_total{project_id="${p.id}",fleet_name="bare",instance_name="b-0"}`)).toBe(0);
    // No price given: no cost, no price gauge.
    expect(text).not.toMatch(/meterway_instance_cost_dollars_total\{[^}]*fleet_name="bare"/);
    expect(text).not.toMatch(/=""/);
  });
});

describe('job running time, cost and outcome', () => {
  it('stops accruing when a job fails, and counts it once however often the failure is sent', async () => {
    const l = jobLabels(p, 'worker-0');
    await post(gw, p, [job(p, 'worker-0', 0, 'submitted'), job(p, 'worker-0', 1, 'running'), job(p, 'worker-0', 2, 'running'), job(p, 'worker-0', 3, 'failed')]);
    let text = await scrape(gw, p);
    expect(sample(text, `meterway_job_running_seconds_total{${l}}`)).toBe(120);
    expect(sample(text, `meterway_job_cost_dollars_total{${l}}`)).toBe(120 * 3.6 / 3600);
    expect(sample(text, `meterway_job_price_dollars_per_hour{${l}}`)).toBeUndefined();
    expect(sample(text, `meterway_job_gpus{${l}}`)).toBeUndefined();
    const jobsTotal = `meterway_jobs_total{project_id="${p.id}",run_name="finetune-1",user="ana",fleet_name="train",backend="aws",gpu_name="H100",status="failed"}`;
    expect(sample(text, jobsTotal)).toBe(1);
    // The failure again (resent, and later), then a late heartbeat from before it.
    expect((await post(gw, p, [job(p, 'worker-0', 3, 'failed'), job(p, 'worker-0', 8, 'failed'), job(p, 'worker-0', 2.5, 'running')])).body.accepted).toBe(3);
    text = await scrape(gw, p);
    expect(sample(text, jobsTotal)).toBe(1);
    expect(sample(text, `meterway_job_running_seconds_total{${l}}`)).toBe(120);
    expect(sample(text, `meterway_job_cost_dollars_total{${l}}`)).toBe(0.12);
  });

  it('counts each terminal status under its own label, once per job', async () => {
    await post(gw, p, [
      job(p, 'a', 0, 'running', { run_name: 'sweep' }), job(p, 'a', 5, 'done', { run_name: 'sweep' }),
      job(p, 'b', 0, 'running', { run_name: 'sweep' }), job(p, 'b', 5, 'done', { run_name: 'sweep' }),
      job(p, 'c', 0, 'running', { run_name: 'sweep' }), job(p, 'c', 1, 'terminated', { run_name: 'sweep' }),
      job(p, 'c', 2, 'done', { run_name: 'sweep' }),
    ]);
    const res = await query(gw, p, 'sum by (status) (meterway_jobs_total{run_name="sweep"})');
    expect(Object.fromEntries(res.map((r) => [r.metric.status, r.value[1]]))).toEqual({ done: '2', terminated: '1' });
    const running = await query(gw, p, 'sum(meterway_job_running_seconds_total{run_name="sweep"})');
    expect(running[0].value[1]).toBe(String(300 + 300 + 60));
  });
});

describe('validation', () => {
  it.each([
    [{ type: 'instance', fleet_name: 'f', state: 'running' }, 'instance_name: is required'],
    [{ type: 'instance', fleet_name: 'f', instance_name: 'i' }, 'state: is required'],
    [{ type: 'instance', fleet_name: 'f', instance_name: 'i', state: 'stopped' }, 'state: must be one of "provisioning", "running" or "terminated", got "stopped"'],
    [{ type: 'instance', fleet_name: 'f', instance_name: 'i', state: 'running', price_per_hour: -1 }, 'price_per_hour: must be a finite, non-negative number (US dollars per hour), got -1'],
    [{ type: 'instance', fleet_name: 'f', instance_name: 'i', state: 'running', price_per_hour: '2.00' }, 'price_per_hour: must be a number (US dollars per hour), got "2.00"'],
    [{ type: 'instance', fleet_name: 'f', instance_name: 'i', state: 'running', gpu_count: 1.5 }, 'gpu_count: must be a whole number, got 1.5'],
    [{ type: 'instance', fleet_name: '', instance_name: 'i', state: 'running' }, 'fleet_name: must not be empty; leave the field out instead'],
    [{ type: 'instance', fleet_name: 'f', instance_name: 'i', state: 'running', backend: 7 }, 'backend: must be a string, got 7'],
    [{ type: 'job', job_name: 'j', status: 'running' }, 'run_name: is required'],
    [{ type: 'job', run_name: 'r', status: 'running' }, 'job_name: is required'],
    [{ type: 'job', run_name: 'r', job_name: 'j' }, 'status: is required'],
    [{ type: 'job', run_name: 'r', job_name: 'j', status: 'success' }, 'status: must be one of "submitted", "running", "done", "failed" or "terminated", got "success"'],
    [{ type: 'job', run_name: 'r', job_name: 'j', status: 'running', price_per_hour: -0.5 }, 'price_per_hour: must be a finite, non-negative number (US dollars per hour), got -0.5'],
    [{ type: 'job', run_name: 'r', job_name: 'j', status: 'running', user: '' }, 'user: must not be empty; leave the field out instead'],
  ])('%j: %s', async (ev, error) => {
    const res = await post(gw, p, { project_id: p.id, ...ev });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ accepted: 0, rejected: [{ index: 0, error }] });
  });

  it('refuses a price that would take the cost past the largest double, changing nothing', async () => {
    const l = instanceLabels(p, 'i-huge');
    await post(gw, p, [instance(p, 'i-huge', 0, { price_per_hour: 1e308 })]);
    const res = await post(gw, p, [instance(p, 'i-huge', 1)]);
    expect(res.body.rejected[0].error).toMatch(/^price_per_hour: 1e\+308 would take meterway_instance_cost_dollars_total past the largest number/);
    expect(sample(await scrape(gw, p), `meterway_instance_running_seconds_total{${l}}`)).toBe(0);
  });
});

describe.skipIf(!hasPromtool)('promtool check metrics', () => {
  it('passes on the scrape output with the instance and job families', async () => {
    const q = await gw.project('promtool fleet');
    await post(gw, q, [
      instance(q, 'i-0', 0), instance(q, 'i-0', 1), instance(q, 'i-1', 0, { state: 'provisioning' }),
      job(q, 'j-0', 0, 'running'), job(q, 'j-0', 1, 'done'), job(q, 'j-1', 0, 'running'), job(q, 'j-1', 1, 'running'),
    ]);
    for (const accept of ['text/plain', 'application/openmetrics-text; version=1.0.0']) {
      const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/metrics`, headers: { ...gw.auth(q.monitoring), accept } });
      expect(res.body).toContain('meterway_job_cost_dollars_total');
      expect(res.body).toContain('meterway_instance_price_dollars_per_hour');
      const r = await promtoolCheckMetrics(res.body);
      expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: '', stderr: '' });
    }
  });
});
