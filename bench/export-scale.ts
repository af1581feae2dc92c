/**
 * Push export at scale (issue 3): 1,000 integrations at `interval_s: 1`, one per project, each
 * project holding about 200 series, against a local receiver in a child process that answers 200
 * at once, except for 5% of the integrations (path prefix /hang/) whose requests it never answers,
 * so those run into their `timeout_s: 2` and their retries. One gateway (createGateway, the real
 * scheduler, no listening socket) in this process. The kinds are mixed, in turn: OTLP, Prometheus
 * remote write, Datadog and StatsD (UDP, which cannot hang); `EXPORT_SCALE_KINDS=otlp` (a comma
 * list) runs fewer.
 *
 * Reported for the measured window: pushes per second (successful and failed, after retries),
 * lateness of a push against its schedule, CPU of this process as a share of one core, and the
 * event-loop delay. Lateness is measured two ways:
 *  - the scheduler's own `lateness` hook (what `meterway_export_lag_seconds` observes): the time of
 *    the scheduler tick against the due time;
 *  - the start of the push itself (`run(due)` entered), against the due time: this also counts
 *    the pushes that the same tick started before it, which the hook does not see.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import { createGateway, type RunningGateway } from '../src/server/gateway.js';
import type { ScheduledJob, Scheduler } from '../src/delivery/scheduler.js';
import type { ReceiverMessage } from './_export-receiver.js';
import { ADMIN_TOKEN, fmtMs, header, verdict } from './_util.js';

const PROJECTS = Number(process.env.EXPORT_SCALE_PROJECTS ?? 1000);
const SERIES_PER_PROJECT = 200;
/** Every 20th integration (5%) points at a path the receiver never answers. */
const HANG_EVERY = 20;
const INTERVAL_S = 1;
const TIMEOUT_S = 2;
const WARMUP_MS = Number(process.env.EXPORT_SCALE_WARMUP_MS ?? 6_000);
const MEASURE_MS = Number(process.env.EXPORT_SCALE_MEASURE_MS ?? 25_000);
const IDLE_MS = 2_000;
const TARGET_P99_LATENESS_MS = 1_000;
const KINDS = (process.env.EXPORT_SCALE_KINDS ?? 'otlp,prometheus_remote_write,datadog,statsd').split(',');

interface Window {
  measuring: boolean;
  hookLateness: number[];
  startLateness: number[];
  /** Start of each push against the earliest turn it serves (a skipped turn counts from its own due time), answered integrations. */
  owedLateness: number[];
  owedLatenessHanging: number[];
  hangingIds: Set<string>;
  /** Scheduler ticks: how long each ran synchronously and how many pushes it started. */
  tickMs: number[];
  tickStarts: number[];
  /** Integrations.flushStatus: time until its transaction resolved. */
  flushMs: number[];
  pushMs: number[];
  success: number;
  partial: number;
  failure: number;
  points: number;
  skipped: number;
  failures: Map<string, number>;
}

export async function main(): Promise<void> {
  header(`export-scale: ${PROJECTS} integrations (${KINDS.join(', ')} in turn; one per project, ~${SERIES_PER_PROJECT} series each) at interval_s ${INTERVAL_S}, ${100 / HANG_EVERY}% hanging until timeout_s ${TIMEOUT_S}; ${WARMUP_MS / 1000} s warm-up, ${MEASURE_MS / 1000} s measured`);
  const receiver = await startReceiver();
  const dataDir = mkdtempSync(join(tmpdir(), 'meterway-bench-export-'));
  let gw: RunningGateway | undefined;
  try {
    // Push export alone: the embedded store's sampler (measured by bench/tsdb) is kept out of the
    // window by a sampling interval longer than the run.
    const configFile = join(dataDir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ storage: { interval: '1d' } }));
    const config = loadConfig(
      { dataDir, port: 0, host: '127.0.0.1', config: configFile },
      { METERWAY_ADMIN_TOKEN: ADMIN_TOKEN, METERWAY_LOG_LEVEL: 'silent', METERWAY_ALLOW_PRIVATE_EGRESS: '1' },
    );
    gw = await createGateway(config);
    const w = instrument(gw);

    // Projects and their series, through the Ingestor (as POST /v1/events applies them).
    const setup0 = performance.now();
    const pids: string[] = [];
    for (let i = 0; i < PROJECTS; i++) pids.push((await gw.projects.create({ name: `bench ${i}` })).id);
    const apps = appsForSeries(gw, pids[0], SERIES_PER_PROJECT);
    let series = 0;
    for (const pid of pids) {
      if (pid !== pids[0]) ingest(gw, pid, apps);
      series += gw.aggregator.get(pid)!.registry.seriesCount;
    }
    console.log(`   setup: ${PROJECTS} projects, ${series} series in all (${(series / PROJECTS).toFixed(0)} per project, ${apps} apps x run/inference/resource events), ${((performance.now() - setup0) / 1000).toFixed(1)} s`);

    // Event-loop baseline of the same process with the data loaded and nothing exporting.
    const idle = monitorEventLoopDelay({ resolution: 1 });
    idle.enable();
    await sleep(IDLE_MS);
    idle.disable();

    const create0 = performance.now();
    let hanging = 0;
    const byKind = new Map<string, number>();
    for (let i = 0; i < PROJECTS; i++) {
      const kind = KINDS[i % KINDS.length];
      // Every HANG_EVERY-th integration of each HTTP kind (UDP has nothing to wait for).
      const hang = kind !== 'statsd' && Math.floor(i / KINDS.length) % HANG_EVERY === HANG_EVERY - 1;
      if (hang) hanging++;
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
      const url = `http://127.0.0.1:${receiver.port}/${hang ? 'hang' : 'ok'}/${i}`;
      const created = await gw.integrations.create(pids[i], {
        name: `rx ${i}`,
        kind,
        endpoint: kind === 'statsd' ? `udp://127.0.0.1:${receiver.udpPort}` : url,
        auth_headers: kind === 'statsd' ? undefined : kind === 'datadog' ? { 'DD-API-KEY': `bench-secret-${i}` } : { Authorization: `Bearer bench-secret-${i}` },
        config: { interval_s: INTERVAL_S, timeout_s: TIMEOUT_S },
      });
      if (hang) w.hangingIds.add(created.id);
    }
    console.log(`   kinds: ${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    console.log(`   integrations: ${PROJECTS} created in ${((performance.now() - create0) / 1000).toFixed(1)} s (${hanging} pointed at /hang/), schedules spread at random over ${INTERVAL_S} s`);

    const phases0 = phaseSpread(gw);
    await sleep(WARMUP_MS);
    const phases1 = phaseSpread(gw);
    const rx0 = await receiver.stats();
    const loop = monitorEventLoopDelay({ resolution: 1 });
    w.measuring = true;
    loop.enable();
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(MEASURE_MS);
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0);
    const ms = performance.now() - t0;
    loop.disable();
    w.measuring = false;
    const rx1 = await receiver.stats();
    const phases2 = phaseSpread(gw);

    const perS = (n: number) => (n * 1000) / ms;
    const cpuShare = (cpu.user + cpu.system) / 1000 / ms;
    const hook = stats(w.hookLateness);
    const start = stats(w.startLateness);
    const push = stats(w.pushMs);
    const owed = stats(w.owedLateness);
    const owedHanging = stats(w.owedLatenessHanging);
    const abortSignal = (gw.exporter as unknown as { abort: AbortController }).abort.signal;
    const abortListeners = getEventListeners(abortSignal, 'abort').length;
    const jobs = (gw.exporter as unknown as { jobs: Map<string, { pushing?: unknown }> }).jobs;
    const inFlight = [...jobs.values()].filter((j) => j.pushing !== undefined).length;
    const okReq = rx1.ok - rx0.ok;
    const hungReq = rx1.hung - rx0.hung;
    console.log(`   pushes (after retries): ${perS(w.success + w.partial + w.failure).toFixed(0)}/s in all; ${perS(w.success + w.partial).toFixed(0)}/s successful, ${perS(w.failure).toFixed(1)}/s failed (${[...w.failures].map(([r, n]) => `${r} ${n}`).join(', ') || 'none'}) over ${(ms / 1000).toFixed(1)} s`);
    console.log(`   expected at most: ${PROJECTS - hanging}/s successful (every answered integration once a second)`);
    console.log(`   data points delivered: ${perS(w.points).toFixed(0)}/s; turns skipped because the previous push still ran: ${perS(w.skipped).toFixed(1)}/s`);
    console.log(`   receiver (child process): ${perS(okReq).toFixed(0)} requests/s answered, ${perS(hungReq).toFixed(1)}/s left hanging, ${perS(rx1.datagrams - rx0.datagrams).toFixed(0)} datagrams/s, ${(perS(rx1.bytes - rx0.bytes) / 1e6).toFixed(2)} MB/s of request bodies and datagrams`);
    console.log(`   lateness against the schedule    p50        p99        max     samples`);
    console.log(`     scheduler hook (export_lag)  ${pad(fmtMs(hook.p50))} ${pad(fmtMs(hook.p99))} ${pad(fmtMs(hook.max))} ${hook.n.toString().padStart(8)}`);
    console.log(`     start of the push            ${pad(fmtMs(start.p50))} ${pad(fmtMs(start.p99))} ${pad(fmtMs(start.max))} ${start.n.toString().padStart(8)}`);
    console.log(`     earliest owed turn, answered ${pad(fmtMs(owed.p50))} ${pad(fmtMs(owed.p99))} ${pad(fmtMs(owed.max))} ${owed.n.toString().padStart(8)}`);
    console.log(`     earliest owed turn, hanging  ${pad(fmtMs(owedHanging.p50))} ${pad(fmtMs(owedHanging.p99))} ${pad(fmtMs(owedHanging.max))} ${owedHanging.n.toString().padStart(8)}`);
    console.log(`   successful push, start to done: p50 ${fmtMs(push.p50)}, p99 ${fmtMs(push.p99)}, max ${fmtMs(push.max)}`);
    console.log(`   gateway process CPU: ${(cpuShare * 100).toFixed(0)}% of one core (user ${(cpu.user / 1000 / ms * 100).toFixed(0)}%, system ${(cpu.system / 1000 / ms * 100).toFixed(0)}%); ${((cpu.user + cpu.system) / 1000 / Math.max(1, w.success + w.partial + w.failure)).toFixed(2)} ms CPU per push`);
    const pushes = Math.max(1, w.success + w.partial + w.failure);
    console.log(`   main thread busy (event-loop utilization): ${(elu.utilization * 100).toFixed(0)}%, ${(elu.active / pushes).toFixed(2)} ms per push`);
    const ticks = stats(w.tickMs);
    const starts = stats(w.tickStarts);
    const flushes = stats(w.flushMs);
    console.log(`   scheduler ticks: ${w.tickMs.length} (${perS(w.tickMs.length).toFixed(0)}/s), pushes started per tick p50 ${starts.p50}, p99 ${starts.p99}, max ${starts.max}; synchronous time per tick p50 ${fmtMs(ticks.p50)}, p99 ${fmtMs(ticks.p99)}, max ${fmtMs(ticks.max)}, ${(w.tickMs.reduce((a, b) => a + b, 0) / ms * 100).toFixed(0)}% of the window`);
    console.log(`   status flush (one transaction a second): ${w.flushMs.length} flushes, p50 ${fmtMs(flushes.p50)}, max ${fmtMs(flushes.max)}`);
    console.log(`   schedule phases (integrations sharing one due time, largest group / distinct due times): after creation ${phases0}; after warm-up ${phases1}; at the end ${phases2}`);
    console.log(`   receiver connections opened during the window: ${rx1.connections - rx0.connections} (${perS(rx1.connections - rx0.connections).toFixed(0)}/s)`);
    console.log(`   event-loop delay: p50 ${loopMs(loop, 50)}, p99 ${loopMs(loop, 99)}, max ${fmtMs(loop.max / 1e6)} (idle baseline before exporting: p99 ${loopMs(idle, 99)}, max ${fmtMs(idle.max / 1e6)})`);
    console.log(`   abort listeners on the exporter's signal at the end: ${abortListeners}, with ${inFlight} pushes in flight (each holds at most one: its request or its retry sleep)`);
    console.log(`   target p99 lateness < ${fmtMs(TARGET_P99_LATENESS_MS)}: scheduler hook ${verdict(hook.p99 < TARGET_P99_LATENESS_MS)}; start of the push ${verdict(start.p99 < TARGET_P99_LATENESS_MS)}; earliest owed turn (answered integrations) ${verdict(owed.p99 < TARGET_P99_LATENESS_MS)}`);
  } finally {
    await gw?.close();
    receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Wraps the gateway's export observer (SelfMetrics, still called) and the scheduler's jobs. The
 * scheduler is private to the ExportManager: reached here, in a benchmark only.
 */
function instrument(gw: RunningGateway): Window {
  const w: Window = {
    measuring: false, hookLateness: [], startLateness: [], owedLateness: [], owedLatenessHanging: [], hangingIds: new Set(), tickMs: [], tickStarts: [], flushMs: [], pushMs: [], success: 0, partial: 0, failure: 0, points: 0, skipped: 0, failures: new Map(),
  };
  const sm = gw.selfMetrics;
  const lateness = sm.lateness.bind(sm);
  const push = sm.push.bind(sm);
  const failure = sm.failure.bind(sm);
  sm.lateness = (ms) => {
    if (w.measuring) w.hookLateness.push(ms);
    lateness(ms);
  };
  sm.push = (kind, outcome, points) => {
    if (w.measuring) {
      w[outcome]++;
      w.points += points;
    }
    push(kind, outcome, points);
  };
  sm.failure = (kind, reason) => {
    if (w.measuring) w.failures.set(reason, (w.failures.get(reason) ?? 0) + 1);
    failure(kind, reason);
  };
  const scheduler = (gw.exporter as unknown as { scheduler: Scheduler }).scheduler;
  const hooks = (scheduler as unknown as { hooks: { skipped?: (id: string) => void } }).hooks;
  hooks.skipped = () => {
    if (w.measuring) w.skipped++;
  };
  const sched = scheduler as unknown as { tick(): void };
  const tick = sched.tick.bind(scheduler);
  let startsInTick = 0;
  sched.tick = () => {
    const t = performance.now();
    startsInTick = 0;
    tick();
    if (w.measuring) {
      w.tickMs.push(performance.now() - t);
      w.tickStarts.push(startsInTick);
    }
  };
  const integrations = gw.integrations;
  const flush = integrations.flushStatus.bind(integrations);
  integrations.flushStatus = () => {
    const t = performance.now();
    return flush().finally(() => {
      if (w.measuring) w.flushMs.push(performance.now() - t);
    });
  };
  const upsert = scheduler.upsert.bind(scheduler);
  const lastDue = new Map<string, number>();
  scheduler.upsert = (job: ScheduledJob) => {
    upsert({
      id: job.id,
      intervalMs: job.intervalMs,
      run: (due) => {
        const started = Date.now();
        const measured = w.measuring;
        startsInTick++;
        const last = lastDue.get(job.id);
        lastDue.set(job.id, due);
        if (measured) {
          w.startLateness.push(started - due);
          // The first turn owed since the previous push: earlier than `due` when turns were skipped.
          const owed = last === undefined ? due : Math.min(due, last + job.intervalMs);
          (w.hangingIds.has(job.id) ? w.owedLatenessHanging : w.owedLateness).push(started - owed);
        }
        const t = performance.now();
        const before = w.failure;
        return job.run(due).finally(() => {
          if (measured && w.measuring && w.failure === before) w.pushMs.push(performance.now() - t);
        });
      },
    });
  };
  return w;
}

/** Ingests `apps` apps' worth of events into a project: one run, one inference and one resource event per app and region. */
function ingest(gw: RunningGateway, pid: string, apps: number, from = 0): void {
  const now = Date.now();
  const items: Array<{ value: unknown }> = [];
  for (let a = from; a < apps; a++) {
    const app = `app-${a.toString().padStart(3, '0')}`;
    const region = a % 2 === 0 ? 'us-east-1' : 'eu-west-1';
    const timestamp = new Date(now).toISOString();
    items.push(
      { value: { type: 'run', project_id: pid, timestamp, app_name: app, region, status: 'success', execution_time_ms: 100 + a, queue_time_ms: 5, response_time_ms: 120 + a } },
      { value: { type: 'inference', project_id: pid, timestamp, app_name: app, region, model_name: 'llama-3-8b', service_tier: 'standard', status_code: 200, input_tokens: 500, output_tokens: 80, ttft_ms: 120, tpot_ms: 20, duration_ms: 1800 } },
      { value: { type: 'resource', project_id: pid, timestamp, app_name: app, region, cpu_cores: 1.5, cpu_limit_cores: 8, memory_bytes: 2e9, memory_limit_bytes: 32e9, containers_running: 2, containers_ready: 2 } },
    );
  }
  const r = gw.ingestor.ingest(items, {});
  if (r.rejected.length > 0) throw new Error(`events rejected: ${JSON.stringify(r.rejected[0])}`);
}

/** Adds apps to the first project until it holds at least `target` series; the count of apps. */
function appsForSeries(gw: RunningGateway, pid: string, target: number): number {
  const reg = gw.aggregator.get(pid)!.registry;
  let apps = 0;
  while (reg.seriesCount < target) {
    ingest(gw, pid, apps + 1, apps);
    apps++;
  }
  return apps;
}

interface Receiver {
  readonly port: number;
  readonly udpPort: number;
  stats(): Promise<Extract<ReceiverMessage, { kind: 'stats' }>>;
  close(): void;
}

async function startReceiver(): Promise<Receiver> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./_export-receiver.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] });
  const waiting: Array<(m: Extract<ReceiverMessage, { kind: 'stats' }>) => void> = [];
  const { port, udpPort } = await new Promise<{ port: number; udpPort: number }>((resolve, reject) => {
    child.on('message', (m: ReceiverMessage) => {
      if (m.kind === 'listening') resolve(m);
      else waiting.shift()?.(m);
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  return {
    port,
    udpPort,
    stats: () => new Promise((resolve) => {
      waiting.push(resolve);
      child.send({ kind: 'stats' });
    }),
    close: () => {
      child.removeAllListeners('exit');
      child.disconnect();
      if (child.pid !== undefined && child.exitCode === null) child.kill();
    },
  };
}

/** How spread the schedules are: the largest number of jobs due at the same millisecond, and how many distinct due times there are. */
function phaseSpread(gw: RunningGateway): string {
  const scheduler = (gw.exporter as unknown as { scheduler: { entries: Map<string, { dueMs: number }> } }).scheduler;
  const groups = new Map<number, number>();
  for (const e of scheduler.entries.values()) groups.set(e.dueMs, (groups.get(e.dueMs) ?? 0) + 1);
  return `${Math.max(0, ...groups.values())} / ${groups.size}`;
}

function stats(xs: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = Float64Array.from(xs).sort();
  const q = (p: number) => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]);
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s.length === 0 ? NaN : s[s.length - 1] };
}

function loopMs(h: IntervalHistogram, p: number): string {
  return fmtMs(h.percentile(p) / 1e6);
}

const pad = (s: string) => s.padStart(10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
