/**
 * StatsD encoding: data points per second of one push (by default 10,000 counter and 10,000
 * histogram series, 20,000 points) into DogStatsD datagrams of 1432 bytes, ours (encodeBatch)
 * against a naive encoder written here: a template string per line, every label escaped on
 * every line, lines joined and cut into datagrams by length. No StatsD client library is
 * installed to compare with (hot-shots, node-dogstatsd format one metric per call, not a
 * batch), so the naive encoder is the baseline: it is what the job looks like without care, and
 * it writes exactly the same lines, which the run checks before timing.
 *
 * Ours escapes a series' labels once and reuses them on every push (the snapshot hands the same
 * attribute list each time), so it is timed twice: warm (every push after the first) and cold
 * (fresh attribute lists, as on the first push after a start).
 */
import type { Attributes, BatchMetric, HistogramPoint, MetricBatch, NumberPoint } from '../src/push/types.js';
import { DEFAULT_BUCKETS } from '../src/catalog/catalog.js';
import { encodeBatch, type EncodeOptions } from '../src/sinks/statsd/encode.js';
import { fmtNum, fmtRate, header, latencies, median, encodeRate, inferenceLabelSets } from './_util.js';

const SERIES = Number(process.env.BENCH_SERIES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const BOUNDS = DEFAULT_BUCKETS.latency;
const OBS_PER_HIST = 20;
const OPTS: EncodeOptions = { flavor: 'dogstatsd', prefix: '', maxDatagramBytes: 1432 };

/** A delta batch as delivery hands it to the sink. */
function deltaBatch(labels: Array<Record<string, string>>, values: Float64Array): MetricBatch {
  const counters: NumberPoint[] = [];
  const hists: HistogramPoint[] = [];
  for (let i = 0; i < labels.length; i++) {
    counters.push({ attributes: Object.entries({ ...labels[i], code_class: '2xx' }), value: (i % 17) + 1 });
    const counts = new Float64Array(BOUNDS.length + 1);
    let sum = 0;
    for (let k = 0; k < OBS_PER_HIST; k++) {
      const v = values[(i * OBS_PER_HIST + k) % values.length];
      let b = 0;
      while (b < BOUNDS.length && v > BOUNDS[b]) b++;
      counts[b]++;
      sum += v;
    }
    hists.push({ attributes: Object.entries(labels[i]), count: OBS_PER_HIST, sum, bucketCounts: counts });
  }
  const metrics: BatchMetric[] = [
    { name: 'meterway_inference_requests_total', description: '', unit: '{request}', type: 'counter', keys: labels.map((_, i) => `c${i}`), points: counters },
    { name: 'meterway_inference_request_duration_seconds', description: '', unit: 's', type: 'histogram', bounds: BOUNDS, keys: labels.map((_, i) => `h${i}`), points: hists },
  ];
  return { projectId: 'p-bench0001', temporality: 'delta', startMs: Date.now() - 60_000, timeMs: Date.now(), metrics };
}

/** The same batch with every attribute list copied: nothing cached for it yet. */
function refreshed(batch: MetricBatch): MetricBatch {
  return { ...batch, metrics: batch.metrics.map((m) => ({ ...m, points: m.points.map((p) => ({ ...p, attributes: p.attributes.map((a) => [a[0], a[1]] as const) as Attributes })) })) };
}

// ---- the naive baseline: same lines, no care -------------------------------------------------

const esc = (s: string) => s.replace(/[|,#\u0000-\u001f\u007f]/g, '_');
const escKey = (s: string) => s.replace(/[|,#:\u0000-\u001f\u007f]/g, '_');
const tags = (a: Attributes) => (a.length === 0 ? '' : `|#${a.map(([k, v]) => `${escKey(k)}:${esc(v)}`).join(',')}`);

function naiveEncode(batch: MetricBatch, max: number): Buffer[] {
  const lines: string[] = [];
  for (const m of batch.metrics) {
    const name = m.name.replace(/[^A-Za-z0-9_]/g, '_');
    for (const p of m.points) {
      if (m.type === 'histogram') {
        const h = p as HistogramPoint;
        if (h.count === 0) continue;
        lines.push(`${name}_count:${h.count}|c${tags(h.attributes)}`);
        lines.push(`${name}_sum:${h.sum}|c${tags(h.attributes)}`);
        let below = 0;
        m.bounds!.forEach((b, i) => {
          below += h.bucketCounts[i];
          if (below > 0) lines.push(`${name}_bucket:${below}|c${tags([...h.attributes, ['le', String(b)]])}`);
        });
      } else {
        const v = (p as NumberPoint).value;
        if (m.type === 'counter' && v === 0) continue;
        lines.push(`${name}:${v}|${m.type === 'gauge' ? 'g' : 'c'}${tags(p.attributes)}`);
      }
    }
  }
  const out: Buffer[] = [];
  let cur = '';
  for (const l of lines) {
    const next = cur === '' ? l : `${cur}\n${l}`;
    if (Buffer.byteLength(next) > max && cur !== '') {
      out.push(Buffer.from(cur));
      cur = l;
    } else cur = next;
  }
  if (cur !== '') out.push(Buffer.from(cur));
  return out;
}

const total = (ds: Buffer[]) => ds.reduce((n, d) => n + d.length, 0);

export async function main(): Promise<void> {
  header(`StatsD encoding: ${fmtNum(SERIES)} counter + ${fmtNum(SERIES)} histogram series (${BOUNDS.length} bounds), one push, DogStatsD, 1432-byte datagrams`);
  const labels = inferenceLabelSets(SERIES, ['meta-llama/Llama-3.1-8B', 'mistral-7b', 'qwen2.5-72b', 'gpt-oss-20b'], ['on_demand', 'pt']);
  const batch = deltaBatch(labels, latencies(SERIES * OBS_PER_HIST));
  const points = SERIES * 2;

  const ours = encodeBatch(batch, OPTS);
  const naive = naiveEncode(batch, OPTS.maxDatagramBytes);
  const linesOf = (ds: Buffer[]) => ds.flatMap((d) => d.toString().split('\n'));
  const same = JSON.stringify(linesOf(ours.datagrams)) === JSON.stringify(linesOf(naive));
  console.log(`   ${fmtNum(ours.lines)} lines; datagrams: ours ${fmtNum(ours.datagrams.length)} (${fmtNum(total(ours.datagrams))} B), naive ${fmtNum(naive.length)} (${fmtNum(total(naive))} B); same lines in the same order: ${same ? 'yes' : 'NO'}`);
  if (!same) throw new Error('the two encoders do not write the same lines');

  for (let i = 0; i < 5; i++) {
    encodeBatch(batch, OPTS);
    naiveEncode(batch, OPTS.maxDatagramBytes);
  }
  const run = async () => ({
    naive: await encodeRate(() => total(naiveEncode(batch, OPTS.maxDatagramBytes)), points, 300, ROUNDS),
    warm: await encodeRate(() => total(encodeBatch(batch, OPTS).datagrams), points, 300, ROUNDS),
    // A batch is cold once (then its attribute lists are cached): each call gets a new copy, made untimed.
    cold: await encodeRate((b: MetricBatch) => total(encodeBatch(b, OPTS).datagrams), points, 300, ROUNDS, () => refreshed(batch)),
    plain: await encodeRate(() => total(encodeBatch(batch, { ...OPTS, flavor: 'statsd' }).datagrams), points, 300, ROUNDS),
  });
  const a = await run();
  const b = await run();
  const best = (k: keyof typeof a) => Math.max(a[k].best, b[k].best);
  const med = (k: keyof typeof a) => median([a[k].med, b[k].med]);
  console.log(`   ours, DogStatsD, warm (every push after the first):  ${fmtRate(best('warm'))} points (median of rounds ${fmtRate(med('warm'))})`);
  console.log(`   ours, DogStatsD, cold (the first push after a start): ${fmtRate(best('cold'))} points (median ${fmtRate(med('cold'))})`);
  console.log(`   ours, plain StatsD (labels folded), warm:             ${fmtRate(best('plain'))} points (median ${fmtRate(med('plain'))})`);
  console.log(`   naive template-string encoder (written here):         ${fmtRate(best('naive'))} points (median ${fmtRate(med('naive'))})`);
  console.log(`   ratio to naive (best rounds): warm ${(best('warm') / best('naive')).toFixed(2)}x, cold ${(best('cold') / best('naive')).toFixed(2)}x; a ${fmtNum(points)}-point push takes ${(1000 * points / best('warm')).toFixed(1)} ms warm`);
}
