// Carrying out a plan (resolve.ts) through an injected Kernmod API: the real kernel through the native
// or ffi backend, or, in unit tests, the FakeKernel simulation.
//
// Unlike kmod, which loads its probe list one module at a time, independent modules load concurrently:
// each step waits only for the steps it must follow (PlanStep.after: its modules.dep dependencies, its
// pre-softdeps, the module a post-softdep follows; an install command waits for everything before it
// and everything after waits for it). Each module is loaded once even when several steps share it.
// What kmod decides is kept: a module already live is skipped; EEXIST from a concurrent loader counts
// as success unless `firstTime` and it is the module asked for; a failing required step (the target or
// one of its modules.dep dependencies) stops everything not yet started; softdep failures are ignored.
import { KernmodError } from '../errors.js';
import type { KernelLogEntry, KernelWarning, Kernmod, LoadResult } from '../kernmod.js';
import { moduleState } from '../linux/state.js';
import { overrideParams } from '../params.js';
import { commandEnv, expandCommand, runShellCommand, type CommandRunner } from './command.js';
import type { Plan, PlanStep } from './resolve.js';
import { LINUX_ERRNO } from '../errno.js';

export interface ExecuteOptions {
  /** The syscall layer: `withBackend(...)`, or `withBackend(createFakeBackend(kernel))` in tests. */
  kernmod: Kernmod;
  /** Report the plan's steps without loading anything. */
  dryRun?: boolean;
  /** Fail if the module asked for is already in the kernel (`--first-time`). */
  firstTime?: boolean;
  /** MODULE_INIT_IGNORE_VERMAGIC for every load (`--force-vermagic`, `-f`). */
  ignoreVermagic?: boolean;
  /** MODULE_INIT_IGNORE_MODVERSIONS for every load (`--force-modversion`, `-f`). */
  ignoreModversions?: boolean;
  /** Most loads in flight at once; default unlimited. 1 loads in kmod's order, one at a time. */
  concurrency?: number;
  /** Runs `install` commands; default /bin/sh -c with MODPROBE_MODULE and CMDLINE_OPTS set. */
  runCommand?: CommandRunner;
  /** Root of /sys for the already-loaded checks. */
  sysRoot?: string;
  /** Checked before each step starts. */
  signal?: AbortSignal;
}

export type StepOutcome =
  /** loaded, or the install command exited 0 */
  | 'done'
  /** nothing to do: already live (or a concurrent loader won: EEXIST) */
  | 'already-loaded'
  /** nothing to do: built into the kernel */
  | 'builtin'
  /** dry run: it would have been done */
  | 'dry-run'
  | 'failed'
  /** not started because a required step failed (or the signal fired) */
  | 'cancelled';

export interface StepResult extends Pick<PlanStep, 'module' | 'action' | 'path' | 'params' | 'command' | 'role' | 'required'> {
  outcome: StepOutcome;
  /** Wall time of this step's own work, in ms (about 0 for steps with nothing to do). */
  ms: number;
  /** ms since the probe started, when the step's work began: shows what ran concurrently. */
  startedAt: number;
  error?: KernmodError;
  /** The kernel's lines of this step's load (a failed one has them on `error.kernelLog`). */
  kernelLog?: KernelLogEntry[];
  /** What the kernel warned about although this step's load succeeded (unknown parameter, taint). */
  warnings?: KernelWarning[];
}

export interface ProbeResult {
  plan: Plan;
  /** One result per module, in plan order (repeats of a module are not run twice). */
  steps: StepResult[];
  /** Every required step succeeded. */
  ok: boolean;
  /** The first required failure, if any. */
  error?: KernmodError;
}

/** A counting semaphore for `concurrency`. */
function limiter(max: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(f: () => Promise<T>): Promise<T> => {
    if (active >= max) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await f();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

function asError(e: unknown, step: PlanStep): KernmodError {
  if (e instanceof KernmodError) return e;
  return new KernmodError({
    code: 'ERR_KERNMOD_PROBE',
    phase: 'load',
    module: step.module,
    message: String((e as Error)?.message ?? e),
    cause: e,
  });
}

export async function executePlan(plan: Plan, opts: ExecuteOptions): Promise<ProbeResult> {
  const t0 = performance.now();
  const run = limiter(opts.concurrency ?? Infinity);
  const runCommand = opts.runCommand ?? runShellCommand;
  const sys = opts.sysRoot === undefined ? {} : { root: opts.sysRoot };
  const results: StepResult[] = [];
  let firstError: KernmodError | undefined;

  for (const mp of plan.modules) {
    if (mp.status === 'loaded' || mp.status === 'builtin') {
      if (opts.firstTime) {
        const error = new KernmodError({
          code: 'EEXIST',
          errno: -LINUX_ERRNO.EEXIST,
          module: mp.module,
          phase: 'load',
          message: `could not insert '${mp.module}': Module already in kernel`,
          hint: 'the module is already in the kernel, and --first-time asks to fail then',
        });
        firstError ??= error;
        results.push({
          module: mp.module,
          action: mp.status,
          params: '',
          role: 'target',
          required: true,
          outcome: 'failed',
          ms: 0,
          startedAt: performance.now() - t0,
          error,
        });
      }
      continue;
    }
    if (mp.status === 'blacklisted') continue;

    let aborted = false;
    const done = new Map<string, Promise<StepResult>>();
    const mine: Array<Promise<StepResult>> = [];
    for (const step of mp.steps) {
      if (step.repeat || done.has(step.module)) continue;
      const deps = step.after.map((n) => done.get(n)).filter((p): p is Promise<StepResult> => p !== undefined);
      // One at a time means kmod's order exactly, not just an order the edges allow.
      if (opts.concurrency === 1 && mine.length) deps.push(mine.at(-1)!);
      const p = (async (): Promise<StepResult> => {
        await Promise.all(deps);
        const base = {
          module: step.module,
          action: step.action,
          ...(step.path !== undefined ? { path: step.path } : {}),
          params: step.params,
          ...(step.command !== undefined ? { command: step.command } : {}),
          role: step.role,
          required: step.required,
        };
        const finish = (outcome: StepOutcome, start: number, error?: KernmodError, loaded?: LoadResult): StepResult => {
          const r: StepResult = { ...base, outcome, ms: performance.now() - start, startedAt: start - t0 };
          if (loaded?.kernelLog) r.kernelLog = loaded.kernelLog;
          if (loaded?.warnings?.length) r.warnings = loaded.warnings;
          if (error) {
            r.error = error;
            if (step.required) {
              aborted = true;
              firstError ??= error;
            }
          }
          return r;
        };
        if (aborted || opts.signal?.aborted) return finish('cancelled', performance.now());
        if (step.action === 'builtin') return finish('builtin', performance.now());
        if (step.action === 'loaded') return finish('already-loaded', performance.now());
        if (step.action === 'missing') {
          const start = performance.now();
          return finish(
            'failed',
            start,
            new KernmodError({
              code: 'ENOENT',
              errno: -LINUX_ERRNO.ENOENT,
              module: step.module,
              phase: 'load',
              message: `could not find module by name='${step.module}'`,
              hint: 'it is not in modules.dep and not built in: a config alias or softdep names a module this kernel does not have',
            }),
          );
        }
        if (opts.dryRun) return finish('dry-run', performance.now());
        return run(async () => {
          if (aborted || opts.signal?.aborted) return finish('cancelled', performance.now());
          const start = performance.now();
          if (step.action === 'install') {
            try {
              const status = await runCommand(expandCommand(step.command!), commandEnv(step.module, step.params));
              if (status === 0) return finish('done', start);
              return finish(
                'failed',
                start,
                new KernmodError({
                  code: 'ERR_KERNMOD_INSTALL_COMMAND',
                  module: step.module,
                  phase: 'load',
                  message: `Error running install command '${step.command}' for module ${step.module}: retcode ${status}`,
                  hint: 'the install command from modprobe.d failed; kmod runs it with /bin/sh -c',
                }),
              );
            } catch (e) {
              return finish('failed', start, asError(e, step));
            }
          }
          // kmod checks each module again just before loading it: another loader may have won.
          if (moduleState(step.module, sys) === 'live') return finish('already-loaded', start);
          try {
            const loaded = await opts.kernmod.loadModule(step.path!, {
              // kmod passes a name given twice (config, then caller) and the kernel keeps the later;
              // loadModule refuses a repeat, so only that later token goes.
              params: overrideParams(step.params),
              ...(opts.ignoreVermagic ? { ignoreVermagic: true } : {}),
              ...(opts.ignoreModversions ? { ignoreModversions: true } : {}),
              ...(opts.signal ? { signal: opts.signal } : {}),
            });
            return finish('done', start, undefined, loaded);
          } catch (e) {
            const err = asError(e, step);
            if (err.code === 'EEXIST' && !(opts.firstTime && step.role === 'target')) return finish('already-loaded', start);
            return finish('failed', start, err);
          }
        });
      })();
      done.set(step.module, p);
      mine.push(p);
    }
    results.push(...(await Promise.all(mine)));
  }
  return { plan, steps: results, ok: firstError === undefined, ...(firstError ? { error: firstError } : {}) };
}
