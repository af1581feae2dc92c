/**
 * Interop: the statsd kind with `flavor: statsd` against Etsy's StatsD 0.9 itself (the
 * devDependency), one process on 127.0.0.1 with ephemeral ports, read back through its management
 * interface. What StatsD aggregated must equal what Meterway's query API says, under the names the
 * README documents, and StatsD must have seen no bad line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';
import { freePort, poll } from '../peers.js';

const STATSD = join(process.cwd(), 'node_modules/statsd/bin/statsd');

/** A UDP port on 127.0.0.1 that was free a moment ago (StatsD reads port 0 as "the default, 8125"). */
async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface StatsdServer {
  readonly port: number;
  /** Sends one management command and returns its answer, up to the END line. */
  admin(command: string): Promise<string>;
  stop(): Promise<void>;
}

async function startStatsd(): Promise<StatsdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'meterway-statsd-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freeUdpPort();
    const mgmtPort = await freePort();
    const file = join(dir, 'config.js');
    // No backend and an hour between flushes: what the management interface shows is everything
    // received since start, nothing flushed away in between.
    writeFileSync(file, JSON.stringify({ port, address: '127.0.0.1', mgmt_port: mgmtPort, mgmt_address: '127.0.0.1', flushInterval: 3_600_000, backends: [], automaticConfigReload: false }));
    const child: ChildProcess = spawn(process.execPath, [STATSD, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const admin = (command: string) =>
      new Promise<string>((resolve, reject) => {
        const sock = connect(mgmtPort, '127.0.0.1');
        let text = '';
        sock.setEncoding('utf8');
        sock.on('data', (c: string) => {
          text += c;
          if (/(END|health: \w+)\n/.test(text)) {
            sock.end();
            resolve(text);
          }
        });
        sock.on('error', reject);
        sock.write(`${command}\n`);
      });
    const up = await Promise.race([
      poll('statsd management port', async () => ((await admin('health')).includes('health: up') ? true : undefined), 10_000, 50).then(() => true, () => false),
      exited.then(() => false),
    ]);
    if (up) {
      return {
        port,
        admin,
        async stop() {
          if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
          await exited;
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
    await exited;
    // Another process may have taken a port between our check and StatsD's bind: try new ones.
    if (attempt === 3) throw new Error(`statsd did not start: ${output}`);
  }
}

/** `{ 'a.b': 1, c: -2.5 }` as util.inspect writes StatsD's counters and gauges. */
function parseNumbers(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/(?:'([^']*)'|([A-Za-z_$][\w$]*)): (-?[\d.]+(?:e[-+]\d+)?)/g)) out.set(m[1] ?? m[2], Number(m[3]));
  return out;
}

/** `{ 'a.b': [ 300, 12 ] }` as util.inspect writes StatsD's timers. */
function parseTimers(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const m of text.matchAll(/'([^']*)': \[([^\]]*)\]/g)) out.set(m[1], m[2].split(',').map((v) => v.trim()).filter((v) => v !== '').map(Number));
  return out;
}

/** The folding the README documents: `.key_value` per label, each word escaped for Graphite. */
const word = (s: string) => s.replace(/\s+/g, '_').replace(/\//g, '-').replace(/[^A-Za-z0-9_-]/gu, '_');
const segments = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${word(k)}_${word(v)}`).sort();

describe.skipIf(!existsSync(STATSD))("Etsy's StatsD 0.9 receives the statsd flavor", () => {
  let statsd: StatsdServer;
  let gw: TestGateway;
  let p: Awaited<ReturnType<TestGateway['project']>>;
  let id: string;

  const ingest = async (events: object[]) => {
    const res = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(p.ingest), payload: events });
    expect(res.json().rejected).toEqual([]);
  };
  const query = async (q: string) => {
    gw.sampler.sampleOnce(Date.now());
    const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/query?query=${encodeURIComponent(q)}`, headers: gw.auth(p.monitoring) });
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((r) => {
      const { __name__: name, ...labels } = r.metric;
      return { name, labels, value: Number(r.value[1]) };
    });
  };
  /** The StatsD key of each Meterway series of `q`, found by name and the set of folded labels. */
  const keyOf = (keys: Iterable<string>, name: string, labels: Record<string, string>) => {
    const want = JSON.stringify(segments(labels));
    const found = [...keys].filter((k) => k.startsWith(`${name}.`) && JSON.stringify(k.slice(name.length + 1).split('.').sort()) === want);
    expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
    return found[0];
  };
  const gauge = async (name: string, value: number) => {
    const res = await gw.app.inject({
      method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...gw.auth(p.ingest), 'content-type': 'application/json' },
      payload: { resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name, gauge: { dataPoints: [{ asDouble: value, timeUnixNano: String(Date.now() * 1e6) }] } }] }] }] },
    });
    expect(res.statusCode, res.body).toBe(200);
  };

  beforeAll(async () => {
    statsd = await startStatsd();
    gw = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, delivery: { schedule: false, logForwarding: { maxQueue: 100, batchSize: 50, flushMs: 20, breakerThreshold: 3, breakerCoolDownMs: 60_000 } } });
    p = await gw.project('statsd interop');
    const res = await gw.app.inject({
      method: 'POST', url: `/v1/projects/${p.id}/integrations`, headers: gw.auth(p.manage),
      payload: { kind: 'statsd', endpoint: `udp://127.0.0.1:${statsd.port}`, config: { flavor: 'statsd', logs: true, max_datagram_bytes: 512 } },
    });
    expect(res.statusCode, res.body).toBe(201);
    id = res.json().id;
  });
  afterAll(async () => {
    await gw?.close();
    await statsd?.stop();
  });

  const APP = 'chat bot/v1.2';
  const MODEL = 'meta-llama/Llama-3.1:8b|x@y';
  const events = (n: number) => [
    ...Array.from({ length: n }, (_, i) => ({ type: 'run', app_name: APP, region: 'eu west', status: i % 3 === 0 ? 'error' : 'success', execution_time_ms: 100 + i })),
    ...Array.from({ length: n }, (_, i) => ({ type: 'inference', app_name: APP, model_name: MODEL, input_tokens: 10 + i, output_tokens: 2, status_code: i % 4 === 0 ? 500 : 200 })),
  ];

  it('adds up the deltas of every push to Meterway\'s counters, under the documented folded names', async () => {
    await ingest(events(9));
    expect(await gw.exporter.pushNow(id)).toMatchObject({ pushed: true, attempts: 1 });
    await ingest(events(4));
    expect(await gw.exporter.pushNow(id)).toMatchObject({ pushed: true, attempts: 1 });

    const counters = parseNumbers(await statsd.admin('counters'));
    expect(counters.get('statsd.bad_lines_seen')).toBe(0);
    // One name spelt out, so the folding is pinned down and not only consistent with itself.
    expect(counters.get(`meterway_runs_total.project_id_${p.id}.app_id_${p.id}-chat_bot-v1_2.app_name_chat_bot-v1_2.region_eu_west`)).toBe(13);
    for (const name of ['meterway_runs_total', 'meterway_run_errors_total', 'meterway_inference_requests_total', 'meterway_inference_input_tokens_total', 'meterway_run_execution_time_seconds_count']) {
      const series = await query(name);
      expect(series.length, name).toBeGreaterThan(0);
      for (const s of series) expect(counters.get(keyOf(counters.keys(), name, s.labels)), `${name} ${JSON.stringify(s.labels)}`).toBe(s.value);
    }
    const model = [...counters.keys()].find((k) => k.startsWith('meterway_inference_input_tokens_total.'))!;
    expect(model).toContain('.model_name_meta-llama-Llama-3_1_8b_x_y.');
    // Buckets: cumulative, le in the name as a word of its own.
    const bucket = [...counters.keys()].filter((k) => k.startsWith('meterway_run_execution_time_seconds_bucket.') && k.endsWith('.le_0_25'));
    expect(bucket.map((k) => counters.get(k))).toEqual([13]);
    const sum = [...counters].find(([k]) => k.startsWith('meterway_run_execution_time_seconds_sum.'))!;
    expect(sum[1]).toBeCloseTo((await query('meterway_run_execution_time_seconds_sum'))[0].value, 9);
  });

  it('sets gauges, negative ones too, to the value and not by a relative step', async () => {
    await ingest([{ type: 'resource', app_name: APP, cpu_cores: 1.5, containers_running: 3 }]);
    await gauge('room.temperature', -5);
    await gw.exporter.pushNow(id);
    await gauge('room.temperature', -3);
    await ingest([{ type: 'resource', app_name: APP, cpu_cores: 0.25, containers_running: 2 }]);
    await gw.exporter.pushNow(id);
    const gauges = parseNumbers(await statsd.admin('gauges'));
    for (const name of ['meterway_cpu_utilization_cores', 'meterway_containers_running']) {
      for (const s of await query(name)) expect(gauges.get(keyOf(gauges.keys(), name, s.labels)), name).toBe(s.value);
    }
    const temp = (await query('{__name__=~"room_temperature.*"}'))[0];
    expect(temp.value).toBe(-3);
    // Without the reset to 0 first, StatsD would have read -3 as a step down from -5, to -8.
    expect(gauges.get(keyOf(gauges.keys(), temp.name, temp.labels))).toBe(-3);
    expect(parseNumbers(await statsd.admin('counters')).get('statsd.bad_lines_seen')).toBe(0);
  });

  it('turns the duration fields of raw events into timers', async () => {
    await ingest([{ type: 'run', app_name: 'timer-app', status: 'success', run_id: 'r-77', execution_time_ms: 321, queue_time_ms: 4 }]);
    const key = `meterway_run_execution_time_ms.project_id_${p.id}.app_id_${p.id}-timer-app.app_name_timer-app.status_success`;
    const timers = await poll('the timer at StatsD', async () => {
      const t = parseTimers(await statsd.admin('timers'));
      return t.has(key) ? t : undefined;
    }, 5_000, 50);
    expect(timers.get(key)).toEqual([321]);
    expect(timers.get(key.replace('execution_time_ms', 'queue_time_ms'))).toEqual([4]);
  });
});
