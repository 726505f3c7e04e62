// Picks the backend: the native addon, else the ffi-rs fallback (like sharp's loader, it tries each in
// turn and, when all fail, reports every reason and the fix). KERNMOD_BACKEND=native|ffi forces one and
// fails loudly if it cannot load. selectBackend() also says how the choice came about (`kernmod doctor`).
import { KernmodError } from '../errors.js';
import { firstLine, loadAddon, prebuildTriple, type AddonSource } from './addon.js';
import { createFfiBackend } from './ffi.js';
import { createNativeBackend, type NativeBinding } from './native.js';
import type { Backend } from './types.js';

const FIX: Record<'native' | 'ffi', () => string> = {
  native: () =>
    `build the addon with \`npm run build:native\` (needs python3, make and a C++ compiler; no prebuilt ` +
    `addon is shipped for ${prebuildTriple()} or it did not load)`,
  ffi: () => 'install the optional dependency ffi-rs (`npm install ffi-rs`; it needs a prebuilt binary for this platform)',
};

/** How each backend is created; replaceable in tests to show the aggregated failure report. */
export type BackendLoaders = Record<'native' | 'ffi', () => Backend>;
const defaultLoaders: BackendLoaders = { native: () => createNativeBackend(), ffi: createFfiBackend };

/** How the active backend was chosen. */
export interface BackendChoice {
  name: Backend['name'];
  /** For the native backend, where its addon came from; for ffi, 'fallback' or 'KERNMOD_BACKEND=ffi'. */
  source: AddonSource | 'fallback' | 'KERNMOD_BACKEND=ffi' | 'injected';
  /** The addon file, for the native backend. */
  path?: string;
  /** Each backend tried before this one, and why it could not load. */
  skipped: Array<{ name: 'native' | 'ffi'; reason: string }>;
}

export function selectBackend(
  preference: string | undefined = process.env.KERNMOD_BACKEND,
  loaders: BackendLoaders = defaultLoaders,
): { backend: Backend; choice: BackendChoice } {
  const wanted = preference === undefined || preference === '' || preference === 'auto' ? 'auto' : preference;
  if (wanted !== 'auto' && wanted !== 'native' && wanted !== 'ffi') {
    throw new KernmodError({
      code: 'ERR_KERNMOD_NO_BACKEND',
      phase: 'backend',
      message: `KERNMOD_BACKEND=${wanted} is not a backend: use native, ffi or auto`,
    });
  }
  const order: Array<'native' | 'ffi'> = wanted === 'auto' ? ['native', 'ffi'] : [wanted];
  const skipped: BackendChoice['skipped'] = [];
  for (const name of order) {
    let backend: Backend;
    try {
      backend = loaders[name]();
    } catch (e) {
      skipped.push({ name, reason: firstLine(e) });
      continue;
    }
    return { backend, choice: describe(name, backend, loaders, wanted, skipped) };
  }
  throw new KernmodError({
    code: 'ERR_KERNMOD_NO_BACKEND',
    phase: 'backend',
    message:
      `kernmod could not load a backend${wanted === 'auto' ? '' : ` (KERNMOD_BACKEND=${wanted})`}:\n` +
      skipped.map((s) => `- ${s.name}: ${s.reason}\n  fix: ${FIX[s.name]()}`).join('\n'),
    hint: 'kernmod needs either its native addon or ffi-rs to make system calls',
  });
}

function describe(
  name: 'native' | 'ffi',
  backend: Backend,
  loaders: BackendLoaders,
  wanted: string,
  skipped: BackendChoice['skipped'],
): BackendChoice {
  if (loaders[name] !== defaultLoaders[name]) return { name: backend.name, source: 'injected', skipped };
  if (name === 'native') {
    const { source, path } = loadAddon<NativeBinding>('kernmod'); // already loaded: the cached record
    return { name: backend.name, source, path, skipped };
  }
  return { name: backend.name, source: wanted === 'ffi' ? 'KERNMOD_BACKEND=ffi' : 'fallback', skipped };
}

export function loadBackend(
  preference: string | undefined = process.env.KERNMOD_BACKEND,
  loaders: BackendLoaders = defaultLoaders,
): Backend {
  return selectBackend(preference, loaders).backend;
}
