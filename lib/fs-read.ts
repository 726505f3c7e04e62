// Reading from an open file until a byte range is full or the file ends. One read(2) may return less
// than asked for, so every reader has to loop; this is that loop, sync and async, shared by the load
// drivers, the fake kernel and modinfo's sparse reader. Errors are node:fs's, thrown as they come.
import { fstat, fstatSync, read, readSync } from 'node:fs';

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
