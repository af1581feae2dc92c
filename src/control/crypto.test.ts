import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Secret } from '../config/secret.js';
import { CredentialCipher, CredentialError } from './crypto.js';

const key = () => new Secret(randomBytes(32).toString('base64'));

describe('CredentialCipher', () => {
  it('round-trips with a fresh nonce per record', () => {
    const c = new CredentialCipher(new Map([[1, key()]]), 1);
    const a = c.seal('{"Authorization":"Basic c2VjcmV0"}', 'i-one');
    const b = c.seal('{"Authorization":"Basic c2VjcmV0"}', 'i-one');
    expect(a.sealed).not.toBe(b.sealed);
    expect(a.keyVersion).toBe(1);
    expect(Buffer.from(a.sealed, 'base64').toString('latin1')).not.toContain('c2VjcmV0');
    expect(c.open(a, 'i-one')).toBe('{"Authorization":"Basic c2VjcmV0"}');
  });

  it('binds the record id: a ciphertext moved to another integration does not open', () => {
    const c = new CredentialCipher(new Map([[1, key()]]), 1);
    const sealed = c.seal('secret', 'i-one');
    expect(() => c.open(sealed, 'i-two')).toThrow(CredentialError);
  });

  it('refuses a wrong key or a tampered record without saying more', () => {
    const sealed = new CredentialCipher(new Map([[1, key()]]), 1).seal('secret', 'i-one');
    const other = new CredentialCipher(new Map([[1, key()]]), 1);
    expect(() => other.open(sealed, 'i-one')).toThrow('stored credentials do not decrypt with the master key (wrong key, or the record was altered)');
    const raw = Buffer.from(sealed.sealed, 'base64');
    raw[15] ^= 1;
    const mine = new CredentialCipher(new Map([[1, key()]]), 1);
    expect(() => mine.open({ keyVersion: 1, sealed: raw.toString('base64') }, 'i-one')).toThrow(CredentialError);
  });

  it('opens records of older key versions it holds and seals with the current one', () => {
    const k1 = key();
    const k2 = key();
    const old = new CredentialCipher(new Map([[1, k1]]), 1).seal('v1 secret', 'i-x');
    const both = new CredentialCipher(new Map([[1, k1], [2, k2]]), 2);
    expect(both.open(old, 'i-x')).toBe('v1 secret');
    expect(both.seal('new', 'i-x').keyVersion).toBe(2);
    expect(() => new CredentialCipher(new Map([[2, k2]]), 2).open(old, 'i-x')).toThrow(/version 1/);
  });
});
