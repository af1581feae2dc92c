// One test per entry of the functions table, each with hand-computed expectations, plus a check
// that no entry goes untested.
import { describe, expect, it } from 'vitest';
import { Engine, FUNCTIONS, type QueryResult } from '../../src/promql/index.js';
import { MemoryStorage } from '../../src/promql/conformance/memory.js';
import { labelsString } from '../../src/promql/values.js';

const storage = new MemoryStorage();
const load = (labels: Record<string, string>, values: number[]) => values.forEach((v, k) => storage.append(labels, k * 60_000, v));
// Samples every minute from t=0 to t=10m.
load({ __name__: 'c_total', i: '1' }, [0, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600]);
load({ __name__: 'g', i: '1' }, [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]);
load({ __name__: 'neg', i: '1' }, Array(11).fill(-1.5));
load({ __name__: 'h_bucket', le: '1' }, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
load({ __name__: 'h_bucket', le: '2' }, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
load({ __name__: 'h_bucket', le: '+Inf' }, [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]);
load({ __name__: 'svc', instance: 'h', job: 'j' }, Array(11).fill(1));
load({ __name__: 'target_info', instance: 'h', job: 'j', version: '1.2' }, Array(11).fill(1));
// A cumulative counter whose start time (30s) is known, as OpenTelemetry reports it.
for (let k = 1; k <= 10; k++) storage.append({ __name__: 'st_total', i: '1' }, k * 60_000, k * 60, 30_000);
// 1970-02-01 05:07:00 UTC.
load({ __name__: 't', i: '1' }, Array(11).fill(31 * 86400 + 5 * 3600 + 7 * 60));

const engine = new Engine();
const AT = 600_000;

/** A result as `labels value` strings, in result order. */
function rows(r: QueryResult): string[] {
  switch (r.resultType) {
    case 'scalar':
      return [`scalar ${r.result.value}`];
    case 'vector':
      return r.result.map((s) => `${labelsString(s.labels)} ${s.value}`);
    default:
      throw new Error(`unexpected ${r.resultType}`);
  }
}

async function run(query: string): Promise<string[]> {
  return rows(await engine.instantQuery(storage, query, AT));
}

/** name -> [query, expected rows]; numbers close to but not exactly representable use toBeCloseTo. */
const CASES: Record<string, [string, (string | [string, number])[]]> = {
  abs: ['abs(neg)', ['{i="1"} 1.5']],
  absent: ['absent(nonexistent{job="x"})', ['{job="x"} 1']],
  absent_over_time: ['absent_over_time(nonexistent{job="x"}[5m])', ['{job="x"} 1']],
  acos: ['acos(vector(1))', ['{} 0']],
  acosh: ['acosh(vector(1))', ['{} 0']],
  asin: ['asin(vector(0))', ['{} 0']],
  asinh: ['asinh(vector(0))', ['{} 0']],
  atan: ['atan(vector(0))', ['{} 0']],
  atanh: ['atanh(vector(0))', ['{} 0']],
  // Window (5m, 10m] holds 2 6 5 3 5.
  avg_over_time: ['avg_over_time(g[5m])', ['{i="1"} 4.2']],
  ceil: ['ceil(neg)', ['{i="1"} -1']],
  changes: ['changes(g[5m])', ['{i="1"} 4']],
  clamp: ['clamp(g, 2, 4)', ['{i="1"} 4']],
  clamp_max: ['clamp_max(g, 4)', ['{i="1"} 4']],
  clamp_min: ['clamp_min(g, 6)', ['{i="1"} 6']],
  cos: ['cos(vector(0))', ['{} 1']],
  cosh: ['cosh(vector(0))', ['{} 1']],
  count_over_time: ['count_over_time(g[5m])', ['{i="1"} 5']],
  days_in_month: ['days_in_month(t)', ['{i="1"} 28']],
  day_of_month: ['day_of_month(t)', ['{i="1"} 1']],
  day_of_week: ['day_of_week(vector(0))', ['{} 4']],
  day_of_year: ['day_of_year(t)', ['{i="1"} 32']],
  deg: ['deg(vector(pi()))', ['{} 180']],
  // 2 -> 5 over 4 minutes, extrapolated by one minute at the start: 3 * 300/240.
  delta: ['delta(g[5m])', ['{i="1"} 3.75']],
  deriv: ['deriv(c_total[5m])', ['{i="1"} 1']],
  double_exponential_smoothing: ['double_exponential_smoothing(c_total[5m], 0.5, 0.5)', ['{i="1"} 600']],
  end: ['end()', ['scalar 600']],
  exp: ['exp(vector(0))', ['{} 1']],
  first_over_time: ['first_over_time(g[5m])', ['{__name__="g", i="1"} 2']],
  floor: ['floor(neg)', ['{i="1"} -2']],
  // Native-histogram functions ignore float samples.
  histogram_avg: ['histogram_avg(h_bucket)', []],
  histogram_count: ['histogram_count(h_bucket)', []],
  histogram_fraction: ['histogram_fraction(0, 1, h_bucket)', ['{} 0.25']],
  histogram_quantile: ['histogram_quantile(0.5, h_bucket)', ['{} 2']],
  histogram_quantiles: ['histogram_quantiles(h_bucket, "q", 0.5)', ['{q="0.5"} 2']],
  histogram_stddev: ['histogram_stddev(h_bucket)', []],
  histogram_stdvar: ['histogram_stdvar(h_bucket)', []],
  histogram_sum: ['histogram_sum(h_bucket)', []],
  hour: ['hour(t)', ['{i="1"} 5']],
  idelta: ['idelta(g[5m])', ['{i="1"} 2']],
  increase: ['increase(c_total[5m])', ['{i="1"} 300']],
  info: ['info(svc)', ['{__name__="svc", instance="h", job="j", version="1.2"} 1']],
  irate: ['irate(c_total[5m])', ['{i="1"} 1']],
  label_join: ['label_join(g, "x", "-", "i", "i")', ['{__name__="g", i="1", x="1-1"} 5']],
  label_replace: ['label_replace(g, "x", "v$1", "i", "(.*)")', ['{__name__="g", i="1", x="v1"} 5']],
  last_over_time: ['last_over_time(g[5m])', ['{__name__="g", i="1"} 5']],
  ln: ['ln(vector(1))', ['{} 0']],
  log10: ['log10(vector(100))', ['{} 2']],
  log2: ['log2(vector(8))', ['{} 3']],
  mad_over_time: ['mad_over_time(g[5m])', ['{i="1"} 1']],
  max_of: ['max_of(1, 2)', ['scalar 2']],
  max_over_time: ['max_over_time(g[5m])', ['{i="1"} 6']],
  min_of: ['min_of(1, 2)', ['scalar 1']],
  min_over_time: ['min_over_time(g[5m])', ['{i="1"} 2']],
  minute: ['minute(t)', ['{i="1"} 7']],
  month: ['month(t)', ['{i="1"} 2']],
  pi: ['pi()', [['scalar', Math.PI]]],
  predict_linear: ['predict_linear(c_total[5m], 60)', ['{i="1"} 660']],
  present_over_time: ['present_over_time(g[5m])', ['{i="1"} 1']],
  quantile_over_time: ['quantile_over_time(0.5, g[5m])', ['{i="1"} 5']],
  rad: ['rad(vector(180))', [['{}', Math.PI]]],
  range: ['range()', ['scalar 0']],
  rate: ['rate(c_total[5m])', ['{i="1"} 1']],
  resets: ['resets(g[5m])', ['{i="1"} 2']],
  round: ['round(vector(2.4), 0.5)', ['{} 2.5']],
  scalar: ['scalar(g)', ['scalar 5']],
  sgn: ['sgn(neg)', ['{i="1"} -1']],
  sin: ['sin(vector(0))', ['{} 0']],
  sinh: ['sinh(vector(0))', ['{} 0']],
  sort: ['sort({__name__=~"g|neg"})', ['{__name__="neg", i="1"} -1.5', '{__name__="g", i="1"} 5']],
  sort_by_label: ['sort_by_label({__name__=~"g|neg"}, "__name__")', ['{__name__="g", i="1"} 5', '{__name__="neg", i="1"} -1.5']],
  sort_by_label_desc: ['sort_by_label_desc({__name__=~"g|neg"}, "__name__")', ['{__name__="neg", i="1"} -1.5', '{__name__="g", i="1"} 5']],
  sort_desc: ['sort_desc({__name__=~"g|neg"})', ['{__name__="g", i="1"} 5', '{__name__="neg", i="1"} -1.5']],
  sqrt: ['sqrt(vector(16))', ['{} 4']],
  start: ['start()', ['scalar 600']],
  start_timestamp: ['start_timestamp(st_total)', ['{i="1"} 30']],
  stddev_over_time: ['stddev_over_time(g[5m])', [['{i="1"}', Math.sqrt(2.16)]]],
  stdvar_over_time: ['stdvar_over_time(g[5m])', [['{i="1"}', 2.16]]],
  step: ['step()', ['scalar 0']],
  sum_over_time: ['sum_over_time(g[5m])', ['{i="1"} 21']],
  tan: ['tan(vector(0))', ['{} 0']],
  tanh: ['tanh(vector(0))', ['{} 0']],
  time: ['time()', ['scalar 600']],
  timestamp: ['timestamp(g)', ['{i="1"} 600']],
  ts_of_first_over_time: ['ts_of_first_over_time(g[5m])', ['{i="1"} 360']],
  ts_of_last_over_time: ['ts_of_last_over_time(g[5m])', ['{i="1"} 600']],
  ts_of_max_over_time: ['ts_of_max_over_time(g[5m])', ['{i="1"} 420']],
  ts_of_min_over_time: ['ts_of_min_over_time(g[5m])', ['{i="1"} 360']],
  vector: ['vector(7)', ['{} 7']],
  year: ['year(vector(0))', ['{} 1970']],
};

describe('functions table', () => {
  it('has a test case for every registered function', () => {
    expect([...FUNCTIONS.keys()].filter((f) => !(f in CASES))).toEqual([]);
  });

  it('signatures are well formed', () => {
    for (const def of FUNCTIONS.values()) {
      expect(def.variadic).toBeGreaterThanOrEqual(-1);
      if (def.variadic !== 0) expect(def.argTypes.length).toBeGreaterThan(0);
      expect(['scalar', 'vector']).toContain(def.returnType);
    }
  });

  for (const [name, [query, want]] of Object.entries(CASES)) {
    it(`${name}: ${query}`, async () => {
      expect(FUNCTIONS.has(name)).toBe(true);
      const got = await run(query);
      expect(got.length).toBe(want.length);
      want.forEach((w, k) => {
        if (typeof w === 'string') {
          expect(got[k]).toBe(w);
        } else {
          const sp = got[k].lastIndexOf(' ');
          expect(got[k].slice(0, sp)).toBe(w[0]);
          expect(Number(got[k].slice(sp + 1))).toBeCloseTo(w[1], 9);
        }
      });
    });
  }
});
