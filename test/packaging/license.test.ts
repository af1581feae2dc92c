/** LICENSE is the full Apache License 2.0, as package.json's `license` says, and ships in the package. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REPO } from '../cli/harness.js';

it('LICENSE is the Apache License 2.0 text, unaltered, matching package.json', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { license: string; files: string[] };
  expect(pkg.license).toBe('Apache-2.0');
  const text = readFileSync(join(REPO, 'LICENSE'));
  // https://www.apache.org/licenses/LICENSE-2.0.txt, byte for byte.
  expect(createHash('sha256').update(text).digest('hex')).toBe('cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30');
  const s = text.toString('utf8');
  expect(s).toContain('Apache License\n                           Version 2.0, January 2004');
  expect(s).toContain('END OF TERMS AND CONDITIONS');
});
