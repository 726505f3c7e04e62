// The head guard of finitModulePath (types.ts, HeadGuard) for the backends written in TypeScript (ffi,
// fake), and the check of the file it opens; the native addon does the same in C++ (native/sys.h,
// sys_linux.cc). Pure apart from the read itself.
import { readSync, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { HeadGuard, PathOutcome } from './types.js';

/**
 * finitModulePath's answer for a file it must not pass to finit_module, else undefined (a regular file:
 * go on). The path is opened with lib/fs-read's OPEN_NAMED_FILE (O_NONBLOCK: a FIFO does not wait for a
 * writer); a directory is EISDIR, as reading it says, anything else not regular -EINVAL, notRegular.
 */
export function notRegularOutcome(st: Pick<Stats, 'isFile' | 'isDirectory'>): PathOutcome | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return { ret: -21, syscall: 'read' };
  return { ret: -22, syscall: 'open', notRegular: true };
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

function guardMatches(guard: HeadGuard, head: Uint8Array): boolean {
  return guard.some((p) => p.byteLength <= head.byteLength && p.every((b, i) => head[i] === b));
}

/** A failed read's negative errno; a failure without one is no errno to report, and is thrown on. */
const errnoOf = (e: unknown): number => {
  const n = (e as NodeJS.ErrnoException).errno;
  if (typeof n === 'number' && n < 0) return n;
  throw e;
};

/** The outcome when the head read matches a prefix (stop before finit_module), else undefined: go on. */
function stopAt(guard: HeadGuard, buf: Buffer, got: number): PathOutcome | undefined {
  const head = buf.subarray(0, got);
  return guardMatches(guard, head) ? { ret: 0, syscall: 'read', head, stopped: true } : undefined;
}

/**
 * Reads the guard's head from offset 0 of `fd`. Returns the outcome to report when the call must not go
 * on (the read failed, or a prefix matched), else undefined: go on to finit_module.
 */
export function checkHeadSync(fd: number, guard: HeadGuard, length: number): PathOutcome | undefined {
  const buf = Buffer.alloc(length);
  try {
    return stopAt(guard, buf, readSync(fd, buf, 0, length, 0));
  } catch (e) {
    return { ret: errnoOf(e), syscall: 'read' };
  }
}

export async function checkHead(handle: FileHandle, guard: HeadGuard, length: number): Promise<PathOutcome | undefined> {
  const buf = Buffer.alloc(length);
  try {
    return stopAt(guard, buf, (await handle.read(buf, 0, length, 0)).bytesRead);
  } catch (e) {
    return { ret: errnoOf(e), syscall: 'read' };
  }
}
