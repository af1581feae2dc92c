/**
 * The exposition parser: both formats as Prometheus 2.42's parsers take them, the series cache,
 * chunks cut anywhere, and every way a body fails.
 */
import { describe, expect, it } from 'vitest';
import { ExpositionParser, ScrapeFailure, SeriesCache, parseValue, type ExpositionFormat, type Exposition } from './parse.js';

const LIMITS = { maxLineChars: 4096, labelLimit: 0, labelNameLengthLimit: 0, labelValueLengthLimit: 0 };

function parse(body: string, format: ExpositionFormat = 'text', cache = new SeriesCache(), stamp = 1, chunks: string[] = [body], limits = LIMITS): Exposition {
  const p = new ExpositionParser(format, cache, stamp, limits);
  for (const c of chunks) p.push(c);
  return p.end();
}

function failure(body: string, format: ExpositionFormat = 'text', limits = LIMITS): ScrapeFailure {
  try {
    parse(body, format, new SeriesCache(), 1, [body], limits);
  } catch (err) {
    if (err instanceof ScrapeFailure) return err;
    throw err;
  }
  throw new Error('expected the body to fail');
}

/** Samples as `name{a="b"} value @time`, for comparing. */
function samples(ex: Exposition): string[] {
  return ex.series.map((s, i) => {
    const labels: string[] = [];
    for (let k = 0; k < s.labels.length; k += 2) labels.push(`${s.labels[k]}=${JSON.stringify(s.labels[k + 1])}`);
    const t = Number.isNaN(ex.times[i]) ? '' : ` @${ex.times[i]}`;
    return `${s.name}${labels.length > 0 ? `{${labels.join(',')}}` : ''} ${ex.values[i]}${t}`;
  });
}

describe('the text format 0.0.4', () => {
  it('takes what Prometheus takes: HELP, TYPE, comments, labels, escapes, whitespace, timestamps', () => {
    const ex = parse([
      '# HELP http_requests_total The total number of HTTP requests.',
      '# TYPE http_requests_total counter',
      'http_requests_total{method="post",code="200"} 1027 1395066363000',
      'http_requests_total{method="post",code="400"}    3 1395066363000',
      '',
      '# A normal comment.',
      '#comment without a space',
      '# HELP escaped Backslash \\\\ and newline \\n in help.',
      'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
      'metric_without_timestamp_and_labels 12.47',
      // The text format's own example has the timestamp -3982045; Prometheus 2.42's lexer takes digits only.
      '  something_weird{problem="division by zero"} +Inf 3982045',
      'spaces { a = "1" , b="2", } 3',
      'no_comma{a="1" b="2"} 4',
      'tabs\t{a="x"}\t5\t',
      'empty_label{a="",b="y"} 6',
      'other_escape{a="x\\ty"} 7',
      'nan_value NaN',
      'neg_inf -Inf',
      'exp 1E-3',
    ].join('\n'));
    expect(samples(ex)).toEqual([
      'http_requests_total{code="200",method="post"} 1027 @1395066363000',
      'http_requests_total{code="400",method="post"} 3 @1395066363000',
      'msdos_file_access_time_seconds{error="Cannot find file:\\n\\"FILE.TXT\\"",path="C:\\\\DIR\\\\FILE.TXT"} 1458255915',
      'metric_without_timestamp_and_labels 12.47',
      'something_weird{problem="division by zero"} Infinity @3982045',
      'spaces{a="1",b="2"} 3',
      'no_comma{a="1",b="2"} 4',
      'tabs{a="x"} 5',
      // An empty value is no label.
      'empty_label{b="y"} 6',
      // Only \\, \" and \n are escapes; any other backslash stays, as Prometheus keeps it.
      'other_escape{a="x\\\\ty"} 7',
      'nan_value NaN',
      'neg_inf -Infinity',
      'exp 0.001',
    ]);
    expect(ex.metadata.get('http_requests_total')).toEqual({ help: 'The total number of HTTP requests.', type: 'counter' });
    expect(ex.metadata.get('escaped')?.help).toBe('Backslash \\ and newline \n in help.');
  });

  it('takes a body without a last newline, an empty body, and HELP without text', () => {
    expect(samples(parse('a 1\nb 2'))).toEqual(['a 1', 'b 2']);
    expect(parse('').series).toEqual([]);
    expect(parse('\n\n').series).toEqual([]);
    expect(parse('# HELP x\nx 1\n').metadata.get('x')).toEqual({ help: '' });
  });

  it('refuses what Prometheus refuses, naming the line', () => {
    const cases: Array<[string, RegExp]> = [
      ['a 1\nb\n', /^line 2: expected a value after the series/],
      ['a one\n', /^line 1: "one" is not a number/],
      ['a 0x10\n', /not a number/],
      ['a 1_000\n', /not a number/],
      ['a 1e400\n', /not a number/],
      ['a 1 2 3\n', /^line 1: expected the end of the line after the timestamp/],
      ['a 1 -5\n', /^line 1: expected a timestamp \(whole milliseconds\)/],
      ['a 1 1.5\n', /^line 1: expected the end of the line after the timestamp/],
      ['a{b=1} 1\n', /expected the quoted value of the label b/],
      ['a{b="1} 1\n', /the value of the label b is not closed/],
      ['a{b="1",,c="2"} 1\n', /expected a label name or "}"/],
      ['{b="1"} 1\n', /a series without a metric name before "{"/],
      ['1a 1\n', /"1" cannot start a metric name/],
      ['a{b="1",b="2"} 1\n', /the label name b is not unique in the series a/],
      ['a{__name__="b"} 1\n', /the label name __name__ is not unique/],
      ['# TYPE a counter\n# TYPE a counter\na 1\n', /^line 2: a second TYPE line for a/],
      ['# HELP a x\n# HELP a y\n', /a second HELP line for a/],
      ['# TYPE a summmary\n', /invalid metric type "summmary"/],
      ['# TYPE a\n', /invalid metric type ""/],
      ['# TYPE a  counter\n', /invalid metric type " counter"/],
      ['# TYPE a unknown\n', /invalid metric type "unknown"/],
      ['# TYPE 1a counter\n', /expected a metric name after TYPE/],
    ];
    for (const [body, message] of cases) {
      const f = failure(body);
      expect(f.reason, body).toBe('parse_error');
      expect(f.message, body).toMatch(message);
    }
  });
});

describe('OpenMetrics 1.0', () => {
  it('takes families, units, timestamps in seconds, exemplars, and must end with # EOF', () => {
    const ex = parse([
      '# TYPE acme_http_router_request_seconds summary',
      '# UNIT acme_http_router_request_seconds seconds',
      '# HELP acme_http_router_request_seconds Latency though all of ACME\'s global HTTP routers.',
      'acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32',
      'acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0',
      'acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0',
      '# TYPE foo counter',
      'foo_total{a="b"} 17.0 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67',
      'foo_created{a="b"} 1520872607.123',
      '# TYPE bar histogram',
      'bar_bucket{le="0.1"} 8 # {trace_id="x"} 0.05 1520879607.789',
      'bar_bucket{le="+Inf"} 17',
      'bar_count 17',
      'bar_sum 324789.3',
      '# HELP quoted Has \\"quotes\\".',
      '# EOF',
    ].join('\n'), 'openmetrics');
    expect(samples(ex)).toEqual([
      'acme_http_router_request_seconds_sum{method="GET",path="/api/v1"} 9036.32',
      'acme_http_router_request_seconds_count{method="GET",path="/api/v1"} 807283',
      'acme_http_router_request_seconds_created{method="GET",path="/api/v1"} 1605281325',
      'foo_total{a="b"} 17 @1520879607789',
      'foo_created{a="b"} 1520872607.123',
      'bar_bucket{le="0.1"} 8',
      'bar_bucket{le="+Inf"} 17',
      'bar_count 17',
      'bar_sum 324789.3',
    ]);
    expect(ex.metadata.get('acme_http_router_request_seconds')).toEqual({ type: 'summary', unit: 'seconds', help: "Latency though all of ACME's global HTTP routers." });
    expect(ex.metadata.get('quoted')?.help).toBe('Has "quotes".');
    // `# EOF` may end the body without a newline, or with one.
    expect(samples(parse('a 1\n# EOF', 'openmetrics'))).toEqual(['a 1']);
  });

  it('refuses what OpenMetrics (and Prometheus\' parser of it) refuses', () => {
    const cases: Array<[string, RegExp]> = [
      ['a 1\n', /does not end with "# EOF"/],
      ['a 1\n# EOF\nb 2\n', /^line 3: unexpected data after "# EOF"/],
      ['a 1\n# EOF\n\n', /unexpected data after "# EOF"/],
      ['a 1\n\nb 2\n# EOF\n', /^line 2: blank lines are not allowed in OpenMetrics/],
      ['# a comment\n# EOF\n', /OpenMetrics has only # HELP, # TYPE, # UNIT and # EOF/],
      ['a  1\n# EOF\n', /is not a number|expected a value/],
      ['a 1 \n# EOF\n', /timestamp/],
      ['a{b="1",} 1\n# EOF\n', /a trailing "," before "}" is not allowed in OpenMetrics/],
      ['a{b="1" c="2"} 1\n# EOF\n', /expected "," between labels/],
      ['a {b="1"} 1\n# EOF\n', /not a number/],
      ['# TYPE a untyped\n# EOF\n', /invalid metric type "untyped"/],
      ['# UNIT a_seconds bytes\n# EOF\n', /the unit "bytes" is not a suffix of the metric name a_seconds/],
      ['# HELP a\n# EOF\n', /expected a space after the metric name/],
      ['a 1 # {x="y"}\n# EOF\n', /the exemplar value|expected the exemplar value/],
    ];
    for (const [body, message] of cases) {
      const f = failure(body, 'openmetrics');
      expect(f.reason, body).toBe('parse_error');
      expect(f.message, body).toMatch(message);
    }
  });
});

describe('a body that is no exposition', () => {
  it('a web page is not_metrics', () => {
    const f = failure('<!DOCTYPE html>\n<html><body>Welcome to nginx!</body></html>\n');
    expect(f.reason).toBe('not_metrics');
    expect(f.message).toMatch(/^the target answered something that is not a metrics exposition \(it begins "<!DOCTYPE html>", a web page\?\)/);
    expect(failure('\n  <html>\n', 'text').reason).toBe('not_metrics');
  });

  it('a line past the limit fails as soon as the limit is passed, before the line ends', () => {
    const p = new ExpositionParser('text', new SeriesCache(), 1, LIMITS);
    p.push('ok 1\n');
    p.push(`x${'y'.repeat(4000)}`);
    let caught: unknown;
    try {
      p.push('z'.repeat(200));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ScrapeFailure);
    expect((caught as ScrapeFailure).reason).toBe('line_too_long');
    expect((caught as ScrapeFailure).message).toBe('line 2 is longer than 4096 characters; no exporter writes such a line (is the target an exporter?)');
    expect(failure(`a{b="${'c'.repeat(5000)}"} 1\n`).reason).toBe('line_too_long');
  });

  it('the same series twice, however written, is duplicate_series', () => {
    for (const body of ['a{b="1"} 1\na{b="1"} 2\n', 'a{b="1",c="2"} 1\na{c="2",b="1"} 2\n', 'a{b="1"} 1\na { b = "1" } 2\n', 'a 1\na{b=""} 2\n']) {
      const f = failure(body);
      expect(f.reason, body).toBe('duplicate_series');
      expect(f.message).toMatch(/^line 2: the series a(\{b="1"(,c="2")?\})? appears twice in one exposition/);
    }
  });

  it('label limits, as Prometheus counts them', () => {
    expect(failure('a{b="1",c="2"} 1\n', 'text', { ...LIMITS, labelLimit: 2 })).toMatchObject({ reason: 'label_limit', message: 'line 1: the series a has 3 labels, more than label_limit (2)' });
    expect(failure('a{bbbb="1"} 1\n', 'text', { ...LIMITS, labelNameLengthLimit: 3 }).reason).toBe('label_limit');
    expect(failure('a{b="1234"} 1\n', 'text', { ...LIMITS, labelValueLengthLimit: 3 }).reason).toBe('label_limit');
    expect(parse('a{b="123"} 1\n', 'text', new SeriesCache(), 1, ['a{b="123"} 1\n'], { ...LIMITS, labelLimit: 2, labelValueLengthLimit: 3 }).series.length).toBe(1);
  });
});

describe('the series cache and chunks', () => {
  const body = '# TYPE x gauge\nx{a="1",b="2"} 1\nx{b="3",a="1"} 2 1000\ny 3\n';

  it('gives a series the same object in every scrape, whatever way it is written', () => {
    const cache = new SeriesCache();
    const first = parse(body, 'text', cache, 1);
    const second = parse(body.replace('x{a="1",b="2"} 1', 'x{b="2",a="1"} 5'), 'text', cache, 2);
    expect(second.series[0]).toBe(first.series[0]);
    expect(second.series[1]).toBe(first.series[1]);
    expect(second.values).toEqual([5, 2, 3]);
    expect(cache.byKey.size).toBe(3);
    // The cache holds one entry per way of writing a series.
    expect(cache.byText.size).toBe(4);
  });

  it('reads the same whatever the chunks', () => {
    const whole = samples(parse(body));
    for (let cut = 0; cut <= body.length; cut++) {
      expect(samples(parse(body, 'text', new SeriesCache(), 1, [body.slice(0, cut), body.slice(cut)])), `cut at ${cut}`).toEqual(whole);
    }
    const bytewise = [...body];
    expect(samples(parse(body, 'text', new SeriesCache(), 1, bytewise))).toEqual(whole);
  });

  it('a repeat scrape reads exactly what a first one would, however it differs from the last', () => {
    const text = '# TYPE x gauge\nx{a="1"} 1\nx{a="2"} 2\n\ty 3\nz\t4\n';
    const om = '# TYPE x gauge\nx{a="1"} 1\nx{a="2"} 2\ny 3\n# EOF\n';
    const variants: Array<[ExpositionFormat, string, string]> = [
      ['text', text, text.replace('x{a="1"} 1', 'x{a="1"} 7')],
      ['text', text, text.replace('x{a="2"} 2', 'x{a="2"} 2 5000')],
      ['text', text, '# TYPE x gauge\nx{a="2"} 2\nx{a="1"} 1\n'],
      ['text', text, text.replace('x{a="2"} 2\n', '')],
      ['openmetrics', om, om.replace('y 3', 'y 3 1.5')],
      ['openmetrics', om, om.replace('x{a="1"} 1', 'x{a="1"} 1 # {t="a"} 1')],
    ];
    for (const [format, first, second] of variants) {
      const fresh = samples(parse(second, format));
      for (let cut = 0; cut <= second.length; cut++) {
        const cache = new SeriesCache();
        parse(first, format, cache, 1);
        const again = parse(second, format, cache, 2, [second.slice(0, cut), second.slice(cut)]);
        expect(samples(again), `${JSON.stringify(second)} cut at ${cut}`).toEqual(fresh);
      }
    }
    const cache = new SeriesCache();
    expect(parse(text, 'text', cache, 1).same).toBe(false);
    expect(parse(text, 'text', cache, 2).same).toBe(true);
    expect(parse(text.replace('y 3', 'y 4'), 'text', cache, 3).same).toBe(true);
    expect(parse(text.replace('\ty 3\n', ''), 'text', cache, 4).same).toBe(false);
  });

  it('a repeat scrape still refuses a duplicate, a bad value, a line after # EOF', () => {
    const body = 'a{b="1"} 1\na{b="2"} 2\n';
    const cases: Array<[ExpositionFormat, string, string, string, number]> = [
      ['text', body, 'a{b="1"} 1\na{b="1"} 2\n', 'duplicate_series', 2],
      ['text', body, 'a{b="1"} 1\na{b="2"} two\n', 'parse_error', 2],
      ['openmetrics', `${body}# EOF\n`, `a{b="1"} 1\n# EOF\na{b="2"} 2\n`, 'parse_error', 3],
      ['openmetrics', `${body}# EOF\n`, `a{b="1"} 1\na{b="2"}  2\n# EOF\n`, 'parse_error', 2],
    ];
    for (const [format, first, second, reason, line] of cases) {
      const cache = new SeriesCache();
      parse(first, format, cache, 1);
      let caught: unknown;
      try {
        parse(second, format, cache, 2);
      } catch (err) {
        caught = err;
      }
      expect(caught, second).toBeInstanceOf(ScrapeFailure);
      expect((caught as ScrapeFailure).reason, second).toBe(reason);
      expect((caught as ScrapeFailure).message, second).toMatch(new RegExp(`^line ${line}:`));
    }
  });

  it('forgets series unseen once they outnumber the seen ones', () => {
    const cache = new SeriesCache();
    const many = Array.from({ length: 3000 }, (_, i) => `m{i="${i}"} 1`).join('\n');
    parse(many, 'text', cache, 1);
    parse('m{i="0"} 1\n', 'text', cache, 2);
    cache.trim(2, 1);
    expect(cache.byKey.size).toBe(1);
  });
});

describe('values, as Go\'s ParseFloat reads them', () => {
  it('numbers and the special words', () => {
    const ok: Array<[string, number]> = [['1', 1], ['-1.5', -1.5], ['+2', 2], ['.5', 0.5], ['1.', 1], ['1e3', 1000], ['1E-3', 0.001], ['00012', 12], ['Inf', Infinity], ['+inf', Infinity], ['-Inf', -Infinity], ['infinity', Infinity], ['NaN', NaN], ['nan', NaN]];
    for (const [t, v] of ok) expect(parseValue(t), t).toBe(v);
    for (const t of ['', '+', '-', '.', 'e', '1e', '1-2', '0x10', '1_0', '+NaN', 'inff', '1e400', 'one']) expect(parseValue(t), t).toBeUndefined();
  });
});
