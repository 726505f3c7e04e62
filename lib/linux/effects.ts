// The two drivers for steps.ts: each effect carried out with the Backend and node:fs, async or sync.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Backend } from '../backend/types.js';
import { decompress, decompressSync } from '../compress/index.js';
import { abortError } from '../errors.js';
import { readFd, readFdSync } from '../fs-read.js';
import type { Effect, Steps } from './steps.js';

const SYSCALLS = new Set<Effect['op']>(['finitPath', 'finitFd', 'init', 'delete']);

export interface DriverContext {
  backend: Backend;
  signal?: AbortSignal;
  /** Where /sys lives (tests): `${sysRoot}/module/compression`. */
  sysRoot?: string;
  /** For abort errors: what the operation was about. */
  subject?: { path?: string; module?: string };
}

const errnoOf = (e: unknown): number => {
  const n = (e as NodeJS.ErrnoException).errno;
  return typeof n === 'number' && n < 0 ? n : -5;
};

function compressionFile(ctx: DriverContext): string {
  return `${ctx.sysRoot ?? '/sys'}/module/compression`;
}

function readPrefixSync(source: { path: string } | { fd: number }, length: number | undefined): Uint8Array | number {
  let fd: number;
  let opened = false;
  try {
    if ('path' in source) {
      fd = openSync(source.path, 'r');
      opened = true;
    } else fd = source.fd;
    return readFdSync(fd, length);
  } catch (e) {
    return errnoOf(e);
  } finally {
    if (opened) closeSync(fd!);
  }
}

async function readPrefix(source: { path: string } | { fd: number }, length: number | undefined): Promise<Uint8Array | number> {
  try {
    if ('path' in source) {
      if (length === undefined) return await readFile(source.path);
      const h = await open(source.path, 'r');
      try {
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await h.read(buf, 0, length, 0);
        return buf.subarray(0, bytesRead);
      } finally {
        await h.close();
      }
    }
    return await readFd(source.fd, length);
  } catch (e) {
    return errnoOf(e);
  }
}

function kernelCompressionSync(ctx: DriverContext): string | null {
  try {
    return readFileSync(compressionFile(ctx), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export function runSync<T>(steps: Steps<T>, ctx: DriverContext): T {
  let next = steps.next();
  while (!next.done) {
    let result: unknown;
    try {
      result = performSync(next.value, ctx);
    } catch (err) {
      // Into the policy, so its finally blocks (e.g. removing a staged file) still run.
      next = steps.throw(err);
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

function performSync(e: Effect, ctx: DriverContext): unknown {
  const b = ctx.backend;
  switch (e.op) {
    case 'finitPath':
      return b.finitModulePathSync(e.path, e.params, e.flags, e.guard);
    case 'finitFd':
      return b.finitModuleSync(e.fd, e.params, e.flags);
    case 'init':
      return b.initModuleSync(e.image, e.params);
    case 'delete':
      return b.deleteModuleSync(e.name, e.flags);
    case 'read':
      return readPrefixSync(e.source, e.length);
    case 'decompress':
      return decompressSync(e.bytes);
    case 'kernelCompression':
      return kernelCompressionSync(ctx);
    case 'stage': {
      const path = join(mkdtempSync(join(tmpdir(), 'kernmod-')), 'module.ko');
      writeFileSync(path, e.image, { mode: 0o600 });
      return path;
    }
    case 'unstage':
      return rmSync(dirname(e.path), { recursive: true, force: true });
    case 'sleep':
      // The sync API blocks, by design.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, e.ms);
      return undefined;
    case 'now':
      return Date.now();
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs a policy with the Backend's Promise calls. A chain of `.then`, not an async function awaiting an
 * async perform: each await layer is another promise reaction after every system call, and under
 * emulation (the VM rig) that code runs cold after each load — the kernel's TLB flushes evict it — so
 * the layers cost more than the thread-pool hop itself. Effects that need no I/O answer synchronously.
 */
export function runAsync<T>(steps: Steps<T>, ctx: DriverContext): Promise<T> {
  const resume = (next: IteratorResult<Effect, T>): T | PromiseLike<T> => {
    while (!next.done) {
      let result: unknown;
      try {
        result = performAsync(next.value, ctx);
      } catch (err) {
        // Into the policy, so its finally blocks (e.g. removing a staged file) still run.
        next = steps.throw(err);
        continue;
      }
      if (isPromise(result)) {
        return result.then(
          (value) => resume(steps.next(value)),
          (err) => resume(steps.throw(err)),
        );
      }
      next = steps.next(result);
    }
    return next.value;
  };
  try {
    return Promise.resolve(resume(steps.next()));
  } catch (err) {
    return Promise.reject(err);
  }
}

const isPromise = (x: unknown): x is PromiseLike<unknown> => typeof (x as PromiseLike<unknown> | undefined)?.then === 'function';

/** Carries out one effect: a Promise for I/O, the value itself when there is none; throws to abort. */
function performAsync(e: Effect, ctx: DriverContext): unknown {
  const b = ctx.backend;
  const { signal } = ctx;
  // The signal is honoured before each system call and during pauses; a call already in the kernel
  // runs to its end (the kernel offers no way to cancel a load).
  if (signal?.aborted && (SYSCALLS.has(e.op) || e.op === 'sleep')) throw abortError(signal, ctx.subject ?? {});
  switch (e.op) {
    case 'finitPath':
      return b.finitModulePath(e.path, e.params, e.flags, e.guard);
    case 'finitFd':
      return b.finitModule(e.fd, e.params, e.flags);
    case 'init':
      return b.initModule(e.image, e.params);
    case 'delete':
      return b.deleteModule(e.name, e.flags);
    case 'read':
      return readPrefix(e.source, e.length);
    case 'decompress':
      return decompress(e.bytes);
    case 'kernelCompression':
      return readFile(compressionFile(ctx), 'utf8').then(
        (s) => s.trim() || null,
        () => null,
      );
    case 'stage':
      return mkdtemp(join(tmpdir(), 'kernmod-')).then(async (dir) => {
        const path = join(dir, 'module.ko');
        await writeFile(path, e.image, { mode: 0o600 });
        return path;
      });
    case 'unstage':
      return rm(dirname(e.path), { recursive: true, force: true });
    case 'sleep':
      return sleep(e.ms, signal).catch(() => {
        throw abortError(signal!, ctx.subject ?? {});
      });
    case 'now':
      return Date.now();
  }
}
