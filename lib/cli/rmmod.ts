// `kernmod rmmod [-f] [-w MSEC] [--json] NAME|FILE...` — kmod's rmmod, plus `-w` (kmod's
// `modprobe -r --wait`: retry while the module is in use), a `hint:` line and --json.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Kernmod } from '../kernmod.js';
import { KernmodError } from '../errors.js';
import { moduleNameFromPath, normalizeModuleName } from '../names.js';
import { reportCallError, reportKernelWarnings } from './kernel-log-output.js';
import { describe, printJson, reportError, type Io } from './output.js';

export const RMMOD_USAGE = `Usage:
\tkernmod rmmod [options] modulename ...
Options:
\t-f, --force       forces a module removal and may crash your
\t                  machine. This requires Forced Module Removal
\t                  option in your kernel. DANGEROUS
\t-w, --wait MSEC   wait up to MSEC while the module is in use
\t    --json        print the results or the error as JSON
\t-h, --help        show this help
`;

/** rmmod accepts names or paths; stat() decides, as in kmod. */
function nameOf(arg: string): string {
  try {
    if (statSync(arg).isFile()) return moduleNameFromPath(arg);
  } catch {
    /* not a file: a name */
  }
  return normalizeModuleName(arg);
}

function holdersOf(name: string, sysfs: string): string[] {
  try {
    return readdirSync(`${sysfs}/${name}/holders`);
  } catch {
    return [];
  }
}

export async function rmmod(argv: string[], km: Kernmod, io: Io, sysfs = '/sys/module'): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        force: { type: 'boolean', short: 'f' },
        wait: { type: 'string', short: 'w' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        syslog: { type: 'boolean', short: 's' },
        verbose: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    io.err(`rmmod: ERROR: ${(e as Error).message}\n`);
    return 1;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(RMMOD_USAGE);
    return 0;
  }
  if (positionals.length === 0) {
    io.err('rmmod: ERROR: missing module name.\n');
    return 1;
  }
  const wait = values.wait === undefined ? 0 : Number(values.wait);
  if (!Number.isFinite(wait) || wait < 0) {
    io.err(`rmmod: ERROR: invalid wait time: ${values.wait}\n`);
    return 1;
  }
  const json = values.json ?? false;
  const results: unknown[] = [];
  let status = 0;
  for (const arg of positionals) {
    const name = nameOf(arg);
    // kmod refuses builtins before asking the kernel: /sys/module/<name> exists without initstate.
    if (existsSync(`${sysfs}/${name}`) && !existsSync(`${sysfs}/${name}/initstate`)) {
      const err = new KernmodError({ code: 'ERR_KERNMOD_BUILTIN', phase: 'validate', module: name, message: `Module ${name} is builtin.`, hint: 'built-in modules cannot be unloaded' });
      reportError(io, 'rmmod', err.message, err, json);
      status = 1;
      continue;
    }
    try {
      const r = await km.unloadModule(name, { force: values.force ?? false, wait });
      results.push(r);
      if (!json) reportKernelWarnings(io, 'rmmod', r.warnings);
    } catch (err) {
      status = 1;
      let line = `could not remove module ${arg}: ${describe(err)}`;
      if (err instanceof KernmodError && err.code === 'ENOENT' && err.syscall === 'delete_module') line = `Module ${name} is not currently loaded`;
      if (err instanceof KernmodError && err.code === 'EAGAIN') {
        const holders = holdersOf(name, sysfs);
        line = holders.length ? `Module ${name} is in use by: ${holders.join(' ')}` : `Module ${name} is in use`;
      }
      reportCallError(io, 'rmmod', line, err, json);
    }
  }
  if (json && status === 0) printJson(io, { ok: true, results });
  return status;
}
