// `kernmod modinfo [-F field] [-0] [-k KVER] [-b BASEDIR] [-a -d -l -p -n -m] [--json] MODULE|FILE...`
// The command line. Text output is byte-identical to kmod 30's modinfo (format.ts says how);
// `--json` prints the library's object instead (build-id included: kmod 30 has no build-id line, kmod
// master does). What each argument prints is run.ts; printing them in order, print.ts.
import { MODINFO_OPTIONS } from '../options.js';
import { reportUsageError, startCommand, type Io } from '../output.js';
import { printModinfo } from './print.js';
import type { ModinfoSettings } from './run.js';

export { kmodHex } from './format.js';

const MODINFO_USAGE = `Usage:
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
\t    --json                  Print each module, or why it failed, as JSON (an array for several)
\t-V, --version               Show version
\t-h, --help                  Show this help
`;

/** What -a -d -l -p -n print: like -F with these fields. */
const FIELD_OPTIONS: Record<string, string> = {
  author: 'author',
  description: 'description',
  license: 'license',
  parameters: 'parm',
  filename: 'filename',
};

export async function modinfoCommand(argv: string[], io: Io): Promise<number> {
  const start = startCommand(io, 'modinfo', argv, MODINFO_OPTIONS, MODINFO_USAGE);
  if (typeof start === 'number') return start;
  const { o, json } = start;
  // As with kmod's getopt loop, the last of -a -d -l -p -n -F given wins.
  let field: string | undefined;
  for (const { key, value } of o.parse.options) {
    if (key === 'field') field = value;
    else if (FIELD_OPTIONS[key] !== undefined) field = FIELD_OPTIONS[key];
  }
  if (o.parse.operands.length === 0) return reportUsageError(io, 'modinfo', 'ERROR: missing module or filename.', json);
  const settings: ModinfoSettings = { nul: o.has('null'), modname: o.has('modname'), json };
  if (field !== undefined) settings.field = field;
  const root = o.last('basedir');
  if (root !== undefined) settings.root = root;
  const release = o.last('set-version');
  if (release !== undefined) settings.release = release;
  return printModinfo(o.parse.operands, settings, io);
}
