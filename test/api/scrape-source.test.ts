/**
 * The scrape source through the front door: a gateway whose config file holds scrape_configs
 * (deploy/scrape/'s mappings, their targets pointed here) scraping a test HTTP server on
 * 127.0.0.1 that serves the exporters' own output (test/fixtures/scrape/) and every kind of bad
 * answer; then what each project's scrape endpoint and query API show, and what the gateway's
 * own /metrics says of each target.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { poll } from '../peers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = (name: string) => readFileSync(join(ROOT, 'test', 'fixtures', 'scrape', name), 'utf8');
const mapping = (name: string) => (parseYaml(readFileSync(join(ROOT, 'deploy', 'scrape', name), 'utf8')) as { scrape_configs: Array<Record<string, unknown>> }).scrape_configs[0];

const A = 'p-a1b2c3d4';
const B = 'p-e5f6g7h8';
const TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const OM = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** What the test server answers per path; tests change `dynamic` on the way. */
let dynamic = '# TYPE churn gauge\nchurn{k="a"} 1\nchurn{k="b"} 2\n';
let dynamicStatus = 200;
const requests: IncomingHttpHeaders[] = [];
let server: Server;
let port: number;
let gw: TestGateway;
const open: ServerResponse[] = [];
/** A 10 MB line, made once. */
const LONG_LINE = Buffer.from(`big{v="${'x'.repeat(10 * 1024 * 1024)}"} 1\n`);

function routes(res: ServerResponse, path: string): void {
  const send = (body: string | Buffer, type = TEXT, extra: Record<string, string> = {}) => {
    res.writeHead(200, { 'content-type': type, ...extra });
    res.end(body);
  };
  switch (path) {
    case '/dcgm': return send(fixture('dcgm-exporter.txt'));
    case '/dcgm-old': return send(gzipSync(fixture('dcgm-exporter-hostname-uppercase.txt')), TEXT, { 'content-encoding': 'gzip' });
    case '/vllm': return send(fixture('vllm.txt'));
    case '/om': return send([
      '# TYPE om_requests counter', '# HELP om_requests Requests.', 'om_requests_total{code="200"} 7 1700000000.5 # {trace_id="abc"} 1', 'om_requests_created{code="200"} 1699990000',
      '# TYPE om_temp_celsius gauge', '# UNIT om_temp_celsius celsius', 'om_temp_celsius 21.5', '# TYPE om_latency_seconds summary',
      'om_latency_seconds{quantile="0.5"} 0.12', 'om_latency_seconds{quantile="0.99"} NaN', 'om_latency_seconds_sum 3.5', 'om_latency_seconds_count 21', '# EOF', '',
    ].join('\n'), OM);
    case '/labels': return send('# TYPE own_job gauge\nown_job{job="exporter-job",instance="inside",exported_job="x"} 1\n');
    case '/html': return send('<!DOCTYPE html><html><body>Login</body></html>\n', 'text/html; charset=utf-8');
    case '/html-as-text': return send('<html>\n<body>It works!</body>\n</html>\n');
    case '/long-line': return send(LONG_LINE);
    case '/dup': return send('# TYPE d gauge\nd{a="1"} 1\nd{a="1"} 2\n');
    case '/no-inf': return send('# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="1"} 2\nh_sum 0.7\nh_count 2\n');
    case '/clash': return send('# TYPE meterway_runs_total gauge\nmeterway_runs_total 5\n# TYPE fine gauge\nfine 1\n');
    case '/many': return send(Array.from({ length: 100 }, (_, i) => `many{i="${i}"} ${i}`).join('\n'));
    case '/status': res.writeHead(503).end('overloaded'); return;
    case '/never-ends':
      res.writeHead(200, { 'content-type': TEXT });
      res.write('started 1\n');
      open.push(res);
      return;
    case '/endless': {
      res.writeHead(200, { 'content-type': TEXT });
      let i = 0;
      const pump = () => {
        while (res.write(`endless{i="${i++}"} 1\n`)) if (i % 5000 === 0) return void setImmediate(pump);
        res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
      return;
    }
    case '/dynamic':
      if (dynamicStatus !== 200) {
        res.writeHead(dynamicStatus).end();
        return;
      }
      return send(dynamic);
    default:
      res.writeHead(404).end('not found');
  }
}

// The bad targets are scraped less often: a 10 MB line or an endless body every 300 ms would take
// much of a shared 2-core machine.
const job = (name: string, path: string, extra: Record<string, unknown> = {}, labels: Record<string, string> = { project_id: B }) => ({
  job_name: name, metrics_path: path, scrape_interval: name.startsWith('bad-') ? '1s' : '300ms', static_configs: [{ targets: [`127.0.0.1:${port}`], labels }], ...extra,
});

/** A deploy/scrape/ mapping pointed at the test server. */
const mapped = (file: string, name: string, path: string, labels?: Record<string, string>) => ({
  ...mapping(file), job_name: name, metrics_path: path, scrape_interval: '300ms',
  static_configs: [{ targets: [`127.0.0.1:${port}`], ...(labels === undefined ? {} : { labels }) }],
});

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.headers);
    routes(res, req.url ?? '/');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  gw = await startTestGateway({
    file: {
      scrape_configs: [
        mapped('dcgm-exporter.yaml', 'dcgm', '/dcgm'),
        mapped('dcgm-exporter.yaml', 'dcgm-old', '/dcgm-old'),
        mapped('vllm.yaml', 'vllm', '/vllm', { project_id: A }),
        job('om', '/om'),
        job('labels', '/labels'),
        job('labels-honored', '/labels', { honor_labels: true }),
        job('bad-html', '/html'),
        job('bad-html-as-text', '/html-as-text'),
        job('bad-long-line', '/long-line'),
        job('bad-dup', '/dup'),
        job('bad-no-inf', '/no-inf'),
        job('clash', '/clash'),
        job('bad-sample-limit', '/many', { sample_limit: 50 }),
        job('bad-status', '/status'),
        job('bad-never-ends', '/never-ends', { scrape_timeout: '200ms' }),
        job('bad-endless', '/endless', { body_size_limit: '1MB' }),
        job('no-project', '/dynamic', {}, {}),
        job('unknown-project', '/dynamic', {}, { project_id: 'p-00000000' }),
        job('dynamic', '/dynamic', {}, { project_id: A }),
      ],
    },
  });
  for (const id of [A, B]) {
    const res = await gw.app.inject({ method: 'POST', url: '/v1/projects', headers: gw.auth(ADMIN_TOKEN), payload: { name: id, id } });
    expect(res.statusCode, res.body).toBe(201);
  }
}, 30_000);

afterAll(async () => {
  for (const res of open) res.destroy();
  await gw?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

async function scrape(pid: string): Promise<string> {
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${pid}/metrics`, headers: gw.auth(ADMIN_TOKEN) });
  expect(res.statusCode).toBe(200);
  return res.body;
}

async function query(pid: string, q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  gw.sampler.sampleOnce(Date.now());
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${pid}/prometheus/api/v1/query?query=${encodeURIComponent(q)}`, headers: gw.auth(ADMIN_TOKEN) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.result;
}

async function selfMetrics(admin = true): Promise<string> {
  return (await gw.app.inject({ method: 'GET', url: '/metrics', headers: admin ? gw.auth(ADMIN_TOKEN) : {} })).body;
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Waits until `series` in the scrape of `pid` (or the self-metrics) has a value `ok` accepts. */
async function until(what: () => Promise<string>, series: string, ok: (v: number | undefined) => boolean = (v) => v !== undefined): Promise<string> {
  return poll(series, async () => {
    const text = await what();
    return ok(value(text, series)) ? text : undefined;
  }, 15_000, 100);
}

const target = (name: string) => `instance="127.0.0.1:${port}",job="${name}"`;

describe('dcgm-exporter, through deploy/scrape/dcgm-exporter.yaml', () => {
  const gpu0 = () => `DCGM_FI_DRIVER_VERSION="550.127.05",UUID="GPU-5c1a7e34-1f0b-8a43-9d21-6b3e2a7c9f01",container="vllm",device="nvidia0",gpu="0",hostname="gpu-node-1",instance="127.0.0.1:${port}",job="dcgm",modelName="NVIDIA H100 80GB HBM3",namespace="tenant-a1b2c3d4",pci_bus_id="00000000:18:00.0",pod="vllm-llama-7f9c4d-x2k8p",project_id="${A}"`;

  it("goes to the project of the pod's namespace, on Meterway's GPU families, memory in bytes", async () => {
    const text = await until(() => scrape(A), `meterway_gpu_compute_utilization_percent{${gpu0()}}`);
    expect(value(text, `meterway_gpu_compute_utilization_percent{${gpu0()}}`)).toBe(97);
    expect(value(text, `meterway_gpu_memory_usage_bytes{${gpu0()}}`)).toBe(77481 * 1048576);
    expect(value(text, `DCGM_FI_DEV_GPU_TEMP{${gpu0()}}`)).toBe(61);
    expect(value(text, `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{${gpu0()}}`)).toBe(1840216548021);
    expect(value(text, `DCGM_FI_DEV_MEMORY_TEMP{${gpu0()}}`)).toBe(43);
    // The family keeps the catalogue's HELP and type.
    expect(text).toContain('# TYPE meterway_gpu_compute_utilization_percent gauge\n');
    expect(text).toContain('# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n');
    expect(text).toContain('# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).\n');
    // Not renamed away: the MiB series is gone, the other tenant's GPU is not here, nor the free one.
    expect(text).not.toContain('DCGM_FI_DEV_FB_USED');
    expect(text).not.toContain('tenant-e5f6g7h8');
    expect(text).not.toContain('gpu="2"');
  });

  it('the other GPU goes to the other project; the GPU no pod uses is dropped and counted', async () => {
    const text = await until(() => scrape(B), `meterway_gpu_compute_utilization_percent{DCGM_FI_DRIVER_VERSION="550.127.05",UUID="GPU-8e2d0b17-44c6-2f9e-b3a8-0c5d7e1f2a36",container="trainer",device="nvidia1",gpu="1",hostname="gpu-node-1",instance="127.0.0.1:${port}",job="dcgm",modelName="NVIDIA H100 80GB HBM3",namespace="tenant-e5f6g7h8",pci_bus_id="00000000:2A:00.0",pod="finetune-job-0-mq7zt",project_id="${B}"}`, (v) => v === 64);
    expect(text).not.toContain('tenant-a1b2c3d4');
    const self = await until(selfMetrics, `meterway_target_samples_dropped_total{${target('dcgm')},reason="no_project"}`, (v) => v !== undefined && v >= 25);
    // 25 metrics of one GPU per scrape.
    expect(value(self, `meterway_target_samples_dropped_total{${target('dcgm')},reason="no_project"}`)! % 25).toBe(0);
    expect(value(self, 'meterway_source_samples_dropped_total{source="scrape",reason="no_project"}')).toBeGreaterThanOrEqual(25);
  });

  it('dcgm-exporter before 4.5.3-4.8.2\'s successor writes Hostname: the same hostname label comes out (and gzip is read)', async () => {
    const text = await until(() => scrape(A), `meterway_gpu_compute_utilization_percent{${gpu0().replace('job="dcgm"', 'job="dcgm-old"')}}`);
    expect(text).not.toContain('Hostname=');
  });

  it('the query API answers the same series', async () => {
    await until(() => scrape(A), `meterway_gpu_compute_utilization_percent{${gpu0()}}`);
    const r = await query(A, 'meterway_gpu_memory_usage_bytes{job="dcgm"} / 1048576');
    expect(r).toEqual([{ metric: expect.objectContaining({ gpu: '0', pod: 'vllm-llama-7f9c4d-x2k8p', project_id: A, hostname: 'gpu-node-1' }), value: [expect.any(Number), '77481'] }]);
    expect(await query(B, 'meterway_gpu_compute_utilization_percent{job="dcgm"}')).toEqual([{ metric: expect.objectContaining({ gpu: '1', project_id: B }), value: [expect.any(Number), '64'] }]);
  });
});

describe('vLLM, through deploy/scrape/vllm.yaml', () => {
  const id = () => `engine="0",instance="127.0.0.1:${port}",job="vllm",model_name="meta-llama/Llama-3.1-8B-Instruct",project_id="${A}"`;

  it("goes onto the inference families: counters as they are, histograms merged onto Meterway's bounds", async () => {
    const text = await until(() => scrape(A), `meterway_inference_input_tokens_total{${id()}}`);
    expect(value(text, `meterway_inference_input_tokens_total{${id()}}`)).toBe(1185032);
    expect(value(text, `meterway_inference_output_tokens_total{${id()}}`)).toBe(27453);
    expect(value(text, `vllm:num_requests_running{${id()}}`)).toBe(8);
    expect(value(text, `vllm:request_success_total{engine="0",finished_reason="stop",instance="127.0.0.1:${port}",job="vllm",model_name="meta-llama/Llama-3.1-8B-Instruct",project_id="${A}"}`)).toBe(118);
    expect(text).not.toContain('_created');
    expect(text).not.toContain('vllm:time_to_first_token_seconds');
    const fix = fixture('vllm.txt');
    const bucket = (name: string, le: string) => Number(new RegExp(`^${name}_bucket\\{engine="0",le="${le.replace('+', '\\+')}",[^}]*\\} (\\S+)$`, 'm').exec(fix)![1]);
    const ttft = (le: string) => value(text, `meterway_inference_time_to_first_token_seconds_bucket{${id()},le="${le}"}`);
    // Bounds both have: exact. Bounds vLLM lacks: vLLM's count at its next bound below.
    expect(ttft('0.1')).toBe(bucket('vllm:time_to_first_token_seconds', '0.1'));
    expect(ttft('0.25')).toBe(bucket('vllm:time_to_first_token_seconds', '0.25'));
    expect(ttft('0.025')).toBe(bucket('vllm:time_to_first_token_seconds', '0.02'));
    expect(ttft('0.05')).toBe(bucket('vllm:time_to_first_token_seconds', '0.04'));
    expect(ttft('+Inf')).toBe(140);
    expect(value(text, `meterway_inference_time_to_first_token_seconds_count{${id()}}`)).toBe(140);
    expect(value(text, `meterway_inference_time_to_first_token_seconds_sum{${id()}}`)).toBe(19.1671);
    expect(value(text, `meterway_inference_request_duration_seconds_count{${id()}}`)).toBe(131);
    expect(value(text, `meterway_inference_request_duration_seconds_bucket{${id()},le="30"}`)).toBe(bucket('vllm:e2e_request_latency_seconds', '30.0'));
    expect(value(text, `meterway_inference_request_duration_seconds_bucket{${id()},le="60"}`)).toBe(bucket('vllm:e2e_request_latency_seconds', '60.0'));
    expect(value(text, `meterway_inference_request_duration_seconds_bucket{${id()},le="300"}`)).toBe(bucket('vllm:e2e_request_latency_seconds', '240.0'));
    // The other project has none of it.
    expect(await scrape(B)).not.toContain('model_name="meta-llama');
  });

  it('PromQL over them: histogram_quantile and rate work as on Prometheus', async () => {
    await until(() => scrape(A), `meterway_inference_input_tokens_total{${id()}}`);
    const [q] = await query(A, 'histogram_quantile(0.5, sum by (le) (meterway_inference_time_to_first_token_seconds_bucket{job="vllm"}))');
    expect(Number(q.value[1])).toBeGreaterThan(0.05);
    expect(Number(q.value[1])).toBeLessThan(0.25);
    const meta = await gw.app.inject({ method: 'GET', url: `/v1/projects/${A}/prometheus/api/v1/metadata?metric=vllm:num_requests_running`, headers: gw.auth(ADMIN_TOKEN) });
    expect(meta.json().data['vllm:num_requests_running']).toEqual([expect.objectContaining({ type: 'gauge', help: 'Number of requests in model execution batches.' })]);
  });
});

describe('formats, headers, labels', () => {
  it("asks as Prometheus 2.42 asks: its Accept header, gzip, the timeout in seconds", async () => {
    await until(() => scrape(A), `meterway_inference_input_tokens_total{engine="0",instance="127.0.0.1:${port}",job="vllm",model_name="meta-llama/Llama-3.1-8B-Instruct",project_id="${A}"}`);
    const h = requests.find((r) => r['x-prometheus-scrape-timeout-seconds'] === '0.3')!;
    expect(h.accept).toBe('application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1');
    expect(h['accept-encoding']).toBe('gzip');
  });

  it('OpenMetrics: counters, units, a summary (quantiles gauges, _sum and _count counters), exemplars skipped, timestamps honoured', async () => {
    const text = await until(() => scrape(B), `om_requests_total{code="200",${target('om')},project_id="${B}"}`);
    expect(value(text, `om_requests_total{code="200",${target('om')},project_id="${B}"}`)).toBe(7);
    expect(text).toContain('# HELP om_requests_total Requests.\n# TYPE om_requests_total counter\n');
    expect(text).toContain('# TYPE om_temp_celsius gauge\n');
    expect(value(text, `om_requests_created{code="200",${target('om')},project_id="${B}"}`)).toBe(1699990000);
    expect(value(text, `om_temp_celsius{${target('om')},project_id="${B}"}`)).toBe(21.5);
    expect(value(text, `om_latency_seconds{${target('om')},project_id="${B}",quantile="0.5"}`)).toBe(0.12);
    expect(text).toContain(`om_latency_seconds{${target('om')},project_id="${B}",quantile="0.99"} NaN\n`);
    expect(text).toContain('# TYPE om_latency_seconds gauge\n');
    expect(text).toContain('# TYPE om_latency_seconds_sum counter\n');
    expect(text).toContain('# TYPE om_latency_seconds_count counter\n');
    expect(value(text, `om_latency_seconds_count{${target('om')},project_id="${B}"}`)).toBe(21);
  });

  it('honor_labels: false keeps the exporter\'s clashing labels as exported_*, true keeps them as they are', async () => {
    // job and instance are the target's; the exporter's become exported_job (taken: exported_exported_job) and exported_instance.
    const text = await until(() => scrape(B), `own_job{exported_exported_job="exporter-job",exported_instance="inside",exported_job="x",${target('labels')},project_id="${B}"}`);
    expect(value(text, `own_job{exported_job="x",instance="inside",job="exporter-job",project_id="${B}"}`)).toBe(1);
  });
});

describe('bad targets: up 0 with the reason, nothing else disturbed', () => {
  const cases: Array<[string, string]> = [
    ['bad-html', 'not_metrics'],
    ['bad-html-as-text', 'not_metrics'],
    ['bad-long-line', 'line_too_long'],
    ['bad-dup', 'duplicate_series'],
    ['bad-no-inf', 'histogram_invalid'],
    ['bad-sample-limit', 'sample_limit'],
    ['bad-status', 'http_status'],
    ['bad-never-ends', 'timeout'],
    ['bad-endless', 'body_too_large'],
  ];
  for (const [name, reason] of cases) {
    it(`${name}: ${reason}`, async () => {
      const self = await until(selfMetrics, `meterway_target_scrape_failures_total{${target(name)},reason="${reason}"}`);
      expect(value(self, `meterway_target_up{${target(name)}}`)).toBe(0);
      // Nothing of it in the project; the good targets beside it go on.
      expect(value(self, `meterway_target_up{${target('dcgm')}}`)).toBe(1);
      expect(value(self, `meterway_target_up{${target('vllm')}}`)).toBe(1);
      const text = await scrape(B);
      expect(text).not.toMatch(new RegExp(`job="${name}"`));
    });
  }

  it('a name a built-in family holds with another type: up 1, those samples dropped as conflict, the rest taken', async () => {
    const self = await until(selfMetrics, `meterway_target_samples_dropped_total{${target('clash')},reason="conflict"}`);
    expect(value(self, `meterway_target_up{${target('clash')}}`)).toBe(1);
    const text = await scrape(B);
    expect(value(text, `fine{${target('clash')},project_id="${B}"}`)).toBe(1);
    expect(text).not.toContain(`meterway_runs_total{${target('clash')}`);
  });

  it('series without a project, or naming an unknown one, are dropped and counted', async () => {
    const self = await until(selfMetrics, `meterway_target_samples_dropped_total{${target('unknown-project')},reason="unknown_project"}`);
    expect(value(self, `meterway_target_samples_dropped_total{${target('no-project')},reason="no_project"}`)).toBeGreaterThanOrEqual(2);
    expect(value(self, `meterway_target_up{${target('no-project')}}`)).toBe(1);
    expect(value(self, 'meterway_source_samples_dropped_total{source="scrape",reason="unknown_project"}')).toBeGreaterThanOrEqual(2);
  });

  it('per target, the self-metrics Prometheus has: up, scrape_duration_seconds, samples scraped and kept; the admin only', async () => {
    const self = await until(selfMetrics, `meterway_target_up{${target('vllm')}}`, (v) => v === 1);
    const lines = fixture('vllm.txt').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(value(self, `meterway_target_scrape_samples_scraped{${target('vllm')}}`)).toBe(lines.length);
    // The mapping's last rule drops prometheus_client's _created series.
    expect(value(self, `meterway_target_scrape_samples_post_metric_relabeling{${target('vllm')}}`)).toBe(lines.filter((l) => !/^vllm:\S*_created\{/.test(l)).length);
    expect(value(self, `meterway_target_scrape_duration_seconds{${target('vllm')}}`)).toBeGreaterThan(0);
    expect(value(self, 'meterway_source_samples_total{source="scrape"}')).toBeGreaterThan(0);
    const anonymous = await selfMetrics(false);
    expect(anonymous).not.toContain('meterway_target_up');
    expect(anonymous).toContain('meterway_source_samples_total{source="scrape"}');
  });
});

describe('staleness', () => {
  it('a series gone from the exposition ends; a target that stops answering ends all its series', async () => {
    const a = `churn{instance="127.0.0.1:${port}",job="dynamic",k="a",project_id="${A}"}`;
    const b = `churn{instance="127.0.0.1:${port}",job="dynamic",k="b",project_id="${A}"}`;
    await until(() => scrape(A), b);
    dynamic = '# TYPE churn gauge\nchurn{k="a"} 3\n';
    const text = await until(() => scrape(A), a, (v) => v === 3);
    expect(value(text, b)).toBeUndefined();
    dynamicStatus = 404;
    await until(() => scrape(A), a, (v) => v === undefined);
    const self = await until(selfMetrics, `meterway_target_up{${target('dynamic')}}`, (v) => v === 0);
    expect(value(self, `meterway_target_scrape_failures_total{${target('dynamic')},reason="http_status"}`)).toBeGreaterThanOrEqual(1);
    // Back at the next scrape, not after the exporter's keep-alive timeout: the error answer's
    // socket went back to the agent.
    dynamicStatus = 200;
    const t0 = Date.now();
    await until(() => scrape(A), a, (v) => v === 3);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });
});
