/** The master key that encrypts stored credentials (CONTRACT section 1). */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { Secret } from '../config/secret.js';
import type { Database } from '../store/schema.js';

/**
 * METERWAY_MASTER_KEY when set; otherwise `DIR/master.key`, generated once (mode 0600). Losing the
 * file makes stored credentials unreadable, which is why it is never regenerated over an old one.
 */
export function loadMasterKey(configured: Secret | undefined, dataDir: string): Secret {
  if (configured !== undefined) return configured;
  const file = join(dataDir, 'master.key');
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8').trim();
    if (Buffer.from(text, 'base64').length !== 32) {
      throw new Error(`${file} does not hold base64 of 32 bytes; restore it from a backup or set METERWAY_MASTER_KEY`);
    }
    return new Secret(text);
  }
  const key = randomBytes(32).toString('base64');
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return new Secret(key);
}

/** The version of the current master key, kept beside the records it sealed (1 until a rotation). */
export async function masterKeyVersion(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('meta').select('value').where('key', '=', 'master_key_version').executeTakeFirst();
  return row === undefined ? 1 : Number(row.value);
}
