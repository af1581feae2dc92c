/**
 * Prometheus relabelling (`relabel_configs`, `metric_relabel_configs`), as model/relabel/relabel.go
 * does it: every action, the same defaults, the same validation, `$1`/`${1}`/`$name` expanded as
 * Go's regexp.Expand expands them. Regexes are RE2 (src/promql/regex.ts, the engine behind the
 * query API's `=~`), fully anchored, so no pattern in a config can hold the process.
 *
 * Where Prometheus 2.42 and today's Prometheus differ, today's behaviour is kept: a `replace`
 * whose target label expands to an invalid name, or whose replacement expands to nothing, acts on
 * the expanded target (2.42 deleted the label named by the unexpanded template, a bug fixed in
 * 2.45). Everything else is the same in both.
 */
import { createHash } from 'node:crypto';
import { compileRegex, regexError, type LabelRegex } from '../../promql/regex.js';

export const RELABEL_ACTIONS = ['replace', 'keep', 'drop', 'keepequal', 'dropequal', 'hashmod', 'labelmap', 'labeldrop', 'labelkeep', 'lowercase', 'uppercase'] as const;
export type RelabelAction = (typeof RELABEL_ACTIONS)[number];

/** A rule as the config file gives it (Prometheus' keys). */
export interface RawRelabelRule {
  source_labels?: string[];
  separator?: string;
  regex?: string | null;
  modulus?: number;
  target_label?: string;
  replacement?: string;
  action?: string;
}

export interface RelabelRule {
  readonly action: RelabelAction;
  readonly sourceLabels: readonly string[];
  readonly separator: string;
  readonly regex: LabelRegex;
  /** True for the default `(.*)`: every value matches, group 1 is the value (no engine needed). */
  readonly matchAll: boolean;
  readonly targetLabel: string;
  readonly replacement: string;
  readonly modulus: bigint;
}

const DEFAULT_REGEX = '(.*)';
const DEFAULT_SEPARATOR = ';';
const DEFAULT_REPLACEMENT = '$1';
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** A label name that may hold `$1`, `${name}`: Prometheus' relabelTarget. */
const TARGET_TEMPLATE = /^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$/;

/**
 * A rule checked as Prometheus' Config.Validate checks it, with its defaults filled in; undefined
 * (and the problems added to `issues`, each naming `path` and the key) when it is not valid.
 */
export function compileRule(raw: RawRelabelRule, path: string, issues: string[]): RelabelRule | undefined {
  const before = issues.length;
  const action = (raw.action ?? 'replace').toLowerCase() as RelabelAction;
  if (!RELABEL_ACTIONS.includes(action)) {
    issues.push(`${path}.action: unknown relabel action ${JSON.stringify(raw.action)}; one of ${RELABEL_ACTIONS.join(', ')}`);
    return undefined;
  }
  const sourceLabels = raw.source_labels ?? [];
  sourceLabels.forEach((n, i) => {
    if (!LABEL_NAME.test(n)) issues.push(`${path}.source_labels.${i}: ${JSON.stringify(n)} is not a valid label name (letters, digits and '_', not starting with a digit)`);
  });
  // `regex:` left empty in YAML is the empty regex (it matches only ""), as in Prometheus.
  const regexSource = raw.regex === undefined ? DEFAULT_REGEX : (raw.regex ?? '');
  const bad = regexError(regexSource);
  if (bad !== null) issues.push(`${path}.regex: RE2 cannot compile ${JSON.stringify(regexSource)}: ${bad}; use RE2 syntax (no lookaround, no backreferences)`);
  const separator = raw.separator ?? DEFAULT_SEPARATOR;
  const replacement = raw.replacement ?? DEFAULT_REPLACEMENT;
  const target = raw.target_label ?? '';
  const modulus = raw.modulus ?? 0;
  const needsTarget = ['replace', 'hashmod', 'lowercase', 'uppercase', 'keepequal', 'dropequal'].includes(action);
  if (action === 'hashmod' && !(modulus > 0)) issues.push(`${path}.modulus: the hashmod action needs a modulus above 0`);
  if (needsTarget && target === '') issues.push(`${path}.target_label: the ${action} action needs a target_label`);
  else if (action === 'replace' && !TARGET_TEMPLATE.test(target)) {
    issues.push(`${path}.target_label: ${JSON.stringify(target)} is not a valid target_label for replace (a label name, which may hold $1 or \${name})`);
  } else if (needsTarget && action !== 'replace' && !LABEL_NAME.test(target)) {
    issues.push(`${path}.target_label: ${JSON.stringify(target)} is not a valid label name for ${action}`);
  }
  if (['lowercase', 'uppercase', 'keepequal', 'dropequal'].includes(action) && replacement !== DEFAULT_REPLACEMENT) {
    issues.push(`${path}.replacement: cannot be set for the ${action} action`);
  }
  if (action === 'labelmap' && !TARGET_TEMPLATE.test(replacement)) {
    issues.push(`${path}.replacement: ${JSON.stringify(replacement)} is not a valid replacement for labelmap (a label name, which may hold $1 or \${name})`);
  }
  if ((action === 'keepequal' || action === 'dropequal') && (regexSource !== DEFAULT_REGEX || modulus !== 0 || separator !== DEFAULT_SEPARATOR || replacement !== DEFAULT_REPLACEMENT)) {
    issues.push(`${path}: the ${action} action takes only source_labels and target_label; remove regex, modulus, separator and replacement`);
  }
  if ((action === 'labeldrop' || action === 'labelkeep') && (raw.source_labels !== undefined || target !== '' || modulus !== 0 || separator !== DEFAULT_SEPARATOR || replacement !== DEFAULT_REPLACEMENT)) {
    issues.push(`${path}: the ${action} action takes only regex; remove source_labels, target_label, modulus, separator and replacement`);
  }
  if (issues.length > before) return undefined;
  return {
    action,
    sourceLabels,
    separator,
    regex: compileRegex(regexSource),
    matchAll: regexSource === DEFAULT_REGEX,
    targetLabel: target,
    replacement,
    modulus: BigInt(Math.trunc(modulus)),
  };
}

/**
 * Applies the rules in order to `labels` (changed in place; an empty value is no label, as in
 * Prometheus' labels.Builder). Returns false when a rule drops the label set.
 */
export function relabel(labels: Map<string, string>, rules: readonly RelabelRule[]): boolean {
  for (const rule of rules) if (!apply(labels, rule)) return false;
  return true;
}

function set(labels: Map<string, string>, name: string, value: string): void {
  if (value === '') labels.delete(name);
  else labels.set(name, value);
}

function match(rule: RelabelRule, value: string): RegExpExecArray | null {
  if (!rule.matchAll) return rule.regex.exec(value);
  const m = [value, value] as unknown as RegExpExecArray;
  m.index = 0;
  m.input = value;
  return m;
}

function apply(labels: Map<string, string>, rule: RelabelRule): boolean {
  let val: string;
  if (rule.sourceLabels.length === 1) val = labels.get(rule.sourceLabels[0]) ?? '';
  else val = rule.sourceLabels.map((n) => labels.get(n) ?? '').join(rule.separator);
  switch (rule.action) {
    case 'drop':
      return !(rule.matchAll || rule.regex.test(val));
    case 'keep':
      return rule.matchAll || rule.regex.test(val);
    case 'dropequal':
      return (labels.get(rule.targetLabel) ?? '') !== val;
    case 'keepequal':
      return (labels.get(rule.targetLabel) ?? '') === val;
    case 'replace': {
      const m = match(rule, val);
      if (m === null) return true;
      const target = expand(rule.targetLabel, m);
      if (!LABEL_NAME.test(target)) return true;
      set(labels, target, expand(rule.replacement, m));
      return true;
    }
    case 'lowercase':
      set(labels, rule.targetLabel, val.toLowerCase());
      return true;
    case 'uppercase':
      set(labels, rule.targetLabel, val.toUpperCase());
      return true;
    case 'hashmod': {
      // The last 8 bytes of the MD5, big-endian, as relabel.go takes them.
      const digest = createHash('md5').update(val).digest();
      set(labels, rule.targetLabel, (digest.readBigUInt64BE(8) % rule.modulus).toString());
      return true;
    }
    case 'labelmap':
      // Over the labels as they were before this rule, in name order (a later name wins a clash).
      for (const [name, value] of sortedSnapshot(labels)) {
        const m = match(rule, name);
        if (m !== null) set(labels, expand(rule.replacement, m), value);
      }
      return true;
    case 'labeldrop':
      for (const [name] of sortedSnapshot(labels)) if (rule.matchAll || rule.regex.test(name)) labels.delete(name);
      return true;
    case 'labelkeep':
      for (const [name] of sortedSnapshot(labels)) if (!(rule.matchAll || rule.regex.test(name))) labels.delete(name);
      return true;
  }
}

function sortedSnapshot(labels: Map<string, string>): Array<[string, string]> {
  return [...labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** What Go's regexp counts as a name character: unicode.IsLetter, unicode.IsDigit, '_'. */
const NAME_CHAR = /^[\p{L}\p{Nd}_]$/u;

/**
 * A template expanded against a match as Go's regexp.Expand does: `$name` takes the longest run
 * of letters, digits and `_` (so `$1_x` is the group named "1_x", which does not exist, and
 * expands to nothing: a classic Prometheus surprise, kept); `${name}` delimits it; a name of
 * digits without a leading zero is a group number; a group that is absent or did not take part
 * is empty; `$$` is `$`; a `$` that starts no valid reference is kept as it is.
 */
export function expand(template: string, m: RegExpExecArray): string {
  if (!template.includes('$')) return template;
  let out = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    if (template[i + 1] === '$') {
      out += '$';
      i += 2;
      continue;
    }
    const ref = reference(template, i + 1);
    if (ref === undefined) {
      out += '$';
      i++;
      continue;
    }
    out += group(m, ref.name);
    i = ref.end;
  }
  return out;
}

/** Go's regexp `extract`: the name after a `$` at `from`, and where the reference ends. */
function reference(t: string, from: number): { name: string; end: number } | undefined {
  const brace = t[from] === '{';
  let i = brace ? from + 1 : from;
  const start = i;
  while (i < t.length) {
    const cp = t.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    if (!NAME_CHAR.test(ch)) break;
    i += ch.length;
  }
  if (i === start) return undefined;
  const name = t.slice(start, i);
  if (brace) {
    if (t[i] !== '}') return undefined;
    i++;
  }
  return { name, end: i };
}

function group(m: RegExpExecArray, name: string): string {
  // A number only in ASCII digits, without a leading zero, of at most 9 digits; anything else is a name.
  if (/^[0-9]+$/.test(name) && !(name.length > 1 && name[0] === '0') && name.length <= 9) {
    const n = Number(name);
    return n < m.length ? (m[n] ?? '') : '';
  }
  return m.groups?.[name] ?? '';
}
