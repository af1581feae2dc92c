import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Random lowercase letters and digits; rejection sampling keeps every character equally likely. */
export function randomId(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 252 && out.length < length) out += ALPHABET[byte % 36];
    }
  }
  return out;
}

export const PROJECT_ID = /^p-[a-z0-9]{8}$/;
export const newProjectId = (): string => `p-${randomId(8)}`;
export const newTokenId = (): string => `t-${randomId(12)}`;
