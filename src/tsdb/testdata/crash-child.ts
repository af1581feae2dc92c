/**
 * Crash-test writer: appends one batch per tick and reports each committed batch on stdout, until
 * the test kills it with SIGKILL. Small chunks and checkpoints so kills land between every kind of
 * write (chunk cuts, checkpoints, out-of-order flushes).
 */
import { Tsdb } from '../store.js';

const dir = process.argv[2];
const store = Tsdb.open({ dir, chunkSamples: 7, checkpointBytes: 2_000, synchronous: 'normal' });
const series = Array.from({ length: 20 }, (_, i) => ({ __name__: 'crash_total', idx: String(i) }));
let batch = 0;
function tick(): void {
  const t = 1_000_000 + batch * 1000;
  const samples = series.map((labels, i) => ({ labels, t, v: batch * 100 + i }));
  // Every fifth batch also rewrites an older sample out of order.
  if (batch % 5 === 4) samples.push({ labels: series[0], t: 1_000_000, v: -batch });
  store.appendBatch('p1', samples);
  process.stdout.write(`committed ${batch}\n`);
  batch++;
  setImmediate(tick);
}
tick();
