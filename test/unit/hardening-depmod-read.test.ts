// Issue #16: depmod reads module files nobody vouches for. Each is opened without blocking and read only
// when it is a regular file of at most the decompression cap: a FIFO named like a module is a typed
// error instead of a hang, a huge file ERR_KERNMOD_TOO_LARGE instead of a RangeError.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readModuleFile, readModuleFileSync } from '../../lib/depmod/read-module.js';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const dir = mkdtempSync(join(tmpdir(), 'kernmod-hardening-depmod-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sparse(name: string, head: Uint8Array, size: number): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  writeSync(fd, head);
  ftruncateSync(fd, size);
  closeSync(fd);
  return path;
}

/** What a read gives within `ms`: its error, its value, or 'hung'. */
async function settle(p: Promise<unknown>, ms = 3000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise((resolve) => (timer = setTimeout(() => resolve('hung'), ms)));
  try {
    return await Promise.race([
      p.then(
        (v) => v,
        (e: unknown) => e,
      ),
      hung,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('depmod module reader: only regular files within the cap', () => {
  it('a FIFO named like a module is ERR_KERNMOD_INVALID_SOURCE (sync, plain .ko, and async, .ko.xz)', async () => {
    for (const name of ['pipe.ko', 'pipe.ko.xz']) {
      const fifo = join(dir, name);
      execFileSync('mkfifo', [fifo]);
      // A writer that holds the FIFO open, so that today's blocking open returns and its read waits.
      const writer = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      try {
        writeSync(writer, XZ_MAGIC);
        const want = expect.objectContaining({ name: 'KernmodError', code: 'ERR_KERNMOD_INVALID_SOURCE', path: fifo });
        expect(await settle(readModuleFile(fifo))).toEqual(want);
        let err: unknown;
        try {
          readModuleFileSync(fifo);
        } catch (e) {
          err = e;
        }
        expect(err).toEqual(want);
      } finally {
        closeSync(writer); // ends a read that is waiting, if any
      }
    }
  });

  it('a 5 GiB file is ERR_KERNMOD_TOO_LARGE before anything is allocated for it (sync and async)', async () => {
    const ko = sparse('huge.ko', Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), 5 * 2 ** 30);
    const xz = sparse('huge.ko.xz', XZ_MAGIC, 5 * 2 ** 30);
    expect(() => readModuleFileSync(ko)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE', path: ko }));
    await expect(readModuleFile(xz)).rejects.toMatchObject({ code: 'ERR_KERNMOD_TOO_LARGE', path: xz });
  });
});
