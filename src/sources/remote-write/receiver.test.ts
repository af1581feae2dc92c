/**
 * The receiver's own rules, below the route: the series cache never hands one label set
 * another's identity (hashes forced to collide), a label set seen again is not parsed again,
 * metadata belongs to the sender that sent it, and the counter-or-gauge rules.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { Aggregator, DEFAULT_CATALOG_OPTIONS } from '../../aggregate/project.js';
import type { CounterSeries, GaugeSeries } from '../../aggregate/series.js';
import { decodeWriteRequest, type WriteRequestIn } from './decode.js';
import { RemoteWriteReceiver, type RemoteWriteScope } from './receiver.js';

const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'wire', 'proto', 'prompb');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync('remote.proto');
const WriteRequest = root.lookupType('prometheus.WriteRequest');

type Series = [name: string, labels: Record<string, string>, value: number];

function request(series: Series[], metadata: Array<{ type: number; metricFamilyName: string; help?: string }> = [], t = Date.now()): WriteRequestIn {
  return decodeWriteRequest(WriteRequest.encode(WriteRequest.fromObject({
    timeseries: series.map(([name, labels, value]) => ({
      labels: [['__name__', name], ...Object.entries(labels)].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, v]) => ({ name: n, value: v })),
      samples: [{ value, timestamp: t }],
    })),
    metadata,
  })).finish());
}

function setup(...projects: string[]) {
  const agg = new Aggregator(DEFAULT_CATALOG_OPTIONS, 0);
  for (const p of projects) agg.ensure(p);
  const rx = new RemoteWriteReceiver(agg);
  const send = (req: WriteRequestIn, scope: RemoteWriteScope) => rx.apply(rx.resolve(req, scope));
  const value = (project: string, name: string, key: string) => {
    const fam = agg.get(project)!.registry.getFamily(name);
    return (fam?.series.get(key) as CounterSeries | GaugeSeries | undefined)?.value;
  };
  return { agg, rx, send, value };
}

describe('the remote write receiver', () => {
  it('gives every label set its own series even when all their hashes collide', () => {
    const { send, value, agg } = setup('p-aaaaaaaa');
    const series: Series[] = Array.from({ length: 12 }, (_, i) => ['collide', { n: String(i) }, i]);
    for (let round = 0; round < 3; round++) {
      const req = request(series, [], Date.now() + round);
      // Every series under one hash: past the chain's length they are parsed each time, never mixed up.
      req.series.labelHash.fill(7);
      const r = send(req, { project: 'p-aaaaaaaa', tokenId: 't' });
      expect(r).toMatchObject({ accepted: 12, rejected: 0, ignored: 0 });
    }
    expect(agg.get('p-aaaaaaaa')!.registry.getFamily('collide')!.series.size).toBe(12);
    for (let i = 0; i < 12; i++) expect(value('p-aaaaaaaa', 'collide', `n\u0000${i}\u0000project_id\u0000p-aaaaaaaa\u0000`)).toBe(i);
  });

  it('parses a label set once: the next request finds it by its bytes', () => {
    const { rx } = setup('p-aaaaaaaa');
    const scope = { project: 'p-aaaaaaaa', tokenId: 't' };
    const first = rx.resolve(request([['cached', { a: '1' }, 1]]), scope);
    const again = rx.resolve(request([['cached', { a: '1' }, 2]]), scope);
    const other = rx.resolve(request([['cached', { a: '2' }, 2]]), scope);
    expect(again.parsed[0]).toBe(first.parsed[0]);
    expect(other.parsed[0]).not.toBe(first.parsed[0]);
    // Another scope (a server-wide token) parses the same bytes for itself: its project comes from the labels.
    const wide = rx.resolve(request([['cached', { a: '1' }, 2]]), { tokenId: 't' });
    expect(wide.parsed[0]).not.toBe(first.parsed[0]);
  });

  it('keeps a sender\'s metadata to that sender: a server-wide token\'s types do not reach another token\'s series', () => {
    const { send, agg } = setup('p-aaaaaaaa', 'p-bbbbbbbb');
    // Token a says `ops` is a counter (a text-format counter without _total); token b never said so.
    send(request([], [{ type: 1, metricFamilyName: 'ops', help: 'Operations.' }]), { tokenId: 'a' });
    send(request([['ops', { project_id: 'p-aaaaaaaa' }, 5]]), { tokenId: 'a' });
    send(request([['ops', { project_id: 'p-bbbbbbbb' }, 5]]), { tokenId: 'b' });
    expect(agg.get('p-aaaaaaaa')!.registry.getFamily('ops')!.def).toMatchObject({ type: 'counter', help: 'Operations.' });
    expect(agg.get('p-bbbbbbbb')!.registry.getFamily('ops')!.def).toMatchObject({ type: 'gauge', help: '' });
  });

  it('types by metadata and name: OpenMetrics counter families, histogram and summary series, the rest', () => {
    const { send, agg } = setup('p-aaaaaaaa');
    const scope = { project: 'p-aaaaaaaa', tokenId: 't' };
    const r = send(request([
      ['om_requests_total', {}, 1], ['om_requests_created', {}, 1_700_000_000], ['lat_bucket', { le: '1' }, 3], ['lat_sum', {}, 1], ['lat_count', {}, 3],
      ['q', { quantile: '0.5' }, 0.1], ['q_count', {}, 4], ['plain_total', {}, 2], ['plain', {}, 2], ['typed_gauge_total', {}, 2], ['untyped_total', {}, 1],
    ], [
      { type: 1, metricFamilyName: 'om_requests', help: 'OpenMetrics counter.' },
      { type: 3, metricFamilyName: 'lat', help: 'Latency.' },
      { type: 5, metricFamilyName: 'q' },
      { type: 2, metricFamilyName: 'typed_gauge_total' },
      { type: 0, metricFamilyName: 'untyped_total' },
    ]), scope);
    expect(r.rejected).toBe(0);
    const type = (n: string) => agg.get('p-aaaaaaaa')!.registry.getFamily(n)!.def.type;
    expect(Object.fromEntries(['om_requests_total', 'om_requests_created', 'lat_bucket', 'lat_sum', 'lat_count', 'q', 'q_count', 'plain_total', 'plain', 'typed_gauge_total', 'untyped_total'].map((n) => [n, type(n)]))).toEqual({
      om_requests_total: 'counter', om_requests_created: 'gauge', lat_bucket: 'gauge', lat_sum: 'gauge', lat_count: 'gauge',
      q: 'gauge', q_count: 'gauge', plain_total: 'counter', plain: 'gauge', typed_gauge_total: 'gauge', untyped_total: 'counter',
    });
    expect(agg.get('p-aaaaaaaa')!.registry.getFamily('om_requests_total')!.def.help).toBe('OpenMetrics counter.');
    expect(agg.get('p-aaaaaaaa')!.registry.getFamily('lat_bucket')!.def.help).toBe('Latency.');
  });
});
