/**
 * The log format as an operator meets it: JSON lines when standard output is not a terminal (a
 * pipe, a file, a container's log driver), pino-pretty's form on a terminal, either forced by
 * `--log-format` or METERWAY_LOG_FORMAT; and the last lines before an exit are not lost.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, resolveLogFormat } from '../../src/config/logging.js';
import { freePort, poll, run } from '../peers.js';
import { REPO, cleanEnv, cleanedUpAfterAll, runCli, startServe } from './harness.js';

const ADMIN = 'mw_admin_logs-test-0123456789abcdefghijklmnopq';
const { servers, tempDir } = cleanedUpAfterAll('meterway-logs-');

const serve = (args: string[], env: Record<string, string | undefined> = {}) => startServe(servers, ['--data-dir', tempDir(), ...args], { METERWAY_ADMIN_TOKEN: ADMIN, ...env });

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('log format', { timeout: 120_000 }, () => {
  it('writes JSON lines when stdout is not a terminal, and the shutdown line survives the exit', async () => {
    const s = await serve([]);
    await poll('the listening line', () => (s.proc.stdout.includes('Meterway is listening') ? true : undefined), 5_000);
    expect((await fetch(`${s.url}/v1/projects?token=${ADMIN}`, { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
    expect((await fetch(`${s.url}/v1/projects`, { headers: { authorization: 'Bearer mw_admin_wrong' } })).status).toBe(401);
    expect(await s.proc.stop()).toEqual({ code: 0, signal: null });
    expect(s.proc.stdout).not.toContain(ADMIN);
    const out = lines(s.proc.stdout);
    expect(out.length).toBeGreaterThan(1);
    const parsed = out.map((l) => JSON.parse(l) as { level: number; time: number; msg: string });
    for (const p of parsed) expect(p).toMatchObject({ level: expect.any(Number), time: expect.any(Number), msg: expect.any(String) });
    expect(parsed.map((p) => p.msg)).toEqual(expect.arrayContaining(['Meterway is listening', 'shutting down']));
    expect(parsed.at(-1)).toMatchObject({ msg: 'shutting down', signal: 'SIGTERM' });
    // every request leaves one line, a refused one too
    const access = parsed.filter((p) => p.msg === 'request');
    expect(access.filter((a) => (a as Record<string, unknown>).route === '/v1/projects')).toEqual([
      expect.objectContaining({ level: 30, method: 'GET', route: '/v1/projects', status: 200, token_id: 'env-admin', duration_ms: expect.any(Number) }),
      expect.objectContaining({ level: 30, method: 'GET', route: '/v1/projects', status: 401 }),
    ]);
  });

  it('writes human-readable lines with --log-format pretty (and METERWAY_LOG_FORMAT=pretty), none of them JSON', async () => {
    const [byFlag, byEnv] = await Promise.all([serve(['--log-format', 'pretty']), serve([], { METERWAY_LOG_FORMAT: 'pretty' })]);
    for (const s of [byFlag, byEnv]) {
      await poll('the listening line', () => (s.proc.stdout.includes('Meterway is listening') ? true : undefined), 5_000);
      expect(await s.proc.stop()).toEqual({ code: 0, signal: null });
      const out = lines(s.proc.stdout);
      for (const l of out) expect(() => JSON.parse(l), l).toThrow();
      expect(s.proc.stdout).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: Meterway is listening$/m);
      // not a terminal: no colour codes
      expect(s.proc.stdout).not.toContain('\u001b[');
      expect(out.at(-2)).toMatch(/INFO: shutting down$/);
      expect(out.at(-1)).toBe('    signal: "SIGTERM"');
    }
  });

  it('the flag wins over METERWAY_LOG_FORMAT, and a bad format is refused naming the choices', async () => {
    const s = await serve(['--log-format', 'json'], { METERWAY_LOG_FORMAT: 'pretty' });
    await poll('the listening line', () => (s.proc.stdout.includes('Meterway is listening') ? true : undefined), 5_000);
    expect(await s.proc.stop()).toEqual({ code: 0, signal: null });
    for (const l of lines(s.proc.stdout)) expect(() => JSON.parse(l)).not.toThrow();

    const dataDir = join(tempDir(), 'never');
    const [badFlag, badEnv] = await Promise.all([
      runCli(['serve', '--port', String(await freePort()), '--data-dir', dataDir, '--log-format', 'xml']),
      runCli(['serve', '--port', String(await freePort()), '--data-dir', dataDir], { METERWAY_LOG_FORMAT: 'xml' }),
    ]);
    expect(badFlag.code).not.toBe(0);
    expect(badFlag.stderr).toMatch(/--log-format/);
    expect(badFlag.stderr).toMatch(/auto, pretty, json/);
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toMatch(/log_format: .*one of auto, pretty, json/);
    expect(existsSync(dataDir)).toBe(false);
  });

  // `script` runs the program on a pseudo-terminal, as a person's shell would.
  it.runIf(existsSync('/usr/bin/script'))('is pretty (and coloured) on a real terminal by default; format json keeps JSON there', async () => {
    const dir = tempDir();
    const prog = join(dir, 'log.mts');
    writeFileSync(prog, [
      `import { createLogger } from ${JSON.stringify(join(REPO, 'src/config/logging.ts'))};`,
      `const log = await createLogger({ level: 'info', format: (process.env.FORMAT ?? 'auto') as never });`,
      `log.info({ tty: process.stdout.isTTY === true }, 'on a terminal');`,
      // exit at once: the line must already be written
      `process.exit(0);`,
    ].join('\n'));
    const onTty = (format?: string) =>
      run('/usr/bin/script', ['-qec', `${process.execPath} --import tsx ${prog}`, '/dev/null'], {
        env: cleanEnv({ FORMAT: format, NO_COLOR: undefined, TERM: 'xterm' }),
        cwd: REPO,
        timeoutMs: 30_000,
      });
    const [auto, json] = await Promise.all([onTty(), onTty('json')]);
    expect(auto.code, auto.stderr).toBe(0);
    const plain = auto.stdout.replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/INFO: on a terminal/);
    expect(plain).toMatch(/tty: true/);
    expect(auto.stdout).toContain('\u001b['); // colours on a terminal
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ msg: 'on a terminal', tty: true });
  });
});

describe('createLogger', () => {
  it('resolves auto by whether the output is a terminal', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });

  it('writes each line synchronously, pretty or JSON', async () => {
    for (const format of ['pretty', 'json'] as const) {
      const written: string[] = [];
      const sink = { write: (s: string) => void written.push(s) };
      const log = await createLogger({ level: 'info', format, destination: sink as never, isTTY: false });
      log.info({ n: 1 }, 'first');
      // no tick has passed: the line is out already
      expect(written.join('')).toContain('first');
    }
  });

  it('prints an access line as one readable line, its fields not repeated below it', async () => {
    const written: string[] = [];
    const log = await createLogger({ level: 'info', format: 'pretty', destination: { write: (s: string) => void written.push(s) }, isTTY: false });
    log.child({ reqId: 'req-1' }).info({ method: 'GET', route: '/v1/projects/:pid/metrics', status: 200, duration_ms: 1.5, project_id: 'p-abcdefgh', token_id: 't-123456789012' }, 'request');
    log.info({ status: 'kept' }, 'another line');
    const out = written.join('');
    expect(out).toMatch(/INFO: GET \/v1\/projects\/:pid\/metrics 200 1\.5 ms project=p-abcdefgh token=t-123456789012\n\[/);
    expect(out).not.toMatch(/reqId|route:|method:/);
    // the same keys on other lines are shown as usual
    expect(out).toMatch(/INFO: another line\n {4}status: "kept"\n$/);
  });
});
