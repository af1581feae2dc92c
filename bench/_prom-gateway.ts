/**
 * The gateway side of bench/query-vs-prometheus.ts, in a child process of its own (so its RSS and
 * CPU are the gateway's alone, and the benchmark's HTTP client does not share its event loop):
 * a real gateway listening on 127.0.0.1 (port 0) in a temp data dir with `--retention 0` and a
 * raised `ingest.max_body_bytes`, one project with a manage and a monitoring token.
 *
 * Talks to its parent over IPC: sends `{type: 'ready', ...}` once listening, then answers
 * `{id, cmd}` messages: `mem` (after a full GC), `cpu`, `stats`, `chunks` (count, out of order), `checkpoint` (the store's checkpoint, then
 * file sizes), `truncate` (SQLite WAL checkpoint with TRUNCATE, then file sizes), `profile-start`
 * and `profile-stop` (a V8 CPU profile through the inspector, written to `path`), `close`.
 */
import { rmSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector';
import { startGateway } from './_util.js';

const MAX_BODY = Number(process.env.QVP_MAX_BODY ?? 64 * 1024 * 1024);

export interface GatewayReady {
  type: 'ready';
  port: number;
  dataDir: string;
  project: string;
  manage: string;
  monitoring: string;
  maxBody: number;
}

function fileSize(p: string): number {
  return existsSync(p) ? statSync(p).size : 0;
}

async function start(): Promise<void> {
  const { gw, port, dataDir, project } = await startGateway({ ingest: { max_body_bytes: MAX_BODY, rate_limit: { events_per_second: 0 } } }, { retention: '0' });
  const ready: GatewayReady = { type: 'ready', port, dataDir, project: project.id, manage: project.manage, monitoring: project.monitoring, maxBody: MAX_BODY };

  const dbFile = join(dataDir, 'tsdb.db');
  const sizes = () => ({ db: fileSize(dbFile), wal: fileSize(`${dbFile}-wal`), shm: fileSize(`${dbFile}-shm`) });
  let session: Session | undefined;
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => session!.post(method, params ?? {}, (err, r) => (err ? reject(err) : resolve(r as T))));

  process.on('message', async (m: { id: number; cmd: string; path?: string }) => {
    let reply: unknown;
    try {
      switch (m.cmd) {
        case 'mem': {
          const g = (globalThis as { gc?: () => void }).gc;
          for (let i = 0; g !== undefined && i < 4; i++) g();
          reply = process.memoryUsage();
          break;
        }
        case 'cpu':
          reply = process.cpuUsage();
          break;
        case 'stats':
          reply = gw.tsdb.stats();
          break;
        case 'chunks':
          reply = gw.tsdb.db.prepare('SELECT COUNT(*) AS chunks, COALESCE(SUM(kind = 1), 0) AS ooo FROM chunks').get();
          break;
        case 'maintain':
          gw.tsdb.maintain();
          reply = { ...sizes(), logBytes: gw.tsdb.stats().logBytes };
          break;
        case 'truncate':
          gw.tsdb.checkpoint();
          gw.tsdb.db.pragma('incremental_vacuum');
          gw.tsdb.db.pragma('wal_checkpoint(TRUNCATE)');
          reply = { ...sizes(), pages: gw.tsdb.db.pragma('page_count', { simple: true }), free: gw.tsdb.db.pragma('freelist_count', { simple: true }) };
          break;
        case 'profile-start':
          session = new Session();
          session.connect();
          await post('Profiler.enable');
          await post('Profiler.setSamplingInterval', { interval: 100 });
          await post('Profiler.start');
          reply = true;
          break;
        case 'profile-stop': {
          const r = await post<{ profile: unknown }>('Profiler.stop');
          writeFileSync(m.path!, JSON.stringify(r.profile));
          session!.disconnect();
          session = undefined;
          reply = true;
          break;
        }
        case 'close':
          await gw.close();
          rmSync(dataDir, { recursive: true, force: true });
          process.send!({ id: m.id, reply: true }, () => process.exit(0));
          return;
        default:
          throw new Error(`unknown command ${m.cmd}`);
      }
      process.send!({ id: m.id, reply });
    } catch (err) {
      process.send!({ id: m.id, error: (err as Error).stack ?? String(err) });
    }
  });
  process.on('disconnect', () => {
    // The parent went away without closing us: do not leave the temp dir behind.
    void gw.close().finally(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(1);
    });
  });
  process.send!(ready);
}

start().catch((err) => {
  console.error(err);
  process.exit(1);
});
