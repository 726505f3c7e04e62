// kernmod's NetBSD side, exposed by the package as a namespace: `import { netbsd } from 'kernmod'`.
// The same shape as the Linux API (loadModule / unloadModule with *Sync twins, bind, withBackend), plus
// listModules and moduleSupport. On NetBSD the package's top-level functions dispatch here (platform.ts).
// Importing this module touches nothing: the native backend is created on the first call, and on a
// non-NetBSD host that call throws ERR_KERNMOD_NO_BACKEND (use withBackend(createFakeNetbsdBackend())).
import type { NetbsdBackend } from './backend.js';
import * as modctl from './modctl.js';
import { createNetbsdNativeBackend } from './native.js';

export interface NetbsdKernmod {
  /** Which backend makes the calls: 'native' (the addon built on NetBSD) or 'fake' (a simulation). */
  readonly backend: NetbsdBackend['name'];
  loadModule(source: string | URL, options?: modctl.NetbsdLoadOptions): Promise<modctl.NetbsdLoadResult>;
  loadModuleSync(source: string | URL, options?: Omit<modctl.NetbsdLoadOptions, 'signal'>): modctl.NetbsdLoadResult;
  unloadModule(name: string, options?: modctl.NetbsdUnloadOptions): Promise<modctl.NetbsdUnloadResult>;
  unloadModuleSync(name: string): modctl.NetbsdUnloadResult;
  listModules(): Promise<modctl.NetbsdModuleInfo[]>;
  listModulesSync(): modctl.NetbsdModuleInfo[];
  moduleSupport(): Promise<modctl.ModuleSupport>;
  moduleSupportSync(): modctl.ModuleSupport;
}

/** The API over the backend `get()` gives on each call; a failing `get()` makes the async functions reject. */
function over(get: () => NetbsdBackend): Omit<NetbsdKernmod, 'backend'> {
  return {
    loadModule: async (source, options) => modctl.loadModule(get(), source, options),
    loadModuleSync: (source, options) => modctl.loadModuleSync(get(), source, options),
    unloadModule: async (name, options) => modctl.unloadModule(get(), name, options),
    unloadModuleSync: (name) => modctl.unloadModuleSync(get(), name),
    listModules: async () => modctl.listModules(get()),
    listModulesSync: () => modctl.listModulesSync(get()),
    moduleSupport: async () => modctl.moduleSupport(get()),
    moduleSupportSync: () => modctl.moduleSupportSync(get()),
  };
}

export function bind(backend: NetbsdBackend): NetbsdKernmod {
  return { backend: backend.name, ...over(() => backend) };
}

/** The API over a chosen backend: 'native', or a NetbsdBackend (e.g. createFakeNetbsdBackend()). */
export function withBackend(backend: 'native' | NetbsdBackend): NetbsdKernmod {
  return bind(backend === 'native' ? createNetbsdNativeBackend() : backend);
}

let native: NetbsdBackend | undefined;
/** modctl(2) on this NetBSD kernel; MODCTL_LOAD takes a module name (looked up in kern.module.path) or a path. */
export const {
  loadModule,
  loadModuleSync,
  unloadModule,
  unloadModuleSync,
  listModules,
  listModulesSync,
  moduleSupport,
  moduleSupportSync,
} = over(() => (native ??= createNetbsdNativeBackend()));

export type {
  ModuleSupport,
  ModstatReading,
  NetbsdLoadOptions,
  NetbsdLoadResult,
  NetbsdModuleInfo,
  NetbsdUnloadOptions,
  NetbsdUnloadResult,
} from './modctl.js';
export { netbsdModuleName, validateNetbsdModuleName, readModstat, readModstatSync } from './modctl.js';
export { EMPTY_PROPS_PLIST, type NetbsdBackend, type NetbsdBackendName, type StatOutcome } from './backend.js';
export { createNetbsdNativeBackend } from './native.js';
export {
  createFakeNetbsdBackend,
  FakeNetbsdKernel,
  type FakeKmodSpec,
  type FakeNetbsdKernelOptions,
  type FakeNetbsdModule,
} from './fake.js';
export {
  externalizeProps,
  internalizeProps,
  PLIST_HEADER,
  PLIST_FOOTER,
  type PropDict,
  type PropValue,
  type ExternalizeOptions,
} from './plist.js';
export { decodeModstat, encodeModstat, type ModstatEntry, type ModstatFlags, type ModstatLayout, type ModstatRecord } from './modstat.js';
export { modctlError, netbsdHint, type ModctlCommand } from './errors.js';
export { NETBSD_ERRNO, netbsdErrnoInfo, netbsdErrnoNumber } from './errno-table.js';
export * from './constants.js';
