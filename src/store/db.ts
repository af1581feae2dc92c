/** Opens the control-plane database and brings its schema up to date. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, Migrator, SqliteDialect, type MigrationProvider } from 'kysely';
import { MIGRATIONS } from './migrations.js';
import type { Database } from './schema.js';
import { damagedFile, explainSqliteError, openSqliteFile, type SqliteFileRole } from './sqlite-file.js';

export const CONTROL_DB: SqliteFileRole = {
  what: 'the control database',
  startEmpty: 'an empty control database (its projects, tokens and integrations are then gone and must be created again)',
};

/** `:memory:` gives a throwaway database (tests). */
export async function openSqlite(path: string): Promise<Kysely<Database>> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  // quick_check reads every page: the control database is small (projects, tokens, integrations),
  // and a page it holds that is damaged would otherwise fail some later request instead.
  const sqlite = openSqliteFile(path, CONTROL_DB, { quickCheck: true });
  let db: Kysely<Database> | undefined;
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    await migrate(db);
    return db;
  } catch (err) {
    if (db !== undefined) await db.destroy().catch(() => {});
    else sqlite.close();
    if (path === ':memory:') throw err;
    const explained = explainSqliteError(path, CONTROL_DB, err);
    // A migration that failed for a reason of its own (no SQLite code): the file holds a schema
    // this version cannot bring up to date (written by a newer version, or edited by hand).
    if (explained === err && err instanceof MigrationError) {
      throw damagedFile(path, CONTROL_DB, `could not be brought up to date (${err.message}); if a newer Meterway wrote it, run that version instead`, err);
    }
    throw explained;
  }
}

class MigrationError extends Error {}

export async function migrate(db: Kysely<Database>): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    // The cause keeps SQLite's code, which says whether the file is damaged.
    throw new MigrationError(`database migration ${failed} failed: ${(error as Error).message}`, { cause: error });
  }
}
