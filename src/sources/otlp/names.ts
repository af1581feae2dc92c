/**
 * Prometheus' OTLP translation (github.com/prometheus/otlptranslator, used by Prometheus' and
 * Mimir's OTLP receivers): metric names with unit and type suffixes, label names escaped. The
 * receiver uses the default strategy, `UnderscoreEscapingWithSuffixes`, so a metric sent to
 * Meterway gets the name Prometheus' own receiver would give it; the other strategies are here
 * because the catalogue test proves Meterway's outgoing names survive each of them unchanged.
 * names.test.ts holds upstream's own cases for all of it.
 */
export type OtlpType = 'monotonic_counter' | 'non_monotonic_counter' | 'gauge' | 'histogram' | 'summary';
export type Strategy = 'UnderscoreEscapingWithSuffixes' | 'NoUTF8EscapingWithSuffixes' | 'UnderscoreEscapingWithoutSuffixes' | 'NoTranslation';

const UNIT_MAP: ReadonlyMap<string, string> = new Map([
  ['d', 'days'], ['h', 'hours'], ['min', 'minutes'], ['s', 'seconds'], ['ms', 'milliseconds'], ['us', 'microseconds'], ['ns', 'nanoseconds'],
  ['By', 'bytes'], ['KiBy', 'kibibytes'], ['MiBy', 'mebibytes'], ['GiBy', 'gibibytes'], ['TiBy', 'tibibytes'],
  ['KBy', 'kilobytes'], ['MBy', 'megabytes'], ['GBy', 'gigabytes'], ['TBy', 'terabytes'],
  ['m', 'meters'], ['V', 'volts'], ['A', 'amperes'], ['J', 'joules'], ['W', 'watts'], ['g', 'grams'],
  ['Cel', 'celsius'], ['Hz', 'hertz'], ['1', ''], ['%', 'percent'],
]);
const PER_UNIT_MAP: ReadonlyMap<string, string> = new Map([
  ['s', 'second'], ['m', 'minute'], ['h', 'hour'], ['d', 'day'], ['w', 'week'], ['mo', 'month'], ['y', 'year'],
]);

/** a-z, A-Z, 0-9 and ':' (the underscore is not: it separates tokens). */
function isCompliantChar(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === ':';
}

/** Go's strings.FieldsFunc: the non-empty runs between separator runes (runes, not UTF-16 units). */
function fields(s: string, isSep: (c: string) => boolean): string[] {
  const out: string[] = [];
  let cur = '';
  for (const c of s) {
    if (isSep(c)) {
      if (cur !== '') out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur !== '') out.push(cur);
  return out;
}

function buildUnitSuffixes(unit: string): [main: string, per: string] {
  const slash = unit.indexOf('/');
  const tokens = slash < 0 ? [unit] : [unit.slice(0, slash), unit.slice(slash + 1)];
  let main = '';
  let per = '';
  const mainOtel = tokens[0].trim();
  if (mainOtel !== '' && !/[{}]/.test(mainOtel)) main = UNIT_MAP.has(mainOtel) ? (UNIT_MAP.get(mainOtel) as string) : mainOtel;
  if (tokens.length > 1 && tokens[1] !== '') {
    const perOtel = tokens[1].trim();
    if (perOtel !== '' && !/[{}]/.test(perOtel)) per = PER_UNIT_MAP.get(perOtel) ?? perOtel;
    if (per !== '') per = 'per_' + per;
  }
  return [main, per];
}

function collapseUnderscores(s: string): string {
  return s.replace(/_+/g, '_');
}

function cleanUpUnit(unit: string): string {
  let mapped = '';
  for (const c of unit) mapped += isCompliantChar(c) ? c : '_';
  const collapsed = collapseUnderscores(mapped);
  return collapsed.startsWith('_') ? collapsed.slice(1) : collapsed;
}

function addUnitTokens(tokens: string[], mainIn: string, perIn: string): string[] {
  let main = mainIn;
  let per = perIn;
  if (tokens.includes(main)) main = '';
  if (per === 'per_') per = '';
  else {
    if (per.endsWith('_')) per = per.slice(0, -1);
    if (tokens.includes(per)) per = '';
  }
  if (per !== '' && main.endsWith('_')) main = main.slice(0, -1);
  const out = [...tokens];
  if (main !== '') out.push(main);
  if (per !== '') out.push(per);
  return out;
}

const startsWithDigit = (s: string) => s !== '' && s[0] >= '0' && s[0] <= '9';

function normalizeName(name: string, unit: string, type: OtlpType, namespace: string): string {
  let tokens = fields(name, (c) => !isCompliantChar(c));
  const [main, per] = buildUnitSuffixes(unit);
  tokens = addUnitTokens(tokens, cleanUpUnit(main), cleanUpUnit(per));
  if (type === 'monotonic_counter') tokens = [...tokens.filter((t) => t !== 'total'), 'total'];
  if (unit === '1' && type === 'gauge') tokens = [...tokens.filter((t) => t !== 'ratio'), 'ratio'];
  if (namespace !== '') tokens = [namespace, ...tokens];
  const joined = tokens.join('_');
  return startsWithDigit(joined) ? '_' + joined : joined;
}

/** Go's trimSuffixAndDelimiter, in bytes as Go counts them. */
function trimSuffixAndDelimiter(name: string, suffix: string): string {
  const nb = Buffer.from(name, 'utf8');
  const sb = Buffer.byteLength(suffix, 'utf8');
  if (name.endsWith(suffix) && nb.length > sb + 1) return nb.subarray(0, nb.length - (sb + 1)).toString('utf8');
  return name;
}

function buildMetricName(input: string, unit: string, type: OtlpType, namespace: string, withSuffixes: boolean): string {
  let name = namespace !== '' ? `${namespace}_${input}` : input;
  if (!withSuffixes) return name;
  const ratio = unit === '1' && type === 'gauge';
  if (ratio) name = trimSuffixAndDelimiter(name, 'ratio');
  const total = type === 'monotonic_counter';
  if (total) name = trimSuffixAndDelimiter(name, 'total');
  const [main, per] = buildUnitSuffixes(unit);
  if (per !== '') name = trimSuffixAndDelimiter(name, per);
  if (main !== '' && !name.endsWith(main)) name = `${name}_${main}`;
  // Go appends these in deferred calls, so in reverse order of registration.
  if (per !== '') name = `${name}_${per}`;
  if (total) name = `${name}_total`;
  if (ratio) name = `${name}_ratio`;
  return name;
}

/** MetricNamer.Build: the translated name, or an Error where Prometheus refuses the metric. */
export function translateMetricName(name: string, unit: string, type: OtlpType, strategy: Strategy = 'UnderscoreEscapingWithSuffixes', namespace = ''): string | Error {
  const escape = strategy === 'UnderscoreEscapingWithSuffixes' || strategy === 'UnderscoreEscapingWithoutSuffixes';
  const suffixes = strategy === 'UnderscoreEscapingWithSuffixes' || strategy === 'NoUTF8EscapingWithSuffixes';
  if (!escape) return buildMetricName(name, unit, type, namespace, suffixes);
  let out: string;
  if (suffixes) out = normalizeName(name, unit, type, namespace);
  else {
    const metric = fields(name, (c) => !isCompliantChar(c) && c !== '_').join('_');
    if (namespace !== '') out = fields(namespace, (c) => !isCompliantChar(c) && c !== '_').join('_') + '_' + metric;
    else out = startsWithDigit(metric) ? '_' + metric : metric;
  }
  if (out === '') return new Error(`normalization for metric "${name}" resulted in empty name`);
  if (out !== name && /^_+$/.test(out)) return new Error(`normalization for metric "${name}" resulted in invalid name "${out}"`);
  return out;
}

/**
 * LabelNamer.Build with UTF-8 off: invalid characters become '_', a leading digit or single '_'
 * gets a `key` prefix, and a name that ends up only underscores (or empty) is refused.
 */
export function translateLabelName(label: string): string | Error {
  if (label.length === 0) return new Error('normalization for label name "" resulted in empty name');
  let out = label.replace(/[^a-zA-Z0-9_]/g, '_');
  if (out[0] >= '0' && out[0] <= '9') out = `key_${out}`;
  else if (out.startsWith('_') && !out.startsWith('__')) out = `key${out}`;
  if (out !== label && /^_+$/.test(out)) return new Error(`normalization for label name ${JSON.stringify(label)} resulted in invalid name ${JSON.stringify(out)}`);
  return out;
}

/** UnitNamer.Build: the unit word a translated name ends with (`seconds`, `bytes_per_second`), or ''. */
export function prometheusUnit(unit: string): string {
  const [main, per] = buildUnitSuffixes(unit);
  const m = cleanUpUnit(main);
  const p = cleanUpUnit(per);
  let u = m !== '' && p !== '' ? `${m}_${p}` : m !== '' ? m : p;
  if (u.startsWith('_')) u = u.slice(1);
  if (u.endsWith('_')) u = u.slice(0, -1);
  return u;
}
