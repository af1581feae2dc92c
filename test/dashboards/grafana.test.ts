/**
 * dashboards/meterway-overview.json against a real gateway: its structure as Grafana reads it, then
 * every variable's label_values() and every panel target's PromQL through the project's query API,
 * with the variables substituted as Grafana substitutes them (the custom All value `.*` unescaped,
 * chosen values regex-escaped, several as `(a|b)`), as range queries.
 *
 * The data is the demo's (src/sources/demo/simulator.ts): ten minutes of it, run on fake clocks
 * and sampled into the store every 15 s, so that rates and quantiles over `$__rate_interval` have
 * several samples to work on without the test waiting ten minutes. Math.random is seeded, so a
 * failure reproduces.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BASE_LABELS, CATALOG, metricName, type MetricDef } from '../../src/catalog/catalog.js';
import { startDemo } from '../../src/sources/demo/simulator.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { hasPromtool, PROMTOOL_BIN, run } from '../peers.js';

interface Target { refId: string; expr: string; legendFormat?: string; datasource?: { type?: string; uid?: string } }
interface Panel {
  id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string }; targets?: Target[]; panels?: Panel[];
  fieldConfig?: { defaults?: { unit?: string } };
}
interface Variable {
  name: string; type: string; query: string | { query: string }; definition?: string; datasource?: { type?: string; uid?: string };
  multi?: boolean; includeAll?: boolean; allValue?: string; refresh?: number;
}
interface Dashboard { panels: Panel[]; schemaVersion: number; uid: string; title: string; templating: { list: Variable[] } }

const dashboard = JSON.parse(readFileSync(fileURLToPath(new URL('../../dashboards/meterway-overview.json', import.meta.url)), 'utf8')) as Dashboard;

/** Rows and the panels in them, collapsed rows' panels included, in dashboard order. */
const allPanels: Panel[] = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const panels = allPanels.filter((p) => p.type !== 'row');
/** The row each panel sits under: in the grid, the last row above it. */
const rowOf = new Map<Panel, string>();
{
  let row = '';
  for (const p of dashboard.panels) {
    if (p.type === 'row') {
      row = p.title;
      for (const inner of p.panels ?? []) rowOf.set(inner, row);
    } else rowOf.set(p, row);
  }
}
const targets = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));
const variables = dashboard.templating.list;
const queryVariables = variables.filter((v) => v.type === 'query');
const variableQuery = (v: Variable) => (typeof v.query === 'string' ? v.query : v.query.query);

/** Which label each filter variable stands for. */
const VARIABLE_LABEL: Readonly<Record<string, string>> = { app: 'app_name', model: 'model_name', region: 'region' };
/** Grafana's macros a panel may use, and what the test gives them (Grafana's for a 10-minute range at a 15 s step). */
const RANGE_S = 600;
const STEP_S = 15;
const MACROS: Readonly<Record<string, string>> = {
  // Grafana: max($__interval + scrape interval, 4 × scrape interval), with the 15 s scrape interval
  // the README asks the data source to be set to (the gateway's storage.interval).
  __rate_interval: '1m',
  __interval: `${STEP_S}s`,
  __range: `${RANGE_S}s`,
  __range_s: String(RANGE_S),
};

const DEMO_PROJECTS = ['p-demoacme', 'p-demoblue'] as const;
type DemoProject = (typeof DEMO_PROJECTS)[number];
/**
 * Panels with nothing to draw in a demo project, by row, and why. They are checked to stay empty,
 * so this list cannot hide a panel that broke.
 */
const EMPTY_ROWS: Readonly<Record<DemoProject, { row: string; why: string }>> = {
  'p-demoacme': { row: 'Fleet cost', why: "the demo's GPU fleet (instances and jobs) is Bluebird Labs', not Acme's" },
  'p-demoblue': { row: 'Devices', why: "the demo's on-device assistant is Acme's; Bluebird Labs has no devices" },
};

// ---------------------------------------------------------------------------------------------
// Grafana's substitution

/** Grafana's prometheusSpecialRegexEscape: a value in a regex matcher, inside a PromQL string. */
function grafanaRegexEscape(value: string): string {
  return value.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
}

/**
 * A variable's selection: Grafana's All, or chosen values; 'present' (`.+`, not Grafana's) stands
 * for every series that has the label at all.
 */
type Selection = 'all' | 'present' | readonly string[];
type Selections = Readonly<Record<string, Selection>>;
const ALL: Selections = { app: 'all', model: 'all', region: 'all' };

/**
 * Grafana's interpolation of a multi-value variable with a custom All value into a Prometheus
 * query: All is the allValue as written, one value is escaped, several are `(a|b)`. `$x`, `${x}`
 * and `[[x]]` are the three syntaxes; an unknown name throws, so a misspelt variable fails.
 */
function interpolate(text: string, sel: Selections): string {
  const vars = new Map(queryVariables.map((v) => [v.name, v]));
  return text.replace(/\$\{(\w+)(?::[\w]+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (_m, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!;
    if (name in MACROS) return MACROS[name];
    const v = vars.get(name);
    const chosen = sel[name];
    if (v === undefined || chosen === undefined) throw new Error(`unknown variable $${name} in ${text}`);
    if (chosen === 'all') return v.allValue!;
    if (chosen === 'present') return '.+';
    const escaped = chosen.map(grafanaRegexEscape);
    return escaped.length === 1 ? escaped[0] : `(${escaped.join('|')})`;
  });
}

/**
 * The same expression with each variable's matcher written as exact equality (`app_name="x"`) for
 * a single chosen value: what the escaped regex must select, computed without Grafana's escaping.
 */
function exactSelectors(expr: string, sel: Selections): string[] {
  const exact = expr.replace(/(\w+)=~"\$(\w+)"/g, (m, label: string, name: string) => {
    const chosen = sel[name];
    if (chosen === undefined || typeof chosen === 'string' || chosen.length !== 1) return m;
    return `${label}=${JSON.stringify(chosen[0])}`;
  });
  return [...interpolate(exact, sel).matchAll(/\bmeterway_\w+\{[^}]*\}/g)].map((m) => m[0]);
}

// ---------------------------------------------------------------------------------------------
// Structure

const FAMILIES = new Map<string, MetricDef>(CATALOG.map((d) => [metricName('meterway', d), d]));
/** Instances and jobs have no app (src/ingest/events.ts labelValuesOf); the data test below confirms it. */
const NO_APP_SOURCES = new Set(['instance', 'job']);
function familyLabels(def: MetricDef): Set<string> {
  const base = NO_APP_SOURCES.has(def.source) ? BASE_LABELS.filter((l) => l !== 'app_id' && l !== 'app_name') : BASE_LABELS;
  return new Set([...base, ...def.extraLabels]);
}
/** The catalogue family a name in an expression reads (a histogram's `_bucket`, `_count` or `_sum`). */
function familyOf(name: string): MetricDef | undefined {
  const direct = FAMILIES.get(name);
  if (direct !== undefined) return direct.type === 'histogram' ? undefined : direct;
  const m = /^(.*)_(bucket|count|sum)$/.exec(name);
  const h = m === null ? undefined : FAMILIES.get(m[1]);
  return h?.type === 'histogram' ? h : undefined;
}

describe('dashboard structure', () => {
  it('is a dashboard Grafana 10 and 11 import', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.schemaVersion).toBeLessThanOrEqual(41);
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).not.toBe('');
    expect((dashboard as unknown as { id: unknown }).id).toBeNull();
    expect(panels.length).toBeGreaterThan(20);
  });

  it('gives every panel and row a unique id and a place on the 24-column grid, without overlaps', () => {
    const ids = allPanels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of allPanels) {
      expect(Number.isInteger(p.id) && p.id > 0, p.title).toBe(true);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.gridPos.w > 0 && p.gridPos.h > 0 && p.gridPos.x >= 0 && p.gridPos.y >= 0, p.title).toBe(true);
    }
    for (const [i, a] of allPanels.entries()) {
      for (const b of allPanels.slice(i + 1)) {
        const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w
          && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `${a.title} / ${b.title}`).toBe(false);
      }
    }
  });

  it('reads every panel from the data source variable, with PromQL targets', () => {
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.fieldConfig?.defaults?.unit, p.title).toBeTruthy();
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      for (const t of p.targets!) {
        expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(typeof t.expr === 'string' && t.expr.trim() !== '', p.title).toBe(true);
        expect(t.legendFormat, p.title).toBeTruthy();
      }
    }
  });

  it('has the data source variable and multi-value app, model and region variables with All as .*', () => {
    const ds = variables.find((v) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const [name, label] of Object.entries(VARIABLE_LABEL)) {
      const v = variables.find((x) => x.name === name);
      expect(v, name).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.*', datasource: { type: 'prometheus', uid: '${datasource}' } });
      // On time range change, so that the choices follow what the range holds.
      expect(v!.refresh, name).toBe(2);
      expect(variableQuery(v!), name).toMatch(new RegExp(`^label_values\\(.+,\\s*${label}\\)$`));
      if (v!.definition !== undefined) expect(v!.definition).toBe(variableQuery(v!));
      expect(targets.some(({ target }) => target.expr.includes(`${label}=~"$${name}"`)), `no panel filters by $${name}`).toBe(true);
    }
  });

  it('uses only defined variables and macros, and $__rate_interval or $__range as range windows', () => {
    for (const { panel, target } of targets) {
      expect(() => interpolate(target.expr, ALL), panel.title).not.toThrow();
      for (const [, window] of target.expr.matchAll(/\[([^\]]*)\]/g)) {
        expect(['$__rate_interval', '$__range'], `${panel.title}: [${window}]`).toContain(window);
      }
    }
    for (const v of queryVariables) expect(() => interpolate(variableQuery(v), ALL), v.name).not.toThrow();
  });

  it('names only catalogue families, filters each by every variable whose label it has, and by no other', () => {
    for (const { panel, target } of targets) {
      const names = [...target.expr.matchAll(/\b(meterway_\w+)(\{[^}]*\})?/g)];
      expect(names.length, panel.title).toBeGreaterThan(0);
      for (const [, name, braces] of names) {
        const def = familyOf(name);
        expect(def, `${panel.title}: ${name} is not in the catalogue`).toBeDefined();
        const has = familyLabels(def!);
        const filters = new Map([...(braces ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[3]]));
        for (const label of filters.keys()) expect(has.has(label), `${panel.title}: ${name} has no label ${label}`).toBe(true);
        for (const [variable, label] of Object.entries(VARIABLE_LABEL)) {
          if (has.has(label)) expect(filters.get(label), `${panel.title}: ${name} is not filtered by $${variable}`).toBe(`$${variable}`);
        }
      }
    }
  });

  it('gives each panel the unit of what it draws', () => {
    const unitFor = (expr: string): string | undefined => {
      if (/_dollars_/.test(expr)) return 'currencyUSD';
      if (/histogram_quantile\([^,]+,.*_seconds_bucket/.test(expr)) return 's';
      if (/_bytes\{/.test(expr)) return 'bytes';
      if (/_percent\{/.test(expr)) return 'percent';
      return undefined;
    };
    for (const p of panels) {
      for (const t of p.targets!) {
        const want = unitFor(t.expr);
        if (want !== undefined) expect(p.fieldConfig!.defaults!.unit, p.title).toBe(want);
      }
    }
  });
});

// Grafana sends the PromQL to whatever Prometheus-type data source is chosen: Prometheus' own
// parser must accept every query too, not only the gateway's.
describe.skipIf(!hasPromtool)('dashboard queries and promtool', () => {
  it('parses every substituted target as a rule expression', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meterway-dashboard-'));
    try {
      const rules = targets.map(({ panel, target }) => ({ record: `dashboard:panel_${panel.id}_${target.refId}`, expr: interpolate(target.expr, ALL) }));
      // JSON is YAML, which is what promtool reads.
      writeFileSync(join(dir, 'rules.yml'), JSON.stringify({ groups: [{ name: 'meterway-overview', rules }] }));
      const res = await run(PROMTOOL_BIN, ['check', 'rules', join(dir, 'rules.yml')]);
      expect(res.code, res.stdout + res.stderr).toBe(0);
      expect(res.stdout).toContain(`${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Against the query API

/** mulberry32: a small seeded generator standing in for Math.random while the demo runs. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Series = { metric: Record<string, string>; values: Array<[number, string]> };

let gw: TestGateway;
const monitoring = new Map<string, string>();
let startS = 0;
let endS = 0;

beforeAll(async () => {
  gw = await startTestGateway();
  // The test takes the store's samples itself, at the fake clock's times.
  await gw.sampler.stop();
  const endMs = Math.floor(Date.now() / (STEP_S * 1000)) * STEP_S * 1000;
  const startMs = endMs - RANGE_S * 1000;
  const random = vi.spyOn(Math, 'random').mockImplementation(seeded(20261204));
  // Only what the demo's clock and its tick use: the gateway's own timeouts stay real.
  vi.useFakeTimers({ now: startMs, toFake: ['Date', 'setInterval', 'clearInterval'] });
  try {
    const demo = await startDemo(gw, pino({ level: 'silent' }));
    gw.sampler.sampleOnce(startMs);
    for (let t = startMs + STEP_S * 1000; t <= endMs; t += STEP_S * 1000) {
      vi.advanceTimersByTime(STEP_S * 1000);
      gw.sampler.sampleOnce(t);
    }
    await demo.stop();
  } finally {
    vi.useRealTimers();
    random.mockRestore();
  }
  startS = startMs / 1000;
  endS = endMs / 1000;
  for (const pid of DEMO_PROJECTS) {
    const res = await gw.app.inject({ method: 'POST', url: `/v1/projects/${pid}/tokens`, headers: gw.auth(ADMIN_TOKEN), payload: { scope: 'monitoring', name: 'grafana' } });
    expect(res.statusCode, res.body).toBe(201);
    monitoring.set(pid, res.json().token as string);
  }
}, 120_000);
afterAll(async () => gw?.close());

/** One Prometheus API call as Grafana makes it: a form POST where Grafana posts, else GET. */
async function api(pid: string, path: string, params: Array<[string, string]>, method: 'GET' | 'POST' = 'GET'): Promise<unknown> {
  const form = new URLSearchParams(params).toString();
  const res = await gw.app.inject({
    method,
    url: `/v1/projects/${pid}/prometheus/api/v1/${path}${method === 'GET' ? `?${form}` : ''}`,
    headers: { ...gw.auth(monitoring.get(pid)!), ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    ...(method === 'POST' ? { payload: form } : {}),
  });
  expect(res.statusCode, `${path} ${form}: ${res.body}`).toBe(200);
  const body = res.json() as { status: string; data: unknown };
  expect(body.status).toBe('success');
  return body.data;
}

async function rangeQuery(pid: string, expr: string): Promise<Series[]> {
  const data = (await api(pid, 'query_range', [['query', expr], ['start', String(startS)], ['end', String(endS)], ['step', String(STEP_S)]], 'POST')) as { resultType: string; result: Series[] };
  expect(data.resultType, expr).toBe('matrix');
  return data.result;
}

const seriesCache = new Map<string, Array<Record<string, string>>>();
async function seriesOf(pid: string, selector: string): Promise<Array<Record<string, string>>> {
  const key = `${pid} ${selector}`;
  if (!seriesCache.has(key)) seriesCache.set(key, (await api(pid, 'series', [['match[]', selector], ['start', String(startS)], ['end', String(endS)]])) as Array<Record<string, string>>);
  return seriesCache.get(key)!;
}

/**
 * A variable's choices, as Grafana finds them for label_values(selector, label): through
 * /label/<label>/values with match[] (Grafana with a recent Prometheus type), and through /series
 * (older settings); both must agree.
 */
async function variableValues(pid: string, v: Variable, sel: Selections): Promise<string[]> {
  const m = /^label_values\((.+),\s*(\w+)\)$/.exec(interpolate(variableQuery(v), sel));
  expect(m, variableQuery(v)).not.toBeNull();
  const [, selector, label] = m!;
  const viaLabels = (await api(pid, `label/${label}/values`, [['match[]', selector], ['start', String(startS)], ['end', String(endS)]])) as string[];
  const viaSeries = [...new Set((await seriesOf(pid, selector)).map((s) => s[label]).filter((x) => x !== undefined))].sort();
  expect(viaLabels, `${v.name} in ${pid}`).toEqual(viaSeries);
  return viaLabels;
}

const labelsOf = (results: Series[], label: string) => new Set(results.map((s) => s.metric[label]).filter((x) => x !== undefined));

describe.each(DEMO_PROJECTS)('against the demo project %s', (pid) => {
  /** Each target's answer with every variable on All, by panel title and refId. */
  const allAnswers = new Map<string, Series[]>();
  const key = (panel: Panel, target: Target) => `${panel.title} ${target.refId}`;

  it('answers every target with All selected, with series wherever the demo has the family', async () => {
    const empty = EMPTY_ROWS[pid];
    expect(panels.some((p) => rowOf.get(p) === empty.row), `no row ${empty.row}`).toBe(true);
    for (const { panel, target } of targets) {
      const result = await rangeQuery(pid, interpolate(target.expr, ALL));
      allAnswers.set(key(panel, target), result);
      if (rowOf.get(panel) === empty.row) {
        expect(result, `${panel.title} was to be empty: ${empty.why}`).toEqual([]);
      } else {
        expect(result.length, `${panel.title} (${target.refId}) drew nothing: ${target.expr}`).toBeGreaterThan(0);
        expect(result.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v)))), `${panel.title}: no finite value`).toBe(true);
      }
    }
  });

  it('offers in each variable every app, model and region the panels show, alike through both APIs', async () => {
    for (const v of queryVariables) {
      const values = await variableValues(pid, v, ALL);
      const label = VARIABLE_LABEL[v.name];
      const shown = new Set([...allAnswers.values()].flatMap((r) => [...labelsOf(r, label)]));
      expect(shown.size, label).toBeGreaterThan(0);
      for (const s of shown) expect(values, `${v.name} in ${pid}`).toContain(s);
    }
  });

  it('confirms that instance and job series have no app, so fleet panels are not filtered by $app', async () => {
    const fleet = await seriesOf(pid, '{__name__=~"meterway_(instance|job)_.+"}');
    expect(fleet.length > 0, 'fleet series').toBe(EMPTY_ROWS[pid].row !== 'Fleet cost');
    for (const s of fleet) expect(s.app_name, s.__name__).toBeUndefined();
  });

  it('with one app, model or region chosen, answers only that one, and wherever the data has it', async () => {
    const answers = new Map<string, Series[]>();
    let checked = 0;
    for (const v of queryVariables) {
      const label = VARIABLE_LABEL[v.name];
      const values = await variableValues(pid, v, ALL);
      expect(values.length, v.name).toBeGreaterThan(0);
      for (const value of values) {
        const sel: Selections = { ...ALL, [v.name]: [value] };
        for (const { panel, target } of targets) {
          const result = await rangeQuery(pid, interpolate(target.expr, sel));
          answers.set(`${v.name}=${value} ${key(panel, target)}`, result);
          for (const s of result) {
            if (s.metric[label] !== undefined) expect(s.metric[label], `${panel.title} with ${v.name}=${value}`).toBe(value);
          }
          // The regex Grafana writes must select what plain equality does: a target whose selectors
          // all select series with the value must draw something.
          const selectors = exactSelectors(target.expr, sel);
          const selected = await Promise.all(selectors.map(async (s) => (await seriesOf(pid, s)).length > 0));
          if (selected.every(Boolean)) {
            expect(result.length, `${panel.title} (${target.refId}) drew nothing with ${v.name}=${value}`).toBeGreaterThan(0);
            checked++;
          }
        }
      }
      // Chained variables: each value's own choices are among All's, and together they are those
      // of the series that have the label (All also matches series without it: fleet series have no
      // app, the demo's device series no region).
      for (const other of queryVariables.filter((o) => o !== v && variableQuery(o).includes(`$${v.name}`))) {
        const whole = await variableValues(pid, other, { ...ALL, [v.name]: 'present' });
        const union = new Set<string>();
        for (const value of values) {
          const narrowed = await variableValues(pid, other, { ...ALL, [v.name]: [value] });
          for (const n of narrowed) expect(whole, `${other.name} with ${v.name}=${value}`).toContain(n);
          narrowed.forEach((n) => union.add(n));
        }
        expect([...union].sort(), `${other.name} over every ${v.name}`).toEqual(whole);
      }
    }
    expect(checked).toBeGreaterThan(targets.length);

    // Two apps at once, as Grafana writes them: `(a|b)`.
    const apps = await variableValues(pid, queryVariables.find((v) => v.name === 'app')!, ALL);
    expect(apps.length).toBeGreaterThanOrEqual(2);
    const two = apps.slice(0, 2);
    for (const { panel, target } of targets) {
      const expr = interpolate(target.expr, { ...ALL, app: two });
      expect(expr).not.toContain('$');
      const result = await rangeQuery(pid, expr);
      for (const s of result) if (s.metric.app_name !== undefined) expect(two, panel.title).toContain(s.metric.app_name);
      const eitherDrew = two.some((a) => (answers.get(`app=${a} ${key(panel, target)}`)?.length ?? 0) > 0);
      if (eitherDrew) expect(result.length, `${panel.title} with app=${two.join('|')}`).toBeGreaterThan(0);
    }
  }, 120_000);
});
