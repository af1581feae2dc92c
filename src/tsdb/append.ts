/**
 * The write path (README.md, "Write path and crash safety"): label sets resolved to series,
 * samples into heads and out-of-order buffers, chunks cut, packed and flushed, one append-log
 * record per batch, and checkpoints (heads saved, log emptied); on open, the heads and the log
 * read back. Everything an append batch writes is in one SQLite transaction.
 */
import type SQLite from 'better-sqlite3';
import type { Labels } from '../core/labels.js';
import type { AppendResult, Sample } from '../core/storage.js';
import { decodeChunk, encodeChunk, validTimestamp } from './chunk.js';
import { pairsToLabels, type Catalog } from './catalog.js';
import { GROUP_HEADER_BYTES, GROUP_MEMBER_BYTES, encodeGroup, type GroupMember } from './group.js';
import type { ProjectIndex } from './postings.js';
import { sortDedupe } from './read.js';
import { KIND_OOO, KIND_OPEN, KIND_PACKED } from './schema.js';
import { MemSeries } from './series.js';
import { LogBuilder, readLogRecord } from './wal.js';

const PROJECT_LABEL = 'project_id';

export interface AppenderOptions {
  readonly retentionMs: number;
  readonly chunkSamples: number;
  readonly groupBytes: number;
  readonly checkpointBytes: number;
  readonly now: () => number;
}

export class Appender {
  private readonly retentionMs: number;
  private readonly chunkSamples: number;
  private readonly groupBytes: number;
  private readonly checkpointBytes: number;
  private readonly now: () => number;
  /** The catalog's maps, held directly: the append loop looks series up per sample. */
  private readonly projects: Map<string, ProjectIndex>;
  private readonly byId: Map<number, MemSeries>;
  /** Label objects seen before, so a caller reusing its label objects skips canonicalising. */
  private readonly labelCache = new WeakMap<Labels, MemSeries>();
  private nextSeq = 1;
  private logged = 0;
  private checkpointedAt: number;
  private replaying = false;

  private readonly stmts: {
    insertSeries: SQLite.Statement;
    insertChunk: SQLite.Statement;
    readOpen: SQLite.Statement;
    deleteOpen: SQLite.Statement;
    insertLog: SQLite.Statement;
    insertHead: SQLite.Statement;
    clearHeads: SQLite.Statement;
    clearLog: SQLite.Statement;
  };

  constructor(
    private readonly db: SQLite.Database,
    private readonly catalog: Catalog,
    opts: AppenderOptions,
  ) {
    this.retentionMs = opts.retentionMs;
    this.chunkSamples = opts.chunkSamples;
    this.groupBytes = opts.groupBytes;
    this.checkpointBytes = opts.checkpointBytes;
    this.now = opts.now;
    this.checkpointedAt = this.now();
    this.projects = catalog.projects;
    this.byId = catalog.byId;
    this.stmts = {
      insertSeries: db.prepare('INSERT INTO series (project, labels) VALUES (?, ?)'),
      insertChunk: db.prepare('INSERT INTO chunks (series_id, max_t, seq, min_t, kind, data) VALUES (?, ?, ?, ?, ?, ?)'),
      readOpen: db.prepare(`SELECT max_t AS maxT, min_t AS minT, data FROM chunks WHERE series_id = ? AND max_t >= ? AND kind = ${KIND_OPEN} ORDER BY max_t`),
      deleteOpen: db.prepare(`DELETE FROM chunks WHERE series_id = ? AND max_t >= ? AND max_t <= ? AND kind = ${KIND_OPEN}`),
      insertLog: db.prepare('INSERT INTO wal (data) VALUES (?)'),
      insertHead: db.prepare('INSERT INTO heads (series_id, last_t, head, ooo) VALUES (?, ?, ?, ?)'),
      clearHeads: db.prepare('DELETE FROM heads'),
      clearLog: db.prepare('DELETE FROM wal'),
    };
  }

  /** Bytes in the append log since the last checkpoint. */
  get logBytes(): number {
    return this.logged;
  }

  /** Wall-clock time of the last checkpoint. */
  get lastCheckpointMs(): number {
    return this.checkpointedAt;
  }

  /** A chunk row's `seq` found on disk (on open): new rows are numbered after it. */
  noteStoredSeq(seq: number): void {
    if (seq >= this.nextSeq) this.nextSeq = seq + 1;
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
      this.catalog.add(s);
    }
    this.labelCache.set(labels, s);
    return s;
  }

  /** References for many label sets, new series created in one transaction (one sync, not one each). */
  refs(project: string, labels: readonly Labels[]): Array<number | undefined> {
    return this.db.transaction(() => labels.map((l) => this.resolve(project, l)?.id))();
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

  /** Columnar append by series references (from `refs`): the bulk path for import and benchmarks. */
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

  /**
   * Writes a series' head as a chunk (inside the caller's transaction). Outside an append (an idle
   * cut), only inside a checkpoint's transaction: see `Maintenance.maintain`.
   */
  cutHead(s: MemSeries): void {
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
  flushOoo(s: MemSeries): void {
    const { ts, vs, n } = sortDedupe(s.oooT!, s.oooV!, s.oooN);
    if (!this.replaying) this.stmts.insertChunk.run(s.id, ts[n - 1], this.nextSeq++, ts[0], KIND_OOO, encodeChunk(ts, vs, n));
    s.noteChunk(ts[0], ts[n - 1], true);
    s.clearOoo();
  }

  private writeLog(log: LogBuilder): void {
    if (log.n === 0 || this.replaying) return;
    const rec = log.encode();
    this.stmts.insertLog.run(rec);
    this.logged += rec.length;
  }

  /**
   * On open, after the series are loaded: the heads and out-of-order buffers saved at the last
   * checkpoint, restored as they were.
   */
  loadHeads(): void {
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
  }

  /** On open, after `loadHeads`: the log since that checkpoint applied again. */
  replayLog(): void {
    // Replaying re-derives head state and chunk cuts exactly as they happened; chunks cut after the
    // last checkpoint are already on disk (same transaction as their log record), so none is written.
    this.replaying = true;
    try {
      for (const row of this.db.prepare('SELECT data FROM wal ORDER BY id').iterate() as Iterable<{ data: Buffer }>) {
        readLogRecord(row.data, (id, chunk) => {
          const s = this.byId.get(id);
          if (s === undefined) return;
          const { ts, vs } = decodeChunk(chunk);
          for (let i = 0; i < ts.length; i++) this.apply(s, ts[i], vs[i]);
        });
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
  }

  private maybeCheckpoint(): void {
    if (this.logged >= this.checkpointBytes) this.checkpoint();
  }

  /**
   * Saves every open head and out-of-order buffer and empties the append log, in one
   * transaction: recovery then starts from these heads instead of replaying a growing log.
   */
  checkpoint(): void {
    this.db.transaction(() => this.checkpointInTx())();
  }

  /** `checkpoint` inside the caller's transaction. */
  checkpointInTx(): void {
    this.stmts.clearHeads.run();
    for (const s of this.byId.values()) {
      if (s.lastT === -Infinity) continue;
      const head = s.headN > 0 ? encodeChunk(s.headT!, s.headV!, s.headN) : null;
      const ooo = s.oooN > 0 ? encodeChunk(s.oooT!, s.oooV!, s.oooN) : null;
      this.stmts.insertHead.run(s.id, s.lastT, head, ooo);
    }
    this.stmts.clearLog.run();
    this.logged = 0;
    this.checkpointedAt = this.now();
  }
}
