/**
 * Every catalogue metric, sent over OTLP with its Prometheus name and its UCUM unit, comes out of
 * Prometheus' OTLP translation (github.com/prometheus/otlptranslator, used by Prometheus' and
 * Mimir's/Grafana Cloud's OTLP endpoints) under exactly the name Meterway exposes itself.
 *
 * The translation is re-implemented here (MetricNamer.Build: normalizeName for the default
 * `UnderscoreEscapingWithSuffixes`, buildMetricName for `NoUTF8EscapingWithSuffixes`) and first
 * proven on cases from the upstream metric_namer_test.go, so a mistake in it cannot pass the
 * catalogue check by accident.
 */
import { describe, expect, it } from 'vitest';
import { CATALOG, metricName, type MetricType } from '../../catalog/catalog.js';

type OtlpType = 'monotonic_counter' | 'non_monotonic_counter' | 'gauge' | 'histogram' | 'summary';
type Strategy = 'UnderscoreEscapingWithSuffixes' | 'NoUTF8EscapingWithSuffixes' | 'UnderscoreEscapingWithoutSuffixes' | 'NoTranslation';

const UNIT_MAP: ReadonlyMap<string, string> = new Map([
  ['d', 'days'], ['h', 'hours'], ['min', 'minutes'], ['s', 'seconds'], ['ms', 'milliseconds'], ['us', 'microseconds'], ['ns', 'nanoseconds'],
  ['By', 'bytes'], ['KiBy', 'kibibytes'], ['MiBy', 'mebibytes'], ['GiBy', 'gibibytes'], ['TiBy', 'tibibytes'],
  ['KBy', 'kilobytes'], ['MBy', 'megabytes'], ['GBy', 'gigabytes'], ['TBy', 'terabytes'],
  ['m', 'meters'], ['V', 'volts'], ['A', 'amperes'], ['J', 'joules'], ['W', 'watts'], ['g', 'grams'],
  ['Cel', 'celsius'], ['Hz', 'hertz'], ['1', ''], ['%', 'percent'],
]);
const PER_UNIT_MAP: ReadonlyMap<string, string> = new Map([
  ['s', 'second'], ['m', 'minute'], ['h', 'hour'], ['d', 'day'], ['w', 'week'], ['mo', 'month'], ['y', 'year'],
]);

/** a-z, A-Z, 0-9 and ':' (the underscore is not: it separates tokens). */
function isCompliantChar(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === ':';
}

/** Go's strings.FieldsFunc: the non-empty runs between separator runes (runes, not UTF-16 units). */
function fields(s: string, isSep: (c: string) => boolean): string[] {
  const out: string[] = [];
  let cur = '';
  for (const c of s) {
    if (isSep(c)) {
      if (cur !== '') out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur !== '') out.push(cur);
  return out;
}

function buildUnitSuffixes(unit: string): [main: string, per: string] {
  const slash = unit.indexOf('/');
  const tokens = slash < 0 ? [unit] : [unit.slice(0, slash), unit.slice(slash + 1)];
  let main = '';
  let per = '';
  const mainOtel = tokens[0].trim();
  if (mainOtel !== '' && !/[{}]/.test(mainOtel)) main = UNIT_MAP.has(mainOtel) ? (UNIT_MAP.get(mainOtel) as string) : mainOtel;
  if (tokens.length > 1 && tokens[1] !== '') {
    const perOtel = tokens[1].trim();
    if (perOtel !== '' && !/[{}]/.test(perOtel)) per = PER_UNIT_MAP.get(perOtel) ?? perOtel;
    if (per !== '') per = 'per_' + per;
  }
  return [main, per];
}

function collapseUnderscores(s: string): string {
  return s.replace(/_+/g, '_');
}

function cleanUpUnit(unit: string): string {
  let mapped = '';
  for (const c of unit) mapped += isCompliantChar(c) ? c : '_';
  const collapsed = collapseUnderscores(mapped);
  return collapsed.startsWith('_') ? collapsed.slice(1) : collapsed;
}

function addUnitTokens(tokens: string[], mainIn: string, perIn: string): string[] {
  let main = mainIn;
  let per = perIn;
  if (tokens.includes(main)) main = '';
  if (per === 'per_') per = '';
  else {
    if (per.endsWith('_')) per = per.slice(0, -1);
    if (tokens.includes(per)) per = '';
  }
  if (per !== '' && main.endsWith('_')) main = main.slice(0, -1);
  const out = [...tokens];
  if (main !== '') out.push(main);
  if (per !== '') out.push(per);
  return out;
}

const startsWithDigit = (s: string) => s !== '' && s[0] >= '0' && s[0] <= '9';

function normalizeName(name: string, unit: string, type: OtlpType, namespace: string): string {
  let tokens = fields(name, (c) => !isCompliantChar(c));
  const [main, per] = buildUnitSuffixes(unit);
  tokens = addUnitTokens(tokens, cleanUpUnit(main), cleanUpUnit(per));
  if (type === 'monotonic_counter') tokens = [...tokens.filter((t) => t !== 'total'), 'total'];
  if (unit === '1' && type === 'gauge') tokens = [...tokens.filter((t) => t !== 'ratio'), 'ratio'];
  if (namespace !== '') tokens = [namespace, ...tokens];
  const joined = tokens.join('_');
  return startsWithDigit(joined) ? '_' + joined : joined;
}

/** Go's trimSuffixAndDelimiter, in bytes as Go counts them. */
function trimSuffixAndDelimiter(name: string, suffix: string): string {
  const nb = Buffer.from(name, 'utf8');
  const sb = Buffer.byteLength(suffix, 'utf8');
  if (name.endsWith(suffix) && nb.length > sb + 1) return nb.subarray(0, nb.length - (sb + 1)).toString('utf8');
  return name;
}

function buildMetricName(input: string, unit: string, type: OtlpType, namespace: string, withSuffixes: boolean): string {
  let name = namespace !== '' ? `${namespace}_${input}` : input;
  if (!withSuffixes) return name;
  const ratio = unit === '1' && type === 'gauge';
  if (ratio) name = trimSuffixAndDelimiter(name, 'ratio');
  const total = type === 'monotonic_counter';
  if (total) name = trimSuffixAndDelimiter(name, 'total');
  const [main, per] = buildUnitSuffixes(unit);
  if (per !== '') name = trimSuffixAndDelimiter(name, per);
  if (main !== '' && !name.endsWith(main)) name = `${name}_${main}`;
  // Go appends these in deferred calls, so in reverse order of registration.
  if (per !== '') name = `${name}_${per}`;
  if (total) name = `${name}_total`;
  if (ratio) name = `${name}_ratio`;
  return name;
}

/** MetricNamer.Build: the translated name, or an Error where Prometheus refuses the metric. */
function translate(name: string, unit: string, type: OtlpType, strategy: Strategy, namespace = ''): string | Error {
  const escape = strategy === 'UnderscoreEscapingWithSuffixes' || strategy === 'UnderscoreEscapingWithoutSuffixes';
  const suffixes = strategy === 'UnderscoreEscapingWithSuffixes' || strategy === 'NoUTF8EscapingWithSuffixes';
  if (!escape) return buildMetricName(name, unit, type, namespace, suffixes);
  let out: string;
  if (suffixes) out = normalizeName(name, unit, type, namespace);
  else {
    const metric = fields(name, (c) => !isCompliantChar(c) && c !== '_').join('_');
    if (namespace !== '') out = fields(namespace, (c) => !isCompliantChar(c) && c !== '_').join('_') + '_' + metric;
    else out = startsWithDigit(metric) ? '_' + metric : metric;
  }
  if (out === '') return new Error(`normalization for metric "${name}" resulted in empty name`);
  if (out !== name && /^_+$/.test(out)) return new Error(`normalization for metric "${name}" resulted in invalid name "${out}"`);
  return out;
}

const OTLP_TYPE: Record<MetricType, OtlpType> = { counter: 'monotonic_counter', gauge: 'gauge', histogram: 'histogram' };

describe('Prometheus OTLP translation, re-implemented', () => {
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
