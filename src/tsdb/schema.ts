/**
 * The store's SQLite layout (README.md, "Storage layout"): the tables, the migration of files
 * written by earlier versions, and what a chunk row's `kind` says about its blob.
 */
import type SQLite from 'better-sqlite3';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, project TEXT NOT NULL, labels TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
  series_id INTEGER NOT NULL, max_t INTEGER NOT NULL, seq INTEGER NOT NULL,
  min_t INTEGER NOT NULL, kind INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (series_id, max_t, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (series_id INTEGER PRIMARY KEY, last_t INTEGER NOT NULL, head BLOB, ooo BLOB);
CREATE TABLE IF NOT EXISTS wal (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS metadata (project TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
  help TEXT NOT NULL, unit TEXT NOT NULL, origin TEXT NOT NULL DEFAULT '', PRIMARY KEY (project, name)) WITHOUT ROWID;
`;

/** `chunks.kind`: what a row's blob holds. */
export const KIND_OPEN = 0; // one in-order chunk, to be packed with the next ones
export const KIND_OOO = 1; // one out-of-order chunk: reads must merge it by timestamp
export const KIND_PACKED = 2; // in-order and final: a group of chunks (group.ts), or one that fits no group

/** A chunk row as reads see it. */
export interface ChunkRow {
  readonly kind: number;
  readonly seq: number;
  readonly data: Uint8Array;
}

/** Brings a store written by an earlier version up to the current schema. */
export function migrate(db: SQLite.Database): void {
  const columns = db.prepare("SELECT name FROM pragma_table_info('chunks')").pluck().all() as string[];
  // 0/1 meant in-order/out-of-order, which kind keeps; kind 2 (packed rows) is new.
  if (columns.includes('ooo')) db.exec('ALTER TABLE chunks RENAME COLUMN ooo TO kind');
  // `origin` names the families a source declared in the aggregation, which restore declares again.
  const metaColumns = db.prepare("SELECT name FROM pragma_table_info('metadata')").pluck().all() as string[];
  if (metaColumns.length > 0 && !metaColumns.includes('origin')) db.exec("ALTER TABLE metadata ADD COLUMN origin TEXT NOT NULL DEFAULT ''");
}
