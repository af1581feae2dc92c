/**
 * Go RE2 syntax to JavaScript RegExp. Prometheus anchors label regexes (`^(?s:re)$`). Node 20's
 * RegExp has no inline flag groups, so `(?i)` and `(?i:...)` are rewritten into case-folded
 * character sets, `\z` becomes `$`, and `\pL` style classes become `\p{L}` (with the `u` flag).
 */
const cache = new Map<string, RegExp>();

function foldChar(c: string): string {
  const lo = c.toLowerCase();
  const up = c.toUpperCase();
  return lo === up ? c : `[${lo}${up}]`;
}

interface Frame {
  readonly fold: boolean;
}

function translate(src: string): { source: string; unicode: boolean } {
  let out = '';
  let unicode = false;
  const stack: Frame[] = [];
  let fold = false;
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '\\') {
      const n = src[i + 1];
      if (n === 'p' || n === 'P') {
        unicode = true;
        if (src[i + 2] === '{') {
          const end = src.indexOf('}', i);
          out += src.slice(i, end + 1);
          i = end + 1;
        } else {
          out += `\\${n}{${src[i + 2]}}`;
          i += 3;
        }
        continue;
      }
      if (n === 'z') {
        out += '$';
        i += 2;
        continue;
      }
      if (n === 'A') {
        out += '^';
        i += 2;
        continue;
      }
      if (n === 'Q') {
        const end = src.indexOf('\\E', i + 2);
        const lit = src.slice(i + 2, end < 0 ? src.length : end);
        out += lit.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
        i = end < 0 ? src.length : end + 2;
        continue;
      }
      out += fold && /[a-zA-Z]/.test(n) && !/[dDwWsSbBnrtfv0-9x]/.test(n) ? foldChar(n) : c + n;
      i += 2;
      continue;
    }
    if (c === '[') {
      // Copy a character class, case-folding its letters when needed.
      let j = i + 1;
      let cls = '[';
      if (src[j] === '^') {
        cls += '^';
        j++;
      }
      if (src[j] === ']') {
        cls += '\\]';
        j++;
      }
      while (j < src.length && src[j] !== ']') {
        if (src[j] === '\\') {
          cls += src[j] + src[j + 1];
          j += 2;
          continue;
        }
        if (src[j] === '[' && src[j + 1] === ':') {
          const end = src.indexOf(':]', j);
          const name = src.slice(j + 2, end);
          cls += POSIX_CLASSES[name] ?? '';
          j = end + 2;
          continue;
        }
        if (fold && src[j + 1] === '-' && src[j + 2] !== ']' && /[a-zA-Z]/.test(src[j])) {
          const a = src[j];
          const b = src[j + 2];
          cls += `${a.toLowerCase()}-${b.toLowerCase()}${a.toUpperCase()}-${b.toUpperCase()}`;
          j += 3;
          continue;
        }
        cls += fold ? foldChar(src[j]).replace(/[[\]]/g, '') : src[j];
        j++;
      }
      out += cls + ']';
      i = j + 1;
      continue;
    }
    if (c === '(') {
      if (src[i + 1] === '?') {
        const m = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/.exec(src.slice(i));
        if (m && m[1] !== undefined && (m[1] !== '' || m[2] !== undefined || m[3] === ':')) {
          const on = m[1].includes('i');
          const off = (m[2] ?? '').includes('i');
          if (m[3] === ')') {
            // (?i) applies to the rest of the enclosing group.
            if (on) fold = true;
            if (off) fold = false;
            i += m[0].length;
            continue;
          }
          stack.push({ fold });
          if (on) fold = true;
          if (off) fold = false;
          out += '(?:';
          i += m[0].length;
          continue;
        }
        if (src.startsWith('(?P<', i)) {
          stack.push({ fold });
          out += '(?<';
          i += 4;
          continue;
        }
      }
      stack.push({ fold });
      out += c;
      i++;
      continue;
    }
    if (c === ')') {
      const f = stack.pop();
      if (f) fold = f.fold;
      out += c;
      i++;
      continue;
    }
    out += fold ? foldChar(c) : c;
    i++;
  }
  return { source: out, unicode };
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7F', blank: '\\t ', cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9', graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-/:-@[-`{-~', space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z', word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
};

/** A fully anchored matcher for a Prometheus label regex; throws on invalid syntax. */
export function compileRegex(re: string): RegExp {
  let r = cache.get(re);
  if (!r) {
    const { source, unicode } = translate(re);
    r = new RegExp(`^(?:${source})$`, unicode ? 'su' : 's');
    if (cache.size > 10_000) cache.clear();
    cache.set(re, r);
  }
  return r;
}
