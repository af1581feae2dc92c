/**
 * Prometheus 2.42 for bench/query-vs-prometheus.ts: blocks backfilled with
 * `promtool tsdb create-blocks-from openmetrics` into the data dir, then the server started on it
 * (127.0.0.1, a free port, no scrape targets). Reuses test/peers.ts for ports, polling and
 * process handling.
 */
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROMETHEUS_BIN, PROMTOOL_BIN, run, startPrometheus, type PrometheusPeer } from '../test/peers.js';

export { PROMETHEUS_BIN, PROMTOOL_BIN };

export function promDirs(): { dir: string; dataDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'meterway-qvp-prom-'));
  return { dir, dataDir: join(dir, 'data') };
}

/**
 * Backfills `file` into `dataDir`. `--max-block-duration` 54h (the next compatible range above
 * 24 h): promtool reads the whole input once per block window, so 2 h blocks would mean 12 passes
 * over the file; a Prometheus with 30d retention compacts to blocks of this order anyway.
 */
export async function backfill(file: string, dataDir: string, maxBlockDuration = '54h'): Promise<string> {
  const r = await run(PROMTOOL_BIN, ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', `--max-block-duration=${maxBlockDuration}`, file, dataDir], {
    timeoutMs: 30 * 60_000,
  });
  if (r.code !== 0) throw new Error(`promtool create-blocks-from openmetrics failed (${r.code}):\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  return r.stdout + r.stderr;
}

/** Bytes of every file under `dir`. */
export function dirSize(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirSize(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

/** The block directories (ULIDs) under a Prometheus data dir. */
export function blockDirs(dataDir: string): string[] {
  return readdirSync(dataDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^[0-9A-Z]{26}$/.test(e.name))
    .map((e) => join(dataDir, e.name));
}

/** Prometheus on the backfilled data in `dir/data` (see promDirs), no scrape targets. */
export function startProm(dir: string, retention = '30d'): Promise<PrometheusPeer> {
  return startPrometheus('global:\n  scrape_interval: 15s\n', { dir, args: [`--storage.tsdb.retention.time=${retention}`], readyTimeoutMs: 120_000 });
}

/** VmRSS of a process in bytes (Linux). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSyncSafe(`/proc/${pid}/status`));
  return m === null ? NaN : Number(m[1]) * 1024;
}

function readFileSyncSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
