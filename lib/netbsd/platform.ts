// The top-level API's NetBSD branch: `loadModule`/`unloadModule`/`listModules` (and the Sync twins)
// called with the Linux-shaped arguments a provisioning script passes, carried out with modctl(2), so
// the same script runs on both systems.
//  - params become the module's props: an object keeps its types (number/bigint → integer, boolean,
//    string; a list → a comma-joined string, as a Linux array parameter is written), a string is split
//    by the kernel's own rules (each value a string, a bare name `true`).
//  - ignoreVermagic / ignoreModversions / force ask for MODCTL_LOAD_FORCE: NetBSD's one way to load
//    despite a version mismatch. NetBSD's own props / noProp pass through.
//  - Bytes cannot be loaded: modctl loads from a file (ERR_KERNMOD_INVALID_SOURCE, before any call).
import { invalidInput } from '../errors.js';
import { encodeParams, parseParams, type ParamsInput, type ParamValue } from '../params.js';
import * as netbsd from './index.js';
import type { PropDict, PropValue } from './plist.js';

/** What the top-level loadModule takes on NetBSD beyond the Linux options. */
export interface NetbsdLoadExtras {
  props?: PropDict;
  force?: boolean;
  noProp?: boolean;
}

interface LinuxShapedLoadOptions extends NetbsdLoadExtras {
  params?: ParamsInput;
  ignoreVermagic?: boolean;
  ignoreModversions?: boolean;
  signal?: AbortSignal;
}

function propOf(v: ParamValue): PropValue {
  if (Array.isArray(v)) return v.map(String).join(',');
  return v as PropValue;
}

/** Linux params as NetBSD props (see above); checked by the same rules as on Linux. */
export function paramsAsProps(params: ParamsInput): PropDict {
  const out: Record<string, PropValue> = {};
  if (typeof params === 'string') {
    for (const p of parseParams(encodeParams(params))) out[p.name] = p.value ?? true;
    return out;
  }
  encodeParams(params); // the same validation as a Linux load: names, values, duplicates
  const entries: Iterable<readonly [string, ParamValue | undefined]> =
    params instanceof Map
      ? params.entries()
      : Array.isArray(params)
        ? (params as ReadonlyArray<readonly [string, ParamValue]>)
        : Object.entries(params);
  for (const [name, v] of entries) if (v !== undefined) out[name] = propOf(v);
  return out;
}

export function netbsdLoadOptions(options: LinuxShapedLoadOptions = {}): netbsd.NetbsdLoadOptions {
  const props = { ...(options.params !== undefined ? paramsAsProps(options.params) : {}), ...options.props };
  const force = Boolean(options.force || options.ignoreVermagic || options.ignoreModversions);
  return {
    ...(Object.keys(props).length ? { props } : {}),
    ...(force ? { force } : {}),
    ...(options.noProp ? { noProp: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

function fileSource(source: unknown): string | URL {
  if (typeof source === 'string' || source instanceof URL) return source;
  throw invalidInput(
    'ERR_KERNMOD_INVALID_SOURCE',
    'on NetBSD a module is loaded from a file: pass a module name, a path or a file: URL (modctl cannot load bytes)',
  );
}

/** The top-level functions over a NetBSD API (the default one, or one over the fake in tests). */
export function netbsdTopLevel(api: () => Omit<netbsd.NetbsdKernmod, 'backend'>) {
  // The arguments are checked before the backend is needed (api() only names the API; its calls create
  // the backend): bad input is refused the same everywhere.
  const args = (source: unknown, options?: object) => [fileSource(source), netbsdLoadOptions(options)] as const;
  return {
    loadModule: async (source: unknown, options?: object) => api().loadModule(...args(source, options)),
    loadModuleSync: (source: unknown, options?: object) => api().loadModuleSync(...args(source, options)),
    unloadModule: (name: string, options?: netbsd.NetbsdUnloadOptions) => api().unloadModule(name, options),
    unloadModuleSync: (name: string) => api().unloadModuleSync(name),
    listModules: () => api().listModules(),
    listModulesSync: () => api().listModulesSync(),
  };
}

/** On NetBSD, the top-level functions over the native modctl backend (created on first use); else undefined. */
export function platformTopLevel(platform: string = process.platform): ReturnType<typeof netbsdTopLevel> | undefined {
  return platform === 'netbsd' ? netbsdTopLevel(() => netbsd) : undefined;
}
