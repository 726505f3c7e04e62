// `modprobe -r` (kmod tools/modprobe.c rmmod_do_module, research (a)), through an injected Kernmod:
//   1. the module's post-softdeps, in reverse, errors ignored;
//   2. with `removeHolders`, the modules holding it (each removed the same way), stopping on an error;
//   3. the module itself: refused with EBUSY while its refcount is not 0, unless `wait` (then
//      delete_module is retried while it answers EAGAIN); a `remove` command from modprobe.d runs
//      instead of delete_module;
//   4. its modules.dep dependencies that are now unused (refcount 0), errors ignored;
//   5. its pre-softdeps, in reverse, errors ignored.
// Each module is taken up once per call, so softdeps that name each other end (kmod recurses forever).
// One improvement over kmod in step 4: kmod walks the dependencies in load order, so a dependency used
// by another dependency still has a reference when its turn comes and stays loaded; walking them in
// reverse load order (users before what they use) takes out every dependency the removal left unused.
import { KernmodError } from '../errors.js';
import type { Kernmod } from '../kernmod.js';
import { moduleState } from '../linux/state.js';
import { commandEnv, runShellCommand, type CommandRunner } from './command.js';
import type { RemovalInfo, Resolver } from './resolve.js';
import { readHolders, readRefcnt } from './sysfs.js';
import { LINUX_ERRNO } from '../errno.js';

export interface RemoveOptions {
  kernmod: Kernmod;
  /** Also remove the modules that hold this one (`--remove-holders`). */
  removeHolders?: boolean;
  /** Retry delete_module while the module is in use, up to this many ms (`-w`). */
  wait?: number;
  /** O_TRUNC: force the unload (`-f`; needs CONFIG_MODULE_FORCE_UNLOAD, taints the kernel). */
  force?: boolean;
  /** Fail if the module is not in the kernel (`--first-time`). */
  firstTime?: boolean;
  /** Ignore `remove` commands and softdeps (`-i`). */
  ignoreRemove?: boolean;
  /** Report what would be removed without removing it. */
  dryRun?: boolean;
  runCommand?: CommandRunner;
  /** Root of /sys (tests, containers). */
  sysRoot?: string;
  signal?: AbortSignal;
}

export interface RemoveStep {
  module: string;
  /** rmmod: delete_module; remove: the modprobe.d `remove` command. */
  action: 'rmmod' | 'remove';
  command?: string;
  /** Why it is removed: the module asked for, a softdep, a holder, or a dependency left unused. */
  role: 'target' | 'softdep' | 'holder' | 'dependency';
  outcome: 'done' | 'dry-run' | 'failed';
  ms: number;
  error?: KernmodError;
}

export interface RemoveResult {
  query: string;
  steps: RemoveStep[];
  /** Modules that needed nothing: not loaded, or built in (a softdep/holder/dependency only). */
  skipped: Array<{ module: string; reason: 'not-loaded' | 'builtin' }>;
  ok: boolean;
  error?: KernmodError;
}

function fail(code: string, module: string, message: string, hint: string, errno?: number): KernmodError {
  return new KernmodError({ code, module, phase: 'unload', message, hint, ...(errno !== undefined ? { errno } : {}) });
}

export async function executeRemove(resolver: Resolver, query: string, opts: RemoveOptions): Promise<RemoveResult> {
  const root = opts.sysRoot ?? '';
  const sys = opts.sysRoot === undefined ? {} : { root: opts.sysRoot };
  const runCommand = opts.runCommand ?? runShellCommand;
  const steps: RemoveStep[] = [];
  const skipped: RemoveResult['skipped'] = [];
  const removed = new Set<string>();

  let infos = resolver.removalInfo(query);
  if (!infos) {
    // kmod gives up here ("Module X not found."); a module that is loaded but absent from the module
    // directory (built out of tree, or for another tree) can still be removed by its name.
    const name = query.replaceAll('-', '_');
    if (moduleState(name, sys) === 'absent') {
      throw new KernmodError({
        code: 'ERR_KERNMOD_NOT_FOUND',
        module: query,
        phase: 'validate',
        message: `Module ${query} not found.`,
        hint: 'no such module in the module directory, and none of that name is loaded',
      });
    }
    infos = [resolver.removalByName(name)];
  }

  /** Removed by this call already? (a dry run pretends) */
  const refcnt = async (name: string): Promise<number | undefined> => {
    const n = await readRefcnt(name, root);
    if (n === undefined || !opts.dryRun) return n;
    const gone = (await readHolders(name, root)).filter((h) => removed.has(h)).length;
    return n - gone;
  };

  /** Adds a step (a dry run's takes 0 ms) and answers its error, if any. */
  const record = (step: Omit<RemoveStep, 'ms' | 'error'>, start: number, error?: KernmodError): KernmodError | undefined => {
    steps.push({ ...step, ms: step.outcome === 'dry-run' ? 0 : performance.now() - start, ...(error ? { error } : {}) });
    return error;
  };

  /** kmod's rmmod_do_remove_module: delete_module (with -w retries), or just report in a dry run. */
  const unload = async (name: string, role: RemoveStep['role']): Promise<KernmodError | undefined> => {
    const start = performance.now();
    const step = { module: name, action: 'rmmod', role } as const;
    if (!opts.dryRun) {
      try {
        await opts.kernmod.unloadModule(name, {
          ...(opts.force ? { force: true } : {}),
          ...(opts.wait ? { wait: opts.wait } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (e) {
        const error = e instanceof KernmodError ? e : fail('ERR_KERNMOD_REMOVE', name, String(e), 'unexpected failure');
        return record({ ...step, outcome: 'failed' }, start, error);
      }
    }
    removed.add(name);
    return record({ ...step, outcome: opts.dryRun ? 'dry-run' : 'done' }, start);
  };

  /** Modules this call has taken up already: softdeps may form a cycle (a post: b, b post: a). */
  const entered = new Set<string>();

  /** The module asked for, or (errors ignored, built-ins skipped, no holders removed) a softdep or holder. */
  const removeOne = async (info: RemovalInfo, role: RemoveStep['role']): Promise<KernmodError | undefined> => {
    const name = info.module;
    if (entered.has(name)) return undefined;
    entered.add(name);
    const cmd = opts.ignoreRemove ? undefined : info.command;
    const pre = opts.ignoreRemove ? [] : info.pre;
    const post = opts.ignoreRemove ? [] : info.post;
    if (cmd === undefined) {
      if (info.builtin) {
        if (role !== 'target') {
          skipped.push({ module: name, reason: 'builtin' });
          return undefined;
        }
        return fail('ERR_KERNMOD_BUILTIN', name, `Module ${name} is builtin.`, 'built-in modules cannot be unloaded');
      }
      if (moduleState(name, sys) === 'absent' || (opts.dryRun && removed.has(name))) {
        if (opts.firstTime)
          return fail(
            'ENOENT',
            name,
            `Module ${name} is not in kernel.`,
            'the module is not loaded, and --first-time asks to fail then',
            -LINUX_ERRNO.ENOENT,
          );
        skipped.push({ module: name, reason: 'not-loaded' });
        return undefined;
      }
    }
    // 1. post-softdeps, last first
    await removeSoftdeps(post);
    // 2. holders
    if (role === 'target' && opts.removeHolders) {
      for (const h of (await readHolders(name, root)).reverse()) {
        if (opts.dryRun && removed.has(h)) continue;
        const err = await removeOne(resolver.removalByName(h), 'holder');
        if (err) return err;
      }
    }
    // A holder's removal may have taken this module out already, as one of its unused dependencies
    // (kmod then fails on its own delete_module with ENOENT).
    if (removed.has(name)) return removeSoftdeps(pre);
    // 3. the module
    if (cmd === undefined && !opts.wait) {
      const usage = await refcnt(name);
      if (usage !== undefined && usage > 0) {
        const holders = (await readHolders(name, root)).filter((h) => !(opts.dryRun && removed.has(h)));
        return fail(
          'EBUSY',
          name,
          `Module ${name} is in use.`,
          holders.length
            ? `it is used by ${holders.join(', ')}: remove those first (removeHolders / --remove-holders), or wait`
            : 'something holds a reference to it (an open device, a mounted file system...): release it, or pass wait',
          -LINUX_ERRNO.EBUSY,
        );
      }
    }
    if (cmd !== undefined) {
      const start = performance.now();
      const step = { module: name, action: 'remove', command: cmd, role } as const;
      let error: KernmodError | undefined;
      if (!opts.dryRun) {
        try {
          const status = await runCommand(cmd, commandEnv(name));
          if (status !== 0) {
            const hint = 'the remove command from modprobe.d failed; kmod runs it with /bin/sh -c';
            error = fail('ERR_KERNMOD_REMOVE_COMMAND', name, `Error running remove command for ${name}`, hint);
          }
        } catch (e) {
          error = fail('ERR_KERNMOD_REMOVE_COMMAND', name, String((e as Error)?.message ?? e), 'the remove command could not be run');
        }
      }
      if (record({ ...step, outcome: error ? 'failed' : opts.dryRun ? 'dry-run' : 'done' }, start, error)) return error;
    } else {
      const err = await unload(name, role);
      if (err) return err;
      // 4. dependencies left unused: users before what they use (reverse load order)
      for (const dep of [...info.deps].reverse()) {
        if (removed.has(dep)) continue;
        if ((await refcnt(dep)) === 0) await unload(dep, 'dependency');
      }
    }
    // 5. pre-softdeps, last first
    return removeSoftdeps(pre);
  };

  /** Softdeps are removed last first, their errors ignored. */
  const removeSoftdeps = async (names: string[]): Promise<undefined> => {
    for (const p of [...names].reverse()) await removeOne(resolver.removalByName(p), 'softdep');
    return undefined;
  };

  let error: KernmodError | undefined;
  for (const info of infos) {
    error = await removeOne(info, 'target');
    if (error) break;
  }
  return { query, steps, skipped, ok: error === undefined, ...(error ? { error } : {}) };
}
