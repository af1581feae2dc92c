/**
 * The embedded time-series store: series per project, samples in compressed chunks in SQLite
 * (`tsdb.db`, WAL mode), an append log for crash safety, retention by whole chunks.
 * See README.md for the design and why SQLite.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import type { Labels } from '../core/labels.js';
import { explainSqliteError, openSqliteFile, type SqliteFileRole } from '../store/sqlite-file.js';
import type { MetricMetadata, Queryable } from '../core/queryable.js';
import { chunkCount, decodeChunk, decodeChunkInto, encodeChunk, validTimestamp } from './chunk.js';
import { GROUP_HEADER_BYTES, GROUP_MEMBER_BYTES, chunksIn, encodeGroup, type GroupMember } from './group.js';
import { ProjectIndex } from './postings.js';
import { TsdbQuerier } from './querier.js';
import { MemSeries } from './series.js';

export interface TsdbOptions {
  /** Directory of the database file; ignored when `path` is given. */
  readonly dir?: string;
  /** Database file (default `dir/tsdb.db`). */
  readonly path?: string;
  /** Samples older than now - retentionMs are dropped; 0 keeps everything. */
  readonly retentionMs?: number;
  /** Samples per chunk (default 120, as Prometheus). */
  readonly chunkSamples?: number;
  /**
   * In-order chunks are packed into rows of up to this many bytes (default 960: what SQLite
   * keeps inside a 4 KiB page for a row of this table; larger rows spill into overflow pages,
   * which made reads slower, not faster). Fewer rows make long reads cheaper; retention drops a
   * row only when all of it is past.
   */
  readonly groupBytes?: number;
  /** Append-log size past which open heads are saved and the log emptied (default 16 MiB). */
  readonly checkpointBytes?: number;
  /**
   * A head or out-of-order buffer not appended to for this long is written out as a (short)
   * chunk by `maintain`, freeing its memory: series that stopped do not hold heads forever.
   * Also the longest time the append log goes without a checkpoint. Default one hour.
   */
  readonly idleCutMs?: number;
  /**
   * SQLite's synchronous setting. `full` (default) syncs the log on every commit, so a committed
   * batch survives a power loss too; `normal` survives process crashes (kill -9) only.
   */
  readonly synchronous?: 'full' | 'normal';
  /** Wall clock (ms), for retention. */
  readonly now?: () => number;
}

export interface Sample {
  readonly labels: Labels;
  readonly t: number;
  readonly v: number;
}

export interface AppendResult {
  /** Samples stored (in order or out of order). */
  appended: number;
  /** Of those, samples at or before their series' newest timestamp. */
  outOfOrder: number;
  /** Samples refused: bad timestamp, older than retention, or a label set without a name. */
  rejected: number;
  /** Positions (in the input) of the refused samples, so an importer can name their lines. */
  rejectedAt: number[];
}

export type { MetricMetadata };

export interface TsdbStats {
  projects: number;
  series: number;
  headSamples: number;
  oooSamples: number;
  logBytes: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, project TEXT NOT NULL, labels TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
  series_id INTEGER NOT NULL, max_t INTEGER NOT NULL, seq INTEGER NOT NULL,
  min_t INTEGER NOT NULL, kind INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (series_id, max_t, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (series_id INTEGER PRIMARY KEY, last_t INTEGER NOT NULL, head BLOB, ooo BLOB);
CREATE TABLE IF NOT EXISTS wal (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS metadata (project TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
  help TEXT NOT NULL, unit TEXT NOT NULL, PRIMARY KEY (project, name)) WITHOUT ROWID;
`;

const PROJECT_LABEL = 'project_id';

const TSDB_FILE: SqliteFileRole = {
  what: 'the embedded time-series store',
  startEmpty: 'an empty store (the samples stored so far are then not served, and counters start again from zero)',
};

/** 4 MiB of 4 KiB pages: below that, giving pages back is not worth moving pages around for. */
const FREE_PAGES_TO_VACUUM = 1024;

/** `chunks.kind`: what a row's blob holds. */
const KIND_OPEN = 0; // one in-order chunk, to be packed with the next ones
const KIND_OOO = 1; // one out-of-order chunk: reads must merge it by timestamp
const KIND_PACKED = 2; // in-order and final: a group of chunks (group.ts), or one that fits no group

/** A chunk row as reads see it. */
export interface ChunkRow {
  readonly kind: number;
  readonly seq: number;
  readonly data: Uint8Array;
}

export class Tsdb implements Queryable {
  readonly db: SQLite.Database;
  readonly retentionMs: number;
  private readonly chunkSamples: number;
  private readonly groupBytes: number;
  private readonly checkpointBytes: number;
  private readonly idleCutMs: number;
  private lastCheckpointMs: number;
  private readonly now: () => number;
  private readonly projects = new Map<string, ProjectIndex>();
  private readonly byId = new Map<number, MemSeries>();
  /** Label objects seen before, so a caller reusing its label objects skips canonicalising. */
  private readonly labelCache = new WeakMap<Labels, MemSeries>();
  private readonly metadataByProject = new Map<string, Map<string, MetricMetadata>>();
  private nextSeq = 1;
  private logBytes = 0;
  private replaying = false;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private readonly stmts: {
    insertSeries: SQLite.Statement;
    deleteSeries: SQLite.Statement;
    insertChunk: SQLite.Statement;
    readChunks: SQLite.Statement;
    readOpen: SQLite.Statement;
    deleteOpen: SQLite.Statement;
    insertLog: SQLite.Statement;
    insertHead: SQLite.Statement;
    clearHeads: SQLite.Statement;
    clearLog: SQLite.Statement;
    deleteOldChunks: SQLite.Statement;
    chunkBounds: SQLite.Statement;
    upsertMetadata: SQLite.Statement;
  };

  private constructor(db: SQLite.Database, opts: TsdbOptions) {
    this.db = db;
    this.retentionMs = opts.retentionMs ?? 0;
    this.chunkSamples = opts.chunkSamples ?? 120;
    this.groupBytes = opts.groupBytes ?? 960;
    this.checkpointBytes = opts.checkpointBytes ?? 16 * 1024 * 1024;
    this.idleCutMs = opts.idleCutMs ?? 3_600_000;
    this.now = opts.now ?? Date.now;
    this.lastCheckpointMs = this.now();
    this.stmts = {
      insertSeries: db.prepare('INSERT INTO series (project, labels) VALUES (?, ?)'),
      deleteSeries: db.prepare('DELETE FROM series WHERE id = ?'),
      insertChunk: db.prepare('INSERT INTO chunks (series_id, max_t, seq, min_t, kind, data) VALUES (?, ?, ?, ?, ?, ?)'),
      readChunks: db.prepare('SELECT kind, seq, data FROM chunks WHERE series_id = ? AND max_t >= ? AND min_t <= ? ORDER BY max_t, seq'),
      readOpen: db.prepare(`SELECT max_t AS maxT, min_t AS minT, data FROM chunks WHERE series_id = ? AND max_t >= ? AND kind = ${KIND_OPEN} ORDER BY max_t`),
      deleteOpen: db.prepare(`DELETE FROM chunks WHERE series_id = ? AND max_t >= ? AND max_t <= ? AND kind = ${KIND_OPEN}`),
      insertLog: db.prepare('INSERT INTO wal (data) VALUES (?)'),
      insertHead: db.prepare('INSERT INTO heads (series_id, last_t, head, ooo) VALUES (?, ?, ?, ?)'),
      clearHeads: db.prepare('DELETE FROM heads'),
      clearLog: db.prepare('DELETE FROM wal'),
      deleteOldChunks: db.prepare('DELETE FROM chunks WHERE series_id = ? AND max_t < ?'),
      chunkBounds: db.prepare(`SELECT MIN(min_t) AS lo, MAX(max_t) AS hi, MIN(max_t) AS oldest, MAX(kind = ${KIND_OOO}) AS ooo FROM chunks WHERE series_id = ?`),
      upsertMetadata: db.prepare(
        'INSERT INTO metadata (project, name, type, help, unit) VALUES (?, ?, ?, ?, ?) ON CONFLICT (project, name) DO UPDATE SET type = excluded.type, help = excluded.help, unit = excluded.unit',
      ),
    };
  }

  /**
   * Opens (or creates) the store and recovers what the last run left: heads, then the log. A
   * damaged file is refused with a StartupError naming it and what to do.
   */
  static open(opts: TsdbOptions): Tsdb {
    const path = opts.path ?? join(opts.dir ?? '.', 'tsdb.db');
    if (path !== ':memory:') mkdirSync(join(path, '..'), { recursive: true });
    // No quick_check here, unlike the control database: the store can be gigabytes, and load()
    // reads every series and chunk row anyway, which is where damage in them shows.
    const db = openSqliteFile(path, TSDB_FILE);
    try {
      return Tsdb.setUp(db, opts);
    } catch (err) {
      try {
        db.close();
      } catch {
        // the error that stopped the open is the one to report
      }
      throw path === ':memory:' ? err : explainSqliteError(path, TSDB_FILE, err);
    }
  }

  private static setUp(db: SQLite.Database, opts: TsdbOptions): Tsdb {
    // Must precede the first table, or it has no effect: lets retention hand space back.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    db.pragma('busy_timeout = 5000');
    // Without a limit the WAL file keeps its high-water size for as long as the gateway runs
    // (tens of MB after a backfill); with one, each checkpoint truncates it back.
    db.pragma('journal_size_limit = 8388608');
    // Reads through a memory map instead of a read() call per page: a long range query touches
    // tens of thousands of pages, and the copies and system calls were a large part of it (as
    // Prometheus mmaps its chunks). 2 GiB is the most this SQLite build maps; beyond, it reads.
    db.pragma('mmap_size = 2147418112');
    migrate(db);
    db.exec(SCHEMA);
    const store = new Tsdb(db, opts);
    store.load();
    return store;
  }

  private load(): void {
    for (const row of this.db.prepare('SELECT id, project, labels FROM series ORDER BY id').iterate() as Iterable<{ id: number; project: string; labels: string }>) {
      const pairs = JSON.parse(row.labels) as string[];
      this.addSeries(new MemSeries(row.id, row.project, row.labels, pairs, pairsToLabels(pairs)));
    }
    const bounds = this.db.prepare(`SELECT series_id AS id, MIN(min_t) AS lo, MAX(max_t) AS hi, MIN(max_t) AS oldest, MAX(kind = ${KIND_OOO}) AS ooo, MAX(seq) AS seq FROM chunks GROUP BY series_id`).all() as Array<{ id: number; lo: number; hi: number; oldest: number; ooo: number; seq: number }>;
    for (const b of bounds) {
      const s = this.byId.get(b.id);
      if (s === undefined) continue;
      s.storedMinT = b.lo;
      s.storedMaxT = b.hi;
      s.oldestChunkMaxT = b.oldest;
      s.storedOoo = b.ooo === 1;
      if (b.seq >= this.nextSeq) this.nextSeq = b.seq + 1;
    }
    // lastT as it was at the checkpoint, not from the chunk bounds: chunks cut after it are on
    // disk already, and taking their max_t would make the log's samples look out of order.
    for (const row of this.db.prepare('SELECT series_id AS id, last_t, head, ooo FROM heads').iterate() as Iterable<{ id: number; last_t: number; head: Buffer | null; ooo: Buffer | null }>) {
      const s = this.byId.get(row.id);
      if (s === undefined) continue;
      s.lastT = row.last_t;
      // Restored heads count as just appended to: a restart must not cut every head short.
      s.lastAppendMs = this.now();
      if (row.head !== null) {
        const { ts, vs } = decodeChunk(row.head);
        for (let i = 0; i < ts.length; i++) s.pushHead(ts[i], vs[i], this.chunkSamples);
      }
      if (row.ooo !== null) {
        const { ts, vs } = decodeChunk(row.ooo);
        for (let i = 0; i < ts.length; i++) s.pushOoo(ts[i], vs[i], this.chunkSamples);
      }
    }
    for (const row of this.db.prepare('SELECT project, name, type, help, unit FROM metadata').iterate() as Iterable<{ project: string; name: string } & MetricMetadata>) {
      this.metadataMap(row.project).set(row.name, { type: row.type, help: row.help, unit: row.unit });
    }
    // Replaying re-derives head state and chunk cuts exactly as they happened; chunks cut after the
    // last checkpoint are already on disk (same transaction as their log record), so none is written.
    this.replaying = true;
    try {
      for (const row of this.db.prepare('SELECT data FROM wal ORDER BY id').iterate() as Iterable<{ data: Buffer }>) {
        this.replayRecord(row.data);
      }
    } finally {
      this.replaying = false;
    }
    // Counted after the replay, which writes nothing: what is on disk now is the truth.
    const open = this.db.prepare(`SELECT series_id AS id, SUM(LENGTH(data)) AS bytes, MIN(max_t) AS since FROM chunks WHERE kind = ${KIND_OPEN} GROUP BY series_id`).all() as Array<{ id: number; bytes: number; since: number }>;
    for (const o of open) {
      const s = this.byId.get(o.id);
      if (s === undefined) continue;
      s.openBytes = o.bytes;
      s.openSinceMaxT = o.since;
    }
    this.checkpoint();
  }

  private addSeries(s: MemSeries): void {
    let idx = this.projects.get(s.project);
    if (idx === undefined) this.projects.set(s.project, (idx = new ProjectIndex(s.project)));
    idx.add(s);
    this.byId.set(s.id, s);
  }

  private metadataMap(project: string): Map<string, MetricMetadata> {
    let m = this.metadataByProject.get(project);
    if (m === undefined) this.metadataByProject.set(project, (m = new Map()));
    return m;
  }

  /**
   * The series for a label set in `project`, created when new (inside the caller's transaction).
   * `project_id` is forced to the project and empty values dropped (Prometheus treats an empty
   * label as absent). Undefined for a label set without a metric name.
   */
  private resolve(project: string, labels: Labels): MemSeries | undefined {
    const cached = this.labelCache.get(labels);
    if (cached !== undefined && cached.project === project && !cached.deleted) return cached;
    const names: string[] = [];
    for (const n in labels) {
      const v = labels[n];
      if (typeof v === 'string' && v !== '' && n !== PROJECT_LABEL) names.push(n);
    }
    if (!names.includes('__name__')) return undefined;
    names.push(PROJECT_LABEL);
    names.sort();
    const pairs: string[] = [];
    for (const n of names) pairs.push(n, n === PROJECT_LABEL ? project : labels[n]);
    const key = JSON.stringify(pairs);
    let s = this.projects.get(project)?.byKey.get(key);
    if (s === undefined) {
      const id = Number(this.stmts.insertSeries.run(project, key).lastInsertRowid);
      // The strings come back fresh from the key: the caller's may be slices of a large request
      // body (an import), which a long-lived series would otherwise keep whole in memory.
      const own = JSON.parse(key) as string[];
      s = new MemSeries(id, project, key, own, pairsToLabels(own));
      this.addSeries(s);
    }
    this.labelCache.set(labels, s);
    return s;
  }

  /**
   * A reference to the series of a label set, for `appendRefs` (creates the series). Undefined when
   * the label set has no metric name.
   */
  ref(project: string, labels: Labels): number | undefined {
    return this.refs(project, [labels])[0];
  }

  /** References for many label sets, new series created in one transaction (one sync, not one each). */
  refs(project: string, labels: readonly Labels[]): Array<number | undefined> {
    return this.db.transaction(() => labels.map((l) => this.resolve(project, l)?.id))();
  }

  /**
   * Appends samples of one project as one durable transaction: when this returns, a crash loses
   * none of them. Samples at or before a series' newest timestamp are kept as out-of-order data;
   * a second sample at the same timestamp replaces the first (last write wins). Label objects
   * are remembered (weakly) to skip canonicalising them next time: do not mutate one after use.
   */
  appendBatch(project: string, samples: readonly Sample[]): AppendResult {
    return this.appendProjects([{ project, samples }])[0];
  }

  /**
   * Appends several projects' batches as one durable transaction (one sync for a whole sampler
   * tick, however many projects); one result per batch.
   */
  appendProjects(batches: ReadonlyArray<{ readonly project: string; readonly samples: readonly Sample[] }>): AppendResult[] {
    let total = 0;
    for (const b of batches) total += b.samples.length;
    const log = new LogBuilder(total);
    const minT = this.oldestAcceptedMs();
    const wall = this.now();
    const results = batches.map((): AppendResult => ({ appended: 0, outOfOrder: 0, rejected: 0, rejectedAt: [] }));
    this.db.transaction(() => {
      batches.forEach(({ project, samples }, b) => {
        const res = results[b];
        for (let i = 0; i < samples.length; i++) {
          const smp = samples[i];
          // Checked before resolving, so a refused sample does not leave an empty series behind.
          const s = validTimestamp(smp.t) && smp.t >= minT && typeof smp.v === 'number' ? this.resolve(project, smp.labels) : undefined;
          if (s === undefined) {
            res.rejected++;
            res.rejectedAt.push(i);
            continue;
          }
          if (this.apply(s, smp.t, smp.v)) res.outOfOrder++;
          s.lastAppendMs = wall;
          res.appended++;
          log.add(s.id, smp.t, smp.v);
        }
      });
      this.writeLog(log);
    })();
    this.maybeCheckpoint();
    return results;
  }

  /** Columnar append by series references (from `ref`): the bulk path for import and benchmarks. */
  appendRefs(project: string, refs: ArrayLike<number>, ts: ArrayLike<number>, vs: Float64Array): AppendResult {
    const res: AppendResult = { appended: 0, outOfOrder: 0, rejected: 0, rejectedAt: [] };
    const log = new LogBuilder(refs.length);
    const minT = this.oldestAcceptedMs();
    const wall = this.now();
    this.db.transaction(() => {
      for (let i = 0; i < refs.length; i++) {
        const s = this.byId.get(refs[i]);
        const t = ts[i];
        if (s === undefined || s.project !== project || s.deleted || !validTimestamp(t) || t < minT) {
          res.rejected++;
          res.rejectedAt.push(i);
          continue;
        }
        if (this.apply(s, t, vs[i])) res.outOfOrder++;
        s.lastAppendMs = wall;
        res.appended++;
        log.add(s.id, t, vs[i]);
      }
      this.writeLog(log);
    })();
    this.maybeCheckpoint();
    return res;
  }

  /** The oldest timestamp an append accepts now (-Infinity with retention 0). */
  oldestAcceptedMs(): number {
    return this.retentionMs > 0 ? this.now() - this.retentionMs : -Infinity;
  }

  /** Adds one sample to a series' head or out-of-order buffer; true when out of order. */
  private apply(s: MemSeries, t: number, v: number): boolean {
    if (t > s.lastT) {
      if (s.headN >= this.chunkSamples) this.cutHead(s);
      s.pushHead(t, v, this.chunkSamples);
      s.lastT = t;
      return false;
    }
    s.pushOoo(t, v, this.chunkSamples);
    if (s.oooN >= this.chunkSamples) this.flushOoo(s);
    return true;
  }

  private cutHead(s: MemSeries): void {
    const n = s.headN;
    const minT = s.headT![0];
    const maxT = s.headT![n - 1];
    if (!this.replaying) {
      const data = encodeChunk(s.headT!, s.headV!, n);
      this.stmts.insertChunk.run(s.id, maxT, this.nextSeq++, minT, KIND_OPEN, data);
      if (s.openBytes === 0) s.openSinceMaxT = maxT;
      s.openBytes += data.length;
      if (s.openBytes >= this.groupBytes) this.packOpen(s);
    }
    s.noteChunk(minT, maxT, false);
    s.clearHead();
  }

  /**
   * Packs a series' open chunks, oldest first, into rows of at most `groupBytes`, inside the
   * caller's transaction; the last run, which the next chunks may still fill, stays open. The
   * open chunks are the series' newest in-order rows, just written and still in SQLite's page
   * cache, so this costs a read of a few pages.
   */
  private packOpen(s: MemSeries): void {
    const rows = this.stmts.readOpen.all(s.id, s.openSinceMaxT) as GroupMember[];
    let from = 0;
    let bytes = GROUP_HEADER_BYTES;
    for (let i = 0; i < rows.length; i++) {
      const add = rows[i].data.length + GROUP_MEMBER_BYTES;
      if (i > from && bytes + add > this.groupBytes) {
        this.writePacked(s, rows.slice(from, i));
        from = i;
        bytes = GROUP_HEADER_BYTES;
      }
      bytes += add;
    }
    s.openBytes = 0;
    for (let i = from; i < rows.length; i++) s.openBytes += rows[i].data.length;
    s.openSinceMaxT = from < rows.length ? rows[from].maxT : Infinity;
  }

  private writePacked(s: MemSeries, members: GroupMember[]): void {
    const first = members[0];
    const last = members[members.length - 1];
    this.stmts.deleteOpen.run(s.id, first.maxT, last.maxT);
    const data = members.length === 1 ? first.data : encodeGroup(members);
    this.stmts.insertChunk.run(s.id, last.maxT, this.nextSeq++, first.minT, KIND_PACKED, data);
  }

  /** Writes the out-of-order buffer as one chunk, sorted, later writes winning ties. */
  private flushOoo(s: MemSeries): void {
    const { ts, vs, n } = sortDedupe(s.oooT!, s.oooV!, s.oooN);
    if (!this.replaying) this.stmts.insertChunk.run(s.id, ts[n - 1], this.nextSeq++, ts[0], KIND_OOO, encodeChunk(ts, vs, n));
    s.noteChunk(ts[0], ts[n - 1], true);
    s.clearOoo();
  }

  private writeLog(log: LogBuilder): void {
    if (log.n === 0 || this.replaying) return;
    const rec = log.encode();
    this.stmts.insertLog.run(rec);
    this.logBytes += rec.length;
  }

  private replayRecord(buf: Buffer): void {
    let off = 0;
    const groups = buf.readUInt32LE(off);
    off += 4;
    for (let g = 0; g < groups; g++) {
      const id = buf.readUInt32LE(off);
      const len = buf.readUInt32LE(off + 4);
      off += 8;
      const s = this.byId.get(id);
      if (s !== undefined) {
        const { ts, vs } = decodeChunk(buf.subarray(off, off + len));
        for (let i = 0; i < ts.length; i++) this.apply(s, ts[i], vs[i]);
      }
      off += len;
    }
  }

  private maybeCheckpoint(): void {
    if (this.logBytes >= this.checkpointBytes) this.checkpoint();
  }

  /**
   * Saves every open head and out-of-order buffer and empties the append log, in one
   * transaction: recovery then starts from these heads instead of replaying a growing log.
   */
  checkpoint(): void {
    this.db.transaction(() => this.checkpointInTx())();
  }

  private checkpointInTx(): void {
    this.stmts.clearHeads.run();
    for (const s of this.byId.values()) {
      if (s.lastT === -Infinity) continue;
      const head = s.headN > 0 ? encodeChunk(s.headT!, s.headV!, s.headN) : null;
      const ooo = s.oooN > 0 ? encodeChunk(s.oooT!, s.oooV!, s.oooN) : null;
      this.stmts.insertHead.run(s.id, s.lastT, head, ooo);
    }
    this.stmts.clearLog.run();
    this.logBytes = 0;
    this.lastCheckpointMs = this.now();
  }

  /**
   * Periodic upkeep: retention, then heads idle for `idleCutMs` written out as chunks (their
   * memory released), then a checkpoint when anything was cut or the log is older than
   * `idleCutMs`. A cut outside the sample sequence is only safe inside a checkpoint's
   * transaction: replay must never cross it, and the emptied log makes sure it does not.
   */
  maintain(nowMs = this.now()): { chunkRowsDeleted: number; seriesDeleted: number; headsCut: number } {
    const ret = this.applyRetention(nowMs);
    let headsCut = 0;
    const idleBefore = nowMs - this.idleCutMs;
    this.db.transaction(() => {
      for (const s of this.byId.values()) {
        if (s.lastAppendMs >= idleBefore || (s.headN === 0 && s.oooN === 0)) continue;
        if (s.headN > 0) this.cutHead(s);
        if (s.oooN > 0) this.flushOoo(s);
        s.releaseHead();
        headsCut++;
      }
      if (headsCut > 0 || (this.logBytes > 0 && this.lastCheckpointMs < idleBefore)) this.checkpointInTx();
    })();
    this.shrinkFiles();
    return { ...ret, headsCut };
  }

  /**
   * Hands space back to the file system: free pages (left by packing and retention) once there
   * are more than FREE_PAGES_TO_VACUUM, and SQLite's WAL file, which otherwise keeps its size
   * up to journal_size_limit. Right after importing 57.6 M samples, the two came to 9 MiB
   * (1.85 bytes a sample on disk instead of 1.69).
   */
  private shrinkFiles(): void {
    if ((this.db.pragma('freelist_count', { simple: true }) as number) > FREE_PAGES_TO_VACUUM) this.db.pragma('incremental_vacuum');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /**
   * Drops rows wholly older than now - retentionMs (a chunk or a packed group of chunks: a row
   * straddling the cutoff stays until it is wholly past), and series left without data. Cheap
   * when nothing is due: each series keeps the max_t of its oldest row.
   */
  applyRetention(nowMs = this.now()): { chunkRowsDeleted: number; seriesDeleted: number } {
    const out = { chunkRowsDeleted: 0, seriesDeleted: 0 };
    if (this.retentionMs <= 0) return out;
    const cutoff = nowMs - this.retentionMs;
    let touched = false;
    this.db.transaction(() => {
      for (const s of [...this.byId.values()]) {
        if (s.oldestChunkMaxT < cutoff) {
          out.chunkRowsDeleted += this.stmts.deleteOldChunks.run(s.id, cutoff).changes;
          const b = this.stmts.chunkBounds.get(s.id) as { lo: number | null; hi: number | null; oldest: number | null; ooo: number | null };
          s.storedMinT = b.lo ?? Infinity;
          s.storedMaxT = b.hi ?? -Infinity;
          s.oldestChunkMaxT = b.oldest ?? Infinity;
          s.storedOoo = b.ooo === 1;
          touched = true;
        }
        if (s.headN > 0 && s.headT![s.headN - 1] < cutoff) {
          s.clearHead();
          touched = true;
        }
        if (s.oooN > 0 && s.maxOooT() < cutoff) {
          s.clearOoo();
          touched = true;
        }
        if (s.isEmpty()) {
          this.stmts.deleteSeries.run(s.id);
          s.deleted = true;
          this.byId.delete(s.id);
          const idx = this.projects.get(s.project)!;
          idx.remove(s);
          if (idx.size === 0) this.projects.delete(s.project);
          out.seriesDeleted++;
          touched = true;
        }
      }
      // The heads table and the log may name what was just dropped: rewrite them now.
      if (touched) this.checkpointInTx();
    })();
    if (touched) this.db.pragma('incremental_vacuum');
    return out;
  }

  /** Runs `maintain` (retention, idle heads written out, checkpoint) every `intervalMs` (default one minute) until close. */
  startRetention(intervalMs = 60_000): void {
    if (this.maintenanceTimer !== undefined) return;
    this.maintenanceTimer = setInterval(() => this.maintain(), intervalMs);
    this.maintenanceTimer.unref();
  }

  /**
   * Deletes everything stored for a project (series, chunks, heads, metadata), for a project
   * that is deleted for good. Stop the sampler's markers for it first (`Sampler.forget`), or its
   * next tick writes staleness markers that bring the series back.
   */
  dropProject(project: string): number {
    const idx = this.projects.get(project);
    const series = idx === undefined ? [] : [...idx.byKey.values()];
    this.db.transaction(() => {
      const delChunks = this.db.prepare('DELETE FROM chunks WHERE series_id = ?');
      for (const s of series) {
        delChunks.run(s.id);
        this.stmts.deleteSeries.run(s.id);
        s.deleted = true;
        this.byId.delete(s.id);
      }
      this.db.prepare('DELETE FROM metadata WHERE project = ?').run(project);
      this.projects.delete(project);
      this.metadataByProject.delete(project);
      // The heads table and the log may name the dropped series.
      this.checkpointInTx();
    })();
    this.db.pragma('incremental_vacuum');
    return series.length;
  }

  /** Records a metric's type, help and unit for a project (written only when it changed). */
  setMetadata(project: string, name: string, meta: MetricMetadata): void {
    const m = this.metadataMap(project);
    const old = m.get(name);
    if (old !== undefined && old.type === meta.type && old.help === meta.help && old.unit === meta.unit) return;
    m.set(name, { type: meta.type, help: meta.help, unit: meta.unit });
    this.stmts.upsertMetadata.run(project, name, meta.type, meta.help, meta.unit);
  }

  /** Several metrics' metadata in one transaction (one sync instead of one per metric). */
  setMetadataAll(project: string, entries: ReadonlyArray<readonly [name: string, meta: MetricMetadata]>): void {
    this.db.transaction(() => {
      for (const [name, meta] of entries) this.setMetadata(project, name, meta);
    })();
  }

  /** Metric metadata of one project. */
  metadata(project: string): ReadonlyMap<string, MetricMetadata> {
    return this.metadataByProject.get(project) ?? new Map();
  }

  /** Projects with stored series. */
  projectIds(): string[] {
    return [...this.projects.keys()];
  }

  /** A project's index (undefined when it has no series). For the querier only. */
  index(project: string): ProjectIndex | undefined {
    return this.projects.get(project);
  }

  querier(project: string, minMs: number, maxMs: number): TsdbQuerier {
    return new TsdbQuerier(this, project, minMs, maxMs);
  }

  /**
   * One series' samples in [minMs, maxMs], merged across chunks, head and out-of-order data;
   * null when there are none. Values in a Float64Array (keeps staleness markers).
   */
  read(s: MemSeries, minMs: number, maxMs: number): { ts: Float64Array; vs: Float64Array } | null {
    const rows: ChunkRow[] = s.storedMaxT >= minMs && s.storedMinT <= maxMs ? (this.stmts.readChunks.all(s.id, minMs, maxMs) as ChunkRow[]) : [];
    const headIn = s.headN > 0 && s.headT![0] <= maxMs && s.headT![s.headN - 1] >= minMs;
    let oooIn = false;
    for (let i = 0; i < s.oooN && !oooIn; i++) oooIn = s.oooT![i] >= minMs && s.oooT![i] <= maxMs;
    let total = headIn ? s.headN : 0;
    let merge = oooIn;
    // Each row's chunks that can meet the range (a group holds many), with the row's precedence.
    const parts: Uint8Array[] = [];
    const partPrio: number[] = [];
    for (const r of rows) {
      const before = parts.length;
      chunksIn(r.data, minMs, maxMs, parts);
      for (let i = before; i < parts.length; i++) {
        total += chunkCount(parts[i]);
        partPrio.push(r.kind === KIND_OOO ? r.seq : 0);
      }
      if (r.kind === KIND_OOO) merge = true;
    }
    if (oooIn) total += s.oooN;
    if (total === 0) return null;
    const ts = new Float64Array(total);
    const vs = new Float64Array(total);
    let n = 0;
    if (!merge) {
      // In-order chunks do not overlap and come ordered by max_t; the head follows them.
      for (const p of parts) n += decodeChunkInto(p, ts, vs, n);
      if (headIn) {
        ts.set(s.headT!.subarray(0, s.headN), n);
        vs.set(s.headV!.subarray(0, s.headN), n);
        n += s.headN;
      }
      return trim(ts, vs, n, minMs, maxMs);
    }
    // The in-order chunks and the head form one sorted run (they never overlap and come
    // ordered), decoded in place. The late data, each out-of-order chunk (sorted when written)
    // and the buffer (sorted here), is merged on its own, then into that run from the back,
    // so the in-order samples, usually nearly all, are copied at most once more, in one block.
    // For equal timestamps the later write wins: in-order data, then out-of-order chunks in write
    // order (seq), then the buffer.
    for (let i = 0; i < parts.length; i++) if (partPrio[i] === 0) n += decodeChunkInto(parts[i], ts, vs, n);
    if (headIn) {
      ts.set(s.headT!.subarray(0, s.headN), n);
      vs.set(s.headV!.subarray(0, s.headN), n);
      n += s.headN;
    }
    const lateTs = new Float64Array(total - n);
    const lateVs = new Float64Array(total - n);
    let k = 0;
    const starts: number[] = [];
    const prio: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      if (partPrio[i] === 0) continue;
      starts.push(k);
      prio.push(partPrio[i]);
      k += decodeChunkInto(parts[i], lateTs, lateVs, k);
    }
    if (oooIn) {
      const buffered = sortDedupe(s.oooT!, s.oooV!, s.oooN);
      starts.push(k);
      prio.push(Infinity);
      lateTs.set(buffered.ts.subarray(0, buffered.n), k);
      lateVs.set(buffered.vs.subarray(0, buffered.n), k);
      k += buffered.n;
    }
    starts.push(k);
    const late = mergeRuns(lateTs, lateVs, starts, prio);
    const end = n + late.n;
    const from = mergeLateInto(ts, vs, n, late.ts, late.vs, late.n);
    return trim(ts.subarray(from, end), vs.subarray(from, end), end - from, minMs, maxMs);
  }

  /** The newest sample of a series (out-of-order overwrites included), or null. */
  latest(s: MemSeries): { t: number; v: number } | null {
    const t = s.maxT();
    if (t === -Infinity) return null;
    const d = this.read(s, t, t);
    if (d === null) return null;
    return { t: d.ts[d.ts.length - 1], v: d.vs[d.vs.length - 1] };
  }

  stats(): TsdbStats {
    let headSamples = 0;
    let oooSamples = 0;
    for (const s of this.byId.values()) {
      headSamples += s.headN;
      oooSamples += s.oooN;
    }
    return { projects: this.projects.size, series: this.byId.size, headSamples, oooSamples, logBytes: this.logBytes };
  }

  /** Saves heads, empties the log, hands free pages back and closes the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.maintenanceTimer !== undefined) clearInterval(this.maintenanceTimer);
    this.checkpoint();
    this.db.pragma('incremental_vacuum');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}

function pairsToLabels(pairs: readonly string[]): Labels {
  const l: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) l[pairs[i]] = pairs[i + 1];
  return Object.freeze(l);
}

function lowerBound(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Brings a store written by an earlier version up to the current schema. */
function migrate(db: SQLite.Database): void {
  const columns = db.prepare("SELECT name FROM pragma_table_info('chunks')").pluck().all() as string[];
  // 0/1 meant in-order/out-of-order, which kind keeps; kind 2 (packed rows) is new.
  if (columns.includes('ooo')) db.exec('ALTER TABLE chunks RENAME COLUMN ooo TO kind');
}

function trim(ts: Float64Array, vs: Float64Array, n: number, minMs: number, maxMs: number): { ts: Float64Array; vs: Float64Array } | null {
  const lo = lowerBound(ts, n, minMs);
  let hi = lowerBound(ts, n, maxMs);
  if (hi < n && ts[hi] === maxMs) hi++;
  if (hi <= lo) return null;
  return { ts: ts.subarray(lo, hi), vs: vs.subarray(lo, hi) };
}

/**
 * Merges runs sorted by timestamp (run r spans [starts[r], starts[r + 1]) of ts/vs) into one
 * sample per timestamp; of equal timestamps, the run with the highest precedence wins. A heap of
 * runs: a backfill can leave many out-of-order chunks in one range.
 */
function mergeRuns(ts: Float64Array, vs: Float64Array, starts: readonly number[], prio: readonly number[]): { ts: Float64Array; vs: Float64Array; n: number } {
  const runs = prio.length;
  const pos = starts.slice(0, runs);
  const heap: number[] = [];
  // Equal timestamps come off in rising precedence, so the last one written out wins.
  const before = (a: number, b: number): boolean => ts[pos[a]] < ts[pos[b]] || (ts[pos[a]] === ts[pos[b]] && prio[a] < prio[b]);
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) return;
      const c = l + 1 < heap.length && before(heap[l + 1], heap[l]) ? l + 1 : l;
      if (!before(heap[c], heap[i])) return;
      [heap[i], heap[c]] = [heap[c], heap[i]];
      i = c;
    }
  };
  for (let r = 0; r < runs; r++) if (pos[r] < starts[r + 1]) heap.push(r);
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);
  const total = starts[runs];
  const mt = new Float64Array(total);
  const mv = new Float64Array(total);
  let m = 0;
  while (heap.length > 0) {
    const r = heap[0];
    const end = starts[r + 1];
    // The root's children hold the smallest timestamp of all other runs: everything of this run
    // before it goes out in one stretch (runs rarely overlap for long).
    let limit = heap.length > 1 ? ts[pos[heap[1]]] : Infinity;
    if (heap.length > 2 && ts[pos[heap[2]]] < limit) limit = ts[pos[heap[2]]];
    let j = pos[r];
    if (m > 0 && mt[m - 1] === ts[j]) m--;
    do {
      mt[m] = ts[j];
      mv[m++] = vs[j++];
    } while (j < end && ts[j] < limit);
    pos[r] = j;
    if (j === end) {
      const last = heap.pop()!;
      if (heap.length === 0) break;
      heap[0] = last;
    }
    siftDown(0);
  }
  return { ts: mt, vs: mv, n: m };
}

/**
 * Merges sorted late samples into the sorted run in ts/vs[0, n), which has room for them after
 * it; a late sample replaces an in-order one at the same timestamp. Works from the back, so
 * nothing is overwritten before it is read. Returns where the result starts (duplicates leave
 * that many slots unused at the front); it ends at n + lateN.
 */
function mergeLateInto(ts: Float64Array, vs: Float64Array, n: number, lateTs: Float64Array, lateVs: Float64Array, lateN: number): number {
  let i = n - 1;
  let j = lateN - 1;
  let w = n + lateN - 1;
  while (j >= 0) {
    if (i >= 0 && ts[i] > lateTs[j]) {
      ts[w] = ts[i];
      vs[w--] = vs[i--];
    } else {
      if (i >= 0 && ts[i] === lateTs[j]) i--;
      ts[w] = lateTs[j];
      vs[w--] = lateVs[j--];
    }
  }
  // What is left of the run, ts[0..i], is in order before position w + 1: close the gap.
  const from = w - i;
  if (from > 0) {
    ts.copyWithin(from, 0, i + 1);
    vs.copyWithin(from, 0, i + 1);
  }
  return from;
}

/** Sorted by timestamp, one sample per timestamp, the later write winning. */
function sortDedupe(ts: Float64Array, vs: Float64Array, n: number): { ts: Float64Array; vs: Float64Array; n: number } {
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => ts[a] - ts[b] || a - b);
  const ot = new Float64Array(n);
  const ov = new Float64Array(n);
  let m = 0;
  for (const j of order) {
    if (m > 0 && ot[m - 1] === ts[j]) m--;
    ot[m] = ts[j];
    ov[m++] = vs[j];
  }
  return { ts: ot, vs: ov, n: m };
}

/**
 * One append batch as a log record: samples grouped per series, each group encoded as a chunk,
 * so a record costs about what the chunks will (a raw record would be 20 bytes a sample).
 */
class LogBuilder {
  private ids: Uint32Array;
  private ts: Float64Array;
  private vs: Float64Array;
  n = 0;

  constructor(capacity: number) {
    this.ids = new Uint32Array(Math.max(1, capacity));
    this.ts = new Float64Array(Math.max(1, capacity));
    this.vs = new Float64Array(Math.max(1, capacity));
  }

  add(id: number, t: number, v: number): void {
    this.ids[this.n] = id;
    this.ts[this.n] = t;
    this.vs[this.n++] = v;
  }

  encode(): Buffer {
    const n = this.n;
    // Group by series, keeping each series' samples in append order (replay order matters for
    // out-of-order ties).
    const order = Array.from({ length: n }, (_, i) => i);
    const ids = this.ids;
    order.sort((a, b) => ids[a] - ids[b] || a - b);
    const parts: Buffer[] = [];
    let groups = 0;
    let i = 0;
    const gt = new Float64Array(n);
    const gv = new Float64Array(n);
    while (i < n) {
      const id = ids[order[i]];
      let k = 0;
      while (i < n && ids[order[i]] === id) {
        gt[k] = this.ts[order[i]];
        gv[k++] = this.vs[order[i]];
        i++;
      }
      const enc = encodeChunk(gt, gv, k);
      const head = Buffer.allocUnsafe(8);
      head.writeUInt32LE(id, 0);
      head.writeUInt32LE(enc.length, 4);
      parts.push(head, Buffer.from(enc.buffer, enc.byteOffset, enc.length));
      groups++;
    }
    const count = Buffer.allocUnsafe(4);
    count.writeUInt32LE(groups, 0);
    return Buffer.concat([count, ...parts]);
  }
}
