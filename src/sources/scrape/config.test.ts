/**
 * `scrape_configs` through the config loader: Prometheus' defaults, targets as relabel_configs
 * leave them, and start-up errors that name the key, its line in the file and the fix.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/load.js';

function write(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mw-scrapecfg-')), name);
  writeFileSync(file, text);
  return file;
}

const load = (yaml: string) => loadConfig({ config: write('meterway.yaml', yaml) }, {});

function issues(yaml: string): string[] {
  const file = write('meterway.yaml', yaml);
  try {
    loadConfig({ config: file }, {});
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => i.replace(` (in ${file}:`, ' (line '));
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('scrape_configs: defaults', () => {
  it("has Prometheus' defaults", () => {
    const [job] = load('scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [127.0.0.1:9100]\n').scrape.jobs;
    expect(job).toMatchObject({ name: 'node', honorLabels: false, honorTimestamps: true, sampleLimit: 0, bodySizeLimit: 64 * 1024 * 1024, rebucket: false, auth: { kind: 'none' } });
    expect(job.targets).toEqual([{
      url: 'http://127.0.0.1:9100/metrics', scheme: 'http', job: 'node', instance: '127.0.0.1:9100', intervalMs: 60_000, timeoutMs: 10_000,
      labels: [['instance', '127.0.0.1:9100'], ['job', 'node']],
    }]);
    expect(loadConfig({}, {}).scrape.jobs).toEqual([]);
  });

  it('global.scrape_interval and scrape_timeout are every job\'s defaults; a short interval shortens the timeout', () => {
    const jobs = load(`global:
  scrape_interval: 15s
  scrape_timeout: 5s
scrape_configs:
  - job_name: a
    static_configs: [{targets: ['h:1']}]
  - job_name: b
    scrape_interval: 2s
    static_configs: [{targets: ['h:2']}]
  - job_name: c
    scrape_interval: 30s
    scrape_timeout: 20s
    static_configs: [{targets: ['h:3']}]
`).scrape.jobs;
    expect(jobs.map((j) => [j.targets[0].intervalMs, j.targets[0].timeoutMs])).toEqual([[15_000, 5_000], [2_000, 2_000], [30_000, 20_000]]);
    expect(load('global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: a\n    static_configs: [{targets: [\'h:1\']}]\n').scrape.jobs[0].targets[0].timeoutMs).toBe(5_000);
  });

  it('the default port follows the scheme; params and __param_ labels make the query', () => {
    const [job] = load(`scrape_configs:
  - job_name: probe
    scheme: https
    metrics_path: /probe
    params: {module: [http_2xx], target: [a, b]}
    static_configs:
      - targets: [example.com, '[::1]', '10.0.0.1:9115']
        labels: {site: lab}
    relabel_configs:
      - source_labels: [__address__]
        regex: '10\\..*'
        target_label: __param_module
        replacement: icmp
`).scrape.jobs;
    expect(job.targets.map((t) => [t.url, t.instance])).toEqual([
      ['https://example.com:443/probe?module=http_2xx&target=a&target=b', 'example.com:443'],
      ['https://[::1]:443/probe?module=http_2xx&target=a&target=b', '[::1]:443'],
      ['https://10.0.0.1:9115/probe?module=icmp&target=a&target=b', '10.0.0.1:9115'],
    ]);
    expect(job.targets[0].labels).toEqual([['instance', 'example.com:443'], ['job', 'probe'], ['site', 'lab']]);
  });

  it('relabel_configs decide the targets: dropped, renamed, a project given, another scheme, path and interval', () => {
    const [job] = load(`scrape_configs:
  - job_name: gpu
    static_configs:
      - targets: ['gpu-1:9400', 'gpu-2:9400', 'skip-me:9400']
        labels: {__meta_tenant: a1b2c3d4, rack: r1}
    relabel_configs:
      - {source_labels: [__address__], regex: 'skip-.*', action: drop}
      - {source_labels: [__meta_tenant], target_label: project_id, replacement: 'p-$1'}
      - {source_labels: [__address__], regex: '(.*):9400', target_label: instance, replacement: '$1'}
      - {source_labels: [__address__], regex: 'gpu-2:.*', target_label: __scheme__, replacement: https}
      - {target_label: __metrics_path__, replacement: /gpu/metrics}
      - {source_labels: [__address__], regex: 'gpu-2:.*', target_label: __scrape_interval__, replacement: 30s}
`).scrape.jobs;
    expect(job.targets.map((t) => ({ url: t.url, instance: t.instance, labels: Object.fromEntries(t.labels), interval: t.intervalMs }))).toEqual([
      { url: 'http://gpu-1:9400/gpu/metrics', instance: 'gpu-1', labels: { instance: 'gpu-1', job: 'gpu', project_id: 'p-a1b2c3d4', rack: 'r1' }, interval: 60_000 },
      { url: 'https://gpu-2:9400/gpu/metrics', instance: 'gpu-2', labels: { instance: 'gpu-2', job: 'gpu', project_id: 'p-a1b2c3d4', rack: 'r1' }, interval: 30_000 },
    ]);
  });

  it('one target listed twice is scraped once', () => {
    const [job] = load("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['h:1', 'h:1']\n      - targets: ['h:1']\n").scrape.jobs;
    expect(job.targets).toHaveLength(1);
  });

  it('authorization, basic_auth and the legacy bearer_token; secrets never printed, files read at each scrape', () => {
    const tokenFile = write('token', 's3cret-from-file\n');
    const jobs = load(`scrape_configs:
  - job_name: a
    authorization: {credentials: s3cret-inline}
    static_configs: [{targets: ['h:1']}]
  - job_name: b
    basic_auth: {username: u, password: s3cret-pw}
    static_configs: [{targets: ['h:2']}]
  - job_name: c
    authorization: {type: Token, credentials_file: ${tokenFile}}
    static_configs: [{targets: ['h:3']}]
  - job_name: d
    bearer_token: s3cret-legacy
    static_configs: [{targets: ['h:4']}]
`).scrape.jobs;
    expect(jobs.map((j) => j.auth.kind)).toEqual(['authorization', 'basic', 'authorization', 'authorization']);
    expect(jobs[2].auth).toMatchObject({ type: 'Token', file: tokenFile });
    const printed = `${JSON.stringify(jobs)}\n${inspect(jobs, { depth: 8 })}`;
    expect(printed).not.toMatch(/s3cret/);
  });

  it('meterway.value_scale and meterway.rebucket', () => {
    const [job] = load('scrape_configs:\n  - job_name: dcgm\n    meterway: {value_scale: {DCGM_FI_DEV_FB_USED: 1048576}, rebucket: true}\n    static_configs: [{targets: [\'h:9400\']}]\n').scrape.jobs;
    expect(job.valueScale.get('DCGM_FI_DEV_FB_USED')).toBe(1048576);
    expect(job.rebucket).toBe(true);
  });
});

describe('scrape_configs: start-up errors name the key, the line and the fix', () => {
  it('durations, the timeout against the interval, the interval against gauge staleness', () => {
    expect(issues(`scrape_configs:
  - job_name: a
    scrape_interval: often
    static_configs: [{targets: ['h:1']}]
  - job_name: b
    scrape_interval: 10s
    scrape_timeout: 20s
    static_configs: [{targets: ['h:1']}]
  - job_name: c
    scrape_interval: 10m
    static_configs: [{targets: ['h:1']}]
`)).toEqual([
      'scrape_configs.0.scrape_interval: must be a duration between 1ms and 1d like 30s or 1m (got "often") (line 3)',
      "scrape_configs.1.scrape_timeout: 20s is longer than the job's scrape_interval (10s); shorten it or scrape less often (line 7)",
      "scrape_configs.2.scrape_interval: 10m is longer than metrics.gauge_stale_after (5m), so the job's series would go stale between scrapes; scrape more often or raise metrics.gauge_stale_after (line 10)",
    ]);
    expect(issues('global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n')).toEqual(['global.scrape_timeout: 6s is longer than global.scrape_interval (5s); a scrape must end before the next one starts (line 3)']);
  });

  it('keys of the wrong type, keys Meterway does not have, keys Prometheus has that Meterway does not use', () => {
    const found = issues(`global:
  evaluation_interval: 15s
scrape_configs:
  - job_name: k8s
    kubernetes_sd_configs: [{role: pod}]
    follow_redirects: false
    scrape_intervall: 1m
    honor_labels: maybe
    static_configs: [{targets: ['h:1']}]
`);
    expect(found).toEqual([
      expect.stringMatching(/^scrape_configs\.0\.honor_labels: expected boolean .*\(line 8\)$/),
    ]);
    const rest = issues(`global:
  evaluation_interval: 15s
scrape_configs:
  - job_name: k8s
    kubernetes_sd_configs: [{role: pod}]
    follow_redirects: false
    scrape_intervall: 1m
    static_configs: [{targets: ['h:1']}]
`);
    expect(rest).toEqual([
      'global.evaluation_interval: Meterway evaluates no rules; remove it (line 2)',
      'scrape_configs.0.kubernetes_sd_configs: Meterway scrapes static_configs only; list the targets there, or let a Prometheus or vmagent that discovers them remote-write to /v1/prom/write (line 5)',
      "scrape_configs.0.follow_redirects: Meterway's scraper does not follow redirects and speaks HTTP/1.1; point the target at the final URL and remove the key (line 6)",
      expect.stringMatching(/^scrape_configs\.0\.scrape_intervall: not a scrape_configs key Meterway knows; the keys are job_name, scrape_interval, .* \(line 7\)$/),
    ]);
  });

  it('job names, schemes, paths, addresses', () => {
    expect(issues(`scrape_configs:
  - job_name: a
    static_configs: [{targets: ['h:1']}]
  - job_name: a
    scheme: ftp
    metrics_path: metrics
    static_configs: [{targets: ['http://h:1/metrics', '::1']}]
`)).toEqual([
      'scrape_configs.1.job_name: "a" is also the job_name of scrape_configs.0; every job needs a name of its own (line 4)',
      'scrape_configs.1.scheme: must be http or https (got "ftp") (line 5)',
      'scrape_configs.1.metrics_path: must start with "/" (got "metrics") (line 6)',
    ]);
    expect(issues("scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['http://h:1/metrics', '::1', '']}]\n")).toEqual([
      'scrape_configs.0.static_configs.0.targets.0: "http://h:1/metrics" is not a host:port; give the address alone (the scheme and metrics_path are keys of their own), an IPv6 address in brackets ([::1]:9100) (line 3)',
      'scrape_configs.0.static_configs.0.targets.1: "::1" is not a host:port; give the address alone (the scheme and metrics_path are keys of their own), an IPv6 address in brackets ([::1]:9100) (line 3)',
      'scrape_configs.0.static_configs.0.targets.2: no address is left after relabel_configs (the __address__ label is empty) (line 3)',
    ]);
  });

  it('relabelling rules, with their index', () => {
    expect(issues(`scrape_configs:
  - job_name: a
    static_configs: [{targets: ['h:1']}]
    relabel_configs:
      - {source_labels: [a], target_label: b}
      - {action: hashmod, source_labels: [a], target_label: shard}
    metric_relabel_configs:
      - {action: keep, source_labels: [__name__], regex: '(?!up)'}
`)).toEqual([
      'scrape_configs.0.relabel_configs.1.modulus: the hashmod action needs a modulus above 0 (line 6)',
      expect.stringMatching(/^scrape_configs\.0\.metric_relabel_configs\.0\.regex: RE2 cannot compile "\(\?!up\)": .*; use RE2 syntax \(no lookaround, no backreferences\) \(line 8\)$/),
    ]);
  });

  it('authentication that is ambiguous or unreadable, and value_scale factors', () => {
    expect(issues(`scrape_configs:
  - job_name: a
    authorization: {credentials: x}
    basic_auth: {username: u, password: p}
    static_configs: [{targets: ['h:1']}]
  - job_name: b
    authorization: {type: Basic, credentials: x}
    static_configs: [{targets: ['h:1']}]
  - job_name: c
    basic_auth: {username: u, password_file: /nonexistent/meterway-password}
    meterway: {value_scale: {X: 0}}
    static_configs: [{targets: ['h:1']}]
`)).toEqual([
      'scrape_configs.0: authorization and basic_auth are set together; a job takes one way to authenticate (line 2)',
      'scrape_configs.1.authorization.type: cannot be Basic; use basic_auth with username and password (line 7)',
      "scrape_configs.2.basic_auth.password_file: cannot read /nonexistent/meterway-password (no such file); check the path and the gateway's permissions (line 10)",
      'scrape_configs.2.meterway.value_scale.X: the factor must be a finite number above 0 (got 0) (line 11)',
    ]);
  });
});

describe('deploy/scrape/', () => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'deploy', 'scrape');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it('every mapping loads as a Meterway config', () => {
    expect(files.sort()).toEqual(['dcgm-exporter.yaml', 'node-exporter.yaml', 'vllm.yaml']);
    for (const f of files) expect(loadConfig({ config: join(dir, f) }, {}).scrape.jobs.length, f).toBeGreaterThan(0);
  });

  it.skipIf(!existsSync('/usr/bin/promtool'))("and, without Meterway's own keys, as a Prometheus config (promtool check config)", () => {
    for (const f of files) {
      const doc = parseYaml(readFileSync(join(dir, f), 'utf8')) as { scrape_configs: Array<Record<string, unknown>> };
      const file = write(f, toYaml({ scrape_configs: doc.scrape_configs.map(({ meterway: _ours, ...job }) => job) }));
      expect(() => execFileSync('/usr/bin/promtool', ['check', 'config', file], { stdio: 'pipe' }), f).not.toThrow();
    }
  });
});
