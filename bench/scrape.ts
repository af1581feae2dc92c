/**
 * The scrape source's throughput: samples per CPU-second of the gateway, parsed, relabelled and
 * aggregated, scraping one dcgm-exporter "fleet" exposition of SCRAPE_BENCH_LINES sample lines
 * (default 50,000: 2,000 GPUs of test/fixtures/scrape/dcgm-exporter.txt, 25 metrics each, their
 * pods in 10 tenants' namespaces) through deploy/scrape/dcgm-exporter.yaml; beside it, in the same
 * run and against the same target, Prometheus 2.42 scraping it with the same job, its CPU read from
 * its own /metrics (process_cpu_seconds_total, and its scrapes from
 * prometheus_target_interval_length_seconds_count), its scrape_duration_seconds from its query API.
 * Target: at least Prometheus' samples per CPU-second.
 *
 * The target is a child process (its CPU is not the gateway's), serving the exposition gzipped as
 * dcgm-exporter does when asked. `SCRAPE_BENCH_LINES` and `SCRAPE_BENCH_SECONDS` (how long each
 * side scrapes, default 20) shrink a smoke run; the same file is the target when forked with
 * METERWAY_BENCH_SCRAPE_TARGET set.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { ScrapeManager } from '../src/sources/scrape/manager.js';
import { ADMIN_TOKEN, fmtMs, fmtNum, header, median, startGateway, verdict } from './_util.js';
import { hasPrometheus, startPrometheus } from '../test/peers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LINES = Number(process.env.SCRAPE_BENCH_LINES ?? 50_000);
const SECONDS = Number(process.env.SCRAPE_BENCH_SECONDS ?? 20);
const TENANTS = 10;
const GPUS_PER_NODE = 8;
const project = (t: number) => `p-bench${String(t).padStart(3, '0')}`;

/** The fixture's GPU 0 lines, metric by metric, repeated for a fleet of GPUs (HELP and TYPE once per metric, as dcgm-exporter writes). */
export function fleet(lines: number): { body: string; samples: number } {
  const fixture = readFileSync(join(ROOT, 'test', 'fixtures', 'scrape', 'dcgm-exporter.txt'), 'utf8').split('\n');
  const families: Array<{ meta: string[]; sample: string }> = [];
  for (let i = 0; i < fixture.length; i++) {
    const l = fixture[i];
    if (l.startsWith('# HELP ')) families.push({ meta: [l, fixture[i + 1]], sample: fixture[i + 2] });
  }
  const gpus = Math.max(1, Math.ceil(lines / families.length));
  const out: string[] = [];
  for (const f of families) {
    out.push(...f.meta);
    for (let g = 0; g < gpus; g++) {
      const node = Math.floor(g / GPUS_PER_NODE);
      const gpu = g % GPUS_PER_NODE;
      const tenant = node % TENANTS;
      out.push(f.sample
        .replace('gpu="0"', `gpu="${gpu}"`)
        .replace(/UUID="GPU-[^"]+"/, `UUID="GPU-${String(node).padStart(8, '0')}-0000-0000-0000-${String(gpu).padStart(12, '0')}"`)
        .replace('device="nvidia0"', `device="nvidia${gpu}"`)
        .replace('hostname="gpu-node-1"', `hostname="gpu-node-${node}"`)
        .replace('namespace="tenant-a1b2c3d4"', `namespace="tenant-bench${String(tenant).padStart(3, '0')}"`)
        .replace(/pod="[^"]+"/, `pod="vllm-${node}-${gpu}"`));
    }
  }
  return { body: `${out.join('\n')}\n`, samples: gpus * families.length };
}

interface TargetMessage { port: number }

async function startTarget(bodyFile: string): Promise<{ port: number; stop(): void }> {
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, METERWAY_BENCH_SCRAPE_TARGET: bodyFile } });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: TargetMessage) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`the target exited with ${code}`)));
  });
  return { port, stop: () => child.kill() };
}

function metricValue(text: string, prefix: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(prefix)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

export async function main(): Promise<void> {
  const { body, samples } = fleet(LINES);
  header(`scrape: one dcgm-exporter fleet exposition of ${fmtNum(samples)} samples (${fmtNum(Buffer.byteLength(body))} bytes, gzip), deploy/scrape/dcgm-exporter.yaml, scraped by the gateway for ${SECONDS} s, then by Prometheus 2.42 for ${SECONDS} s with the same job`);
  const dir = mkdtempSync(join(tmpdir(), 'meterway-bench-scrape-'));
  const bodyFile = join(dir, 'fleet.txt');
  writeFileSync(bodyFile, body);
  const target = await startTarget(bodyFile);
  const job: Record<string, unknown> = {
    ...(parseYaml(readFileSync(join(ROOT, 'deploy', 'scrape', 'dcgm-exporter.yaml'), 'utf8')) as { scrape_configs: Array<Record<string, unknown>> }).scrape_configs[0],
    scrape_interval: '2s',
    scrape_timeout: '2s',
    static_configs: [{ targets: [`127.0.0.1:${target.port}`] }],
  };
  const bg = await startGateway({ metrics: { max_series_per_project: 0 } });
  try {
    for (let t = 0; t < TENANTS; t++) {
      const res = await bg.gw.app.inject({ method: 'POST', url: '/v1/projects', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { name: project(t), id: project(t) } });
      if (res.statusCode !== 201) throw new Error(`project create failed: ${res.body}`);
    }
    // The job as the gateway's config loads it, run by a manager of the bench's on the gateway's
    // own aggregation and self-metrics, so each scrape starts when the bench says.
    const jobFile = join(dir, 'job.yaml');
    writeFileSync(jobFile, toYaml({ scrape_configs: [job] }));
    const jobs = loadConfig({ config: jobFile }, {}).scrape.jobs;
    const manager = new ScrapeManager(jobs, bg.gw.aggregator, bg.gw.selfMetrics);
    const scrapeOnce = async () => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const [o] = await manager.scrapeAll();
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (!o.report.up) throw new Error(`the scrape failed: ${o.error}`);
      if (o.report.samplesScraped !== samples) throw new Error(`scraped ${o.report.samplesScraped} samples, the exposition has ${samples}`);
      return { ms, cpuMs: (cpu.user + cpu.system) / 1000, dropped: [...o.dropped].map(([r, d]) => `${r} ${d.n}`).join(', ') };
    };
    const cold = await scrapeOnce();
    console.log(`   first scrape (every series parsed and relabelled): ${fmtMs(cold.ms)} wall, ${fmtMs(cold.cpuMs)} CPU`);
    // The store's first sample of the new series creates them in its index, as Prometheus' first
    // scrape creates them in its head: uncounted on both sides (later samples are counted).
    const c0 = process.cpuUsage();
    bg.gw.sampler.sampleOnce(Date.now());
    const c1 = process.cpuUsage(c0);
    console.log(`   the store's first sample of the new series: ${fmtMs((c1.user + c1.system) / 1000)} CPU`);
    const rounds: Array<{ ms: number; cpuMs: number }> = [];
    const end = performance.now() + SECONDS * 1000;
    let dropped = '';
    while (performance.now() < end) {
      const r = await scrapeOnce();
      rounds.push(r);
      dropped = r.dropped;
    }
    const cpuMs = rounds.reduce((a, r) => a + r.cpuMs, 0);
    const ours = (samples * rounds.length) / (cpuMs / 1000);
    const series = [...bg.gw.aggregator.all()].reduce((n, pm) => n + pm.registry.seriesCount, 0);
    console.log(`   gateway: ${rounds.length} scrapes, median ${fmtMs(median(rounds.map((r) => r.ms)))} wall and ${fmtMs(median(rounds.map((r) => r.cpuMs)))} CPU each (mean ${fmtMs(cpuMs / rounds.length)}, slowest ${fmtMs(Math.max(...rounds.map((r) => r.cpuMs)))}); ${fmtNum(series)} series in ${TENANTS} projects${dropped === '' ? '' : `; dropped per scrape: ${dropped}`}`);
    console.log(`            ${fmtNum(ours)} samples per CPU-second of the gateway process`);
    await manager.stop();

    if (!hasPrometheus) {
      console.log('   Prometheus 2.42 is not installed (/usr/bin/prometheus): no comparison');
      return;
    }
    const { meterway: _ours, ...forPrometheus } = job;
    // Every second: as many scrapes in the window as its CPU counter's 10 ms steps allow to be read.
    const prom = await startPrometheus(toYaml({ global: { scrape_interval: '1s' }, scrape_configs: [{ ...forPrometheus, job_name: 'dcgm-exporter', scrape_interval: '1s', scrape_timeout: '1s' }] }), { readyTimeoutMs: 60_000 });
    try {
      const self = async () => (await fetch(`${prom.url}/metrics`)).text();
      // Its first scrape (its cache cold) is not counted, as the gateway's is not.
      const deadline = Date.now() + 30_000;
      while (metricValue(await self(), 'prometheus_target_interval_length_seconds_count') < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const before = await self();
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      const after = await self();
      const cpu = metricValue(after, 'process_cpu_seconds_total') - metricValue(before, 'process_cpu_seconds_total');
      const scrapes = metricValue(after, 'prometheus_target_interval_length_seconds_count') - metricValue(before, 'prometheus_target_interval_length_seconds_count');
      const window = Math.max(2, Math.round((Date.now() - t0) / 1000));
      const [duration] = await prom.query(`avg_over_time(scrape_duration_seconds{job="dcgm-exporter"}[${window}s])`);
      const [scraped] = await prom.query('scrape_samples_scraped{job="dcgm-exporter"}');
      const syncs = metricValue(after, 'prometheus_target_scrape_pool_sync_total');
      if (scraped?.value !== samples) throw new Error(`Prometheus scraped ${scraped?.value} samples, the exposition has ${samples}`);
      const theirs = (samples * scrapes) / cpu;
      console.log(`   Prometheus 2.42: ${scrapes} scrapes in ${window} s, scrape_duration_seconds ${fmtMs((duration?.value ?? NaN) * 1000)} on average, ${cpu.toFixed(2)} CPU-seconds (process_cpu_seconds_total), prometheus_target_scrape_pool_sync_total ${syncs}`);
      console.log(`            ${fmtNum(theirs)} samples per CPU-second of the Prometheus process`);
      console.log(`   gateway / Prometheus, samples per CPU-second: ${(ours / theirs).toFixed(2)} (target >= 1.00: ${verdict(ours >= theirs)})`);
    } finally {
      await prom.stop();
    }
  } finally {
    await bg.close();
    target.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const targetBody = process.env.METERWAY_BENCH_SCRAPE_TARGET;
if (targetBody !== undefined && process.send !== undefined) {
  const plain = readFileSync(targetBody);
  const gz = gzipSync(plain, { level: 6 });
  const server = createServer((req, res) => {
    const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', ...(gzip ? { 'content-encoding': 'gzip' } : {}) });
    res.end(gzip ? gz : plain);
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port } satisfies TargetMessage));
  process.on('disconnect', () => process.exit(0));
}
