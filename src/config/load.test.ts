import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';
import { Secret } from './secret.js';

function writeTemp(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mw-cfg-')), 'c.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({}, {});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 9470, retentionMs: 15 * 86_400_000, demo: false, allowPrivateEgress: false });
    expect(c.dataDir.endsWith('meterway-data')).toBe(true);
    expect(c.metrics).toMatchObject({ prefix: 'meterway', gaugeStaleAfterMs: 300_000, maxSeriesPerProject: 10_000 });
    expect(c.ingest.maxBodyBytes).toBe(10 * 1024 * 1024);
  });

  it('takes flags over environment over file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ port: 1000, host: '0.0.0.0', retention: '1d', metrics: { max_series_per_project: 5 } }));
    const c = loadConfig({ config: file, port: '3000' }, { METERWAY_PORT: '2000', METERWAY_HOST: '::1', METERWAY_ALLOW_PRIVATE_EGRESS: '1' });
    expect(c.port).toBe(3000);
    expect(c.host).toBe('::1');
    expect(c.retentionMs).toBe(86_400_000);
    expect(c.metrics.maxSeriesPerProject).toBe(5);
    expect(c.allowPrivateEgress).toBe(true);
    expect(loadConfig({ retention: '0' }, {}).retentionMs).toBe(0);
  });

  it('names the bad field and what is allowed', () => {
    expect(issues(() => loadConfig({ port: 'abc' }, {}))).toEqual([expect.stringMatching(/^port: expected integer .*\(got "abc"\)$/)]);
    expect(issues(() => loadConfig({ retention: 'banana' }, {}))).toEqual(['retention: must be a duration like 15d, 12h or 90s (got "banana")']);
    const interval = writeTemp({ storage: { interval: '1y' } });
    expect(issues(() => loadConfig({}, { METERWAY_CONFIG: interval }))).toEqual([`storage.interval: must be between 1s and 1d (got "1y") (in ${interval}:1)`]);
    expect(issues(() => loadConfig({}, { METERWAY_LOG_LEVEL: 'loud' }))[0]).toMatch(/^log_level: .*one of fatal, error, warn, info, debug, trace, silent/);
    expect(issues(() => loadConfig({}, { METERWAY_MASTER_KEY: 'c2hvcnQ=' }))).toEqual([
      'master_key: must be base64 of exactly 32 bytes (generate one with: openssl rand -base64 32)',
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'mw-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ metrics: { buckets: { latency: [1, 0.5] }, colour: 1 } }));
    expect(issues(() => loadConfig({ config: file }, {}))[0]).toMatch(/^metrics\.colour: unexpected property/);
    writeFileSync(file, JSON.stringify({ metrics: { buckets: { latency: [1, 0.5] } } }));
    expect(issues(() => loadConfig({ config: file }, {}))).toEqual([`metrics.buckets.latency: must be strictly increasing upper bounds in seconds (in ${file}:1)`]);
    expect(issues(() => loadConfig({ config: join(dir, 'missing.json') }, {}))).toEqual([
      `config: cannot read ${join(dir, 'missing.json')} (no such file); check --config or METERWAY_CONFIG`,
    ]);
  });

  it('keeps secrets out of every printed form', () => {
    const c = loadConfig({}, { METERWAY_ADMIN_TOKEN: 'super-secret-admin-token-value', METERWAY_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
    const printed = [JSON.stringify(c), inspect(c, { depth: 5 }), String(c.adminToken), `${c.masterKey}`].join('\n');
    expect(printed).not.toContain('super-secret');
    expect(printed).not.toContain(Buffer.alloc(32, 7).toString('base64'));
    expect(printed).toContain('***');
    expect(c.adminToken).toBeInstanceOf(Secret);
    expect(c.adminToken!.reveal()).toBe('super-secret-admin-token-value');
    const short = issues(() => loadConfig({}, { METERWAY_ADMIN_TOKEN: 'tooshort' }));
    expect(short[0]).toMatch(/^admin_token: /);
    expect(short.join('')).not.toContain('tooshort');
  });
});
