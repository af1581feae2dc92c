/**
 * Prometheus text 0.0.4 and OpenMetrics 1.0 rendering. Rendering is a generator of string chunks
 * so that a large scrape can be streamed and interleaved with other work instead of blocking the
 * event loop while millions of bytes are built.
 */
import { APP_LABEL_PER_SERIES, type FamilyDef } from '../aggregate/registry.js';
import type { AnySeries, CounterSeries, ExemplarLabels, GaugeSeries, HistogramSeries } from '../aggregate/series.js';
import { escapeHelpOpenMetrics, escapeHelpText, formatValue, renderLabelPairs } from './escape.js';

export type ExpositionFormat = 'text' | 'openmetrics';

export const CONTENT_TYPE: Readonly<Record<ExpositionFormat, string>> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

export interface RenderOptions {
  readonly format: ExpositionFormat;
  /** Only series whose `app_name` is this. */
  readonly app?: string;
  /** Gauges last updated before this wall-clock time are stale and left out. */
  readonly gaugeFreshSinceMs: number;
  /** Chunk size to aim for, in characters. */
  readonly chunkChars?: number;
}

const DEFAULT_CHUNK = 128 * 1024;

/** What rendering needs of a family; several registries' series can be shown as one family. */
export interface RenderableFamily {
  readonly def: FamilyDef;
  /** Index of `app_name` in def.labelNames, -1 when it has none, APP_LABEL_PER_SERIES when each series says. */
  readonly appLabelIndex: number;
  seriesValues(): Iterable<AnySeries>;
}

/** Renders families into chunks; the OpenMetrics `# EOF` terminator is included. */
export function* renderFamilies(families: Iterable<RenderableFamily>, opts: RenderOptions): Generator<string> {
  const chunkChars = opts.chunkChars ?? DEFAULT_CHUNK;
  const om = opts.format === 'openmetrics';
  let out = '';
  for (const fam of families) {
    const def = fam.def;
    const appIdx = opts.app === undefined ? -1 : fam.appLabelIndex;
    if (opts.app !== undefined && appIdx === -1) continue;
    let headerDone = false;
    const name = def.name;
    const leLabels = def.type === 'histogram' ? bucketLabels(def.buckets ?? []) : [];
    for (const s of fam.seriesValues()) {
      if (appIdx >= 0 && s.labelValues[appIdx] !== opts.app) continue;
      if (appIdx === APP_LABEL_PER_SERIES && s.labelValues[s.labelNames.indexOf('app_name')] !== opts.app) continue;
      if (def.type === 'gauge' && (s as GaugeSeries).updatedAt < opts.gaugeFreshSinceMs) continue;
      if (!headerDone) {
        out += header(name, def.type, def.help, def.unit, om);
        headerDone = true;
      }
      const lt = s.labelText;
      if (def.type === 'histogram') {
        const h = s as HistogramSeries;
        const prefix = lt.length > 0 ? `${name}_bucket{${lt},le="` : `${name}_bucket{le="`;
        const counts = h.counts;
        let cumulative = 0;
        const ex = om ? h.exemplars : undefined;
        for (let i = 0; i < leLabels.length; i++) {
          cumulative += counts[i];
          const e = ex?.labels[i];
          out += e === undefined ? `${prefix}${leLabels[i]}"} ${cumulative}\n` : `${prefix}${leLabels[i]}"} ${cumulative} ${exemplarText(e, ex!.values[i], ex!.timesMs[i])}\n`;
        }
        const braces = lt.length > 0 ? `{${lt}}` : '';
        out += `${name}_sum${braces} ${formatValue(h.sum)}\n${name}_count${braces} ${h.count}\n`;
      } else {
        const v = (s as CounterSeries | GaugeSeries).value;
        out += lt.length > 0 ? `${name}{${lt}} ${formatValue(v)}\n` : `${name} ${formatValue(v)}\n`;
      }
      if (out.length >= chunkChars) {
        yield out;
        out = '';
      }
    }
  }
  if (om) out += '# EOF\n';
  if (out.length > 0) yield out;
}

/** OpenMetrics' exemplar suffix: ` # {labels} value timestamp` (seconds). */
function exemplarText(labels: ExemplarLabels, value: number, timeMs: number): string {
  const names = Object.keys(labels);
  return `# {${renderLabelPairs(names, names.map((n) => labels[n]))}} ${formatValue(value)} ${formatValue(timeMs / 1000)}`;
}

function header(name: string, type: string, help: string, unit: string, om: boolean): string {
  if (!om) return `# HELP ${name} ${escapeHelpText(help)}\n# TYPE ${name} ${type}\n`;
  // OpenMetrics would name a counter family without `_total`, but promtool (2.x) lints OpenMetrics
  // with the 0.0.4 parser and then finds `_total` samples without HELP; Prometheus' own
  // OpenMetrics parser accepts the family under its full name, so the full name passes both.
  let text = `# TYPE ${name} ${type}\n`;
  if (unit !== '' && name.endsWith(`_${unit}`)) text += `# UNIT ${name} ${unit}\n`;
  return `${text}# HELP ${name} ${escapeHelpOpenMetrics(help)}\n`;
}

const leCache = new WeakMap<readonly number[], string[]>();

function bucketLabels(bounds: readonly number[]): string[] {
  let labels = leCache.get(bounds);
  if (labels === undefined) {
    labels = [...bounds.map(formatValue), '+Inf'];
    leCache.set(bounds, labels);
  }
  return labels;
}

/** Picks the format from an Accept header, as Prometheus' scraper negotiates it. */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  return accept !== undefined && accept.includes('application/openmetrics-text') ? 'openmetrics' : 'text';
}
