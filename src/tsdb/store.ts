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
import type { LabelMatcher, MetricMetadata, Queryable } from '../core/queryable.js';
import { SOURCE_ORIGIN, type AppendResult, type Sample, type Storage, type StoredExemplar } from '../core/storage.js';
import { Appender } from './append.js';
import { Catalog, pairsToLabels } from './catalog.js';
import { MetadataStore } from './metadata.js';
import { ExemplarStore, type SeriesExemplars } from './exemplars.js';
import type { ProjectIndex } from './postings.js';
import { TsdbQuerier } from './querier.js';
import { prepareChunkRows, readSeries } from './read.js';
import { Maintenance } from './retention.js';
import { KIND_OOO, SCHEMA, migrate } from './schema.js';
import { MemSeries } from './series.js';

export type { ChunkRow } from './schema.js';

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

/** Defined with the write side's seam (src/core/storage.ts); exported here as before. */
export type { Sample, AppendResult };

export type { MetricMetadata };

export interface TsdbStats {
  projects: number;
  series: number;
  headSamples: number;
  oooSamples: number;
  logBytes: number;
}

const TSDB_FILE: SqliteFileRole = {
  what: 'the embedded time-series store',
  startEmpty: 'an empty store (the samples stored so far are then not served, and counters start again from zero)',
};

/**
 * The store's facade: opening (recovery) and closing here; the work in the parts it is made of,
 * over the series they share (`Catalog`): the write path (`Appender`, append.ts), reads
 * (read.ts), retention, idle cuts and project deletion (`Maintenance`, retention.ts) and metric
 * metadata (`MetadataStore`, metadata.ts). The write side's seam, `Storage`, is what the
 * sampler, import and project deletion use; the read side's, `Queryable`, what queries use.
 */
export class Tsdb implements Queryable, Storage {
  readonly db: SQLite.Database;
  readonly retentionMs: number;
  private readonly catalog = new Catalog();
  private readonly appender: Appender;
  private readonly maintenance: Maintenance;
  private readonly meta: MetadataStore;
  private readonly exemplarStore = new ExemplarStore();
  private readonly readChunks: SQLite.Statement;
  private closed = false;

  private constructor(db: SQLite.Database, opts: TsdbOptions) {
    this.db = db;
    this.retentionMs = opts.retentionMs ?? 0;
    const now = opts.now ?? Date.now;
    this.appender = new Appender(db, this.catalog, {
      retentionMs: this.retentionMs,
      chunkSamples: opts.chunkSamples ?? 120,
      groupBytes: opts.groupBytes ?? 960,
      checkpointBytes: opts.checkpointBytes ?? 16 * 1024 * 1024,
      now,
    });
    this.meta = new MetadataStore(db);
    this.maintenance = new Maintenance(db, this.catalog, this.appender, this.meta, { retentionMs: this.retentionMs, idleCutMs: opts.idleCutMs ?? 3_600_000, now });
    this.readChunks = prepareChunkRows(db);
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

  /** Recovery: series, their chunk bounds, the saved heads, metadata, then the log replayed. */
  private load(): void {
    for (const row of this.db.prepare('SELECT id, project, labels FROM series ORDER BY id').iterate() as Iterable<{ id: number; project: string; labels: string }>) {
      const pairs = JSON.parse(row.labels) as string[];
      this.catalog.add(new MemSeries(row.id, row.project, row.labels, pairs, pairsToLabels(pairs)));
    }
    const bounds = this.db.prepare(`SELECT series_id AS id, MIN(min_t) AS lo, MAX(max_t) AS hi, MIN(max_t) AS oldest, MAX(kind = ${KIND_OOO}) AS ooo, MAX(seq) AS seq FROM chunks GROUP BY series_id`).all() as Array<{ id: number; lo: number; hi: number; oldest: number; ooo: number; seq: number }>;
    for (const b of bounds) {
      const s = this.catalog.byId.get(b.id);
      if (s === undefined) continue;
      s.storedMinT = b.lo;
      s.storedMaxT = b.hi;
      s.oldestChunkMaxT = b.oldest;
      s.storedOoo = b.ooo === 1;
      this.appender.noteStoredSeq(b.seq);
    }
    this.appender.loadHeads();
    this.meta.load();
    this.appender.replayLog();
    this.appender.checkpoint();
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
    return this.appender.refs(project, labels);
  }

  /**
   * Appends samples of one project as one durable transaction: when this returns, a crash loses
   * none of them. Samples at or before a series' newest timestamp are kept as out-of-order data;
   * a second sample at the same timestamp replaces the first (last write wins). Label objects
   * are remembered (weakly) to skip canonicalising them next time: do not mutate one after use.
   */
  appendBatch(project: string, samples: readonly Sample[]): AppendResult {
    return this.appender.appendProjects([{ project, samples }])[0];
  }

  /**
   * Appends several projects' batches as one durable transaction (one sync for a whole sampler
   * tick, however many projects); one result per batch.
   */
  appendProjects(batches: ReadonlyArray<{ readonly project: string; readonly samples: readonly Sample[] }>): AppendResult[] {
    return this.appender.appendProjects(batches);
  }

  /** Columnar append by series references (from `ref`): the bulk path for import and benchmarks. */
  appendRefs(project: string, refs: ArrayLike<number>, ts: ArrayLike<number>, vs: Float64Array): AppendResult {
    return this.appender.appendRefs(project, refs, ts, vs);
  }

  /** The oldest timestamp an append accepts now (-Infinity with retention 0). */
  oldestAcceptedMs(): number {
    return this.appender.oldestAcceptedMs();
  }

  /**
   * Saves every open head and out-of-order buffer and empties the append log, in one
   * transaction: recovery then starts from these heads instead of replaying a growing log.
   */
  checkpoint(): void {
    this.appender.checkpoint();
  }

  /**
   * Periodic upkeep: retention, then heads idle for `idleCutMs` written out as chunks (their
   * memory released), then a checkpoint when anything was cut or the log is older than
   * `idleCutMs`.
   */
  maintain(nowMs?: number): { chunkRowsDeleted: number; seriesDeleted: number; headsCut: number } {
    return this.maintenance.maintain(nowMs);
  }

  /**
   * Drops rows wholly older than now - retentionMs (a chunk or a packed group of chunks: a row
   * straddling the cutoff stays until it is wholly past), and series left without data.
   */
  applyRetention(nowMs?: number): { chunkRowsDeleted: number; seriesDeleted: number } {
    return this.maintenance.applyRetention(nowMs);
  }

  /** Runs `maintain` (retention, idle heads written out, checkpoint) every `intervalMs` (default one minute) until close. */
  startRetention(intervalMs = 60_000): void {
    this.maintenance.start(intervalMs);
  }

  /**
   * Deletes everything stored for a project (series, chunks, heads, metadata), for a project
   * that is deleted for good. Stop the sampler's markers for it first (`Sampler.forget`), or its
   * next tick writes staleness markers that bring the series back.
   */
  dropProject(project: string): number {
    this.exemplarStore.drop(project);
    return this.maintenance.dropProject(project);
  }

  appendExemplars(project: string, exemplars: readonly StoredExemplar[]): void {
    this.exemplarStore.append(project, exemplars);
  }

  /** The project's exemplars in [minMs, maxMs] on series matching one of the matcher sets. */
  exemplars(project: string, matcherSets: ReadonlyArray<readonly LabelMatcher[]>, minMs: number, maxMs: number): SeriesExemplars[] {
    return this.exemplarStore.select(project, matcherSets, minMs, maxMs);
  }

  /** Records a metric's type, help and unit for a project (written only when it changed). */
  setMetadata(project: string, name: string, meta: MetricMetadata): void {
    this.meta.set(project, name, meta);
  }

  /** Several metrics' metadata in one transaction (one sync instead of one per metric). */
  setMetadataAll(project: string, entries: ReadonlyArray<readonly [name: string, meta: MetricMetadata, origin?: string]>): void {
    this.meta.setAll(project, entries);
  }

  /** The project's metrics that a source declared in the aggregation (restore declares them again). */
  sourceFamilies(project: string): string[] {
    return this.meta.namesOfOrigin(project, SOURCE_ORIGIN);
  }

  /** Metric metadata of one project. */
  metadata(project: string): ReadonlyMap<string, MetricMetadata> {
    return this.meta.get(project);
  }

  /** Projects with stored series. */
  projectIds(): string[] {
    return [...this.catalog.projects.keys()];
  }

  /** A project's index (undefined when it has no series). For the querier only. */
  index(project: string): ProjectIndex | undefined {
    return this.catalog.projects.get(project);
  }

  querier(project: string, minMs: number, maxMs: number): TsdbQuerier {
    return new TsdbQuerier(this, project, minMs, maxMs);
  }

  /**
   * One series' samples in [minMs, maxMs], merged across chunks, head and out-of-order data;
   * null when there are none. Values in a Float64Array (keeps staleness markers).
   */
  read(s: MemSeries, minMs: number, maxMs: number): { ts: Float64Array; vs: Float64Array } | null {
    return readSeries(this.readChunks, s, minMs, maxMs);
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
    for (const s of this.catalog.byId.values()) {
      headSamples += s.headN;
      oooSamples += s.oooN;
    }
    return { projects: this.catalog.projects.size, series: this.catalog.byId.size, headSamples, oooSamples, logBytes: this.appender.logBytes };
  }

  /** Saves heads, empties the log, hands free pages back and closes the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.maintenance.stop();
    this.checkpoint();
    this.db.pragma('incremental_vacuum');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}
