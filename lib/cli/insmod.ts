// `kernmod insmod [-f] [--force-vermagic] [--force-modversion] [--json] FILE [PARAM=VALUE...]`
// kmod's insmod, with its messages and exit codes, plus the kernel's own lines (under the error, or as
// warnings on success), a `hint:` line and --json.
import { parseArgs } from 'node:util';
import type { Kernmod } from '../kernmod.js';
import { KernmodError } from '../errors.js';
import { reportCallError, reportKernelWarnings } from './kernel-log-output.js';
import { describe, printJson, type Io } from './output.js';

export const INSMOD_USAGE = `Usage:
\tkernmod insmod [options] filename [args]
Options:
\t-f, --force             DANGEROUS: forces a module load, may cause
\t                        data corruption and crash your machine
\t    --force-modversion  Ignore module's version
\t    --force-vermagic    Ignore module's version magic
\t    --json              Print the result or the error as JSON
\t-h, --help              Show this help
`;

/** kmod's insmod mod_strerror(): friendlier words for the common load errors. */
function insmodStrerror(err: unknown): string {
  if (err instanceof KernmodError && err.syscall !== 'open' && err.syscall !== 'read') {
    switch (err.code) {
      case 'ENOEXEC':
        return 'Invalid module format';
      case 'ENOENT':
        return 'Unknown symbol in module';
      case 'ESRCH':
        return 'Module has wrong symbol version';
      case 'EINVAL':
        return 'Invalid parameters';
    }
  }
  return describe(err);
}

/**
 * kmod joins insmod's arguments with spaces and, since v34, quotes a value holding a space
 * (`key="a b"`) unless it is already quoted.
 */
export function joinParamArgs(args: string[]): string {
  return args
    .map((arg) => {
      const eq = arg.indexOf('=');
      if (eq === -1) return arg;
      const value = arg.slice(eq + 1);
      if (/\s/.test(value) && !value.startsWith('"') && !value.startsWith("'")) return `${arg.slice(0, eq)}="${value}"`;
      return arg;
    })
    .join(' ');
}

export async function insmod(argv: string[], km: Kernmod, io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        force: { type: 'boolean', short: 'f' },
        'force-modversion': { type: 'boolean' },
        'force-vermagic': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.err(`insmod: ERROR: ${(e as Error).message}\n`);
    return 1;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(INSMOD_USAGE);
    return 0;
  }
  const [file, ...paramArgs] = positionals;
  if (file === undefined) {
    io.err('insmod: ERROR: missing filename.\n');
    return 1;
  }
  if (file === '-') {
    io.err('insmod: ERROR: this tool does not support loading from stdin!\n');
    return 1;
  }
  const json = values.json ?? false;
  try {
    const result = await km.loadModule(file, {
      params: joinParamArgs(paramArgs),
      ignoreVermagic: values.force || values['force-vermagic'],
      ignoreModversions: values.force || values['force-modversion'],
    });
    if (json) printJson(io, { ok: true, result });
    else reportKernelWarnings(io, 'insmod', result.warnings);
    return 0;
  } catch (err) {
    const verb = err instanceof KernmodError && (err.syscall === 'open' || err.syscall === 'read') ? 'load' : 'insert';
    reportCallError(io, 'insmod', `could not ${verb} module ${file}: ${insmodStrerror(err)}`, err, json);
    return 1;
  }
}
