/**
 * A refusal to start because of a file in the data directory: one message that names the file,
 * says what is wrong with it and what to do. The CLI prints the message alone (no stack trace):
 * the operator needs the remedy, not where in Meterway the problem was noticed.
 */
import { existsSync } from 'node:fs';

export class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(
    message: string,
    /** The file the message is about. */
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Quotes a path for a POSIX shell only where it needs it, so the usual path reads as typed. */
export function shellQuote(path: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

/**
 * The exact command that moves `file` aside, with those of its `companions` (suffixes, e.g. SQLite's
 * `-wal` and `-shm`) that exist: a WAL left next to a new, empty database would be replayed into
 * it. The new name is one not taken yet, so an earlier damaged copy is not overwritten; the
 * companions keep their suffixes, so the moved copy still opens as it was (for a later look).
 */
export function moveAsideCommand(file: string, companions: readonly string[] = []): string {
  let target = `${file}.corrupt`;
  for (let n = 2; [target, ...companions.map((c) => target + c)].some((p) => existsSync(p)); n++) target = `${file}.corrupt.${n}`;
  const moves: Array<[string, string]> = [[file, target]];
  for (const c of companions) if (existsSync(file + c)) moves.push([file + c, target + c]);
  return moves.map(([from, to]) => `mv ${shellQuote(from)} ${shellQuote(to)}`).join(' && ');
}
