import { describe, expect, it } from 'vitest';
import { base64Forms, REDACTED, redactSecrets, redactorFor, secretsOf } from './redact.js';

const TOKEN = 'tok_S3cr3t/+value=42&more';
const BEARER = `Bearer ${TOKEN}`;
const PAIR = 'svc-user:pa ss/word!42';
const BASIC = `Basic ${Buffer.from(PAIR).toString('base64')}`;

describe('redactSecrets', () => {
  it('replaces a value verbatim, and the credentials after its auth scheme on their own', () => {
    expect(redactSecrets(`got ${BEARER}.`, [BEARER])).toBe(`got ${REDACTED}.`);
    expect(redactSecrets(`token ${TOKEN} refused`, [BEARER])).toBe(`token ${REDACTED} refused`);
  });

  it('replaces base64 and base64url forms, also inside a longer base64 text at any byte offset', () => {
    const b64 = Buffer.from(TOKEN).toString('base64');
    expect(redactSecrets(`x ${b64} y`, [BEARER])).not.toContain(b64.replace(/=+$/, ''));
    expect(redactSecrets(`x ${Buffer.from(TOKEN).toString('base64url')} y`, [BEARER])).toBe(`x ${REDACTED} y`);
    for (const around of ['', 'a', 'ab', 'abc', 'abcd']) {
      const blob = Buffer.from(`${around}${TOKEN}${around}`).toString('base64');
      const out = redactSecrets(blob, [BEARER]);
      expect(out, around).toContain(REDACTED);
      // What is left is only what the surrounding bytes share with the token's edges.
      expect(out.replace(REDACTED, '').length, around).toBeLessThanOrEqual(12);
    }
  });

  it('replaces percent-encoded forms in either hex case, with + for a space, and JSON or HTML escapes', () => {
    const upper = encodeURIComponent(TOKEN);
    const lower = upper.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
    const strict = TOKEN.replace(/[^A-Za-z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
    for (const form of [upper, lower, strict, TOKEN.replace('&', '&amp;'), JSON.stringify(`a"${TOKEN}`).slice(1, -1)]) {
      expect(redactSecrets(`[${form}]`, [BEARER, `a"${TOKEN}`]), form).toBe(`[${REDACTED}]`);
    }
    expect(redactSecrets('p=pa+ss%2Fword!42', [BASIC])).toBe(`p=${REDACTED}`);
  });

  it('takes a Basic value apart: its base64, the decoded pair, and a user or password of 6 characters or more', () => {
    expect(secretsOf([BASIC])).toEqual(expect.arrayContaining([BASIC, BASIC.slice(6), PAIR, 'svc-user', 'pa ss/word!42']));
    const out = redactSecrets(`no user svc-user with password 'pa ss/word!42' in ${BASIC.slice(6)} (${PAIR})`, [BASIC]);
    expect(out).toBe(`no user ${REDACTED} with password '${REDACTED}' in ${REDACTED} (${REDACTED})`);
    // A short user name is an ordinary word: only the long password goes.
    expect(secretsOf([`Basic ${Buffer.from('bob:correct-horse').toString('base64')}`])).not.toContain('bob');
  });

  it('prefers the longest form, so no part of a value is left next to a redaction', () => {
    expect(redactSecrets(`${BEARER} and ${TOKEN}`, [BEARER])).toBe(`${REDACTED} and ${REDACTED}`);
    expect(redactSecrets(PAIR, [BASIC])).toBe(REDACTED);
  });

  it('leaves text alone when there is nothing to redact, and values too short to be secrets', () => {
    expect(redactSecrets('HTTP 420 from port 42', ['42'])).toBe('HTTP 420 from port 42');
    expect(redactorFor([])('anything')).toBe('anything');
    expect(redactSecrets('', [BEARER])).toBe('');
  });

  it('treats regex metacharacters in a secret as plain characters', () => {
    const odd = 'a.b*c+d?(e)[f]{g}|h^$\\i';
    expect(redactSecrets(`x ${odd} axbxxc`, [odd])).toBe(`x ${REDACTED} axbxxc`);
  });

  it('derives base64 runs only the secret determines', () => {
    for (const run of base64Forms(TOKEN)) expect(run.length).toBeGreaterThanOrEqual(8);
  });
});
