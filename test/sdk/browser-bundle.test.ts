/**
 * The SDK runs in browsers: bundled for the browser platform it pulls in nothing of Node (esbuild
 * fails on a `node:` import there) and nothing of the server; its only globals are web APIs.
 */
import { build } from 'esbuild';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REPO } from '../cli/harness.js';

it('bundles for the browser from its own entry, without Node built-ins or server modules', async () => {
  const out = await build({
    entryPoints: [join(REPO, 'src/sdk/index.ts')], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent',
  });
  expect(out.errors).toEqual([]);
  const inputs = Object.keys(out.metafile.inputs);
  expect(inputs.every((f) => f.startsWith('src/sdk/'))).toBe(true);
  const code = out.outputFiles[0].text;
  expect(code).not.toMatch(/\brequire\(|from ["']node:/);
  expect(code.length).toBeLessThan(40_000);
});
