/**
 * `--demo`: a simulated inference platform. A few projects with apps, models and regions produce
 * runs, inference requests and resource samples with daily-ish waves, bursts, cold starts when
 * traffic rises, errors and GPU load, all fed through the same validation and aggregation as
 * POST /v1/events, so every endpoint shows live data at once.
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
  const timer = setInterval(() => {
    const now = Date.now();
    const items: BatchItem[] = [];
    for (const p of projects) for (const app of p.apps) simulateTick(p.id, app, (now - started) / 1000, now, items);
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
