/** Label matchers with Prometheus' semantics, shared by the engine and the stores. */
import type { Labels } from '../core/labels.js';
import type { LabelMatcher } from '../core/queryable.js';
import { compileRegex } from './regex.js';

/** Whether a label value passes one matcher; a missing label is the empty string, as in Prometheus. */
export function matchValue(m: LabelMatcher, value: string): boolean {
  switch (m.type) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return compileRegex(m.value).test(value);
    case '!~':
      return !compileRegex(m.value).test(value);
  }
}

export function matchesAll(labels: Labels, matchers: readonly LabelMatcher[]): boolean {
  for (const m of matchers) if (!matchValue(m, labels[m.name] ?? '')) return false;
  return true;
}
