// `kernmod depmod [-aAenvw] [-b BASE] [-C CONFIG] [-E Module.symvers | -F System.map] [-o DIR] [-P C]
// [VERSION] [FILES...]`: kmod 30's depmod command line over lib/depmod — GNU option parsing, the same
// `depmod: LEVEL: ...` lines on stderr, -v's `needs` lines on stdout, exit status 1 where kmod's is.
// -o/--outdir is kmod 31's. --json prints the result (or the error) as JSON instead.
import { depmod, DepmodError, type DepmodMessage, type DepmodOptions, type DepmodResult } from '../depmod/depmod.js';
import { KernmodError } from '../errors.js';
import { getoptLong, wantsJson } from './getopt.js';
import { DEPMOD_OPTIONS } from './options.js';
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

/** kmod's log levels and the verbosity at which each is printed (syslog priorities). */
const PRIORITY: Record<DepmodMessage['level'], number> = { FATAL: 2, ERROR: 3, WARNING: 4, INFO: 6 };
const DEFAULT_VERBOSE = 4;

/** The options that set one field of DepmodOptions: to their argument, or true. */
const FIELDS: Partial<Record<string, keyof DepmodOptions>> = {
  quick: 'quick',
  basedir: 'basedir',
  symvers: 'symvers',
  filesyms: 'systemMap',
  errsyms: 'errsyms',
  show: 'dryRun',
  warn: 'warnDuplicates',
  outdir: 'outdir',
};

function printMessages(io: Io, messages: readonly DepmodMessage[], verbose: number): void {
  for (const m of messages) if (PRIORITY[m.level] <= verbose) io.err(`depmod: ${m.level}: ${m.text}`);
}

export async function depmodCommand(argv: string[], io: Io): Promise<number> {
  const parsed = getoptLong(argv, DEPMOD_OPTIONS);
  if (parsed.error !== undefined) return reportUsageError(io, 'depmod', parsed.error, wantsJson(argv));
  const opts: DepmodOptions = {};
  const early: DepmodMessage[] = [];
  let all = false;
  let verbose = DEFAULT_VERBOSE;
  let json = false;
  for (const { key, value, spelled } of parsed.options) {
    const field = FIELDS[key];
    if (field !== undefined) Object.assign(opts, { [field]: value ?? true });
    switch (key) {
      case 'all':
        all = true;
        break;
      case 'config':
        (opts.config ??= []).push(value!);
        break;
      case 'verbose':
        verbose++;
        break;
      case 'symbol-prefix':
        if (value!.length !== 1) {
          io.err('depmod: FATAL: -P only takes a single char\n');
          return 1;
        }
        opts.symbolPrefix = value!;
        break;
      case 'unresolved-error':
      case 'quiet':
      case 'root':
      case 'map':
        // kmod names the option as it was given: `--map` (for any prefix of it), or `-m`.
        early.push({ level: 'WARNING', text: `Ignored deprecated option ${spelled}\n` });
        break;
      case 'help':
        io.out(HELP);
        return 0;
      case 'version':
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

  let result: DepmodResult;
  try {
    result = await depmod(opts);
  } catch (e) {
    const messages = [...early, ...(e instanceof DepmodError ? e.messages : [])];
    if (json) {
      const body = e instanceof KernmodError ? e.toJSON() : { name: 'Error', message: String((e as Error)?.message ?? e) };
      printJson(io, { ok: false, error: body, messages });
      return 1;
    }
    printMessages(io, messages, verbose);
    if (e instanceof DepmodError) return 1;
    io.err(`depmod: ERROR: ${(e as Error)?.message ?? String(e)}\n`);
    if (e instanceof KernmodError && e.hint) io.err(`depmod: hint: ${e.hint}\n`);
    return 1;
  }
  if (json) {
    printJson(io, { ok: true, ...result, messages: [...early, ...result.messages] });
    return 0;
  }
  printMessages(io, early, verbose);
  if (verbose > DEFAULT_VERBOSE) for (const line of result.needs) io.out(line);
  printMessages(io, result.messages, verbose);
  if (result.output !== undefined) io.out(Buffer.from(result.output, 'latin1').toString('utf8'));
  return 0;
}
