/**
 * What takes data out of the store or frees its memory and space: retention (whole rows past
 * the cutoff, series left empty), idle heads written out, files shrunk, the periodic timer for
 * all of it, and a project deleted for good. README.md, "Retention" and "Idle heads".
 */
import type SQLite from 'better-sqlite3';
import type { Appender } from './append.js';
import type { Catalog } from './catalog.js';
import type { MetadataStore } from './metadata.js';
import { KIND_OOO } from './schema.js';

/** 4 MiB of 4 KiB pages: below that, giving pages back is not worth moving pages around for. */
const FREE_PAGES_TO_VACUUM = 1024;

export interface MaintenanceOptions {
  readonly retentionMs: number;
  readonly idleCutMs: number;
  readonly now: () => number;
}

export class Maintenance {
  private readonly retentionMs: number;
  private readonly idleCutMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  private readonly stmts: {
    deleteSeries: SQLite.Statement;
    deleteOldChunks: SQLite.Statement;
    chunkBounds: SQLite.Statement;
  };

  constructor(
    private readonly db: SQLite.Database,
    private readonly catalog: Catalog,
    private readonly appender: Appender,
    private readonly metadata: MetadataStore,
    opts: MaintenanceOptions,
  ) {
    this.retentionMs = opts.retentionMs;
    this.idleCutMs = opts.idleCutMs;
    this.now = opts.now;
    this.stmts = {
      deleteSeries: db.prepare('DELETE FROM series WHERE id = ?'),
      deleteOldChunks: db.prepare('DELETE FROM chunks WHERE series_id = ? AND max_t < ?'),
      chunkBounds: db.prepare(`SELECT MIN(min_t) AS lo, MAX(max_t) AS hi, MIN(max_t) AS oldest, MAX(kind = ${KIND_OOO}) AS ooo FROM chunks WHERE series_id = ?`),
    };
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
      for (const s of this.catalog.byId.values()) {
        if (s.lastAppendMs >= idleBefore || (s.headN === 0 && s.oooN === 0)) continue;
        if (s.headN > 0) this.appender.cutHead(s);
        if (s.oooN > 0) this.appender.flushOoo(s);
        s.releaseHead();
        headsCut++;
      }
      if (headsCut > 0 || (this.appender.logBytes > 0 && this.appender.lastCheckpointMs < idleBefore)) this.appender.checkpointInTx();
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
      for (const s of [...this.catalog.byId.values()]) {
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
          this.catalog.remove(s);
          out.seriesDeleted++;
          touched = true;
        }
      }
      // The heads table and the log may name what was just dropped: rewrite them now.
      if (touched) this.appender.checkpointInTx();
    })();
    if (touched) this.db.pragma('incremental_vacuum');
    return out;
  }

  /** Runs `maintain` every `intervalMs` until `stop`; a second call does nothing. */
  start(intervalMs: number): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.maintain(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /**
   * Deletes everything stored for a project (series, chunks, heads, metadata), for a project
   * that is deleted for good. Stop the sampler's markers for it first (`Sampler.forget`), or its
   * next tick writes staleness markers that bring the series back.
   */
  dropProject(project: string): number {
    const idx = this.catalog.projects.get(project);
    const series = idx === undefined ? [] : [...idx.byKey.values()];
    this.db.transaction(() => {
      const delChunks = this.db.prepare('DELETE FROM chunks WHERE series_id = ?');
      for (const s of series) {
        delChunks.run(s.id);
        this.stmts.deleteSeries.run(s.id);
        s.deleted = true;
        this.catalog.byId.delete(s.id);
      }
      this.metadata.drop(project);
      this.catalog.projects.delete(project);
      // The heads table and the log may name the dropped series.
      this.appender.checkpointInTx();
    })();
    this.db.pragma('incremental_vacuum');
    return series.length;
  }
}
