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

/**
 * One option of a command, as glibc's getopt_long sees it. A command's table is the single source of
 * its parsing, its man page and its shell completion (the man page and completions are generated from it).
 */
export interface OptionSpec {
  /** Where the parse puts it: aliases (`-c`, `--showconfig`, `--show-config`) share a key. */
  key: string;
  long?: string;
  short?: string;
  /** 'required': `--x=V`, `--x V`, `-xV`, `-x V`; 'optional': only `--x=V` or `-xV`. */
  arg?: 'required' | 'optional';
  /** The argument's name in help (`MSEC`, `FILE`, `DIR`): completion offers files for FILE and DIR. */
  argName?: string;
  help?: string;
}

export interface LongParse {
  /** Options in command-line order. */
  options: Array<{ key: string; value: string | undefined }>;
  operands: string[];
  /** glibc's message without the program name, e.g. "unrecognized option '--bogus'". */
  error?: string;
}

/** The long option `name` (a whole name or glibc's unambiguous prefix), or getopt_long's complaint. */
function matchLong(name: string, arg: string, table: readonly OptionSpec[]): OptionSpec | { error: string } {
  const exact = table.find((o) => o.long === name);
  if (exact) return exact;
  const prefixed = table.filter((o) => o.long?.startsWith(name));
  if (prefixed.length === 0) return { error: `unrecognized option '${arg}'` };
  const first = prefixed[0]!;
  // glibc: prefixes of several options are fine when they all mean the same thing (-i's two names).
  if (prefixed.every((o) => o.key === first.key && o.arg === first.arg)) return first;
  return { error: `option '${arg}' is ambiguous; possibilities:${prefixed.map((o) => ` '--${o.long}'`).join('')}` };
}

/**
 * glibc's getopt_long as kmod's tools call it: options anywhere among the operands (permutation) until
 * `--`, `-` an operand, long options by any unambiguous prefix, and glibc's own error messages.
 */
export function getoptLong(argv: readonly string[], table: readonly OptionSpec[]): LongParse {
  const options: LongParse['options'] = [];
  const operands: string[] = [];
  const fail = (error: string): LongParse => ({ options, operands, error });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const spec = matchLong(a.slice(2, eq === -1 ? undefined : eq), a, table);
      if ('error' in spec) return fail(spec.error);
      let value = eq === -1 ? undefined : a.slice(eq + 1);
      if (spec.arg === undefined && value !== undefined) return fail(`option '--${spec.long}' doesn't allow an argument`);
      if (spec.arg === 'required' && value === undefined) {
        if (i + 1 >= argv.length) return fail(`option '--${spec.long}' requires an argument`);
        value = argv[++i]!;
      }
      options.push({ key: spec.key, value });
      continue;
    }
    if (!a.startsWith('-') || a === '-') {
      operands.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const spec = table.find((o) => o.short === c);
      if (!spec) return fail(`invalid option -- '${c}'`);
      if (spec.arg === undefined) {
        options.push({ key: spec.key, value: undefined });
        continue;
      }
      let value: string | undefined = a.slice(j + 1);
      if (value === '') {
        if (spec.arg === 'optional') value = undefined;
        else if (i + 1 >= argv.length) return fail(`option requires an argument -- '${c}'`);
        else value = argv[++i]!;
      }
      options.push({ key: spec.key, value });
      break;
    }
  }
  return { options, operands };
}

/** The parsed options by key: `has`, the last value, every value, and how many times (for -v -v). */
export class ParsedOptions {
  constructor(readonly parse: LongParse) {}
  has(key: string): boolean {
    return this.parse.options.some((o) => o.key === key);
  }
  last(key: string): string | undefined {
    let v: string | undefined;
    for (const o of this.parse.options) if (o.key === key) v = o.value;
    return v;
  }
  all(key: string): string[] {
    return this.parse.options.filter((o) => o.key === key && o.value !== undefined).map((o) => o.value!);
  }
  count(key: string): number {
    return this.parse.options.filter((o) => o.key === key).length;
  }
}

/** The options every kernmod command adds to kmod's: --json, -h/--help, -V/--version. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { key: 'json', long: 'json', help: 'print the result or the error as JSON' },
  { key: 'version', short: 'V', long: 'version', help: 'show version' },
  { key: 'help', short: 'h', long: 'help', help: 'show this help' },
];

/** True when --json comes before any `--`: a failed parse still answers in the shape asked for. */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}
