/**
 * Parses Prometheus text exposition lines with millisecond timestamps, for backfill. Each bad line
 * is reported by its number and the rest are kept; HELP and TYPE lines become metadata.
 */

export interface ImportedSample {
  /** 1-based line number in the body, for error reports. */
  readonly line: number;
  readonly labels: Record<string, string>;
  readonly t: number;
  readonly v: number;
}

export interface ImportMetadata {
  type?: string;
  help?: string;
  unit?: string;
}

export interface ParsedImport {
  readonly samples: ImportedSample[];
  readonly errors: Array<{ line: number; error: string }>;
  readonly metadata: Map<string, ImportMetadata>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped', 'unknown', 'gaugehistogram', 'info', 'stateset']);

export class LineError extends Error {}

export function parseImport(text: string, nowMs: number): ParsedImport {
  const samples: ImportedSample[] = [];
  const errors: Array<{ line: number; error: string }> = [];
  const metadata = new Map<string, ImportMetadata>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed === '# EOF') continue;
    try {
      if (trimmed.startsWith('#')) {
        const m = /^#\s+(HELP|TYPE|UNIT)\s+(\S+)(?:\s+(.*))?$/.exec(trimmed);
        if (m === null) continue; // an ordinary comment
        const meta = metadata.get(m[2]) ?? {};
        const rest = m[3] ?? '';
        if (m[1] === 'TYPE') {
          if (!TYPES.has(rest)) throw new LineError(`unknown metric type ${JSON.stringify(rest)}`);
          meta.type = rest === 'untyped' ? 'unknown' : rest;
        } else if (m[1] === 'HELP') meta.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
        else meta.unit = rest;
        metadata.set(m[2], meta);
        continue;
      }
      samples.push({ line: i + 1, ...parseSampleLine(trimmed, nowMs) });
    } catch (err) {
      errors.push({ line: i + 1, error: err instanceof LineError ? err.message : `cannot parse: ${(err as Error).message}` });
    }
  }
  return { samples, errors, metadata };
}

function parseSampleLine(line: string, nowMs: number): Omit<ImportedSample, 'line'> {
  let pos = 0;
  const labels: Record<string, string> = {};
  const nameMatch = NAME.exec(line);
  if (nameMatch !== null) {
    labels.__name__ = nameMatch[0];
    pos = nameMatch[0].length;
  }
  if (line[pos] === '{') {
    pos = parseLabels(line, pos + 1, labels);
  } else if (nameMatch === null) {
    throw new LineError('expected a metric name or "{" at the start of the line');
  }
  if (labels.__name__ === undefined || labels.__name__ === '') throw new LineError('the sample has no metric name');
  const rest = line.slice(pos).trim().split(/\s+/);
  if (rest.length === 0 || rest[0] === '') throw new LineError('missing the sample value after the labels');
  if (rest.length > 2) throw new LineError(`expected "value [timestamp_ms]" after the labels, got ${rest.length} fields`);
  const v = parseValue(rest[0]);
  let t = nowMs;
  if (rest.length === 2) {
    if (!/^-?\d+$/.test(rest[1])) throw new LineError(`the timestamp must be whole milliseconds since the epoch, got ${JSON.stringify(rest[1])}`);
    t = Number(rest[1]);
    if (!Number.isSafeInteger(t)) throw new LineError(`the timestamp ${rest[1]} is out of range`);
  }
  return { labels, t, v };
}

function parseLabels(line: string, pos: number, labels: Record<string, string>): number {
  for (;;) {
    while (line[pos] === ' ' || line[pos] === '\t') pos++;
    if (line[pos] === '}') return pos + 1;
    let name: string;
    if (line[pos] === '"') {
      // A quoted name (UTF-8 metric or label name, Prometheus 3), possibly the metric name alone.
      const q = readQuoted(line, pos);
      pos = q.end;
      while (line[pos] === ' ') pos++;
      if (line[pos] !== '=') {
        if (labels.__name__ !== undefined) throw new LineError('the metric name is given twice');
        labels.__name__ = q.value;
        if (line[pos] === ',') pos++;
        continue;
      }
      name = q.value;
    } else {
      const m = LABEL_NAME.exec(line.slice(pos));
      if (m === null) throw new LineError(`invalid label name at column ${pos + 1}`);
      name = m[0];
      pos += name.length;
    }
    while (line[pos] === ' ') pos++;
    if (line[pos] !== '=') throw new LineError(`expected "=" after label ${name}`);
    pos++;
    while (line[pos] === ' ') pos++;
    if (line[pos] !== '"') throw new LineError(`the value of label ${name} must be a quoted string`);
    const q = readQuoted(line, pos);
    if (name in labels && name !== '__name__') throw new LineError(`label ${name} is given twice`);
    labels[name] = q.value;
    pos = q.end;
    while (line[pos] === ' ') pos++;
    if (line[pos] === ',') pos++;
    else if (line[pos] !== '}') throw new LineError(`expected "," or "}" after the value of label ${name}`);
  }
}

function readQuoted(line: string, start: number): { value: string; end: number } {
  let out = '';
  let i = start + 1;
  while (i < line.length) {
    const c = line[i];
    if (c === '"') return { value: out, end: i + 1 };
    if (c === '\\') {
      const n = line[i + 1];
      if (n === 'n') out += '\n';
      else if (n === '\\' || n === '"') out += n;
      else throw new LineError(`invalid escape \\${n ?? ''} in a quoted string`);
      i += 2;
      continue;
    }
    out += c;
    i++;
  }
  throw new LineError('a quoted string is not closed');
}

function parseValue(text: string): number {
  const lower = text.toLowerCase();
  if (lower === 'nan') return NaN;
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new LineError(`the value ${JSON.stringify(text)} is not a number`);
  return Number(text);
}

