/**
 * deploy/meterway.service, parsed as systemd reads it (sections, repeated keys, comments) and held
 * to what deploy/README.md promises: `meterway serve` from the npm install under /opt/meterway, a
 * user of its own (DynamicUser), the data directory as its StateDirectory, and the hardening
 * options. Where systemd-analyze is installed, `systemd-analyze verify` must accept the unit and
 * `systemd-analyze security --offline=yes` must rate it at most 2.0 (systemd 250 or later); where
 * it is not, those tests are skipped: run the same commands on a systemd machine (deploy/README.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../cli/harness.js';
import { run } from '../peers.js';

const UNIT = join(REPO, 'deploy', 'meterway.service');

/** Section → key → values in order (a key may repeat; an empty assignment resets, kept as ''). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i].trim()}`;
    const s = /^\[([A-Za-z]+)\]$/.exec(line);
    if (s !== null) {
      section = s[1];
      out[section] ??= {};
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)$/.exec(line);
    if (kv === null || section === undefined) throw new Error(`meterway.service line ${i + 1}: not a key=value in a section: ${line}`);
    (out[section][kv[1]] ??= []).push(kv[2]);
  }
  return out;
}

const unit = parseUnit(readFileSync(UNIT, 'utf8'));
const service = unit.Service ?? {};
const one = (key: string) => {
  const v = service[key];
  return v === undefined ? undefined : v[v.length - 1];
};
const envOf = () => Object.fromEntries((service.Environment ?? []).flatMap((e) => e.split(/\s+/)).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; bin: Record<string, string> };

const analyze = existsSync('/usr/bin/systemd-analyze') ? '/usr/bin/systemd-analyze' : existsSync('/bin/systemd-analyze') ? '/bin/systemd-analyze' : undefined;
const systemdVersion = analyze === undefined ? 0 : Number(/systemd (\d+)/.exec(execFileSync(analyze, ['--version'], { encoding: 'utf8' }))?.[1] ?? 0);

describe('deploy/meterway.service', () => {
  it('has [Unit], [Service] and [Install] sections and starts after the network', () => {
    expect(Object.keys(unit)).toEqual(['Unit', 'Service', 'Install']);
    expect(unit.Unit.Description?.[0]).toMatch(/Meterway/);
    expect(unit.Unit.After).toContain('network-online.target');
    expect(unit.Unit.Wants).toContain('network-online.target');
    expect(unit.Install.WantedBy).toEqual(['multi-user.target']);
  });

  it('runs meterway serve from the npm install under /opt/meterway, in the foreground', () => {
    expect(one('Type')).toBe('simple');
    const argv = one('ExecStart')!.split(/\s+/);
    expect(argv[0]).toBe('/usr/bin/node');
    expect(argv[1]).toBe(`/opt/meterway/node_modules/${PKG.name}/${PKG.bin.meterway.replace(/^\.\//, '')}`);
    expect(argv.slice(2)).toEqual(['serve']);
    // The gateway's SIGTERM handler closes the store cleanly.
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(one('Restart')).toBe('on-failure');
    expect(service.EnvironmentFile).toEqual(['-/etc/meterway/meterway.env']);
  });

  it('has a user of its own and its data directory as the StateDirectory', () => {
    expect(one('DynamicUser') === 'yes' || one('User') === 'meterway').toBe(true);
    expect(one('User') ?? 'meterway').not.toBe('root');
    expect(one('StateDirectory')).toBe('meterway');
    expect(one('StateDirectoryMode')).toBe('0700');
    const env = envOf();
    expect(env.METERWAY_DATA_DIR).toBe('%S/meterway');
    expect(one('WorkingDirectory')).toBe('%S/meterway');
    expect(env.METERWAY_PORT).toBe('9470');
    expect(env.METERWAY_HOST).toBe('127.0.0.1');
  });

  it('is hardened, short of what V8 needs', () => {
    const want: Record<string, string> = {
      NoNewPrivileges: 'yes',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      PrivateUsers: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      ProtectClock: 'yes',
      ProtectHostname: 'yes',
      RestrictNamespaces: 'yes',
      RestrictRealtime: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      SystemCallArchitectures: 'native',
      UMask: '0077',
    };
    for (const [k, v] of Object.entries(want)) expect(one(k), k).toBe(v);
    expect(one('RestrictAddressFamilies')!.split(/\s+/)).toEqual(expect.arrayContaining(['AF_INET', 'AF_INET6', 'AF_UNIX']));
    expect(service.SystemCallFilter).toContain('@system-service');
    // V8 compiles to writable, executable memory: this would kill the process at its first JIT.
    expect(one('MemoryDenyWriteExecute') ?? 'no').toBe('no');
  });

  it.skipIf(analyze === undefined)('systemd-analyze verify accepts it', async () => {
    const r = await run(analyze!, ['verify', UNIT], { timeoutMs: 60_000 });
    const aboutUs = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes('meterway.service'));
    expect({ code: r.code, aboutUs }, r.stderr).toEqual({ code: 0, aboutUs: [] });
  });

  it.skipIf(analyze === undefined || systemdVersion < 250)('systemd-analyze security --offline rates its exposure at most 2.0', async () => {
    // The threshold is in tenths of the level printed (0.0 to 10.0).
    const r = await run(analyze!, ['security', '--offline=yes', '--threshold=20', UNIT], { timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const level = Number(/Overall exposure level for meterway\.service: (\d+\.\d)/.exec(r.stdout)?.[1]);
    expect(level).toBeLessThanOrEqual(2);
  });
});
