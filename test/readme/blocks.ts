/**
 * The README's shell blocks as commands, and the outputs it shows for them, for
 * test/readme/readme.test.ts.
 *
 * What is a command: every fenced ```sh or ```bash block of README.md is run, in order. A command is
 * one line, or several joined by a trailing backslash. A whole-line comment `# ...` after a command
 * is an output the README shows for it (see `matchOutput`); blank lines separate nothing.
 *
 * What the test changes, without being told per block: `127.0.0.1:9470` becomes the gateway's
 * ephemeral port; `npx meterway` and `npm start` run this checkout's CLI (see readme.test.ts).
 *
 * What a block asks for: an HTML comment directly before its fence (blank lines between allowed),
 * invisible on GitHub, one directive a line:
 *
 *     <!-- readme-test
 *     skip: why it is not run
 *     background: why (a server: started in the background, waited for on /healthz, stopped at the end)
 *     env: NAME=value (why)          the command runs with NAME=value in front of it
 *     replace: FROM => TO            FROM (literal text) becomes TO (bash text: $VARS and $(...) work)
 *     requires: promtool >= 2.43     run only when the installed promtool is that new; skipped, and said so, otherwise
 *     -->
 *
 * The variables a `replace:` may use are the ones readme.test.ts exports (OTLP_RECEIVER_URL, MW_PORT).
 * A replacement applies to the outputs shown in the block too, unless its TO runs a command.
 */

export interface Directives {
  skip?: string;
  background?: string;
  env: Array<{ name: string; value: string }>;
  replace: Array<{ from: string; to: string }>;
  requires?: { tool: string; version: string };
}

export interface Block {
  /** The `##` heading the block is under. */
  section: string;
  /** 1-based line of the opening fence in README.md. */
  line: number;
  lang: string;
  text: string;
  directives: Directives;
}

export interface Command {
  block: Block;
  /** 1-based line of the command in README.md. */
  line: number;
  /** As printed in the README. */
  printed: string;
  /** After the block's replacements (not the port: the script does that). */
  text: string;
  /**
   * The `# ...` lines after it, without the `# `, after the block's replacements whose TO runs no
   * command (`$(...)`); `$NAME`s in them are for the caller to expand (`expandVars`).
   */
  expected: string[];
}

const DIRECTIVE = /<!--\s*readme-test\b([\s\S]*?)-->\s*$/;

export function parseDirectives(body: string): Directives {
  const d: Directives = { env: [], replace: [] };
  for (const raw of body.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const m = /^(skip|background|env|replace|requires)\s*(?::\s*(.*))?$/.exec(line);
    if (m === null) throw new Error(`README readme-test directive not understood: "${line}"`);
    const value = (m[2] ?? '').trim();
    switch (m[1]) {
      case 'skip':
        if (value === '') throw new Error('readme-test skip: needs a reason');
        d.skip = value;
        break;
      case 'background':
        d.background = value || 'a server';
        break;
      case 'env': {
        const e = /^([A-Za-z_][A-Za-z0-9_]*)=(\S*)/.exec(value);
        if (e === null) throw new Error(`readme-test env: wants NAME=value, got "${value}"`);
        d.env.push({ name: e[1], value: e[2] });
        break;
      }
      case 'replace': {
        const i = value.indexOf(' => ');
        if (i <= 0) throw new Error(`readme-test replace: wants "FROM => TO", got "${value}"`);
        d.replace.push({ from: value.slice(0, i).trim(), to: value.slice(i + 4).trim() });
        break;
      }
      case 'requires': {
        const r = /^(\S+)\s*>=\s*(\d+(?:\.\d+)*)$/.exec(value);
        if (r === null) throw new Error(`readme-test requires: wants "tool >= version", got "${value}"`);
        d.requires = { tool: r[1], version: r[2] };
        break;
      }
    }
  }
  return d;
}

/** Every fenced block of the README with its section and directives (any language). */
export function fencedBlocks(readme: string): Block[] {
  const lines = readme.split('\n');
  const blocks: Block[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^##\s+(.*)$/.exec(lines[i]);
    if (heading !== null) {
      section = heading[1].trim();
      continue;
    }
    const fence = /^```(\S*)\s*$/.exec(lines[i]);
    if (fence === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    if (i >= lines.length) throw new Error(`README.md line ${start + 1}: a fence that is never closed`);
    // The directive comment: the text before the fence, up to the previous non-blank line's comment.
    let j = start - 1;
    while (j >= 0 && lines[j].trim() === '') j--;
    let directives: Directives = { env: [], replace: [] };
    if (j >= 0 && lines[j].trim().endsWith('-->')) {
      let k = j;
      while (k >= 0 && !lines[k].includes('<!--')) k--;
      const comment = lines.slice(k, j + 1).join('\n');
      const m = DIRECTIVE.exec(comment);
      if (m !== null) directives = parseDirectives(m[1]);
    }
    blocks.push({ section, line: start + 1, lang: fence[1], text: body.join('\n'), directives });
  }
  return blocks;
}

export const isShell = (b: Block) => b.lang === 'sh' || b.lang === 'bash';

/** A block's commands, each with the outputs shown after it. */
export function commandsOf(block: Block): Command[] {
  for (const r of block.directives.replace) {
    if (!block.text.includes(r.from)) throw new Error(`README.md line ${block.line}: replace "${r.from}" matches nothing in its block`);
  }
  const out: Command[] = [];
  const lines = block.text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    if (/^\s*#/.test(line)) {
      const prev = out[out.length - 1];
      if (prev === undefined) throw new Error(`README.md line ${block.line + 1 + i}: an output comment before any command`);
      let shown = line.replace(/^\s*#\s?/, '');
      for (const r of block.directives.replace) if (!r.to.includes('$(')) shown = shown.split(r.from).join(r.to);
      prev.expected.push(shown);
      continue;
    }
    const first = i;
    let printed = line;
    while (printed.endsWith('\\') && i + 1 < lines.length) printed += `\n${lines[++i]}`;
    let text = printed;
    for (const r of block.directives.replace) text = text.split(r.from).join(r.to);
    if (block.directives.env.length > 0) text = `${block.directives.env.map((e) => `${e.name}=${e.value}`).join(' ')} ${text}`;
    out.push({ block, line: block.line + 1 + first, printed, text, expected: [] });
  }
  return out;
}

// ---- comparing what a command printed with what the README shows ----

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
/** An id written as a placeholder: a prefix and a run of x, like `i-xxxxxxxxxxxx`. */
const PLACEHOLDER_ID = /^([a-z]+[-_])(x{4,})$/;

/**
 * Whether `actual` has the shape and values of `expected`, where values that vary from run to run
 * match any value of their kind: a number from 1e9 up (a Unix time, s or ms) any such number, an
 * RFC 3339 time any RFC 3339 time, a placeholder id (`i-xxxxxxxxxxxx`) any id with its prefix and
 * length. Objects must have the same keys; arrays the same length. Returns the first difference.
 */
export function jsonDifference(expected: unknown, actual: unknown, path = '$'): string | undefined {
  if (typeof expected === 'number') {
    if (typeof actual !== 'number') return `${path}: expected a number, got ${JSON.stringify(actual)}`;
    if (expected >= 1e9 ? actual >= 1e9 : expected === actual) return undefined;
    return `${path}: expected ${expected}, got ${actual}`;
  }
  if (typeof expected === 'string') {
    if (typeof actual !== 'string') return `${path}: expected a string, got ${JSON.stringify(actual)}`;
    if (expected === actual) return undefined;
    if (ISO_TIME.test(expected) && ISO_TIME.test(actual)) return undefined;
    const p = PLACEHOLDER_ID.exec(expected);
    if (p !== null && actual.startsWith(p[1]) && actual.length === expected.length) return undefined;
    return `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array, got ${JSON.stringify(actual)}`;
    if (actual.length !== expected.length) return `${path}: expected ${expected.length} elements, got ${actual.length}: ${JSON.stringify(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const d = jsonDifference(expected[i], actual[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `${path}: expected an object, got ${JSON.stringify(actual)}`;
    const ek = Object.keys(expected).sort();
    const ak = Object.keys(actual).sort();
    if (JSON.stringify(ek) !== JSON.stringify(ak)) return `${path}: expected keys ${ek.join(',')}, got ${ak.join(',')}`;
    for (const k of ek) {
      const d = jsonDifference((expected as Record<string, unknown>)[k], (actual as Record<string, unknown>)[k], `${path}.${k}`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return expected === actual ? undefined : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

export interface SeriesLine {
  name: string;
  labels: Record<string, string>;
}

/**
 * A series as the exposition format writes it (`name{a="b",c="d"} 1`) or promtool does
 * (`name{a="b", c="d"} => 1 @[...]`): its name and labels; undefined for anything else.
 */
export function parseSeriesLine(line: string): SeriesLine | undefined {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}(\s.*)?$/.exec(line.trim());
  if (m === null) return undefined;
  const labels: Record<string, string> = {};
  const body = m[2];
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;
  let pos = 0;
  while (pos < body.length) {
    re.lastIndex = pos;
    const lm = re.exec(body);
    if (lm === null) {
      if (body.slice(pos).trim() === '') break;
      return undefined;
    }
    labels[lm[1]] = lm[2];
    pos = re.lastIndex;
  }
  return { name: m[1], labels };
}

const sameSeries = (a: SeriesLine, b: SeriesLine) =>
  a.name === b.name && JSON.stringify(Object.entries(a.labels).sort()) === JSON.stringify(Object.entries(b.labels).sort());

/** `$NAME` and `${NAME}` from `vars`; others are left as they are. */
export function expandVars(text: string, vars: Readonly<Record<string, string | undefined>>): string {
  return text.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, name: string) => vars[name] ?? m);
}

/**
 * What varies in a line of text made one token each: RFC 3339 times, ids (`i-` and 12 characters,
 * so the README's `i-xxxxxxxxxxxx` too), a token's shown prefix (`mw_ingest_AbCd…`), then numbers;
 * runs of spaces (table columns) as one.
 */
export const normalizeText = (s: string) =>
  s
    .trim()
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/g, 'TIME')
    .replace(/\b[a-z]-[a-z0-9]{12}\b/g, 'ID')
    .replace(/\b(mw_[a-z]+_)\S*…/g, '$1…')
    .replace(/\d+(\.\d+)?/g, 'N')
    .replace(/\s+/g, ' ');

/**
 * Checks a command's stdout against the outputs the README shows after it: a JSON line against the
 * whole output parsed as JSON (`jsonDifference`); a series line against some series line of the
 * output with the same name and labels (values vary); any other line against some output line, both
 * normalized (`normalizeText`). Returns the problems, none when it matches.
 */
export function matchOutput(expected: readonly string[], stdout: string): string[] {
  const problems: string[] = [];
  const outLines = stdout.split('\n').filter((l) => l.trim() !== '');
  for (const want of expected) {
    const t = want.trim();
    if (t.startsWith('{') || t.startsWith('[')) {
      let wantJson: unknown;
      try {
        wantJson = JSON.parse(t);
      } catch {
        problems.push(`the README's output ${t} is not valid JSON`);
        continue;
      }
      let got: unknown;
      try {
        got = JSON.parse(stdout);
      } catch {
        problems.push(`expected JSON like ${t}, got: ${stdout.slice(0, 500)}`);
        continue;
      }
      const d = jsonDifference(wantJson, got);
      if (d !== undefined) problems.push(`${d}\n  whole output: ${stdout.slice(0, 1000)}`);
      continue;
    }
    const series = parseSeriesLine(t);
    if (series !== undefined) {
      if (!outLines.some((l) => {
        const s = parseSeriesLine(l);
        return s !== undefined && sameSeries(s, series);
      })) problems.push(`no series ${t} (by name and labels) in the output:\n${stdout.slice(0, 1500)}`);
      continue;
    }
    if (!outLines.some((l) => normalizeText(l) === normalizeText(t))) problems.push(`no line like "${t}" in the output:\n${stdout.slice(0, 1500)}`);
  }
  return problems;
}

/** Compares dotted versions: negative, zero or positive like a comparator. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
