/**
 * Shared pieces of the benchmarks: timing, figure formatting, a real gateway on loopback, and the
 * label sets both sides use so ours and the peer see the same cardinality.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig, type ConfigFlags } from '../src/config/load.js';
import { createGateway, type RunningGateway } from '../src/server/gateway.js';

export const ADMIN_TOKEN = 'mw_admin_bench-token-0123456789abcdefghijklmnop';

/** One line that identifies the machine, printed by every benchmark so figures keep their context. */
export function machineLine(): string {
  const c = cpus();
  return `node ${process.version}, ${c.length} cores (${c[0]?.model.trim() ?? 'unknown cpu'}), ${process.platform}/${process.arch}`;
}

export function header(title: string): void {
  console.log(`\n== ${title}`);
  console.log(`   ${machineLine()}`);
}

/** 1234567 as `1.23 M`, 285500 as `285.5 k`. */
export function fmtNum(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

export function fmtRate(perSecond: number): string {
  return `${fmtNum(perSecond)}/s`;
}

export function fmtMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function verdict(met: boolean): string {
  return met ? 'target met' : 'TARGET MISSED';
}

export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) throw new Error('run with --expose-gc (npm run bench passes it)');
  // Several passes: weak maps and finalizers can keep objects for one more cycle.
  for (let i = 0; i < 4; i++) g();
}

/**
 * Items per second of an encoder, best and median of `rounds` rounds of about `budgetMs` of
 * encoding each (the best is the round least disturbed on a shared machine). `encode` returns how
 * many bytes it made, so an encoder that makes nothing fails the run; `setup`, when given, makes
 * each call's input outside the timed part (a cold cache, a fresh batch).
 */
export async function encodeRate<T>(
  encode: (input: T) => number | Promise<number>, items: number, budgetMs: number, rounds: number, setup: () => T = () => undefined as T,
): Promise<{ best: number; med: number }> {
  const t0 = performance.now();
  await encode(setup());
  const once = Math.max(0.05, performance.now() - t0);
  const iters = Math.max(3, Math.round(budgetMs / once));
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    gc();
    let ms = 0;
    let bytes = 0;
    for (let i = 0; i < iters; i++) {
      const input = setup();
      const s = performance.now();
      bytes += await encode(input);
      ms += performance.now() - s;
    }
    if (bytes === 0) throw new Error('nothing encoded');
    rates.push((items * iters * 1000) / ms);
  }
  return { best: Math.max(...rates), med: median(rates) };
}

/** The base labels of `n` series with an inference model and tier each, as the encoding benchmarks use them. */
export function inferenceLabelSets(n: number, models = ['llama-3.1-8b', 'mistral-7b', 'qwen2.5-72b', 'gpt-oss-20b'], tiers = ['standard', 'priority']): Array<Record<string, string>> {
  return seriesLabels(n).map((l, i) => ({ ...l, model_name: models[i % models.length], service_tier: tiers[(i >> 2) % tiers.length] }));
}

/**
 * Runs `body(n)` `rounds` times and returns operations per second of the fastest round: the one
 * least disturbed by the other tenants of a shared 2-core machine.
 */
export function opsPerSecond(body: (n: number) => void, n: number, rounds: number): number {
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    body(n);
    const ms = performance.now() - t0;
    best = Math.max(best, (n * 1000) / ms);
  }
  return best;
}

/** Label values of series `i` out of `n`: the base labels every project series carries. */
export interface SeriesLabels {
  readonly project_id: string;
  readonly app_id: string;
  readonly app_name: string;
  readonly region: string;
}

export const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-northeast-1'] as const;
export const BENCH_PROJECT = 'p-bench0001';

export function seriesLabels(n: number, project = BENCH_PROJECT): SeriesLabels[] {
  const out: SeriesLabels[] = [];
  const apps = Math.ceil(n / REGIONS.length);
  for (let a = 0; a < apps && out.length < n; a++) {
    const app = `app-${a.toString().padStart(5, '0')}`;
    for (const region of REGIONS) {
      if (out.length === n) break;
      out.push({ project_id: project, app_id: `${project}-${app}`, app_name: app, region });
    }
  }
  return out;
}

/** Deterministic pseudo-random numbers, so every run observes the same values. */
export function rng(seed = 42): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

/** Latencies in seconds, log-spread from about 1 ms to 30 s like real request latencies. */
export function latencies(count: number, seed = 7): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.exp(Math.log(0.001) + r() * Math.log(30_000));
  return out;
}

export interface BenchGateway {
  readonly gw: RunningGateway;
  readonly baseUrl: string;
  readonly port: number;
  readonly dataDir: string;
  readonly project: { id: string; ingest: string; manage: string; monitoring: string };
  close(): Promise<void>;
}

/** A real gateway listening on 127.0.0.1, port 0, in a temp data dir, with one project and its tokens. */
export async function startGateway(file: Record<string, unknown> = {}, flags: ConfigFlags = {}): Promise<BenchGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meterway-bench-'));
  const configPath = join(dataDir, 'config.json');
  writeFileSync(configPath, JSON.stringify(file));
  const config = loadConfig(
    { dataDir, port: 0, host: '127.0.0.1', config: configPath, ...flags },
    { METERWAY_ADMIN_TOKEN: ADMIN_TOKEN, METERWAY_LOG_LEVEL: 'silent' },
  );
  const gw = await createGateway(config);
  await gw.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (gw.app.server.address() as AddressInfo).port;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const res = await gw.app.inject({ method: 'POST', url: '/v1/projects', headers: auth, payload: { name: 'bench' } });
  if (res.statusCode !== 201) throw new Error(`project create failed: ${res.body}`);
  const id = res.json().id as string;
  const token = async (scope: string): Promise<string> => {
    const t = await gw.app.inject({ method: 'POST', url: `/v1/projects/${id}/tokens`, headers: auth, payload: { scope, name: scope } });
    if (t.statusCode !== 201) throw new Error(`token create failed: ${t.body}`);
    return t.json().token as string;
  };
  const project = { id, ingest: await token('ingest'), manage: await token('manage'), monitoring: await token('monitoring') };
  return {
    gw,
    port,
    dataDir,
    baseUrl: `http://127.0.0.1:${port}`,
    project,
    async close() {
      await gw.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
