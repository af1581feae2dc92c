import { describe, expect, it } from 'vitest';
import { MetricRegistry } from '../aggregate/registry.js';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../aggregate/series.js';
import { negotiateFormat, renderFamilies } from './render.js';
import { collect } from './stream.js';
import { formatValue } from './escape.js';

function registry() {
  const reg = new MetricRegistry();
  const c = reg.family<CounterSeries>({ name: 'x_requests_total', type: 'counter', help: 'Requests "quoted" \\ and\nnewline.', unit: '', labelNames: ['app_name', 'region'] });
  const g = reg.family<GaugeSeries>({ name: 'x_memory_bytes', type: 'gauge', help: 'Memory.', unit: 'bytes', labelNames: ['app_name'] });
  const h = reg.family<HistogramSeries>({ name: 'x_latency_seconds', type: 'histogram', help: 'Latency.', unit: 'seconds', labelNames: ['app_name'], buckets: [0.1, 1] });
  reg.series(c, 'a', ['a', undefined])!.inc(3);
  reg.series(c, 'b', ['b"\\\n', 'eu'])!.inc(1.5);
  reg.series(g, 'a', ['a'])!.set(42, 0, 1000);
  reg.series(g, 'old', ['old'])!.set(7, 0, 10);
  const hs = reg.series(h, 'a', ['a'])!;
  for (const v of [0.05, 0.1, 0.5, 3]) hs.observe(v);
  return reg;
}

describe('renderFamilies', () => {
  it('renders the 0.0.4 text format exactly', () => {
    const text = collect(renderFamilies(registry().families, { format: 'text', gaugeFreshSinceMs: 500 }));
    expect(text).toBe(
      [
        '# HELP x_requests_total Requests "quoted" \\\\ and\\nnewline.',
        '# TYPE x_requests_total counter',
        'x_requests_total{app_name="a"} 3',
        'x_requests_total{app_name="b\\"\\\\\\n",region="eu"} 1.5',
        '# HELP x_memory_bytes Memory.',
        '# TYPE x_memory_bytes gauge',
        'x_memory_bytes{app_name="a"} 42',
        '# HELP x_latency_seconds Latency.',
        '# TYPE x_latency_seconds histogram',
        'x_latency_seconds_bucket{app_name="a",le="0.1"} 2',
        'x_latency_seconds_bucket{app_name="a",le="1"} 3',
        'x_latency_seconds_bucket{app_name="a",le="+Inf"} 4',
        'x_latency_seconds_sum{app_name="a"} 3.65',
        'x_latency_seconds_count{app_name="a"} 4',
        '',
      ].join('\n'),
    );
  });

  it('renders OpenMetrics with UNIT lines, escaped HELP and # EOF', () => {
    const text = collect(renderFamilies(registry().families, { format: 'openmetrics', gaugeFreshSinceMs: 500 }));
    expect(text).toContain('# TYPE x_requests_total counter\n# HELP x_requests_total Requests \\"quoted\\" \\\\ and\\nnewline.\n');
    expect(text).toContain('# TYPE x_memory_bytes gauge\n# UNIT x_memory_bytes bytes\n# HELP x_memory_bytes Memory.\n');
    expect(text.endsWith('x_latency_seconds_count{app_name="a"} 4\n# EOF\n')).toBe(true);
  });

  it('leaves out stale gauges and shows them again while fresh', () => {
    const reg = registry();
    expect(collect(renderFamilies(reg.families, { format: 'text', gaugeFreshSinceMs: 5 }))).toContain('x_memory_bytes{app_name="old"} 7');
    expect(collect(renderFamilies(reg.families, { format: 'text', gaugeFreshSinceMs: 11 }))).not.toContain('app_name="old"');
    expect(reg.sweepStale(11)).toBe(1);
    expect(reg.seriesCount).toBe(4);
  });

  it('filters by app and skips families without app labels', () => {
    const reg = registry();
    reg.family<GaugeSeries>({ name: 'x_build_info', type: 'gauge', help: 'Info.', unit: '', labelNames: ['version'] });
    const text = collect(renderFamilies(reg.families, { format: 'text', app: 'a', gaugeFreshSinceMs: 0 }));
    expect(text).toContain('x_requests_total{app_name="a"} 3');
    expect(text).not.toContain('app_name="b');
    expect(text).not.toContain('app_name="old"');
    expect(text).not.toContain('x_build_info');
  });

  it('renders series without labels without braces', () => {
    const reg = new MetricRegistry();
    const h = reg.family<HistogramSeries>({ name: 'y_seconds', type: 'histogram', help: 'h', unit: 'seconds', labelNames: [], buckets: [1] });
    reg.series(h, '', [])!.observe(2);
    expect(collect(renderFamilies(reg.families, { format: 'text', gaugeFreshSinceMs: 0 }))).toContain(
      'y_seconds_bucket{le="1"} 0\ny_seconds_bucket{le="+Inf"} 1\ny_seconds_sum 2\ny_seconds_count 1\n',
    );
  });

  it('splits large output into chunks without breaking lines', () => {
    const reg = new MetricRegistry();
    const c = reg.family<CounterSeries>({ name: 'z_total', type: 'counter', help: 'z', unit: '', labelNames: ['i'] });
    for (let i = 0; i < 1000; i++) reg.series(c, String(i), [String(i)])!.inc(i);
    const chunks = [...renderFamilies(reg.families, { format: 'text', gaugeFreshSinceMs: 0, chunkChars: 1000 })];
    expect(chunks.length).toBeGreaterThan(10);
    for (const chunk of chunks) expect(chunk.endsWith('\n')).toBe(true);
    expect(chunks.join('').split('\n').filter((l) => l.startsWith('z_total{')).length).toBe(1000);
  });
});

describe('formatValue and negotiateFormat', () => {
  it('writes values as Prometheus does', () => {
    expect([1, 0.1, 1e21, Infinity, -Infinity, NaN, -0.5].map(formatValue)).toEqual(['1', '0.1', '1e+21', '+Inf', '-Inf', 'NaN', '-0.5']);
  });
  it('picks OpenMetrics only when asked', () => {
    expect(negotiateFormat(undefined)).toBe('text');
    expect(negotiateFormat('text/plain')).toBe('text');
    expect(negotiateFormat('application/openmetrics-text;version=1.0.0;q=0.9,text/plain;q=0.5')).toBe('openmetrics');
  });
});
