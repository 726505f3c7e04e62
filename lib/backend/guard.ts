// finitModulePath (types.ts) for the backends written in TypeScript (ffi, fake): the NUL checks, the
// open, the regular-file check and the head guard, then the caller's finit_module on the open fd; the
// native addon does the same in C++ (native/sys.h, sys_linux.cc).
import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { OPEN_NAMED_FILE } from '../fs-read.js';
import type { HeadGuard, PathOutcome } from './types.js';
import { LINUX_ERRNO } from '../errno.js';

const EINVAL = -LINUX_ERRNO.EINVAL;

// A C string with a NUL inside would reach the kernel cut at the NUL (another file, other params, another
// module): such a call answers -EINVAL without being made, as in the addon.
export const hasNul = (s: string): boolean => s.includes('\0');

/**
 * finitModulePath's answer for a file it must not pass to finit_module, else undefined (a regular file:
 * go on). The path is opened O_NONBLOCK (a FIFO does not wait for a writer); a directory is EISDIR, as
 * reading it says, anything else not regular -EINVAL, notRegular.
 */
function notRegularOutcome(st: Pick<Stats, 'isFile' | 'isDirectory'>): PathOutcome | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return { ret: -LINUX_ERRNO.EISDIR, syscall: 'read' };
  return { ret: EINVAL, syscall: 'open', notRegular: true };
}

/** The native addon's limit, kept the same here so every backend accepts the same guards. */
const MAX_GUARD_HEAD = 16;

/** How many bytes the guard needs (its longest prefix); throws like the addon on a bad guard. */
export function guardLength(guard: HeadGuard): number {
  if (!Array.isArray(guard)) throw new TypeError('guard must be an array of Uint8Array prefixes');
  let n = 0;
  for (const p of guard) {
    if (!(p instanceof Uint8Array)) throw new TypeError('guard must be an array of Uint8Array prefixes');
    if (p.byteLength === 0 || p.byteLength > MAX_GUARD_HEAD) throw new RangeError(`a guard prefix must be 1 to ${MAX_GUARD_HEAD} bytes`);
    n = Math.max(n, p.byteLength);
  }
  return n;
}

/** A failed call's negative errno; a failure without one is no errno to report, and is thrown on (the driver keeps it as the cause). */
export const errnoOf = (e: unknown): number => {
  const n = (e as NodeJS.ErrnoException).errno;
  if (typeof n === 'number' && n < 0) return n;
  throw e;
};

/** The outcome when the head read matches a prefix (stop before finit_module), else undefined: go on. */
function stopAt(guard: HeadGuard, buf: Buffer, got: number): PathOutcome | undefined {
  const head = buf.subarray(0, got);
  return guard.some((p) => p.byteLength <= head.byteLength && p.every((b, i) => head[i] === b))
    ? { ret: 0, syscall: 'read', head, stopped: true }
    : undefined;
}

/** A NUL in the path or params, answered before the open; undefined: go on. */
function nulOutcome(path: string, params: string): PathOutcome | undefined {
  if (hasNul(path)) return { ret: EINVAL, syscall: 'open' };
  if (hasNul(params)) return { ret: EINVAL, syscall: 'finit_module' };
  return undefined;
}

/** finitModulePathSync: `finit` is finit_module of the open fd; `openFailed` hears a failed open's errno. */
export function finitPathSync(
  path: string,
  params: string,
  guard: HeadGuard | undefined,
  finit: (fd: number) => number,
  openFailed?: (ret: number) => void,
): PathOutcome {
  const length = guard ? guardLength(guard) : 0;
  const refused = nulOutcome(path, params);
  if (refused) return refused;
  let fd: number;
  try {
    fd = openSync(path, OPEN_NAMED_FILE);
  } catch (e) {
    const ret = errnoOf(e);
    openFailed?.(ret);
    return { ret, syscall: 'open' };
  }
  try {
    const stop = notRegularOutcome(fstatSync(fd)) ?? (guard ? headSync(fd, guard, length) : undefined);
    return stop ?? { ret: finit(fd), syscall: 'finit_module' };
  } finally {
    closeSync(fd);
  }
}

/** finitModulePath on the libuv thread pool; `finit` is finit_module of the open fd. */
export async function finitPath(
  path: string,
  params: string,
  guard: HeadGuard | undefined,
  finit: (fd: number) => Promise<number>,
): Promise<PathOutcome> {
  const length = guard ? guardLength(guard) : 0;
  const refused = nulOutcome(path, params);
  if (refused) return refused;
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_NAMED_FILE); // Node adds O_CLOEXEC
  } catch (e) {
    return { ret: errnoOf(e), syscall: 'open' };
  }
  try {
    const stop = notRegularOutcome(await handle.stat()) ?? (guard ? await head(handle, guard, length) : undefined);
    return stop ?? { ret: await finit(handle.fd), syscall: 'finit_module' };
  } finally {
    await handle.close();
  }
}

// The guard's head, read from offset 0: the outcome to report when the call must not go on (the read
// failed, or a prefix matched), else undefined: go on to finit_module.
function headSync(fd: number, guard: HeadGuard, length: number): PathOutcome | undefined {
  const buf = Buffer.alloc(length);
  try {
    return stopAt(guard, buf, readSync(fd, buf, 0, buf.length, 0));
  } catch (e) {
    return { ret: errnoOf(e), syscall: 'read' };
  }
}

async function head(handle: FileHandle, guard: HeadGuard, length: number): Promise<PathOutcome | undefined> {
  const buf = Buffer.alloc(length);
  try {
    return stopAt(guard, buf, (await handle.read(buf, 0, buf.length, 0)).bytesRead);
  } catch (e) {
    return { ret: errnoOf(e), syscall: 'read' };
  }
}
