import { describe, expect, it } from 'vitest';
import type { Attributes, BatchMetric, EventRecord, MetricBatch } from '../../push/types.js';
import { encodeBatch, encodeEvents, graphiteWord, ddTagValue, testDatagram, type EncodeOptions, type Encoded } from './encode.js';

const DD: EncodeOptions = { flavor: 'dogstatsd', prefix: '', maxDatagramBytes: 1432 };
const PLAIN: EncodeOptions = { flavor: 'statsd', prefix: '', maxDatagramBytes: 1432 };

const attrs = (o: Record<string, string>): Attributes => Object.entries(o);

function batch(metrics: BatchMetric[]): MetricBatch {
  return { projectId: 'p-1', temporality: 'delta', startMs: 0, timeMs: 1000, metrics };
}

function counter(name: string, points: Array<[Record<string, string>, number]>): BatchMetric {
  return { name, description: '', unit: '', type: 'counter', keys: points.map((_, i) => `k${i}`), points: points.map(([a, value]) => ({ attributes: attrs(a), value })) };
}

function gauge(name: string, points: Array<[Record<string, string>, number]>): BatchMetric {
  return { ...counter(name, points), type: 'gauge' };
}

const lines = (e: Encoded) => e.datagrams.flatMap((d) => d.toString('utf8').split('\n'));

describe('DogStatsD lines', () => {
  it('writes counters, gauges and histograms with labels as tags, in batch order', () => {
    const e = encodeBatch(batch([
      counter('meterway_runs_total', [[{ project_id: 'p-1', app_name: 'chat' }, 3]]),
      gauge('meterway_containers_running', [[{ project_id: 'p-1' }, 2]]),
      {
        name: 'meterway_run_execution_time_seconds', description: '', unit: 's', type: 'histogram', bounds: [0.1, 1, 2.5], keys: ['h'],
        points: [{ attributes: attrs({ region: 'eu' }), count: 4, sum: 3.5, bucketCounts: [0, 3, 0, 1] }],
      },
    ]), DD);
    expect(lines(e)).toEqual([
      'meterway_runs_total:3|c|#project_id:p-1,app_name:chat',
      'meterway_containers_running:2|g|#project_id:p-1',
      'meterway_run_execution_time_seconds_count:4|c|#region:eu',
      'meterway_run_execution_time_seconds_sum:3.5|c|#region:eu',
      // le buckets count everything at or below the bound; the one below any observation is left out
      'meterway_run_execution_time_seconds_bucket:3|c|#region:eu,le:1',
      'meterway_run_execution_time_seconds_bucket:3|c|#region:eu,le:2.5',
    ]);
    expect(e.datagrams).toHaveLength(1);
    expect(e).toMatchObject({ points: 3, lines: 6, droppedPoints: [], oversizeLines: 0, unrepresentable: 0 });
  });

  it('leaves out counters that did not move and histograms without observations, but keeps every gauge', () => {
    const e = encodeBatch(batch([
      counter('a_total', [[{}, 0], [{ x: '1' }, 2]]),
      gauge('g', [[{}, 0]]),
      { name: 'h', description: '', unit: '', type: 'histogram', bounds: [1], keys: ['h'], points: [{ attributes: [], count: 0, sum: 0, bucketCounts: [0, 0] }] },
    ]), DD);
    expect(lines(e)).toEqual(['a_total:2|c|#x:1', 'g:0|g']);
    expect(e.points).toBe(4);
  });

  it('turns the characters that would end a field, a tag or the line into _ and keeps the rest for the Agent', () => {
    const e = encodeBatch(batch([counter('job:rate5m', [[{ model_name: 'a|b,c#d\ne', 'we:ird': 'ü x:y/z@1' }, 1]])]), DD);
    expect(lines(e)).toEqual(['job_rate5m:1|c|#model_name:a_b_c_d_e,we_ird:ü x:y/z@1']);
    expect(ddTagValue('\r\t\u0000ok')).toBe('___ok');
  });

  it('puts the prefix before every name with a dot', () => {
    const e = encodeBatch(batch([counter('meterway_runs_total', [[{}, 1]])]), { ...DD, prefix: 'prod.eu' });
    expect(lines(e)).toEqual(['prod.eu.meterway_runs_total:1|c']);
  });

  it('writes negative gauges as they are: DogStatsD has no relative gauges', () => {
    expect(lines(encodeBatch(batch([gauge('t', [[{}, -5]])]), DD))).toEqual(['t:-5|g']);
  });

  it('leaves out NaN and infinite values and counts them', () => {
    const e = encodeBatch(batch([gauge('g', [[{}, NaN], [{}, Infinity], [{}, 1]])]), DD);
    expect(lines(e)).toEqual(['g:1|g']);
    expect(e).toMatchObject({ unrepresentable: 2, droppedPoints: [0, 1] });
  });
});

describe('plain StatsD lines', () => {
  it('folds labels into the name as .key_value segments and escapes each for the Graphite hierarchy', () => {
    const e = encodeBatch(batch([
      counter('meterway_inference_requests_total', [[{ project_id: 'p-1', model_name: 'meta-llama/Llama-3.1 8B', region: 'eu west:1|x@y' }, 7]]),
    ]), PLAIN);
    expect(lines(e)).toEqual(['meterway_inference_requests_total.project_id_p-1.model_name_meta-llama-Llama-3_1_8B.region_eu_west_1_x_y:7|c']);
  });

  it('escapes like StatsD for white space and /, and makes every other character _ so nothing is silently deleted', () => {
    expect(graphiteWord('a  b\tc')).toBe('a_b_c');
    expect(graphiteWord('x/y')).toBe('x-y');
    expect(graphiteWord('1.5')).toBe('1_5');
    expect(graphiteWord('ü😀;=')).toBe('____');
    expect(graphiteWord('ok-Name_9')).toBe('ok-Name_9');
  });

  it('resets a negative gauge to 0 first, in the same datagram, as StatsD reads -5 as a decrement', () => {
    const e = encodeBatch(batch([gauge('t', [[{ a: 'b' }, -5], [{ a: 'c' }, 4]])]), PLAIN);
    expect(e.datagrams.map((d) => d.toString())).toEqual(['t.a_b:0|g\nt.a_b:-5|g\nt.a_c:4|g']);
    expect(e.lines).toBe(3);
  });

  it('keeps a reset and its value together across a datagram boundary', () => {
    const filler = gauge('f', Array.from({ length: 40 }, (_, i) => [{ i: String(i).padStart(3, '0') }, 1] as [Record<string, string>, number]));
    const e = encodeBatch(batch([filler, gauge('neg', [[{}, -1]])]), { ...PLAIN, maxDatagramBytes: 512 });
    const texts = e.datagrams.map((d) => d.toString());
    const withReset = texts.filter((t) => t.includes('neg:'));
    expect(withReset).toHaveLength(1);
    expect(withReset[0]).toContain('neg:0|g\nneg:-1|g');
  });

  it('names histogram buckets name_bucket.labels.le_bound', () => {
    const e = encodeBatch(batch([{
      name: 'x_seconds', description: '', unit: 's', type: 'histogram', bounds: [0.25, 1], keys: ['h'],
      points: [{ attributes: attrs({ app_name: 'chat' }), count: 2, sum: 0.7, bucketCounts: [1, 1, 0] }],
    }]), PLAIN);
    expect(lines(e)).toEqual([
      'x_seconds_count.app_name_chat:2|c',
      'x_seconds_sum.app_name_chat:0.7|c',
      'x_seconds_bucket.app_name_chat.le_0_25:1|c',
      'x_seconds_bucket.app_name_chat.le_1:2|c',
    ]);
  });
});

describe('packing', () => {
  const many = (n: number, value = 'v'.repeat(30)) =>
    counter('meterway_runs_total', Array.from({ length: n }, (_, i) => [{ project_id: 'p-1', app_name: `app-${i}`, region: value }, i + 1] as [Record<string, string>, number]));

  it('packs lines up to max_datagram_bytes, splits only between lines, and keeps every line once', () => {
    for (const max of [512, 1432, 8192]) {
      const e = encodeBatch(batch([many(500)]), { ...DD, maxDatagramBytes: max });
      for (const d of e.datagrams) {
        expect(d.length).toBeLessThanOrEqual(max);
        expect(d.toString()).not.toMatch(/^\n|\n$|\n\n/);
      }
      // Full: the next line would not have fitted in any datagram but the last.
      for (let i = 0; i + 1 < e.datagrams.length; i++) {
        const next = e.datagrams[i + 1].toString().split('\n')[0];
        expect(e.datagrams[i].length + 1 + Buffer.byteLength(next)).toBeGreaterThan(max);
      }
      expect(lines(e)).toEqual(Array.from({ length: 500 }, (_, i) => `meterway_runs_total:${i + 1}|c|#project_id:p-1,app_name:app-${i},region:${'v'.repeat(30)}`));
      expect(e.lines).toBe(500);
    }
  });

  it('counts bytes, not characters, for tags in other scripts', () => {
    const e = encodeBatch(batch([many(200, 'ü'.repeat(40))]), { ...DD, maxDatagramBytes: 512 });
    for (const d of e.datagrams) expect(d.length).toBeLessThanOrEqual(512);
    expect(lines(e)).toHaveLength(200);
  });

  it('drops a line longer than a datagram on its own, counts it and says which point it was', () => {
    const e = encodeBatch(batch([counter('c_total', [[{ a: 'x' }, 1], [{ a: 'y'.repeat(600) }, 2], [{ a: 'z' }, 3]])]), { ...DD, maxDatagramBytes: 512 });
    expect(lines(e)).toEqual(['c_total:1|c|#a:x', 'c_total:3|c|#a:z']);
    expect(e).toMatchObject({ oversizeLines: 1, droppedPoints: [1], points: 3 });
  });

  it('records which points each datagram carries', () => {
    const e = encodeBatch(batch([many(100)]), { ...DD, maxDatagramBytes: 512 });
    expect(e.firstPoint[0]).toBe(0);
    expect(e.lastPoint[e.lastPoint.length - 1]).toBe(99);
    for (let i = 0; i < e.datagrams.length; i++) {
      const carried = e.datagrams[i].toString().split('\n').map((l) => Number(/app-(\d+)/.exec(l)![1]));
      expect([Math.min(...carried), Math.max(...carried)]).toEqual([e.firstPoint[i], e.lastPoint[i]]);
    }
  });
});

describe('raw events as timings', () => {
  const run = (extra: Record<string, string | number>): EventRecord => ({
    timeMs: 1, observedMs: 1, eventName: 'run',
    attributes: Object.entries({ type: 'run', project_id: 'p-1', app_name: 'chat', status: 'success', run_id: 'r-123', ...extra }),
  });

  it('sends each *_ms field as a distribution with the low-cardinality fields as tags', () => {
    const e = encodeEvents([run({ execution_time_ms: 300, queue_time_ms: 12.5, region: 'eu' })], DD);
    expect(lines(e)).toEqual([
      'meterway_run_execution_time_ms:300|d|#project_id:p-1,app_id:p-1-chat,app_name:chat,region:eu,status:success',
      'meterway_run_queue_time_ms:12.5|d|#project_id:p-1,app_id:p-1-chat,app_name:chat,region:eu,status:success',
    ]);
  });

  it('sends timers (|ms) with the tags folded for plain StatsD', () => {
    const e = encodeEvents([run({ response_time_ms: 40 })], { ...PLAIN, prefix: 'mw' });
    expect(lines(e)).toEqual(['mw.meterway_run_response_time_ms.project_id_p-1.app_id_p-1-chat.app_name_chat.status_success:40|ms']);
  });

  it('skips events without a duration and fields that are not durations', () => {
    const inference: EventRecord = {
      timeMs: 1, observedMs: 1, eventName: 'inference',
      attributes: Object.entries({ type: 'inference', project_id: 'p-1', model_name: 'm', input_tokens: 10, output_tokens: 3, status_code: 200, ttft_ms: 80, timestamp: 1700000000000 }),
    };
    const e = encodeEvents([run({}), inference], DD);
    expect(lines(e)).toEqual(['meterway_inference_ttft_ms:80|d|#project_id:p-1,model_name:m,status_code:200']);
    expect(e.firstPoint).toEqual([1]);
    expect(e.points).toBe(2);
  });
});

describe('test connection datagram', () => {
  it('is a service check for DogStatsD and a gauge for StatsD', () => {
    expect(testDatagram(DD).toString()).toBe('_sc|meterway_test_connection|0|m:test connection from Meterway');
    expect(testDatagram({ ...PLAIN, prefix: 'x' }).toString()).toBe('x.meterway_test_connection:1|g');
  });
});
