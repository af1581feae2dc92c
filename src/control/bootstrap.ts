/** The operator's first admin token, for a server started without METERWAY_ADMIN_TOKEN. */
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { Tokens } from './tokens.js';

/**
 * When no server-wide admin token is active, makes one, keeps only its hash and writes the token to
 * `DIR/admin-token` (mode 0600). Returns the file written, if any.
 */
export async function bootstrapAdminToken(tokens: Tokens, dataDir: string): Promise<string | undefined> {
  if ((await tokens.countServerWide('admin')) > 0) return undefined;
  const created = await tokens.create({ scope: 'admin', name: 'bootstrap admin', project_id: null });
  const file = join(dataDir, 'admin-token');
  writeFileSync(file, `${created.token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}
