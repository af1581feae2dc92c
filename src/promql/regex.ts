import { RE2JS } from 're2js';

/**
 * Prometheus label regexes, with RE2 semantics: fully anchored (`^(?s:re)$`) and matched in linear
 * time, so no tenant's pattern can hold the process. RE2JS is a pure-JS port of RE2/J (Google's
 * Java port of RE2): same syntax, same refusals (lookaround, backreferences), no native build to
 * fail on a platform without a compiler. What RE2 refuses throws, with RE2's own message.
 */
export interface LabelRegex {
  test(value: string): boolean;
  /** Submatches of a full match (index 0 the whole value, named groups in `groups`), or null. */
  exec(value: string): RegExpExecArray | null;
}

const cache = new Map<string, LabelRegex>();

/** A regex of plain literals needs no engine: a string comparison is far cheaper than RE2JS. */
const META = /[\\.+*?()|[\]{}^$]/;

function literalAlternatives(re: string): string[] | null {
  const parts = re.split('|');
  return parts.every((p) => !META.test(p)) ? parts : null;
}

function wholeMatch(value: string): RegExpExecArray {
  const m = [value] as unknown as RegExpExecArray;
  m.index = 0;
  m.input = value;
  return m;
}

function fromPredicate(test: (value: string) => boolean): LabelRegex {
  return { test, exec: (value) => (test(value) ? wholeMatch(value) : null) };
}

function compile(re: string): LabelRegex {
  const literals = literalAlternatives(re);
  if (literals) {
    if (literals.length === 1) return fromPredicate((v) => v === re);
    const set = new Set(literals);
    return fromPredicate((v) => set.has(v));
  }
  // Under (?s), `literal.*` (`.*` included) is a prefix test and `.+` any non-empty value: the
  // commonest Grafana patterns.
  const prefix = re.slice(0, -2);
  if (re.endsWith('.*') && !META.test(prefix)) return fromPredicate((v) => v.startsWith(prefix));
  if (re === '.+') return fromPredicate((v) => v.length > 0);
  const engine = RE2JS.compile(`^(?s:${re})$`);
  return {
    test: (value) => engine.matches(value),
    exec: (value) => engine.exec(value) as RegExpExecArray | null,
  };
}

/** A fully anchored matcher for a Prometheus label regex; throws RE2's error on invalid syntax. */
export function compileRegex(re: string): LabelRegex {
  let r = cache.get(re);
  if (!r) {
    r = compile(re);
    if (cache.size > 10_000) cache.clear();
    cache.set(re, r);
  }
  return r;
}

/** RE2's reason for refusing a pattern; null when it compiles. */
export function regexError(re: string): string | null {
  try {
    compileRegex(re);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
