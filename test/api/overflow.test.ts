/**
 * Counters and histogram sums stay finite: an event whose value would take a series to +Inf is
 * refused on its own (named field, why), the rest of its batch is kept, and nothing of the
 * refused event is counted. A series at +Inf would stay there for good, since nothing brings it
 * back, and every rate() over it would be NaN.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';

let gw: TestGateway;
let p: Awaited<ReturnType<TestGateway['project']>>;
beforeAll(async () => {
  gw = await startTestGateway();
  p = await gw.project();
});
afterAll(async () => gw.close());

const post = (payload: unknown) =>
  gw.app.inject({ method: 'POST', url: '/v1/events', payload: payload as any, headers: { ...gw.auth(p.ingest), 'content-type': 'application/json' } });

const postNdjson = (body: string) =>
  gw.app.inject({ method: 'POST', url: '/v1/events', payload: body, headers: { ...gw.auth(p.ingest), 'content-type': 'application/x-ndjson' } });

const scrape = async () => (await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/metrics`, headers: gw.auth(p.monitoring) })).body;

/** The value of one exposed sample line (as its text, so +Inf shows as such), or undefined. */
function sample(text: string, nameAndLabels: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${nameAndLabels} `));
  return line === undefined ? undefined : line.slice(nameAndLabels.length + 1);
}

const inference = (model: string, extra: Record<string, unknown>) => ({ type: 'inference', project_id: p.id, model_name: model, input_tokens: 1, output_tokens: 1, ...extra });
const base = (model: string) => `project_id="${p.id}",model_name="${model}",service_tier="on_demand"`;

describe('counters never overflow to +Inf', () => {
  it('refuses the event that would, names the field and why, keeps the previous value and the rest of the batch', async () => {
    const first = await post(inference('big', { input_tokens: 1e308 }));
    expect(first.json()).toEqual({ accepted: 1, rejected: [] });

    const batch = await post([
      inference('big', { input_tokens: 1e308, output_tokens: 5 }),
      inference('other', { input_tokens: 7 }),
      { type: 'run', project_id: p.id, app_name: 'a', status: 'success' },
    ]);
    expect(batch.statusCode).toBe(200);
    const body = batch.json();
    expect(body.accepted).toBe(2);
    expect(body.rejected).toHaveLength(1);
    expect(body.rejected[0].index).toBe(0);
    expect(body.rejected[0].error).toMatch(/^input_tokens: /);
    expect(body.rejected[0].error).toContain('meterway_inference_input_tokens_total');
    expect(body.rejected[0].error).toMatch(/\+Inf/);

    const text = await scrape();
    expect(sample(text, `meterway_inference_input_tokens_total{${base('big')}}`)).toBe('1e+308');
    // The refused event touched several series: none of them moved.
    expect(sample(text, `meterway_inference_output_tokens_total{${base('big')}}`)).toBe('1');
    expect(sample(text, `meterway_inference_requests_total{${base('big')},code_class="2xx"}`)).toBe('1');
    expect(sample(text, `meterway_inference_input_tokens_total{${base('other')}}`)).toBe('7');
    expect(sample(text, `meterway_runs_total{project_id="${p.id}",app_id="${p.id}-a",app_name="a"}`)).toBe('1');
    expect(text).not.toMatch(/\+Inf$|Inf\n|NaN/m);

    // A value that fits is still counted after a refusal.
    expect((await post(inference('big', { input_tokens: 1 }))).json()).toEqual({ accepted: 1, rejected: [] });
    expect(sample(await scrape(), `meterway_inference_requests_total{${base('big')},code_class="2xx"}`)).toBe('2');
  });

  it('checks every field of an event before applying any: a later field overflowing leaves the earlier ones as they were', async () => {
    expect((await post(inference('late', { output_tokens: 1.5e308 }))).json()).toEqual({ accepted: 1, rejected: [] });
    const res = await post(inference('late', { input_tokens: 10, output_tokens: 1.5e308 }));
    expect(res.statusCode).toBe(400);
    expect(res.json().rejected).toEqual([{ index: 0, error: expect.stringMatching(/^output_tokens: .*meterway_inference_output_tokens_total/) }]);
    const text = await scrape();
    expect(sample(text, `meterway_inference_input_tokens_total{${base('late')}}`)).toBe('1');
    expect(sample(text, `meterway_inference_output_tokens_total{${base('late')}}`)).toBe('1.5e+308');
    expect(sample(text, `meterway_inference_requests_total{${base('late')},code_class="2xx"}`)).toBe('1');
  });

  it('refuses a value that is itself not finite (1e999 in JSON reads as Infinity)', async () => {
    const res = await postNdjson(`${JSON.stringify(inference('inf', {})).replace('"input_tokens":1', '"input_tokens":1e999')}\n${JSON.stringify(inference('inf', { input_tokens: 3 }))}\n`);
    expect(res.json()).toEqual({ accepted: 1, rejected: [{ index: 0, error: expect.stringMatching(/^input_tokens: must be a finite/) }] });
    expect(sample(await scrape(), `meterway_inference_input_tokens_total{${base('inf')}}`)).toBe('3');
  });

  it('keeps histogram sums finite too: a run whose duration would overflow its _sum is refused whole', async () => {
    const run = (ms: number) => ({ type: 'run', project_id: p.id, app_name: 'slow', status: 'success', queue_time_ms: 1, execution_time_ms: ms });
    // Seconds are milliseconds / 1000: 1.7e308 ms is 1.7e305 s, so it takes many to overflow.
    const events = Array.from({ length: 1100 }, () => run(1.7e308));
    const res = await post(events);
    const body = res.json();
    expect(body.rejected.length).toBeGreaterThan(0);
    const accepted = body.accepted as number;
    expect(accepted + body.rejected.length).toBe(1100);
    expect(body.rejected[0].error).toMatch(/^execution_time_ms: .*meterway_run_execution_time_seconds_sum/);
    const text = await scrape();
    const l = `project_id="${p.id}",app_id="${p.id}-slow",app_name="slow"`;
    expect(Number(sample(text, `meterway_run_execution_time_seconds_sum{${l}}`))).toBeLessThan(Infinity);
    // The refused runs counted nowhere: runs, queue time and execution time agree.
    expect(sample(text, `meterway_runs_total{${l}}`)).toBe(String(accepted));
    expect(sample(text, `meterway_run_queue_time_seconds_count{${l}}`)).toBe(String(accepted));
    expect(sample(text, `meterway_run_execution_time_seconds_count{${l}}`)).toBe(String(accepted));
  });
});
