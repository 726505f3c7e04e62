// Loading and unloading on Linux: the policy on top of a Backend's raw system calls.
//  - A path goes to finit_module (the kernel reads the file: no copy through user space); a Buffer goes
//    to init_module; an fd goes to finit_module.
//  - finit_module answering ENOSYS (kernels before 3.8) falls back to init_module with the file's bytes.
//  - A Buffer with ignore flags is staged through a private temporary file, because only finit_module
//    carries flags (kmod instead strips vermagic/__versions from a copy).
//  - Unload never blocks in the kernel (O_NONBLOCK, as kmod); `wait` retries EAGAIN with backoff.
import { openSync, closeSync, fstatSync, readSync, writeFileSync, unlinkSync, mkdtempSync, rmdirSync } from 'node:fs';
import { fstat, read } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../backend/types.js';
import { abortError, invalidInput, systemError, type KernmodError } from '../errors.js';
import { moduleNameFromPath, normalizeModuleName, validateModuleName } from '../names.js';
import { encodeParams, type ParamsInput } from '../params.js';
import { MODULE_INIT_IGNORE_MODVERSIONS, MODULE_INIT_IGNORE_VERMAGIC } from './constants.js';

const ENOSYS = 38;
const EAGAIN = 11;

/** A module to load: a file path (string or file: URL), the module image bytes, or an open fd. */
export type ModuleSource = string | URL | Uint8Array | { fd: number };

export interface LoadOptions {
  /** Module parameters: an object (encoded by kernel rules), or a string (validated, then passed as is). */
  params?: ParamsInput;
  /** MODULE_INIT_IGNORE_VERMAGIC: load despite a version-magic mismatch (taints the kernel, 'F'). */
  ignoreVermagic?: boolean;
  /** MODULE_INIT_IGNORE_MODVERSIONS: load despite symbol-version mismatches (taints the kernel). */
  ignoreModversions?: boolean;
  /** Checked before each system call; a syscall already running in the kernel cannot be interrupted. */
  signal?: AbortSignal;
}

export interface LoadResult {
  /** The module name kmod would use for this source (file basename); undefined for a Buffer. */
  module: string | undefined;
  /** The system call that loaded it. */
  syscall: 'finit_module' | 'init_module';
  path?: string;
  /** The parameter string the kernel received. */
  params: string;
  /** finit_module flags used. */
  flags: number;
  /** Why a fallback path was taken, if one was. */
  fallback?: 'finit_module-enosys' | 'staged-temp-file';
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
  waitedMs: number;
  flags: number;
  backend: string;
}

interface Prepared {
  params: string;
  flags: number;
}

function prepare(options: LoadOptions): Prepared {
  const params = options.params === undefined ? '' : encodeParams(options.params);
  let flags = 0;
  if (options.ignoreModversions) flags |= MODULE_INIT_IGNORE_MODVERSIONS;
  if (options.ignoreVermagic) flags |= MODULE_INIT_IGNORE_VERMAGIC;
  return { params, flags };
}

function sourcePath(source: string | URL): string {
  if (source instanceof URL) {
    if (source.protocol !== 'file:') throw invalidInput('ERR_KERNMOD_INVALID_SOURCE', `only file: URLs can be loaded, got ${source.href}`);
    return fileURLToPath(source);
  }
  if (source.length === 0) throw invalidInput('ERR_KERNMOD_INVALID_SOURCE', 'the module path is empty');
  if (source.includes('\0')) throw invalidInput('ERR_KERNMOD_INVALID_SOURCE', 'the module path contains NUL', { path: source });
  return source;
}

function checkAbort(signal: AbortSignal | undefined, extra: { path?: string; module?: string } = {}): void {
  if (signal?.aborted) throw abortError(signal, extra);
}

type Kind = { kind: 'path'; path: string } | { kind: 'image'; image: Uint8Array } | { kind: 'fd'; fd: number };

function classify(source: ModuleSource): Kind {
  if (typeof source === 'string' || source instanceof URL) return { kind: 'path', path: sourcePath(source) };
  if (source instanceof Uint8Array) {
    if (source.byteLength === 0) throw invalidInput('ERR_KERNMOD_INVALID_SOURCE', 'the module image is empty');
    return { kind: 'image', image: source };
  }
  if (source && typeof source === 'object' && 'fd' in source && Number.isInteger(source.fd) && source.fd >= 0) {
    return { kind: 'fd', fd: source.fd };
  }
  throw invalidInput('ERR_KERNMOD_INVALID_SOURCE', 'a module source is a path, a file: URL, a Buffer/Uint8Array, or { fd }');
}

function readFdSync(fd: number): Uint8Array {
  const size = fstatSync(fd).size;
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

async function readFdAsync(fd: number): Promise<Uint8Array> {
  const { size } = await promisify(fstat)(fd);
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await promisify(read)(fd, buf, off, size - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return buf.subarray(0, off);
}

function result(backend: Backend, p: Prepared, syscall: LoadResult['syscall'], extra: Partial<LoadResult>): LoadResult {
  return { module: undefined, syscall, params: p.params, flags: p.flags, backend: backend.name, ...extra };
}

/** Writes an image to a private temp file so finit_module can carry flags; returns its path and a cleanup. */
function stage(image: Uint8Array): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'kernmod-'));
  const path = join(dir, 'module.ko');
  writeFileSync(path, image, { mode: 0o600 });
  return {
    path,
    cleanup: () => {
      try {
        unlinkSync(path);
      } finally {
        rmdirSync(dir);
      }
    },
  };
}

export async function loadModule(backend: Backend, source: ModuleSource, options: LoadOptions = {}): Promise<LoadResult> {
  const src = classify(source);
  const p = prepare(options);
  const { signal } = options;
  if (src.kind === 'path') {
    const module = moduleNameFromPath(src.path);
    checkAbort(signal, { path: src.path, module });
    const out = await backend.finitModulePath(src.path, p.params, p.flags);
    if (out.ret >= 0) return result(backend, p, 'finit_module', { module, path: src.path });
    if (out.syscall === 'open') throw systemError(out.ret, 'open', { path: src.path, module });
    if (out.ret !== -ENOSYS) throw systemError(out.ret, 'finit_module', { path: src.path, module, flags: p.flags });
    // No finit_module on this kernel: hand it the bytes instead.
    let image: Uint8Array;
    try {
      image = await readFile(src.path);
    } catch (e) {
      throw systemError((e as NodeJS.ErrnoException).errno ?? -5, 'read', { path: src.path, module });
    }
    checkAbort(signal, { path: src.path, module });
    const ret = await backend.initModule(image, p.params);
    if (ret < 0) throw systemError(ret, 'init_module', { path: src.path, module });
    return result(backend, p, 'init_module', { module, path: src.path, fallback: 'finit_module-enosys' });
  }
  if (src.kind === 'fd') {
    checkAbort(signal);
    const ret = await backend.finitModule(src.fd, p.params, p.flags);
    if (ret >= 0) return result(backend, p, 'finit_module', {});
    if (ret !== -ENOSYS) throw systemError(ret, 'finit_module', { flags: p.flags });
    const image = await readFdAsync(src.fd);
    checkAbort(signal);
    const r2 = await backend.initModule(image, p.params);
    if (r2 < 0) throw systemError(r2, 'init_module', {});
    return result(backend, p, 'init_module', { fallback: 'finit_module-enosys' });
  }
  checkAbort(signal);
  if (p.flags !== 0) {
    const staged = stage(src.image);
    try {
      const out = await backend.finitModulePath(staged.path, p.params, p.flags);
      if (out.ret < 0) throw systemError(out.ret, out.syscall, { flags: p.flags });
      return result(backend, p, 'finit_module', { fallback: 'staged-temp-file' });
    } finally {
      staged.cleanup();
    }
  }
  const ret = await backend.initModule(src.image, p.params);
  if (ret < 0) throw systemError(ret, 'init_module', {});
  return result(backend, p, 'init_module', {});
}

export function loadModuleSync(backend: Backend, source: ModuleSource, options: Omit<LoadOptions, 'signal'> = {}): LoadResult {
  const src = classify(source);
  const p = prepare(options);
  if (src.kind === 'path') {
    const module = moduleNameFromPath(src.path);
    const out = backend.finitModulePathSync(src.path, p.params, p.flags);
    if (out.ret >= 0) return result(backend, p, 'finit_module', { module, path: src.path });
    if (out.syscall === 'open') throw systemError(out.ret, 'open', { path: src.path, module });
    if (out.ret !== -ENOSYS) throw systemError(out.ret, 'finit_module', { path: src.path, module, flags: p.flags });
    let fd: number;
    try {
      fd = openSync(src.path, 'r');
    } catch (e) {
      throw systemError((e as NodeJS.ErrnoException).errno ?? -5, 'open', { path: src.path, module });
    }
    let image: Uint8Array;
    try {
      image = readFdSync(fd);
    } finally {
      closeSync(fd);
    }
    const ret = backend.initModuleSync(image, p.params);
    if (ret < 0) throw systemError(ret, 'init_module', { path: src.path, module });
    return result(backend, p, 'init_module', { module, path: src.path, fallback: 'finit_module-enosys' });
  }
  if (src.kind === 'fd') {
    const ret = backend.finitModuleSync(src.fd, p.params, p.flags);
    if (ret >= 0) return result(backend, p, 'finit_module', {});
    if (ret !== -ENOSYS) throw systemError(ret, 'finit_module', { flags: p.flags });
    const r2 = backend.initModuleSync(readFdSync(src.fd), p.params);
    if (r2 < 0) throw systemError(r2, 'init_module', {});
    return result(backend, p, 'init_module', { fallback: 'finit_module-enosys' });
  }
  if (p.flags !== 0) {
    const staged = stage(src.image);
    try {
      const out = backend.finitModulePathSync(staged.path, p.params, p.flags);
      if (out.ret < 0) throw systemError(out.ret, out.syscall, { flags: p.flags });
      return result(backend, p, 'finit_module', { fallback: 'staged-temp-file' });
    } finally {
      staged.cleanup();
    }
  }
  const ret = backend.initModuleSync(src.image, p.params);
  if (ret < 0) throw systemError(ret, 'init_module', {});
  return result(backend, p, 'init_module', {});
}

// ---- unload -----------------------------------------------------------------------------------------

function prepareUnload(backend: Backend, name: string, options: UnloadOptions): { module: string; flags: number; waitMs: number } {
  const module = normalizeModuleName(validateModuleName(name, backend.moduleNameLen));
  const waitMs = options.wait ?? 0;
  if (!Number.isFinite(waitMs) || waitMs < 0) throw invalidInput('ERR_KERNMOD_INVALID_OPTION', `wait must be a number of ms >= 0, got ${options.wait}`);
  let flags = backend.flags.O_NONBLOCK;
  if (options.force) flags |= backend.flags.O_TRUNC;
  return { module, flags, waitMs };
}

/** Backoff between EAGAIN retries: 10 ms doubling up to 500 ms, never past the deadline. */
function nextDelay(previous: number, remaining: number): number {
  return Math.max(0, Math.min(previous === 0 ? 10 : previous * 2, 500, remaining));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function unloadModule(backend: Backend, name: string, options: UnloadOptions = {}): Promise<UnloadResult> {
  const { module, flags, waitMs } = prepareUnload(backend, name, options);
  const { signal } = options;
  const start = Date.now();
  let attempts = 0;
  let delay = 0;
  for (;;) {
    checkAbort(signal, { module });
    attempts++;
    const ret = await backend.deleteModule(module, flags);
    const waited = Date.now() - start;
    if (ret >= 0) return { module, attempts, waitedMs: waited, flags, backend: backend.name };
    const remaining = waitMs - waited;
    if (ret !== -EAGAIN || remaining <= 0) throw withWait(systemError(ret, 'delete_module', { module }), attempts, waited);
    delay = nextDelay(delay, remaining);
    try {
      await sleep(delay, signal);
    } catch {
      throw abortError(signal!, { module });
    }
  }
}

export function unloadModuleSync(backend: Backend, name: string, options: Omit<UnloadOptions, 'signal'> = {}): UnloadResult {
  const { module, flags, waitMs } = prepareUnload(backend, name, options);
  const start = Date.now();
  let attempts = 0;
  let delay = 0;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    attempts++;
    const ret = backend.deleteModuleSync(module, flags);
    const waited = Date.now() - start;
    if (ret >= 0) return { module, attempts, waitedMs: waited, flags, backend: backend.name };
    const remaining = waitMs - waited;
    if (ret !== -EAGAIN || remaining <= 0) throw withWait(systemError(ret, 'delete_module', { module }), attempts, waited);
    delay = nextDelay(delay, remaining);
    Atomics.wait(pause, 0, 0, delay); // the sync API blocks, by design
  }
}

function withWait(err: KernmodError, attempts: number, waitedMs: number): KernmodError {
  if (attempts > 1) {
    Object.defineProperty(err, 'message', { value: `${err.message} (still in use after ${attempts} attempts over ${waitedMs} ms)` });
  }
  return err;
}
