/**
 * `meterway --version`, `serve --log-level` against METERWAY_LOG_LEVEL, and `--config` with a YAML
 * file, as a user runs them.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, poll } from '../peers.js';
import { REPO, cleanedUpAfterAll, runCli, startServe } from './harness.js';

const ADMIN = 'mw_admin_options-test-0123456789abcdefghijklm';
const { servers, tempDir } = cleanedUpAfterAll('meterway-options-');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

const serve = (args: string[], env: Record<string, string | undefined> = {}) => startServe(servers, ['--data-dir', tempDir(), ...args], { METERWAY_ADMIN_TOKEN: ADMIN, ...env });

const levels = (stdout: string): number[] => stdout.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { level: number }).level);

describe('meterway options', { timeout: 120_000 }, () => {
  it('--version and -V print the package version and nothing else', async () => {
    const [long, short] = await Promise.all([runCli(['--version']), runCli(['-V'])]);
    for (const r of [long, short]) expect(r).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('--log-level wins over METERWAY_LOG_LEVEL, which wins over the file', async () => {
    const cfg = join(tempDir(), 'meterway.yaml');
    writeFileSync(cfg, 'log_level: debug\n');
    const [quiet, chatty, fromFile] = await Promise.all([
      serve(['--log-level', 'warn'], { METERWAY_LOG_LEVEL: 'debug' }),
      serve(['--log-level', 'debug'], { METERWAY_LOG_LEVEL: 'error' }),
      serve(['--config', cfg]),
    ]);
    await Promise.all([chatty, fromFile].map((s) => poll('the listening line', () => (s.proc.stdout.includes('Meterway is listening') ? true : undefined), 5_000)));
    for (const s of [quiet, chatty, fromFile]) {
      expect((await fetch(`${s.url}/healthz`)).ok).toBe(true);
      expect(await s.proc.stop()).toEqual({ code: 0, signal: null });
    }
    // warn: not one info or debug line, not even "listening"
    expect(levels(quiet.proc.stdout).every((l) => l >= 40)).toBe(true);
    expect(quiet.proc.stdout).not.toContain('Meterway is listening');
    for (const s of [chatty, fromFile]) {
      expect(levels(s.proc.stdout)).toContain(20);
      expect(s.proc.stdout).toContain('restored series from the embedded store');
    }
    const bad = await runCli(['serve', '--log-level', 'loud', '--data-dir', join(tempDir(), 'x')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--log-level/);
    expect(bad.stderr).toMatch(/fatal, error, warn, info, debug, trace, silent/);
  });

  it('--config reads a YAML file; a bad one is refused naming the file, the line and the key', async () => {
    const dir = tempDir();
    const good = join(dir, 'meterway.yml');
    writeFileSync(good, '# the gateway\nmetrics:\n  prefix: acme\nlog_format: json\n');
    const s = await serve(['--config', good]);
    const auth = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const p = (await (await fetch(`${s.url}/v1/projects`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'yaml' }) })).json()) as { id: string };
    const sent = await fetch(`${s.url}/v1/events`, { method: 'POST', headers: auth, body: JSON.stringify({ type: 'run', project_id: p.id, app_name: 'a', status: 'success' }) });
    expect(sent.status).toBe(200);
    const scrape = await fetch(`${s.url}/v1/projects/${p.id}/metrics`, { headers: auth });
    expect(scrape.status).toBe(200);
    // the prefix the YAML file set
    expect(await scrape.text()).toMatch(/^acme_runs_total\{/m);
    expect(await s.proc.stop()).toEqual({ code: 0, signal: null });

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, '# the gateway\nmetrics:\n  prefix: acme\n  max_series_per_project: lots\n');
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'metrics:\n  prefix: [acme\n');
    const dataDir = join(dir, 'never-made');
    const [badValue, badSyntax] = await Promise.all([
      runCli(['serve', '--port', String(await freePort()), '--data-dir', dataDir, '--config', bad]),
      runCli(['serve', '--port', String(await freePort()), '--data-dir', dataDir], { METERWAY_CONFIG: broken }),
    ]);
    expect(badValue.code).toBe(2);
    expect(badValue.stdout).toBe('');
    expect(badValue.stderr).toContain(`metrics.max_series_per_project: expected integer`);
    expect(badValue.stderr).toContain(`(got "lots") (in ${bad}:4)`);
    expect(badSyntax.code).toBe(2);
    expect(badSyntax.stderr).toMatch(new RegExp(`config: ${broken} line \\d+, column \\d+ is not valid YAML`));
    expect(existsSync(dataDir)).toBe(false);
  });
});
