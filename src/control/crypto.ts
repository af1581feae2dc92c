/**
 * Credentials at rest: AES-256-GCM under the master key, a random 96-bit nonce per record, and the
 * record's id (with the key version) bound as associated data, so a ciphertext copied onto another
 * integration does not decrypt. The key version lets `meterway keys rotate` re-encrypt everything
 * under a new key while old records still name the key they were sealed with.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Secret } from '../config/secret.js';

const ALGORITHM = 'aes-256-gcm';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface SealedRecord {
  readonly keyVersion: number;
  /** base64 of nonce ‖ ciphertext ‖ tag */
  readonly sealed: string;
}

export class CredentialError extends Error {}

export class CredentialCipher {
  private readonly keys = new Map<number, Buffer>();

  /** `keys` maps a version to its master key; new records use `currentVersion`. */
  constructor(
    keys: ReadonlyMap<number, Secret>,
    readonly currentVersion: number,
  ) {
    for (const [version, key] of keys) {
      const raw = Buffer.from(key.reveal(), 'base64');
      if (raw.length !== 32) throw new CredentialError(`master key version ${version} is not 32 bytes`);
      this.keys.set(version, raw);
    }
    if (!this.keys.has(currentVersion)) throw new CredentialError(`no master key for version ${currentVersion}`);
  }

  seal(plaintext: string, recordId: string): SealedRecord {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.keys.get(this.currentVersion)!, nonce);
    cipher.setAAD(aad(recordId, this.currentVersion));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { keyVersion: this.currentVersion, sealed: Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64') };
  }

  open(record: SealedRecord, recordId: string): string {
    const key = this.keys.get(record.keyVersion);
    if (key === undefined) throw new CredentialError(`credentials were sealed with master key version ${record.keyVersion}, which this server does not have`);
    const raw = Buffer.from(record.sealed, 'base64');
    if (raw.length < NONCE_BYTES + TAG_BYTES) throw new CredentialError('stored credentials are truncated');
    const decipher = createDecipheriv(ALGORITHM, key, raw.subarray(0, NONCE_BYTES));
    decipher.setAAD(aad(recordId, record.keyVersion));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      // Never say more: the cause is a wrong key or tampering, and neither should leak detail.
      throw new CredentialError('stored credentials do not decrypt with the master key (wrong key, or the record was altered)');
    }
  }
}

function aad(recordId: string, version: number): Buffer {
  return Buffer.from(`meterway/credentials/v${version}/${recordId}`, 'utf8');
}
