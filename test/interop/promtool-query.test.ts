/**
 * Interop: `promtool query` (2.42) against our query API and against a real Prometheus 2.42 that
 * scrapes the same project (monitoring token, 1 s interval) return the same series and values.
 *
 * The store is fed in lockstep with Prometheus: the gateway's own sampler is stopped and
 * `gw.sampler.sampleOnce(t)` is called with the timestamp of every scrape Prometheus makes (read
 * back from `timestamp(up)`), and events are posted only right after a scrape has been mirrored.
 * So both stores hold the same samples at the same times (checked first, raw), and the queries must
 * agree within the runner's float tolerance, not merely within a sampling-time difference.
 * Prometheus' `job`/`instance` target labels are dropped by metric relabelling so that label sets
 * can be compared exactly.
 *
 * promtool 2.42 has no `--http.config.file` (2.43 added it): `query range` sends the token with
 * `--header`, and `query instant`/`series`/`labels` go through a loopback proxy that adds it (or use
 * `--http.config.file` where the installed promtool has it).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { almostEqual } from '../../src/promql/conformance/runner.js';
import { startTestGateway, type TestGateway } from '../helpers.js';
import { hasPrometheus, hasPromtool, poll, PROMTOOL_BIN, promtoolHasFlag, run, startHeaderProxy, startPrometheus, type PrometheusPeer } from '../peers.js';

const JOB = 'meterway';
const ROUNDS = 4;

interface Series { metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }

/**
 * Rate-type queries also carry what the extrapolation needs: Prometheus 2.42 and Prometheus 3
 * (whose semantics our engine and the conformance corpus follow) extrapolate a counter's start
 * differently (2.42 caps at the zero point first and then applies the 1.1x-interval threshold; 3.x
 * applies the threshold first), so on the same samples their values may differ. For these, each
 * side is checked against its own version's formula, computed here from the (identical) raw samples.
 */
interface RateShape { fn: 'rate' | 'increase'; metric: string; windowMs: number; by: string[] | null }
const QUERIES: Array<{ query: string; rate?: RateShape }> = [
  // the seed queries (crusoe-managed-inference-metrics.txt) on our metric names
  { query: 'sum by (model_name) (rate(meterway_inference_requests_total[300s]))', rate: { fn: 'rate', metric: 'meterway_inference_requests_total', windowMs: 300_000, by: ['model_name'] } },
  { query: 'sum by (model_name) (rate(meterway_inference_input_tokens_total[300s]))', rate: { fn: 'rate', metric: 'meterway_inference_input_tokens_total', windowMs: 300_000, by: ['model_name'] } },
  { query: 'sum by (model_name) (rate(meterway_inference_output_tokens_total[300s]))', rate: { fn: 'rate', metric: 'meterway_inference_output_tokens_total', windowMs: 300_000, by: ['model_name'] } },
  { query: 'histogram_quantile(0.5, sum by (model_name, le) (irate(meterway_inference_time_to_first_token_seconds_bucket[300s])))' },
  { query: 'histogram_quantile(0.5, sum by (model_name, le) (irate(meterway_inference_time_per_output_token_seconds_bucket[300s])))' },
  { query: 'sum by (app_name) (rate(meterway_runs_total[5m]))', rate: { fn: 'rate', metric: 'meterway_runs_total', windowMs: 300_000, by: ['app_name'] } },
  // plain selectors and a few more
  { query: 'meterway_runs_total' },
  { query: 'meterway_inference_requests_total{model_name="llama-3.1-8b"}' },
  { query: 'meterway_inference_time_to_first_token_seconds_bucket' },
  { query: 'meterway_run_execution_time_seconds_count' },
  { query: 'sum by (model_name, code_class) (meterway_inference_requests_total)' },
  { query: 'increase(meterway_run_errors_total[1m])', rate: { fn: 'increase', metric: 'meterway_run_errors_total', windowMs: 60_000, by: null } },
];

type Version = '2.42' | '3';

/** Prometheus' extrapolatedRate for a counter without resets, as version `v` computes it. */
function extrapolated(pts: Array<[number, number]>, startMs: number, endMs: number, isRate: boolean, v: Version): number | undefined {
  if (pts.length < 2) return undefined;
  const [firstT, first] = pts[0];
  const [lastT, last] = pts[pts.length - 1];
  const delta = last - first;
  let toStart = (firstT - startMs) / 1000;
  let toEnd = (endMs - lastT) / 1000;
  const sampled = (lastT - firstT) / 1000;
  const avg = sampled / (pts.length - 1);
  const threshold = avg * 1.1;
  const zeroCap = () => {
    if (delta > 0 && first >= 0) toStart = Math.min(toStart, sampled * (first / delta));
  };
  if (v === '2.42') {
    zeroCap();
    toStart = toStart < threshold ? toStart : avg / 2;
  } else {
    if (toStart >= threshold) toStart = avg / 2;
    zeroCap();
  }
  if (toEnd >= threshold) toEnd = avg / 2;
  const r = delta * ((sampled + toStart + toEnd) / sampled);
  return isRate ? r / ((endMs - startMs) / 1000) : r;
}

/** What `shape` gives at each of `timesS` on `raw`, by version `v`, in promtool's JSON shape. */
function modelled(shape: RateShape, raw: Series[], timesS: number[], instant: boolean, v: Version): Series[] {
  const groups = new Map<string, { metric: Record<string, string>; points: Map<number, number> }>();
  for (const s of raw) {
    const pts = s.values!.map(([t, x]): [number, number] => [Math.round(t * 1000), Number(x)]);
    const { __name__: _n, ...rest } = s.metric;
    const metric = shape.by === null ? rest : Object.fromEntries(shape.by.filter((l) => s.metric[l] !== undefined).map((l) => [l, s.metric[l]]));
    const g = groups.get(key(metric)) ?? { metric, points: new Map<number, number>() };
    groups.set(key(metric), g);
    for (const tS of timesS) {
      const t = Math.round(tS * 1000);
      const r = extrapolated(pts.filter(([pt]) => pt > t - shape.windowMs && pt <= t), t - shape.windowMs, t, shape.fn === 'rate', v);
      if (r !== undefined) g.points.set(tS, (g.points.get(tS) ?? 0) + r);
    }
  }
  return [...groups.values()].filter((g) => g.points.size > 0).map((g) => {
    const pts = [...g.points].sort((a, b) => a[0] - b[0]).map(([t, x]): [number, string] => [t, String(x)]);
    return instant ? { metric: g.metric, value: pts[0] } : { metric: g.metric, values: pts };
  });
}

function events(pid: string, round: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < 3 + 2 * round; i++) {
    out.push({ type: 'run', project_id: pid, app_name: i % 3 === 0 ? 'batch' : 'chat', region: 'us-east-1', status: i % 4 === 1 ? 'error' : 'success', execution_time_ms: 40 + 170 * i });
  }
  for (let i = 0; i < 2 + round; i++) {
    out.push({
      type: 'inference', project_id: pid, model_name: i % 2 === 0 ? 'llama-3.1-8b' : 'qwen-2.5-72b', service_tier: 'on_demand',
      status_code: i === 3 ? 429 : 200, input_tokens: 500 + 37 * i + round, output_tokens: 120 + i, ttft_ms: 60 + 90 * i + 40 * round, tpot_ms: 12 + 5 * i,
      duration_ms: 900 + 100 * i,
    });
  }
  return out;
}

const key = (m: Record<string, string>) => JSON.stringify(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Same label sets; values within the runner's tolerance (NaN equal to NaN); same timestamps. */
function expectSameSeries(what: string, ours: Series[], theirs: Series[]): void {
  expect(ours.map((s) => key(s.metric)).sort(), `${what}: label sets`).toEqual(theirs.map((s) => key(s.metric)).sort());
  const byKey = new Map(theirs.map((s) => [key(s.metric), s]));
  for (const o of ours) {
    const t = byKey.get(key(o.metric))!;
    const op = o.value ? [o.value] : o.values!;
    const tp = t.value ? [t.value] : t.values!;
    expect(op.map((p) => p[0]), `${what} ${key(o.metric)}: timestamps`).toEqual(tp.map((p) => p[0]));
    op.forEach((p, i) => {
      const ok = almostEqual(Number(p[1]), Number(tp[i][1]));
      expect(ok, `${what} ${key(o.metric)} at ${p[0]}: ours ${p[1]}, Prometheus ${tp[i][1]}`).toBe(true);
    });
  }
}

describe.skipIf(!hasPrometheus || !hasPromtool)('promtool query: our API and a real Prometheus agree', () => {
  let gw: TestGateway;
  let prom: PrometheusPeer | undefined;
  let proxy: Awaited<ReturnType<typeof startHeaderProxy>> | undefined;
  let dir: string;
  let ours: string;
  let oursViaProxy: string;
  let token: string;
  let httpConfig: string | null = null;
  /** Evaluation time of the instant queries and end of the range queries (Unix s, ms precision). */
  let evalS: number;
  const mirrored: number[] = [];

  /** `promtool query <sub>` with `-o json`; against ours it carries the monitoring token. */
  async function promtool(sub: 'instant' | 'range' | 'series' | 'labels', target: 'ours' | 'prometheus', args: string[]): Promise<any> {
    const auth: string[] = [];
    let server = target === 'ours' ? ours : prom!.url;
    if (target === 'ours') {
      if (httpConfig !== null) auth.push(`--http.config.file=${httpConfig}`);
      else if (sub === 'range') auth.push(`--header=Authorization=Bearer ${token}`);
      else server = oursViaProxy;
    }
    const positional = args.filter((a) => !a.startsWith('--'));
    const flags = args.filter((a) => a.startsWith('--'));
    const r = await run(PROMTOOL_BIN, ['query', sub, '-o', 'json', ...auth, ...flags, server, ...positional]);
    expect({ code: r.code, stderr: r.stderr }, `promtool query ${sub} ${args.join(' ')} against ${target}: ${r.stdout}`).toEqual({ code: 0, stderr: '' });
    return JSON.parse(r.stdout);
  }

  /** The newest scrape of the project Prometheus has stored (ms), or undefined before the first. */
  async function lastScrapeMs(): Promise<number | undefined> {
    const up = await prom!.api('/api/v1/query', { query: `timestamp(up{job="${JOB}"})` });
    const v = up.result[0]?.value?.[1];
    return v === undefined ? undefined : Math.round(Number(v) * 1000);
  }

  /** Waits for a scrape newer than the last mirrored one and samples our store at its timestamp. */
  async function mirrorNextScrape(timeoutMs = 10_000): Promise<number> {
    const after = mirrored.at(-1) ?? 0;
    const t = await poll('Prometheus to scrape again', async () => {
      const ts = await lastScrapeMs();
      return ts !== undefined && ts > after ? ts : undefined;
    }, timeoutMs, 25);
    gw.sampler.sampleOnce(t);
    mirrored.push(t);
    return t;
  }

  beforeAll(async () => {
    gw = await startTestGateway();
    await gw.sampler.stop(); // the store is sampled at Prometheus' scrape times only
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (gw.app.server.address() as AddressInfo).port;
    const p = await gw.project('promtool query');
    token = p.monitoring;
    ours = `http://127.0.0.1:${port}/v1/projects/${p.id}/prometheus`;
    dir = mkdtempSync(join(tmpdir(), 'meterway-promtool-'));
    if (await promtoolHasFlag(['query', 'instant'], '--http.config.file')) {
      httpConfig = join(dir, 'http.yml');
      writeFileSync(httpConfig, `authorization:\n  credentials: ${JSON.stringify(token)}\n`);
    }
    proxy = await startHeaderProxy(port, { authorization: `Bearer ${token}` });
    oursViaProxy = `${proxy.url}/v1/projects/${p.id}/prometheus`;

    prom = await startPrometheus([
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      `  - job_name: ${JOB}`,
      `    metrics_path: ${JSON.stringify(`/v1/projects/${p.id}/metrics`)}`,
      '    authorization:',
      `      credentials: ${JSON.stringify(p.monitoring)}`,
      '    static_configs:',
      `      - targets: ["127.0.0.1:${port}"]`,
      '    metric_relabel_configs:',
      '      - action: labeldrop',
      '        regex: job|instance',
      '',
    ].join('\n'), { readyTimeoutMs: 30_000 });

    await mirrorNextScrape(30_000); // Prometheus' first scrape comes a few seconds after it is ready
    for (let round = 0; round < ROUNDS; round++) {
      // Right after a mirrored scrape: the next one is about a second away.
      const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
        method: 'POST', headers: { authorization: `Bearer ${p.ingest}`, 'content-type': 'application/json' }, body: JSON.stringify(events(p.id, round)),
      });
      expect(((await res.json()) as { rejected: unknown[] }).rejected).toEqual([]);
      await mirrorNextScrape();
      await mirrorNextScrape();
    }
    evalS = mirrored.at(-1)! / 1000;
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    await proxy?.close();
    await gw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds the same raw samples as Prometheus at the same scrape times', async () => {
    for (const sel of ['meterway_runs_total', 'meterway_inference_time_to_first_token_seconds_bucket', 'meterway_inference_input_tokens_total']) {
      const q = [`${sel}[1m]`, `--time=${evalS}`];
      const a = await promtool('instant', 'ours', q);
      const b = await promtool('instant', 'prometheus', q);
      expect(a.length, sel).toBeGreaterThan(0);
      expectSameSeries(`raw ${sel}`, a, b);
    }
  });

  /** Raw samples of `metric` up to the evaluation time, from our API (checked equal to Prometheus' above). */
  async function rawSamples(metric: string): Promise<Series[]> {
    return promtool('instant', 'ours', [`${metric}[10m]`, `--time=${evalS}`]);
  }

  for (const { query, rate } of QUERIES) {
    it(`promtool query instant and range agree: ${query}`, async () => {
      const instant = [query, `--time=${evalS}`];
      const range = [query, `--start=${evalS - 20}`, `--end=${evalS}`, '--step=1s'];
      const results = {
        instant: { ours: await promtool('instant', 'ours', instant), prometheus: await promtool('instant', 'prometheus', instant) },
        range: { ours: await promtool('range', 'ours', range), prometheus: await promtool('range', 'prometheus', range) },
      };
      for (const [kind, { ours: a, prometheus: b }] of Object.entries(results) as Array<[string, { ours: Series[]; prometheus: Series[] }]>) {
        expect(a.length, `${kind} ${query}`).toBeGreaterThan(0);
        if (!rate) {
          expectSameSeries(`${kind} ${query}`, a, b);
          continue;
        }
        // Same series and steps; values each by its own version's extrapolation.
        expect(a.map((s) => key(s.metric)).sort(), `${kind} ${query}: label sets`).toEqual(b.map((s) => key(s.metric)).sort());
        const raw = await rawSamples(rate.metric);
        const times = kind === 'instant' ? [evalS] : [...new Set(b.flatMap((s) => s.values!.map((p) => p[0])))].sort((x, y) => x - y);
        expectSameSeries(`${kind} ${query} (ours vs the Prometheus 3 formula)`, a, modelled(rate, raw, times, kind === 'instant', '3'));
        expectSameSeries(`${kind} ${query} (Prometheus 2.42 vs its formula)`, b, modelled(rate, raw, times, kind === 'instant', '2.42'));
      }
    });
  }

  it('promtool query series and labels work against our API', async () => {
    const series = await promtool('series', 'ours', ['--match=meterway_runs_total', '--match={__name__="meterway_inference_requests_total", model_name="qwen-2.5-72b"}']);
    const pid = ours.split('/').at(-2)!;
    expect(series.map((s: Record<string, string>) => `${s.__name__} ${s.app_name ?? `${s.model_name} ${s.code_class}`} ${s.project_id}`).sort()).toEqual([
      `meterway_inference_requests_total qwen-2.5-72b 2xx ${pid}`,
      `meterway_inference_requests_total qwen-2.5-72b 4xx ${pid}`,
      `meterway_runs_total batch ${pid}`,
      `meterway_runs_total chat ${pid}`,
    ]);
    // The same series as Prometheus has for these selectors (its job/instance are dropped).
    const theirs = await promtool('series', 'prometheus', ['--match=meterway_runs_total', '--match={__name__="meterway_inference_requests_total", model_name="qwen-2.5-72b"}']);
    expect(series.map(key).sort()).toEqual(theirs.map(key).sort());

    expect(await promtool('labels', 'ours', ['model_name'])).toEqual(['llama-3.1-8b', 'qwen-2.5-72b']);
    expect(await promtool('labels', 'ours', ['app_name', '--match=meterway_runs_total'])).toEqual(['batch', 'chat']);
    const names: string[] = await promtool('labels', 'ours', ['__name__']);
    expect(names).toEqual(expect.arrayContaining(['meterway_runs_total', 'meterway_inference_requests_total', 'meterway_inference_time_to_first_token_seconds_bucket']));
    const theirNames: string[] = await promtool('labels', 'prometheus', ['__name__', '--match={__name__=~"meterway_.+"}']);
    expect(theirNames.filter((n) => !n.endsWith('_created'))).toEqual(expect.arrayContaining(names.filter((n) => n.startsWith('meterway_'))));
  });
});
