/**
 * Opening a SQLite file of the data directory so that a damaged one stops the start with one
 * message (the file, what is wrong, what to do) instead of a raw SqliteError, or instead of a
 * failure much later: SQLite reads nothing when a file is opened, and a page only when a query
 * needs it, so a garbage or cut-off file "opens" fine.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { StartupError, moveAsideCommand } from './startup-error.js';

export interface SqliteFileRole {
  /** What the file is, in a message: "the control database". */
  readonly what: string;
  /** What starting with the file moved aside means: "an empty control database (...)". */
  readonly startEmpty: string;
}

/** SQLite's own files next to a database, moved aside with it. */
const COMPANIONS = ['-wal', '-shm'];
const MAGIC = Buffer.from('SQLite format 3\u0000', 'latin1');
const HEADER_BYTES = 100;
/** A WAL file's own header; anything past it is frames SQLite will apply on open. */
const WAL_HEADER_BYTES = 32;

/** `CODE: message`, without repeating a code Node already put at the front of its message. */
function detail(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.startsWith(code) ? `${code}: ${message}` : message;
}

/** The ways forward from a damaged file: restore it, or move it aside (the exact command). */
function remedy(path: string, role: SqliteFileRole): string {
  return `restore it from a backup (with Meterway stopped), or move it aside to start with ${role.startEmpty}: ${moveAsideCommand(path, COMPANIONS)}`;
}

export function damagedFile(path: string, role: SqliteFileRole, problem: string, cause?: unknown): StartupError {
  const r = remedy(path, role);
  return new StartupError(`${role.what} ${path} ${problem}. ${r[0].toUpperCase()}${r.slice(1)}`, path, { cause });
}

function notPermitted(path: string, role: SqliteFileRole, err: unknown): StartupError {
  return new StartupError(
    `${role.what} ${path} cannot be opened for reading and writing (${detail(err)}): ` +
      `make it, and its directory, readable and writable by the user running Meterway (uid ${process.getuid?.() ?? '?'}), then start again`,
    path,
    { cause: err },
  );
}

function walHasFrames(path: string): boolean {
  try {
    return statSync(`${path}-wal`).size > WAL_HEADER_BYTES;
  } catch {
    return false;
  }
}

/**
 * Reads SQLite's 100-byte header before SQLite does: a file that is not SQLite at all, and one
 * cut short. SQLite itself does not notice the second when only the tail is missing: it reads
 * the missing pages as zeros, which passes even `PRAGMA quick_check` when those bytes were free
 * space, and the rows are just gone.
 */
function checkHeader(path: string, role: SqliteFileRole): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // a new database
    throw notPermitted(path, role, err);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw damagedFile(path, role, 'is a directory, not a SQLite database file');
    if (!st.isFile()) throw damagedFile(path, role, 'is not a regular file');
    // SQLite would take an empty file for a new database and start over without a word.
    if (st.size === 0) throw damagedFile(path, role, 'is empty (0 bytes): it was truncated');
    const head = Buffer.alloc(HEADER_BYTES);
    const n = readSync(fd, head, 0, HEADER_BYTES, 0);
    const m = Math.min(n, MAGIC.length);
    if (!head.subarray(0, m).equals(MAGIC.subarray(0, m))) {
      throw damagedFile(path, role, 'is not a SQLite database or is corrupted (SQLITE_NOTADB: it does not begin with the SQLite header)');
    }
    if (n < HEADER_BYTES) throw damagedFile(path, role, `is truncated: ${st.size} bytes, shorter than the ${HEADER_BYTES}-byte SQLite header`);
    const raw = head.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) {
      throw damagedFile(path, role, `is not a SQLite database or is corrupted (SQLITE_NOTADB: its header gives a page size of ${raw} bytes)`);
    }
    const pages = head.readUInt32BE(28);
    // The page count is only valid when the change counter matches the version it was written
    // for. With frames in the WAL the file may lag behind the database: SQLite settles that.
    const countValid = head.readUInt32BE(24) === head.readUInt32BE(92);
    if (countValid && pages > 0 && st.size < pages * pageSize && !walHasFrames(path)) {
      throw damagedFile(path, role, `is truncated: ${st.size} bytes, but its header records ${pages} pages of ${pageSize} bytes (${pages * pageSize} bytes)`);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * What an error met while opening or first reading the file means for the operator, as a
 * StartupError; errors that say nothing about the file (a bug) come back as they were.
 */
export function explainSqliteError(path: string, role: SqliteFileRole, err: unknown): unknown {
  if (err instanceof StartupError) return err;
  const own = (err as { code?: unknown }).code;
  const cause = (err as { cause?: { code?: unknown } }).cause;
  const code = typeof own === 'string' ? own : typeof cause?.code === 'string' ? cause.code : '';
  const shown = typeof own === 'string' || cause === undefined ? detail(err) : detail(cause);
  if (code === 'SQLITE_NOTADB') return damagedFile(path, role, `is not a SQLite database or is corrupted (${shown})`, err);
  if (code.startsWith('SQLITE_CORRUPT')) return damagedFile(path, role, `is corrupted (${shown})`, err);
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') {
    return new StartupError(`${role.what} ${path} cannot be written: the disk is full (${shown}); free space on it, then start again`, path, { cause: err });
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new StartupError(
      `${role.what} ${path} is locked by another program (${shown}); close whatever has it open (a sqlite3 shell, a backup tool), then start again`,
      path,
      { cause: err },
    );
  }
  if (/^SQLITE_(CANTOPEN|PERM|READONLY|AUTH)/.test(code) || code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return notPermitted(path, role, err);
  if (code.startsWith('SQLITE_IOERR')) {
    return new StartupError(
      `${role.what} ${path} could not be read (${shown}): check the disk and its file system (dmesg) first; if the file itself is damaged, ${remedy(path, role)}`,
      path,
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_')) return damagedFile(path, role, `cannot be read (${shown})`, err);
  // Stored records that do not decode (a label set that is not JSON, a record cut short).
  if (err instanceof SyntaxError || err instanceof RangeError) return damagedFile(path, role, `holds data that cannot be read (${detail(err)})`, err);
  return err;
}

export interface OpenSqliteFileOptions {
  /**
   * Also run `PRAGMA quick_check`, which reads every page: for files small enough that this costs
   * nothing noticeable at start-up.
   */
  readonly quickCheck?: boolean;
}

/**
 * Opens (or creates) a SQLite file, refusing a damaged one with a StartupError that names it.
 * `:memory:` is opened as is.
 */
export function openSqliteFile(path: string, role: SqliteFileRole, opts: OpenSqliteFileOptions = {}): SQLite.Database {
  if (path === ':memory:') return new SQLite(path);
  checkHeader(path, role);
  let db: SQLite.Database | undefined;
  try {
    db = new SQLite(path);
    // Makes SQLite read the header and the schema now, not at the first query of the caller.
    db.prepare('SELECT count(*) FROM sqlite_master').pluck().get();
    if (opts.quickCheck) {
      const found = (db.pragma('quick_check(5)') as Array<{ quick_check: string }>).map((r) => r.quick_check);
      if (!(found.length === 1 && found[0] === 'ok')) {
        throw damagedFile(path, role, `is corrupted (PRAGMA quick_check: ${found.join('; ').replace(/\s*\n\s*/g, ' ')})`);
      }
    }
    return db;
  } catch (err) {
    try {
      db?.close();
    } catch {
      // the error that stopped the open is the one to report
    }
    throw explainSqliteError(path, role, err);
  }
}
