/**
 * The query API against Prometheus 2.42 on the same data (issue 5, "Performance").
 *
 * 1. 10,000 series (bench/_prom-data.ts: counters, gauges, 10-bucket histograms of an inference
 *    platform), 24 h at 15 s ending now on the 15 s grid: 57.6 M samples, every series with
 *    `project_id` = the benchmark project's id.
 * 2. Ours: a real gateway in a child process (bench/_prom-gateway.ts: 127.0.0.1, port 0, temp data
 *    dir, `--retention 0`, `ingest.max_body_bytes` 64 MiB), loaded through
 *    `POST /v1/projects/{pid}/import` (text lines with ms timestamps, in time order, bodies of
 *    ~16 MiB, one request at a time, the next body generated meanwhile). Prometheus: the same samples written to an OpenMetrics file
 *    (timestamps in seconds), `promtool tsdb create-blocks-from openmetrics` into the data dir,
 *    then Prometheus started on it (bench/_prom-peer.ts).
 * 3. The same query strings against both HTTP APIs (instant at the end; 300-point range queries
 *    over 24 h, 6 h and 1 h), one `node:http` keep-alive client for both: every query warmed once on
 *    each side (those answers are compared: same series, values within 1e-6 relative), then
 *    QVP_REPS repetitions (default 7) interleaved ours/Prometheus, medians per query, the ratio
 *    ours/Prometheus, and the median of the ratios (goal <= 1.0).
 * 4. Bytes per sample on disk (ours: tsdb.db + its WAL after the store's maintenance, which a
 *    gateway runs every minute; Prometheus: the block dirs) and resident bytes per series of the
 *    gateway process (RSS growth over the load, after a full GC).
 * 5. Queries more than QVP_PROFILE_RATIO (default 2) times slower than Prometheus are profiled in
 *    the gateway (V8 CPU profile through the inspector, as `node --cpu-prof` writes them) and the
 *    top functions by self time printed.
 *
 * QVP_SERIES_SCALE=0.05 / QVP_HOURS=2 make a quick run (fewer groups, a shorter day);
 * QVP_IMPORT_IN_FLIGHT=2 imports with two requests in flight (out-of-order data in our store).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GroupValues, STEP_MS, groups, seriesCount, seriesText, type Group } from './_prom-data.js';
import type { PrometheusPeer } from '../test/peers.js';
import { backfill, blockDirs, dirSize, promDirs, rssOf, startProm } from './_prom-peer.js';
import type { GatewayReady } from './_prom-gateway.js';
import { fmtMs, fmtNum, header, median, verdict } from './_util.js';

const BODY_BYTES = 16 * 1024 * 1024;
const TARGET_RATIO = 1.0;
const TARGET_BYTES_PER_SAMPLE = 1.5;
const REL_TOL = 1e-6;

// ---------------------------------------------------------------------------------------------
// The gateway child

interface GatewayChild {
  readonly info: GatewayReady;
  readonly pid: number;
  call<T = any>(cmd: string, extra?: object): Promise<T>;
  close(): Promise<void>;
}

async function startGatewayChild(): Promise<GatewayChild> {
  const script = fileURLToPath(new URL('./_prom-gateway.ts', import.meta.url));
  const child: ChildProcess = fork(script, [], { execArgv: ['--expose-gc', '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const info = await new Promise<GatewayReady>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`gateway child exited (${code}) before it was ready`)));
    child.on('message', (m: any) => {
      if (m?.type === 'ready') resolve(m as GatewayReady);
      else if (typeof m?.id === 'number') {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.reply);
      }
    });
  });
  const call = <T>(cmd: string, extra: object = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ id, cmd, ...extra });
    });
  return {
    info,
    pid: child.pid!,
    call,
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      await call('close').catch(() => child.kill('SIGKILL'));
      await exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP: one keep-alive client for both servers

const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

interface Reply {
  status: number;
  body: Buffer;
  ms: number;
}

function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url, { method: opts.method ?? 'GET', agent, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

// ---------------------------------------------------------------------------------------------
// Loading

function tsSuffixes(steps: number, startMs: number, seconds: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < steps; i++) {
    const t = startMs + i * STEP_MS;
    out.push(` ${seconds ? t / 1000 : t}\n`);
  }
  return out;
}

/**
 * Calls `sink` with text of about `BODY_BYTES` at a time: every sample of every series, in time
 * order (blocks of a few steps of every series; within a block, series after series).
 *
 * Time order and not series after series: series created by an import keep their label strings
 * as slices of the request body, which pins the whole body for the life of the series (see the
 * report in BENCHMARKS.md); series after series, each body creates new series and the gateway
 * would keep all 6 GB of text. In time order only the first body creates series.
 */
async function emit(gs: readonly Group[], steps: number, project: string, suffix: readonly string[], sink: (text: string, lines: number) => Promise<void> | void): Promise<number> {
  const gens = gs.map((g) => new GroupValues(g));
  const prefixes = gs.map((g) => g.series.map((l) => `${seriesText(l, project)} `));
  const bytesPerStep = prefixes.reduce((n, ps) => n + ps.reduce((m, p) => m + p.length + 30, 0), 0);
  const block = Math.max(1, Math.floor(BODY_BYTES / bytesPerStep));
  let total = 0;
  for (let s0 = 0; s0 < steps; s0 += block) {
    const k = Math.min(block, steps - s0);
    const parts: string[] = [];
    for (let gi = 0; gi < gs.length; gi++) {
      const vals = gens[gi].next(k);
      const ps = prefixes[gi];
      for (let j = 0; j < ps.length; j++) {
        const prefix = ps[j];
        const v = vals[j];
        for (let i = 0; i < k; i++) parts.push(prefix + v[i] + suffix[s0 + i]);
      }
    }
    await sink(parts.join(''), parts.length);
    total += parts.length;
  }
  return total;
}

async function loadOurs(gw: GatewayChild, gs: readonly Group[], steps: number, startMs: number): Promise<{ samples: number; ms: number; requests: number; bytes: number }> {
  const url = `http://127.0.0.1:${gw.info.port}/v1/projects/${gw.info.project}/import`;
  const headers = { authorization: `Bearer ${gw.info.manage}`, 'content-type': 'text/plain' };
  // One request at a time by default, in order: with two in flight the gateway handles whichever
  // body arrives first, and the older one's samples then land in the out-of-order path
  // (QVP_IMPORT_IN_FLIGHT=2 measures that case). The next body is generated meanwhile.
  const inFlight = Math.max(1, Number(process.env.QVP_IMPORT_IN_FLIGHT ?? 1));
  const pending: Array<Promise<void>> = [];
  let requests = 0;
  let bytes = 0;
  let imported = 0;
  const t0 = performance.now();
  await emit(gs, steps, gw.info.project, tsSuffixes(steps, startMs, false), async (text, lines) => {
    const body = Buffer.from(text, 'utf8');
    while (pending.length >= inFlight) await pending.shift();
    bytes += body.length;
    requests++;
    const sent = request(url, { method: 'POST', headers, body }).then((r) => {
      const res = JSON.parse(r.body.toString('utf8')) as { imported?: number; errors?: Array<{ line: number; error: string }> };
      if (r.status !== 200 || res.imported !== lines || (res.errors?.length ?? 0) > 0)
        throw new Error(`import answered ${r.status}: imported ${res.imported} of ${lines}; ${JSON.stringify(res.errors?.slice(0, 3) ?? res)}`);
      imported += lines;
    });
    sent.catch(() => {}); // awaited before a later request or at the end
    pending.push(sent);
  });
  await Promise.all(pending);
  return { samples: imported, ms: performance.now() - t0, requests, bytes };
}

async function writeOpenMetrics(file: string, gs: readonly Group[], steps: number, startMs: number, project: string): Promise<{ samples: number; bytes: number }> {
  const fd = openSync(file, 'w');
  let bytes = 0;
  try {
    const samples = await emit(gs, steps, project, tsSuffixes(steps, startMs, true), (text) => {
      const b = Buffer.from(text, 'utf8');
      writeSync(fd, b);
      bytes += b.length;
    });
    writeSync(fd, '# EOF\n');
    return { samples, bytes: bytes + 6 };
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Queries

interface Query {
  readonly expr: string;
  /** 0: instant at the end; otherwise a 300-point range over this many hours. */
  readonly hours: number;
}

const ONE_SERIES = 'requests_total{app_name="app-007",model_name="llama-3-8b",region="us-west-2"}';
const QUERIES: readonly Query[] = [
  { hours: 24, expr: 'sum by (app_name) (rate(requests_total[5m]))' },
  { hours: 24, expr: 'histogram_quantile(0.99, sum by (le, model_name) (rate(latency_seconds_bucket[5m])))' },
  { hours: 24, expr: 'avg by (region) (gpu_utilization)' },
  { hours: 24, expr: 'topk(5, sum by (app_name) (rate(tokens_total[5m])))' },
  { hours: 24, expr: 'sum by (model_name) (increase(requests_total[1h]))' },
  { hours: 24, expr: ONE_SERIES },
  { hours: 24, expr: 'count by (region) (gpu_utilization > 50)' },
  { hours: 24, expr: 'sum(rate(latency_seconds_sum[5m])) / sum(rate(latency_seconds_count[5m]))' },
  { hours: 6, expr: 'sum by (region) (rate(errors_total[5m])) / on (region) sum by (region) (rate(requests_total[5m]))' },
  { hours: 6, expr: 'max by (app_name) (max_over_time(queue_depth{region="eu-west-1"}[10m]))' },
  { hours: 1, expr: 'sum by (app_name, model_name) (rate(requests_total{region="us-east-1"}[5m]))' },
  { hours: 1, expr: 'sum by (region) (gpu_memory_used_bytes) / 1024^3' },
  { hours: 0, expr: 'sum by (app_name) (rate(requests_total[5m]))' },
  { hours: 0, expr: 'topk(5, sum by (app_name) (increase(tokens_total[24h])))' },
  { hours: 0, expr: 'histogram_quantile(0.5, sum by (le) (rate(latency_seconds_bucket[1h])))' },
];

/** Selectors of single series to compare sample by sample: a counter, a gauge, a histogram bucket and sum. */
function rawCheckSelectors(gs: readonly Group[], project: string): string[] {
  const out: string[] = [];
  for (const name of ['requests_total', 'gpu_utilization', 'latency_seconds_bucket', 'latency_seconds_sum']) {
    const g = gs.find((x) => x.series.some((l) => l[0][1] === name));
    const l = g?.series.find((x) => x[0][1] === name);
    if (l !== undefined) out.push(seriesText(l, project));
  }
  return out;
}

function queryParams(q: Query, endS: number): string {
  const p = new URLSearchParams({ query: q.expr });
  if (q.hours === 0) p.set('time', String(endS));
  else {
    const step = (q.hours * 3600) / 300;
    p.set('start', String(endS - step * 299));
    p.set('end', String(endS));
    p.set('step', String(step));
  }
  return p.toString();
}

interface Target {
  readonly name: string;
  url(q: Query): string;
  readonly headers: Record<string, string>;
}

type Series = { metric: Record<string, string>; values?: Array<[number, string]>; value?: [number, string] };

async function runQuery(t: Target, q: Query): Promise<Reply> {
  const r = await request(t.url(q), { headers: t.headers });
  if (r.status !== 200) throw new Error(`${t.name}: ${q.expr} answered ${r.status}: ${r.body.toString('utf8').slice(0, 500)}`);
  return r;
}

function resultOf(r: Reply): { type: string; series: Series[] } {
  const body = JSON.parse(r.body.toString('utf8')) as { status: string; data: { resultType: string; result: unknown } };
  const d = body.data;
  if (d.resultType === 'scalar') return { type: 'scalar', series: [{ metric: {}, value: d.result as [number, string] }] };
  return { type: d.resultType, series: d.result as Series[] };
}

function key(m: Record<string, string>): string {
  return JSON.stringify(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function close(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (a === b) return true;
  return Math.abs(a - b) <= REL_TOL * Math.max(Math.abs(a), Math.abs(b)) || Math.abs(a - b) < 1e-12;
}

/** Differences between two answers, as lines (empty when they agree). */
function compare(ours: { type: string; series: Series[] }, prom: { type: string; series: Series[] }): { diffs: string[]; points: number } {
  const diffs: string[] = [];
  let points = 0;
  if (ours.type !== prom.type) diffs.push(`result type: ours ${ours.type}, Prometheus ${prom.type}`);
  if (ours.series.length !== prom.series.length) diffs.push(`series: ours ${ours.series.length}, Prometheus ${prom.series.length}`);
  const pm = new Map(prom.series.map((s) => [key(s.metric), s]));
  const om = new Map(ours.series.map((s) => [key(s.metric), s]));
  for (const [k, s] of om) {
    const p = pm.get(k);
    if (p === undefined) {
      diffs.push(`series only in ours: ${k}`);
      continue;
    }
    const ov = s.values ?? (s.value ? [s.value] : []);
    const pv = p.values ?? (p.value ? [p.value] : []);
    if (ov.length !== pv.length) diffs.push(`${k}: ours ${ov.length} points, Prometheus ${pv.length}`);
    const pByT = new Map(pv.map(([t, v]) => [t, v]));
    let bad = 0;
    let first = '';
    for (const [t, v] of ov) {
      points++;
      const w = pByT.get(t);
      if (w === undefined || !close(Number(v), Number(w))) {
        if (bad++ === 0) first = `at ${t}: ours ${v}, Prometheus ${w ?? '(none)'}`;
      }
    }
    if (bad > 0) diffs.push(`${k}: ${bad} of ${ov.length} values differ, first ${first}`);
  }
  for (const k of pm.keys()) if (!om.has(k)) diffs.push(`series only in Prometheus: ${k}`);
  return { diffs, points };
}

// ---------------------------------------------------------------------------------------------
// CPU profile summary

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

function summarizeProfile(file: string, top = 12): string[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
  let total = 0;
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    // Waiting for the next request: the loop's idle time, and the inspector call that started the profile.
    if (n.callFrame.functionName === '(idle)' || (n.callFrame.url === '' && n.callFrame.functionName === 'dispatch')) {
      idle += us;
      continue;
    }
    total += us;
    const f = n.callFrame.url === '' ? '(native)' : n.callFrame.url.replace(/^.*\/(src|node_modules)\//, '$1/').replace(/^file:\/\//, '');
    const name = `${n.callFrame.functionName || '(anonymous)'} ${f === '(native)' ? '' : `${basename(f)}:${n.callFrame.lineNumber + 1}`}`.trim();
    fn.set(name, (fn.get(name) ?? 0) + us);
    const fk = f.startsWith('src/') ? f.split('/').slice(0, 3).join('/') : f.startsWith('node_modules/') ? f.split('/').slice(0, 2).join('/') : f.startsWith('node:') ? 'node: internals' : f;
    files.set(fk, (files.get(fk) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const out = [`      by function (self time; ${(total / 1000).toFixed(0)} ms busy sampled, ${(idle / 1000).toFixed(0)} ms idle left out):`];
  for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`        ${pct(us)}  ${k}`);
  out.push('      by file:');
  for (const [k, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 8)) out.push(`        ${pct(us)}  ${k}`);
  return out;
}

// ---------------------------------------------------------------------------------------------

const MiB = 1024 * 1024;
const fmtBytes = (n: number) => (n >= 1024 * MiB ? `${(n / 1024 / MiB).toFixed(2)} GiB` : `${(n / MiB).toFixed(1)} MiB`);

export async function main(): Promise<void> {
  const hours = Number(process.env.QVP_HOURS ?? 24);
  const scale = Number(process.env.QVP_SERIES_SCALE ?? 1);
  const reps = Number(process.env.QVP_REPS ?? 7);
  const profileRatio = Number(process.env.QVP_PROFILE_RATIO ?? 2);
  const steps = Math.round((hours * 3_600_000) / STEP_MS);
  const all = groups();
  const gs = scale >= 1 ? all : all.filter((_, i) => i % Math.round(1 / scale) === 0);
  const nSeries = seriesCount(gs);
  const endMs = Math.floor(Date.now() / STEP_MS) * STEP_MS;
  const startMs = endMs - (steps - 1) * STEP_MS;
  // Evaluation times 1 s after the last sample, so never on the 15 s grid (and no step lands on it:
  // 288, 72 and 12 s are multiples of 3, 1 s is not): ours has Prometheus 3's left-open windows,
  // Prometheus 2.42 closed ones, and they select the same samples whenever no sample lies exactly
  // on a window's boundary.
  const endS = endMs / 1000 + 1;
  header(`query-vs-prometheus: ${fmtNum(nSeries)} series x ${hours} h at 15 s (${fmtNum(nSeries * steps)} samples), ${QUERIES.length} queries x ${reps} repetitions, ours vs Prometheus 2.42`);
  console.log(`   data: ${new Date(startMs).toISOString()} .. ${new Date(endMs).toISOString()}, on the 15 s grid`);

  let gw: GatewayChild | undefined;
  let prom: PrometheusPeer | undefined;
  const { dir: promDir, dataDir: promData } = promDirs();
  const profDir = mkdtempSync(join(tmpdir(), 'meterway-qvp-prof-'));
  try {
    // ---- ours
    gw = await startGatewayChild();
    const mem0 = await gw.call<NodeJS.MemoryUsage>('mem');
    const cpu0 = await gw.call<NodeJS.CpuUsage>('cpu');
    console.log(`   ours: gateway pid ${gw.pid} on 127.0.0.1:${gw.info.port}, project ${gw.info.project}, RSS before load ${fmtBytes(mem0.rss)}`);
    const load = await loadOurs(gw, gs, steps, startMs);
    const cpu1 = await gw.call<NodeJS.CpuUsage>('cpu');
    const gwCpuS = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1e6;
    const mem1 = await gw.call<NodeJS.MemoryUsage>('mem');
    const stats = await gw.call<{ series: number; headSamples: number; oooSamples: number }>('stats');
    const chunks = await gw.call<{ chunks: number; ooo: number }>('chunks');
    console.log(
      `   ours: loaded ${fmtNum(load.samples)} samples (${fmtBytes(load.bytes)} of text, ${load.requests} requests) in ${(load.ms / 1000).toFixed(1)} s: ` +
        `${fmtNum(load.samples / (load.ms / 1000))} samples/s; gateway CPU ${gwCpuS.toFixed(1)} s (${fmtNum(load.samples / gwCpuS)} samples per CPU-second); store: ${stats.series} series, ${fmtNum(chunks.chunks)} chunk rows (${chunks.ooo} out-of-order chunks), ${fmtNum(stats.headSamples)} samples in open heads`,
    );
    const rssPerSeries = (mem1.rss - mem0.rss) / nSeries;
    const heapPerSeries = (mem1.heapUsed + mem1.arrayBuffers - mem0.heapUsed - mem0.arrayBuffers) / nSeries;
    console.log(`   ours: RSS after load ${fmtBytes(mem1.rss)} (+${fmtBytes(mem1.rss - mem0.rss)}): ${rssPerSeries.toFixed(0)} B/series; heap + array buffers +${fmtBytes(mem1.heapUsed + mem1.arrayBuffers - mem0.heapUsed - mem0.arrayBuffers)}: ${heapPerSeries.toFixed(0)} B/series (heap ${fmtBytes(mem1.heapUsed)}, array buffers ${fmtBytes(mem1.arrayBuffers)}, external ${fmtBytes(mem1.external)})`);

    // ---- Prometheus
    const omFile = join(promDir, 'data.om.txt');
    let t0 = performance.now();
    const om = await writeOpenMetrics(omFile, gs, steps, startMs, gw.info.project);
    const omMs = performance.now() - t0;
    t0 = performance.now();
    await backfill(omFile, promData);
    const promtoolMs = performance.now() - t0;
    rmSync(omFile, { force: true });
    const blocks = blockDirs(promData);
    let promSamples = 0;
    let promSeriesInBlocks = 0;
    for (const b of blocks) {
      const meta = JSON.parse(readFileSync(join(b, 'meta.json'), 'utf8')) as { stats: { numSamples: number; numSeries: number } };
      promSamples += meta.stats.numSamples;
      promSeriesInBlocks += meta.stats.numSeries;
    }
    const promBlockBytes = blocks.reduce((n, b) => n + dirSize(b), 0);
    t0 = performance.now();
    prom = await startProm(promDir);
    const promStartMs = performance.now() - t0;
    console.log(
      `   Prometheus: OpenMetrics file ${fmtBytes(om.bytes)} (${fmtNum(om.samples)} samples) written in ${(omMs / 1000).toFixed(1)} s; ` +
        `promtool backfill ${(promtoolMs / 1000).toFixed(1)} s (${fmtNum(om.samples / (promtoolMs / 1000))} samples/s) into ${blocks.length} block(s) ` +
        `(${fmtNum(promSamples)} samples, ${fmtNum(promSeriesInBlocks)} series summed over blocks); started in ${(promStartMs / 1000).toFixed(1)} s, pid ${prom.proc.child.pid} at ${prom.url}`,
    );

    // ---- queries
    const targets: Target[] = [
      { name: 'ours', headers: { authorization: `Bearer ${gw.info.monitoring}` }, url: (q) => `http://127.0.0.1:${gw!.info.port}/v1/projects/${gw!.info.project}/prometheus/api/v1/${q.hours === 0 ? 'query' : 'query_range'}?${queryParams(q, endS)}` },
      { name: 'Prometheus', headers: { authorization: `Bearer ${gw.info.monitoring}` }, url: (q) => `${prom!.url}/api/v1/${q.hours === 0 ? 'query' : 'query_range'}?${queryParams(q, endS)}` },
    ];
    const [ours, peer] = targets;
    const disagreements: string[] = [];
    {
      // The load itself: every raw sample of a few series, as both stores hold them.
      for (const sel of rawCheckSelectors(gs, gw.info.project)) {
        const q: Query = { hours: 0, expr: `${sel}[${hours}h]` };
        const a = resultOf(await runQuery(ours, q));
        const b = resultOf(await runQuery(peer, q));
        const { diffs, points } = compare(a, b);
        console.log(`   raw samples of ${sel}: ${diffs.length === 0 ? `same (${points} samples)` : diffs.join('; ')}`);
        if (diffs.length > 0) {
          const ot = new Set((a.series[0]?.values ?? []).map(([t]) => t));
          const pt = new Set((b.series[0]?.values ?? []).map(([t]) => t));
          const onlyP = [...pt].filter((t) => !ot.has(t));
          const onlyO = [...ot].filter((t) => !pt.has(t));
          console.log(`     timestamps only in Prometheus: ${onlyP.length} ${onlyP.slice(0, 10).map((t) => new Date(t * 1000).toISOString()).join(' ')}; only in ours: ${onlyO.length} ${onlyO.slice(0, 10).join(' ')}`);
          disagreements.push(`raw ${sel}: ${diffs.join('; ')}`);
        }
      }
    }
    const outSeries: number[] = [];
    const checked: string[] = [];
    for (const q of QUERIES) {
      const a = resultOf(await runQuery(ours, q));
      const b = resultOf(await runQuery(peer, q));
      const { diffs, points } = compare(a, b);
      outSeries.push(b.series.length);
      checked.push(diffs.length === 0 ? `same (${b.series.length} series, ${points} values)` : `${diffs.length} difference(s)`);
      for (const d of diffs.slice(0, 5)) disagreements.push(`${q.expr} [${q.hours === 0 ? 'instant' : `${q.hours} h range`}]: ${d}`);
      if (diffs.length > 5) disagreements.push(`${q.expr}: ... ${diffs.length - 5} more`);
    }
    const holdS = Number(process.env.QVP_HOLD_S ?? 0);
    if (holdS > 0) {
      // For looking into a disagreement by hand: both servers stay up this long.
      console.log(`   holding ${holdS} s: ours ${ours.url(QUERIES[0]).split('/prometheus/')[0]}/prometheus (Bearer ${gw.info.monitoring}), Prometheus ${prom.url}, end ${endS}`);
      await new Promise((r) => setTimeout(r, holdS * 1000));
    }
    const times: number[][][] = QUERIES.map(() => [[], []]);
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < QUERIES.length; i++) {
        // Alternate who goes first, so neither always runs right after the other's GC or cache work.
        const order = (r + i) % 2 === 0 ? [0, 1] : [1, 0];
        for (const side of order) times[i][side].push((await runQuery(targets[side], QUERIES[i])).ms);
      }
    }
    const memQ = await gw.call<NodeJS.MemoryUsage>('mem');
    const promRss = rssOf(prom.proc.child.pid!);

    // ---- disk
    const ck = await gw.call<{ db: number; wal: number; shm: number; logBytes: number }>('maintain');
    const tr = await gw.call<{ db: number; wal: number; pages: number; free: number }>('truncate');
    const oursBps = (ck.db + ck.wal) / load.samples;
    const oursBpsTrunc = (tr.db + tr.wal) / load.samples;
    const promBps = promBlockBytes / promSamples;

    // ---- report
    console.log(`\n   per query: median of ${reps} over HTTP (keep-alive, one client for both; request sent to body received)`);
    const rows: string[] = [];
    const ratios: number[] = [];
    const w = Math.max(...QUERIES.map((q) => q.expr.length));
    console.log(`   ${'query'.padEnd(w)}  range    series        ours  Prometheus   ratio  answers`);
    for (let i = 0; i < QUERIES.length; i++) {
      const q = QUERIES[i];
      const o = median(times[i][0]);
      const p = median(times[i][1]);
      ratios.push(o / p);
      const span = q.hours === 0 ? 'instant' : `${q.hours} h`;
      console.log(`   ${q.expr.padEnd(w)}  ${span.padEnd(7)} ${String(outSeries[i]).padStart(7)}  ${fmtMs(o).padStart(10)}  ${fmtMs(p).padStart(10)}  ${(o / p).toFixed(2).padStart(5)}x  ${checked[i]}`);
      rows.push(`| \`${q.expr.replace(/\|/g, '\\|')}\` | ${span} | ${outSeries[i]} | ${fmtMs(o)} | ${fmtMs(p)} | ${(o / p).toFixed(2)}x | ${checked[i]} |`);
    }
    const medRatio = median(ratios);
    const geo = Math.exp(ratios.reduce((s, x) => s + Math.log(x), 0) / ratios.length);
    console.log(`   median of the ratios ours/Prometheus: ${medRatio.toFixed(2)}x (geometric mean ${geo.toFixed(2)}x, range ${Math.min(...ratios).toFixed(2)}x to ${Math.max(...ratios).toFixed(2)}x)  target <= ${TARGET_RATIO}: ${verdict(medRatio <= TARGET_RATIO)}`);
    console.log(`   answers compared on the warm-up run (same series, values within ${REL_TOL} relative): ${disagreements.length === 0 ? 'all agree' : `${disagreements.length} disagreement(s):`}`);
    for (const d of disagreements) console.log(`     ${d}`);

    console.log(`\n   disk, ours: the running gateway's files after the store's maintenance (each minute): tsdb.db ${fmtBytes(ck.db)} + WAL ${fmtBytes(ck.wal)} = ${oursBps.toFixed(3)} bytes/sample,`);
    console.log(`               of which the store's append log ${fmtBytes(ck.logBytes)} (the latest batches, at most 16 MiB whatever the data, until a checkpoint folds them into chunks)`);
    console.log(`               after a checkpoint, incremental_vacuum and wal_checkpoint(TRUNCATE) (what close does): ${fmtBytes(tr.db + tr.wal)} = ${oursBpsTrunc.toFixed(3)} bytes/sample (${tr.free} free pages of ${tr.pages})  target <= ${TARGET_BYTES_PER_SAMPLE}: ${verdict(oursBpsTrunc <= TARGET_BYTES_PER_SAMPLE)}`);
    console.log(`   disk, Prometheus: ${blocks.length} block(s) ${fmtBytes(promBlockBytes)} = ${promBps.toFixed(3)} bytes/sample; whole data dir after the queries ${fmtBytes(dirSize(promData))}`);
    console.log(`   memory, ours: RSS +${rssPerSeries.toFixed(0)} B/series over the load (heap + array buffers +${heapPerSeries.toFixed(0)} B/series); RSS after the queries ${fmtBytes(memQ.rss)} = ${(memQ.rss / nSeries).toFixed(0)} B/series in all`);
    console.log(`   memory, Prometheus: RSS after the queries ${fmtBytes(promRss)} = ${(promRss / nSeries).toFixed(0)} B/series in all (includes mmapped chunk pages it touched)`);

    console.log('\n   markdown:');
    console.log('   | query | range | series out | ours | Prometheus | ours/Prometheus | answers |');
    console.log('   |---|---|---|---|---|---|---|');
    for (const r of rows) console.log(`   ${r}`);

    // ---- profiles of the slow ones
    const slow = QUERIES.map((q, i) => ({ q, ratio: ratios[i] })).filter((x) => x.ratio > profileRatio).sort((a, b) => b.ratio - a.ratio).slice(0, 3);
    for (const { q, ratio } of slow) {
      const file = join(profDir, `q${QUERIES.indexOf(q)}.cpuprofile`);
      await gw.call('profile-start');
      const p0 = performance.now();
      let runs = 0;
      while (runs < 3 || (runs < 20 && performance.now() - p0 < 3000)) {
        await runQuery(ours, q);
        runs++;
      }
      await gw.call('profile-stop', { path: file });
      console.log(`\n   profile of ours, ${ratio.toFixed(2)}x: ${q.expr} [${q.hours === 0 ? 'instant' : `${q.hours} h range`}], ${runs} runs (${file})`);
      for (const l of summarizeProfile(file)) console.log(l);
    }
  } finally {
    agent.destroy();
    await prom?.stop().catch(() => {});
    rmSync(promDir, { recursive: true, force: true });
    await gw?.close().catch(() => {});
    if (readdirSync(profDir).length === 0) rmSync(profDir, { recursive: true, force: true });
  }
}
