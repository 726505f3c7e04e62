// The public API bound to one backend. `index.ts` binds it to the default backend (native, else ffi);
// `withBackend()` gives the same API over another one — ffi, or a FakeKernel in a user's unit tests.
import { createFakeBackend } from './backend/fake.js';
import { loadBackend } from './backend/select.js';
import type { Backend } from './backend/types.js';
import {
  loadModule,
  loadModuleSync,
  unloadModule,
  unloadModuleSync,
  type LoadOptions,
  type LoadResult,
  type ModuleSource,
  type UnloadOptions,
  type UnloadResult,
  type KernelEnv,
} from './linux/load.js';

export interface Kernmod {
  /** Which backend makes the system calls: 'native' | 'ffi' | 'fake'. */
  readonly backend: Backend['name'];
  /** The kernel's MODULE_NAME_LEN (with the NUL) for this architecture. */
  readonly MODULE_NAME_LEN: number;
  loadModule(source: ModuleSource, options?: LoadOptions): Promise<LoadResult>;
  loadModuleSync(source: ModuleSource, options?: Omit<LoadOptions, 'signal'>): LoadResult;
  unloadModule(name: string, options?: UnloadOptions): Promise<UnloadResult>;
  unloadModuleSync(name: string, options?: Omit<UnloadOptions, 'signal'>): UnloadResult;
}

/** `env.sysRoot` points the policy at another /sys (tests, containers); default the real one. */
export function bind(backend: Backend, env: KernelEnv = {}): Kernmod {
  return {
    backend: backend.name,
    MODULE_NAME_LEN: backend.moduleNameLen,
    loadModule: (source, options) => loadModule(backend, source, options, env),
    loadModuleSync: (source, options) => loadModuleSync(backend, source, options, env),
    unloadModule: (name, options) => unloadModule(backend, name, options),
    unloadModuleSync: (name, options) => unloadModuleSync(backend, name, options),
  };
}

/** The same API over a chosen backend: 'native', 'ffi', or a Backend object (e.g. createFakeBackend()). */
export function withBackend(backend: 'native' | 'ffi' | Backend, env: KernelEnv = {}): Kernmod {
  return bind(typeof backend === 'string' ? loadBackend(backend) : backend, env);
}

export { createFakeBackend };
