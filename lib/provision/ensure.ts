// ensure(): make the kernel and the persisted files match a desired-state spec. One path: check the
// spec (all problems, nothing changed), read the state, plan, then act in spec order — each module's
// files first, then its load, unload, reload or parameter sets. A failure stops there and the result
// says what was done before it. A second run of the same spec plans nothing.
import { join } from 'node:path';
import { KernmodError } from '../errors.js';
import type { Kernmod } from '../kernmod.js';
import type { ModprobeOptions } from '../modprobe/modprobe.js';
import { readFileState, removeOwnedFile, writeOwnedFile } from './files.js';
import { planAll, type Action, type Drift, type ModuleSnapshot } from './plan.js';
import { imageModuleFinder, pathInImage, type ImageTree } from './image.js';
import { checkSpec, specError, type ModuleSpec } from './spec.js';
import { runningSystem, type ProvisionSystem } from './system.js';

export interface EnsureOptions extends ModprobeOptions {
  /** Change nothing; report what would change (--check). */
  check?: boolean;
  /** modules-load.d directory. Default /etc/modules-load.d (under `root` when given). */
  loadDir?: string;
  /** modprobe.d directory. Default /etc/modprobe.d (under `root` when given). */
  configDir?: string;
  /**
   * An offline image (a chroot, a VM image being built): only the persisted files, under ROOT, are
   * changed; the running kernel is neither read nor touched. Module names are looked up in the image's
   * module trees (ROOT/lib/modules/<release>/; known in any one of them is enough), and paths in it are
   * resolved inside it (image.ts). Named `imageRoot` here because `root` is modprobe's -d.
   */
  imageRoot?: string;
  /** The syscall layer for loads and unloads (default: the library's default backend, when first needed). */
  kernmod?: Kernmod | (() => Kernmod);
  /** The system to act on; default the running one (tests pass a simulation). */
  system?: ProvisionSystem;
}

export interface EnsureResult {
  /** Everything planned was done (or, with check, could be planned). */
  ok: boolean;
  /** Something changed (with check: something would). */
  changed: boolean;
  check: boolean;
  actions: Action[];
  /** Read-only parameters that differ (fixed only by a reload: reload: true). */
  drift: Drift[];
  /** What stopped the run half-way; the actions before it are 'done'. */
  error?: KernmodError;
}

function noSystem(): never {
  throw new KernmodError({
    code: 'ERR_KERNMOD_NO_KERNEL',
    phase: 'validate',
    message: 'no system to act on',
    hint: 'pass kernmod or system',
  });
}

export async function ensure(rawSpec: unknown, opts: EnsureOptions = {}): Promise<EnsureResult> {
  const { modules, problems } = checkSpec(rawSpec);
  if (problems.length) throw specError(problems);

  const image = opts.imageRoot;
  const loadDir = opts.loadDir ?? (image === undefined ? '/etc/modules-load.d' : pathInImage(image, 'etc/modules-load.d'));
  const configDir = opts.configDir ?? (image === undefined ? '/etc/modprobe.d' : pathInImage(image, 'etc/modprobe.d'));
  const kernel = image === undefined;
  const system = kernel ? (opts.system ?? runningSystem({ ...opts, kernmod: opts.kernmod ?? noSystem })) : undefined;
  const inImage = image === undefined ? undefined : await imageModuleFinder(image);

  const snapshots = new Map<string, ModuleSnapshot>();
  for (const m of modules) {
    const loaded = system ? system.loaded(m.module) : false;
    const found = system ? await system.find(m.module) : inImage?.find(m.module);
    snapshots.set(m.module, {
      found,
      loaded,
      params: system && (loaded || found === 'builtin') ? await system.parameters(m.module) : {},
      loadFile: readFileState(join(loadDir, `${m.module}.conf`)),
      configFile: readFileState(join(configDir, `${m.module}.conf`)),
    });
  }
  const plan = planAll(modules, snapshots, { kernel, requireKnown: kernel });
  const refused = inImage ? [...unknownInImage(modules, snapshots, inImage.trees), ...plan.problems] : plan.problems;
  if (refused.length) throw specError(refused);

  const result: EnsureResult = {
    ok: true,
    changed: plan.actions.length > 0,
    check: opts.check === true,
    actions: plan.actions,
    drift: plan.drift,
  };
  if (opts.check) return result;

  let anyDone = false;
  for (const a of plan.actions) {
    try {
      await run(a, system);
      a.status = 'done';
      anyDone = true;
    } catch (e) {
      a.status = 'failed';
      result.ok = false;
      result.error =
        e instanceof KernmodError
          ? e
          : new KernmodError({
              code: 'ERR_KERNMOD_APPLY',
              module: a.module,
              phase: 'load',
              message: String((e as Error)?.message ?? e),
              cause: e,
            });
      break;
    }
  }
  result.changed = anyDone;
  return result;
}

/** The image's module trees (not the running kernel) decide which names exist there. */
function unknownInImage(modules: ModuleSpec[], snapshots: ReadonlyMap<string, ModuleSnapshot>, trees: ImageTree[]): string[] {
  const where = trees.map((t) => t.dir).join(', ');
  return modules
    .filter((m) => snapshots.get(m.module)!.found === undefined)
    .map((m) => `module ${m.module}: not found in the image's module trees (${where})`);
}

async function run(a: Action, system: ProvisionSystem | undefined): Promise<void> {
  switch (a.action) {
    case 'write-file':
      return writeOwnedFile(a.path!, a.after!);
    case 'remove-file':
      return removeOwnedFile(a.path!);
    case 'load':
      return system!.load(a.module, a.params ?? '');
    case 'unload':
      return system!.unload(a.module);
    case 'reload':
      await system!.unload(a.module);
      return system!.load(a.module, a.params ?? '');
    case 'set-param':
      return system!.setParameter(a.module, a.param!, a.after!);
  }
}
