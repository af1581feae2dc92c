/**
 * The hand-written OTLP decoders against protobufjs and the official schema: the same request,
 * encoded by protobufjs as protobuf and as OTLP/JSON, decodes to the same thing; every cut of
 * a valid body is a clear OtlpBodyError, never another exception.
 */
import { describe, expect, it } from 'vitest';
import { decodeJson, decodeProtobuf, OtlpBodyError, type NumberPointIn } from './decode.js';
import { otlpSchema } from '../../../test/otlp-receiver.js';

const str = (key: string, v: string) => ({ key, value: { stringValue: v } });
const request = {
  resourceMetrics: [{
    resource: { attributes: [str('service.name', 'api'), { key: 'replicas', value: { intValue: '3' } }, { key: 'canary', value: { boolValue: true } },
      { key: 'weight', value: { doubleValue: 0.25 } }, { key: 'zones', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '2' }] } } },
      { key: 'labels', value: { kvlistValue: { values: [str('team', 'ml')] } } }, str('name', 'ünïcødé')] },
    scopeMetrics: [{
      scope: { name: 'lib', version: '1.0' },
      metrics: [
        { name: 'requests', unit: '{request}', description: 'Requests.', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [
          { attributes: [str('route', '/a')], startTimeUnixNano: '1700000000000000000', timeUnixNano: '1700000060000000000', asInt: '42' },
          { attributes: [str('route', '/b')], startTimeUnixNano: '1700000000000000000', timeUnixNano: '1700000060000000000', asInt: '-7', flags: 1 },
        ] } },
        { name: 'temp', unit: 'Cel', gauge: { dataPoints: [{ timeUnixNano: '1700000060000000000', asDouble: 21.5 }] } },
        { name: 'latency', unit: 's', histogram: { aggregationTemporality: 1, dataPoints: [
          { attributes: [], startTimeUnixNano: '1700000000000000000', timeUnixNano: '1700000060000000000', count: '6', sum: 3.5, bucketCounts: ['1', '2', '3'], explicitBounds: [0.1, 1] },
        ] } },
        { name: 'expo', exponentialHistogram: { aggregationTemporality: 2, dataPoints: [{ count: '1' }, { count: '2' }] } },
        { name: 'summ', summary: { dataPoints: [{ count: '1' }] } },
      ],
    }],
  }],
};

function encoded(): Uint8Array {
  const type = otlpSchema().ExportMetricsServiceRequest;
  return type.encode(type.fromObject(request)).finish();
}

describe('OTLP decoding', () => {
  it('reads protobuf and OTLP/JSON alike, as the official schema defines them', () => {
    const fromProto = decodeProtobuf(encoded());
    const type = otlpSchema().ExportMetricsServiceRequest;
    const json = JSON.stringify(type.toObject(type.decode(encoded()), { longs: String, enums: Number }));
    // The same attributes, values and points; attribute keys differ by encoding (bytes or JSON), by design.
    const plain = (x: unknown) => JSON.parse(JSON.stringify(x, (_k, v) => (v !== null && typeof v === 'object' && typeof v.list === 'function' ? v.list() : v)));
    expect(plain(decodeJson(json))).toEqual(plain(fromProto));
    const [res] = fromProto;
    expect(res.attributes).toEqual(['service.name', 'api', 'replicas', '3', 'canary', 'true', 'weight', '0.25', 'zones', '["a",2]', 'labels', '{"team":"ml"}', 'name', 'ünïcødé']);
    const [requests, temp, latency, expo, summ] = res.metrics;
    expect(requests).toMatchObject({ name: 'requests', unit: '{request}', description: 'Requests.', data: { kind: 'sum', temporality: 2, monotonic: true } });
    expect(plain(requests.data)).toMatchObject({ points: [
      { attributes: ['route', '/a'], startMs: 1_700_000_000_000, timeMs: 1_700_000_060_000, value: 42, flags: 0 },
      { attributes: ['route', '/b'], value: -7, flags: 1 },
    ] });
    expect(temp.data).toMatchObject({ kind: 'gauge', points: [{ value: 21.5 }] });
    expect(latency.data).toMatchObject({ kind: 'histogram', temporality: 1, points: [{ count: 6, sum: 3.5, bucketCounts: [1, 2, 3], bounds: [0.1, 1] }] });
    expect(expo.data).toEqual({ kind: 'exponential_histogram', pointCount: 2 });
    expect(summ.data).toEqual({ kind: 'summary', pointCount: 1 });
  });

  it('turns every truncation of a valid body into an OtlpBodyError', () => {
    const bytes = encoded();
    let refused = 0;
    for (let n = 1; n < bytes.length; n++) {
      try {
        const res = decodeProtobuf(bytes.subarray(0, n));
        for (const m of res.flatMap((r) => r.metrics)) if ('points' in m.data) for (const p of m.data.points) p.attributes.list();
      } catch (err) {
        expect(err).toBeInstanceOf(OtlpBodyError);
        refused++;
      }
    }
    // A cut that falls between two top-level messages is a shorter valid request; every other is refused.
    expect(refused).toBeGreaterThan(bytes.length - 3);
  });

  it('reads negative int64 attribute values exactly', () => {
    const type = otlpSchema().ExportMetricsServiceRequest;
    const body = type.encode(type.fromObject({ resourceMetrics: [{ resource: { attributes: [
      { key: 'a', value: { intValue: '-1' } }, { key: 'b', value: { intValue: '-9007199254740991' } }, { key: 'c', value: { intValue: '9007199254740991' } },
    ] } }] })).finish();
    expect(decodeProtobuf(body)[0].attributes).toEqual(['a', '-1', 'b', '-9007199254740991', 'c', '9007199254740991']);
  });

  it('reads nanosecond timestamps as whole milliseconds, exactly, where the nanoseconds pass 2^53', () => {
    const type = otlpSchema().ExportMetricsServiceRequest;
    const cases = ['1796355611058000000', '1796355611057999999', '18446744073709551615', '999999', '1000000'];
    const body = (ns: string) => ({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'g', gauge: { dataPoints: [{ timeUnixNano: ns, asDouble: 1 }] } }] }] }] });
    for (const ns of cases) {
      const expected = Number(BigInt(ns) / 1_000_000n);
      const fromProto = decodeProtobuf(type.encode(type.fromObject(body(ns))).finish());
      const fromJson = decodeJson(JSON.stringify(body(ns)));
      for (const decoded of [fromProto, fromJson]) {
        const data = decoded[0].metrics[0].data as { points: NumberPointIn[] };
        const point = data.points[0];
        expect(point.timeMs, ns).toBe(expected);
      }
    }
  });

  it('refuses invalid UTF-8 in a string field', () => {
    const bytes = Buffer.from(encoded());
    const at = bytes.indexOf(Buffer.from('ünïcødé'));
    bytes[at] = 0xff;
    // A resource attribute is read at once; a point's when its series is looked up.
    expect(() => decodeProtobuf(bytes)).toThrow('is not valid UTF-8');
    const inPoint = Buffer.from(encoded());
    inPoint[inPoint.indexOf(Buffer.from('/a'))] = 0xff;
    const point = (decodeProtobuf(inPoint)[0].metrics[0].data as { points: Array<{ attributes: { list(): string[]; key: string } }> }).points[0];
    expect(point.attributes.key.startsWith('p')).toBe(true);
    expect(() => point.attributes.list()).toThrow("the point's attributes are not valid protobuf: a string field at byte");
  });
});
