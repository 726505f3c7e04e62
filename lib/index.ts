// kernmod: load, unload and inspect kernel modules through the real system calls.
import type { Backend } from './backend/types.js';
import { loadBackend } from './backend/select.js';
import { installNativeXz } from './backend/native-xz.js';
import { LINUX_DELETE_FLAGS } from './backend/syscalls.js';
import type { KernmodError } from './errors.js';
import { bind, type Kernmod } from './kernmod.js';
import type { LoadOptions, LoadResult, UnloadOptions, UnloadResult } from './kernmod.js';
import type { ModuleSource } from './linux/load.js';
import {
  listModules as linuxListModules,
  listModulesSync as linuxListModulesSync,
  type LoadedModule,
  type StateOptions,
} from './linux/state.js';
import type { NetbsdLoadResult, NetbsdModuleInfo, NetbsdUnloadResult } from './netbsd/modctl.js';
import { platformTopLevel, type NetbsdLoadExtras } from './netbsd/platform.js';
import {
  probe as probeWith,
  remove as removeWith,
  type ModprobeOptions,
  type ProbeOptions as ModprobeProbeOptions,
  type RemoveOptions as ModprobeRemoveOptions,
  type ProbeResult,
  type RemoveResult,
} from './modprobe/index.js';
import {
  ensure as ensureWith,
  type EnsureOptions as ProvisionEnsureOptions,
  type EnsureResult as ProvisionEnsureResult,
  type SpecInput as ProvisionSpecInput,
} from './provision/index.js';

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
export type { Backend, BackendName, ImageOutcome, PathOutcome } from './backend/types.js';
export {
  modinfo,
  modinfoSync,
  modinfoFromImage,
  builtinModuleInfo,
  type ModinfoOptions,
  type ModuleInfo,
  type ModinfoSource,
} from './elf/modinfo.js';
export type { ModinfoField } from './elf/strings.js';
export type { ModuleParam } from './elf/params.js';
export type { ModuleVersion } from './elf/versions.js';
export type { ModuleSignature } from './elf/signature.js';
export {
  decompress,
  decompressSync,
  detectCompression,
  setXzDecoder,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  type DecompressOptions,
  type CompressionFormat,
  type XzDecoder,
} from './compress/index.js';
export { getModule, moduleState, isLoaded, type LoadedModule, type StateOptions } from './linux/state.js';
export { parseProcModules, type ProcModulesRow } from './linux/procfs.js';
export { preflight, type PreflightResult } from './linux/preflight.js';
export {
  systemFacts,
  systemChecks,
  fileChecks,
  type Check,
  type CheckStatus,
  type SystemFacts,
  type FileFacts,
} from './linux/preflight.js';
export {
  Modprobe,
  resolve,
  resolveSync,
  moduleDirname,
  formatPlan,
  formatConfig,
  parseModprobeConf,
  parseKernelCmdline,
  loadConfig,
  loadConfigSync,
  ModuleDirectory,
  BinaryIndex,
  fnmatch,
  normalizeAlias,
  type Plan,
  type ModulePlan,
  type PlanStep,
  type StepAction,
  type ResolveOptions,
  type LookupResult,
  type ProbeResult,
  type StepResult,
  type StepOutcome,
  type RemoveResult,
  type RemoveStep,
  type ModprobeOptions,
  type ModprobeConfig,
  type ConfigDiagnostic,
} from './modprobe/index.js';
export {
  getParameters,
  getParametersSync,
  setParameter,
  setParameterSync,
  type ParameterInfo,
  type ParameterOptions,
} from './linux/parameters.js';
export {
  checkSpec,
  parseSpecText,
  planAll,
  sameValue,
  MARKER as PROVISION_MARKER,
  STATES as PROVISION_STATES,
  type EnsureOptions,
  type EnsureResult,
  type Action as ProvisionAction,
  type Drift as ProvisionDrift,
  type ModuleSpecInput,
  type ModuleStateName,
  type SpecInput,
  type ProvisionSystem,
} from './provision/index.js';
/** NetBSD's modctl(2): load/unload/list with props, and the plist/modstat codecs. */
export * as netbsd from './netbsd/index.js';
export type { ModuleSource } from './linux/load.js';
export type {
  LoadOptions,
  LoadResult,
  UnloadOptions,
  UnloadResult,
  KernelLogEntry,
  KernelLogLevel,
  KernelWarning,
  KernelWarningKind,
} from './kernmod.js';
// The top-level calls answer Linux's or NetBSD's result; `result.platform` ('linux' | 'netbsd') tells which.
export type { NetbsdLoadResult, NetbsdUnloadResult, NetbsdModuleInfo } from './netbsd/modctl.js';
export { parseKmsgRecord } from './linux/kmsg.js';
export { depmod, depmodSync, DepmodError, type DepmodOptions, type DepmodResult, type DepmodMessage } from './depmod/depmod.js';
export { IndexWriter } from './depmod/index-writer.js';

// The default backend is chosen once, when kernmod is imported (KERNMOD_BACKEND=native|ffi forces one).
// If none loads, importing still works; every call then throws the loader's error with each reason.
// xz decoding through liblzma when the kernmod_xz addon was built (else @napi-rs/lzma).
installNativeXz();

let defaultBackend: Backend | undefined;
let defaultApi: Kernmod | undefined;
let loadError: KernmodError | undefined;
try {
  defaultBackend = loadBackend();
  defaultApi = bind(defaultBackend);
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

/** delete_module flags, as the active backend reports them (the asm-generic values when none loaded). */
export const O_TRUNC: number = defaultBackend?.flags.O_TRUNC ?? LINUX_DELETE_FLAGS.O_TRUNC;
export const O_NONBLOCK: number = defaultBackend?.flags.O_NONBLOCK ?? LINUX_DELETE_FLAGS.O_NONBLOCK;

// On NetBSD the same calls go to modctl(2) (lib/netbsd/platform.ts maps the options), so a provisioning
// script runs unchanged on both; the results are NetBSD's (`syscall: 'modctl'`).
const netbsdTop = platformTopLevel();

export function loadModule(source: ModuleSource, options?: LoadOptions & NetbsdLoadExtras): Promise<LoadResult | NetbsdLoadResult> {
  if (netbsdTop) return netbsdTop.loadModule(source, options);
  try {
    return api().loadModule(source, options);
  } catch (e) {
    return Promise.reject(e);
  }
}
export function loadModuleSync(
  source: ModuleSource,
  options?: Omit<LoadOptions, 'signal'> & NetbsdLoadExtras,
): LoadResult | NetbsdLoadResult {
  if (netbsdTop) return netbsdTop.loadModuleSync(source, options);
  return api().loadModuleSync(source, options);
}
export function unloadModule(name: string, options?: UnloadOptions): Promise<UnloadResult | NetbsdUnloadResult> {
  if (netbsdTop) return netbsdTop.unloadModule(name, options);
  try {
    return api().unloadModule(name, options);
  } catch (e) {
    return Promise.reject(e);
  }
}
export function unloadModuleSync(name: string, options?: Omit<UnloadOptions, 'signal'>): UnloadResult | NetbsdUnloadResult {
  if (netbsdTop) return netbsdTop.unloadModuleSync(name);
  return api().unloadModuleSync(name, options);
}
/** The loaded modules: /proc/modules and sysfs on Linux, MODCTL_STAT on NetBSD. */
export function listModules(options?: StateOptions): Promise<LoadedModule[] | NetbsdModuleInfo[]> {
  return netbsdTop ? netbsdTop.listModules() : linuxListModules(options);
}
export function listModulesSync(options?: StateOptions): LoadedModule[] | NetbsdModuleInfo[] {
  return netbsdTop ? netbsdTop.listModulesSync() : linuxListModulesSync(options);
}

/** modprobe NAME: a module with its dependencies and softdeps (independent ones load concurrently). */
export function probe(
  nameOrAlias: string,
  options: ModprobeOptions & Omit<ModprobeProbeOptions, 'kernmod'> & { kernmod?: Kernmod } = {},
): Promise<ProbeResult> {
  try {
    return probeWith(nameOrAlias, { ...options, kernmod: options.kernmod ?? api() });
  } catch (e) {
    return Promise.reject(e);
  }
}

/** modprobe -r NAME: the module, then the dependencies and softdeps it leaves unused. */
export function remove(
  nameOrAlias: string,
  options: ModprobeOptions & Omit<ModprobeRemoveOptions, 'kernmod'> & { kernmod?: Kernmod } = {},
): Promise<RemoveResult> {
  try {
    return removeWith(nameOrAlias, { ...options, kernmod: options.kernmod ?? api() });
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Desired state: makes the kernel and kernmod's modprobe.d / modules-load.d files match `spec`
 * (module name -> { state, params?, reload? }); `check` only reports. Loads and unloads go through
 * probe()/remove() with the default backend, loaded only when one is needed.
 */
export function ensure(spec: ProvisionSpecInput | unknown, options: ProvisionEnsureOptions = {}): Promise<ProvisionEnsureResult> {
  return ensureWith(spec, { ...options, kernmod: options.kernmod ?? api });
}
