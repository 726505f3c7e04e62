// The backends a test can run against. The native and ffi backends talk to the real kernel of whatever
// machine runs the test: on CI hosts that kernel has no module support (every call answers ENOSYS);
// inside the VM it is a real Debian kernel. The fake backend is a simulation, labelled as such.
import { existsSync } from 'node:fs';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { createFfiBackend } from '../../lib/backend/ffi.js';
import { createNativeBackend, loadNativeBinding } from '../../lib/backend/native.js';
import { LINUX_DELETE_FLAGS } from '../../lib/backend/syscalls.js';
import type { Backend } from '../../lib/backend/types.js';

export interface BackendCase {
  label: string;
  make: () => Backend;
  /** True when the kernel behind it has module support (a real one in the VM, or the fake). */
  modules: boolean;
}

/**
 * Whether the kernel under the test answers the module calls, found by making one (delete_module of a
 * module that cannot be loaded: ENOSYS means no module support), not guessed from /proc. Without the
 * addon, /proc/modules says.
 */
export const hostHasModules = (() => {
  try {
    return loadNativeBinding().deleteModuleSync('kernmod_no_such_module', LINUX_DELETE_FLAGS.O_NONBLOCK) !== -38;
  } catch {
    return existsSync('/proc/modules');
  }
})();

export function realBackends(): BackendCase[] {
  return [
    {
      label: 'native',
      make: () => createNativeBackend(loadNativeBinding()),
      modules: hostHasModules,
    },
    { label: 'ffi', make: () => createFfiBackend(), modules: hostHasModules },
  ];
}

export function fakeBackends(): BackendCase[] {
  return [
    { label: 'fake (simulated kernel)', make: () => createFakeBackend(new FakeKernel()), modules: true },
    {
      label: 'fake (simulated kernel without module support)',
      make: () => createFakeBackend(new FakeKernel({ noModuleSupport: true })),
      modules: false,
    },
  ];
}
