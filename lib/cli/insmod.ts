// `kernmod insmod [-f] [--force-vermagic] [--force-modversion] [--json] FILE [PARAM=VALUE...]`
// kmod's insmod, with its messages and exit codes, plus the kernel's own lines (under the error, or as
// warnings on success), a `hint:` line and --json.
import type { Kernmod } from '../kernmod.js';
import { KernmodError } from '../errors.js';
import { optionHelp } from './getopt.js';
import { INSMOD_OPTIONS } from './options.js';
import { describe, printJson, reportError, reportKernelWarnings, reportUsageError, startCommand, type Io } from './output.js';

const INSMOD_USAGE = `Usage: kernmod insmod [options] filename [args]\n${optionHelp(INSMOD_OPTIONS)}`;

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
  const start = startCommand(io, 'insmod', argv, INSMOD_OPTIONS, INSMOD_USAGE);
  if (typeof start === 'number') return start;
  const { o, json } = start;
  const force = o.has('force');
  const [file, ...paramArgs] = o.parse.operands;
  if (file === undefined) return reportUsageError(io, 'insmod', 'ERROR: missing filename.', json);
  if (file === '-') return reportUsageError(io, 'insmod', 'ERROR: this tool does not support loading from stdin!', json);
  try {
    const result = await km.loadModule(file, {
      params: joinParamArgs(paramArgs),
      ignoreVermagic: force || o.has('force-vermagic'),
      ignoreModversions: force || o.has('force-modversion'),
    });
    if (json) printJson(io, { ok: true, result });
    else reportKernelWarnings(io, 'insmod', result.warnings);
    return 0;
  } catch (err) {
    const verb = err instanceof KernmodError && (err.syscall === 'open' || err.syscall === 'read') ? 'load' : 'insert';
    reportError(io, 'insmod', `could not ${verb} module ${file}: ${insmodStrerror(err)}`, err, json);
    return 1;
  }
}
