// One command-line parser for every kernmod command, driven by the command's option table
// (lib/cli/options.ts): glibc's getopt_long as kmod's tools call it, and POSIX getopt(3) as NetBSD's
// tools call it (short options only, parsing stops at the first operand, NetBSD libc's messages).

/**
 * One option of a command, as glibc's getopt_long sees it. A command's table is the single source of
 * its parsing, its man page and its shell completion (the man page and completions are generated from it).
 */
export interface OptionSpec {
  /**
   * Where the parse puts it (keyOf): by default its long name, else its short letter; aliases (`-c`,
   * `--showconfig`, `--show-config`) share a key.
   */
  key?: string;
  long?: string;
  short?: string;
  /** 'required': `--x=V`, `--x V`, `-xV`, `-x V`; 'optional': only `--x=V` or `-xV`. */
  arg?: 'required' | 'optional';
  /** The argument's name in help (`MSEC`, `FILE`, `DIR`): completion offers files for FILE and DIR. */
  argName?: string;
  help?: string;
}

const keyOf = (o: OptionSpec): string => o.key ?? o.long ?? o.short!;

export interface LongParse {
  /** Options in command-line order, each as it was spelled (`-m`, or `--map` for `--ma`). */
  options: Array<{ key: string; value: string | undefined; spelled: string }>;
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
  if (prefixed.every((o) => keyOf(o) === keyOf(first) && o.arg === first.arg)) return first;
  return { error: `option '${arg}' is ambiguous; possibilities:${prefixed.map((o) => ` '--${o.long}'`).join('')}` };
}

/** How a command reads its command line: whether options may follow operands, and whose error words. */
export interface GetoptStyle {
  /** glibc permutes (options anywhere until `--`); POSIX getopt stops at the first operand. */
  permute: boolean;
  /**
   * 'glibc': long options by any unambiguous prefix, among the options. 'kernmod': a POSIX tool knows
   * no long options, so only kernmod's own (--json, --help) are taken, spelled out, wherever they come
   * before `--`; any other `--x` is the unknown option character '-', as NetBSD's getopt says.
   */
  long: 'glibc' | 'kernmod';
  invalid: (c: string) => string;
  missing: (c: string) => string;
}

/** glibc getopt_long, as kmod's tools and kernmod's own commands parse. */
const GLIBC: GetoptStyle = {
  permute: true,
  long: 'glibc',
  invalid: (c) => `invalid option -- '${c}'`,
  missing: (c) => `option requires an argument -- '${c}'`,
};

/**
 * glibc's words, but the first operand ends the options (as env(1) and timeout(1) parse): `kernmod vm
 * ls -l --help` runs `ls -l --help`.
 */
export const GLIBC_POSIX: GetoptStyle = { ...GLIBC, permute: false };

/** NetBSD libc's getopt(3), as modload(8), modunload(8) and modstat(8) parse. */
export const NETBSD: GetoptStyle = {
  permute: false,
  long: 'kernmod',
  invalid: (c) => `unknown option -- ${c}`,
  missing: (c) => `option requires an argument -- ${c}`,
};

/**
 * getopt_long over a command's table: clustered short options (`-fP`), arguments attached (`-bx=1`,
 * `--x=V`) or separate, long options by any unambiguous prefix, `--` and `-` as glibc treats them, and
 * the style's error messages.
 */
export function getoptLong(argv: readonly string[], table: readonly OptionSpec[], style: GetoptStyle = GLIBC): LongParse {
  const options: LongParse['options'] = [];
  const operands: string[] = [];
  const fail = (error: string): LongParse => ({ options, operands, error });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    const own = style.long === 'kernmod' && a.startsWith('--') ? table.find((o) => o.long === a.slice(2)) : undefined;
    if (own) {
      options.push({ key: keyOf(own), value: undefined, spelled: a });
      continue;
    }
    if (!style.permute && operands.length > 0) {
      operands.push(a);
      continue;
    }
    if (a.startsWith('--') && style.long === 'glibc') {
      const eq = a.indexOf('=');
      const spec = matchLong(a.slice(2, eq === -1 ? undefined : eq), a, table);
      if ('error' in spec) return fail(spec.error);
      let value = eq === -1 ? undefined : a.slice(eq + 1);
      if (spec.arg === undefined && value !== undefined) return fail(`option '--${spec.long}' doesn't allow an argument`);
      if (spec.arg === 'required' && value === undefined) {
        if (i + 1 >= argv.length) return fail(`option '--${spec.long}' requires an argument`);
        value = argv[++i]!;
      }
      options.push({ key: keyOf(spec), value, spelled: `--${spec.long}` });
      continue;
    }
    if (!a.startsWith('-') || a === '-') {
      operands.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const spec = table.find((o) => o.short === c);
      if (!spec) return fail(style.invalid(c));
      if (spec.arg === undefined) {
        options.push({ key: keyOf(spec), value: undefined, spelled: `-${c}` });
        continue;
      }
      let value: string | undefined = a.slice(j + 1);
      if (value === '') {
        if (spec.arg === 'optional') value = undefined;
        else if (i + 1 >= argv.length) return fail(style.missing(c));
        else value = argv[++i]!;
      }
      options.push({ key: keyOf(spec), value, spelled: `-${c}` });
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

/** A --help's option lines, from the table the command parses with: `  -h, --help        show this help`. */
export function optionHelp(table: readonly OptionSpec[]): string {
  const forms = table.map((o) => {
    const arg = o.arg ? ` ${o.argName ?? 'ARG'}` : '';
    return [o.short ? `-${o.short}${o.long ? '' : arg}` : '', o.long ? `--${o.long}${arg}` : ''].filter(Boolean).join(', ');
  });
  const width = Math.max(...forms.map((f) => f.length)) + 2;
  return table.map((o, i) => `  ${forms[i]!.padEnd(width)}${o.help ?? ''}\n`).join('');
}

/** The options every kernmod command adds to kmod's: --json, -h/--help, -V/--version. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { long: 'json', help: 'print the result or the error as JSON' },
  { short: 'V', long: 'version', help: 'show version' },
  { short: 'h', long: 'help', help: 'show this help' },
];

/** True when --json comes before any `--`: a failed parse still answers in the shape asked for. */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}
