/**
 * The data directory's exclusive lock, `DIR/LOCK`: one Meterway process at a time (a gateway, or
 * `meterway keys rotate`) may open the databases in it. Two gateways on one directory would each
 * keep their own in-memory heads and counters and write over each other's rows.
 *
 * The file is created with O_EXCL and holds the owner's pid. A lock whose pid is no longer alive
 * (the owner was killed, or the machine restarted) or that does not hold a pid is stale and is
 * replaced; the caller is told so it can log it.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

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
