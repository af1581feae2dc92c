/**
 * The hand-written WriteRequest decoder against protobufjs and the vendored remote write schema
 * (src/wire/proto/prompb): what protobufjs encodes, the decoder reads the same; every cut of a
 * valid body is a RemoteWriteBodyError, never another exception.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { STALE_NAN } from '../../core/labels.js';
import { decodeWriteRequest, RemoteWriteBodyError } from './decode.js';

const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'wire', 'proto', 'prompb');

function writeRequestType(): protobuf.Type {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync('remote.proto');
  return root.lookupType('prometheus.WriteRequest');
}

const WriteRequest = writeRequestType();
const encode = (req: object): Uint8Array => WriteRequest.encode(WriteRequest.fromObject(req)).finish();
const label = (name: string, value: string) => ({ name, value });

const request = {
  timeseries: [
    {
      labels: [label('__name__', 'http_requests_total'), label('instance', 'a:9100'), label('job', 'node'), label('path', 'ünïcødé/日本')],
      samples: [{ value: 10, timestamp: 1_700_000_000_000 }, { value: 12.5, timestamp: 1_700_000_015_000 }, { value: 11, timestamp: 1_700_000_010_000 }],
      exemplars: [{ labels: [label('trace_id', 'abc')], value: 1, timestamp: 1_700_000_015_000 }],
    },
    { labels: [label('__name__', 'up'), label('job', 'node')], samples: [{ value: 1, timestamp: 1_700_000_015_000 }, { value: STALE_NAN, timestamp: 1_700_000_030_000 }] },
    { labels: [label('__name__', 'temp')], samples: [{ value: NaN, timestamp: 1_700_000_015_000 }] },
    { labels: [label('__name__', 'native')], histograms: [{ countInt: 3, sum: 1.5, schema: 3, timestamp: 1_700_000_015_000 }, { countInt: 4, timestamp: 1_700_000_030_000 }] },
    // proto3 leaves out zeros: a sample of value 0 at time 0 is an empty message.
    { labels: [label('__name__', 'zero')], samples: [{ value: 0, timestamp: 0 }] },
    { labels: [], samples: [{ value: -1, timestamp: -5 }] },
  ],
  metadata: [
    { type: 1, metricFamilyName: 'http_requests', help: 'Requests served.', unit: '' },
    { type: 3, metricFamilyName: 'latency_seconds', help: 'Latency.', unit: 'seconds' },
    { type: 99, metricFamilyName: 'future' },
  ],
};

describe('remote write 1.0 decoding', () => {
  it('reads what protobufjs writes with the official schema, keeping each series\' newest sample', () => {
    const { series: s, metadata, samples } = decodeWriteRequest(encode(request));
    expect(s.count).toBe(6);
    expect(samples).toBe(3 + 2 + 1 + 0 + 1 + 1);
    expect(s.labels(0)).toEqual(['__name__', 'http_requests_total', 'instance', 'a:9100', 'job', 'node', 'path', 'ünïcødé/日本']);
    expect([s.samples[0], s.newestValue[0], s.newestMs[0], s.newestStale[0], s.exemplars[0]]).toEqual([3, 12.5, 1_700_000_015_000, 0, 1]);
    expect([s.newestMs[1], s.newestStale[1]]).toEqual([1_700_000_030_000, 1]);
    // An ordinary NaN is a value (a summary quantile without observations), not the marker.
    expect([Number.isNaN(s.newestValue[2]), s.newestStale[2]]).toEqual([true, 0]);
    expect([s.samples[3], s.histograms[3]]).toEqual([0, 2]);
    expect([s.samples[4], s.newestValue[4], s.newestMs[4]]).toEqual([1, 0, 0]);
    expect(s.labels(5)).toEqual([]);
    expect([s.newestValue[5], s.newestMs[5]]).toEqual([-1, -5]);
    expect(metadata).toEqual([
      { type: 'counter', name: 'http_requests', help: 'Requests served.', unit: '' },
      { type: 'histogram', name: 'latency_seconds', help: 'Latency.', unit: 'seconds' },
      { type: 'unknown', name: 'future', help: '', unit: '' },
    ]);
  });

  it('knows a series by its label bytes: the same labels the same hash and bytes, other labels others', () => {
    const body = encode({ timeseries: [request.timeseries[0], { ...request.timeseries[0], samples: [{ value: 1, timestamp: 1 }] }, request.timeseries[1]] });
    const { series: s } = decodeWriteRequest(body);
    expect(s.labelHash[0]).toBeGreaterThanOrEqual(0);
    expect(s.labelHash[0]).toBe(s.labelHash[1]);
    expect(s.labelHash[0]).not.toBe(s.labelHash[2]);
    const words = s.labelWords(0);
    const length = s.labelEnd[0] - s.labelStart[0];
    expect(s.sameLabels(1, words, length)).toBe(true);
    expect(s.sameLabels(2, words, length)).toBe(false);
    // One byte changed in the last, partial word.
    const other = encode({ timeseries: [{ ...request.timeseries[0], labels: [...request.timeseries[0].labels.slice(0, 3), label('path', 'ünïcødé/日本'.slice(0, -1) + '木')] }] });
    const { series: o } = decodeWriteRequest(other);
    expect(o.labelEnd[0] - o.labelStart[0]).toBe(length);
    expect(o.sameLabels(0, words, length)).toBe(false);
  });

  it('reads labels that come after samples, and keys them by the labels alone', () => {
    // By hand: TimeSeries { Label, Sample, Label } — legal protobuf, though no encoder writes it.
    const one = encode({ timeseries: [{ labels: [label('__name__', 'a'), label('job', 'x')], samples: [{ value: 2, timestamp: 7 }] }] });
    const { series: s1 } = decodeWriteRequest(one);
    const ts = WriteRequest.lookupType('prometheus.TimeSeries');
    const lab = (n: string, v: string) => ts.lookupType('prometheus.Label').encode({ name: n, value: v }).finish();
    const sample = ts.lookupType('prometheus.Sample').encode({ value: 2, timestamp: 7 }).finish();
    const field = (no: number, bytes: Uint8Array) => [(no << 3) | 2, bytes.length, ...bytes];
    const inner = [...field(1, lab('__name__', 'a')), ...field(2, sample), ...field(1, lab('job', 'x'))];
    const { series: s2 } = decodeWriteRequest(Uint8Array.from(field(1, Uint8Array.from(inner))));
    expect(s2.labels(0)).toEqual(['__name__', 'a', 'job', 'x']);
    // Not one run: known by the labels' bytes as a string, the bytes the one-run series has.
    expect(s2.labelHash[0]).toBe(-1);
    expect(s2.labelKey(0)).toBe(Buffer.from(one.subarray(s1.labelStart[0], s1.labelEnd[0])).toString('latin1'));
    expect([s2.newestValue[0], s2.newestMs[0]]).toEqual([2, 7]);
  });

  it('decodes a label that is not UTF-8 only when asked, as that series\' problem', () => {
    const good = encode({ timeseries: [{ labels: [label('__name__', 'a')], samples: [{ value: 1, timestamp: 1 }] }] });
    const bytes = Array.from(good);
    // The metric name's value "a" (the last 'a' in the body) becomes the byte 0xff.
    bytes[bytes.lastIndexOf(0x61)] = 0xff;
    const { series: s } = decodeWriteRequest(Uint8Array.from(bytes));
    expect(s.count).toBe(1);
    expect(() => s.labels(0)).toThrow(RemoteWriteBodyError);
    expect(() => s.labels(0)).toThrow(/not valid UTF-8/);
  });

  it('refuses every cut of a valid body with a RemoteWriteBodyError, and a body that is not protobuf', () => {
    const body = encode(request);
    let refused = 0;
    for (let n = 1; n < body.length; n++) {
      try {
        decodeWriteRequest(body.subarray(0, n));
      } catch (err) {
        expect(err).toBeInstanceOf(RemoteWriteBodyError);
        refused++;
      }
    }
    // Some cuts land between whole series and are valid, shorter requests.
    expect(refused).toBeGreaterThan(body.length / 2);
    expect(() => decodeWriteRequest(new TextEncoder().encode('{"timeseries": []}'))).toThrow(/not a valid protobuf prometheus\.WriteRequest/);
    // Field 1 as a varint is not a TimeSeries.
    expect(() => decodeWriteRequest(Uint8Array.from([0x08, 0x01]))).toThrow(/wire type 0, not a message/);
    expect(decodeWriteRequest(new Uint8Array(0)).series.count).toBe(0);
  });
});
