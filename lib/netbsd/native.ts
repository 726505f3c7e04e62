// The native NetBSD backend: the addon's modctl functions (native/sys_netbsd.cc), which exist only in
// an addon compiled on NetBSD (binding.gyp defines KERNMOD_MODCTL there). Elsewhere creating it fails
// with a typed error rather than pretending: a Linux addon has no modctl(2) to call.
import { endianness } from 'node:os';
import { loadNativeBinding } from '../backend/native.js';
import { KernmodError } from '../errors.js';
import type { NetbsdBackend, StatOutcome } from './backend.js';

/** The modctl part of the addon's surface (present only when built on NetBSD); the stat calls give [ret, command, bytes]. */
type ModctlBinding = Omit<NetbsdBackend, 'name' | 'system' | 'endian' | 'modctlStat' | 'modctlStatSync'> & {
  modctlStat(): Promise<[number, number, Uint8Array]>;
  modctlStatSync(): [number, number, Uint8Array];
};

function hasModctl(b: unknown): b is ModctlBinding {
  return typeof (b as Partial<ModctlBinding>)?.modctlLoad === 'function';
}

function outcome([ret, command, bytes]: [number, number, Uint8Array]): StatOutcome {
  const cmd = command === 2 ? 2 : 4;
  return { ret, command: cmd, layout: cmd === 4 ? 'v2' : 'v1', bytes };
}

function defaultBinding(): unknown {
  try {
    return loadNativeBinding();
  } catch (e) {
    throw new KernmodError({
      code: 'ERR_KERNMOD_NO_BACKEND',
      phase: 'backend',
      message: `kernmod's native addon could not be loaded: ${(e as Error)?.message?.split('\n')[0] ?? String(e)}`,
      hint:
        'on NetBSD, build it with `npm run build:native` (needs python3, gmake and a C++ compiler); there ' +
        'is no ffi fallback for modctl',
      cause: e,
    });
  }
}

export function createNetbsdNativeBackend(binding: unknown = defaultBinding()): NetbsdBackend {
  if (!hasModctl(binding)) {
    const system = (binding as { constants?: { system?: string } })?.constants?.system ?? 'unknown';
    throw new KernmodError({
      code: 'ERR_KERNMOD_NO_BACKEND',
      phase: 'backend',
      message: `the native addon was built for ${system}; NetBSD's modctl(2) is compiled into it only on NetBSD`,
      hint: 'run on NetBSD (and build the addon there with `npm run build:native`), or use createFakeNetbsdBackend() in tests',
    });
  }
  return {
    name: 'native',
    system: 'netbsd',
    endian: endianness(),
    modctlLoad: (filename, flags, props) => binding.modctlLoad(filename, flags, props),
    modctlLoadSync: (filename, flags, props) => binding.modctlLoadSync(filename, flags, props),
    modctlUnload: (name) => binding.modctlUnload(name),
    modctlUnloadSync: (name) => binding.modctlUnloadSync(name),
    modctlStat: async () => outcome(await binding.modctlStat()),
    modctlStatSync: () => outcome(binding.modctlStatSync()),
    modctlExists: (which) => binding.modctlExists(which),
    modctlExistsSync: (which) => binding.modctlExistsSync(which),
  };
}
