/**
 * info(v, {selector}) (experimental in Prometheus): adds data labels of info metrics
 * (target_info by default) to the series of v that share their identifying labels (instance,
 * job). Follows Prometheus' evalInfo: series that are themselves info metrics pass unchanged; at
 * each step the info series with the newest sample wins; a series without any matching info
 * series is kept only if every data-label matcher accepts the empty string.
 */
import type { Labels } from '../core/labels.js';
import { METRIC_NAME } from '../core/labels.js';
import type { LabelMatcher } from '../core/queryable.js';
import type { AtModifier, Call, Expr, SubqueryExpr, VectorSelector } from './ast.js';
import { matchValue } from './matchers.js';
import type { EvalContext, EvalValue, StepSeries } from './values.js';
import { labelsKey, labelsString } from './values.js';

const TARGET_INFO = 'target_info';
const IDENTIFYING = ['instance', 'job'];

/** Without a positive matcher on the name, only `*_info` metrics are info metrics. */
function effectiveNameMatchers(matchers: LabelMatcher[]): LabelMatcher[] {
  if (matchers.some((m) => m.type === '=' || m.type === '=~')) return matchers;
  if (matchers.length > 0) return [{ type: '=~', name: METRIC_NAME, value: '.+_info' }, ...matchers];
  return [{ type: '=', name: METRIC_NAME, value: TARGET_INFO }];
}

function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/**
 * The @ time and offset of the info lookup: those of the first vector selector of the
 * expression, completed by its enclosing subqueries (innermost first) while it has no @.
 */
function lookupTime(e: Expr): { at: AtModifier | null; offsetMs: number } {
  const path: SubqueryExpr[] = [];
  const find = (x: Expr): VectorSelector | null => {
    switch (x.type) {
      case 'vectorSelector':
        return x;
      case 'matrixSelector':
        return x.selector;
      case 'subquery': {
        path.push(x);
        const r = find(x.expr);
        if (!r) path.pop();
        return r;
      }
      case 'paren':
      case 'unary':
      case 'aggregate':
        return find(x.expr);
      case 'call':
        for (const a of x.args) {
          const r = find(a);
          if (r) return r;
        }
        return null;
      case 'binary':
        return find(x.lhs) ?? find(x.rhs);
      default:
        return null;
    }
  };
  const sel = find(e);
  if (!sel) return { at: null, offsetMs: 0 };
  let at = sel.at;
  let offsetMs = sel.offsetMs;
  for (let k = path.length - 1; at === null && k >= 0; k--) {
    offsetMs += path[k].offsetMs;
    at = path[k].at;
  }
  return { at, offsetMs };
}

function identifyingSig(name: string, l: Labels): string {
  let k = name;
  for (const n of IDENTIFYING) if (l[n] !== undefined) k += '\xff' + n + '\xfe' + l[n];
  return k;
}

export function infoFunction(ctx: EvalContext, call: Call): EvalValue {
  const base = ctx.evalVector(call.args[0]);
  const selectorArg = call.args[1];
  const dataMatchers = new Map<string, LabelMatcher[]>();
  let infoNameMatchers: LabelMatcher[] = [];
  if (selectorArg && selectorArg.type === 'vectorSelector') {
    for (const m of selectorArg.matchers) {
      dataMatchers.set(m.name, [...(dataMatchers.get(m.name) ?? []), m]);
      if (m.name === METRIC_NAME) infoNameMatchers.push(m);
    }
  } else {
    infoNameMatchers = [{ type: '=', name: METRIC_NAME, value: TARGET_INFO }];
  }
  const nameMatchers = effectiveNameMatchers(infoNameMatchers);
  const ignored = base.map((s) => {
    const name = s.labels[METRIC_NAME] ?? '';
    return nameMatchers.every((m) => matchValue(m, name));
  });

  // Info series sharing identifying label values with the (non-ignored) base series.
  const idValues = new Map<string, Set<string>>();
  base.forEach((s, k) => {
    if (ignored[k]) return;
    for (const n of IDENTIFYING) {
      const v = s.labels[n];
      if (!v) continue;
      if (!idValues.has(n)) idValues.set(n, new Set());
      idValues.get(n)!.add(v);
    }
  });
  const dataNameMatchers = dataMatchers.get(METRIC_NAME) ?? [];
  dataMatchers.delete(METRIC_NAME);
  let info: StepSeries[] = [];
  if (idValues.size > 0) {
    const matchers: LabelMatcher[] = [];
    for (const [n, vals] of idValues) matchers.push({ type: '=~', name: n, value: [...vals].map(quoteMeta).join('|') });
    for (const ms of dataMatchers.values()) matchers.push(...ms);
    matchers.push(...effectiveNameMatchers(dataNameMatchers));
    const { at, offsetMs } = lookupTime(call.args[0]);
    const sel: VectorSelector = { type: 'vectorSelector', name: null, matchers, offsetMs, at, pos: call.pos };
    info = ctx.evalVector(sel, true);
  }

  const infoNames = new Set(info.map((s) => s.labels[METRIC_NAME] ?? ''));
  const infoSig = info.map((s) => identifyingSig(s.labels[METRIC_NAME] ?? '', s.labels));
  const baseSigs = base.map((s) => [...infoNames].map((name) => [name, identifyingSig(name, s.labels)] as const));
  const allMatchEmpty = [...dataMatchers.values()].every((ms) => ms.every((m) => matchValue(m, '')));

  const out = new Map<string, StepSeries>();
  const bySig = new Map<string, number>();
  for (let i = 0; i < ctx.n; i++) {
    bySig.clear();
    info.forEach((s, k) => {
      if (!s.present[i]) return;
      const origT = s.times ? s.times[i] : ctx.times[i];
      const prev = bySig.get(infoSig[k]);
      if (prev === undefined) {
        bySig.set(infoSig[k], k);
        return;
      }
      const prevT = info[prev].times ? info[prev].times![i] : ctx.times[i];
      if (prevT < origT) bySig.set(infoSig[k], k);
      else if (prevT === origT) {
        ctx.fail(
          `found duplicate series for info metric: existing ${labelsString(info[prev].labels)} @ ${prevT}, new ${labelsString(s.labels)} @ ${origT}`,
        );
      }
    });
    base.forEach((s, k) => {
      if (!s.present[i]) return;
      let labels: Labels = s.labels;
      if (!ignored[k]) {
        const added: Record<string, string> = {};
        let seen = 0;
        for (const [, sig] of baseSigs[k]) {
          const ik = bySig.get(sig);
          if (ik === undefined) continue;
          seen++;
          const il = info[ik].labels;
          for (const n of Object.keys(il)) {
            if (n === METRIC_NAME) continue;
            if (dataMatchers.size > 0 && !dataMatchers.has(n)) continue;
            if (added[n] !== undefined && added[n] !== il[n]) ctx.fail(`conflicting label: ${n}`);
            if (s.labels[n] !== undefined) continue;
            added[n] = il[n];
          }
        }
        if (seen === 0 && !allMatchEmpty) return;
        labels = { ...s.labels, ...added };
      }
      const key = labelsKey(labels);
      let r = out.get(key);
      if (!r) {
        r = ctx.newSeries(labels, s.dropName);
        out.set(key, r);
      }
      if (r.present[i]) ctx.fail('vector cannot contain metrics with the same labelset');
      r.values[i] = s.values[i];
      r.present[i] = 1;
    });
  }
  return { kind: 'vector', series: [...out.values()] };
}
