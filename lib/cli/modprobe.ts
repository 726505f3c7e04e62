// `kernmod modprobe [-a] [-r] [-n] [-D] [-c] [-R] [-b] [-i] [-f] [--first-time] [-w MSEC] [-d ROOT]
//  [-S RELEASE] [-C CONFIG] [-q] [-v] [--json] NAME [PARAMS...]` — kmod's modprobe over lib/modprobe,
// with kmod's output (`insmod <path> <opts>` lines, `builtin <name>`, `install <cmd> <opts>`), messages
// and exit codes, plus a `hint:` line where kmod says "see dmesg", and --json. Independent modules load
// concurrently. -D, -n, -c and -R never touch the kernel (they work where /proc/modules is absent).
import { KernmodError } from '../errors.js';
import type { Kernmod } from '../kernmod.js';
import { runShellCommandWith } from '../modprobe/command.js';
import { Modprobe, type ModprobeOptions } from '../modprobe/modprobe.js';
import { formatPlan } from '../modprobe/format.js';
import type { Plan } from '../modprobe/resolve.js';
import type { ProbeResult } from '../modprobe/probe.js';
import type { RemoveOptions, RemoveResult } from '../modprobe/remove.js';
import { getoptLong, ParsedOptions } from './getopt.js';
import { MODPROBE_OPTIONS } from './options.js';

import { describe, printErrorJson, printJson, startCommand, type Io } from './output.js';

const MODPROBE_USAGE = `Usage:
\tkernmod modprobe [options] [-i] [-b] modulename [params...]
\tkernmod modprobe [options] -a [-i] [-b] modulename [modulename...]
\tkernmod modprobe [options] -r [-i] modulename [modulename...]
\tkernmod modprobe [options] -c
Management Options:
\t-a, --all                   Consider every non-argument to
\t                            be a module name to be inserted
\t                            or removed (-r)
\t-r, --remove                Remove modules instead of inserting
\t    --remove-holders        Also remove module holders (use together with -r)
\t-w, --wait <MSEC>           When removing a module, wait up to MSEC for
\t                            module's refcount to become 0 so it can be
\t                            removed (use together with -r)
\t    --first-time            Fail if module already inserted or removed
\t-i, --ignore-install        Ignore install commands
\t-i, --ignore-remove         Ignore remove commands
\t-b, --use-blacklist         Apply blacklist to resolved alias.
\t-f, --force                 Force module insertion or removal.
\t                            implies --force-modversions and
\t                            --force-vermagic
\t    --force-modversion      Ignore module's version
\t    --force-vermagic        Ignore module's version magic
\t    --sequential            Load one module at a time, in kmod's order

Query Options:
\t-R, --resolve-alias         Only lookup and print alias and exit
\t-D, --show-depends          Only print module dependencies and exit
\t-c, --showconfig            Print out known configuration and exit
\t-c, --show-config           Same as --showconfig

General Options:
\t-n, --dry-run               Do not execute operations, just print out
\t-n, --show                  Same as --dry-run
\t-C, --config=FILE           Use FILE instead of default search paths
\t-d, --dirname=DIR           Use DIR as filesystem root for /lib/modules
\t-S, --set-version=VERSION   Use VERSION instead of \`uname -r\`
\t-q, --quiet                 disable messages
\t-v, --verbose               enables more messages
\t    --json                  print the plan or the result as JSON
\t-h, --help                  show this help
`;

/**
 * kmod's prepend_options_from_env: MODPROBE_OPTIONS split at each space (two spaces make an empty
 * word), a word that starts with a quote ends at its closing quote, a quote inside a word is dropped
 * with its partner (`a="b c"` is `a=b c`). The words go before the command line's.
 */
export function splitModprobeOptions(env: string | undefined): string[] {
  if (env === undefined) return [];
  const b = [...env];
  const words: string[] = [];
  let start = 0; // where the current word begins
  let quote = -1; // index of the open quote, or -1
  let s = 0;
  for (; s < b.length; s++) {
    if (quote === -1) {
      if (b[s] === ' ') {
        words.push(b.slice(start, s).join(''));
        start = s + 1;
      } else if (b[s] === '"' || b[s] === "'") quote = s;
    } else if (b[s] === b[quote]) {
      if (quote === start) {
        words.push(b.slice(start + 1, s).join(''));
        start = s + 1;
      } else {
        b.splice(s, 1);
        b.splice(quote, 1);
        s -= 2;
      }
      quote = -1;
    }
  }
  if (start < s) words.push(b.slice(start, s).join(''));
  return words;
}

/** A Kernmod whose every call fails with `reason`: for -D/-n/-c/-R where no backend is needed. */
export function unavailableKernmod(reason: Error): Kernmod {
  const fail = (): never => {
    throw reason;
  };
  return {
    // No backend could be loaded; the name only shows in messages.
    backend: 'none' as unknown as Kernmod['backend'],
    MODULE_NAME_LEN: 0,
    loadModule: () => Promise.reject(reason),
    loadModuleSync: fail,
    unloadModule: () => Promise.reject(reason),
    unloadModuleSync: fail,
  };
}

/**
 * kmod's options_from_array: the PARAMS joined with spaces; a value containing a space (after the
 * first `=`) is double-quoted unless it already starts with a quote.
 */
export function joinModprobeParams(args: string[]): string | undefined {
  if (args.length === 0) return undefined;
  return args
    .map((a) => {
      const eq = a.indexOf('=');
      if (eq === -1) return a;
      const v = a.slice(eq + 1);
      return !v.startsWith('"') && !v.startsWith("'") && v.includes(' ') ? `${a.slice(0, eq + 1)}"${v}"` : a;
    })
    .join(' ');
}

/** modprobe's "could not insert" reason for an error (tools/modprobe.c insmod). */
function insertReason(err: KernmodError): string {
  if (err.code === 'EEXIST') return 'Module already in kernel';
  if (err.code === 'ENOENT') return 'Unknown symbol in module, or unknown parameter (see dmesg)';
  if (err.code === 'ERR_KERNMOD_INSTALL_COMMAND') return 'Invalid argument';
  return describe(err);
}

class Logger {
  constructor(
    private readonly io: Io,
    private readonly quiet: boolean,
  ) {}
  line(level: 'FATAL' | 'ERROR' | 'WARNING', text: string): void {
    if (!this.quiet) this.io.err(`modprobe: ${level}: ${text}\n`);
  }
  hint(text: string | undefined): void {
    if (!this.quiet && text) this.io.err(`modprobe: hint: ${text}\n`);
  }
  /** The kernel's own lines of a failed load, under its error line. */
  kernel(lines: ReadonlyArray<{ message: string }> | undefined): void {
    if (!this.quiet) for (const l of lines ?? []) this.io.err(`  kernel: ${l.message}\n`);
  }
}

/** What tests (and containers) may point elsewhere: the kernel command line and the root of /sys. */
export interface ModprobeEnvironment {
  cmdline?: string | false;
  sysRoot?: string;
  /** MODPROBE_OPTIONS (default: the process environment's), read as kmod reads it. */
  options?: string;
}

/**
 * `km` may be a function giving the Kernmod: called only when a module is loaded or removed, so -D, -n,
 * -c and -R never load a backend (start-up: the addon's dlopen and the loader's code, in every modprobe -D).
 */
export async function modprobeCommand(
  commandLine: string[],
  km: Kernmod | (() => Promise<Kernmod>),
  io: Io,
  env: ModprobeEnvironment = {},
): Promise<number> {
  const envOptions = 'options' in env ? env.options : process.env.MODPROBE_OPTIONS;
  const argv = [...splitModprobeOptions(envOptions), ...commandLine];
  try {
    return await modprobeMain(argv, km, io, { ...env, options: envOptions });
  } catch (e) {
    // What the steps below do not report themselves (a damaged index met by -R, -c or a lookup, bad
    // params): one FATAL line and its hint, as for any other failure. They throw only after the command
    // line parsed, so the parse (made again, on this path only) says whether --json or -q was given.
    if (!(e instanceof KernmodError)) throw e;
    const o = new ParsedOptions(getoptLong(argv, MODPROBE_OPTIONS));
    const json = o.has('json');
    const log = new Logger(io, json || o.has('quiet'));
    log.line('FATAL', describe(e));
    log.hint(e.hint);
    if (json) printJson(io, { ok: false, error: e.toJSON() });
    return 1;
  }
}

/** `env.options` is MODPROBE_OPTIONS as read (the environment's when the caller gave none). */
async function modprobeMain(argv: string[], getKm: Kernmod | (() => Promise<Kernmod>), io: Io, env: ModprobeEnvironment): Promise<number> {
  let km: Kernmod | undefined = typeof getKm === 'function' ? undefined : getKm;
  const kernmod = async (): Promise<Kernmod> => (km ??= await (getKm as () => Promise<Kernmod>)());
  const start = startCommand(io, 'modprobe', argv, MODPROBE_OPTIONS, MODPROBE_USAGE);
  if (typeof start === 'number') return start;
  const { o, json } = start;
  const args = o.parse.operands;
  const log = new Logger(io, o.has('quiet') || json);
  const all = o.has('all');
  const showConfig = o.has('showconfig');
  const showDepends = o.has('show-depends');
  const dryRun = showDepends || o.has('dry-run');
  const verbose = o.has('verbose');
  const ignoreInstall = o.has('ignore-install');
  const firstTime = o.has('first-time');
  const useBlacklist = o.has('use-blacklist');
  let wait = 0;
  const t = o.last('wait');
  if (t !== undefined) {
    // strtoul(optarg, &end, 0): decimal, 0x hex or 0 octal, and nothing after the number.
    const w = /^0[xX][0-9a-fA-F]+$/.test(t)
      ? parseInt(t.slice(2), 16)
      : /^0[0-7]*$/.test(t)
        ? parseInt(t, 8)
        : /^[1-9][0-9]*$/.test(t)
          ? Number(t)
          : NaN;
    if (!Number.isFinite(w)) {
      log.line('ERROR', `unexpected wait value '${t}'.`);
      return 1;
    }
    wait = w;
  }
  if (!showConfig && args.length === 0) {
    log.line('ERROR', 'missing parameters. See -h.');
    return 1;
  }

  const listing = o.has('show-modversions') ? 'modversions' : o.has('show-exports') ? 'exports' : undefined;
  if (listing && !showConfig) {
    (await import('../backend/native-xz.js')).installNativeXzOnFirstUse(); // liblzma for a .ko.xz, as the loads have
    const r = await (await import('./modprobe-symbols.js')).listSymbols(args[0]!, listing);
    if ('error' in r) {
      log.line('FATAL', r.error);
      if (json) printErrorJson(io, new KernmodError({ code: r.code, phase: 'open', path: args[0]!, message: r.error }));
      return 1;
    }
    if (json) printJson(io, { ok: true, [listing]: r.symbols });
    else io.out(r.text);
    return 0;
  }

  // kmod hands -C FILE, -q and -v on to the install and remove commands it runs, in MODPROBE_OPTIONS.
  const handedOn = o.parse.options.flatMap((p) =>
    p.key === 'config' ? ['-C', p.value!] : p.key === 'quiet' ? ['-q'] : p.key === 'verbose' ? ['-v'] : [],
  );
  const runCommand = runShellCommandWith(env.options, handedOn);
  const ctxOpts: ModprobeOptions = { ...env };
  const root = o.last('dirname');
  const release = o.last('set-version');
  if (root !== undefined) ctxOpts.root = root;
  if (release !== undefined) ctxOpts.release = release;
  if (o.has('config')) ctxOpts.config = o.all('config');
  let mp: Modprobe;
  try {
    mp = Modprobe.openSync(ctxOpts); // a CLI has nothing to overlap the reads with: no thread-pool round trips
  } catch (e) {
    log.line('FATAL', describe(e));
    if (e instanceof KernmodError) log.hint(e.hint);
    return 1;
  }
  // Bad modprobe.d lines: reported, skipped (kmod prints them through libkmod's log).
  for (const d of mp.config.diagnostics) log.line('ERROR', `${d.file} line ${d.line}: ${d.message}`);

  if (showConfig) {
    if (json) printJson(io, { ok: true, config: mp.config });
    else io.out(mp.showConfig());
    return 0;
  }

  if (o.has('remove'))
    return removeAll(mp, args, io, log, json, verbose || showDepends, {
      kernmod: await kernmod(),
      runCommand,
      dryRun,
      wait,
      force: o.has('force'),
      firstTime,
      ignoreRemove: ignoreInstall,
      removeHolders: o.has('remove-holders'),
    });

  const names = all ? args : [args[0]!];
  const params = all ? undefined : joinModprobeParams(args.slice(1));
  const results: Array<Plan | ProbeResult | { query: string; modules: string[] }> = [];
  let status = 0;
  for (const name of names) {
    if (o.has('resolve-alias')) {
      const found = mp.lookup(name);
      if (found.length === 0) {
        log.line(all ? 'WARNING' : 'FATAL', `Module ${name} not found in directory ${mp.dirname}`);
        status = 1;
        if (!all) break;
        continue;
      }
      if (json) results.push({ query: name, modules: found.map((f) => f.module) });
      else io.out(found.map((f) => `${f.module}\n`).join(''));
      continue;
    }
    let plan: Plan;
    try {
      plan = mp.resolve(name, {
        ...(params !== undefined ? { params } : {}),
        ignoreLoaded: showDepends,
        useBlacklist,
        ignoreInstall,
      });
    } catch (e) {
      const err = e as KernmodError;
      status = 1;
      if (err.code === 'ERR_KERNMOD_NOT_FOUND') {
        // kmod: WARNING and go on with -a, FATAL (exits at once) for one name.
        log.line(all ? 'WARNING' : 'FATAL', err.message);
        if (all) continue;
      } else {
        log.line('ERROR', describe(err));
        log.hint(err.hint);
      }
      if (json) printJson(io, { ok: false, error: err.toJSON?.() ?? String(err) });
      return 1;
    }
    if (dryRun) {
      if (!json && (showDepends || verbose)) io.out(formatPlan(plan));
      if (firstTime && !showDepends) {
        for (const m of plan.modules) {
          if (m.status === 'loaded' || m.status === 'builtin') {
            log.line('ERROR', `could not insert '${m.module}': Module already in kernel`);
            status = 1;
          }
        }
      }
      results.push(plan);
      continue;
    }
    if (verbose && !json) io.out(formatPlan(plan));
    const result = await mp.probe(name, {
      ...(params !== undefined ? { params } : {}),
      kernmod: await kernmod(),
      runCommand,
      useBlacklist,
      ignoreInstall,
      firstTime,
      ignoreVermagic: o.has('force') || o.has('force-vermagic'),
      ignoreModversions: o.has('force') || o.has('force-modversion'),
      ...(o.has('sequential') ? { concurrency: 1 } : {}),
    });
    results.push(result);
    if (!json) for (const s of result.steps) for (const w of s.warnings ?? []) log.line('WARNING', `kernel: ${w.message}`);
    if (!result.ok) {
      status = 1;
      for (const m of plan.modules) {
        const failed = result.steps.find((s) => s.outcome === 'failed' && s.required && planHas(plan, m.module, s.module));
        if (!failed?.error) continue;
        if (failed.error.code === 'ERR_KERNMOD_INSTALL_COMMAND') log.line('ERROR', failed.error.message);
        log.line('ERROR', `could not insert '${m.module}': ${insertReason(failed.error)}`);
        log.kernel(failed.error.kernelLog);
        if (failed.module !== m.module)
          log.hint(
            `${failed.module} (${failed.path ?? failed.command ?? 'a dependency'}) ` +
              `failed${failed.error.hint ? `: ${failed.error.hint}` : ''}`,
          );
        else log.hint(failed.error.hint);
      }
    }
  }
  if (json) printJson(io, { ok: status === 0, results });
  return status;
}

/** Whether `step` belongs to the part of the plan for `target` (so each failure is reported once). */
function planHas(plan: Plan, target: string, step: string): boolean {
  return target === step || plan.modules.some((m) => m.module === target && m.steps.some((s) => s.module === step));
}

async function removeAll(mp: Modprobe, names: string[], io: Io, log: Logger, json: boolean, verbose: boolean, opts: RemoveOptions) {
  const results: RemoveResult[] = [];
  let status = 0;
  for (const name of names) {
    let r: RemoveResult;
    try {
      r = await mp.remove(name, opts);
    } catch (e) {
      const err = e as KernmodError;
      log.line('FATAL', err.message);
      if (err instanceof KernmodError) log.hint(err.hint);
      if (json) printJson(io, { ok: false, error: err.toJSON?.() ?? String(err) });
      return 1;
    }
    results.push(r);
    if (verbose && !json) for (const s of r.steps) io.out(s.action === 'remove' ? `remove ${s.command}\n` : `rmmod ${s.module}\n`);
    for (const s of r.steps) {
      // kmod reports a failed unload of the module itself through its error below; dependencies'
      // failures are not fatal but still said.
      if (s.outcome === 'failed' && s.error && s.role !== 'target')
        log.line('ERROR', `could not remove '${s.module}': ${describe(s.error)}`);
    }
    if (!r.ok && r.error) {
      status = 1;
      // kmod: "Module X is builtin." / "is in use." / "is not in kernel." are FATAL; a failed
      // delete_module is "could not remove 'X': <strerror>".
      if (r.error.syscall === 'delete_module') log.line('ERROR', `could not remove '${r.error.module ?? name}': ${describe(r.error)}`);
      else log.line('FATAL', r.error.message);
      log.hint(r.error.hint);
      break;
    }
  }
  if (json) printJson(io, { ok: status === 0, results });
  return status;
}
