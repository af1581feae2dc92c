/** Escaping shared by the Prometheus text format and OpenMetrics (they agree on label values). */

const NEEDS_ESCAPE = /[\\"\n]/;

export function escapeLabelValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text in the 0.0.4 text format: backslash and newline only. */
export function escapeHelpText(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** HELP text in OpenMetrics, which also escapes double quotes. */
export function escapeHelpOpenMetrics(help: string): string {
  return escapeHelpText(help).replace(/"/g, '\\"');
}

/** `a="x",b="y"` for the defined values, in label order; undefined values are left out. */
export function renderLabelPairs(names: readonly string[], values: ReadonlyArray<string | undefined>): string {
  // join, not +=: a series keeps this string for life, and += leaves a tree of cons strings
  // (about 600 bytes for four labels) where join makes one flat string (about 120).
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const v = values[i];
    if (v === undefined) continue;
    parts.push(`${names[i]}="${escapeLabelValue(v)}"`);
  }
  return parts.join(',');
}

/** A sample value as Prometheus writes it: Go's shortest float form, `+Inf`, `-Inf`, `NaN`. */
export function formatValue(v: number): string {
  if (Number.isFinite(v)) return String(v);
  if (v !== v) return 'NaN';
  return v > 0 ? '+Inf' : '-Inf';
}
