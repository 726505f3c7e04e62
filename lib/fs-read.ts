// Reading from an open file until a byte range is full or the file ends. One read(2) may return less
// than asked for, so every reader has to loop; this is that loop, sync and async, shared by the load
// drivers, the fake kernel and modinfo's sparse reader. Errors are node:fs's, thrown as they come.
// And reading a file someone names: opened without blocking, read only when it is a regular file, and
// refused past a size limit before any buffer is allocated. Every reader of a file another person may
// have written (modules, index files, configuration) goes through these, sync and async alike.
import { close, closeSync, constants, fstat, fstatSync, open, openSync, read, readSync, type Stats } from 'node:fs';
import { invalidInput, systemError } from './errors.js';
import { LINUX_ERRNO } from './errno.js';

/**
 * How to open a file a caller names: O_NONBLOCK, so that a FIFO cannot hang the open (or the thread-pool
 * thread doing it), and O_NOCTTY, so that a terminal does not become ours. Node adds O_CLOEXEC.
 */
export const OPEN_NAMED_FILE = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * Refuses what is not a regular file of at most `maxBytes`, before anything is read: a directory is
 * EISDIR, as read(2) says; a FIFO, socket or device (which may never end) ERR_KERNMOD_INVALID_SOURCE;
 * a larger file ERR_KERNMOD_TOO_LARGE.
 */
export function checkRegularFile(st: Pick<Stats, 'isFile' | 'isDirectory' | 'size'>, path: string, maxBytes: number): void {
  if (st.isDirectory()) throw systemError(-LINUX_ERRNO.EISDIR, 'read', { path });
  if (!st.isFile()) throw notRegularFile(path);
  checkFileSize(st.size, path, maxBytes);
}

/** ERR_KERNMOD_INVALID_SOURCE for a FIFO, socket or device where a regular file was wanted. */
export function notRegularFile(path: string) {
  return invalidInput('ERR_KERNMOD_INVALID_SOURCE', `${path}: not a regular file`, { errno: -LINUX_ERRNO.EINVAL, path });
}

/** ERR_KERNMOD_TOO_LARGE for a file of more than `maxBytes`. */
export function checkFileSize(size: number, path: string, maxBytes: number): void {
  if (size > maxBytes) throw fileTooLarge(path, `${size} bytes`, maxBytes);
}

function fileTooLarge(path: string, size: string, maxBytes: number) {
  return invalidInput('ERR_KERNMOD_TOO_LARGE', `${path} is ${size}, more than the limit of ${maxBytes} (maxBytes)`, {
    errno: -LINUX_ERRNO.EFBIG,
    path,
  });
}

/**
 * The whole of a small regular file, read to its end (procfs and sysfs report a size of 0), or the
 * checkRegularFile error; more than `maxBytes` is ERR_KERNMOD_TOO_LARGE.
 */
export function readSmallFileSync(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, OPEN_NAMED_FILE);
  try {
    checkRegularFile(fstatSync(fd), path, maxBytes);
    const buf = Buffer.allocUnsafe(maxBytes + 1);
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += got;
    if (n > maxBytes) throw fileTooLarge(path, `more than ${maxBytes} bytes`, maxBytes);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** readSmallFileSync on the libuv thread pool. */
export async function readSmallFile(path: string, maxBytes: number): Promise<Buffer> {
  const fd = await openNamed(path);
  try {
    checkRegularFile(await fstatOf(fd), path, maxBytes);
    const buf = Buffer.allocUnsafe(maxBytes + 1);
    let n = 0;
    for (let got; n < buf.length && (got = await readAt(fd, buf, n, buf.length - n, null)) > 0; ) n += got;
    if (n > maxBytes) throw fileTooLarge(path, `more than ${maxBytes} bytes`, maxBytes);
    return buf.subarray(0, n);
  } finally {
    await closeFd(fd);
  }
}

/** Fills `buf[offset, offset + length)` from the same offsets of the file; returns the bytes read (fewer at end of file). */
export function readRangeSync(fd: number, buf: Uint8Array, offset: number, length: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, offset + done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

// The callback API, wrapped by hand: lighter than fs/promises' FileHandle over thousands of small files.
// `position` null reads on from the file position (procfs and sysfs files are read in order).
const readAt = (fd: number, buf: Uint8Array, offset: number, length: number, position: number | null = offset): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
const fstatOf = (fd: number): Promise<Stats> => new Promise((resolve, reject) => fstat(fd, (err, st) => (err ? reject(err) : resolve(st))));
const openNamed = (path: string): Promise<number> =>
  new Promise((resolve, reject) => open(path, OPEN_NAMED_FILE, (err, fd) => (err ? reject(err) : resolve(fd))));
const closeFd = (fd: number): Promise<void> => new Promise((resolve) => close(fd, () => resolve()));

/** readRangeSync on the libuv thread pool. */
export async function readRange(fd: number, buf: Uint8Array, offset: number, length: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await readAt(fd, buf, offset + done, length - done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * The size of an open file, by fstat, once checkRegularFile has passed it: `name` says which file in
 * the error (its path, or for a caller's descriptor /proc/self/fd/N).
 */
export function regularFileSizeSync(fd: number, name: string, maxBytes: number): number {
  const st = fstatSync(fd);
  checkRegularFile(st, name, maxBytes);
  return st.size;
}

/**
 * The first `length` bytes of an open regular file of at most `maxBytes`, or all of it (by fstat) when
 * no length is given; shorter at end of file. What is not a regular file is refused before any read
 * (a FIFO may never end), as is a larger file, before any buffer is allocated.
 */
export function readFdSync(fd: number, name: string, maxBytes: number, length?: number): Buffer {
  const size = regularFileSizeSync(fd, name, maxBytes);
  const buf = Buffer.allocUnsafe(Math.min(length ?? size, size));
  return buf.subarray(0, readRangeSync(fd, buf, 0, buf.length));
}

/** readFdSync on the libuv thread pool. */
export async function readFd(fd: number, name: string, maxBytes: number, length?: number): Promise<Buffer> {
  const st = await fstatOf(fd);
  checkRegularFile(st, name, maxBytes);
  const buf = Buffer.allocUnsafe(Math.min(length ?? st.size, st.size));
  return buf.subarray(0, await readRange(fd, buf, 0, buf.length));
}

/**
 * The whole of the regular file at `path` (of at most `maxBytes`, read by its fstat size), or its first
 * `length` bytes, opened OPEN_NAMED_FILE: a FIFO neither blocks the open nor is read. For files anyone
 * may have written — module files, index files, configuration — where readFileSync would wait on a FIFO.
 */
export function readRegularFileSync(path: string, maxBytes: number, length?: number): Buffer {
  const fd = openSync(path, OPEN_NAMED_FILE);
  try {
    return readFdSync(fd, path, maxBytes, length);
  } finally {
    closeSync(fd);
  }
}

/** readRegularFileSync on the libuv thread pool. */
export async function readRegularFile(path: string, maxBytes: number, length?: number): Promise<Buffer> {
  const fd = await openNamed(path);
  try {
    return await readFd(fd, path, maxBytes, length);
  } finally {
    await closeFd(fd);
  }
}
