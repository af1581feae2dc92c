/**
 * The master key that encrypts stored credentials (CONTRACT section 1), its version, and its
 * rotation. A fingerprint of the current key is kept in the database, so a wrong key is refused at
 * start-up with a clear message instead of failing later on every push.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { Secret } from '../config/secret.js';
import type { Database } from '../store/schema.js';
import { CredentialCipher } from './crypto.js';

const KEY_FILE = 'master.key';
/** A rotation writes the new key here first and renames it over master.key once the database committed. */
const NEXT_KEY_FILE = 'master.key.next';

export class MasterKeyError extends Error {
  override readonly name = 'MasterKeyError';
}

function readKeyFile(file: string): Secret {
  const text = readFileSync(file, 'utf8').trim();
  if (Buffer.from(text, 'base64').length !== 32) throw new MasterKeyError(`${file} does not hold base64 of 32 bytes; restore it from a backup or set METERWAY_MASTER_KEY`);
  return new Secret(text);
}

function writeKeyFile(file: string, key: Secret): void {
  writeFileSync(file, `${key.reveal()}\n`, { mode: 0o600 });
  const fd = openSync(file, 'r');
  fsyncSync(fd);
  closeSync(fd);
}

/** A short, one-way fingerprint: enough to tell keys apart, useless for finding the key. */
export function fingerprint(key: Secret): string {
  return createHash('sha256').update('meterway/master-key-fingerprint/').update(Buffer.from(key.reveal(), 'base64')).digest('hex').slice(0, 32);
}

async function meta(db: Kysely<Database>, key: string): Promise<string | undefined> {
  return (await db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst())?.value;
}

async function setMeta(db: Kysely<Database>, key: string, value: string): Promise<void> {
  await db.insertInto('meta').values({ key, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
}

/**
 * METERWAY_MASTER_KEY when set; otherwise `DIR/master.key`, generated once (mode 0600). Finishes a
 * rotation that stopped between its database commit and its file rename. Returns the cipher.
 */
export async function openCredentialCipher(configured: Secret | undefined, dataDir: string, db: Kysely<Database>): Promise<{ cipher: CredentialCipher; key: Secret }> {
  const file = join(dataDir, KEY_FILE);
  const next = join(dataDir, NEXT_KEY_FILE);
  const stored = await meta(db, 'master_key_fingerprint');
  if (configured === undefined && existsSync(next)) {
    // The database names the key it was committed with: promote the new file, or drop it.
    if (stored !== undefined && fingerprint(readKeyFile(next)) === stored) renameSync(next, file);
    else rmSync(next);
  }
  let key: Secret;
  if (configured !== undefined) key = configured;
  else if (existsSync(file)) key = readKeyFile(file);
  else {
    key = new Secret(randomBytes(32).toString('base64'));
    writeFileSync(file, `${key.reveal()}\n`, { mode: 0o600, flag: 'wx' });
  }
  const print = fingerprint(key);
  if (stored === undefined) await setMeta(db, 'master_key_fingerprint', print);
  else if (stored !== print) {
    throw new MasterKeyError(
      `the master key (${configured !== undefined ? 'METERWAY_MASTER_KEY' : file}) is not the one that sealed the stored credentials; use the original key`,
    );
  }
  const version = Number((await meta(db, 'master_key_version')) ?? '1');
  return { cipher: new CredentialCipher(new Map([[version, key]]), version), key };
}

export interface RotationResult {
  readonly version: number;
  readonly records: number;
  /** Where the new key is; undefined when the operator supplied it. */
  readonly keyFile?: string;
}

/**
 * Re-encrypts every stored credential under a new key, in one transaction. Run it with the server
 * stopped. The new key is generated into master.key, unless `newKey` is given (for a
 * METERWAY_MASTER_KEY deployment, which must then be set to it).
 */
export async function rotateMasterKey(db: Kysely<Database>, dataDir: string, configured: Secret | undefined, newKey?: Secret): Promise<RotationResult> {
  const { cipher: current, key: oldKey } = await openCredentialCipher(configured, dataDir, db);
  const fresh = newKey ?? new Secret(randomBytes(32).toString('base64'));
  if (fingerprint(fresh) === fingerprint(oldKey)) throw new MasterKeyError('the new master key is the same as the current one');
  const version = current.currentVersion + 1;
  const both = new CredentialCipher(new Map([[current.currentVersion, oldKey], [version, fresh]]), version);
  const writesFile = configured === undefined && newKey === undefined;
  const next = join(dataDir, NEXT_KEY_FILE);
  if (writesFile) writeKeyFile(next, fresh);
  let records = 0;
  await db.transaction().execute(async (tx) => {
    const rows = await tx.selectFrom('integrations').select(['id', 'auth_headers_sealed', 'key_version']).where('auth_headers_sealed', 'is not', null).execute();
    for (const row of rows) {
      const plain = both.open({ keyVersion: row.key_version!, sealed: row.auth_headers_sealed! }, row.id);
      const sealed = both.seal(plain, row.id);
      await tx.updateTable('integrations').set({ auth_headers_sealed: sealed.sealed, key_version: sealed.keyVersion }).where('id', '=', row.id).execute();
      records++;
    }
    await setMeta(tx, 'master_key_version', String(version));
    await setMeta(tx, 'master_key_fingerprint', fingerprint(fresh));
  });
  if (writesFile) renameSync(next, join(dataDir, KEY_FILE));
  return { version, records, keyFile: writesFile ? join(dataDir, KEY_FILE) : undefined };
}
