// The two drivers for steps.ts: each effect carried out with the Backend and node:fs, async or sync.
// The signal is honoured before each system call and during pauses; a call already in the kernel runs
// to its end (the kernel offers no way to cancel a load).
import type { Backend, PathOutcome } from '../backend/types.js';
import { decompress, decompressSync } from '../compress/index.js';
import { abortError, causeError, KernmodError } from '../errors.js';
import { notRegularFile, readFd, readFdSync, readRegularFile, readRegularFileSync, readSmallFile, readSmallFileSync } from '../fs-read.js';
import type { Effect, Steps } from './steps.js';

const SYSCALLS = new Set<Effect['op']>(['finitPath', 'finitFd', 'finitImage', 'init', 'delete', 'sleep']);

export interface DriverContext {
  backend: Backend;
  signal?: AbortSignal;
  /** Where /sys lives (tests): `${sysRoot}/module/compression`. */
  sysRoot?: string;
  /** For errors: what the operation was about. */
  subject: { path?: string; module?: string };
}

/**
 * The most finit_module reads of a file (kernel_read_file's INT_MAX, else EFBIG): a module file read
 * here, to decompress or to hand to init_module, is held to the same limit.
 */
const MAX_MODULE_FILE_BYTES = 0x7fffffff;

/**
 * A failed read: its negative errno for the policy; a KernmodError (not a regular file, too large) or
 * anything else is thrown on (see failure()).
 */
function readFailure(e: unknown): number {
  const n = (e as NodeJS.ErrnoException).errno;
  if (!(e instanceof KernmodError) && typeof n === 'number' && n < 0) return n;
  throw e;
}

/** What a driver hands the policy when an effect throws: always a KernmodError, keeping the cause. */
function failure(err: unknown, e: Effect, ctx: DriverContext) {
  return causeError(err, e.op === 'delete' ? 'unload' : e.op === 'read' ? 'open' : 'load', ctx.subject);
}

/** How a caller's descriptor is named in errors: the path that opens the same file. */
const fdName = (fd: number): string => `/proc/self/fd/${fd}`;

// A module file is opened without blocking and must be a regular file of at most MAX_MODULE_FILE_BYTES
// (fs-read.ts): a FIFO neither hangs the load nor is read, a huge file is a typed error.
function readSourceSync(source: { path: string } | { fd: number }, length: number | undefined): Uint8Array | number {
  try {
    if ('fd' in source) return readFdSync(source.fd, fdName(source.fd), MAX_MODULE_FILE_BYTES, length);
    return readRegularFileSync(source.path, MAX_MODULE_FILE_BYTES, length);
  } catch (e) {
    return readFailure(e);
  }
}

function readSource(source: { path: string } | { fd: number }, length: number | undefined): Promise<Uint8Array | number> {
  const read =
    'fd' in source
      ? readFd(source.fd, fdName(source.fd), MAX_MODULE_FILE_BYTES, length)
      : readRegularFile(source.path, MAX_MODULE_FILE_BYTES, length);
  return read.catch(readFailure);
}

const compressionFile = (ctx: DriverContext): string => `${ctx.sysRoot ?? '/sys'}/module/compression`;
/** /sys/module/compression holds one word ("xz" and a newline); a sysfs file is one page at most. */
const COMPRESSION_FILE_MAX = 4096;

function checkSignal(e: Effect, ctx: DriverContext): void {
  if (ctx.signal?.aborted && SYSCALLS.has(e.op)) throw abortError(ctx.signal, ctx.subject);
}

/** A module path that is not a regular file (a FIFO...) is refused as the regular-file reader refuses one. */
function regularPath(out: PathOutcome, path: string): PathOutcome {
  if (out.notRegular) throw notRegularFile(path);
  return out;
}

function performSync(e: Effect, ctx: DriverContext): unknown {
  const b = ctx.backend;
  switch (e.op) {
    case 'finitPath':
      return regularPath(b.finitModulePathSync(e.path, e.params, e.flags, e.guard), e.path);
    case 'finitFd':
      return b.finitModuleSync(e.fd, e.params, e.flags);
    case 'finitImage':
      return b.finitModuleImageSync(e.image, e.params, e.flags);
    case 'init':
      return b.initModuleSync(e.image, e.params);
    case 'delete':
      return b.deleteModuleSync(e.name, e.flags);
    case 'read':
      return readSourceSync(e.source, e.length);
    case 'decompress':
      return decompressSync(e.bytes);
    case 'kernelCompression':
      try {
        return readSmallFileSync(compressionFile(ctx), COMPRESSION_FILE_MAX).toString('utf8').trim() || null;
      } catch {
        return null;
      }
    case 'sleep':
      // The sync API blocks, by design.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, e.ms);
      return undefined;
    case 'now':
      return Date.now();
  }
}

function sleep(ms: number, ctx: DriverContext): Promise<void> {
  const { signal } = ctx;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!, ctx.subject));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Carries out one effect: a Promise for I/O, the value itself when there is none. */
function performAsync(e: Effect, ctx: DriverContext): unknown {
  const b = ctx.backend;
  switch (e.op) {
    case 'finitPath':
      return b.finitModulePath(e.path, e.params, e.flags, e.guard).then((out) => regularPath(out, e.path));
    case 'finitFd':
      return b.finitModule(e.fd, e.params, e.flags);
    case 'finitImage':
      return b.finitModuleImage(e.image, e.params, e.flags);
    case 'init':
      return b.initModule(e.image, e.params);
    case 'delete':
      return b.deleteModule(e.name, e.flags);
    case 'read':
      return readSource(e.source, e.length);
    case 'decompress':
      return decompress(e.bytes);
    case 'kernelCompression':
      return readSmallFile(compressionFile(ctx), COMPRESSION_FILE_MAX).then(
        (s) => s.toString('utf8').trim() || null,
        () => null,
      );
    case 'sleep':
      return sleep(e.ms, ctx);
    case 'now':
      return Date.now();
  }
}

export function runSync<T>(steps: Steps<T>, ctx: DriverContext): T {
  let next = steps.next();
  while (!next.done) {
    let result: unknown;
    try {
      result = performSync(next.value, ctx);
    } catch (err) {
      next = steps.throw(failure(err, next.value, ctx)); // into the policy, so its own handling runs
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

/** Runs a policy with the Backend's Promise calls; effects that need no I/O answer synchronously. */
export async function runAsync<T>(steps: Steps<T>, ctx: DriverContext): Promise<T> {
  let next = steps.next();
  while (!next.done) {
    let result: unknown;
    try {
      checkSignal(next.value, ctx);
      result = performAsync(next.value, ctx);
      if (isPromise(result)) result = await result;
    } catch (err) {
      next = steps.throw(failure(err, next.value, ctx));
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

const isPromise = (x: unknown): x is PromiseLike<unknown> => typeof (x as PromiseLike<unknown> | undefined)?.then === 'function';
