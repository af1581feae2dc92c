import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { STALE_NAN, isStaleNaN, type Labels } from '../core/labels.js';
import type { LabelMatcher, SeriesSamples } from '../core/queryable.js';
import { Tsdb, type TsdbOptions } from './store.js';

const dirs: string[] = [];
const open: Tsdb[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsdb-test-'));
  dirs.push(d);
  return d;
}

function openStore(opts: TsdbOptions): Tsdb {
  const s = Tsdb.open(opts);
  open.push(s);
  return s;
}

afterEach(() => {
  for (const s of open.splice(0)) {
    try {
      s.close();
    } catch {
      // already closed by the test
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function m(name: string, type: LabelMatcher['type'], value: string): LabelMatcher {
  return { name, type, value };
}

function sel(store: Tsdb, project: string, matchers: LabelMatcher[], min = -Infinity, max = Infinity): SeriesSamples[] {
  return [...store.querier(project, min, max).select(matchers, min, max)];
}

function points(s: SeriesSamples): Array<[number, number]> {
  return Array.from(s.timestamps, (t, i) => [t, s.values[i]]);
}

describe('querier selection', () => {
  function fixture(): Tsdb {
    const store = openStore({ dir: tmp() });
    const series: Labels[] = [
      { __name__: 'http_requests_total', job: 'api', code: '200' },
      { __name__: 'http_requests_total', job: 'api', code: '500' },
      { __name__: 'http_requests_total', job: 'apiserver', code: '200' },
      { __name__: 'http_requests_total', job: 'web' },
      { __name__: 'up', job: 'api' },
    ];
    store.appendBatch('p', series.map((labels, i) => ({ labels, t: 1000, v: i })));
    store.appendBatch('p', series.map((labels, i) => ({ labels, t: 2000, v: i + 10 })));
    return store;
  }

  const jobs = (r: SeriesSamples[]): string[] => r.map((s) => `${s.labels.__name__}/${s.labels.job}/${s.labels.code ?? '-'}`);

  it('applies =, !=, =~, !~ with fully anchored regexes and empty-label semantics', () => {
    const store = fixture();
    expect(jobs(sel(store, 'p', [m('__name__', '=', 'http_requests_total'), m('job', '=', 'api')]))).toEqual(['http_requests_total/api/200', 'http_requests_total/api/500']);
    expect(jobs(sel(store, 'p', [m('job', '=~', 'api')]))).toEqual(['http_requests_total/api/200', 'http_requests_total/api/500', 'up/api/-']);
    expect(jobs(sel(store, 'p', [m('job', '=~', 'api.*'), m('code', '!=', '500')]))).toEqual(['http_requests_total/api/200', 'http_requests_total/apiserver/200', 'up/api/-']);
    expect(jobs(sel(store, 'p', [m('__name__', '=', 'http_requests_total'), m('job', '!~', 'api|web')]))).toEqual(['http_requests_total/apiserver/200']);
    // A missing label equals "": {code=""} selects series without it, {code!=""} those with it.
    expect(jobs(sel(store, 'p', [m('__name__', '=~', '.+'), m('code', '=', '')]))).toEqual(['http_requests_total/web/-', 'up/api/-']);
    expect(jobs(sel(store, 'p', [m('code', '!=', '')]))).toHaveLength(3);
    expect(jobs(sel(store, 'p', [m('code', '=~', '2.*|')]))).toEqual(['http_requests_total/api/200', 'http_requests_total/apiserver/200', 'http_requests_total/web/-', 'up/api/-']);
    expect(sel(store, 'p', [m('job', '=', 'nope')])).toEqual([]);
  });

  it('returns samples within [min, max] inclusive, values in a Float64Array', () => {
    const store = fixture();
    const r = sel(store, 'p', [m('__name__', '=', 'up')], 1000, 1000);
    expect(r).toHaveLength(1);
    expect(points(r[0])).toEqual([[1000, 4]]);
    expect(r[0].values).toBeInstanceOf(Float64Array);
    expect(points(sel(store, 'p', [m('__name__', '=', 'up')], 1000, 2000)[0])).toEqual([
      [1000, 4],
      [2000, 14],
    ]);
    expect(sel(store, 'p', [m('__name__', '=', 'up')], 2001, 5000)).toEqual([]);
  });

  it('lists label names, values and series of the project', () => {
    const store = fixture();
    const q = store.querier('p', 0, 10_000);
    expect(q.labelNames([])).toEqual(['__name__', 'code', 'job', 'project_id']);
    expect(q.labelNames([m('__name__', '=', 'up')])).toEqual(['__name__', 'job', 'project_id']);
    expect(q.labelValues('job', [])).toEqual(['api', 'apiserver', 'web']);
    expect(q.labelValues('code', [m('job', '=', 'api')])).toEqual(['200', '500']);
    expect(q.seriesLabels([m('__name__', '=', 'up')])).toEqual([{ __name__: 'up', job: 'api', project_id: 'p' }]);
    expect(store.querier('p', 5000, 6000).labelValues('job', [])).toEqual([]);
  });
});

describe('project isolation', () => {
  it('never shows one project another project\'s series, names or values', () => {
    const store = openStore({ dir: tmp() });
    store.appendBatch('A', [{ labels: { __name__: 'a_total', job: 'x' }, t: 1000, v: 1 }]);
    // A label set claiming project B, written through project A, stays A's.
    store.appendBatch('A', [{ labels: { __name__: 'forged', project_id: 'B' }, t: 1000, v: 9 }]);
    store.appendBatch('B', [{ labels: { __name__: 'b_total', secret: 's3cret' }, t: 1000, v: 2 }]);
    const q = store.querier('A', 0, 10_000);
    const names = (r: SeriesSamples[]): string[] => r.map((s) => s.labels.__name__);
    expect(names(sel(store, 'A', [m('__name__', '=~', '.+')]))).toEqual(['a_total', 'forged']);
    expect(sel(store, 'A', [m('__name__', '=~', '.+')]).every((s) => s.labels.project_id === 'A')).toBe(true);
    expect(sel(store, 'A', [m('project_id', '=', 'B')])).toEqual([]);
    expect(names(sel(store, 'A', [m('project_id', '=~', '.*'), m('__name__', '!=', '')]))).toEqual(['a_total', 'forged']);
    expect(sel(store, 'A', [m('project_id', '=~', 'B|.*B.*')])).toEqual([]);
    expect(sel(store, 'A', [m('__name__', '=', 'b_total')])).toEqual([]);
    expect(q.labelValues('__name__', [])).toEqual(['a_total', 'forged']);
    expect(q.labelValues('project_id', [])).toEqual(['A']);
    expect(q.labelNames([])).not.toContain('secret');
    expect(q.labelValues('secret', [])).toEqual([]);
    expect(q.seriesLabels([m('project_id', '!=', 'A')])).toEqual([]);
    expect(sel(store, 'nobody', [m('__name__', '=~', '.+')])).toEqual([]);
    expect(store.querier('B', 0, 10_000).labelValues('__name__', [])).toEqual(['b_total']);
    // One transaction for several projects keeps each sample in its own project.
    const same = { __name__: 'shared_total' };
    const res = store.appendProjects([
      { project: 'A', samples: [{ labels: same, t: 2000, v: 1 }] },
      { project: 'B', samples: [{ labels: same, t: 2000, v: 2 }, { labels: same, t: 1.5, v: 0 }] },
    ]);
    expect(res.map((r) => [r.appended, r.rejected])).toEqual([
      [1, 0],
      [1, 1],
    ]);
    expect(sel(store, 'A', [m('__name__', '=', 'shared_total')]).map((x) => [x.labels.project_id, x.values[0]])).toEqual([['A', 1]]);
    expect(sel(store, 'B', [m('__name__', '=', 'shared_total')]).map((x) => [x.labels.project_id, x.values[0]])).toEqual([['B', 2]]);
  });
});

describe('dropping a project', () => {
  it('deletes its series, chunks, heads and metadata, and nothing of other projects', () => {
    const dir = tmp();
    let store = Tsdb.open({ dir, chunkSamples: 4 });
    for (const p of ['A', 'B']) {
      store.appendBatch(p, Array.from({ length: 10 }, (_, i) => ({ labels: { __name__: 'x' }, t: i * 1000, v: i })));
      store.setMetadata(p, 'x', { type: 'gauge', help: '', unit: '' });
    }
    expect(store.dropProject('A')).toBe(1);
    expect(sel(store, 'A', [m('__name__', '=~', '.+')])).toEqual([]);
    expect(store.querier('A', 0, 1).metricMetadata().size).toBe(0);
    store.close();
    store = openStore({ dir, chunkSamples: 4 });
    expect(store.projectIds()).toEqual(['B']);
    expect(sel(store, 'B', [m('__name__', '=', 'x')])[0].timestamps.length).toBe(10);
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM series').get()).toEqual({ n: 1 });
  });
});

describe('persistence', () => {
  it('keeps chunks, heads, out-of-order data, markers and metadata across close and reopen', () => {
    const dir = tmp();
    let store = Tsdb.open({ dir, chunkSamples: 10 });
    const labels = { __name__: 'g', i: '1' };
    const samples = Array.from({ length: 35 }, (_, i) => ({ labels, t: i * 15_000, v: i / 4 }));
    store.appendBatch('p', samples);
    store.appendBatch('p', [{ labels, t: 35 * 15_000, v: STALE_NAN }]);
    store.appendBatch('p', [{ labels, t: 3 * 15_000, v: 99 }]); // overwrite, out of order
    store.setMetadata('p', 'g', { type: 'gauge', help: 'a gauge', unit: '' });
    store.close();
    store = openStore({ dir, chunkSamples: 10 });
    const r = sel(store, 'p', [m('__name__', '=', 'g')]);
    expect(r).toHaveLength(1);
    expect(r[0].timestamps.length).toBe(36);
    expect(r[0].values[3]).toBe(99);
    expect(r[0].values[10]).toBe(2.5);
    expect(isStaleNaN(r[0].values[35])).toBe(true);
    expect(store.querier('p', 0, 1).metricMetadata('g').get('g')).toEqual({ type: 'gauge', help: 'a gauge', unit: '' });
  });

  it('recovers every committed batch after kill -9 of a writing process', async () => {
    const dir = tmp();
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./testdata/crash-child.ts', import.meta.url)), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let committed = -1;
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) committed = Number(l.split(' ')[1]);
        if (committed >= 60) {
          child.removeAllListeners('exit');
          child.kill('SIGKILL');
          child.on('exit', () => resolve());
        }
      });
    });
    const store = openStore({ dir, chunkSamples: 7 });
    const r = sel(store, 'p1', [m('__name__', '=', 'crash_total')]);
    expect(r).toHaveLength(20);
    // Every batch reported as committed is there; at most the one in flight beyond it.
    for (const s of r) {
      const i = Number(s.labels.idx);
      const byT = new Map(points(s));
      for (let b = 1; b <= committed; b++) expect(byT.get(1_000_000 + b * 1000)).toBe(b * 100 + i);
      expect(s.timestamps.length === committed + 1 || s.timestamps.length === committed + 2).toBe(true);
    }
    // The out-of-order rewrites of the first sample: the newest committed one wins.
    const first = points(r.find((s) => s.labels.idx === '0')!)[0];
    const lastRewrite = Math.floor((committed - 4) / 5) * 5 + 4;
    expect(first[0]).toBe(1_000_000);
    expect([-lastRewrite, -(lastRewrite + 5)]).toContain(first[1]);
  });
});

describe('recovery from the log', () => {
  it('replays samples after a checkpoint as they were appended, across chunk cuts', () => {
    const dir = tmp();
    const writer = openStore({ dir, chunkSamples: 4 });
    const l = { __name__: 'r' };
    writer.appendBatch('p', [1, 2, 3].map((k) => ({ labels: l, t: k * 1000, v: k })));
    writer.checkpoint();
    // Cuts a chunk (4 samples) after the checkpoint and leaves 3 in the head, all in the log only.
    for (const k of [4, 5, 6, 7]) writer.appendBatch('p', [{ labels: l, t: k * 1000, v: k }]);
    writer.appendBatch('p', [{ labels: l, t: 2000, v: -2 }]);
    // A second connection sees what a new process would after a crash of the writer.
    const reader = openStore({ dir, chunkSamples: 4 });
    expect(reader.stats()).toMatchObject({ series: 1, headSamples: 3, oooSamples: 1 });
    expect(points(sel(reader, 'p', [m('__name__', '=', 'r')])[0])).toEqual([
      [1000, 1],
      [2000, -2],
      [3000, 3],
      [4000, 4],
      [5000, 5],
      [6000, 6],
      [7000, 7],
    ]);
    expect(reader.db.prepare('SELECT COUNT(*) AS n FROM chunks').get()).toEqual({ n: 1 });
  });
});

describe('idle heads', () => {
  it('writes out heads not appended to for idleCutMs, frees them, and keeps the data', () => {
    const dir = tmp();
    let wall = 5_000_000;
    const store = openStore({ dir, chunkSamples: 120, idleCutMs: 600_000, now: () => wall });
    const idle = { __name__: 'idle' };
    const busy = { __name__: 'busy' };
    store.appendBatch('p', [1, 2, 3].map((k) => ({ labels: idle, t: k * 1000, v: k })));
    store.appendBatch('p', [{ labels: idle, t: 500, v: 0.5 }]); // out of order, buffered
    wall += 500_000;
    store.appendBatch('p', [{ labels: busy, t: 1000, v: 1 }]);
    expect(store.maintain().headsCut).toBe(0);
    wall += 200_000; // idle: 700 s without appends; busy: 200 s
    expect(store.maintain().headsCut).toBe(1);
    expect(store.stats()).toMatchObject({ headSamples: 1, oooSamples: 0, logBytes: 0 });
    const want = [
      [500, 0.5],
      [1000, 1],
      [2000, 2],
      [3000, 3],
    ];
    expect(points(sel(store, 'p', [m('__name__', '=', 'idle')])[0])).toEqual(want);
    // Appending again after the cut starts a new head; a crash now recovers both.
    store.appendBatch('p', [{ labels: idle, t: 4000, v: 4 }]);
    const reader = openStore({ dir, chunkSamples: 120 });
    expect(points(sel(reader, 'p', [m('__name__', '=', 'idle')])[0])).toEqual([...want, [4000, 4]]);
  });
});

describe('out-of-order and old samples', () => {
  it('accepts backfill of any age with retention 0, merges on read, last write wins', () => {
    const dir = tmp();
    let store = Tsdb.open({ dir, chunkSamples: 4 });
    const l = { __name__: 'x' };
    store.appendBatch('p', [10, 11, 12, 13, 14, 15].map((k) => ({ labels: l, t: 1_700_000_000_000 + k * 1000, v: k })));
    // Into 1970, including the epoch itself, and out of order with each other.
    const old = [5000, 0, 3000, 1000, 2000, 4000, 6000];
    const res = store.appendBatch('p', old.map((t) => ({ labels: l, t, v: t / 1000 })));
    expect(res).toEqual({ appended: 7, outOfOrder: 7, rejected: 0, rejectedAt: [] });
    // Duplicates: one in a flushed out-of-order chunk, one in the head, one still buffered.
    store.appendBatch('p', [
      { labels: l, t: 0, v: -1 },
      { labels: l, t: 1_700_000_000_000 + 15_000, v: -15 },
      { labels: l, t: 1_700_000_000_000 + 10_000, v: -10 },
    ]);
    const check = (s: Tsdb): void => {
      const r = sel(s, 'p', [m('__name__', '=', 'x')]);
      expect(points(r[0])).toEqual([
        [0, -1],
        [1000, 1],
        [2000, 2],
        [3000, 3],
        [4000, 4],
        [5000, 5],
        [6000, 6],
        ...[10, 11, 12, 13, 14, 15].map((k) => [1_700_000_000_000 + k * 1000, k === 15 || k === 10 ? -k : k]),
      ]);
      expect(points(sel(s, 'p', [m('__name__', '=', 'x')], 1000, 2000)[0])).toEqual([
        [1000, 1],
        [2000, 2],
      ]);
    };
    check(store);
    store.close();
    store = openStore({ dir, chunkSamples: 4 });
    check(store);
  });

  it('rejects invalid timestamps and label sets without a name', () => {
    const store = openStore({ dir: tmp() });
    const res = store.appendBatch('p', [
      { labels: { __name__: 'ok' }, t: 1.5, v: 1 },
      { labels: { __name__: 'ok' }, t: 2 ** 60, v: 1 },
      { labels: { job: 'nameless' }, t: 1000, v: 1 },
      { labels: { __name__: 'ok', empty: '' }, t: 1000, v: 1 },
    ]);
    expect(res).toEqual({ appended: 1, outOfOrder: 0, rejected: 3, rejectedAt: [0, 1, 2] });
    expect(sel(store, 'p', [m('__name__', '=', 'ok')])[0].labels).toEqual({ __name__: 'ok', project_id: 'p' });
  });
});

describe('retention', () => {
  it('drops whole chunks past retention, then empty series, and refuses too-old samples', () => {
    const T = 1_000_000_000;
    let now = T;
    const store = openStore({ dir: tmp(), chunkSamples: 10, retentionMs: 3_600_000, now: () => now });
    const old = { __name__: 'old' };
    const live = { __name__: 'live' };
    // Both start 55 minutes before T; 'old' stops 5 minutes before T, 'live' runs on for an hour.
    store.appendBatch('p', Array.from({ length: 51 }, (_, i) => ({ labels: old, t: T - 55 * 60_000 + i * 60_000, v: i })));
    store.appendBatch('p', Array.from({ length: 56 }, (_, i) => ({ labels: live, t: T - 55 * 60_000 + i * 60_000, v: i })));
    expect(store.appendBatch('p', [{ labels: live, t: T - 3_600_001, v: 0 }]).rejected).toBe(1);
    expect(store.applyRetention()).toEqual({ chunkRowsDeleted: 0, seriesDeleted: 0 });
    now = T + 3_600_000;
    store.appendBatch('p', Array.from({ length: 60 }, (_, i) => ({ labels: live, t: T + (i + 1) * 60_000, v: 100 + i })));
    const out = store.applyRetention();
    expect(out.chunkRowsDeleted).toBeGreaterThan(0);
    expect(out.seriesDeleted).toBe(1);
    expect(store.querier('p', -Infinity, Infinity).labelValues('__name__', [])).toEqual(['live']);
    const ts = sel(store, 'p', [m('__name__', '=', 'live')])[0].timestamps;
    // Whole chunks of 10 one-minute samples: what survives starts within one chunk of the cutoff.
    expect(ts[0]).toBeGreaterThan(T - 10 * 60_000);
    expect(ts[0]).toBeLessThanOrEqual(T);
    expect(ts[ts.length - 1]).toBe(T + 3_600_000);
    // Much later everything is gone, series included, and the space is reusable.
    now = T + 10 * 3_600_000;
    expect(store.applyRetention().seriesDeleted).toBe(1);
    expect(store.querier('p', -Infinity, Infinity).labelValues('__name__', [])).toEqual([]);
    expect(store.stats().series).toBe(0);
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM chunks').get()).toEqual({ n: 0 });
  });
});

describe('packed chunk rows', () => {
  const l = { __name__: 'g' };
  const BUDGET = 100; // a few of these small test chunks per row

  /** Rows are packed within the budget, and what is left open is less than one more row. */
  function expectPacked(s: Tsdb, minPacked: number): void {
    const rows = s.db.prepare('SELECT kind, LENGTH(data) AS bytes FROM chunks').all() as Array<{ kind: number; bytes: number }>;
    const packed = rows.filter((r) => r.kind === 2);
    expect(packed.length).toBeGreaterThanOrEqual(minPacked);
    for (const r of packed) expect(r.bytes).toBeLessThanOrEqual(BUDGET);
    expect(rows.filter((r) => r.kind === 0).reduce((a, r) => a + r.bytes, 0)).toBeLessThan(BUDGET);
  }

  /** Every sample in [min, max] as the store returns it, against the samples written. */
  function expectWindows(store: Tsdb, want: Map<number, number>): void {
    const all = [...want].sort((a, b) => a[0] - b[0]);
    for (const [min, max] of [[-Infinity, Infinity], [0, 0], [3000, 3000], [3500, 20_500], [11_000, 11_999], [39_000, 80_000], [-5000, 999], [1e9, 2e9]]) {
      const got = sel(store, 'p', [m('__name__', '=', 'g')], min, max);
      const exp = all.filter(([t]) => t >= min && t <= max);
      expect(got.length === 0 ? [] : points(got[0])).toEqual(exp);
    }
  }

  it('packs in-order chunks into rows within the byte budget and reads any range across them, out-of-order data included', () => {
    const opts = { dir: tmp(), chunkSamples: 4, groupBytes: BUDGET };
    const store = openStore(opts);
    const want = new Map<number, number>();
    for (let k = 0; k < 50; k++) {
      store.appendBatch('p', [{ labels: l, t: k * 1000, v: k * 1.5 }]);
      want.set(k * 1000, k * 1.5);
    }
    expectPacked(store, 2);
    // Out-of-order rewrites into packed time win over the packed samples.
    store.appendBatch('p', [3, 4, 17, 30].map((k) => ({ labels: l, t: k * 1000, v: -k })));
    for (const k of [3, 4, 17, 30]) want.set(k * 1000, -k);
    expectWindows(store, want);
    store.close();
    // Reopened: the open chunks are found again, so packing goes on where it stopped.
    const again = openStore(opts);
    expectWindows(again, want);
    for (let k = 50; k < 90; k++) {
      again.appendBatch('p', [{ labels: l, t: k * 1000, v: k * 1.5 }]);
      want.set(k * 1000, k * 1.5);
    }
    expectPacked(again, 4);
    expectWindows(again, want);
  });

  it('gives a chunk larger than the budget a row of its own', () => {
    const store = openStore({ dir: tmp(), chunkSamples: 40, groupBytes: BUDGET });
    const want = new Map<number, number>();
    // Full-precision floats: XOR-encoded, several hundred bytes a chunk.
    for (let k = 0; k < 200; k++) want.set(k * 1000, Math.sin(k) * 1e6);
    store.appendBatch('p', [...want].map(([t, v]) => ({ labels: l, t, v })));
    const rows = store.db.prepare('SELECT kind, COUNT(*) AS n FROM chunks GROUP BY kind').all();
    expect(rows).toEqual([{ kind: 0, n: 1 }, { kind: 2, n: 3 }]);
    expectWindows(store, want);
  });

  it('after a crash, replays the log without packing twice what was packed after the checkpoint', () => {
    const opts = { dir: tmp(), chunkSamples: 4, groupBytes: BUDGET };
    const writer = openStore(opts);
    const want = new Map<number, number>();
    const add = (s: Tsdb, from: number, to: number): void => {
      for (let k = from; k < to; k++) {
        s.appendBatch('p', [{ labels: l, t: k * 1000, v: k * 10 }]);
        want.set(k * 1000, k * 10);
      }
    };
    add(writer, 0, 10);
    writer.checkpoint();
    add(writer, 10, 40); // rows packed after the checkpoint, their samples only in the log
    const reader = openStore(opts); // what a new process sees after the writer died
    expectWindows(reader, want);
    add(reader, 40, 80);
    expectWindows(reader, want);
    expectPacked(reader, 3);
  });

  it('opens a store written before packing existed (column ooo) and packs its chunks from then on', () => {
    const dir = tmp();
    const old = Tsdb.open({ dir, chunkSamples: 4, groupBytes: 1e9 });
    const want = new Map<number, number>();
    for (let k = 0; k < 30; k++) want.set(k * 1000, k);
    old.appendBatch('p', [...want].map(([t, v]) => ({ labels: l, t, v })));
    old.close();
    const SQLite = old.db.constructor as new (path: string) => { exec(sql: string): void; close(): void };
    const raw = new SQLite(join(dir, 'tsdb.db'));
    raw.exec('UPDATE chunks SET kind = 0; ALTER TABLE chunks RENAME COLUMN kind TO ooo');
    raw.close();
    const store = openStore({ dir, chunkSamples: 4, groupBytes: BUDGET });
    expectWindows(store, want);
    const more = Array.from({ length: 30 }, (_, i) => 30 + i);
    store.appendBatch('p', more.map((k) => ({ labels: l, t: k * 1000, v: k })));
    for (const k of more) want.set(k * 1000, k);
    expectPacked(store, 2);
    expectWindows(store, want);
  });
});

describe('metadata origin', () => {
  it('remembers which metrics a source declared, across reopen and in a store written before the column existed', () => {
    const dir = tmp();
    const first = Tsdb.open({ dir });
    first.setMetadataAll('p', [['imported_total', { type: 'counter', help: 'i', unit: '' }]]);
    first.close();
    const SQLite = first.db.constructor as new (path: string) => { exec(sql: string): void; close(): void };
    const raw = new SQLite(join(dir, 'tsdb.db'));
    raw.exec('ALTER TABLE metadata DROP COLUMN origin');
    raw.close();
    const store = openStore({ dir });
    expect(store.metadata('p').get('imported_total')).toEqual({ type: 'counter', help: 'i', unit: '' });
    store.setMetadataAll('p', [['otlp_total', { type: 'counter', help: 'o', unit: '' }, 'source'], ['imported_total', { type: 'counter', help: 'i', unit: '' }]]);
    // An import's metadata (no origin given) keeps the one recorded.
    store.setMetadata('p', 'otlp_total', { type: 'counter', help: 'o2', unit: '' });
    expect(store.sourceFamilies('p')).toEqual(['otlp_total']);
    store.close();
    const again = openStore({ dir });
    expect(again.sourceFamilies('p')).toEqual(['otlp_total']);
    expect(again.metadata('p').get('otlp_total')).toEqual({ type: 'counter', help: 'o2', unit: '' });
  });
});

describe('reads against a model', () => {
  it('returns, for random writes in and out of order with overwrites, exactly the last write per timestamp over any range', () => {
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const opts = { dir: tmp(), chunkSamples: 5, groupBytes: 80 };
    let store = openStore(opts);
    const l = { __name__: 'm' };
    const model = new Map<number, number>();
    let newest = 0;
    for (let batch = 0; batch < 120; batch++) {
      const samples = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => {
        // Mostly forward, often back into older data (rewrites included), as backfills do.
        const t = rand() < 0.6 ? (newest += 1 + Math.floor(rand() * 3)) : Math.floor(rand() * (newest + 1));
        return { labels: l, t: t * 1000, v: Math.floor(rand() * 1000) / 8 };
      });
      store.appendBatch('p', samples);
      for (const x of samples) model.set(x.t, x.v);
      if (batch === 60) {
        store.close();
        store = openStore(opts);
      }
    }
    const sorted = [...model].sort((a, b) => a[0] - b[0]);
    expect(points(sel(store, 'p', [m('__name__', '=', 'm')])[0])).toEqual(sorted);
    for (let i = 0; i < 40; i++) {
      const a = Math.floor(rand() * newest) * 1000;
      const b = a + Math.floor(rand() * 40) * 1000;
      const got = sel(store, 'p', [m('__name__', '=', 'm')], a, b);
      expect(got.length === 0 ? [] : points(got[0])).toEqual(sorted.filter(([t]) => t >= a && t <= b));
    }
    expect((store.db.prepare('SELECT COUNT(*) AS n FROM chunks WHERE kind = 1').get() as { n: number }).n).toBeGreaterThan(3);
  });
});

describe('maintenance', () => {
  it('leaves no SQLite WAL file behind and no data lost', () => {
    const dir = tmp();
    const store = openStore({ dir, chunkSamples: 4, groupBytes: 100 });
    const l = { __name__: 'w' };
    for (let k = 0; k < 200; k++) store.appendBatch('p', [{ labels: l, t: k * 1000, v: k }]);
    const wal = join(dir, 'tsdb.db-wal');
    expect(statSync(wal).size).toBeGreaterThan(0);
    store.maintain();
    expect(statSync(wal).size).toBe(0);
    expect(sel(store, 'p', [m('__name__', '=', 'w')])[0].timestamps.length).toBe(200);
  });
});
