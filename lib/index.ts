// kernmod: load, unload and inspect kernel modules through the real system calls.
import type { Backend } from './backend/types.js';
import { loadBackend } from './backend/select.js';
import { KernmodError } from './errors.js';
import { bind, type Kernmod } from './kernmod.js';
import type { LoadOptions, LoadResult, ModuleSource, UnloadOptions, UnloadResult } from './linux/load.js';

export { KernmodError, hintFor, type Phase, type Syscall } from './errors.js';
export { errnoInfo, errnoNumber, type ErrnoInfo } from './errno.js';
export { encodeParams, parseParams, validateParamString, nextArg, type ParamsInput, type ParamValue, type ParsedParam } from './params.js';
export { normalizeModuleName, moduleNameFromPath, validateModuleName, MODULE_EXTENSIONS } from './names.js';
export {
  MODULE_INIT_IGNORE_MODVERSIONS,
  MODULE_INIT_IGNORE_VERMAGIC,
  MODULE_INIT_COMPRESSED_FILE,
  MODULE_INIT_KNOWN_FLAGS,
} from './linux/constants.js';
export { withBackend, type Kernmod } from './kernmod.js';
export { createFakeBackend, FakeKernel, type FakeKernelOptions } from './backend/fake.js';
export type { Backend, BackendName, PathOutcome } from './backend/types.js';
/** NetBSD's modctl(2): load/unload/list with props, and the plist/modstat codecs. */
export * as netbsd from './netbsd/index.js';
export type { LoadOptions, LoadResult, ModuleSource, UnloadOptions, UnloadResult } from './linux/load.js';

// The default backend is chosen once, when kernmod is imported (KERNMOD_BACKEND=native|ffi forces one).
// If none loads, importing still works; every call then throws the loader's error with each reason.
let defaultApi: Kernmod | undefined;
let loadError: KernmodError | undefined;
try {
  defaultApi = bind(loadBackend());
} catch (e) {
  loadError = e as KernmodError;
}

function api(): Kernmod {
  if (!defaultApi) throw loadError!;
  return defaultApi;
}

/** The active backend's name: 'native' or 'ffi' ('none' if neither could be loaded). */
export const backend: Backend['name'] | 'none' = defaultApi?.backend ?? 'none';

/** The kernel's MODULE_NAME_LEN for this architecture (56 on 64-bit Linux), 0 if unknown. */
export const MODULE_NAME_LEN: number = defaultApi?.MODULE_NAME_LEN ?? 0;

/** delete_module flags. */
export const O_TRUNC = 0o1000;
export const O_NONBLOCK = 0o4000;

export function loadModule(source: ModuleSource, options?: LoadOptions): Promise<LoadResult> {
  try {
    return api().loadModule(source, options);
  } catch (e) {
    return Promise.reject(e);
  }
}
export function loadModuleSync(source: ModuleSource, options?: Omit<LoadOptions, 'signal'>): LoadResult {
  return api().loadModuleSync(source, options);
}
export function unloadModule(name: string, options?: UnloadOptions): Promise<UnloadResult> {
  try {
    return api().unloadModule(name, options);
  } catch (e) {
    return Promise.reject(e);
  }
}
export function unloadModuleSync(name: string, options?: Omit<UnloadOptions, 'signal'>): UnloadResult {
  return api().unloadModuleSync(name, options);
}
