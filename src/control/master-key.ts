/** The master key that encrypts stored credentials (CONTRACT section 1). */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Secret } from '../config/secret.js';

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
