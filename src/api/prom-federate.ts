/**
 * `/federate` as Prometheus 2.42 answers it: for each series matching any `match[]`, its latest
 * sample within the lookback delta, in the text exposition format 0.0.4 with timestamps, every
 * family `untyped`, series without an `instance` label given `instance=""` (Prometheus' external
 * label), stale series left out. The series come from the project's own querier, so a `match[]`
 * naming another project's labels finds nothing.
 */
import type { Labels } from '../core/labels.js';
import { METRIC_NAME, isStaleNaN } from '../core/labels.js';
import type { LabelMatcher, Querier } from '../core/queryable.js';
import { escapeLabelValue } from '../exposition/escape.js';
import { PromQLExecutionError } from '../promql/index.js';
import { goFloat } from './promql-format.js';

export const FEDERATE_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

interface Latest {
  readonly labels: Labels;
  readonly key: string;
  readonly t: number;
  readonly v: number;
}

/** The exposition text; `maxSeries` bounds what each `match[]` may select (query.max_series_per_selector). */
export function federate(querier: Querier, matcherSets: readonly (readonly LabelMatcher[])[], nowMs: number, lookbackMs: number, maxSeries: number): string {
  const mint = nowMs - lookbackMs;
  const found = new Map<string, Latest>();
  for (const matchers of matcherSets) {
    let n = 0;
    for (const s of querier.select(matchers, mint, nowMs)) {
      if (++n > maxSeries) {
        throw new PromQLExecutionError(
          `a match[] selector matched more than ${maxSeries.toLocaleString('en-US')} series (limit query.max_series_per_selector); add label matchers to select fewer`,
        );
      }
      const last = s.timestamps.length - 1;
      if (last < 0) continue;
      const t = s.timestamps[last];
      if (t < mint || t > nowMs) continue;
      const v = s.values[last];
      // The exposition formats have no staleness marker: a series gone stale is left out.
      if (isStaleNaN(v)) continue;
      const key = seriesKey(s.labels);
      if (!found.has(key)) found.set(key, { labels: s.labels, key, t, v });
    }
  }
  const samples = [...found.values()].filter((s) => (s.labels[METRIC_NAME] ?? '') !== '');
  samples.sort((a, b) => {
    const na = a.labels[METRIC_NAME];
    const nb = b.labels[METRIC_NAME];
    if (na !== nb) return na < nb ? -1 : 1;
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  });
  let out = '';
  let family = '';
  for (const s of samples) {
    const name = s.labels[METRIC_NAME];
    if (name !== family) {
      out += `# TYPE ${name} untyped\n`;
      family = name;
    }
    const pairs: string[] = [];
    for (const k of Object.keys(s.labels).sort()) {
      if (k === METRIC_NAME || s.labels[k] === '') continue;
      pairs.push(`${k}="${escapeLabelValue(s.labels[k])}"`);
    }
    if ((s.labels.instance ?? '') === '') pairs.push('instance=""');
    out += `${name}{${pairs.join(',')}} ${goFloat(s.v)} ${s.t}\n`;
  }
  return out;
}

function seriesKey(l: Labels): string {
  return Object.keys(l).sort().map((k) => `${k}\u0000${l[k]}`).join('\u0001');
}
