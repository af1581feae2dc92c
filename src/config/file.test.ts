/**
 * The configuration file: YAML or JSON, and errors that name the file, the line and the key.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';

function write(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mw-cfgfile-')), name);
  writeFileSync(file, text);
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

const YAML = `# Meterway
port: 9555
retention: 30d
metrics:
  max_series_per_project: 500
  buckets:
    latency: [0.1, 0.5, 1]
query:
  timeout: 30s
  projects:
    p-abcdefgh:
      max_samples: 1000
ingest:
  rate_limit:
    events_per_second: 10
otlp:
  promote_resource_attributes:
    - k8s.namespace.name
`;

describe('the configuration file', () => {
  it('reads YAML from .yaml and .yml, and YAML content under any other name', () => {
    for (const name of ['meterway.yaml', 'meterway.yml', 'meterway.conf', 'meterway']) {
      const c = loadConfig({ config: write(name, YAML) }, {});
      expect(c.port, name).toBe(9555);
      expect(c.retentionMs).toBe(30 * 86_400_000);
      expect(c.metrics.maxSeriesPerProject).toBe(500);
      expect(c.metrics.buckets.latency).toEqual([0.1, 0.5, 1]);
      expect(c.query.limits.timeoutMs).toBe(30_000);
      expect(c.query.projects['p-abcdefgh'].maxSamples).toBe(1000);
      expect(c.ingest.rateLimits.project.eventsPerSecond).toBe(10);
      expect(c.otlp.promoteResourceAttributes).toEqual(['k8s.namespace.name']);
    }
  });

  it('reads JSON from .json and JSON content under any other name; a YAML file may be empty or all comments', () => {
    const json = JSON.stringify({ port: 9556, metrics: { prefix: 'acme' } }, null, 2);
    for (const name of ['c.json', 'c.conf', 'c.yaml']) {
      expect(loadConfig({ config: write(name, json) }, {})).toMatchObject({ port: 9556, metrics: { prefix: 'acme' } });
    }
    expect(loadConfig({ config: write('empty.yaml', '# nothing set yet\n') }, {}).port).toBe(9470);
    // a byte-order mark from a Windows editor
    expect(loadConfig({ config: write('bom.yaml', '\uFEFFport: 9557\n') }, {}).port).toBe(9557);
  });

  it("names the file and the key's line for a bad value, at any depth", () => {
    const file = write('bad.yaml', `# Meterway
port: not-a-port
metrics:
  buckets:
    latency: [1, 0.5]
query:
  projects:
    p-abcdefgh:
      timeout: forever
`);
    expect(issues(() => loadConfig({ config: file }, {}))).toEqual([expect.stringMatching(new RegExp(`^port: expected integer .*\\(got "not-a-port"\\) \\(in ${file}:2\\)$`))]);
    const deeper = write('deeper.yml', 'metrics:\n  buckets:\n    latency: [1, 0.5]\nquery:\n  projects:\n    p-abcdefgh:\n      timeout: forever\n');
    expect(issues(() => loadConfig({ config: deeper }, {}))).toEqual([
      `metrics.buckets.latency: must be strictly increasing upper bounds in seconds (in ${deeper}:3)`,
      `query.projects["p-abcdefgh"].timeout: must be a duration between 1ms and 1d like 2m or 30s (got "forever") (in ${deeper}:7)`,
    ]);
    const unknown = write('unknown.yaml', 'metrics:\n  prefix: ok\n  colour: blue\n');
    expect(issues(() => loadConfig({ config: unknown }, {}))).toEqual([expect.stringMatching(new RegExp(`^metrics\\.colour: unexpected property .*\\(in ${unknown}:3\\)$`))]);
    const item = write('item.yaml', 'otlp:\n  promote_resource_attributes:\n    - ok\n    - ""\n');
    expect(issues(() => loadConfig({ config: item }, {}))[0]).toMatch(new RegExp(`^otlp\\.promote_resource_attributes\\.1: .*\\(in ${item}:4\\)$`));
    const json = write('bad.json', '{\n  "metrics": {\n    "max_series_per_project": -1\n  }\n}\n');
    expect(issues(() => loadConfig({ config: json }, {}))[0]).toMatch(new RegExp(`^metrics\\.max_series_per_project: .*\\(in ${json}:3\\)$`));
  });

  it('does not blame the file for a value the environment or a flag gave', () => {
    const file = write('c.yaml', 'port: 9000\nretention: 1d\n');
    expect(issues(() => loadConfig({ config: file, port: 'abc' }, {}))).toEqual([expect.stringMatching(/^port: expected integer .*\(got "abc"\)$/)]);
    expect(issues(() => loadConfig({ config: file }, { METERWAY_RETENTION: 'banana' }))).toEqual(['retention: must be a duration like 15d, 12h or 90s (got "banana")']);
  });

  it('names the file, line and column of a syntax error', () => {
    const yaml = write('broken.yaml', 'port: 9470\nmetrics:\n  buckets: [1, 2\n');
    expect(issues(() => loadConfig({ config: yaml }, {}))).toEqual([expect.stringMatching(new RegExp(`^config: ${yaml} line \\d+, column \\d+ is not valid YAML: `))]);
    const dup = write('dup.yaml', 'port: 1\nhost: x\nport: 2\n');
    expect(issues(() => loadConfig({ config: dup }, {}))).toEqual([`config: ${dup} line 3, column 1 is not valid YAML: Map keys must be unique`]);
    const json = write('broken.json', '{\n  "port": 9470,\n  "host": "x",\n}\n');
    expect(issues(() => loadConfig({ config: json }, {}))).toEqual([expect.stringMatching(new RegExp(`^config: ${json} is not valid JSON: line 4, column 1: `))]);
    const list = write('list.yaml', '- port: 1\n');
    expect(issues(() => loadConfig({ config: list }, {}))).toEqual([`config: ${list}: the top level must be a mapping of keys, like port: 9470`]);
  });
});
