/**
 * A strict, streaming parser of what an exporter answers: the Prometheus text format 0.0.4 and
 * OpenMetrics 1.0, with the grammar Prometheus 2.42's own parsers take (model/textparse promlex.l
 * and openmetricslex.l): the text format tolerates blanks and tabs between tokens, OpenMetrics
 * takes exactly one space and must end with `# EOF`. The body is fed as it arrives, line by line,
 * so a line past the limit or a body that is no exposition at all ends the scrape at once,
 * without waiting for (or holding) the rest.
 *
 * Series are known by the text of their name and labels as the exporter wrote them: an exporter
 * writes the same series the same way every time, so after the first scrape a line costs a map
 * lookup and a number parse, and its labels are never parsed again (Prometheus' scrape cache does
 * the same). Where the scrape is stricter than Prometheus 2.42 (a series twice in one exposition,
 * a second TYPE or HELP line for one name), it is because a value cannot be chosen between two.
 */

export type ExposedType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped' | 'unknown' | 'gaugehistogram' | 'info' | 'stateset';
export type ExpositionFormat = 'text' | 'openmetrics';

const TEXT_TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const OM_TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset', 'unknown']);

/** Why a scrape failed, as the self-metrics count it (`reason` label). */
export type FailureReason =
  | 'not_metrics' | 'parse_error' | 'line_too_long' | 'duplicate_series' | 'histogram_invalid' | 'body_too_large'
  | 'sample_limit' | 'label_limit' | 'timeout' | 'http_status' | 'connection' | 'invalid_series';

/** A failed scrape: the target is `up 0` for this reason, and nothing it sent is applied. */
export class ScrapeFailure extends Error {
  constructor(readonly reason: FailureReason, message: string) {
    super(message);
  }
}

export interface FamilyMeta {
  type?: ExposedType;
  help?: string;
  unit?: string;
}

/** One distinct series of an exposition: its name and labels as parsed, and what the scraper made of it. */
export class ExposedSeries {
  /** The scrape that last saw it (a second sighting in the same scrape is a duplicate). */
  seen = 0;
  /** The scraper's resolution of it (relabelled labels, project, family); kept between scrapes. */
  state: unknown = undefined;
  /** How the exporter wrote it when it was first seen (the text its line starts with). */
  text = '';
  constructor(
    readonly name: string,
    /** Label names and values, flat, sorted by name; labels with an empty value are left out (they are no label). */
    readonly labels: readonly string[],
    /** name, then the pairs, NUL-separated: two ways of writing one series share it. */
    readonly key: string,
  ) {}

  label(name: string): string | undefined {
    for (let i = 0; i < this.labels.length; i += 2) if (this.labels[i] === name) return this.labels[i + 1];
    return undefined;
  }
}

/** A target's series, kept across scrapes, by the text that wrote them and by their identity. */
export class SeriesCache {
  readonly byText = new Map<string, ExposedSeries>();
  readonly byKey = new Map<string, ExposedSeries>();
  /**
   * The series of the last exposition in the order written. An exporter writes its series in the
   * same order every time, so the line at position i is first compared with the text of series i
   * of the last scrape: a comparison of characters, where a map lookup would hash the whole line.
   */
  order: readonly ExposedSeries[] = [];

  /** Forgets the series the last scrape (`stamp`) did not see, once they outnumber those it did. */
  trim(stamp: number, seenCount: number): void {
    if (this.byKey.size <= 2 * seenCount + 1000) return;
    this.order = this.order.filter((s) => s.seen === stamp);
    for (const [text, s] of this.byText) if (s.seen !== stamp) this.byText.delete(text);
    for (const [key, s] of this.byKey) if (s.seen !== stamp) this.byKey.delete(key);
  }
}

/** One scrape's samples, in the order written, and the metadata lines. */
export class Exposition {
  readonly series: ExposedSeries[] = [];
  readonly values: number[] = [];
  /** Milliseconds, NaN when the line has no timestamp. */
  readonly times: number[] = [];
  readonly metadata = new Map<string, FamilyMeta>();
  /** The HELP, TYPE and UNIT lines as written, joined: the same text means the same types for every name. */
  metaText = '';
  /** Whether the series are the last exposition's, in the same order, each written the same way. */
  same = false;
}

export interface ParserLimits {
  /** Longest line taken, in characters. */
  readonly maxLineChars: number;
  /** Prometheus' `label_limit`, `label_name_length_limit`, `label_value_length_limit` (0 = none). */
  readonly labelLimit: number;
  readonly labelNameLengthLimit: number;
  readonly labelValueLengthLimit: number;
}

const METRIC_START = /[a-zA-Z_:]/;

/**
 * Feeds an exposition through, chunk by chunk (`push`), then `end()`. Throws a ScrapeFailure at the
 * first line that is not valid; the Exposition then holds what came before and must be dropped.
 */
export class ExpositionParser {
  private carry = '';
  private lineNo = 0;
  private sawContent = false;
  private eof = false;
  /** Samples found at the position the last exposition had them. */
  private predicted = 0;
  private readonly om: boolean;
  readonly out = new Exposition();

  constructor(
    format: ExpositionFormat,
    private readonly cache: SeriesCache,
    private readonly stamp: number,
    private readonly limits: ParserLimits,
  ) {
    this.om = format === 'openmetrics';
  }

  push(text: string): void {
    let s = text;
    let start = 0;
    const max = this.limits.maxLineChars;
    if (this.carry.length > 0) {
      // Only the line cut by the last chunk's end is joined: the chunk itself is not copied.
      const nl = text.indexOf('\n');
      if (nl < 0) s = this.carry + text;
      else {
        if (this.carry.length + nl > max) this.tooLong();
        const joined = this.carry + text.slice(0, nl);
        if (!this.known(joined, 0, joined.length)) this.line(joined, true);
        start = nl + 1;
      }
      this.carry = '';
    }
    for (;;) {
      const nl = s.indexOf('\n', start);
      if (nl < 0) break;
      if (nl - start > max) this.tooLong();
      if (!this.known(s, start, nl)) this.line(s.slice(start, nl), true);
      start = nl + 1;
    }
    this.carry = start === 0 ? s : s.slice(start);
    if (this.carry.length > max) this.tooLong();
  }

  end(): Exposition {
    if (this.carry.length > 0) {
      // Prometheus' text parser appends the missing last newline; OpenMetrics lets only `# EOF` go without.
      const last = this.carry;
      this.carry = '';
      if (this.om || !this.known(last, 0, last.length)) this.line(last, false);
    }
    if (this.om && !this.eof) this.fail('parse_error', 'the OpenMetrics exposition does not end with "# EOF" (cut short?)');
    this.out.same = this.predicted === this.out.series.length && this.cache.order.length === this.out.series.length;
    this.cache.order = this.out.series;
    return this.out;
  }

  private tooLong(): never {
    throw new ScrapeFailure('line_too_long', `line ${this.lineNo + 1} is longer than ${this.limits.maxLineChars} characters; no exporter writes such a line (is the target an exporter?)`);
  }

  private fail(reason: FailureReason, message: string): never {
    throw new ScrapeFailure(reason, message);
  }

  private error(message: string, line: string): never {
    this.fail('parse_error', `line ${this.lineNo}: ${message} (in ${snippet(line)})`);
  }

  /**
   * The common line, taken where it lies in the chunk: the series the last exposition had at this
   * position, written the same way, then a plain value. Anything else (a new series, a timestamp,
   * an exemplar, a comment, a mistake) returns false, having changed nothing, and takes the full
   * path of `line`, which also says what is wrong.
   */
  private known(s: string, start: number, end: number): boolean {
    if (!this.sawContent || this.eof) return false;
    const p = this.cache.order[this.out.series.length];
    if (p === undefined || p.seen === this.stamp) return false;
    const t = p.text;
    const te = start + t.length;
    if (te >= end) return false;
    const sep = s.charCodeAt(te);
    const om = this.om;
    if (sep !== 32 && (om || sep !== 9)) return false;
    if (s.slice(start, te) !== t) return false;
    let i = te + 1;
    if (!om) while (i < end && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9)) i++;
    const vStart = i;
    while (i < end && s.charCodeAt(i) !== 32 && s.charCodeAt(i) !== 9) i++;
    if (i === vStart) return false;
    const value = parseValue(s.slice(vStart, i));
    if (value === undefined) return false;
    if (!om) while (i < end && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9)) i++;
    if (i !== end) return false;
    this.lineNo++;
    this.predicted++;
    p.seen = this.stamp;
    this.out.series.push(p);
    this.out.values.push(value);
    this.out.times.push(NaN);
    return true;
  }

  private line(line: string, terminated: boolean): void {
    this.lineNo++;
    if (this.eof) this.error('unexpected data after "# EOF"', line);
    let i = 0;
    if (!this.om) while (i < line.length && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
    if (i === line.length) {
      if (this.om) this.error('blank lines are not allowed in OpenMetrics', line);
      return;
    }
    const c = line[i];
    if (!this.sawContent) {
      this.sawContent = true;
      if (c === '<') {
        this.fail('not_metrics', `the target answered something that is not a metrics exposition (it begins ${snippet(line)}, a web page?); check scheme, metrics_path and the port`);
      }
    }
    if (c === '#') {
      this.comment(line, i, terminated);
      return;
    }
    if (this.om && !terminated) this.error('the last line does not end with a newline; an OpenMetrics exposition ends with "# EOF"', line);
    this.sample(line, i);
  }

  private comment(line: string, at: number, terminated: boolean): void {
    const om = this.om;
    const sep = line[at + 1];
    if (sep !== ' ' && !(sep === '\t' && !om)) {
      if (om) this.error('a comment must start with "# " (OpenMetrics has only HELP, TYPE, UNIT and EOF)', line);
      return;
    }
    let i = at + 1;
    if (om) i++;
    else while (line[i] === ' ' || line[i] === '\t') i++;
    const word = line.slice(i, i + 4);
    if (om && word === 'EOF' && line.length === i + 3) {
      this.eof = true;
      return;
    }
    const after = line[i + 4];
    const isMeta = (word === 'HELP' || word === 'TYPE' || (om && word === 'UNIT')) && (after === ' ' || (!om && after === '\t'));
    if (!isMeta) {
      if (om) this.error(`unknown line "# ${line.slice(i, i + 20)}"; OpenMetrics has only # HELP, # TYPE, # UNIT and # EOF`, line);
      return;
    }
    if (om && !terminated) this.error('the last line does not end with a newline; an OpenMetrics exposition ends with "# EOF"', line);
    i += 5;
    if (!om) while (line[i] === ' ' || line[i] === '\t') i++;
    const nameEnd = metricNameEnd(line, i);
    if (nameEnd === i) this.error(`expected a metric name after ${word}`, line);
    const name = line.slice(i, nameEnd);
    let text: string;
    if (nameEnd === line.length && !om) text = '';
    else if (line[nameEnd] === ' ' || (!om && line[nameEnd] === '\t')) text = line.slice(nameEnd + 1);
    else this.error(`expected a space after the metric name ${JSON.stringify(name)} in ${word}`, line);
    this.out.metaText += `${line}\n`;
    const meta = this.out.metadata.get(name) ?? {};
    if (word === 'TYPE') {
      if (!(om ? OM_TYPES : TEXT_TYPES).has(text)) this.error(`invalid metric type ${JSON.stringify(text)}; one of ${[...(om ? OM_TYPES : TEXT_TYPES)].join(', ')}`, line);
      if (meta.type !== undefined) this.error(`a second TYPE line for ${name}`, line);
      meta.type = text as ExposedType;
    } else if (word === 'HELP') {
      if (meta.help !== undefined) this.error(`a second HELP line for ${name}`, line);
      meta.help = unescapeHelp(text, om);
    } else {
      if (meta.unit !== undefined) this.error(`a second UNIT line for ${name}`, line);
      if (text !== '' && !name.endsWith(`_${text}`)) this.error(`the unit ${JSON.stringify(text)} is not a suffix of the metric name ${name}`, line);
      meta.unit = text;
    }
    this.out.metadata.set(name, meta);
  }

  private sample(line: string, at: number): void {
    // The series' text ends at the last '}' (a value or timestamp has none), or at the name's end.
    // An OpenMetrics exemplar (` # {...}`) has braces of its own: such lines take the full parse.
    let end: number;
    const brace = line.indexOf('{', at);
    if (brace < 0) end = metricNameEnd(line, at);
    else if (this.om && line.includes('#', brace)) end = -1;
    else end = line.lastIndexOf('}') + 1;
    let s: ExposedSeries | undefined;
    if (end > at) {
      const text = at === 0 ? line.slice(0, end) : line.slice(at, end);
      const predicted = this.cache.order[this.out.series.length];
      // Equality of two flat strings is a comparison of their characters (startsWith is slower).
      s = predicted !== undefined && predicted.text === text ? predicted : this.cache.byText.get(text);
    }
    if (s === undefined) {
      const parsed = this.parseSeries(line, at);
      const text = own(line.slice(at, parsed.end));
      s = this.cache.byKey.get(parsed.key);
      if (s === undefined) {
        s = new ExposedSeries(parsed.name, parsed.labels, parsed.key);
        s.text = text;
        this.cache.byKey.set(parsed.key, s);
      }
      if (parsed.end === end) this.cache.byText.set(text, s);
      end = parsed.end;
    }
    if (s.seen === this.stamp) {
      this.fail('duplicate_series', `line ${this.lineNo}: the series ${describe(s)} appears twice in one exposition; an exporter must write each series once`);
    }
    s.seen = this.stamp;
    if (s === this.cache.order[this.out.series.length]) this.predicted++;
    this.valueAndTime(line, end, s);
  }

  /** The value and timestamp after a series' text, appended to the output. */
  private valueAndTime(line: string, from: number, s: ExposedSeries): void {
    const n = line.length;
    let i = from;
    let vStart: number;
    if (this.om) {
      if (line.charCodeAt(i) !== 32) this.error('expected a space and the value after the series', line);
      vStart = ++i;
      while (i < n && line.charCodeAt(i) !== 32) i++;
    } else {
      while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
      vStart = i;
      while (i < n && line.charCodeAt(i) !== 32 && line.charCodeAt(i) !== 9) i++;
    }
    if (i === vStart) this.error('expected a value after the series', line);
    const value = parseValue(line.slice(vStart, i));
    if (value === undefined) this.error(`${JSON.stringify(line.slice(vStart, i))} is not a number`, line);
    let time = NaN;
    if (this.om) {
      if (i < n) {
        i++;
        if (line.startsWith('# {', i)) i = this.exemplar(line, i);
        else {
          const tStart = i;
          while (i < n && line.charCodeAt(i) !== 32) i++;
          const seconds = parseValue(line.slice(tStart, i));
          if (seconds === undefined || !Number.isFinite(seconds)) this.error(`the timestamp ${JSON.stringify(line.slice(tStart, i))} is not a number of seconds`, line);
          time = Math.round(seconds * 1000);
          if (i < n) {
            if (!line.startsWith(' # {', i)) this.error('expected an exemplar (" # {...}") or the end of the line after the timestamp', line);
            i = this.exemplar(line, i + 1);
          }
        }
        if (i !== n) this.error('unexpected text at the end of the line', line);
      }
    } else {
      while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
      if (i < n) {
        const tStart = i;
        while (i < n && line.charCodeAt(i) >= 48 && line.charCodeAt(i) <= 57) i++;
        if (i === tStart) this.error('expected a timestamp (whole milliseconds) or the end of the line after the value', line);
        time = Number(line.slice(tStart, i));
        if (!Number.isSafeInteger(time)) this.error(`the timestamp ${line.slice(tStart, i)} is out of range`, line);
        while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
        if (i < n) this.error('expected the end of the line after the timestamp', line);
      }
    }
    this.out.series.push(s);
    this.out.values.push(value);
    this.out.times.push(time);
  }

  /** Checks an OpenMetrics exemplar from `# {` at `at` (its labels, value, timestamp) and returns where it ends; exemplars are not kept. */
  private exemplar(line: string, at: number): number {
    let i = at + 3;
    if (line[i] !== '}') {
      for (;;) {
        const nameEnd = labelNameEnd(line, i);
        if (nameEnd === i || line[nameEnd] !== '=' || line[nameEnd + 1] !== '"') this.error('invalid exemplar labels', line);
        i = quotedEnd(line, nameEnd + 1);
        if (i < 0) this.error('an exemplar label value is not closed', line);
        if (line[i] === ',') i++;
        else if (line[i] === '}') break;
        else this.error('invalid exemplar labels', line);
      }
    }
    i++;
    if (line.charCodeAt(i) !== 32) this.error('expected the exemplar value', line);
    const vStart = ++i;
    while (i < line.length && line.charCodeAt(i) !== 32) i++;
    if (parseValue(line.slice(vStart, i)) === undefined) this.error('the exemplar value is not a number', line);
    if (i < line.length) {
      const tStart = ++i;
      while (i < line.length && line.charCodeAt(i) !== 32) i++;
      if (parseValue(line.slice(tStart, i)) === undefined) this.error('the exemplar timestamp is not a number', line);
    }
    return i;
  }

  /** The full parse of a series' name and labels, strict, from `at`. */
  private parseSeries(line: string, at: number): { name: string; labels: string[]; key: string; end: number } {
    const om = this.om;
    const nameEnd = metricNameEnd(line, at);
    if (nameEnd === at) {
      this.error(line[at] === '{' ? 'a series without a metric name before "{"' : `${JSON.stringify(line[at])} cannot start a metric name`, line);
    }
    const name = line.slice(at, nameEnd);
    let i = nameEnd;
    const skip = () => {
      if (!om) while (line[i] === ' ' || line[i] === '\t') i++;
    };
    skip();
    const pairs: Array<[string, string]> = [];
    if (line[i] !== '{') return this.finish(name, pairs, nameEnd, line);
    i++;
    let first = true;
    for (;;) {
      skip();
      if (line[i] === '}') {
        i++;
        break;
      }
      if (om && !first) {
        if (line[i] !== ',') this.error('expected "," between labels', line);
        i++;
        if (line[i] === '}') this.error('a trailing "," before "}" is not allowed in OpenMetrics', line);
      }
      const lStart = i;
      i = labelNameEnd(line, i);
      if (i === lStart) this.error(i < line.length ? `expected a label name or "}", got ${JSON.stringify(line[i])}` : 'the labels are not closed with "}"', line);
      const lname = line.slice(lStart, i);
      skip();
      if (line[i] !== '=') this.error(`expected "=" after the label name ${lname}`, line);
      i++;
      skip();
      if (line[i] !== '"') this.error(`expected the quoted value of the label ${lname}`, line);
      const vEnd = quotedEnd(line, i);
      if (vEnd < 0) this.error(`the value of the label ${lname} is not closed with '"'`, line);
      pairs.push([lname, unescapeLabel(line.slice(i + 1, vEnd - 1))]);
      i = vEnd;
      skip();
      // The text format allows a trailing comma, and (as Prometheus' parser does) labels without one between them.
      if (!om && line[i] === ',') i++;
      first = false;
    }
    return this.finish(name, pairs, i, line);
  }

  private finish(name: string, pairs: Array<[string, string]>, end: number, line: string): { name: string; labels: string[]; key: string; end: number } {
    const { labelLimit, labelNameLengthLimit, labelValueLengthLimit } = this.limits;
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const labels: string[] = [];
    let key = own(name);
    for (let k = 0; k < pairs.length; k++) {
      const [n, v] = pairs[k];
      if (n === '__name__' || (k > 0 && n === pairs[k - 1][0])) {
        this.fail('parse_error', `line ${this.lineNo}: the label name ${n} is not unique in the series ${name} (in ${snippet(line)})`);
      }
      if (labelNameLengthLimit > 0 && n.length > labelNameLengthLimit) {
        this.fail('label_limit', `line ${this.lineNo}: the label name ${JSON.stringify(n.slice(0, 40))} is longer than label_name_length_limit (${labelNameLengthLimit})`);
      }
      if (labelValueLengthLimit > 0 && v.length > labelValueLengthLimit) {
        this.fail('label_limit', `line ${this.lineNo}: the value of the label ${n} is longer than label_value_length_limit (${labelValueLengthLimit})`);
      }
      if (v === '') continue;
      const on = own(n);
      const ov = own(v);
      labels.push(on, ov);
      key += `\u0000${on}\u0000${ov}`;
    }
    // +1: Prometheus counts the metric name as a label.
    if (labelLimit > 0 && labels.length / 2 + 1 > labelLimit) {
      this.fail('label_limit', `line ${this.lineNo}: the series ${name} has ${labels.length / 2 + 1} labels, more than label_limit (${labelLimit})`);
    }
    return { name: own(name), labels, key, end };
  }
}

/** A string that holds no reference to the (much larger) chunk it was sliced from. */
function own(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}

function metricNameEnd(line: string, i: number): number {
  if (i >= line.length || !METRIC_START.test(line[i])) return i;
  i++;
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i);
    // [a-zA-Z0-9_:]
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 58) || c === 95)) break;
  }
  return i;
}

function labelNameEnd(line: string, i: number): number {
  const c0 = line.charCodeAt(i);
  if (!((c0 >= 97 && c0 <= 122) || (c0 >= 65 && c0 <= 90) || c0 === 95)) return i;
  i++;
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95)) break;
  }
  return i;
}

/** The index after the closing quote of a quoted string starting at `i`, or -1 when it is not closed. */
function quotedEnd(line: string, i: number): number {
  for (let k = i + 1; k < line.length; k++) {
    const c = line.charCodeAt(k);
    if (c === 92) k++;
    else if (c === 34) return k + 1;
  }
  return -1;
}

/** Label values: `\\`, `\"` and `\n` are escapes; any other backslash stays (as Prometheus keeps it). */
function unescapeLabel(v: string): string {
  if (!v.includes('\\')) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c !== '\\' || i + 1 >= v.length) {
      out += c;
      continue;
    }
    const n = v[i + 1];
    if (n === '\\' || n === '"') out += n;
    else if (n === 'n') out += '\n';
    else out += c + n;
    i++;
  }
  return out;
}

/** HELP text: `\\` and `\n` (and in OpenMetrics `\"`) are escapes. */
function unescapeHelp(v: string, om: boolean): string {
  if (!v.includes('\\')) return v;
  return v.replace(om ? /\\([\\n"])/g : /\\([\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/**
 * A sample value as Go's strconv.ParseFloat reads it, without the forms Prometheus excludes (hex
 * floats, `_` separators): decimal numbers, `Inf`/`Infinity` with an optional sign and `NaN`, in
 * any case. A number too large for a double is not one. Undefined when it is not a number.
 */
export function parseValue(t: string): number | undefined {
  const n = t.length;
  if (n === 0) return undefined;
  let plain = true;
  for (let i = 0; i < n; i++) {
    const c = t.charCodeAt(i);
    // 0-9 . e E + -
    if (!((c >= 48 && c <= 57) || c === 46 || c === 101 || c === 69 || c === 43 || c === 45)) {
      plain = false;
      break;
    }
  }
  if (plain) {
    // Of strings made of these characters, Number() takes exactly those Go's ParseFloat takes;
    // "+", "1e", "1-2" and the like are NaN to both. Past the largest double is Go's ErrRange.
    const v = Number(t);
    return Number.isFinite(v) ? v : undefined;
  }
  const lower = t.toLowerCase();
  const sign = lower[0] === '-' ? -1 : 1;
  const body = lower[0] === '-' || lower[0] === '+' ? lower.slice(1) : lower;
  if (body === 'inf' || body === 'infinity') return sign * Infinity;
  if (lower === 'nan') return NaN;
  return undefined;
}

/** A series as messages show it: `name{a="b",...}`, cut short. */
export function describe(s: { name: string; labels: readonly string[] }): string {
  let out = s.name;
  if (s.labels.length > 0) {
    const parts: string[] = [];
    for (let i = 0; i < s.labels.length; i += 2) parts.push(`${s.labels[i]}=${JSON.stringify(s.labels[i + 1])}`);
    out += `{${parts.join(',')}}`;
  }
  return out.length > 160 ? `${out.slice(0, 160)}...` : out;
}

function snippet(line: string): string {
  return JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}...` : line);
}
