/**
 * The data directory's exclusive lock, `DIR/LOCK`: one Meterway process at a time (a gateway, or
 * `meterway keys rotate`) may open the databases in it. Two gateways on one directory would each
 * keep their own in-memory heads and counters and write over each other's rows.
 *
 * The file is created with O_EXCL and holds the owner's pid. A lock whose pid is no longer alive
 * (the owner was killed, or the machine restarted) or that does not hold a pid is stale and is
 * replaced; the caller is told so it can log it.
 *
 * Also here: the directory itself as a start finds it (prepareDataDir), and what a failed start
 * takes away again.
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, lstatSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeSync } from 'node:fs';
import { StartupError } from '../store/startup-error.js';
import { dirname, join, resolve } from 'node:path';

export const LOCK_FILE = 'LOCK';

export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  constructor(
    readonly dataDir: string,
    readonly file: string,
    readonly pid: number,
    message?: string,
  ) {
    super(
      message ??
        `the data directory ${dataDir} is in use by another Meterway process (pid ${pid}, recorded in ${file}); ` +
          `stop that process first, or give this one another --data-dir. If no such process is running, remove ${file}`,
    );
  }
}

export interface DataDirLock {
  readonly file: string;
  /** What the stale lock that was replaced held (a pid, or a description of its content). */
  readonly staleRemoved?: string;
  /** Removes the lock, if it is still this process's. Idempotent. */
  release(): void;
}

/** Directories this process holds locks on: a lock file with our own pid is ours only if listed. */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(text: string): number | undefined {
  const m = /^\s*(\d{1,10})\s*$/.exec(text);
  if (m === null) return undefined;
  const pid = Number(m[1]);
  return pid > 0 && pid <= 0x7fffffff ? pid : undefined;
}

function describeContent(text: string): string {
  const pid = readPid(text);
  if (pid !== undefined) return `pid ${pid}, no longer running`;
  return text.length === 0 ? 'an empty file' : 'no pid (unreadable content)';
}

/**
 * Takes the lock on `dataDir` (created if missing) or throws DataDirLockedError naming the pid
 * that holds it. Call before opening anything in the directory.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, LOCK_FILE);
  const mine = `${process.pid}\n`;
  let staleRemoved: string | undefined;
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw err;
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (readErr) {
        if ((readErr as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw readErr;
      }
      const pid = readPid(text);
      // Our own pid is a live process, but the lock is only ours if this process took it: after a
      // crash, a restarted container's gateway often gets the same pid (1) as the one that died.
      const live = pid !== undefined && (pid === process.pid ? held.has(dir) : alive(pid));
      if (live) throw new DataDirLockedError(dir, file, pid);
      staleRemoved = describeContent(text);
      rmSync(file, { force: true });
      continue;
    }
    try {
      writeSync(fd, mine);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    break;
  }
  held.add(dir);
  let released = false;
  return {
    file,
    staleRemoved,
    release() {
      if (released) return;
      released = true;
      held.delete(dir);
      try {
        // Never remove a lock another process took over (after someone removed ours by hand).
        if (readFileSync(file, 'utf8') === mine) rmSync(file, { force: true });
      } catch {
        // already gone
      }
    },
  };
}

function inode(path: string): number | undefined {
  try {
    return lstatSync(path).ino;
  } catch {
    return undefined;
  }
}

/** SQLite's files beside a database: never removed alone while the database itself stays. */
const SQLITE_COMPANIONS = ['-wal', '-shm', '-journal'];

export interface DataDirStart {
  readonly dir: string;
  /** Whether the directory was there before this start. */
  readonly existed: boolean;
  /** The directory's permission bits when it existed and other users may read or enter it. */
  readonly openMode?: number;
  /** Whether `name` (an entry directly in the directory) was there before this start. */
  had(name: string): boolean;
  /**
   * After a failed start, with everything in the directory closed and the lock released: removes
   * what this start created (the entries that were not there before it, and the directory and
   * its parents when it made them), and nothing else. Returns what it removed.
   */
  removeCreated(): string[];
}

/**
 * Makes the data directory when it is missing (mode 0700: it holds the admin token and the master
 * key), and records what was there, so that a start that fails can leave it as it found it.
 */
export function prepareDataDir(dataDir: string): DataDirStart {
  const dir = resolve(dataDir);
  let existed = true;
  let openMode: number | undefined;
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) {
      throw new StartupError(`the data directory ${dir} is not a directory: give --data-dir (METERWAY_DATA_DIR) a directory, or a path that does not exist yet`, dir);
    }
    if ((st.mode & 0o077) !== 0) openMode = st.mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    existed = false;
  }
  /** The outermost directory this start made (the data directory or a parent of it). */
  let madeFrom: string | undefined;
  if (!existed) {
    // Parents as the umask says, like mkdir -p; the data directory itself for its owner alone.
    madeFrom = mkdirSync(dirname(dir), { recursive: true }) ?? dir;
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  /** Each entry's inode: a new name for one of them (a rename, as a finished key rotation makes) is no new file. */
  const before = new Map<string, number | undefined>();
  for (const name of existed ? readdirSync(dir) : []) before.set(name, inode(join(dir, name)));
  return {
    dir,
    existed,
    openMode,
    had: (name) => before.has(name),
    removeCreated() {
      const removed: string[] = [];
      let now: string[];
      try {
        now = readdirSync(dir);
      } catch {
        return removed;
      }
      const inodes = new Set([...before.values()].filter((i) => i !== undefined));
      for (const name of now.filter((n) => !before.has(n))) {
        // A journal beside a database that was there before holds that database's state.
        const companionOf = SQLITE_COMPANIONS.find((c) => name.endsWith(c));
        if (companionOf !== undefined && before.has(name.slice(0, -companionOf.length))) continue;
        const path = join(dir, name);
        const ino = inode(path);
        if (ino !== undefined && inodes.has(ino)) continue;
        rmSync(path, { recursive: true, force: true });
        removed.push(path);
      }
      if (madeFrom !== undefined) {
        // Innermost first, each only if empty: nothing someone else put there meanwhile goes.
        for (let d = dir; ; d = dirname(d)) {
          try {
            rmdirSync(d);
            removed.push(d);
          } catch {
            break;
          }
          if (d === madeFrom || dirname(d) === d) break;
        }
      }
      return removed;
    },
  };
}
