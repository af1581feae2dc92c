/**
 * The PromQL conformance corpus run THROUGH THE HTTP API: every `load` block is imported with
 * `POST /v1/projects/{pid}/import` (one project per file and per `clear`; the gateway runs with
 * `--retention 0` so 1970 data is accepted), every eval is asked over loopback HTTP (`query` by GET
 * for instant evals, `query_range` by form POST for range evals, times in Unix seconds), the JSON
 * answer is turned back into the runner's result shape and compared by the runner itself
 * (runTestFileWith: same parser, same comparison, annotation checks included, and each instant eval
 * also asked as a query_range over [t-1m, t+1m] step 1m: Prometheus' range-mode check).
 *
 * Skipped, with a reason: evals that select a series loaded with a `stale` value (the text format
 * cannot carry the staleness marker; the rest of its samples are imported), evals after data the
 * format cannot express (start timestamps, nameless series, lines the import refused), and native
 * histograms (the runner's own rule). `expect fail` evals must get 400
 * bad_data or 422 execution with Prometheus' error body.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectTestFiles, summarize } from '../../src/promql/conformance/cli.js';
import { EXPERIMENTAL_FILES, runTestFileWith, selectsAnyOf, type EvalExecutor, type ExecutorOutcome, type FileResult } from '../../src/promql/conformance/runner.js';
import type { EvalCommand, LoadCommand } from '../../src/promql/conformance/testfile.js';
import type { QueryResult } from '../../src/promql/index.js';
import { startTestGateway, type TestGateway } from '../helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = join(here, '..', '..', '..', 'shared', 'promql-tests');
const MIN_PASS_RATE = 0.95;
/** Lines per import request (well under the 10 MiB body limit). */
const IMPORT_CHUNK = 20_000;

const LEGACY_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LEGACY_LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** `name{l="v",...}` in the import format; quoted UTF-8 names where needed. */
function seriesText(labels: Record<string, string>): string {
  const name = labels.__name__;
  const parts: string[] = [];
  if (!LEGACY_NAME.test(name)) parts.push(quote(name));
  for (const [k, v] of Object.entries(labels)) {
    if (k === '__name__') continue;
    parts.push(`${LEGACY_LABEL.test(k) ? k : quote(k)}=${quote(v)}`);
  }
  return `${LEGACY_NAME.test(name) ? name : ''}{${parts.join(',')}}`;
}

function valueText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

/** Prometheus' JSON sample value ("1.5", "NaN", "+Inf", "-Inf") as a number. */
function parseValue(s: string): number {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  const n = Number(s);
  if (Number.isNaN(n)) throw new Error(`not a sample value: ${JSON.stringify(s)}`);
  return n;
}

const ms = (seconds: number): number => Math.round(seconds * 1000);
const secs = (t: number): string => String(t / 1000);

interface PromBody {
  status: string;
  data?: { resultType: string; result: unknown };
  errorType?: string;
  error?: string;
  warnings?: string[];
  infos?: string[];
}

/** HTTP-layer problems seen while running the corpus (not PromQL mismatches). */
const httpProblems: string[] = [];
/** Status/errorType pairs returned to `expect fail` evals. */
const failStatuses = new Map<string, number>();
/** Range-mode checks asked over query_range. */
let rangeChecks = 0;

class HttpExecutor implements EvalExecutor {
  private project!: { id: string; manage: string; monitoring: string };
  /** Why the data loaded since the last clear cannot be held faithfully; null when it can. */
  private inexpressible: string | null = null;
  /** Series given a staleness marker since the last clear: imported without it. */
  private staleSeries: Array<Record<string, string>> = [];

  constructor(private readonly gw: TestGateway, private readonly base: string, private readonly file: string) {}

  async clear(): Promise<void> {
    this.project = await this.gw.project(`conformance ${this.file}`);
    this.inexpressible = null;
    this.staleSeries = [];
  }

  async load(cmd: LoadCommand): Promise<void> {
    const lines: string[] = [];
    for (const s of cmd.series) {
      if (s.labels.__name__ === undefined || s.labels.__name__ === '') {
        this.inexpressible ??= `series without a metric name (load at line ${cmd.line}) cannot be imported`;
        continue;
      }
      if (s.startOffsets?.some((o) => o !== null)) this.inexpressible ??= `start timestamps (load at line ${cmd.line}) cannot be imported`;
      const head = seriesText(s.labels);
      s.values.forEach((v, k) => {
        if (v === 'stale') {
          if (!this.staleSeries.includes(s.labels)) this.staleSeries.push(s.labels);
          return;
        }
        if (v !== null) lines.push(`${head} ${valueText(v)} ${k * cmd.stepMs}`);
      });
    }
    for (let i = 0; i < lines.length; i += IMPORT_CHUNK) {
      const chunk = lines.slice(i, i + IMPORT_CHUNK);
      const res = await fetch(`${this.base}/v1/projects/${this.project.id}/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.project.manage}`, 'content-type': 'text/plain' },
        body: chunk.join('\n'),
      });
      const body = (await res.json()) as { imported?: number; errors?: Array<{ line: number; error: string }> };
      if (res.status !== 200 || body.imported !== chunk.length || (body.errors ?? []).length > 0) {
        const first = body.errors?.[0];
        const why = `${this.file}: import of load at line ${cmd.line}: HTTP ${res.status}, imported ${body.imported} of ${chunk.length}` +
          (first ? `; line ${first.line} (${chunk[first.line - 1]}): ${first.error}` : '');
        httpProblems.push(why);
        this.inexpressible ??= why;
      }
    }
  }

  skipReason(cmd: EvalCommand): string | null {
    if (this.inexpressible !== null) return this.inexpressible;
    return selectsAnyOf(cmd.expr, this.staleSeries) ? 'selects a series with a staleness marker, which the text format cannot carry' : null;
  }

  execute(cmd: EvalCommand): Promise<ExecutorOutcome> {
    const expectFail = cmd.expects.some((e) => e.kind === 'fail');
    if (cmd.instant) return this.ask('query', { query: cmd.expr, time: secs(cmd.rangeVector ? cmd.rangeVector.endMs : cmd.startMs) }, expectFail);
    return this.ask('query_range', { query: cmd.expr, start: secs(cmd.startMs), end: secs(cmd.endMs), step: secs(cmd.stepMs) }, expectFail);
  }

  /** The runner's range-mode check, over HTTP too. */
  range(expr: string, startMs: number, endMs: number, stepMs: number): Promise<ExecutorOutcome> {
    rangeChecks++;
    return this.ask('query_range', { query: expr, start: secs(startMs), end: secs(endMs), step: secs(stepMs) }, false);
  }

  /** `query` by GET, `query_range` by form POST (both forms are Prometheus'). */
  private async ask(endpoint: 'query' | 'query_range', params: Record<string, string>, expectFail: boolean): Promise<ExecutorOutcome> {
    const auth = { authorization: `Bearer ${this.project.monitoring}` };
    const api = `${this.base}/v1/projects/${this.project.id}/prometheus/api/v1`;
    const res = endpoint === 'query'
      ? await fetch(`${api}/query?${new URLSearchParams(params)}`, { headers: auth })
      : await fetch(`${api}/query_range`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(params).toString(),
      });
    const text = await res.text();
    let body: PromBody;
    try {
      body = JSON.parse(text) as PromBody;
    } catch {
      return { error: `HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`, parseError: true };
    }
    if (res.status !== 200 || body.status !== 'success') {
      if (expectFail) {
        const key = `${res.status} ${body.errorType}`;
        failStatuses.set(key, (failStatuses.get(key) ?? 0) + 1);
      }
      const error = body.error ?? '';
      // A parse error (the corpus only holds queries Prometheus parses) or a status no eval error
      // may have is never what an `expect fail` eval wants.
      const wellFormed = body.status === 'error' && ((res.status === 422 && body.errorType === 'execution') || (res.status === 400 && body.errorType === 'bad_data'));
      if (!wellFormed) return { error: `HTTP ${res.status} ${body.errorType}: ${error}`, parseError: true };
      if (res.status === 400 && error.startsWith('invalid parameter "query": ')) return { error, parseError: true };
      if (res.status === 400) return { error: `bad_data: ${error}`, parseError: true };
      return { error, parseError: false };
    }
    return { result: this.toResult(body) };
  }

  /** The JSON answer in the runner's shape, without the project_id label the API adds. */
  private toResult(body: PromBody): QueryResult {
    const annotations = { warnings: body.warnings ?? [], infos: body.infos ?? [] };
    const labels = (m: Record<string, string>): Record<string, string> => {
      if (m.project_id !== this.project.id) {
        if (m.project_id !== undefined) httpProblems.push(`${this.file}: a result carries project_id=${m.project_id}, not ${this.project.id}`);
        return m;
      }
      const { project_id: _p, ...rest } = m;
      return rest;
    };
    const data = body.data!;
    switch (data.resultType) {
      case 'scalar': {
        const [t, v] = data.result as [number, string];
        return { resultType: 'scalar', result: { timestampMs: ms(t), value: parseValue(v) }, annotations };
      }
      case 'string': {
        const [t, v] = data.result as [number, string];
        return { resultType: 'string', result: { timestampMs: ms(t), value: v }, annotations };
      }
      case 'vector':
        return {
          resultType: 'vector',
          result: (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((s) => ({
            labels: labels(s.metric), timestampMs: ms(s.value[0]), value: parseValue(s.value[1]),
          })),
          annotations,
        };
      case 'matrix':
        return {
          resultType: 'matrix',
          result: (data.result as Array<{ metric: Record<string, string>; values: Array<[number, string]> }>).map((s) => ({
            labels: labels(s.metric), timestampsMs: s.values.map((p) => ms(p[0])), values: s.values.map((p) => parseValue(p[1])),
          })),
          annotations,
        };
      default:
        throw new Error(`unknown resultType ${data.resultType}`);
    }
  }
}

const files = existsSync(corpus)
  ? collectTestFiles([corpus]).filter((f) => !EXPERIMENTAL_FILES.has(f.replace(/^.*[\\/]/, '').replace(/\.test$/, '')))
  : [];

describe.skipIf(files.length === 0)('PromQL conformance through the HTTP API', () => {
  let gw: TestGateway;
  let base: string;
  const results: FileResult[] = [];
  const started = Date.now();

  beforeAll(async () => {
    gw = await startTestGateway({ flags: { retention: '0' } });
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => gw?.close());

  for (const path of files) {
    const name = path.replace(/^.*[\\/]/, '');
    it(`runs ${name}`, async () => {
      const executor = new HttpExecutor(gw, base, name);
      await executor.clear();
      const r = await runTestFileWith(path, executor);
      results.push(r);
      expect(r.error).toBeNull();
    });
  }

  it(`passes at least ${MIN_PASS_RATE * 100}% of the evals that can go over HTTP`, () => {
    const { passed, failed, skipped } = summarize(results);
    const reasons = new Map<string, number>();
    for (const s of results.flatMap((r) => r.skips)) {
      const reason = s.reason.replace(/ \(load at line \d+\)/, '');
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    const lines = [
      `conformance over HTTP: ${passed} passed, ${failed} failed, ${skipped} skipped in ${results.length} files, ${((Date.now() - started) / 1000).toFixed(1)} s`,
      ...results.map((r) => `  ${r.file.padEnd(24)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed ${String(r.skipped).padStart(3)} skipped`),
      `  range-mode checks over query_range: ${rangeChecks}`,
      ...[...reasons].map(([why, n]) => `  skipped ${n}: ${why}`),
      ...[...failStatuses].map(([k, n]) => `  expect-fail evals answered ${k}: ${n}`),
      ...httpProblems.map((p) => `  HTTP problem: ${p}`),
      ...results.flatMap((r) => r.failures).map((f) => `  FAIL ${f.file}:${f.line}: ${f.expr} | expected: ${f.expected} | got: ${f.got}`),
    ];
    console.log(lines.join('\n'));
    expect(passed + failed).toBeGreaterThan(500);
    expect(passed / (passed + failed)).toBeGreaterThanOrEqual(MIN_PASS_RATE);
    // Every expect-fail eval got 400 bad_data or 422 execution (anything else is counted a failure above).
    for (const k of failStatuses.keys()) expect(['400 bad_data', '422 execution']).toContain(k);
  });
});
