// What ensure() asks of the running system, as one small interface: the real one goes through the
// library's own modprobe (probe/remove: dependencies, modprobe.d options, aliases), sysfs and
// setParameter; unit tests give a simulation of it.
import type { Kernmod } from '../kernmod.js';
import { getParameters, setParameter, type ParameterInfo } from '../linux/parameters.js';
import { isLoaded } from '../linux/state.js';
import { Modprobe, type ModprobeOptions } from '../modprobe/modprobe.js';
import { encodeParams, normalizeParamName, parseParams } from '../params.js';
import { sameValue } from './plan.js';

export interface ProvisionSystem {
  /** In the module directory ('module'), built in ('builtin'), or unknown. */
  find(module: string): Promise<'module' | 'builtin' | undefined>;
  loaded(module: string): boolean;
  /** sysfs parameters of a loaded (or built-in) module; {} when it has none there. */
  parameters(module: string): Promise<Record<string, ParameterInfo>>;
  /** Loads with dependencies, modprobe.d options and then `params`; throws a KernmodError. */
  load(module: string, params: string): Promise<void>;
  /** Unloads (and the dependencies left unused, as modprobe -r); throws a KernmodError. */
  unload(module: string): Promise<void>;
  setParameter(module: string, param: string, value: string): Promise<void>;
}

export interface SystemOptions extends ModprobeOptions {
  /** The syscall layer, or a function that gives it when a load or unload first needs it. */
  kernmod: Kernmod | (() => Kernmod);
}

/** The running kernel, through kernmod's modprobe. */
export function runningSystem(opts: SystemOptions): ProvisionSystem {
  let mp: Promise<Modprobe> | undefined;
  const modprobe = () => (mp ??= Modprobe.open(opts));
  let km: Kernmod | undefined;
  const kernmod = () => (km ??= typeof opts.kernmod === 'function' ? opts.kernmod() : opts.kernmod);
  const sys = opts.sysRoot === undefined ? {} : { root: opts.sysRoot };
  const psys = opts.sysRoot === undefined ? {} : { sysRoot: opts.sysRoot };
  return {
    async find(module) {
      const found = (await modprobe()).lookupName(module);
      if (!found) return undefined;
      return found.source === 'modules.builtin' ? 'builtin' : 'module';
    },
    loaded: (module) => isLoaded(module, sys),
    async parameters(module) {
      try {
        return await getParameters(module, psys);
      } catch {
        return {};
      }
    },
    async load(module, params) {
      // The configuration read afresh: the options file ensure() has just written applies, as at boot.
      const fresh = await Modprobe.open(opts);
      const extra = paramsBeyondConfig(params, configuredOptions(fresh, module));
      const r = await fresh.probe(module, { kernmod: kernmod(), params: extra });
      if (!r.ok) throw r.error;
    },
    async unload(module) {
      const r = await (await modprobe()).remove(module, { kernmod: kernmod() });
      if (!r.ok) throw r.error;
    },
    setParameter: (module, param, value) => setParameter(module, param, value, psys),
  };
}

/** The options modprobe.d gives the module (what a plain `modprobe NAME` would pass). */
function configuredOptions(mp: Modprobe, module: string): string {
  const plan = mp.resolve(module, { ignoreLoaded: true });
  const target = plan.modules.flatMap((m) => m.steps).find((s) => s.module === module && s.role === 'target');
  return target?.params ?? '';
}

/**
 * The spec's params that modprobe.d does not already give with the same value: probe() passes the
 * configured options first and then these, and a name repeated with the same value is just noise
 * (loadModule refuses a repeat). A name that modprobe.d gives another value is passed: the spec's value
 * comes later, and the later one is what the module gets.
 */
function paramsBeyondConfig(params: string, configured: string): string {
  const fromConfig = new Map(parseParams(configured).map((p) => [normalizeParamName(p.name), p.value ?? 'Y']));
  const extra = parseParams(params).filter((p) => {
    const have = fromConfig.get(normalizeParamName(p.name));
    return have === undefined || !sameValue(p.value ?? 'Y', have);
  });
  return encodeParams(extra.map((p) => [p.name, p.value ?? 'Y'] as const));
}
