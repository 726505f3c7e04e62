// glibc fnmatch(pattern, string, 0) in the C locale: the matcher kmod uses for modules.alias patterns,
// config `alias` wildcards, and the module names of `softdep`/`install`/`remove` lines. With flags 0,
// `*` and `?` also match `/` and a leading `.`; `\` escapes the next character; `[...]` takes `!` or
// `^` for negation, ranges, and `[:class:]`; an unterminated `[` is an ordinary character. Strings are
// compared by UTF-16 code unit, which equals glibc's bytes for the ASCII that aliases are made of. Pure.

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

const CLASSES: Record<string, (c: number) => boolean> = {
  alnum: (c) => isDigit(c) || isAlpha(c),
  alpha: isAlpha,
  blank: (c) => c === 0x20 || c === 0x09,
  cntrl: (c) => c < 0x20 || c === 0x7f,
  digit: isDigit,
  graph: (c) => c > 0x20 && c < 0x7f,
  lower: (c) => c >= 0x61 && c <= 0x7a,
  print: (c) => c >= 0x20 && c < 0x7f,
  punct: (c) => c > 0x20 && c < 0x7f && !isDigit(c) && !isAlpha(c),
  space: (c) => c === 0x20 || (c >= 0x09 && c <= 0x0d),
  upper: (c) => c >= 0x41 && c <= 0x5a,
  xdigit: (c) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66),
};

/**
 * Reads the bracket expression `[...]` starting after the `[` at p: whether `c` matched, and the index
 * just past its `]`; undefined if unterminated (then `[` is literal).
 */
function bracket(pat: string, p: number, c: number): { matched: boolean; end: number } | undefined {
  let negate = false;
  if (pat[p] === '!' || pat[p] === '^') {
    negate = true;
    p++;
  }
  let matched = false;
  let first = true;
  for (;;) {
    if (p >= pat.length) return undefined;
    let ch = pat.charCodeAt(p);
    if (ch === 0x5d /* ] */ && !first) return { matched: matched !== negate, end: p + 1 };
    first = false;
    if (ch === 0x5b /* [ */ && pat[p + 1] === ':') {
      const close = pat.indexOf(':]', p + 2);
      if (close !== -1) {
        const test = CLASSES[pat.slice(p + 2, close)];
        // glibc: an unknown class name makes the whole pattern fail to match.
        if (test === undefined) return { matched: false, end: close + 2 };
        if (test(c)) matched = true;
        p = close + 2;
        continue;
      }
    }
    if (ch === 0x5c /* \ */) {
      p++;
      if (p >= pat.length) return undefined;
      ch = pat.charCodeAt(p);
    }
    p++;
    // A range `a-z`, unless the `-` is the last character before `]`.
    if (pat[p] === '-' && p + 1 < pat.length && pat[p + 1] !== ']') {
      p++;
      let hi = pat.charCodeAt(p);
      if (hi === 0x5c) {
        p++;
        if (p >= pat.length) return undefined;
        hi = pat.charCodeAt(p);
      }
      p++;
      if (c >= ch && c <= hi) matched = true;
    } else if (c === ch) {
      matched = true;
    }
  }
}

/** fnmatch(pattern, string, 0) === 0. */
export function fnmatch(pattern: string, string: string): boolean {
  let p = 0;
  let s = 0;
  // Backtracking point for the most recent `*`: glibc's result is the same as this greedy-with-retry
  // search, because with flags 0 every `*` may absorb any character.
  let starP = -1;
  let starS = -1;
  while (s < string.length || p < pattern.length) {
    if (p < pattern.length) {
      const pc = pattern.charCodeAt(p);
      if (pc === 0x2a /* * */) {
        // Collapse runs of `*`.
        while (pattern.charCodeAt(p) === 0x2a) p++;
        if (p === pattern.length) return true;
        starP = p;
        starS = s;
        continue;
      }
      if (s < string.length) {
        const c = string.charCodeAt(s);
        if (pc === 0x3f /* ? */) {
          p++;
          s++;
          continue;
        }
        if (pc === 0x5b /* [ */) {
          const b = bracket(pattern, p + 1, c);
          if (b !== undefined) {
            if (b.matched) {
              p = b.end;
              s++;
              continue;
            }
          } else if (c === pc) {
            p++;
            s++;
            continue;
          }
        } else if (pc === 0x5c /* \ */) {
          // A trailing backslash matches nothing (glibc: "Trailing \ loses").
          if (p + 1 < pattern.length && pattern.charCodeAt(p + 1) === c) {
            p += 2;
            s++;
            continue;
          }
        } else if (pc === c) {
          p++;
          s++;
          continue;
        }
      }
    }
    // Mismatch: let the last `*` absorb one more character, if there is one to absorb.
    if (starP !== -1 && starS < string.length) {
      starS++;
      s = starS;
      p = starP;
      continue;
    }
    return false;
  }
  return true;
}

/** Whether a pattern contains fnmatch syntax (kmod's trie search treats `*`, `?`, `[` as wildcards). */
export function hasWildcard(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/**
 * The longest run of plain characters in a pattern: any string the pattern matches contains it, so
 * `string.includes(run)` is a cheap test that rejects most of the thousands of modules.alias patterns a
 * device string is tried against before fnmatch runs.
 */
export function literalRun(pattern: string): string {
  let best = '';
  let run = '';
  const end = () => {
    if (run.length > best.length) best = run;
    run = '';
  };
  for (let p = 0; p < pattern.length; p++) {
    const c = pattern[p]!;
    if (c === '*' || c === '?') end();
    else if (c === '\\') {
      end();
      p++; // the escaped character: left out, to stay simple and safe
    } else if (c === '[') {
      end();
      // Skip the bracket (its members are not literals); bracket() finds where it ends. Unterminated:
      // fnmatch reads `[` literally, but nothing after it is counted either (still a valid necessary test).
      const b = bracket(pattern, p + 1, 0);
      if (b === undefined) return best;
      p = b.end - 1;
    } else run += c;
  }
  end();
  return best;
}
