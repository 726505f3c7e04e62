// `kernmod rmmod [-f] [-w MSEC] [--json] NAME|FILE...` — kmod's rmmod, plus `-w` (kmod's
// `modprobe -r --wait`: retry while the module is in use), a `hint:` line and --json.
import { existsSync, statSync } from 'node:fs';
import type { Kernmod } from '../kernmod.js';
import { KernmodError } from '../errors.js';
import { listRawOpt } from '../linux/state.js';
import { moduleNameFromPath, normalizeModuleName } from '../names.js';
import { optionHelp } from './getopt.js';
import { RMMOD_OPTIONS } from './options.js';
import { describe, printJson, reportError, reportKernelWarnings, reportUsageError, startCommand, type Io } from './output.js';

const RMMOD_USAGE = `Usage: kernmod rmmod [options] modulename ...\n${optionHelp(RMMOD_OPTIONS)}`;

/** rmmod accepts names or paths; stat() decides, as in kmod. */
function nameOf(arg: string): string {
  try {
    if (statSync(arg).isFile()) return moduleNameFromPath(arg);
  } catch {
    /* not a file: a name */
  }
  return normalizeModuleName(arg);
}

/**
 * What kmod's check_module_inuse says before any system call, for the cases the kernel would not name:
 * a module sysfs does not show is not loaded (on a kernel without module support too), one without
 * initstate is builtin (even with -f), and one without refcnt runs on a kernel without module unloading
 * (CONFIG_MODULE_UNLOAD=n). A module in use is left to delete_module, whose EAGAIN gets kmod's line.
 * Undefined: go ahead. `-f` skips all but the builtin check; without /sys/module the kernel decides.
 */
function whyNotUnloadable(name: string, sysfs: string, force: boolean): KernmodError | undefined {
  if (!existsSync(sysfs)) return undefined;
  const fail = (code: string, message: string, hint?: string) =>
    new KernmodError({ code, phase: 'validate', module: name, message, ...(hint ? { hint } : {}) });
  const loaded = existsSync(`${sysfs}/${name}`);
  if (loaded && !existsSync(`${sysfs}/${name}/initstate`))
    return fail('ERR_KERNMOD_BUILTIN', `Module ${name} is builtin.`, 'built-in modules cannot be unloaded');
  if (force) return undefined; // kmod's -f skips the checks below and asks the kernel
  if (!loaded) return fail('ENOENT', `Module ${name} is not currently loaded`);
  if (!existsSync(`${sysfs}/${name}/refcnt`))
    return fail('ENOSYS', 'Module unloading is not supported', 'this kernel was built without module unloading (CONFIG_MODULE_UNLOAD=n)');
  return undefined;
}

export async function rmmod(argv: string[], km: Kernmod, io: Io, sysfs = '/sys/module'): Promise<number> {
  const start = startCommand(io, 'rmmod', argv, RMMOD_OPTIONS, RMMOD_USAGE);
  if (typeof start === 'number') return start;
  const { o, json } = start;
  const force = o.has('force');
  const operands = o.parse.operands;
  if (operands.length === 0) return reportUsageError(io, 'rmmod', 'ERROR: missing module name.', json);
  const waitArg = o.last('wait');
  const wait = waitArg === undefined ? 0 : Number(waitArg);
  if (!Number.isFinite(wait) || wait < 0) {
    io.err(`rmmod: ERROR: invalid wait time: ${waitArg}\n`);
    return 1;
  }
  const results: unknown[] = [];
  let status = 0;
  for (const arg of operands) {
    const name = nameOf(arg);
    const refused = whyNotUnloadable(name, sysfs, force);
    if (refused) {
      reportError(io, 'rmmod', refused.message, refused, json);
      status = 1;
      continue;
    }
    try {
      const r = await km.unloadModule(name, { force, wait });
      results.push(r);
      if (!json) reportKernelWarnings(io, 'rmmod', r.warnings);
    } catch (err) {
      status = 1;
      let line = `could not remove module ${arg}: ${describe(err)}`;
      if (err instanceof KernmodError && err.code === 'ENOENT' && err.syscall === 'delete_module')
        line = `Module ${name} is not currently loaded`;
      if (err instanceof KernmodError && err.code === 'ENOSYS' && err.syscall === 'delete_module')
        line = 'Module unloading is not supported';
      if (err instanceof KernmodError && err.code === 'EAGAIN') {
        // In readdir(3)'s order, as kmod lists them (`in use by: stp garp`); Node's readdir would sort them.
        const holders = listRawOpt(`${sysfs}/${name}/holders`) ?? [];
        line = holders.length ? `Module ${name} is in use by: ${holders.join(' ')}` : `Module ${name} is in use`;
      }
      reportError(io, 'rmmod', line, err, json);
    }
  }
  if (json && status === 0) printJson(io, { ok: true, results });
  return status;
}
