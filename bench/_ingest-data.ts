/**
 * The event mix the ingest benchmark sends: run, inference and resource events across a few
 * hundred series, with the fields real clients send (timestamps included). Deterministic, so the
 * client process and the JSON.parse ceiling see byte-identical batches.
 */
import { REGIONS, rng } from './_util.js';

export const EVENTS_PER_BATCH = 1_000;

const MODELS = ['llama-3.1-70b', 'llama-3.1-8b', 'mistral-large', 'qwen2.5-72b'];
const TIERS = ['on_demand', 'batch'];
const RUN_APPS = 12;
const INFERENCE_APPS = 6;
const RESOURCE_APPS = 12;
const USED_REGIONS = REGIONS.slice(0, 3);

/** `count` NDJSON bodies of EVENTS_PER_BATCH events each: about 45% inference, 40% run, 15% resource. */
export function makeBatches(projectId: string, count: number, seed = 3): string[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const ms = (lo: number, hi: number): number => Math.round(Math.exp(Math.log(lo) + r() * Math.log(hi / lo)) * 10) / 10;
  const t0 = Date.UTC(2026, 0, 2, 15, 0, 0);
  const batches: string[] = [];
  for (let b = 0; b < count; b++) {
    const lines: string[] = [];
    for (let i = 0; i < EVENTS_PER_BATCH; i++) {
      const timestamp = new Date(t0 + b * 1000 + i).toISOString();
      const x = r();
      let ev: Record<string, unknown>;
      if (x < 0.45) {
        const code = r() < 0.95 ? 200 : pick([400, 429, 500, 503]);
        ev = {
          type: 'inference', project_id: projectId, timestamp,
          app_name: `chat-${Math.floor(r() * INFERENCE_APPS)}`, region: pick(USED_REGIONS),
          model_name: pick(MODELS), service_tier: pick(TIERS), status_code: code,
          input_tokens: Math.floor(r() * 4000), output_tokens: Math.floor(r() * 800),
          ttft_ms: ms(20, 3000), tpot_ms: ms(5, 120), duration_ms: ms(100, 60_000),
        };
      } else if (x < 0.85) {
        ev = {
          type: 'run', project_id: projectId, timestamp,
          app_name: `job-${Math.floor(r() * RUN_APPS)}`, region: pick(USED_REGIONS),
          status: r() < 0.97 ? 'success' : 'error', run_id: `r-${b}-${i}`,
          queue_time_ms: ms(1, 5000), execution_time_ms: ms(50, 120_000), response_time_ms: ms(60, 130_000),
          ...(r() < 0.1 ? { coldstart_time_ms: ms(500, 300_000) } : {}),
        };
      } else {
        const gpu = r() < 0.5 ? { gpu: Math.floor(r() * 4), gpu_memory_bytes: Math.floor(r() * 80e9), gpu_compute_utilization_percent: Math.round(r() * 1000) / 10 } : {};
        ev = {
          type: 'resource', project_id: projectId, timestamp,
          app_name: `job-${Math.floor(r() * RESOURCE_APPS)}`, region: pick(USED_REGIONS),
          cpu_cores: Math.round(r() * 800) / 100, cpu_limit_cores: 8, memory_bytes: Math.floor(r() * 32e9), memory_limit_bytes: 32e9,
          containers_running: 1 + Math.floor(r() * 4), containers_ready: 1 + Math.floor(r() * 4), ...gpu,
        };
      }
      lines.push(JSON.stringify(ev));
    }
    batches.push(`${lines.join('\n')}\n`);
  }
  return batches;
}
