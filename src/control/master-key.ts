/**
 * The master key that encrypts stored credentials (CONTRACT section 1), its version, and its
 * rotation. A fingerprint of the current key is kept in the database, so a wrong key is refused at
 * start-up with a clear message instead of failing later on every push.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { Secret } from '../config/secret.js';
import type { Database } from '../store/schema.js';
import { StartupError, moveAsideCommand, shellQuote } from '../store/startup-error.js';
import { CredentialCipher } from './crypto.js';

const KEY_FILE = 'master.key';
/** A rotation writes the new key here first and renames it over master.key once the database committed. */
const NEXT_KEY_FILE = 'master.key.next';
/**
 * master.key moved aside, as the refusal of a damaged key file says to: the operator's word that
 * the old key is gone, so the credentials sealed with it may be given up.
 */
const SET_ASIDE = /^master\.key\.corrupt(\.\d+)?$/;

export class MasterKeyError extends Error {
  override readonly name = 'MasterKeyError';
}

type KeyRead = { readonly key: Secret } | { readonly problem: string; readonly cause?: unknown } | undefined;

/**
 * A key file's key, or what is wrong with it (never any of its content: it may be most of a key);
 * undefined when there is no such file.
 */
function readKeyFile(file: string): KeyRead {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return undefined;
    return { problem: `cannot be read (${e.message}); if the file itself is fine, make it readable by the user running Meterway (uid ${process.getuid?.() ?? '?'})`, cause: err };
  }
  const text = bytes.toString('latin1').trim();
  if (text.length === 0) return { problem: `is damaged: it is empty (${bytes.length} bytes); master key must be 32 bytes, found 0` };
  // Node's base64 decoder skips what it does not know, so garbage would decode to some bytes.
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return { problem: 'is damaged: it is not base64 text; master key must be 32 bytes, written as 44 base64 characters' };
  const n = Buffer.from(text, 'base64').length;
  if (n !== 32) return { problem: `is damaged: master key must be 32 bytes, found ${n}` };
  return { key: new Secret(text) };
}

async function sealedCount(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('integrations').select((eb) => eb.fn.countAll<number>().as('n')).where('auth_headers_sealed', 'is not', null).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** The refusal of a damaged or unreadable key file: what is wrong, and both ways forward with what each costs. */
async function keyFileError(file: string, problem: string, db: Kysely<Database>, cause?: unknown): Promise<StartupError> {
  const sealed = await sealedCount(db);
  const cost =
    sealed === 0
      ? 'no integration has stored secrets yet, so none is lost'
      : `moving it aside loses the stored integration secrets: the auth headers of ${sealed} integration(s) were sealed with this key; ` +
        'those integrations are paused until their headers are set again';
  return new StartupError(
    `the master key file ${file} ${problem}. Restore it from a backup (with Meterway stopped), or set METERWAY_MASTER_KEY to the original key; ` +
      `or move it aside to start with a new key: ${moveAsideCommand(file)} (${cost})`,
    file,
    { cause },
  );
}

/** Moved-aside master.key files not acted on before (their ids are in meta `master_key_set_aside`). */
function setAsideKeys(dataDir: string, done: readonly string[]): Array<{ name: string; id: string }> {
  const found: Array<{ name: string; id: string }> = [];
  for (const name of readdirSync(dataDir).sort()) {
    if (!SET_ASIDE.test(name)) continue;
    let st;
    try {
      st = statSync(join(dataDir, name));
    } catch {
      continue;
    }
    // Identity, not name: one left from an earlier recovery must not give up the credentials
    // sealed with a later key that merely went missing.
    const id = `${name}:${st.ino}:${st.size}:${st.mtimeMs}`;
    if (!done.includes(id)) found.push({ name, id });
  }
  return found;
}

/**
 * A new key into master.key (absent), recorded as the database's key. Credentials sealed with an
 * earlier key are given up only when that key was moved aside: a key file that just went missing
 * can often be restored, and starting over would lose them for good.
 */
async function newKeyFile(file: string, dataDir: string, db: Kysely<Database>): Promise<Secret> {
  const key = new Secret(randomBytes(32).toString('base64'));
  const done = JSON.parse((await meta(db, 'master_key_set_aside')) ?? '[]') as string[];
  const aside = setAsideKeys(dataDir, done);
  const sealed = await sealedCount(db);
  if (sealed > 0 && aside.length === 0) {
    throw new StartupError(
      `the master key file ${file} is missing, but the auth headers of ${sealed} integration(s) in the database are sealed with the key it held. ` +
        'Restore it from a backup (with Meterway stopped), or set METERWAY_MASTER_KEY to that key. ' +
        `If the key is lost for good, run \`touch ${shellQuote(`${file}.corrupt`)}\` and start again: a new key is made, and those integrations lose their auth headers and are paused until they are set again`,
      file,
    );
  }
  const now = new Date().toISOString();
  // One transaction: the new key's fingerprint is never recorded with credentials it cannot open.
  await db.transaction().execute(async (tx) => {
    const rows = await tx.selectFrom('integrations').select(['id', 'enabled', 'auth_header_names']).where('auth_headers_sealed', 'is not', null).execute();
    for (const r of rows) {
      const names = (JSON.parse(r.auth_header_names) as string[]).join(', ');
      const why = `its auth headers (${names}) were sealed with the master key moved aside to ${aside[0].name}, and are lost: set them again (meterway integrations update --header 'Name: value'), then enable it`;
      await tx
        .updateTable('integrations')
        .set({ auth_headers_sealed: null, key_version: null, auth_header_names: '[]', last_error: why, updated_at: now, ...(r.enabled === 1 ? { state: 'paused', paused_reason: why } : {}) })
        .where('id', '=', r.id)
        .execute();
    }
    await setMeta(tx, 'master_key_fingerprint', fingerprint(key));
    if (aside.length > 0) await setMeta(tx, 'master_key_set_aside', JSON.stringify([...done, ...aside.map((a) => a.id)]));
  });
  // Written once the database has the key, so a failure above leaves no key file that mismatches it.
  writeFileSync(file, `${key.reveal()}\n`, { mode: 0o600, flag: 'wx' });
  return key;
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
    // The database names the key it was committed with: promote the new file, or drop it. One
    // that does not hold a key cannot be the committed one; one that cannot be read might be.
    const candidate = readKeyFile(next);
    if (candidate !== undefined && 'problem' in candidate && candidate.cause !== undefined) {
      throw new StartupError(
        `the new master key file ${next}, left by a \`meterway keys rotate\` that did not finish, ${candidate.problem}. ` +
          `If that rotation did finish, this file holds the key the credentials are sealed with: fix it, or restore it from a backup; otherwise remove it (rm ${shellQuote(next)})`,
        next,
        { cause: candidate.cause },
      );
    }
    if (stored !== undefined && candidate !== undefined && 'key' in candidate && fingerprint(candidate.key) === stored) renameSync(next, file);
    else rmSync(next);
  }
  let key: Secret;
  let made = false;
  if (configured !== undefined) key = configured;
  else {
    const read = readKeyFile(file);
    if (read !== undefined && 'problem' in read) throw await keyFileError(file, read.problem, db, read.cause);
    made = read === undefined;
    key = read?.key ?? (await newKeyFile(file, dataDir, db));
  }
  const print = fingerprint(key);
  // A key newKeyFile made is the database's already.
  if (!made && stored === undefined) await setMeta(db, 'master_key_fingerprint', print);
  else if (!made && stored !== print) {
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
