// Loading and unloading on Linux: the policy on top of a Backend's raw system calls, written once as
// step generators (steps.ts) and run by an async and a sync driver (effects.ts). One path per call:
// validate and plan, then the system calls; the sync and async forms differ only in the driver.
//  - A path or fd goes to finit_module (the kernel reads the file); a Buffer goes to init_module.
//  - Compressed modules (gzip/xz/zstd, told by magic bytes, never by name): when the kernel decompresses
//    that format itself (/sys/module/compression) and its decoder takes this container
//    (kernel-decompress.ts), finit_module with MODULE_INIT_COMPRESSED_FILE; otherwise decompress in user
//    space and use init_module. The choice is made before the call: after it, an EINVAL may come from the
//    module's own init, which a retry would run twice. The classic case is an .xz written by plain `xz`
//    (CRC64), which the in-kernel decoder refuses: it loads through user space, and the result says why.
//  - finit_module answering ENOSYS (kernels before 3.8) falls back to init_module with the file's bytes.
//  - Bytes with ignore flags go to finit_module through an anonymous file (memfd_create), because only
//    finit_module carries flags (kmod instead strips vermagic/__versions from a copy).
//  - Unload never blocks in the kernel (O_NONBLOCK, as kmod); `wait` retries EAGAIN with backoff.
import type { Backend, PathOutcome } from '../backend/types.js';
import { COMPRESSION_MAGIC_BYTES, COMPRESSION_MAGICS, detectCompression, type CompressionFormat } from '../compress/index.js';
import { LINUX_ERRNO } from '../errno.js';
import { invalidInput, systemError, type KernmodError, type Syscall } from '../errors.js';
import { moduleNameOfImage } from '../elf/this-module.js';
import { moduleNameFromPath, normalizeModuleName, validateModuleName } from '../names.js';
import { encodeParams, type ParamsInput } from '../params.js';
import { sourcePath } from '../source.js';
import { MODULE_INIT_COMPRESSED_FILE, MODULE_INIT_IGNORE_MODVERSIONS, MODULE_INIT_IGNORE_VERMAGIC } from './constants.js';
import { runAsync, runSync, type DriverContext } from './effects.js';
import { kernelDecompressRefusal } from './kernel-decompress.js';
import type { EffectResults, Steps } from './steps.js';

const ENOSYS = -LINUX_ERRNO.ENOSYS;
const EAGAIN = -LINUX_ERRNO.EAGAIN;

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
   * Who decompresses a compressed module: 'auto' (the kernel when its decoder takes the file, else
   * user space), 'kernel' (always the kernel: its refusal is the error), 'user' (always decompress here).
   */
  decompress?: 'auto' | 'kernel' | 'user';
  /** Checked before each system call; a syscall already running in the kernel cannot be interrupted. */
  signal?: AbortSignal;
}

export interface LoadResult {
  /** Which system answered: the top-level loadModule's result is LoadResult | NetbsdLoadResult. */
  platform: 'linux';
  /**
   * The module's name. For a path, kmod's rule: the file's basename without extension, normalised (a
   * file renamed from its module's name keeps the file's name here, as kmod prints it). For bytes or an
   * fd, the name the module registers under: `.modinfo name=`, else `.gnu.linkonce.this_module`'s.
   */
  module: string;
  /** The system call that loaded it. */
  syscall: 'finit_module' | 'init_module';
  path?: string;
  /** The parameter string the kernel received. */
  params: string;
  /** finit_module flags of the successful call. */
  flags: number;
  /** The compression of the source, and who undid it. */
  compression?: { format: CompressionFormat; decompressedBy: 'kernel' | 'user' };
  /**
   * Why another path than the first choice was taken: finit_module answered ENOSYS; bytes with ignore
   * flags went to finit_module through an anonymous file; the kernel's decoder would refuse the file.
   */
  fallback?: 'finit_module-enosys' | 'anonymous-file' | 'kernel-cannot-decompress';
  /** For 'kernel-cannot-decompress': what in the file the kernel's decoder refuses. */
  fallbackReason?: string;
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
  /** Which system answered: the top-level unloadModule's result is UnloadResult | NetbsdUnloadResult. */
  platform: 'linux';
  module: string;
  /** How many delete_module calls it took (more than 1 when `wait` retried). */
  attempts: number;
  /** ms spent retrying, from the first EAGAIN to the success (0 when the first attempt succeeded). */
  waitedMs: number;
  flags: number;
  backend: string;
}

/** Where the policy reads kernel facts (/sys/module/compression); tests point it at a fake tree. */
export interface KernelEnv {
  sysRoot?: string;
}

// ---- validate and plan --------------------------------------------------------------------------------

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
  backend: Backend;
  src: Source;
  params: string;
  flags: number;
  decompress: 'auto' | 'kernel' | 'user';
  /** What results and errors name: the path, and the module name kmod would use for it. */
  target: { path?: string; module?: string };
}

function plan(backend: Backend, source: ModuleSource, options: LoadOptions): Plan {
  const src = classify(source);
  const params = options.params === undefined ? '' : encodeParams(options.params);
  let flags = 0;
  if (options.ignoreModversions) flags |= MODULE_INIT_IGNORE_MODVERSIONS;
  if (options.ignoreVermagic) flags |= MODULE_INIT_IGNORE_VERMAGIC;
  const decompress = options.decompress ?? 'auto';
  if (decompress !== 'auto' && decompress !== 'kernel' && decompress !== 'user') {
    throw invalidInput('ERR_KERNMOD_INVALID_OPTION', `decompress must be 'auto', 'kernel' or 'user', got ${String(decompress)}`);
  }
  const target = src.kind === 'path' ? { path: src.path, module: moduleNameFromPath(src.path) } : {};
  return { backend, src, params, flags, decompress, target };
}

// ---- the load policy ----------------------------------------------------------------------------------
// Each `yield` hands one effect to the driver and gets its result back (typed by EffectResults).

function fail(p: Plan, ret: number, syscall: Syscall, flags = p.flags): KernmodError {
  return systemError(ret, syscall, { ...p.target, flags });
}

// The result and the driver's context are built field by field, not with object spreads: under emulation each
// spread costs ~0.1 ms between two system calls (bench/RESULTS.md).
function done(p: Plan, module: string, syscall: LoadResult['syscall'], extra?: Partial<LoadResult>, flags = p.flags): LoadResult {
  const r = { platform: 'linux', module, syscall } as LoadResult;
  if (p.target.path !== undefined) r.path = p.target.path;
  r.params = p.params;
  r.flags = flags;
  if (extra) Object.assign(r, extra);
  r.backend = p.backend.name;
  return r;
}

/**
 * The name of a module the kernel accepted from this (decompressed) image: a path's is kmod's, from the
 * file name; bytes' and an fd's is the image's own. The kernel parsed the image, so it names itself;
 * '' only if our reader could not find what the kernel found.
 */
function loadedName(p: Plan, image: Uint8Array): string {
  return p.target.module ?? moduleNameOfImage(image) ?? '';
}

/**
 * The name of a module the kernel loaded from the caller's fd itself: the file is read with positional
 * reads (the caller's file offset does not move) and, if compressed, decompressed here as the kernel did.
 * `bytes` is the file when the policy read it already. Done after the call, so a failed load costs nothing.
 */
function* fdModuleName(p: Plan, format: CompressionFormat | null, bytes?: Uint8Array): Steps<string> {
  // The module is loaded: a file we cannot read or decompress now leaves its name unknown, not the load failed.
  try {
    const file = bytes ?? ((yield { op: 'read', source: { fd: (p.src as { fd: number }).fd } }) as EffectResults['read']);
    if (typeof file === 'number') return '';
    return loadedName(p, format ? ((yield { op: 'decompress', bytes: file }) as EffectResults['decompress']) : file);
  } catch {
    return '';
  }
}

/**
 * init_module of bytes; with ignore flags, finit_module of an anonymous file holding them. The name is
 * read from the image before the call, while the bytes are still the ones the kernel will get (the
 * caller may reuse its buffer as soon as the Promise form returns).
 */
function* loadBytes(p: Plan, image: Uint8Array, extra: Partial<LoadResult>): Steps<LoadResult> {
  const module = loadedName(p, image);
  if (p.flags === 0) {
    const ret = (yield { op: 'init', image, params: p.params }) as EffectResults['init'];
    if (ret < 0) throw fail(p, ret, 'init_module');
    return done(p, module, 'init_module', extra);
  }
  const out = (yield { op: 'finitImage', image, params: p.params, flags: p.flags }) as EffectResults['finitImage'];
  if (out.ret < 0) throw fail(p, out.ret, out.syscall);
  return done(p, module, 'finit_module', { fallback: 'anonymous-file', ...extra });
}

/** Decompresses in user space (if compressed) and loads the bytes. */
function* loadUserSpace(p: Plan, bytes: Uint8Array, format: CompressionFormat | null, extra: Partial<LoadResult>): Steps<LoadResult> {
  if (!format) return yield* loadBytes(p, bytes, extra);
  const image = (yield { op: 'decompress', bytes }) as EffectResults['decompress'];
  return yield* loadBytes(p, image, { compression: { format, decompressedBy: 'user' }, ...extra });
}

function* readAll(p: Plan): Steps<Uint8Array> {
  const src = p.src as Exclude<Source, { kind: 'image' }>;
  const bytes = (yield { op: 'read', source: src.kind === 'path' ? { path: src.path } : { fd: src.fd } }) as EffectResults['read'];
  if (typeof bytes === 'number') throw fail(p, bytes, src.kind === 'path' ? 'open' : 'read');
  return bytes;
}

/**
 * finit_module of the path or fd (unless `out` is its outcome already), then what its answer calls for.
 * `bytes`: the file, when the policy has read it already.
 */
function* finit(
  p: Plan,
  flags: number,
  format: CompressionFormat | null,
  extra?: Partial<LoadResult>,
  out?: PathOutcome,
  bytes?: Uint8Array,
): Steps<LoadResult> {
  const { src } = p;
  if (src.kind === 'path') out ??= (yield { op: 'finitPath', path: src.path, params: p.params, flags }) as EffectResults['finitPath'];
  else if (src.kind === 'fd') {
    out ??= { ret: (yield { op: 'finitFd', fd: src.fd, params: p.params, flags }) as EffectResults['finitFd'], syscall: 'finit_module' };
  }
  if (out!.ret >= 0) {
    const module = p.target.module ?? (yield* fdModuleName(p, format, bytes));
    return done(p, module, 'finit_module', extra, flags);
  }
  // No finit_module (kernels before 3.8): the file's bytes go to init_module.
  if (out!.ret === ENOSYS && out!.syscall === 'finit_module') {
    return yield* loadUserSpace(p, yield* readAll(p), format, { fallback: 'finit_module-enosys' });
  }
  throw fail(p, out!.ret, out!.syscall, flags);
}

function* loadSteps(p: Plan): Steps<LoadResult> {
  const { src } = p;
  if (src.kind === 'image') return yield* loadUserSpace(p, src.image, detectCompression(src.image), {});

  // A file: its magic decides. A path's first call is finit_module with the compression magics as its
  // head guard: a plain module loads in one open, a compressed one comes back unloaded with its head.
  let head: Uint8Array;
  if (src.kind === 'path') {
    const guarded = { op: 'finitPath', path: src.path, params: p.params, flags: p.flags, guard: COMPRESSION_MAGICS } as const;
    const first = (yield guarded) as EffectResults['finitPath'];
    if (!first.stopped) return yield* finit(p, p.flags, null, undefined, first);
    head = first.head!;
  } else {
    const read = (yield { op: 'read', source: { fd: src.fd }, length: COMPRESSION_MAGIC_BYTES }) as EffectResults['read'];
    if (typeof read === 'number') throw fail(p, read, 'read');
    head = read;
  }
  const format = detectCompression(head);
  if (!format) return yield* finit(p, p.flags, null);

  const kernelFormat = p.decompress === 'user' ? null : ((yield { op: 'kernelCompression' }) as EffectResults['kernelCompression']);
  if (kernelFormat !== format) {
    if (p.decompress === 'kernel') {
      throw invalidInput(
        'ERR_KERNMOD_UNSUPPORTED_COMPRESSION',
        `the kernel cannot decompress ${format} modules (/sys/module/compression: ${kernelFormat ?? 'none'}); ` +
          "use decompress: 'auto' or 'user'",
        p.target,
      );
    }
    return yield* loadUserSpace(p, yield* readAll(p), format, {});
  }
  let bytes: Uint8Array | undefined;
  if (p.decompress === 'auto') {
    bytes = yield* readAll(p);
    const refusal = kernelDecompressRefusal(format, bytes);
    if (refusal !== undefined) {
      return yield* loadUserSpace(p, bytes, format, { fallback: 'kernel-cannot-decompress', fallbackReason: refusal });
    }
  }
  const kernelDecompresses = { compression: { format, decompressedBy: 'kernel' as const } };
  return yield* finit(p, p.flags | MODULE_INIT_COMPRESSED_FILE, format, kernelDecompresses, undefined, bytes);
}

function driver(p: { backend: Backend; target: DriverContext['subject'] }, signal: AbortSignal | undefined, env: KernelEnv): DriverContext {
  const ctx: DriverContext = { backend: p.backend, subject: p.target };
  if (env.sysRoot !== undefined) ctx.sysRoot = env.sysRoot;
  if (signal) ctx.signal = signal;
  return ctx;
}

export function loadModule(backend: Backend, source: ModuleSource, options: LoadOptions = {}, env: KernelEnv = {}): Promise<LoadResult> {
  try {
    const p = plan(backend, source, options);
    return runAsync(loadSteps(p), driver(p, options.signal, env));
  } catch (e) {
    return Promise.reject(e);
  }
}

export function loadModuleSync(
  backend: Backend,
  source: ModuleSource,
  options: Omit<LoadOptions, 'signal'> = {},
  env: KernelEnv = {},
): LoadResult {
  const p = plan(backend, source, options);
  return runSync(loadSteps(p), driver(p, undefined, env));
}

// ---- unload -----------------------------------------------------------------------------------------

interface Unload {
  backend: Backend;
  target: { module: string };
  flags: number;
  waitMs: number;
}

function planUnload(backend: Backend, name: string, options: UnloadOptions): Unload {
  const module = normalizeModuleName(validateModuleName(name, backend.moduleNameLen));
  const waitMs = options.wait ?? 0;
  if (typeof waitMs !== 'number' || !Number.isFinite(waitMs) || waitMs < 0) {
    throw invalidInput('ERR_KERNMOD_INVALID_OPTION', `wait must be a number of ms >= 0, got ${String(options.wait)}`);
  }
  let flags = backend.flags.O_NONBLOCK;
  if (options.force) flags |= backend.flags.O_TRUNC;
  return { backend, target: { module }, flags, waitMs };
}

/** Backoff between EAGAIN retries: 10 ms doubling up to 500 ms, never past the deadline. */
function nextDelay(previous: number, remaining: number): number {
  return Math.max(0, Math.min(previous === 0 ? 10 : previous * 2, 500, remaining));
}

function* unloadSteps(u: Unload): Steps<UnloadResult> {
  const { module } = u.target;
  let ret = (yield { op: 'delete', name: module, flags: u.flags }) as EffectResults['delete'];
  let attempts = 1;
  // Only a retry needs the clock: waitedMs counts from the first refusal.
  const start = ret === EAGAIN && u.waitMs > 0 ? ((yield { op: 'now' }) as EffectResults['now']) : 0;
  let waited = 0;
  let delay = 0;
  while (ret < 0) {
    const remaining = u.waitMs - waited;
    if (ret !== EAGAIN || remaining <= 0) {
      const err = systemError(ret, 'delete_module', { module });
      if (attempts > 1) {
        Object.defineProperty(err, 'message', { value: `${err.message} (still in use after ${attempts} attempts over ${waited} ms)` });
      }
      throw err;
    }
    delay = nextDelay(delay, remaining);
    yield { op: 'sleep', ms: delay };
    attempts++;
    ret = (yield { op: 'delete', name: module, flags: u.flags }) as EffectResults['delete'];
    waited = ((yield { op: 'now' }) as EffectResults['now']) - start;
  }
  return { platform: 'linux', module, attempts, waitedMs: waited, flags: u.flags, backend: u.backend.name };
}

export function unloadModule(backend: Backend, name: string, options: UnloadOptions = {}): Promise<UnloadResult> {
  try {
    const u = planUnload(backend, name, options);
    return runAsync(unloadSteps(u), driver(u, options.signal, {}));
  } catch (e) {
    return Promise.reject(e);
  }
}

export function unloadModuleSync(backend: Backend, name: string, options: Omit<UnloadOptions, 'signal'> = {}): UnloadResult {
  const u = planUnload(backend, name, options);
  return runSync(unloadSteps(u), driver(u, undefined, {}));
}
