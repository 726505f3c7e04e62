// Reading from an open file until a byte range is full or the file ends. One read(2) may return less
// than asked for, so every reader has to loop; this is that loop, sync and async, shared by the load
// drivers, the fake kernel and modinfo's sparse reader. Errors are node:fs's, thrown as they come.
// And opening a file someone names: without blocking, and only when it is a regular file.
import { closeSync, constants, fstat, fstatSync, openSync, read, readSync, type Stats } from 'node:fs';
import { invalidInput, systemError } from './errors.js';

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
  if (st.isDirectory()) throw systemError(-21, 'read', { path });
  if (!st.isFile()) throw invalidInput('ERR_KERNMOD_INVALID_SOURCE', `${path}: not a regular file`, { errno: -22, path });
  checkFileSize(st.size, path, maxBytes);
}

/** ERR_KERNMOD_TOO_LARGE for a file of more than `maxBytes`. */
export function checkFileSize(size: number, path: string, maxBytes: number): void {
  if (size > maxBytes) throw fileTooLarge(path, `${size} bytes`, maxBytes);
}

function fileTooLarge(path: string, size: string, maxBytes: number) {
  return invalidInput('ERR_KERNMOD_TOO_LARGE', `${path} is ${size}, more than the limit of ${maxBytes} (maxBytes)`, { errno: -27, path });
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
const readAt = (fd: number, buf: Uint8Array, offset: number, length: number): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, offset, length, offset, (err, n) => (err ? reject(err) : resolve(n))));

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

/** The first `length` bytes of an open file, or all of it (by fstat) when no length is given; shorter at end of file. */
export function readFdSync(fd: number, length?: number): Buffer {
  const buf = Buffer.allocUnsafe(length ?? fstatSync(fd).size);
  return buf.subarray(0, readRangeSync(fd, buf, 0, buf.length));
}

/** readFdSync on the libuv thread pool. */
export async function readFd(fd: number, length?: number): Promise<Buffer> {
  const size = length ?? (await new Promise<number>((resolve, reject) => fstat(fd, (err, st) => (err ? reject(err) : resolve(st.size)))));
  const buf = Buffer.allocUnsafe(size);
  return buf.subarray(0, await readRange(fd, buf, 0, size));
}
