import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SinkContext } from '../../push/sink.js';
import type { MetricBatch } from '../../push/types.js';
import { DeliveryError } from '../../delivery/errors.js';
import { Outbox, type DatagramLink } from './outbox.js';
import { StatsdSink, type Link, type Target } from './sink.js';
import type { StatsdConfig } from './config.js';

const CONFIG: StatsdConfig = { interval_s: 60, timeout_s: 1, flavor: 'dogstatsd', prefix: '', max_datagram_bytes: 512, logs: false };
const ctx = (allowPrivateEgress: boolean): SinkContext => ({ integrationId: 'i-1', projectId: 'p-1', allowPrivateEgress, authHeaders: () => ({}) });
const never = new AbortController().signal;

/** A link that confirms each datagram after `delayMs` (or never), recording how many it held at once. */
function fakeLink(opts: { delayMs?: number; fail?: (i: number) => string | undefined } = {}) {
  let held = 0;
  let sent = 0;
  const link = {
    maxHeld: 0,
    received: [] as string[],
    send(d: Uint8Array, done: (err: Error | null) => void) {
      const i = sent++;
      held++;
      link.maxHeld = Math.max(link.maxHeld, held);
      if (opts.delayMs === undefined) return; // a stuck socket: never confirms
      setTimeout(() => {
        held--;
        const code = opts.fail?.(i);
        if (code === undefined) link.received.push(Buffer.from(d).toString());
        done(code === undefined ? null : Object.assign(new Error(`send ${code}`), { code }));
      }, opts.delayMs);
    },
  };
  return link satisfies DatagramLink;
}

const datagrams = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`d${i}:1|c`));

describe('the outbox (bounded queue to the socket)', () => {
  it('never has more than its window with the socket, and sends everything in order', async () => {
    const link = fakeLink({ delayMs: 1 });
    const report = await new Outbox(8).send(link, datagrams(100), Date.now() + 5000);
    expect(link.maxHeld).toBe(8);
    expect(report).toMatchObject({ handed: 100, failed: 0, dropped: 0, unconfirmed: 0, lost: [] });
    expect(link.received).toEqual(datagrams(100).map(String));
  });

  it('shares the window between sends of the same sink', async () => {
    const link = fakeLink({ delayMs: 1 });
    const box = new Outbox(4);
    const [a, b] = await Promise.all([box.send(link, datagrams(30), Date.now() + 5000), box.send(link, datagrams(30), Date.now() + 5000)]);
    expect(link.maxHeld).toBe(4);
    expect(a.handed + b.handed).toBe(60);
    expect(box.busy).toBe(0);
  });

  it('when the socket takes nothing, gives up at the deadline and counts what it dropped', async () => {
    const link = fakeLink();
    const started = Date.now();
    const report = await new Outbox(5).send(link, datagrams(12), Date.now() + 150);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(report).toMatchObject({ handed: 0, unconfirmed: 5, dropped: 7, cancelled: false });
    expect(report.lost).toEqual([...Array(12).keys()]);
  });

  it('counts what the kernel refused, by error code', async () => {
    const link = fakeLink({ delayMs: 0, fail: (i) => (i % 3 === 0 ? 'ENOBUFS' : undefined) });
    const report = await new Outbox(4).send(link, datagrams(9), Date.now() + 5000);
    expect(report).toMatchObject({ handed: 6, failed: 3, lost: [0, 3, 6] });
    expect([...report.errors]).toEqual([['ENOBUFS', 3]]);
  });

  it('stops when its signal aborts', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 30);
    const report = await new Outbox(2).send(fakeLink(), datagrams(5), Date.now() + 10_000, abort.signal);
    expect(report).toMatchObject({ cancelled: true, handed: 0, unconfirmed: 2, dropped: 3 });
  });
});

function counters(n: number): MetricBatch {
  return {
    projectId: 'p-1', temporality: 'delta', startMs: 0, timeMs: 1, metrics: [{
      name: 'meterway_runs_total', description: '', unit: '', type: 'counter', keys: Array.from({ length: n }, (_, i) => `k${i}`),
      points: Array.from({ length: n }, (_, i) => ({ attributes: [['app_name', `app-${String(i).padStart(4, '0')}`]] as const, value: i + 1 })),
    }],
  };
}

describe('the sink', () => {
  let rx: dgram.Socket;
  let port: number;
  const got: string[] = [];
  beforeAll(async () => {
    rx = dgram.createSocket('udp4', (msg) => got.push(msg.toString()));
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
    port = rx.address().port;
  });
  afterAll(() => new Promise<void>((r) => rx.close(() => r())));

  it('refuses a non-public address at send time, with the reason, without retrying and without sending', async () => {
    for (const host of ['127.0.0.1', '[::ffff:127.0.0.1]', '[::1]']) {
      const sink = new StatsdSink(new URL(`udp://${host}:${port}`), CONFIG, ctx(false));
      const err = await sink.send(counters(1), never).then(() => undefined, (e: unknown) => e);
      expect(err, host).toBeInstanceOf(DeliveryError);
      expect(err).toMatchObject({ reason: 'egress_forbidden', retryable: false });
      expect((err as Error).message).toMatch(/non-public address \(.*loopback/);
      const check = await sink.check(never);
      expect(check.ok).toBe(false);
      expect(check.message).toMatch(/^refused by the egress guard, nothing was sent: /);
      await sink.close();
    }
    const named = new StatsdSink(new URL(`udp://localhost:${port}`), CONFIG, ctx(false));
    await expect(named.send(counters(1), never)).rejects.toMatchObject({ reason: 'egress_forbidden', retryable: false, message: expect.stringMatching(/^localhost resolves to a non-public address/) });
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([]);
  });

  it('lets a public address through the guard, and connects to the very address it checked', async () => {
    const targets: Target[] = [];
    const sink = new StatsdSink(new URL('udp://8.8.8.8:8125'), CONFIG, ctx(false), {
      openLink: async (t) => {
        targets.push(t);
        throw Object.assign(new Error('no network in tests'), { code: 'ENETUNREACH' });
      },
    });
    await expect(sink.send(counters(1), never)).rejects.toMatchObject({ reason: 'network', retryable: true, message: expect.stringContaining('ENETUNREACH') });
    expect(targets).toEqual([{ address: '8.8.8.8', family: 4, port: 8125, guarded: true }]);
  });

  it('reports datagrams the socket did not take in time as a partial send, in points, and says what to do', async () => {
    let opened = 0;
    const stuck: Link = {
      address: '127.0.0.1', refusals: 0, broken: false,
      send: () => {},
      nextRefusal: async () => false,
      retire: async () => {},
      close: async () => {},
    };
    // Confirms the first 3 datagrams, then holds the rest forever: a socket whose queue stays full.
    let confirmed = 0;
    const partlyStuck: Link = { ...stuck, send: (_d, done) => (confirmed++ < 3 ? setImmediate(done, null) : undefined) };
    const sink = new StatsdSink(new URL(`udp://127.0.0.1:${port}`), { ...CONFIG, timeout_s: 1 }, ctx(true), {
      window: 2,
      openLink: async (t: Target) => {
        opened++;
        expect(t).toEqual({ address: '127.0.0.1', family: 4, port, guarded: false });
        return partlyStuck;
      },
    });
    const batch = counters(200);
    const res = await sink.send(batch, never);
    expect(opened).toBe(1);
    expect(res.partial).toBeDefined();
    expect(res.sent + res.partial!.rejected).toBe(200);
    expect(res.sent).toBeGreaterThan(0);
    expect(res.partial!.message).toMatch(/^\d+ of \d+ datagrams were dropped: the socket did not take them within timeout_s \(1 s\); at most 2 wait with the socket at once/);
    await sink.close();
  });

  it('sends nothing, and opens no socket, when the batch has nothing to say', async () => {
    let opened = 0;
    const sink = new StatsdSink(new URL(`udp://127.0.0.1:${port}`), CONFIG, ctx(true), { openLink: async () => { opened++; throw new Error('no'); } });
    expect(await sink.send({ ...counters(3), metrics: [{ ...counters(3).metrics[0], points: [{ attributes: [], value: 0 }], keys: ['k'] }] }, never)).toEqual({ sent: 1 });
    expect(opened).toBe(0);
  });

  it('closes its socket on close()', async () => {
    const udp = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
    const before = udp();
    const sink = new StatsdSink(new URL(`udp://127.0.0.1:${port}`), CONFIG, ctx(true));
    await sink.send(counters(2), never);
    expect(udp()).toBe(before + 1);
    await sink.close();
    // The handle leaves the list in a close phase of the loop after the 'close' event.
    for (let i = 0; i < 20 && udp() > before; i++) await new Promise((r) => setTimeout(r, 5));
    expect(udp()).toBe(before);
    await expect(sink.send(counters(2), never)).rejects.toMatchObject({ reason: 'network', message: expect.stringContaining('was closed') });
  });
});
