// kernmod's NetBSD side, exposed by the package as a namespace: `import { netbsd } from 'kernmod'`.
// The same shape as the Linux API (loadModule / unloadModule with *Sync twins, bind, withBackend), plus
// listModules and moduleSupport. On NetBSD the package's top-level functions dispatch here (platform.ts).
// Importing this module touches nothing: the native backend is created on the first call, and on a
// non-NetBSD host that call throws ERR_KERNMOD_NO_BACKEND (use withBackend(createFakeNetbsdBackend())).
import type { NetbsdBackend } from './backend.js';
import {
  listModules,
  listModulesSync,
  loadModule,
  loadModuleSync,
  moduleSupport,
  moduleSupportSync,
  unloadModule,
  unloadModuleSync,
  type ModuleSupport,
  type NetbsdLoadOptions,
  type NetbsdLoadResult,
  type NetbsdModuleInfo,
  type NetbsdUnloadOptions,
  type NetbsdUnloadResult,
} from './modctl.js';
import { createNetbsdNativeBackend } from './native.js';

export interface NetbsdKernmod {
  /** Which backend makes the calls: 'native' (the addon built on NetBSD) or 'fake' (a simulation). */
  readonly backend: NetbsdBackend['name'];
  loadModule(source: string | URL, options?: NetbsdLoadOptions): Promise<NetbsdLoadResult>;
  loadModuleSync(source: string | URL, options?: Omit<NetbsdLoadOptions, 'signal'>): NetbsdLoadResult;
  unloadModule(name: string, options?: NetbsdUnloadOptions): Promise<NetbsdUnloadResult>;
  unloadModuleSync(name: string): NetbsdUnloadResult;
  listModules(): Promise<NetbsdModuleInfo[]>;
  listModulesSync(): NetbsdModuleInfo[];
  moduleSupport(): Promise<ModuleSupport>;
  moduleSupportSync(): ModuleSupport;
}

export function bind(backend: NetbsdBackend): NetbsdKernmod {
  return {
    backend: backend.name,
    loadModule: (source, options) => loadModule(backend, source, options),
    loadModuleSync: (source, options) => loadModuleSync(backend, source, options),
    unloadModule: (name, options) => unloadModule(backend, name, options),
    unloadModuleSync: (name) => unloadModuleSync(backend, name),
    listModules: () => listModules(backend),
    listModulesSync: () => listModulesSync(backend),
    moduleSupport: () => moduleSupport(backend),
    moduleSupportSync: () => moduleSupportSync(backend),
  };
}

/** The API over a chosen backend: 'native', or a NetbsdBackend (e.g. createFakeNetbsdBackend()). */
export function withBackend(backend: 'native' | NetbsdBackend): NetbsdKernmod {
  return bind(backend === 'native' ? createNetbsdNativeBackend() : backend);
}

let defaultApi: NetbsdKernmod | undefined;
function api(): NetbsdKernmod {
  defaultApi ??= withBackend('native');
  return defaultApi;
}
function rejecting<T>(f: () => Promise<T>): Promise<T> {
  try {
    return f();
  } catch (e) {
    return Promise.reject(e);
  }
}

/** modctl(MODCTL_LOAD) on this NetBSD kernel: a module name (looked up in kern.module.path) or a path. */
function load(source: string | URL, options?: NetbsdLoadOptions): Promise<NetbsdLoadResult> {
  return rejecting(() => api().loadModule(source, options));
}
function loadSync(source: string | URL, options?: Omit<NetbsdLoadOptions, 'signal'>): NetbsdLoadResult {
  return api().loadModuleSync(source, options);
}
function unload(name: string, options?: NetbsdUnloadOptions): Promise<NetbsdUnloadResult> {
  return rejecting(() => api().unloadModule(name, options));
}
function unloadSync(name: string): NetbsdUnloadResult {
  return api().unloadModuleSync(name);
}
function list(): Promise<NetbsdModuleInfo[]> {
  return rejecting(() => api().listModules());
}
function listSync(): NetbsdModuleInfo[] {
  return api().listModulesSync();
}
function supportOf(): Promise<ModuleSupport> {
  return rejecting(() => api().moduleSupport());
}
function supportOfSync(): ModuleSupport {
  return api().moduleSupportSync();
}

export {
  load as loadModule,
  loadSync as loadModuleSync,
  unload as unloadModule,
  unloadSync as unloadModuleSync,
  list as listModules,
  listSync as listModulesSync,
  supportOf as moduleSupport,
  supportOfSync as moduleSupportSync,
};

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
