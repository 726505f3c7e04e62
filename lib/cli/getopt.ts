// POSIX getopt(3) as NetBSD's tools use it, for the NetBSD-named commands (modload, modstat): short
// options, clustered (`-fP`), arguments attached (`-bx=1`) or separate (`-b x=1`), parsing stops at the
// first operand or at `--` (no GNU-style permutation), with NetBSD libc's two error messages. kernmod's
// own long options (`--json`, `--help`) are taken out first, wherever they appear before `--`.

export interface GetoptResult {
  /** Options in command-line order: [letter, argument or undefined]. */
  options: Array<[string, string | undefined]>;
  operands: string[];
  /** Long options found (without the dashes). */
  long: Set<string>;
  /** NetBSD getopt's message, e.g. "unknown option -- x", when parsing failed. */
  error?: string;
}

export function getopt(argv: readonly string[], optstring: string, longOptions: readonly string[] = []): GetoptResult {
  const long = new Set<string>();
  const args: string[] = [];
  let dashdash = false;
  for (const a of argv) {
    if (!dashdash && a === '--') dashdash = true;
    if (!dashdash && a.startsWith('--') && longOptions.includes(a.slice(2))) long.add(a.slice(2));
    else args.push(a);
  }
  const options: Array<[string, string | undefined]> = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const at = optstring.indexOf(c);
      if (c === ':' || at === -1) return { options, operands: [], long, error: `unknown option -- ${c}` };
      if (optstring[at + 1] === ':') {
        let value = a.slice(j + 1);
        if (value === '') {
          if (i + 1 >= args.length) return { options, operands: [], long, error: `option requires an argument -- ${c}` };
          value = args[++i]!;
        }
        options.push([c, value]);
        break;
      }
      options.push([c, undefined]);
    }
  }
  return { options, operands: args.slice(i), long };
}
