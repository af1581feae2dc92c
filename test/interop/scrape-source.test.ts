/**
 * Interop: Meterway and a real Prometheus 2.42 scrape the same targets with the same jobs (the
 * same relabel_configs and metric_relabel_configs, Meterway's own `meterway:` keys left out of
 * Prometheus' copy), and answer the same series: a real prometheus-node-exporter (Debian's), and
 * a test server serving dcgm-exporter's and vLLM's own output (test/fixtures/scrape/) through
 * deploy/scrape/'s mappings, and a job that puts every relabel action to work on targets and on
 * series. Label sets are compared whole, values where the target's are static.
 *
 * Where the two differ by design, the comparison says so: Meterway multiplies dcgm's MiB into
 * bytes (value_scale), merges vLLM's buckets onto its own bounds (rebucket), and keeps only series
 * that name a known project; Prometheus adds up and scrape_* series of its own.
 *
 * Skipped without /usr/bin/prometheus; the node-exporter part without /usr/bin/prometheus-node-exporter.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { freePort, hasPrometheus, poll, spawnProcess, startPrometheus, type PrometheusPeer, type Spawned } from '../peers.js';

const NODE_EXPORTER_BIN = '/usr/bin/prometheus-node-exporter';
const hasNodeExporter = existsSync(NODE_EXPORTER_BIN);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = (name: string) => readFileSync(join(ROOT, 'test', 'fixtures', 'scrape', name), 'utf8');
const mapping = (name: string) => (parseYaml(readFileSync(join(ROOT, 'deploy', 'scrape', name), 'utf8')) as { scrape_configs: Array<Record<string, unknown>> }).scrape_configs[0];

const A = 'p-a1b2c3d4';
const B = 'p-e5f6g7h8';
/** Series Prometheus makes of each scrape itself; Meterway reports them as its own metrics (meterway_target_*). */
const PROMETHEUS_OWN = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added']);

/** A series the relabel job's rules work on. */
const RELABEL_BODY = [
  '# TYPE app_requests_total counter',
  'app_requests_total{Code="200",Route="/v1/Chat",tenant="a1b2c3d4",zone="eu-1",region="eu-1",debug_x="1",debug_y="2"} 10',
  'app_requests_total{Code="500",Route="/v1/Chat",tenant="a1b2c3d4",zone="eu-1",region="us-1"} 2',
  'app_requests_total{Code="200",Route="/health",tenant="a1b2c3d4",zone="eu-1",region="eu-1"} 99',
  '# TYPE app_queue_depth gauge',
  'app_queue_depth{queue="q1",tenant="e5f6g7h8",owner="Team-Search"} 3',
  'app_queue_depth{queue="q2",tenant="e5f6g7h8",owner="Team-Ads"} 4',
  'app_queue_depth{queue="q3",tenant="e5f6g7h8",owner="e5f6g7h8"} 5',
  '# TYPE app_internal gauge',
  'app_internal{tenant="a1b2c3d4"} 1',
  '',
].join('\n');

/** Every action, on targets (static labels, __meta_*, __address__) and on series. */
const RELABEL_JOB = (port: number) => ({
  job_name: 'relabel',
  metrics_path: '/relabel',
  static_configs: [
    { targets: [`127.0.0.1:${port}`, `localhost:${port}`], labels: { __meta_team: 'Search', __meta_env: 'prod', __meta_shard_key: 'a', rack: 'r1' } },
    { targets: [`127.0.0.2:${port}`], labels: { __meta_team: 'Ads', __meta_env: 'dev', rack: 'r2' } },
  ],
  relabel_configs: [
    { source_labels: ['__meta_env'], regex: 'dev', action: 'drop' },
    { source_labels: ['__meta_env'], regex: 'prod|staging', action: 'keep' },
    { regex: '__meta_(team|env)', replacement: 'meta_$1', action: 'labelmap' },
    { source_labels: ['meta_team'], target_label: 'team_lower', action: 'lowercase' },
    { source_labels: ['meta_team'], target_label: 'team_upper', action: 'uppercase' },
    { source_labels: ['__address__'], target_label: '__tmp_shard', modulus: 4, action: 'hashmod' },
    { source_labels: ['__tmp_shard'], target_label: 'shard' },
    { source_labels: ['__address__'], regex: '([^:]+):(\\d+)', target_label: 'host', replacement: '${1}' },
    { source_labels: ['host'], regex: 'localhost', target_label: 'instance', replacement: 'self' },
    { regex: 'rack', action: 'labeldrop' },
  ],
  metric_relabel_configs: [
    { source_labels: ['tenant'], regex: '(.+)', target_label: 'project_id', replacement: 'p-$1' },
    { source_labels: ['__name__'], regex: 'app_internal', action: 'drop' },
    { source_labels: ['Route'], regex: '/health', action: 'drop' },
    { source_labels: ['zone'], target_label: 'region', action: 'keepequal' },
    { source_labels: ['tenant'], target_label: 'owner', action: 'dropequal' },
    { regex: 'debug_.*', action: 'labeldrop' },
    { regex: '(Code|Route)', replacement: 'http_$1', action: 'labelmap' },
    { source_labels: ['http_Route'], target_label: 'route', action: 'lowercase' },
    { source_labels: ['owner'], target_label: 'owner_upper', action: 'uppercase' },
    { source_labels: ['queue', 'owner'], separator: '/', target_label: 'queue_owner' },
    { source_labels: ['queue'], target_label: 'bucket', modulus: 8, action: 'hashmod' },
    { regex: '__name__|project_id|http_.*|route|queue.*|owner.*|bucket|job|instance|meta_.*|team_.*|shard|host|region|zone', action: 'labelkeep' },
  ],
});

let server: Server;
let port: number;
let nodePort = 0;
let node: Spawned | undefined;
let gw: TestGateway;
let prom: PrometheusPeer;
let jobs: Array<Record<string, unknown>>;

describe.skipIf(!hasPrometheus)('Meterway and Prometheus 2.42 scraping the same targets with the same jobs', { timeout: 60_000 }, () => {
  beforeAll(async () => {
    server = createServer((req, res) => {
      const body = req.url === '/dcgm' ? fixture('dcgm-exporter.txt') : req.url === '/vllm' ? fixture('vllm.txt') : req.url === '/relabel' ? RELABEL_BODY : undefined;
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
    });
    // 127.0.0.2 is loopback too on Linux; the relabel job's dropped target names it.
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    const at = (path: string) => ({ metrics_path: path, scrape_interval: '1s', static_configs: [{ targets: [`127.0.0.1:${port}`] }] });
    jobs = [
      { ...mapping('dcgm-exporter.yaml'), ...at('/dcgm') },
      { ...mapping('vllm.yaml'), ...at('/vllm'), static_configs: [{ targets: [`127.0.0.1:${port}`], labels: { project_id: A } }] },
      { ...RELABEL_JOB(port), scrape_interval: '1s' },
    ];
    if (hasNodeExporter) {
      nodePort = await freePort();
      node = spawnProcess(NODE_EXPORTER_BIN, [
        `--web.listen-address=127.0.0.1:${nodePort}`,
        // A few collectors, for speed; the series they give are node-exporter's own.
        '--collector.disable-defaults', '--collector.cpu', '--collector.meminfo', '--collector.loadavg', '--collector.uname', '--collector.netdev', '--collector.stat', '--collector.time',
      ]);
      await poll('node-exporter to answer', async () => {
        if (node!.exited) throw new Error(`node-exporter exited:\n${node!.stderr}`);
        return (await fetch(`http://127.0.0.1:${nodePort}/metrics`)).ok ? true : undefined;
      });
      jobs.push({ ...mapping('node-exporter.yaml'), scrape_interval: '1s', static_configs: [{ targets: [`127.0.0.1:${nodePort}`], labels: { project_id: B } }] });
    }
    gw = await startTestGateway({ file: { scrape_configs: jobs } });
    for (const id of [A, B]) {
      const res = await gw.app.inject({ method: 'POST', url: '/v1/projects', headers: gw.auth(ADMIN_TOKEN), payload: { name: id, id } });
      expect(res.statusCode, res.body).toBe(201);
    }
    const forPrometheus = jobs.map(({ meterway: _ours, ...rest }) => rest);
    prom = await startPrometheus(toYaml({ global: { scrape_interval: '1s' }, scrape_configs: forPrometheus }));
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    await gw?.close();
    await node?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  type Vector = Map<string, number>;
  const key = (metric: Record<string, string>) => JSON.stringify(Object.fromEntries(Object.entries(metric).sort(([a], [b]) => (a < b ? -1 : 1))));

  /** Prometheus' answer to `{job="..."}`: its series that name a project, its own scrape series left out. */
  async function fromPrometheus(job: string): Promise<Vector> {
    const out: Vector = new Map();
    for (const s of await prom.query(`{job="${job}",project_id!=""}`)) {
      if (!PROMETHEUS_OWN.has(s.metric.__name__)) out.set(key(s.metric), s.value);
    }
    return out;
  }

  /** Meterway's, over both projects' query APIs. */
  async function fromMeterway(job: string): Promise<Vector> {
    gw.sampler.sampleOnce(Date.now());
    const out: Vector = new Map();
    for (const pid of [A, B]) {
      const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${pid}/prometheus/api/v1/query?query=${encodeURIComponent(`{job="${job}"}`)}`, headers: gw.auth(ADMIN_TOKEN) });
      expect(res.statusCode, res.body).toBe(200);
      for (const s of res.json().data.result as Array<{ metric: Record<string, string>; value: [number, string] }>) {
        expect(s.metric.project_id, 'a series in the project its project_id names').toBe(pid);
        out.set(key(s.metric), Number(s.value[1]));
      }
    }
    return out;
  }

  /** Both answers once each has scraped the job at least twice and they have the same series (retrying while one is a scrape behind). */
  async function both(job: string, normalise: (m: Vector) => Vector = (m) => m): Promise<{ prom: Vector; mw: Vector }> {
    let last: { prom: Vector; mw: Vector } | undefined;
    try {
      return await poll(`the same series of ${job}`, async () => {
        const up = await prom.query(`up{job="${job}"}`);
        if (up.length === 0 || up.some((s) => s.value !== 1)) {
          const t = await prom.api('/api/v1/targets');
          // Prometheus applies new targets every 5 s: until then there are none (the error says why, if it comes to that).
          throw new Error(`Prometheus' targets of ${job}: ${JSON.stringify((t.activeTargets as Array<{ scrapePool: string; lastError: string; health: string }>).filter((x) => x.scrapePool === job).map((x) => [x.health, x.lastError]))}`);
        }
        last = { prom: normalise(await fromPrometheus(job)), mw: normalise(await fromMeterway(job)) };
        if (last.prom.size === 0) return undefined;
        return [...last.prom.keys()].sort().join('\n') === [...last.mw.keys()].sort().join('\n') ? last : undefined;
      }, 20_000, 500);
    } catch (err) {
      if (last !== undefined) expect([...last.mw.keys()].sort()).toEqual([...last.prom.keys()].sort());
      throw err;
    }
  }

  const equalValues = (a: Vector, b: Vector, skip: (k: string) => boolean = () => false) => {
    for (const [k, v] of a) {
      if (skip(k)) continue;
      expect(b.get(k), k).toSatisfy((w: number | undefined) => w !== undefined && (Number.isNaN(v) ? Number.isNaN(w) : w === v));
    }
  };

  it('dcgm-exporter through deploy/scrape/dcgm-exporter.yaml: the same series, the same values (memory in bytes in Meterway)', async () => {
    const { prom: p, mw } = await both('dcgm-exporter');
    // Three GPUs, one of them in no pod (no project): 2 x 25 series.
    expect(p.size).toBe(50);
    const bytes = (k: string) => k.includes('"meterway_gpu_memory_usage_bytes"');
    equalValues(p, mw, bytes);
    for (const [k, v] of p) if (bytes(k)) expect(mw.get(k)).toBe(v * 1048576);
    expect([...p.keys()].some((k) => k.includes('"hostname":"gpu-node-1"') && k.includes('"meterway_gpu_compute_utilization_percent"'))).toBe(true);
  });

  it('vLLM through deploy/scrape/vllm.yaml: the same series and values; buckets on Meterway\'s bounds, the rest exact', async () => {
    // Prometheus keeps vLLM's bounds, Meterway merges them onto its own: a histogram's buckets are
    // compared without le, everything else whole.
    const withoutLe = (m: Vector): Vector => {
      const out: Vector = new Map();
      for (const [k, v] of m) {
        const metric = JSON.parse(k) as Record<string, string>;
        if (metric.__name__.endsWith('_bucket')) {
          delete metric.le;
          out.set(`${key(metric)} (buckets)`, 0);
        } else out.set(k, v);
      }
      return out;
    };
    const { prom: p, mw } = await both('vllm', withoutLe);
    equalValues(p, mw, (k) => k.endsWith('(buckets)'));
    expect([...p.keys()]).toContain(key({ __name__: 'meterway_inference_input_tokens_total', engine: '0', instance: `127.0.0.1:${port}`, job: 'vllm', model_name: 'meta-llama/Llama-3.1-8B-Instruct', project_id: A }));
    // Where both have a bound, the bucket is the same.
    const q = 'meterway_inference_time_to_first_token_seconds_bucket{le=~"0\\\\.1|0\\\\.25|1(\\\\.0)?|\\\\+Inf"}';
    const promBuckets = new Map((await prom.query(q)).map((s) => [String(Number(s.metric.le)), s.value]));
    gw.sampler.sampleOnce(Date.now());
    const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${A}/prometheus/api/v1/query?query=${encodeURIComponent(q)}`, headers: gw.auth(ADMIN_TOKEN) });
    const ours = new Map((res.json().data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((s) => [String(Number(s.metric.le)), Number(s.value[1])]));
    expect(ours.size).toBe(4);
    expect(ours).toEqual(promBuckets);
  });

  it('every relabel action, on targets and on series: the same targets, the same series', async () => {
    const { prom: p, mw } = await both('relabel');
    equalValues(p, mw);
    // Per target: app_requests_total whose zone is its region, not /health; the queues whose owner is not the tenant.
    expect(p.size).toBe(6);
    // (shard is a hash of the address, whose port changes from run to run; bucket one of the empty queue.)
    expect([...mw.keys()].map((k) => JSON.parse(k) as Record<string, string>)).toContainEqual({
      __name__: 'app_requests_total', bucket: '6', host: 'localhost', http_Code: '200', http_Route: '/v1/Chat', instance: 'self', job: 'relabel', meta_env: 'prod', meta_team: 'Search',
      project_id: A, queue_owner: '/', region: 'eu-1', route: '/v1/chat', shard: expect.stringMatching(/^[0-3]$/), team_lower: 'search', team_upper: 'SEARCH', zone: 'eu-1',
    });
    // Prometheus' targets: the dev one dropped, the rest with the labels Meterway gave them.
    const targets = await prom.api('/api/v1/targets');
    const active = (targets.activeTargets as Array<{ labels: Record<string, string>; scrapePool: string }>).filter((t) => t.scrapePool === 'relabel');
    const ours = gw.config.scrape.jobs.find((j) => j.name === 'relabel')!.targets;
    expect(ours.map((t) => key(Object.fromEntries(t.labels))).sort()).toEqual(active.map((t) => key(t.labels)).sort());
    expect(ours).toHaveLength(2);
  });

  it('Prometheus counts the same samples per scrape as Meterway', async () => {
    await both('vllm', (m) => new Map([...m].filter(([k]) => !k.includes('_bucket'))));
    const self = (await gw.app.inject({ method: 'GET', url: '/metrics', headers: gw.auth(ADMIN_TOKEN) })).body;
    for (const job of ['dcgm-exporter', 'vllm']) {
      const theirs = await prom.query(`scrape_samples_scraped{job="${job}",instance="127.0.0.1:${port}"}`);
      const kept = await prom.query(`scrape_samples_post_metric_relabeling{job="${job}",instance="127.0.0.1:${port}"}`);
      const ours = (name: string) => Number(new RegExp(`^${name}\\{instance="127\\.0\\.0\\.1:${port}",job="${job}"\\} (\\S+)$`, 'm').exec(self)?.[1]);
      expect(ours('meterway_target_scrape_samples_scraped'), job).toBe(theirs[0].value);
      expect(ours('meterway_target_scrape_samples_post_metric_relabeling'), job).toBe(kept[0].value);
    }
  });

  it.skipIf(!hasNodeExporter)('a real prometheus-node-exporter through deploy/scrape/node-exporter.yaml: the same series, kept as they are', async () => {
    const { prom: p, mw } = await both('node');
    expect(p.size).toBeGreaterThan(50);
    // Values that do not move between the two scrapes.
    const fixed = ['node_memory_MemTotal_bytes', 'node_uname_info', 'node_exporter_build_info', 'node_boot_time_seconds'];
    for (const [k, v] of p) if (fixed.includes((JSON.parse(k) as Record<string, string>).__name__)) expect(mw.get(k), k).toBe(v);
    const names = new Set([...p.keys()].map((k) => (JSON.parse(k) as Record<string, string>).__name__));
    for (const n of fixed) expect(names).toContain(n);
    // A summary's quantiles, _sum and _count are all there, under their own names.
    expect(names).toContain('go_gc_duration_seconds');
    expect(names).toContain('go_gc_duration_seconds_count');
  });
});
