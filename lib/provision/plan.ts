// Planning: from the checked spec and a snapshot of the kernel and the files, the actions that make
// the system match — nothing when it already does. Pure: no I/O, so every rule is unit-tested here.
import { encodeParams } from '../params.js';
import type { ParameterInfo } from '../linux/parameters.js';
import type { FileState } from './files.js';
import { managesFiles, renderConfigFile, renderLoadFile } from './render.js';
import { LOADING_STATES, type ModuleSpec } from './spec.js';

/** What is known about one module before anything changes. */
export interface ModuleSnapshot {
  /** 'module': in the module directory; 'builtin': built into the kernel; undefined: unknown (or not checked). */
  found: 'module' | 'builtin' | undefined;
  /** In the kernel as a loadable module (live, coming or going). */
  loaded: boolean;
  /** /sys/module/<name>/parameters, when loaded (or built in). */
  params: Record<string, ParameterInfo>;
  loadFile: FileState;
  configFile: FileState;
}

type ActionKind = 'load' | 'unload' | 'reload' | 'set-param' | 'write-file' | 'remove-file';

export interface Action {
  module: string;
  action: ActionKind;
  /** State, parameter value or file content before; null for none (no file, parameter unknown). */
  before: string | null;
  after: string | null;
  /** The file, for write-file / remove-file. */
  path?: string;
  /** The parameter, for set-param. */
  param?: string;
  /** The parameter string a load or reload passes (with modprobe.d's options before it). */
  params?: string;
  /** planned: --check, or not reached; done; failed (the error is the result's). */
  status: 'planned' | 'done' | 'failed';
}

/** A parameter whose value differs where only a reload can change it. */
export interface Drift {
  module: string;
  param: string;
  expected: string;
  actual: string;
  /** A reload is planned for it (reload: true), else it stays as it is. */
  reload: boolean;
}

export interface PlanOptions {
  /** Act on the running kernel (false for --root: files only). */
  kernel: boolean;
  /** Refuse modules that are neither in the module directory, built in, nor loaded. */
  requireKnown: boolean;
}

export interface Plan {
  actions: Action[];
  drift: Drift[];
  problems: string[];
}

/** The kernel's kstrtobool(): y/Y/1 and n/N/0 by the first character, on/off by the first two. */
function kernelBool(s: string): boolean | undefined {
  if (/^([yY1]|[oO][nN])/.test(s)) return true;
  if (/^([nN0]|[oO][fF])/.test(s)) return false;
  return undefined;
}

const INTEGER = /^[+-]?(0x[0-9a-fA-F]+|\d+)$/;
const bigint = (s: string) => (s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s.replace(/^\+/, '')));

/** Whether sysfs's text for a parameter means the value asked for (bools read back as Y/N, numbers in decimal). */
export function sameValue(wanted: string, actual: string): boolean {
  if (wanted === actual) return true;
  if (actual === 'Y' || actual === 'N') return kernelBool(wanted) === (actual === 'Y');
  if (INTEGER.test(wanted) && INTEGER.test(actual)) return bigint(wanted) === bigint(actual);
  return false;
}

function fileAction(module: string, file: FileState, want: string | undefined, problems: string[]): Action | undefined {
  if (want === undefined) {
    // Nothing of kernmod's should be there; someone else's file is not kernmod's config and stays.
    if (file.content === undefined || !file.ours) return undefined;
    return { module, action: 'remove-file', path: file.path, before: file.content, after: null, status: 'planned' };
  }
  if (file.content === want) return undefined;
  if (!file.ours) {
    problems.push(`module ${module}: ${file.path} exists and was not written by kernmod; kernmod will not replace it`);
    return undefined;
  }
  return { module, action: 'write-file', path: file.path, before: file.content ?? null, after: want, status: 'planned' };
}

export function planModule(spec: ModuleSpec, snap: ModuleSnapshot, opts: PlanOptions): Plan {
  const { module, state } = spec;
  const actions: Action[] = [];
  const drift: Drift[] = [];
  const problems: string[] = [];
  if (opts.requireKnown && snap.found === undefined && !snap.loaded) {
    problems.push(`module ${module}: not found (not in the module directory, not built in, not loaded)`);
    return { actions, drift, problems };
  }
  const builtin = snap.found === 'builtin' && !snap.loaded;
  if (builtin && opts.kernel && !LOADING_STATES.has(state)) {
    problems.push(`module ${module}: built into the kernel, so it cannot be ${state}`);
    return { actions, drift, problems };
  }

  if (managesFiles(spec)) {
    for (const [file, want] of [
      [snap.loadFile, renderLoadFile(spec)],
      [snap.configFile, renderConfigFile(spec)],
    ] as const) {
      const a = fileAction(module, file, want, problems);
      if (a) actions.push(a);
    }
  }
  if (!opts.kernel) return { actions, drift, problems };

  const paramString = () => encodeParams(spec.params);
  if (LOADING_STATES.has(state)) {
    if (!snap.loaded && !builtin) {
      actions.push({ module, action: 'load', before: 'unloaded', after: 'loaded', params: paramString(), status: 'planned' });
      return { actions, drift, problems };
    }
    // Loaded: each parameter the module shows in sysfs is compared; the ones it keeps out of sysfs cannot be.
    let reload = false;
    for (const [name, wanted] of spec.params) {
      const have = snap.params[name];
      if (have?.value === undefined || sameValue(wanted, have.value)) continue;
      if (have.writable) {
        actions.push({ module, action: 'set-param', param: name, before: have.value, after: wanted, status: 'planned' });
      } else {
        drift.push({ module, param: name, expected: wanted, actual: have.value, reload: spec.reload && !builtin });
        if (spec.reload && !builtin) reload = true;
      }
    }
    if (reload) {
      // The reload loads every parameter afresh: run-time sets before it would be undone.
      const kept = actions.filter((a) => a.action !== 'set-param');
      kept.push({ module, action: 'reload', before: 'loaded', after: 'loaded', params: paramString(), status: 'planned' });
      return { actions: kept, drift, problems };
    }
  } else if (snap.loaded) {
    actions.push({ module, action: 'unload', before: 'loaded', after: 'unloaded', status: 'planned' });
  }
  return { actions, drift, problems };
}

/** The whole plan: every module's actions in spec order, every problem of every module. */
export function planAll(specs: ModuleSpec[], snapshots: ReadonlyMap<string, ModuleSnapshot>, opts: PlanOptions): Plan {
  const out: Plan = { actions: [], drift: [], problems: [] };
  for (const spec of specs) {
    const p = planModule(spec, snapshots.get(spec.module)!, opts);
    out.actions.push(...p.actions);
    out.drift.push(...p.drift);
    out.problems.push(...p.problems);
  }
  return out;
}
