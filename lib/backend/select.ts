// Picks the backend: the native addon, else the ffi-rs fallback (like sharp's loader, it tries each in
// turn and, when all fail, reports every reason and the fix). KERNMOD_BACKEND=native|ffi forces one and
// fails loudly if it cannot load.
import { installErrnoTable } from '../errno.js';
import { KernmodError } from '../errors.js';
import { createFfiBackend } from './ffi.js';
import { createNativeBackend, loadNativeBinding } from './native.js';
import type { Backend } from './types.js';

const FIX: Record<'native' | 'ffi', string> = {
  native: 'build the addon with `npm run build:native` (needs python3, make and a C++ compiler)',
  ffi: 'install the optional dependency ffi-rs (`npm install ffi-rs`; it needs a prebuilt binary for this platform)',
};

function tryNative(): Backend {
  const binding = loadNativeBinding();
  installErrnoTable(binding.errnoTable());
  return createNativeBackend(binding);
}

function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

/** How each backend is created; replaceable in tests to show the aggregated failure report. */
export type BackendLoaders = Record<'native' | 'ffi', () => Backend>;
const defaultLoaders: BackendLoaders = { native: tryNative, ffi: createFfiBackend };

export function loadBackend(preference: string | undefined = process.env.KERNMOD_BACKEND, loaders: BackendLoaders = defaultLoaders): Backend {
  const wanted = preference === undefined || preference === '' || preference === 'auto' ? 'auto' : preference;
  if (wanted !== 'auto' && wanted !== 'native' && wanted !== 'ffi') {
    throw new KernmodError({
      code: 'ERR_KERNMOD_NO_BACKEND',
      phase: 'backend',
      message: `KERNMOD_BACKEND=${wanted} is not a backend: use native, ffi or auto`,
    });
  }
  const order: Array<'native' | 'ffi'> = wanted === 'auto' ? ['native', 'ffi'] : [wanted];
  const failures: string[] = [];
  for (const name of order) {
    try {
      return loaders[name]();
    } catch (e) {
      failures.push(`- ${name}: ${reason(e)}\n  fix: ${FIX[name]}`);
    }
  }
  throw new KernmodError({
    code: 'ERR_KERNMOD_NO_BACKEND',
    phase: 'backend',
    message: `kernmod could not load a backend${wanted === 'auto' ? '' : ` (KERNMOD_BACKEND=${wanted})`}:\n${failures.join('\n')}`,
    hint: 'kernmod needs either its native addon or ffi-rs to make system calls',
  });
}
