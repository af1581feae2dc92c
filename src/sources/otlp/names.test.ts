/**
 * Every catalogue metric, sent over OTLP with its Prometheus name and its UCUM unit, comes out of
 * Prometheus' OTLP translation (github.com/prometheus/otlptranslator, used by Prometheus' and
 * Mimir's/Grafana Cloud's OTLP endpoints) under exactly the name Meterway exposes itself.
 *
 * The translation (names.ts, which the OTLP receiver uses) is first proven on cases from upstream's
 * metric_namer_test.go and label_namer docs, so a mistake in it cannot pass the catalogue check by
 * accident.
 */
import { describe, expect, it } from 'vitest';
import { CATALOG, metricName, type MetricType } from '../../catalog/catalog.js';
import { prometheusUnit, translateLabelName, translateMetricName as translate, type OtlpType, type Strategy } from './names.js';

const OTLP_TYPE: Record<MetricType, OtlpType> = { counter: 'monotonic_counter', gauge: 'gauge', histogram: 'histogram' };

describe('Prometheus OTLP translation', () => {
  // [strategy, namespace, name, unit, type, expected]: from upstream metric_namer_test.go, plus the
  // classic semantic-convention example system.filesystem.usage.
  const cases: ReadonlyArray<readonly [Strategy, string, string, string, OtlpType, string]> = [
    ['UnderscoreEscapingWithSuffixes', '', 'system.filesystem.usage', 'By', 'gauge', 'system_filesystem_usage_bytes'],
    ['UnderscoreEscapingWithSuffixes', '', 'requests', '', 'monotonic_counter', 'requests_total'],
    ['UnderscoreEscapingWithSuffixes', '', 'cpu_usage', '1', 'gauge', 'cpu_usage_ratio'],
    ['UnderscoreEscapingWithSuffixes', '', 'items', '1', 'monotonic_counter', 'items_total'],
    ['UnderscoreEscapingWithSuffixes', '', 'response_time', 'ms', 'gauge', 'response_time_milliseconds'],
    ['UnderscoreEscapingWithSuffixes', '', 'requests', '1/s', 'gauge', 'requests_per_second'],
    ['UnderscoreEscapingWithSuffixes', '', 'throughput', 'By/s', 'gauge', 'throughput_bytes_per_second'],
    ['UnderscoreEscapingWithSuffixes', '', 'custom_metric', 'custom_unit', 'gauge', 'custom_metric_custom_unit'],
    ['UnderscoreEscapingWithSuffixes', '', 'custom_metric', '{custom}', 'gauge', 'custom_metric'],
    ['UnderscoreEscapingWithSuffixes', '', 'custom_metric', 'By/{custom}', 'gauge', 'custom_metric_bytes'],
    ['UnderscoreEscapingWithSuffixes', '', 'requests_total', '', 'monotonic_counter', 'requests_total'],
    ['UnderscoreEscapingWithSuffixes', '', 'cpu_usage_ratio', '1', 'gauge', 'cpu_usage_ratio'],
    ['UnderscoreEscapingWithSuffixes', '', 'response_time_seconds', 's', 'gauge', 'response_time_seconds'],
    ['UnderscoreEscapingWithSuffixes', 'app', 'requests', '1/s', 'monotonic_counter', 'app_requests_per_second_total'],
    ['UnderscoreEscapingWithSuffixes', 'app', '123_requests', '', 'monotonic_counter', 'app_123_requests_total'],
    ['UnderscoreEscapingWithSuffixes', '', 'metric__with__multiple__underscores', 'unit__multiple__underscores', 'gauge', 'metric_with_multiple_underscores_unit_multiple_underscores'],
    ['UnderscoreEscapingWithSuffixes', '', 'custom_metric', 'unit@with#special/chars', 'gauge', 'custom_metric_unit_with_special_per_chars'],
    ['UnderscoreEscapingWithSuffixes', '', 'request_duration', 's', 'histogram', 'request_duration_seconds'],
    ['UnderscoreEscapingWithSuffixes', '', 'active_connections', '', 'non_monotonic_counter', 'active_connections'],
    ['UnderscoreEscapingWithSuffixes', '', 'cpu_usage', '%', 'gauge', 'cpu_usage_percent'],
    ['UnderscoreEscapingWithSuffixes', '', 'custom', '1/custom_unit', 'gauge', 'custom_per_custom_unit'],
    ['UnderscoreEscapingWithSuffixes', '', 'metric', 'By/', 'gauge', 'metric_bytes'],
    ['UnderscoreEscapingWithSuffixes', '', 'metric', ' By / s ', 'gauge', 'metric_bytes_per_second'],
    ['UnderscoreEscapingWithSuffixes', '', 'metric', '/', 'gauge', 'metric'],
    ['UnderscoreEscapingWithSuffixes', '', 'http.request.duration', 'ms', 'histogram', 'http_request_duration_milliseconds'],
    ['UnderscoreEscapingWithSuffixes', '', 'http.requests', '1', 'monotonic_counter', 'http_requests_total'],
    ['UnderscoreEscapingWithoutSuffixes', '', 'metric@with#special$chars', '', 'gauge', 'metric_with_special_chars'],
    ['UnderscoreEscapingWithoutSuffixes', 'test@namespace!!??', 'metric', '', 'gauge', 'test_namespace_metric'],
    ['NoUTF8EscapingWithSuffixes', '', 'requests_total', '', 'monotonic_counter', 'requests_total'],
    ['NoUTF8EscapingWithSuffixes', '', 'cpu_usage_ratio', '1', 'gauge', 'cpu_usage_ratio'],
    ['NoUTF8EscapingWithSuffixes', '', 'cpu_seconds_total', 's', 'monotonic_counter', 'cpu_seconds_total'],
    ['NoUTF8EscapingWithSuffixes', '', 'otelcol_process_cpu_seconds', 's', 'monotonic_counter', 'otelcol_process_cpu_seconds_total'],
    ['NoUTF8EscapingWithSuffixes', '', 'requêsts', '', 'monotonic_counter', 'requêsts_total'],
    ['NoUTF8EscapingWithSuffixes', '', 'cpu_usagé', '1', 'gauge', 'cpu_usagé_ratio'],
    ['NoUTF8EscapingWithSuffixes', '', 'respønse_time', 'ms', 'gauge', 'respønse_time_milliseconds'],
    ['NoUTF8EscapingWithSuffixes', 'ñamespace', 'requêsts', '1/s', 'monotonic_counter', 'ñamespace_requêsts_per_second_total'],
    ['NoUTF8EscapingWithSuffixes', '', '@#$%', '', 'monotonic_counter', '@#$%_total'],
    ['NoUTF8EscapingWithSuffixes', 'test@namespace', 'metric', '', 'monotonic_counter', 'test@namespace_metric_total'],
    ['NoTranslation', 'test_namespace', 'métric_with_ñ_chars', '', 'gauge', 'test_namespace_métric_with_ñ_chars'],
  ];
  it.each(cases)('%s %j: %s [%s] %s -> %s', (strategy, namespace, name, unit, type, want) => {
    expect(translate(name, unit, type, strategy, namespace)).toBe(want);
  });

  it('refuses what upstream refuses', () => {
    expect(translate('@#$%', '', 'gauge', 'UnderscoreEscapingWithSuffixes')).toEqual(new Error('normalization for metric "@#$%" resulted in empty name'));
    expect(translate('@_#_$_%', '', 'gauge', 'UnderscoreEscapingWithoutSuffixes')).toEqual(
      new Error('normalization for metric "@_#_$_%" resulted in invalid name "_____"'),
    );
    expect(translate('___', '', 'gauge', 'UnderscoreEscapingWithoutSuffixes')).toBe('___');
  });

  it('appends a unit suffix only where the name lacks that word (so the catalogue check can fail)', () => {
    // `ms` is not the word `milliseconds`: a name carrying the UCUM symbol gets a second suffix.
    expect(translate('run_time_ms', 'ms', 'histogram', 'UnderscoreEscapingWithSuffixes')).toBe('run_time_ms_milliseconds');
    expect(translate('runs_total', '1', 'monotonic_counter', 'UnderscoreEscapingWithSuffixes')).toBe('runs_total');
  });
});

describe('label names and units', () => {
  it.each([
    ['http.method', 'http_method'], ['123invalid', 'key_123invalid'], ['__reserved__', '__reserved__'], ['_private', 'key_private'],
    ['service.instance.id', 'service_instance_id'], ['k8s.pod.name', 'k8s_pod_name'], ['valid_name', 'valid_name'], ['日本', '__'],
  ])('%s -> %s', (label, want) => {
    const got = translateLabelName(label);
    if (want === '__') expect(got).toEqual(new Error('normalization for label name "日本" resulted in invalid name "__"'));
    else expect(got).toBe(want);
  });
  it('refuses an empty label name', () => expect(translateLabelName('')).toBeInstanceOf(Error));
  it.each([['s', 'seconds'], ['By/s', 'bytes_per_second'], ['{request}', ''], ['1', ''], ['ms', 'milliseconds'], ['%', 'percent']])('unit %s -> %s', (unit, want) => {
    expect(prometheusUnit(unit)).toBe(want);
  });
});

describe('the whole catalogue through the translation', () => {
  const PREFIX = 'meterway';
  const rows = CATALOG.map((def) => [metricName(PREFIX, def), def.otlpUnit, def.type] as const);

  it('covers every catalogue entry, each with a UCUM unit', () => {
    expect(rows).toHaveLength(CATALOG.length);
    for (const [, unit] of rows) expect(unit).not.toBe('');
  });

  for (const strategy of ['UnderscoreEscapingWithSuffixes', 'NoUTF8EscapingWithSuffixes'] as const) {
    it.each(rows)(`${strategy}: %s [%s] %s keeps its Prometheus name`, (name, unit, type) => {
      expect(translate(name, unit, OTLP_TYPE[type], strategy)).toBe(name);
    });
  }

  it('a unit-less translation (UnderscoreEscapingWithoutSuffixes) also keeps the names', () => {
    for (const [name, unit, type] of rows) expect(translate(name, unit, OTLP_TYPE[type], 'UnderscoreEscapingWithoutSuffixes')).toBe(name);
  });

  it('the CONTRACT section 5 names are all in the catalogue', () => {
    const contract = [
      'meterway_cpu_utilization_cores', 'meterway_memory_usage_bytes', 'meterway_gpu_memory_usage_bytes',
      'meterway_gpu_compute_utilization_percent', 'meterway_containers_running', 'meterway_containers_ready',
      'meterway_run_execution_time_seconds', 'meterway_run_queue_time_seconds', 'meterway_run_coldstart_time_seconds',
      'meterway_run_response_time_seconds', 'meterway_runs_total', 'meterway_run_successes_total', 'meterway_run_errors_total',
      'meterway_inference_requests_total', 'meterway_inference_input_tokens_total', 'meterway_inference_output_tokens_total',
      'meterway_inference_time_to_first_token_seconds', 'meterway_inference_time_per_output_token_seconds',
      'meterway_inference_request_duration_seconds',
    ];
    const names = new Set(rows.map((r) => r[0]));
    for (const n of contract) expect(names.has(n), n).toBe(true);
  });
});
