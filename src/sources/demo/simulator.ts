/**
 * `--demo`: a simulated inference platform. A few projects with apps, models and regions produce
 * runs, inference requests and resource samples with daily-ish waves, bursts, cold starts when
 * traffic rises, errors and GPU load, all fed through the same validation and aggregation as
 * POST /v1/events, so every endpoint shows live data at once. Bluebird Labs also trains on a GPU
 * fleet (instances with prices and heartbeats, runs whose jobs finish, one in three runs with a
 * failed job), and Acme ships an on-device assistant whose phones, tablets and browsers send
 * inference telemetry.
 */
import type { Source } from '../source.js';
import type { Logger } from 'pino';
import type { Gateway } from '../../server/context.js';
import type { BatchItem } from '../../ingest/ingest.js';

interface DemoApp {
  readonly name: string;
  readonly region: string;
  readonly model: string;
  readonly gpus: number;
  /** Mean requests per second at the top of the wave. */
  readonly peakRps: number;
  readonly tier: 'on_demand' | 'pt';
  containers: number;
}

interface DemoProject {
  readonly id: string;
  readonly name: string;
  readonly apps: DemoApp[];
}

const PROJECTS: ReadonlyArray<Omit<DemoProject, 'apps'> & { apps: Omit<DemoApp, 'containers'>[] }> = [
  {
    id: 'p-demoacme', name: 'Acme AI (demo)',
    apps: [
      { name: 'chat-llama', region: 'us-east-1', model: 'llama-3.1-8b-instruct', gpus: 2, peakRps: 40, tier: 'on_demand' },
      { name: 'chat-llama', region: 'eu-west-1', model: 'llama-3.1-8b-instruct', gpus: 1, peakRps: 15, tier: 'on_demand' },
      { name: 'summarizer', region: 'us-east-1', model: 'mixtral-8x7b', gpus: 4, peakRps: 8, tier: 'pt' },
    ],
  },
  {
    id: 'p-demoblue', name: 'Bluebird Labs (demo)',
    apps: [
      { name: 'sdxl-images', region: 'us-west-2', model: 'sdxl-1.0', gpus: 1, peakRps: 3, tier: 'on_demand' },
      { name: 'whisper-asr', region: 'us-west-2', model: 'whisper-large-v3', gpus: 1, peakRps: 6, tier: 'on_demand' },
    ],
  },
];

const TICK_MS = 1000;
/** Instances and running jobs report every 15 s (a real fleet would every minute); state changes at once. */
const HEARTBEAT_S = 15;

interface DemoInstance {
  readonly instance_name: string;
  readonly backend: string;
  readonly instance_type: string;
  readonly region: string;
  readonly gpu_name: string;
  readonly gpu_count: number;
  readonly price_per_hour: number;
  /** Seconds it provisions for after the demo starts. */
  readonly provisionS: number;
}

const FLEET = {
  project: 'p-demoblue',
  fleet_name: 'training-fleet',
  instances: [
    { instance_name: 'training-fleet-0', backend: 'aws', instance_type: 'p4d.24xlarge', region: 'us-east-1', gpu_name: 'A100', gpu_count: 8, price_per_hour: 32.77, provisionS: 0 },
    { instance_name: 'training-fleet-1', backend: 'gcp', instance_type: 'a3-highgpu-1g', region: 'us-central1', gpu_name: 'H100', gpu_count: 1, price_per_hour: 11.06, provisionS: 0 },
    { instance_name: 'training-fleet-2', backend: 'runpod', instance_type: 'H100-SXM', region: 'eu-ro-1', gpu_name: 'H100', gpu_count: 1, price_per_hour: 2.69, provisionS: 40 },
  ] as readonly DemoInstance[],
};

/** A run every RUN_EVERY_S seconds, each with two jobs on the fleet's instances. */
const RUN_EVERY_S = 90;
const RUN_NAMES = ['finetune-llama', 'eval-mixtral', 'sweep-lora'];
const USERS = ['ana', 'bo'];

interface DemoJob {
  readonly run_name: string;
  readonly job_name: string;
  readonly user: string;
  readonly on: DemoInstance;
  /** Seconds after the demo started: running, finished (submitted before). */
  readonly startS: number;
  readonly endS: number;
  readonly outcome: 'done' | 'failed';
  status?: string;
}

interface DemoDevice {
  readonly device_id: string;
  readonly platform: string;
  readonly model: string;
  /** Mean tokens per second it generates at. */
  readonly tps: number;
  readonly memoryBytes: number;
  battery: number;
}

const DEVICE_PROJECT = 'p-demoacme';
const DEVICE_APP = 'keyboard-assist';
const DEVICES: ReadonlyArray<Omit<DemoDevice, 'battery'>> = [
  { device_id: 'iphone-15-a1f3', platform: 'ios', model: 'phi-3-mini-4k', tps: 22, memoryBytes: 2.1 * 2 ** 30 },
  { device_id: 'ipad-air-c3d9', platform: 'ios', model: 'phi-3-mini-4k', tps: 30, memoryBytes: 2.4 * 2 ** 30 },
  { device_id: 'pixel-8-77c2', platform: 'android', model: 'gemma-2b-it', tps: 16, memoryBytes: 1.6 * 2 ** 30 },
  { device_id: 'galaxy-s24-09be', platform: 'android', model: 'gemma-2b-it', tps: 19, memoryBytes: 1.8 * 2 ** 30 },
  { device_id: 'macbook-web-4d1e', platform: 'web', model: 'phi-3-mini-4k', tps: 45, memoryBytes: 3.2 * 2 ** 30 },
];

/** The demo is a source like any other: it feeds events through the same ingest path. */
export interface Demo extends Source {
  stop(): Promise<void>;
}

export async function startDemo(gw: Gateway, log: Logger): Promise<Demo> {
  const projects: DemoProject[] = [];
  for (const spec of PROJECTS) {
    if ((await gw.projects.get(spec.id)) === undefined) await gw.projects.create({ id: spec.id, name: spec.name });
    projects.push({ ...spec, apps: spec.apps.map((a) => ({ ...a, containers: 1 })) });
  }
  log.info({ projects: projects.map((p) => p.id) }, 'demo platform running; create a monitoring token for one of these projects to scrape it');
  const started = Date.now();
  const fleet = new FleetSimulation();
  const devices: DemoDevice[] = DEVICES.map((d, i) => ({ ...d, battery: 95 - 17 * i }));
  const timer = setInterval(() => {
    const now = Date.now();
    const items: BatchItem[] = [];
    for (const p of projects) for (const app of p.apps) simulateTick(p.id, app, (now - started) / 1000, now, items);
    fleet.tick((now - started) / 1000, now, items);
    for (const d of devices) simulateDevice(d, now, items);
    gw.ingestor.ingest(items, {}, now);
  }, TICK_MS);
  timer.unref();
  return {
    name: 'demo',
    async stop() {
      clearInterval(timer);
    },
  };
}

/** Poisson-ish count with mean `mean`, good enough for a demo and cheap. */
function poisson(mean: number): number {
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian()));
  let k = 0;
  let p = Math.exp(-mean);
  let s = p;
  const u = Math.random();
  while (u > s) {
    k++;
    p *= mean / k;
    s += p;
  }
  return k;
}

function gaussian(): number {
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

const logNormal = (medianMs: number, spread: number): number => medianMs * Math.exp(spread * gaussian());

function simulateTick(projectId: string, app: DemoApp, tSeconds: number, now: number, out: BatchItem[]): void {
  // A ten-minute wave stands in for the daily cycle, with an occasional burst on top.
  const wave = 0.55 + 0.45 * Math.sin((2 * Math.PI * tSeconds) / 600 + app.peakRps);
  const burst = Math.random() < 0.02 ? 3 : 1;
  const rps = app.peakRps * wave * burst;
  const wanted = Math.max(1, Math.ceil(rps / 10));
  const scalingUp = wanted > app.containers;
  app.containers = scalingUp ? app.containers + 1 : wanted < app.containers && Math.random() < 0.1 ? app.containers - 1 : app.containers;
  const base = { project_id: projectId, app_name: app.name, region: app.region, timestamp: now };
  const n = poisson(rps);
  for (let i = 0; i < n; i++) {
    const failed = Math.random() < (burst > 1 ? 0.08 : 0.02);
    const queue = logNormal(burst > 1 ? 400 : 30, 0.8);
    const cold = scalingUp && i < 2 ? logNormal(app.gpus > 2 ? 45_000 : 12_000, 0.4) : undefined;
    const outputTokens = Math.round(logNormal(app.model.startsWith('whisper') || app.model.startsWith('sdxl') ? 1 : 220, 0.6));
    const ttft = logNormal(app.tier === 'pt' ? 90 : 180, 0.5);
    const tpot = logNormal(app.gpus > 2 ? 28 : 18, 0.3);
    const execution = ttft + tpot * outputTokens;
    out.push({
      value: {
        ...base, type: 'run', status: failed ? 'error' : 'success', queue_time_ms: queue, execution_time_ms: execution,
        response_time_ms: queue + execution + (cold ?? 0), ...(cold === undefined ? {} : { coldstart_time_ms: cold }),
      },
    });
    const statusCode = failed ? (Math.random() < 0.6 ? 429 : 500) : 200;
    out.push({
      value: {
        ...base, type: 'inference', model_name: app.model, service_tier: app.tier, status_code: statusCode,
        input_tokens: Math.round(logNormal(600, 0.7)), output_tokens: failed ? 0 : outputTokens,
        ...(failed ? {} : { ttft_ms: ttft, tpot_ms: tpot }), duration_ms: failed ? logNormal(50, 0.5) : execution,
      },
    });
  }
  const load = Math.min(1, rps / (app.peakRps * 1.2));
  out.push({
    value: {
      ...base, type: 'resource', cpu_cores: 0.5 + 3 * load + 0.2 * Math.random(), cpu_limit_cores: 8,
      memory_bytes: Math.round((6 + 4 * load) * 2 ** 30), memory_limit_bytes: 32 * 2 ** 30,
      containers_running: app.containers, containers_ready: Math.max(0, app.containers - (scalingUp ? 1 : 0)),
    },
  });
  for (let gpu = 0; gpu < app.gpus; gpu++) {
    out.push({
      value: {
        ...base, type: 'resource', gpu,
        gpu_memory_bytes: Math.round((18 + 40 * load) * 2 ** 30 * (0.95 + 0.1 * Math.random())),
        gpu_compute_utilization_percent: Math.min(100, Math.max(0, 100 * load + 8 * gaussian())),
      },
    });
  }
}

/**
 * The fleet's instances and the jobs of its runs, as dstack reports them: an instance provisions,
 * then runs and sends heartbeats with its price; each run's jobs are submitted, run (with
 * heartbeats) and end, the second job of every third run in a failure.
 */
class FleetSimulation {
  private readonly instanceState = new Map<string, string>();
  private readonly jobs: DemoJob[] = [];
  private runs = 0;
  private lastBeat = -1;

  tick(tS: number, now: number, out: BatchItem[]): void {
    const beat = Math.floor(tS / HEARTBEAT_S) !== this.lastBeat;
    this.lastBeat = Math.floor(tS / HEARTBEAT_S);
    for (const inst of FLEET.instances) {
      const state = tS < inst.provisionS ? 'provisioning' : 'running';
      if (!beat && this.instanceState.get(inst.instance_name) === state) continue;
      this.instanceState.set(inst.instance_name, state);
      const { provisionS: _, ...fields } = inst;
      out.push({ value: { type: 'instance', project_id: FLEET.project, fleet_name: FLEET.fleet_name, state, timestamp: now, ...fields } });
    }
    while (this.runs * RUN_EVERY_S <= tS) {
      this.startRun(this.runs, this.runs * RUN_EVERY_S);
      this.runs++;
    }
    for (const job of this.jobs) {
      const status = tS >= job.endS ? job.outcome : tS >= job.startS ? 'running' : 'submitted';
      if (status === job.status && !(beat && status === 'running')) continue;
      job.status = status;
      const { on } = job;
      out.push({
        value: {
          type: 'job', project_id: FLEET.project, run_name: job.run_name, job_name: job.job_name, status, user: job.user,
          fleet_name: FLEET.fleet_name, instance_name: on.instance_name, backend: on.backend, region: on.region, gpu_name: on.gpu_name,
          gpu_count: on.gpu_count, price_per_hour: on.price_per_hour, timestamp: now,
        },
      });
    }
    // Finished jobs are kept for a while (their last event was sent), then let go.
    while (this.jobs.length > 0 && this.jobs[0].endS < tS - 600) this.jobs.shift();
  }

  private startRun(n: number, atS: number): void {
    const run_name = `${RUN_NAMES[n % RUN_NAMES.length]}-${n + 1}`;
    const user = USERS[n % USERS.length];
    for (let j = 0; j < 2; j++) {
      // Jobs of a run go to the instances in turn; the one still provisioning gets none until it runs.
      const on = FLEET.instances[(n + j) % FLEET.instances.length];
      const startS = Math.max(atS + 5 + 3 * j, on.provisionS);
      const failed = n % 3 === 1 && j === 1;
      this.jobs.push({
        run_name, job_name: `${run_name}-${j}`, user, on, startS,
        endS: startS + (failed ? 25 : 60 + 20 * ((n + j) % 4)), outcome: failed ? 'failed' : 'done',
      });
    }
  }
}

/** An on-device inference now and then, with the device's battery draining (and recharging). */
function simulateDevice(d: DemoDevice, now: number, out: BatchItem[]): void {
  if (Math.random() > 0.3) return;
  d.battery = d.battery <= 8 ? 100 : d.battery - 0.05 - 0.1 * Math.random();
  const tokens = Math.max(1, Math.round(logNormal(60, 0.6)));
  const tps = Math.max(1, d.tps * (0.8 + 0.4 * Math.random()));
  const ttft = logNormal(d.platform === 'web' ? 90 : 220, 0.4);
  out.push({
    value: {
      type: 'device', project_id: DEVICE_PROJECT, device_id: d.device_id, app_name: DEVICE_APP, model_name: d.model, platform: d.platform,
      event_name: 'inference.completed', duration_ms: ttft + (1000 * tokens) / tps, ttft_ms: ttft, throughput_tokens_per_second: tps,
      total_tokens: tokens, battery_level_percent: Math.round(d.battery * 10) / 10,
      memory_used_bytes: Math.round(d.memoryBytes * (0.9 + 0.2 * Math.random())), timestamp: now,
    },
  });
}
