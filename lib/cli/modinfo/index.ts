// `kernmod modinfo [-F field] [-0] [-k KVER] [-b BASEDIR] [-a -d -l -p -n -m] [--json] MODULE|FILE...`
// The command line. Text output is byte-identical to kmod 30's modinfo (format.ts says how);
// `--json` prints the library's object instead (build-id included: kmod 30 has no build-id line, kmod
// master does). What each argument prints is run.ts; printing them in order, print.ts.
import { parseArgs } from 'node:util';
import { printModinfo } from './print.js';
import type { ModinfoSettings } from './run.js';
import type { Io } from '../output.js';

export { formatModinfo, kmodHex, kmodInfoList, modinfoJson, type FormatOptions, type KmodEntry } from './format.js';

export const MODINFO_USAGE = `Usage:
\tkernmod modinfo [options] <modulename|filename> [args]
Options:
\t-a, --author                Print only 'author'
\t-d, --description           Print only 'description'
\t-l, --license               Print only 'license'
\t-p, --parameters            Print only 'parm'
\t-n, --filename              Print only 'filename'
\t-0, --null                  Use \\0 instead of \\n
\t-m, --modname               Handle argument as module name instead of alias or filename
\t-F, --field=FIELD           Print only provided FIELD
\t-k, --set-version=VERSION   Use VERSION instead of \`uname -r\`
\t-b, --basedir=DIR           Use DIR as filesystem root for /lib/modules
\t    --json                  Print each module as a JSON object (an array for several)
\t-V, --version               Show version
\t-h, --help                  Show this help
`;

/**
 * The arguments parseArgs needs to see — up to the last one that starts with '-', plus the one after it
 * (a value) — and the rest, which can only be operands. A whole-tree run passes thousands of paths,
 * and parseArgs walking each of them is a visible cost under emulation.
 */
export function splitTrailingOperands(argv: readonly string[]): [head: string[], operands: string[]] {
  let last = -1;
  for (let i = 0; i < argv.length; i++) if (argv[i]!.startsWith('-')) last = i;
  const cut = Math.min(argv.length, last + 2);
  return [argv.slice(0, cut), argv.slice(cut)];
}

export async function modinfoCommand(argv: string[], io: Io): Promise<number> {
  const [head, operands] = splitTrailingOperands(argv);
  let parsed;
  try {
    parsed = parseArgs({
      args: head,
      allowPositionals: true,
      tokens: true,
      options: {
        author: { type: 'boolean', short: 'a' },
        description: { type: 'boolean', short: 'd' },
        license: { type: 'boolean', short: 'l' },
        parameters: { type: 'boolean', short: 'p' },
        filename: { type: 'boolean', short: 'n' },
        null: { type: 'boolean', short: '0' },
        modname: { type: 'boolean', short: 'm' },
        field: { type: 'string', short: 'F' },
        'set-version': { type: 'string', short: 'k' },
        basedir: { type: 'string', short: 'b' },
        json: { type: 'boolean' },
        version: { type: 'boolean', short: 'V' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.err(`modinfo: ERROR: ${(e as Error).message}\n`);
    return 1;
  }
  const { values: v } = parsed;
  const positionals = parsed.positionals.concat(operands);
  if (v.help) {
    io.out(MODINFO_USAGE);
    return 0;
  }
  if (v.version) {
    io.out('kernmod modinfo (kmod 30 compatible output)\n');
    return 0;
  }
  // Like getopt, the last of -a -d -l -p -n -F given wins: walk the options in command-line order.
  const flagField: Record<string, string> = { author: 'author', description: 'description', license: 'license', parameters: 'parm', filename: 'filename' };
  let field: string | undefined;
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue;
    if (t.name === 'field') field = t.value;
    else if (flagField[t.name]) field = flagField[t.name];
  }
  if (positionals.length === 0) {
    io.err('modinfo: ERROR: missing module or filename.\n');
    return 1;
  }
  const settings: ModinfoSettings = { nul: v.null ?? false, modname: v.modname ?? false, json: v.json ?? false };
  if (field !== undefined) settings.field = field;
  if (v.basedir !== undefined) settings.root = v.basedir;
  if (v['set-version'] !== undefined) settings.release = v['set-version'];
  return printModinfo(positionals, settings, io);
}
