// The native addon backend (native/*.cc, built by node-gyp, loaded by ./addon.ts).
import { COMPRESSION_MAGICS } from '../compress/detect.js';
import { loadAddon } from './addon.js';
import { guardLength } from './guard.js';
import type { Backend, HeadGuard, ImageOutcome, PathOutcome } from './types.js';

/** The raw surface of build/Release/kernmod.node, typed by hand (kept apart from the public types). */
export interface NativeBinding {
  initModule(image: Uint8Array, params: string): Promise<number>;
  initModuleSync(image: Uint8Array, params: string): number;
  finitModule(fd: number, params: string, flags: number): Promise<number>;
  finitModuleSync(fd: number, params: string, flags: number): number;
  /**
   * finit_module's ret when the call reached it; else [ret, stage] (0 open, 3 pread, 4 not a regular
   * file), or [0, 2, head] when the guard stopped it.
   */
  finitModulePath(path: string, params: string, flags: number, guard?: EncodedGuard): Promise<RawPathOutcome>;
  finitModulePathSync(path: string, params: string, flags: number, guard?: EncodedGuard): RawPathOutcome;
  /** finit_module's ret when the call reached it; else [ret, stage] (0 memfd_create, 1 write). */
  finitModuleImage(image: Uint8Array, params: string, flags: number): Promise<RawImageOutcome>;
  finitModuleImageSync(image: Uint8Array, params: string, flags: number): RawImageOutcome;
  deleteModule(name: string, flags: number): Promise<number>;
  deleteModuleSync(name: string, flags: number): number;
  /** read(2)s of a non-blocking fd until EAGAIN, EOF or less than 8192 of 65536 bytes of room: the text (latin1), or -errno. */
  readAvailable(fd: number): string | number;
  /** read(2) of at most one byte from fd, where the module calls run: a call that lasts until a write. */
  readOne(fd: number): Promise<number>;
  /**
   * Where this environment's async calls ran (the syscall thread, the libuv pool); spinHits: calls the
   * syscall thread found while still waiting; spinCapUs: the most it waits (0: never); live: calls not
   * yet freed in the whole process. For the tests and the bench.
   */
  callStats(): { thread: number; pool: number; spinHits: number; spinCapUs: number; live: number };
  constants: { system: string; MODULE_NAME_LEN: number; O_TRUNC: number; O_NONBLOCK: number };
}

type RawPathOutcome = number | [ret: number, stage: 0 | 2 | 3 | 4, head?: Uint8Array];
type RawImageOutcome = number | [ret: number, stage: 0 | 1];

/** A HeadGuard as the addon reads it: its prefixes length-prefixed in one Uint8Array (n, n bytes, ...). */
type EncodedGuard = Uint8Array;

function encode(guard: HeadGuard): EncodedGuard {
  guardLength(guard);
  const out = new Uint8Array(guard.reduce((n, p) => n + 1 + p.byteLength, 0));
  let at = 0;
  for (const p of guard) {
    out[at++] = p.byteLength;
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

// The load policy passes the package's own COMPRESSION_MAGICS on every load: encoded once, here (it is
// internal and never written), since under emulation every loop between two system calls shows (README, Benchmarks).
const ENCODED_COMPRESSION_MAGICS = encode(COMPRESSION_MAGICS);

/** Validates (as the other backends do: TypeError, RangeError) and encodes a guard for the addon. */
export function encodeGuard(guard: HeadGuard): EncodedGuard {
  return guard === COMPRESSION_MAGICS ? ENCODED_COMPRESSION_MAGICS : encode(guard);
}

/**
 * Loads the addon (lib/backend/addon.ts: a local build, a prebuilt one, or KERNMOD_NATIVE_DIR, loaded once); throws
 * with the reasons when none loads.
 */
export function loadNativeBinding(): NativeBinding {
  return loadAddon<NativeBinding>('kernmod').binding;
}

// A stopped call's last system call was the pread of the head; a file that is not regular was refused after its open.
const STAGE_SYSCALL = ['open', 'finit_module', 'read', 'read', 'open'] as const;

function outcome(raw: RawPathOutcome): PathOutcome {
  if (typeof raw === 'number') return { ret: raw, syscall: 'finit_module' };
  const o: PathOutcome = { ret: raw[0], syscall: STAGE_SYSCALL[raw[1]] };
  if (raw[1] === 2) {
    o.head = raw[2]!;
    o.stopped = true;
  }
  if (raw[1] === 4) o.notRegular = true;
  return o;
}

const IMAGE_STAGE_SYSCALL = ['memfd_create', 'write'] as const;

function imageOutcome(raw: RawImageOutcome): ImageOutcome {
  return typeof raw === 'number' ? { ret: raw, syscall: 'finit_module' } : { ret: raw[0], syscall: IMAGE_STAGE_SYSCALL[raw[1]] };
}

export function createNativeBackend(binding: NativeBinding = loadNativeBinding()): Backend {
  const c = binding.constants;
  return {
    name: 'native',
    system: c.system,
    moduleNameLen: c.MODULE_NAME_LEN,
    flags: { O_TRUNC: c.O_TRUNC, O_NONBLOCK: c.O_NONBLOCK },
    initModule: (image, params) => binding.initModule(image, params),
    initModuleSync: (image, params) => binding.initModuleSync(image, params),
    finitModule: (fd, params, flags) => binding.finitModule(fd, params, flags),
    finitModuleSync: (fd, params, flags) => binding.finitModuleSync(fd, params, flags),
    finitModulePath: (path, params, flags, guard) =>
      binding.finitModulePath(path, params, flags, guard && encodeGuard(guard)).then(outcome),
    finitModulePathSync: (path, params, flags, guard) =>
      outcome(binding.finitModulePathSync(path, params, flags, guard && encodeGuard(guard))),
    finitModuleImage: (image, params, flags) => binding.finitModuleImage(image, params, flags).then(imageOutcome),
    finitModuleImageSync: (image, params, flags) => imageOutcome(binding.finitModuleImageSync(image, params, flags)),
    deleteModule: (name, flags) => binding.deleteModule(name, flags),
    deleteModuleSync: (name, flags) => binding.deleteModuleSync(name, flags),
  };
}
