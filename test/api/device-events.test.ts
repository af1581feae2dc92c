/**
 * `device` events (on-device inference telemetry, CONTRACT sections 4 and 5) through the front
 * door: POST /v1/events, then the scrape endpoint and the query API. `device_id` is a label only
 * on the per-device gauges, which count against the series limit; `meterway_devices_active`
 * counts distinct devices without a series per device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postEvents as post, queryProject as query, sampleValue as sample, scrapeProject as scrape, startTestGateway, type TestGateway, type TestProject as Project } from '../helpers.js';
import { hasPromtool, promtoolCheckMetrics } from '../peers.js';

let gw: TestGateway;
let p: Project;
beforeAll(async () => {
  gw = await startTestGateway();
  p = await gw.project('devices');
});
afterAll(async () => gw.close());

const inference = (q: Project, device: string, extra: Record<string, unknown> = {}) => ({
  type: 'device', project_id: q.id, device_id: device, app_name: 'notes', model_name: 'phi-3-mini', platform: 'ios',
  event_name: 'inference.completed', duration_ms: 850, ttft_ms: 120, throughput_tokens_per_second: 24, total_tokens: 20,
  battery_level_percent: 80, memory_used_bytes: 1.5 * 2 ** 30, ...extra,
});

describe('device events', () => {
  it('gives the per-device gauges device_id, and the counters and histograms not', async () => {
    expect((await post(gw, p, [inference(p, 'iphone-1'), inference(p, 'iphone-1', { battery_level_percent: 79, total_tokens: 30 }), inference(p, 'iphone-2', { battery_level_percent: 55 })])).body)
      .toEqual({ accepted: 3, rejected: [] });
    const text = await scrape(gw, p);
    const base = `project_id="${p.id}",app_id="${p.id}-notes",app_name="notes"`;
    const model = `${base},model_name="phi-3-mini",platform="ios"`;
    expect(sample(text, `meterway_device_inferences_total{${model}}`)).toBe(3);
    expect(sample(text, `meterway_device_tokens_total{${model}}`)).toBe(70);
    expect(sample(text, `meterway_device_inference_duration_seconds_sum{${model}}`)).toBeCloseTo(2.55, 12);
    expect(sample(text, `meterway_device_inference_duration_seconds_bucket{${model},le="1"}`)).toBe(3);
    expect(sample(text, `meterway_device_time_to_first_token_seconds_count{${model}}`)).toBe(3);
    expect(sample(text, `meterway_device_throughput_tokens_per_second_bucket{${model},le="20"}`)).toBe(0);
    expect(sample(text, `meterway_device_throughput_tokens_per_second_bucket{${model},le="30"}`)).toBe(3);
    expect(sample(text, `meterway_device_battery_level_percent{${base},platform="ios",device_id="iphone-1"}`)).toBe(79);
    expect(sample(text, `meterway_device_battery_level_percent{${base},platform="ios",device_id="iphone-2"}`)).toBe(55);
    expect(sample(text, `meterway_device_memory_used_bytes{${base},platform="ios",device_id="iphone-2"}`)).toBe(1.5 * 2 ** 30);
    expect(sample(text, `meterway_devices_active{${base},platform="ios"}`)).toBe(2);
    // device_id is on the per-device gauges only.
    for (const line of text.split('\n').filter((l) => l.includes('device_id='))) {
      expect(line).toMatch(/^meterway_device_(battery_level_percent|memory_used_bytes)\{/);
    }
    const low = await query(gw, p, 'meterway_device_battery_level_percent < 60');
    expect(low.map((r) => r.metric.device_id)).toEqual(['iphone-2']);
  });

  it('counts a status report (battery, memory only) as no inference, and gives no label for absent fields', async () => {
    await post(gw, p, { type: 'device', project_id: p.id, device_id: 'pixel-1', battery_level_percent: 12 });
    const text = await scrape(gw, p);
    expect(sample(text, `meterway_device_battery_level_percent{project_id="${p.id}",device_id="pixel-1"}`)).toBe(12);
    expect(sample(text, `meterway_devices_active{project_id="${p.id}"}`)).toBe(1);
    expect(text).not.toMatch(new RegExp(`meterway_device_inferences_total\\{project_id="${p.id}"\\}`));
    expect(text).not.toMatch(/=""/);
  });

  it('does not count as active a device whose event is older than the staleness time (a backfill)', async () => {
    const q = await gw.project('backfill');
    await post(gw, q, [inference(q, 'old', { timestamp: Date.now() - 10 * 60_000 }), inference(q, 'new')]);
    const text = await scrape(gw, q);
    expect(sample(text, `meterway_devices_active{project_id="${q.id}",app_id="${q.id}-notes",app_name="notes",platform="ios"}`)).toBe(1);
    // Its telemetry still counts.
    expect(sample(text, `meterway_device_inferences_total{project_id="${q.id}",app_id="${q.id}-notes",app_name="notes",model_name="phi-3-mini",platform="ios"}`)).toBe(2);
  });
});

describe('meterway_devices_active', () => {
  it('counts distinct devices and drops one not seen within the staleness time', async () => {
    const g = await startTestGateway({ file: { metrics: { gauge_stale_after: '1s' } } });
    try {
      const q = await g.project();
      const active = `meterway_devices_active{project_id="${q.id}",app_id="${q.id}-notes",app_name="notes",platform="android"}`;
      const ev = (device: string) => inference(q, device, { platform: 'android' });
      await post(g, q, [ev('a'), ev('b'), ev('a'), ev('c')]);
      expect(sample(await scrape(g, q), active)).toBe(3);
      await new Promise((r) => setTimeout(r, 700));
      await post(g, q, ev('c'));
      await new Promise((r) => setTimeout(r, 500));
      // a and b were last seen 1.2 s ago, c 0.5 s ago.
      await post(g, q, ev('d'));
      expect(sample(await scrape(g, q), active)).toBe(2);
      // The gateway's sweep counts out the rest without another event.
      await new Promise((r) => setTimeout(r, 1100));
      g.aggregator.sweepStale(Date.now() - 1000);
      expect(sample(await scrape(g, q), active)).toBeUndefined();
      expect(g.aggregator.get(q.id)!.devices.tracked).toBe(0);
    } finally {
      await g.close();
    }
  });
});

describe('series limit', () => {
  it('applies to the per-device gauges and says so; devices_active keeps counting every device', async () => {
    const g = await startTestGateway({ file: { metrics: { max_series_per_project: 4 } } });
    try {
      const q = await g.project();
      const ev = (device: string) => ({ type: 'device', project_id: q.id, device_id: device, platform: 'web', battery_level_percent: 50 });
      // The first device makes two series (its battery gauge, devices_active), each next one one.
      expect((await post(g, q, [ev('d1'), ev('d2'), ev('d3')])).body).toEqual({ accepted: 3, rejected: [] });
      const over = (await post(g, q, ev('d4'))).body;
      expect(over.accepted).toBe(1);
      expect(over.series_limit).toEqual([
        { project_id: q.id, limit: 4, dropped_samples: 1, message: expect.stringMatching(/reached its limit of 4 series: 1 samples for new series were dropped; reduce label cardinality \(.*device_id\) or raise metrics.max_series_per_project/) },
      ]);
      const text = await scrape(g, q);
      expect(sample(text, `meterway_device_battery_level_percent{project_id="${q.id}",platform="web",device_id="d3"}`)).toBe(50);
      expect(sample(text, `meterway_device_battery_level_percent{project_id="${q.id}",platform="web",device_id="d4"}`)).toBeUndefined();
      expect(sample(text, `meterway_devices_active{project_id="${q.id}",platform="web"}`)).toBe(4);
    } finally {
      await g.close();
    }
  });
});

describe('validation', () => {
  it.each([
    [{ model_name: 'm' }, 'device_id: is required'],
    [{ device_id: 'd', battery_level_percent: 101 }, 'battery_level_percent: must be between 0 and 100 (percent), got 101'],
    [{ device_id: 'd', battery_level_percent: -1 }, 'battery_level_percent: must be a finite, non-negative number (percent, 0 to 100), got -1'],
    [{ device_id: 'd', memory_used_bytes: -5 }, 'memory_used_bytes: must be a finite, non-negative number (a quantity), got -5'],
    [{ device_id: 'd', duration_ms: '10' }, 'duration_ms: must be a number (milliseconds), got "10"'],
    [{ device_id: 'd', total_tokens: 2.5 }, 'total_tokens: must be a whole number, got 2.5'],
    [{ device_id: 'd', throughput_tokens_per_second: -3 }, 'throughput_tokens_per_second: must be a finite, non-negative number (a quantity), got -3'],
    [{ device_id: 'd', platform: '' }, 'platform: must not be empty; leave the field out instead'],
    [{ device_id: 42 }, 'device_id: must be a string, got 42'],
  ])('%j: %s', async (fields, error) => {
    const res = await post(gw, p, { type: 'device', project_id: p.id, ...fields });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ accepted: 0, rejected: [{ index: 0, error }] });
  });
});

describe('restart', () => {
  it('continues the device counters and histograms from the store, as other event series do', async () => {
    const g1 = await startTestGateway();
    const q = await g1.project('device restart');
    await post(g1, q, [inference(q, 'r1'), inference(q, 'r2')]);
    g1.sampler.sampleOnce(Date.now());
    await g1.closeKeepingData();
    const g2 = await startTestGateway({ dataDir: g1.dataDir });
    try {
      await post(g2, q, inference(q, 'r1'));
      const text = await scrape(g2, q);
      const model = `project_id="${q.id}",app_id="${q.id}-notes",app_name="notes",model_name="phi-3-mini",platform="ios"`;
      expect(sample(text, `meterway_device_inferences_total{${model}}`)).toBe(3);
      expect(sample(text, `meterway_device_tokens_total{${model}}`)).toBe(60);
      expect(sample(text, `meterway_device_throughput_tokens_per_second_count{${model}}`)).toBe(3);
      expect(sample(text, `meterway_device_inference_duration_seconds_bucket{${model},le="+Inf"}`)).toBe(3);
      // One series each: restored under the key the events use.
      expect(text.split('\n').filter((l) => l.startsWith('meterway_device_inferences_total{'))).toHaveLength(1);
    } finally {
      await g2.close();
    }
  });
});

describe.skipIf(!hasPromtool)('promtool check metrics', () => {
  it('passes on the scrape output with the device families, in both formats', async () => {
    const q = await gw.project('promtool devices');
    await post(gw, q, [inference(q, 'x'), inference(q, 'y', { platform: 'android', app_name: undefined }), { type: 'device', project_id: q.id, device_id: 'z', battery_level_percent: 3 }]);
    for (const accept of [undefined, 'application/openmetrics-text; version=1.0.0']) {
      const body = await scrape(gw, q, accept);
      expect(body).toContain('meterway_devices_active');
      expect(body).toContain('meterway_device_throughput_tokens_per_second_bucket');
      const r = await promtoolCheckMetrics(body);
      expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: '', stderr: '' });
    }
  });
});
