/**
 * Helpers for tests against real peer programs (promtool, Prometheus) and spawned processes: free
 * ports, bounded polling, running a program with stdin, starting and stopping a Prometheus server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const PROMTOOL_BIN = '/usr/bin/promtool';
export const hasPrometheus = existsSync(PROMETHEUS_BIN);
export const hasPromtool = existsSync(PROMTOOL_BIN);

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Calls `fn` until it returns something other than undefined (or stops throwing), every
 * `intervalMs`, for at most `timeoutMs`; then fails with the last error or `what`.
 */
export async function poll<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion without blocking the event loop (an in-process gateway keeps serving). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {}); // the program may exit before reading everything
    child.stdin.end(opts.input ?? '');
  });
}

/** `promtool check metrics` on an exposition body (stdin): exit code and what it said. */
export async function promtoolCheckMetrics(body: string | Buffer): Promise<RunResult> {
  return run(PROMTOOL_BIN, ['check', 'metrics'], { input: body });
}

/** A spawned long-running process whose output is collected, stopped by PID. */
export class Spawned {
  stdout = '';
  stderr = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Settles once its output pipes have closed too: later than `exit` where a grandchild (npx's) still writes. */
  closed: Promise<void>;
  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (b: Buffer) => (this.stdout += b.toString('utf8')));
    child.stderr?.on('data', (b: Buffer) => (this.stderr += b.toString('utf8')));
    this.exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    this.closed = new Promise((resolve) => child.on('close', () => resolve()));
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** SIGTERM, then SIGKILL if it has not gone within `graceMs`. */
  async stop(graceMs = 5_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited && this.child.pid !== undefined) {
      process.kill(this.child.pid, 'SIGTERM');
      const t = setTimeout(() => {
        if (!this.exited && this.child.pid !== undefined) process.kill(this.child.pid, 'SIGKILL');
      }, graceMs);
      const r = await this.exit;
      clearTimeout(t);
      return r;
    }
    return this.exit;
  }
}

export function spawnProcess(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Spawned {
  return new Spawned(spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
}

export interface PrometheusPeer {
  readonly url: string;
  readonly dir: string;
  readonly proc: Spawned;
  /** GET an HTTP API path, e.g. `/api/v1/query?query=up`; answers the parsed `data` or throws. */
  api<T = any>(path: string, params?: Record<string, string>): Promise<T>;
  /** Instant query; the vector's samples as {metric, value} with the value parsed. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  stop(): Promise<void>;
}

/**
 * Starts a peer's binary in `dir` and waits until `readyPath` answers 2xx; `stop` ends it and
 * removes `dir`. `api` GETs a Prometheus-style API path and answers its `data`, or throws.
 */
async function startPeer(
  name: string,
  bin: string,
  args: readonly string[],
  opts: { dir: string; url: string; readyPath: string; readyTimeoutMs?: number },
): Promise<{ proc: Spawned; api: (path: string, params?: Record<string, string>) => Promise<any>; stop: () => Promise<void> }> {
  const { dir, url } = opts;
  const proc = spawnProcess(bin, args, { cwd: dir });
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await poll(`${name} to be ready`, async () => {
      if (proc.exited) throw new Error(`${bin} exited early:\n${proc.stderr}`);
      const res = await fetch(`${url}${opts.readyPath}`);
      return res.ok ? true : undefined;
    }, opts.readyTimeoutMs ?? 15_000, 100);
  } catch (err) {
    await stop();
    throw err;
  }
  const api = async (path: string, params?: Record<string, string>): Promise<any> => {
    const q = params === undefined ? '' : `${path.includes('?') ? '&' : '?'}${new URLSearchParams(params).toString()}`;
    const res = await fetch(`${url}${path}${q}`);
    const body = (await res.json()) as { status: string; data?: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`${name} ${path}: ${res.status} ${body.error ?? JSON.stringify(body)}`);
    return body.data;
  };
  return { proc, api, stop };
}

/**
 * Starts a real Prometheus on a free loopback port with `configYaml`, its TSDB in `dir/data`
 * (`dir` a new temp directory unless given; removed by `stop`), and waits until it is ready.
 * `args` are further command-line flags.
 */
export async function startPrometheus(configYaml: string, opts: { readyTimeoutMs?: number; dir?: string; args?: readonly string[] } = {}): Promise<PrometheusPeer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'meterway-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, configYaml);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const { proc, api, stop } = await startPeer('Prometheus', PROMETHEUS_BIN, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
    ...(opts.args ?? []),
  ], { dir, url, readyPath: '/-/ready', readyTimeoutMs: opts.readyTimeoutMs });
  return {
    url,
    dir,
    proc,
    api,
    async query(expr: string) {
      const data = await api('/api/v1/query', { query: expr });
      if (data.resultType !== 'vector') throw new Error(`expected a vector for ${expr}, got ${data.resultType}`);
      return (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((s) => ({
        metric: s.metric,
        value: Number(s.value[1]),
      }));
    },
    stop,
  };
}

/**
 * A loopback reverse proxy to `127.0.0.1:targetPort` that sets `headers` on every request: for
 * clients that cannot send a bearer token themselves (promtool 2.42's `query instant`, `series`
 * and `labels` have no `--http.config.file` or `--header`).
 */
export async function startHeaderProxy(targetPort: number, headers: Record<string, string>): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer: createHttpServer, request } = await import('node:http');
  const server = createHttpServer((req, res) => {
    const up = request({
      host: '127.0.0.1', port: targetPort, method: req.method, path: req.url,
      headers: { ...req.headers, host: `127.0.0.1:${targetPort}`, ...headers },
    }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Whether `promtool <args...> --help` mentions `flag` (flags differ between promtool versions). */
export async function promtoolHasFlag(args: readonly string[], flag: string): Promise<boolean> {
  if (!hasPromtool) return false;
  const r = await run(PROMTOOL_BIN, [...args, '--help']);
  return `${r.stdout}${r.stderr}`.includes(flag);
}

export const VICTORIA_METRICS_BIN = '/usr/bin/victoria-metrics';
export const hasVictoriaMetrics = existsSync(VICTORIA_METRICS_BIN);

export interface VictoriaMetricsPeer {
  readonly url: string;
  readonly dir: string;
  readonly proc: Spawned;
  /** GET a Prometheus-compatible API path; answers the parsed `data` or throws. */
  api<T = any>(path: string, params?: Record<string, string>): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts a real single-node VictoriaMetrics on a free loopback port, its data in a new temp
 * directory (removed by `stop`), and waits until it is healthy. It takes remote write at
 * `/api/v1/write` and answers PromQL at `/api/v1/query`. `-search.latencyOffset=0s` makes samples
 * searchable as soon as they are in (the default hides the last 30 s) and `-search.disableCache`
 * keeps an answer from outliving a later write; `args` are further flags.
 */
export async function startVictoriaMetrics(opts: { readyTimeoutMs?: number; args?: readonly string[] } = {}): Promise<VictoriaMetricsPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'meterway-victoria-metrics-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const { proc, api, stop } = await startPeer('VictoriaMetrics', VICTORIA_METRICS_BIN, [
    `-httpListenAddr=127.0.0.1:${port}`,
    `-storageDataPath=${join(dir, 'data')}`,
    '-search.latencyOffset=0s',
    '-search.disableCache',
    '-loggerLevel=ERROR',
    ...(opts.args ?? []),
  ], { dir, url, readyPath: '/health', readyTimeoutMs: opts.readyTimeoutMs });
  return { url, dir, proc, api, stop };
}
