/**
 * The npm package as a user gets it: `npm pack` (whose `prepare` builds dist/ from this tree's
 * sources), `npm install` of the tarball into an empty directory (production dependencies only,
 * from the registry or the local npm cache; better-sqlite3 compiles when no prebuilt binary can be
 * fetched), then `npx meterway serve` there on an ephemeral port with a temporary data directory,
 * until /healthz answers, and a clean stop.
 *
 * The tree is packed from a copy (package.json, tsconfig*.json, README.md, LICENSE, src/, with
 * node_modules linked for the compiler), so the working tree's own dist/ is left alone. Slow: the
 * install takes a minute or more where better-sqlite3 compiles.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../cli/harness.js';
import { freePort, poll, run, Spawned } from '../peers.js';

const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string; license: string; bin: Record<string, string>; files: string[] };

/** The environment without the caller's Meterway settings or an enclosing npm run's config. */
function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('METERWAY_') || /^npm_(config|package|lifecycle)_/i.test(k)) continue;
    e[k] = v;
  }
  e.NO_COLOR = '1';
  return e;
}

interface PackResult {
  filename: string;
  files: Array<{ path: string; mode: number }>;
}

describe('npm pack, install and serve', { timeout: 60_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'meterway-pack-'));
  const tree = join(root, 'tree');
  const out = join(root, 'out');
  const inst = join(root, 'install');
  const data = join(root, 'data');
  let packed: PackResult;
  let tarball: string;
  let installed: Awaited<ReturnType<typeof run>>;

  beforeAll(async () => {
    mkdirSync(tree);
    mkdirSync(out);
    mkdirSync(inst);
    for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'src']) cpSync(join(REPO, f), join(tree, f), { recursive: true });
    symlinkSync(join(REPO, 'node_modules'), join(tree, 'node_modules'), 'dir');
    const p = await run('npm', ['pack', '--json', '--pack-destination', out], { cwd: tree, env: env(), timeoutMs: 180_000 });
    expect(p.code, p.stderr).toBe(0);
    // The JSON report, after anything the prepare script may have printed.
    packed = (JSON.parse(p.stdout.slice(p.stdout.search(/^\[/m))) as PackResult[])[0];
    tarball = join(out, packed.filename);
    installed = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: inst, env: env(), timeoutMs: 420_000 });
  }, 620_000);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('packs dist/, README.md, LICENSE and package.json, and no sources or tests', () => {
    expect(packed.filename).toBe(`${PKG.name}-${PKG.version}.tgz`);
    expect(existsSync(tarball)).toBe(true);
    const paths = packed.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', PKG.bin.meterway.replace(/^\.\//, '')]));
    expect(paths.filter((p) => !p.startsWith('dist/')).sort()).toEqual(['LICENSE', 'README.md', 'package.json']);
    expect(paths.filter((p) => /\.test\.|\/conformance\//.test(p))).toEqual([]);
    expect(paths).toContain('dist/query/worker.js');
  });

  it('installs into an empty directory with its production dependencies', () => {
    expect(installed.code, `${installed.stdout}\n${installed.stderr}`).toBe(0);
    const bin = join(inst, 'node_modules', '.bin', 'meterway');
    expect(existsSync(bin)).toBe(true);
    const main = join(inst, 'node_modules', PKG.name, PKG.bin.meterway);
    expect(readFileSync(main, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(main).mode & 0o111).not.toBe(0);
    expect(readFileSync(join(inst, 'node_modules', PKG.name, 'LICENSE'), 'utf8')).toContain('Apache License');
    // Development dependencies stay out.
    for (const dev of ['typescript', 'vitest', 'tsx', 'esbuild']) expect(existsSync(join(inst, 'node_modules', dev)), dev).toBe(false);
  });

  it('npx meterway serve there answers /healthz and /readyz, and stops on SIGTERM', async () => {
    expect(installed.code).toBe(0);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    // Its own process group: npx runs the bin through a shell, so the signal goes to the group.
    const gw = new Spawned(spawn('npx', ['--no', 'meterway', 'serve', '--port', String(port), '--data-dir', data], { cwd: inst, env: env(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      const health = await poll('the installed gateway to answer /healthz', async () => {
        if (gw.exited) throw new Error(`it exited: ${gw.stdout}\n${gw.stderr}`);
        const res = await fetch(`${url}/healthz`);
        return res.ok ? res.json() : undefined;
      }, 60_000, 200);
      expect(health).toEqual({ status: 'ok' });
      expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready' });
      expect(statSync(join(data, 'admin-token')).mode & 0o777).toBe(0o600);
    } finally {
      if (!gw.exited) process.kill(-gw.child.pid!, 'SIGTERM');
      const killer = setTimeout(() => {
        try {
          process.kill(-gw.child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 15_000);
      // npx may exit before the gateway it started has written its last line into the shared pipe.
      await gw.closed;
      clearTimeout(killer);
    }
    expect(gw.stdout).toContain('shutting down');
    await poll('the gateway to be gone', async () => ((await fetch(`${url}/healthz`).then(() => false, () => true)) ? true : undefined), 15_000, 200);
  });
});
