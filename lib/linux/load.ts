// Loading and unloading on Linux: the policy on top of a Backend's raw system calls, written once as
// step generators (steps.ts) and run by an async and a sync driver (effects.ts).
//  - A path or fd goes to finit_module (the kernel reads the file); a Buffer goes to init_module.
//  - Compressed modules (gzip/xz/zstd, told by magic bytes, never by name): when the kernel decompresses
//    that format itself (/sys/module/compression), finit_module with MODULE_INIT_COMPRESSED_FILE;
//    otherwise decompress in user space and use init_module. If the kernel's own decompression fails
//    with EINVAL — the classic trap is an .xz written by plain `xz` (CRC64, 8 MiB dictionary), which the
//    in-kernel decoder rejects — retry once in user space and say so in the result. kmod does not.
//  - finit_module answering ENOSYS (kernels before 3.8) falls back to init_module with the file's bytes.
//  - Bytes with ignore flags are staged through a private temporary file, because only finit_module
//    carries flags (kmod instead strips vermagic/__versions from a copy).
//  - Unload never blocks in the kernel (O_NONBLOCK, as kmod); `wait` retries EAGAIN with backoff.
import type { Backend, PathOutcome } from '../backend/types.js';
import { COMPRESSION_MAGICS, detectCompression, type CompressionFormat } from '../compress/index.js';
import { invalidInput, systemError, type KernmodError, type Syscall } from '../errors.js';
import { isPlainModuleName, moduleNameFromPath, normalizeModuleName, validateModuleName } from '../names.js';
import { encodeParams, type ParamsInput } from '../params.js';
import { sourcePath } from '../source.js';
import { MODULE_INIT_COMPRESSED_FILE, MODULE_INIT_IGNORE_MODVERSIONS, MODULE_INIT_IGNORE_VERMAGIC } from './constants.js';
import { runAsync, runSync, type DriverContext } from './effects.js';
import type { EffectResults, Steps } from './steps.js';

const ENOSYS = 38;
const EINVAL = 22;
const EAGAIN = 11;
const MAGIC_BYTES = 6;

/** A module to load: a file path (string or file: URL), the module image bytes, or an open fd. */
export type ModuleSource = string | URL | Uint8Array | { fd: number };

export interface LoadOptions {
  /** Module parameters: an object (encoded by kernel rules), or a string (validated, then passed as is). */
  params?: ParamsInput;
  /** MODULE_INIT_IGNORE_VERMAGIC: load despite a version-magic mismatch (taints the kernel, 'F'). */
  ignoreVermagic?: boolean;
  /** MODULE_INIT_IGNORE_MODVERSIONS: load despite symbol-version mismatches (taints the kernel). */
  ignoreModversions?: boolean;
  /**
   * Who decompresses a compressed module: 'auto' (the kernel when it supports the format, with a
   * user-space retry if it fails), 'kernel' (never fall back), 'user' (always decompress here).
   */
  decompress?: 'auto' | 'kernel' | 'user';
  /** Checked before each system call; a syscall already running in the kernel cannot be interrupted. */
  signal?: AbortSignal;
}

export interface LoadResult {
  /** The module name kmod would use for this source (file basename); undefined for bytes or an fd. */
  module: string | undefined;
  /** The system call that loaded it. */
  syscall: 'finit_module' | 'init_module';
  path?: string;
  /** The parameter string the kernel received. */
  params: string;
  /** finit_module flags of the successful call. */
  flags: number;
  /** The compression of the source, and who undid it. */
  compression?: { format: CompressionFormat; decompressedBy: 'kernel' | 'user' };
  /** Why another path than the first choice was taken. */
  fallback?: 'finit_module-enosys' | 'staged-temp-file' | 'kernel-decompression-failed';
  backend: string;
}

export interface UnloadOptions {
  /** O_TRUNC: unload even if in use or without an exit function (CONFIG_MODULE_FORCE_UNLOAD; taints 'R'). */
  force?: boolean;
  /** Retry EAGAIN (in use) for up to this many ms, with backoff (kmod's `modprobe -r --wait`). */
  wait?: number;
  signal?: AbortSignal;
}

export interface UnloadResult {
  module: string;
  /** How many delete_module calls it took (more than 1 when `wait` retried). */
  attempts: number;
  /** ms spent retrying, from the first EAGAIN to the success (0 when the first attempt succeeded). */
  waitedMs: number;
  flags: number;
  backend: string;
}

// ---- input ------------------------------------------------------------------------------------------

type Source = { kind: 'path'; path: string } | { kind: 'image'; image: Uint8Array } | { kind: 'fd'; fd: number };

function classify(source: ModuleSource): Source {
  if (typeof source === 'string' || source instanceof URL) return { kind: 'path', path: sourcePath(source) };
  if (source instanceof Uint8Array) {
    if (source.byteLength === 0) throw invalidInput('ERR_KERNMOD_INVALID_SOURCE', 'the module image is empty');
    return { kind: 'image', image: source };
  }
  // A file descriptor is a C int: anything else names no open file.
  if (source && typeof source === 'object' && 'fd' in source && Number.isInteger(source.fd) && source.fd >= 0 && source.fd <= 0x7fffffff) {
    return { kind: 'fd', fd: source.fd };
  }
  throw invalidInput('ERR_KERNMOD_INVALID_SOURCE', 'a module source is a path, a file: URL, a Buffer/Uint8Array, or { fd } (an int >= 0)');
}

interface Plan {
  src: Source;
  params: string;
  flags: number;
  decompress: 'auto' | 'kernel' | 'user';
  module: string | undefined;
  path: string | undefined;
}

function plan(source: ModuleSource, options: LoadOptions): Plan {
  const src = classify(source);
  const params = options.params === undefined ? '' : encodeParams(options.params);
  let flags = 0;
  if (options.ignoreModversions) flags |= MODULE_INIT_IGNORE_MODVERSIONS;
  if (options.ignoreVermagic) flags |= MODULE_INIT_IGNORE_VERMAGIC;
  const decompress = options.decompress ?? 'auto';
  if (decompress !== 'auto' && decompress !== 'kernel' && decompress !== 'user') {
    throw invalidInput('ERR_KERNMOD_INVALID_OPTION', `decompress must be 'auto', 'kernel' or 'user', got ${String(decompress)}`);
  }
  const path = src.kind === 'path' ? src.path : undefined;
  return { src, params, flags, decompress, module: undefined, path };
}

/** Fills in the module name kmod would use; the async path does it once its system call is on its way. */
function named(p: Plan): Plan {
  if (p.path !== undefined) p.module = moduleNameFromPath(p.path);
  return p;
}

// ---- the load policy ----------------------------------------------------------------------------------
// Each `yield` hands one effect to the driver and gets its result back (typed by EffectResults). The
// common case — a plain module by path — never reaches a generator (the drivers make its one call, see
// loadModule); past it, plain yields rather than nested generators and per-call closures, which under
// emulation (the VM rig) cost more than the syscalls.

type Ctx = { backend: Backend; p: Plan };

function targetOf(p: Plan): { path?: string; module?: string } {
  return { ...(p.path !== undefined ? { path: p.path } : {}), ...(p.module !== undefined ? { module: p.module } : {}) };
}

function fail({ p }: Ctx, ret: number, syscall: Syscall, flags = p.flags): KernmodError {
  return systemError(ret, syscall, { ...targetOf(p), flags });
}

function done({ backend, p }: Ctx, syscall: LoadResult['syscall'], extra?: Partial<LoadResult>): LoadResult {
  return p.path !== undefined
    ? { module: p.module, syscall, path: p.path, params: p.params, flags: p.flags, ...extra, backend: backend.name }
    : { module: p.module, syscall, params: p.params, flags: p.flags, ...extra, backend: backend.name };
}

/** done() for the common case, a load by path that its first call settled (same keys, same order). */
function loadedByPath(backend: Backend, p: Plan): LoadResult {
  return { module: p.module, syscall: 'finit_module', path: p.path, params: p.params, flags: p.flags, backend: backend.name };
}

/** init_module of bytes; with ignore flags, finit_module of a staged copy instead. */
function* loadBytes(c: Ctx, image: Uint8Array, extra: Partial<LoadResult>): Steps<LoadResult> {
  const { p } = c;
  if (p.flags === 0) {
    const ret = (yield { op: 'init', image, params: p.params }) as EffectResults['init'];
    if (ret < 0) throw fail(c, ret, 'init_module');
    return done(c, 'init_module', extra);
  }
  const staged = (yield { op: 'stage', image }) as EffectResults['stage'];
  try {
    const out = (yield { op: 'finitPath', path: staged, params: p.params, flags: p.flags }) as EffectResults['finitPath'];
    if (out.ret < 0) throw fail(c, out.ret, out.syscall);
    return done(c, 'finit_module', { fallback: 'staged-temp-file', ...extra });
  } finally {
    yield { op: 'unstage', path: staged };
  }
}

/** Decompresses in user space (if compressed) and loads the bytes. */
function* loadUserSpace(c: Ctx, bytes: Uint8Array, format: CompressionFormat | null, extra: Partial<LoadResult>): Steps<LoadResult> {
  const image = format ? ((yield { op: 'decompress', bytes }) as EffectResults['decompress']) : bytes;
  return yield* loadBytes(c, image, format ? { compression: { format, decompressedBy: 'user' }, ...extra } : extra);
}

function* readAll(c: Ctx): Steps<Uint8Array> {
  const src = c.p.src as Exclude<Source, { kind: 'image' }>;
  const bytes = (yield { op: 'read', source: src.kind === 'path' ? { path: src.path } : { fd: src.fd } }) as EffectResults['read'];
  if (typeof bytes === 'number') throw fail(c, bytes, src.kind === 'path' ? 'open' : 'read');
  return bytes;
}

/** After finit_module failed: the fallbacks its errno calls for, or the error. */
function* afterFailedFinit(c: Ctx, out: PathOutcome, format: CompressionFormat | null, flags: number): Steps<LoadResult> {
  if (out.syscall !== 'finit_module') throw fail(c, out.ret, out.syscall);
  if (out.ret === -ENOSYS) return yield* loadUserSpace(c, yield* readAll(c), format, { fallback: 'finit_module-enosys' });
  if (format && out.ret === -EINVAL && c.p.decompress === 'auto') {
    // The in-kernel decoder refused the file (or the module refused its params: then the user-space
    // retry fails with EINVAL again, and that is what we report).
    return yield* loadUserSpace(c, yield* readAll(c), format, { fallback: 'kernel-decompression-failed' });
  }
  throw fail(c, out.ret, 'finit_module', flags);
}

/**
 * The first system call of a load by path is made by the drivers themselves (not through the policy's
 * generator): finit_module with the compression magics as the head guard, so a plain module costs one
 * open (the head is read on the fd that finit_module gets) and a compressed one comes back unloaded
 * with its head. The load is done when that call loaded a module that was not compressed: most loads,
 * and then no generator is made at all.
 */
function loadedByFirstCall(first: PathOutcome): boolean {
  return first.ret >= 0 && first.stopped !== true;
}

/** The policy after `first` (the outcome of the drivers' first call, for a path), or from the start. */
function* loadSteps(backend: Backend, p: Plan, first?: PathOutcome): Steps<LoadResult> {
  const c: Ctx = { backend, p };
  if (p.src.kind === 'image') return yield* loadUserSpace(c, p.src.image, detectCompression(p.src.image), {});

  // A file: its magic decides. An fd is read (pread) before finit_module.
  let head: Uint8Array | number;
  if (p.src.kind === 'path') {
    first ??= (yield { op: 'finitPath', path: p.src.path, params: p.params, flags: p.flags, guard: COMPRESSION_MAGICS }) as EffectResults['finitPath'];
    if (loadedByFirstCall(first)) return done(c, 'finit_module');
    if (!first.stopped) return yield* afterFailedFinit(c, first, null, p.flags);
    head = first.head!;
  } else {
    head = (yield { op: 'read', source: { fd: p.src.fd }, length: MAGIC_BYTES }) as EffectResults['read'];
    if (typeof head === 'number') throw fail(c, head, 'read');
  }
  const format = detectCompression(head);

  let flags = p.flags;
  if (format) {
    const kernelFormat = p.decompress === 'user' ? null : ((yield { op: 'kernelCompression' }) as EffectResults['kernelCompression']);
    if (kernelFormat !== format) {
      if (p.decompress === 'kernel') {
        throw invalidInput(
          'ERR_KERNMOD_UNSUPPORTED_COMPRESSION',
          `the kernel cannot decompress ${format} modules (/sys/module/compression: ${kernelFormat ?? 'none'}); use decompress: 'auto' or 'user'`,
          targetOf(p),
        );
      }
      return yield* loadUserSpace(c, yield* readAll(c), format, {});
    }
    flags |= MODULE_INIT_COMPRESSED_FILE;
  }
  const out: PathOutcome =
    p.src.kind === 'path'
      ? ((yield { op: 'finitPath', path: p.src.path, params: p.params, flags }) as EffectResults['finitPath'])
      : { ret: (yield { op: 'finitFd', fd: p.src.fd, params: p.params, flags }) as EffectResults['finitFd'], syscall: 'finit_module' };
  if (out.ret >= 0) return done(c, 'finit_module', { flags, ...(format ? { compression: { format, decompressedBy: 'kernel' as const } } : {}) });
  return yield* afterFailedFinit(c, out, format, flags);
}

/** Where the policy reads kernel facts (/sys/module/compression); tests point it at a fake tree. */
export interface KernelEnv {
  sysRoot?: string;
}

// The drivers make the first call of a load by path (or an unload) directly and start the policy's
// generator only when that call did not settle it: the common case is one system call, and under
// emulation (the VM rig) every extra layer between two system calls shows — the code after a load runs
// cold, its translations evicted by the kernel's TLB flushes — most of all on the async path, where
// libuv and the promise machinery already run between the calls.

// Shared defaults: no object is made per call for an omitted argument.
const NO_OPTIONS: Readonly<LoadOptions & UnloadOptions> = Object.freeze({});
const NO_ENV: Readonly<KernelEnv> = Object.freeze({});

// On the async path only what must precede the system call runs before it (checking the input); the
// rest — the plan's details, the module name, the result the common case returns — runs while the pool
// thread wakes up and the kernel works, so that between a completion and the next call there is as
// little as possible. The commonest call, a plain path without options, checks just what classify()
// would refuse (an empty path, a NUL) before its call; anything else goes through plan() first.
export function loadModule(backend: Backend, source: ModuleSource, options: LoadOptions = NO_OPTIONS, env: KernelEnv = NO_ENV): Promise<LoadResult> {
  try {
    if (options === NO_OPTIONS && typeof source === 'string' && source.length !== 0 && source.indexOf('\0') === -1) {
      const call = backend.finitModulePath(source, '', 0, COMPRESSION_MAGICS);
      return settleFirstCall(backend, call, named(plan(source, options)), undefined, env);
    }
    const p = plan(source, options);
    const { signal } = options;
    // Not a path, or already aborted: the policy from the start (it checks the signal).
    if (p.src.kind !== 'path' || signal?.aborted) return runAsync(loadSteps(backend, named(p)), driverContext(backend, signal, targetOf(p), env));
    const call = backend.finitModulePath(p.src.path, p.params, p.flags, COMPRESSION_MAGICS);
    return settleFirstCall(backend, call, named(p), signal, env);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The load by path once its first call is made: done, or the policy from there. */
function settleFirstCall(backend: Backend, call: Promise<PathOutcome>, p: Plan, signal: AbortSignal | undefined, env: KernelEnv): Promise<LoadResult> {
  const loaded = loadedByPath(backend, p);
  return call.then((first) => (loadedByFirstCall(first) ? loaded : runAsync(loadSteps(backend, p, first), driverContext(backend, signal, targetOf(p), env))));
}

export function loadModuleSync(backend: Backend, source: ModuleSource, options: Omit<LoadOptions, 'signal'> = NO_OPTIONS, env: KernelEnv = NO_ENV): LoadResult {
  const p = named(plan(source, options));
  if (p.src.kind !== 'path') return runSync(loadSteps(backend, p), driverContext(backend, undefined, targetOf(p), env));
  const first = backend.finitModulePathSync(p.src.path, p.params, p.flags, COMPRESSION_MAGICS);
  if (loadedByFirstCall(first)) return loadedByPath(backend, p);
  return runSync(loadSteps(backend, p, first), driverContext(backend, undefined, targetOf(p), env));
}

/** What the drivers need when the policy's generator runs: the backend, the signal, what errors name. */
function driverContext(backend: Backend, signal: AbortSignal | undefined, subject: DriverContext['subject'], env: KernelEnv = NO_ENV): DriverContext {
  return { backend, ...env, ...(signal ? { signal } : {}), subject };
}

// ---- unload -----------------------------------------------------------------------------------------

function prepareUnload(backend: Backend, name: string, options: UnloadOptions): Unload {
  const module = normalizeModuleName(validateModuleName(name, backend.moduleNameLen));
  const waitMs = options.wait ?? 0;
  if (waitMs !== 0 && (typeof waitMs !== 'number' || !Number.isFinite(waitMs) || waitMs < 0)) {
    throw invalidInput('ERR_KERNMOD_INVALID_OPTION', `wait must be a number of ms >= 0, got ${String(options.wait)}`);
  }
  let flags = backend.flags.O_NONBLOCK;
  if (options.force) flags |= backend.flags.O_TRUNC;
  return { module, flags, waitMs };
}

/** Backoff between EAGAIN retries: 10 ms doubling up to 500 ms, never past the deadline. */
export function nextDelay(previous: number, remaining: number): number {
  return Math.max(0, Math.min(previous === 0 ? 10 : previous * 2, 500, remaining));
}

type Unload = { module: string; flags: number; waitMs: number };

const unloaded = (backend: Backend, u: Unload): UnloadResult => ({ module: u.module, attempts: 1, waitedMs: 0, flags: u.flags, backend: backend.name });

/** The policy after the first delete_module answered `first` (the drivers make that call), or from the start. */
function* unloadSteps(backend: Backend, u: Unload, first?: number): Steps<UnloadResult> {
  let ret = first ?? ((yield { op: 'delete', name: u.module, flags: u.flags }) as EffectResults['delete']);
  if (ret >= 0) return unloaded(backend, u);
  // Only a retry needs the clock: waitedMs counts from the first refusal.
  let attempts = 1;
  let delay = 0;
  const start = ret === -EAGAIN && u.waitMs > 0 ? ((yield { op: 'now' }) as EffectResults['now']) : 0;
  let waited = 0;
  for (;;) {
    const remaining = u.waitMs - waited;
    if (ret !== -EAGAIN || remaining <= 0) {
      const err = systemError(ret, 'delete_module', { module: u.module });
      if (attempts > 1) {
        Object.defineProperty(err, 'message', { value: `${err.message} (still in use after ${attempts} attempts over ${waited} ms)` });
      }
      throw err;
    }
    delay = nextDelay(delay, remaining);
    yield { op: 'sleep', ms: delay };
    attempts++;
    ret = (yield { op: 'delete', name: u.module, flags: u.flags }) as EffectResults['delete'];
    waited = ((yield { op: 'now' }) as EffectResults['now']) - start;
    if (ret >= 0) return { module: u.module, attempts, waitedMs: waited, flags: u.flags, backend: backend.name };
  }
}

// As loadModule: the commonest unload — a name as lsmod shows it, no options — tests just what
// validation and normalisation look at before its call (isPlainModuleName); anything else goes through
// prepareUnload() first, which says what is wrong.
export function unloadModule(backend: Backend, name: string, options: UnloadOptions = NO_OPTIONS): Promise<UnloadResult> {
  try {
    if (options === NO_OPTIONS && typeof name === 'string' && isPlainModuleName(name, backend.moduleNameLen)) {
      const flags = backend.flags.O_NONBLOCK;
      const call = backend.deleteModule(name, flags);
      return settleUnload(backend, call, { module: name, flags, waitMs: 0 }, undefined);
    }
    const u = prepareUnload(backend, name, options);
    const { signal } = options;
    if (signal?.aborted) return runAsync(unloadSteps(backend, u), driverContext(backend, signal, { module: u.module })); // the policy checks the signal
    return settleUnload(backend, backend.deleteModule(u.module, u.flags), u, signal);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The unload once its first call is made: done, or the policy (retries, the error) from there. */
function settleUnload(backend: Backend, call: Promise<number>, u: Unload, signal: AbortSignal | undefined): Promise<UnloadResult> {
  const done = unloaded(backend, u);
  return call.then((ret) => (ret >= 0 ? done : runAsync(unloadSteps(backend, u, ret), driverContext(backend, signal, { module: u.module }))));
}

export function unloadModuleSync(backend: Backend, name: string, options: Omit<UnloadOptions, 'signal'> = NO_OPTIONS): UnloadResult {
  const u = prepareUnload(backend, name, options);
  const ret = backend.deleteModuleSync(u.module, u.flags);
  return ret >= 0 ? unloaded(backend, u) : runSync(unloadSteps(backend, u, ret), driverContext(backend, undefined, { module: u.module }));
}
