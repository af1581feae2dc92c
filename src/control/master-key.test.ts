import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Secret } from '../config/secret.js';
import { openSqlite } from '../store/db.js';
import { MasterKeyError, fingerprint, openCredentialCipher, rotateMasterKey } from './master-key.js';

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'mw-key-'));
  const db = await openSqlite(join(dir, 'meterway.db'));
  await db.insertInto('projects').values({ id: 'p-aaaaaaaa', name: 'p', created_at: 'x' }).execute();
  return { dir, db };
}

async function addSealed(db: Awaited<ReturnType<typeof openSqlite>>, id: string, plain: string, cipher: Awaited<ReturnType<typeof openCredentialCipher>>['cipher']) {
  const s = cipher.seal(plain, id);
  await db.insertInto('integrations').values({
    id, project_id: 'p-aaaaaaaa', name: id, kind: 'otlp', endpoint: 'http://x', config: '{}', auth_header_names: '["A"]',
    auth_headers_sealed: s.sealed, key_version: s.keyVersion, enabled: 1, state: 'active', paused_reason: null, last_success_at: null,
    last_attempt_at: null, last_error: null, consecutive_failures: 0, created_at: 'x', updated_at: 'x',
  }).execute();
}

describe('master key', () => {
  it('is generated once into master.key with mode 0600 and refused when it changes', async () => {
    const { dir, db } = await setup();
    const first = await openCredentialCipher(undefined, dir, db);
    expect(statSync(join(dir, 'master.key')).mode & 0o777).toBe(0o600);
    const again = await openCredentialCipher(undefined, dir, db);
    expect(fingerprint(again.key)).toBe(fingerprint(first.key));
    const wrong = new Secret(randomBytes(32).toString('base64'));
    await expect(openCredentialCipher(wrong, dir, db)).rejects.toThrow(MasterKeyError);
    await expect(openCredentialCipher(wrong, dir, db)).rejects.toThrow(/^the master key \(METERWAY_MASTER_KEY\) is not the one that sealed/);
    await db.destroy();
  });

  it('rotates: every record re-encrypted under a new key version, the old key no longer works', async () => {
    const { dir, db } = await setup();
    const { cipher } = await openCredentialCipher(undefined, dir, db);
    await addSealed(db, 'i-1', '{"A":"one"}', cipher);
    await addSealed(db, 'i-2', '{"A":"two"}', cipher);
    const oldKey = readFileSync(join(dir, 'master.key'), 'utf8');
    const r = await rotateMasterKey(db, dir, undefined);
    expect(r).toEqual({ version: 2, records: 2, keyFile: join(dir, 'master.key') });
    expect(readFileSync(join(dir, 'master.key'), 'utf8')).not.toBe(oldKey);
    expect(existsSync(join(dir, 'master.key.next'))).toBe(false);
    const rows = await db.selectFrom('integrations').select(['id', 'key_version', 'auth_headers_sealed']).orderBy('id').execute();
    expect(rows.map((row) => row.key_version)).toEqual([2, 2]);
    const reopened = await openCredentialCipher(undefined, dir, db);
    expect(rows.map((row) => reopened.cipher.open({ keyVersion: 2, sealed: row.auth_headers_sealed! }, row.id))).toEqual(['{"A":"one"}', '{"A":"two"}']);
    await expect(openCredentialCipher(new Secret(oldKey.trim()), dir, db)).rejects.toThrow(MasterKeyError);
    await db.destroy();
  });

  it('finishes or undoes a rotation interrupted before the key file was renamed', async () => {
    const { dir, db } = await setup();
    await openCredentialCipher(undefined, dir, db);
    const stray = randomBytes(32).toString('base64');
    writeFileSync(join(dir, 'master.key.next'), stray);
    // The database never committed this key: the leftover file is dropped.
    const kept = await openCredentialCipher(undefined, dir, db);
    expect(existsSync(join(dir, 'master.key.next'))).toBe(false);
    expect(kept.key.reveal()).not.toBe(stray);
    // The database did commit it: the file is promoted.
    writeFileSync(join(dir, 'master.key.next'), stray);
    await db.updateTable('meta').set({ value: fingerprint(new Secret(stray)) }).where('key', '=', 'master_key_fingerprint').execute();
    expect((await openCredentialCipher(undefined, dir, db)).key.reveal()).toBe(stray);
    expect(readFileSync(join(dir, 'master.key'), 'utf8').trim()).toBe(stray);
    await db.destroy();
  });
});
