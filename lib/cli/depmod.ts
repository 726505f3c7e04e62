// `kernmod depmod [-aAenvw] [-b BASE] [-C CONFIG] [-E Module.symvers | -F System.map] [-o DIR] [-P C]
// [VERSION] [FILES...]`: kmod 30's depmod command line over lib/depmod — GNU option parsing, the same
// `depmod: LEVEL: ...` lines on stderr, -v's `needs` lines on stdout, exit status 1 where kmod's is.
// -o/--outdir is kmod 31's. --json prints the result (or the error) as JSON instead.
import { depmod, DepmodError, type DepmodMessage, type DepmodOptions } from '../depmod/index.js';
import { KernmodError } from '../errors.js';
import { wantsJson } from './getopt.js';
import { printJson, reportUsageError, type Io } from './output.js';

const HELP = `Usage:
\tdepmod -[aA] [options] [forced_version]

If no arguments (except options) are given, "depmod -a" is assumed

depmod will output a dependency list suitable for the modprobe utility.

Options:
\t-a, --all            Probe all modules
\t-A, --quick          Only does the work if there's a new module
\t-e, --errsyms        Report not supplied symbols
\t-n, --show           Write the dependency file on stdout only
\t-P, --symbol-prefix  Architecture symbol prefix
\t-C, --config=PATH    Read configuration from PATH
\t-v, --verbose        Enable verbose mode
\t-w, --warn           Warn on duplicates
\t-o, --outdir=DIR     Output directory for generated files
\t-V, --version        show version
\t-h, --help           show this help
\t    --json           print the result as JSON

The following options are useful for people managing distributions:
\t-b, --basedir=DIR    Use an image of a module tree.
\t-F, --filesyms=FILE  Use the file instead of the
\t                     current kernel symbols.
\t-E, --symvers=FILE   Use Module.symvers file to check
\t                     symbol versions.
`;

const SHORT = 'aAb:C:E:F:euqrvnP:wmVho:';
const LONG: Record<string, { letter: string; arg: boolean }> = {
  all: { letter: 'a', arg: false },
  quick: { letter: 'A', arg: false },
  basedir: { letter: 'b', arg: true },
  config: { letter: 'C', arg: true },
  symvers: { letter: 'E', arg: true },
  filesyms: { letter: 'F', arg: true },
  errsyms: { letter: 'e', arg: false },
  'unresolved-error': { letter: 'u', arg: false },
  quiet: { letter: 'q', arg: false },
  root: { letter: 'r', arg: false },
  verbose: { letter: 'v', arg: false },
  show: { letter: 'n', arg: false },
  'dry-run': { letter: 'n', arg: false },
  'symbol-prefix': { letter: 'P', arg: true },
  warn: { letter: 'w', arg: false },
  map: { letter: 'm', arg: false },
  outdir: { letter: 'o', arg: true },
  version: { letter: 'V', arg: false },
  help: { letter: 'h', arg: false },
  json: { letter: 'json', arg: false },
};

interface Parsed {
  options: Array<{ letter: string; value?: string; long?: string }>;
  operands: string[];
}

/** GNU getopt_long with argument permutation, and its error lines. */
export function parseDepmodArgs(argv: readonly string[]): Parsed | { error: string } {
  const options: Parsed['options'] = [];
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq === -1 ? undefined : eq);
      const matches = Object.keys(LONG).filter((k) => k.startsWith(name));
      const exact = LONG[name] ? name : matches.length === 1 || new Set(matches.map((m) => LONG[m]!.letter)).size === 1 ? matches[0] : undefined;
      if (exact === undefined) return { error: matches.length > 1 ? `option '${a}' is ambiguous` : `unrecognized option '${a}'` };
      const spec = LONG[exact]!;
      if (spec.arg) {
        let value = eq === -1 ? undefined : a.slice(eq + 1);
        if (value === undefined) {
          if (i + 1 >= argv.length) return { error: `option '--${exact}' requires an argument` };
          value = argv[++i]!;
        }
        options.push({ letter: spec.letter, value, long: exact });
      } else {
        if (eq !== -1) return { error: `option '--${exact}' doesn't allow an argument` };
        options.push({ letter: spec.letter, long: exact });
      }
      continue;
    }
    if (!a.startsWith('-') || a === '-') {
      operands.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const at = SHORT.indexOf(c);
      if (c === ':' || at === -1) return { error: `invalid option -- '${c}'` };
      if (SHORT[at + 1] === ':') {
        let value = a.slice(j + 1);
        if (value === '') {
          if (i + 1 >= argv.length) return { error: `option requires an argument -- '${c}'` };
          value = argv[++i]!;
        }
        options.push({ letter: c, value });
        break;
      }
      options.push({ letter: c });
    }
  }
  return { options, operands };
}

/** kmod's log levels and the verbosity at which each is printed (syslog priorities). */
const PRIORITY: Record<DepmodMessage['level'], number> = { FATAL: 2, ERROR: 3, WARNING: 4, INFO: 6 };
const DEFAULT_VERBOSE = 4;

function printMessages(io: Io, messages: readonly DepmodMessage[], verbose: number): void {
  for (const m of messages) if (PRIORITY[m.level] <= verbose) io.err(`depmod: ${m.level}: ${m.text}`);
}

export async function depmodCommand(argv: string[], io: Io): Promise<number> {
  const parsed = parseDepmodArgs(argv);
  if ('error' in parsed) return reportUsageError(io, 'depmod', parsed.error, wantsJson(argv));
  const opts: DepmodOptions = {};
  const early: DepmodMessage[] = [];
  let all = false;
  let verbose = DEFAULT_VERBOSE;
  let json = false;
  for (const { letter, value, long } of parsed.options) {
    switch (letter) {
      case 'a':
        all = true;
        break;
      case 'A':
        opts.quick = true;
        break;
      case 'b':
        opts.basedir = value!;
        break;
      case 'C':
        (opts.config ??= []).push(value!);
        break;
      case 'E':
        opts.symvers = value!;
        break;
      case 'F':
        opts.systemMap = value!;
        break;
      case 'e':
        opts.errsyms = true;
        break;
      case 'v':
        verbose++;
        break;
      case 'n':
        opts.dryRun = true;
        break;
      case 'P':
        if (value!.length !== 1) {
          io.err('depmod: FATAL: -P only takes a single char\n');
          return 1;
        }
        opts.symbolPrefix = value!;
        break;
      case 'w':
        opts.warnDuplicates = true;
        break;
      case 'o':
        opts.outdir = value!;
        break;
      case 'u':
      case 'q':
      case 'r':
      case 'm':
        early.push({ level: 'WARNING', text: long ? `Ignored deprecated option --${long}\n` : `Ignored deprecated option -${letter}\n` });
        break;
      case 'h':
        io.out(HELP);
        return 0;
      case 'V':
        io.out('kernmod depmod (kmod version 30 compatible)\n+ZSTD +XZ +ZLIB\n');
        return 0;
      case 'json':
        json = true;
        break;
    }
  }
  const [version, ...files] = parsed.operands;
  if (version !== undefined) opts.kernelVersion = version;
  // Files name the modules to index only without -a (kmod: no operand besides the version means -a).
  if (!all && files.length > 0) opts.files = files;

  try {
    const result = await depmod(opts);
    if (json) {
      printJson(io, { ok: true, ...result, messages: [...early, ...result.messages] });
      return 0;
    }
    printMessages(io, early, verbose);
    if (verbose > DEFAULT_VERBOSE) for (const line of result.needs) io.out(line);
    printMessages(io, result.messages, verbose);
    if (result.output !== undefined) io.out(Buffer.from(result.output, 'latin1').toString('utf8'));
    return 0;
  } catch (e) {
    if (json) {
      const body = e instanceof KernmodError ? e.toJSON() : { name: 'Error', message: String((e as Error)?.message ?? e) };
      printJson(io, { ok: false, error: body, messages: [...early, ...(e instanceof DepmodError ? e.messages : [])] });
      return 1;
    }
    printMessages(io, early, verbose);
    if (e instanceof DepmodError) {
      printMessages(io, e.messages, verbose);
      return 1;
    }
    io.err(`depmod: ERROR: ${(e as Error)?.message ?? String(e)}\n`);
    if (e instanceof KernmodError && e.hint) io.err(`depmod: hint: ${e.hint}\n`);
    return 1;
  }
}
