// `kernmod insmod [-f] [--force-vermagic] [--force-modversion] [--json] FILE [PARAM=VALUE...]`
// kmod's insmod, with its messages and exit codes, plus the kernel's own lines (under the error, or as
// warnings on success), a `hint:` line and --json.
import type { Kernmod } from '../kernmod.js';
import { KernmodError } from '../errors.js';
import { reportCallError, reportKernelWarnings } from './kernel-log-output.js';
import { getoptLong, ParsedOptions, wantsJson } from './getopt.js';
import { INSMOD_OPTIONS } from './options.js';
import { describe, printJson, reportUsageError, SYSLOG_REFUSED, versionText, type Io } from './output.js';

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
  const parsed = getoptLong(argv, INSMOD_OPTIONS);
  const json = wantsJson(argv);
  if (parsed.error !== undefined) return reportUsageError(io, 'insmod', parsed.error, json);
  const o = new ParsedOptions(parsed);
  if (o.has('help')) {
    io.out(INSMOD_USAGE);
    return 0;
  }
  if (o.has('version')) {
    io.out(versionText());
    return 0;
  }
  // kmod's -s sends messages to syslog; kernmod has no syslog writer, so it refuses rather than ignore it.
  if (o.has('syslog')) return reportUsageError(io, 'insmod', SYSLOG_REFUSED, json);
  const values = { force: o.has('force'), 'force-vermagic': o.has('force-vermagic'), 'force-modversion': o.has('force-modversion') };
  const positionals = parsed.operands;
  const [file, ...paramArgs] = positionals;
  if (file === undefined) return reportUsageError(io, 'insmod', 'ERROR: missing filename.', json);
  if (file === '-') return reportUsageError(io, 'insmod', 'ERROR: this tool does not support loading from stdin!', json);
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
