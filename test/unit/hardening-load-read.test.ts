// Issue #16, the user-space load path (lib/linux/effects.ts): a module file read to decompress it or to
// hand it to init_module is opened without blocking, must be a regular file and is capped at the
// kernel's own limit, so a FIFO or a huge file is a typed error that loads nothing — for a path and
// for a descriptor the caller opened.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { bind } from '../../lib/kernmod.js';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const dir = mkdtempSync(join(tmpdir(), 'kernmod-hardening-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A /sys without module/compression: the fake kernel decompresses nothing, so an .xz is read in user space.
const setup = () => {
  const kernel = new FakeKernel();
  return { kernel, km: bind(createFakeBackend(kernel), { sysRoot: join(dir, 'no-sys') }) };
};

/** A sparse file of 5 GiB that starts with the xz magic: more than a Buffer holds. */
function hugeXz(): string {
  const path = join(dir, 'huge.ko.xz');
  const fd = openSync(path, 'w');
  writeSync(fd, XZ_MAGIC);
  ftruncateSync(fd, 5 * 2 ** 30);
  closeSync(fd);
  return path;
}

describe('loading a module file the kernel cannot decompress reads it safely', () => {
  it('a file larger than the kernel reads is ERR_KERNMOD_TOO_LARGE and loads nothing (path, async and sync)', async () => {
    const { kernel, km } = setup();
    const path = hugeXz();
    await expect(km.loadModule(path)).rejects.toMatchObject({ name: 'KernmodError', code: 'ERR_KERNMOD_TOO_LARGE', path });
    expect(() => km.loadModuleSync(path)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE', path }));
    expect(kernel.calls.filter((c) => c.syscall !== 'open')).toEqual([]);
    expect(kernel.modules.size).toBe(0);
  });

  it('the same for a descriptor the caller opened', async () => {
    const { kernel, km } = setup();
    const fd = openSync(hugeXz(), 'r');
    try {
      await expect(km.loadModule({ fd })).rejects.toMatchObject({ code: 'ERR_KERNMOD_TOO_LARGE', path: `/proc/self/fd/${fd}` });
      expect(() => km.loadModuleSync({ fd })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE' }));
    } finally {
      closeSync(fd);
    }
    expect(kernel.calls).toEqual([]);
  });

  it('a FIFO descriptor is ERR_KERNMOD_INVALID_SOURCE before anything is read from it', async () => {
    const { kernel, km } = setup();
    const fifo = join(dir, 'pipe.ko.xz');
    execFileSync('mkfifo', [fifo]);
    // O_RDWR: the open does not wait for a writer; the bytes in it would be read by today's code.
    const fd = openSync(fifo, constants.O_RDWR);
    try {
      writeSync(fd, XZ_MAGIC);
      await expect(km.loadModule({ fd })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE', errno: -22 });
      expect(() => km.loadModuleSync({ fd })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE' }));
    } finally {
      closeSync(fd);
    }
    expect(kernel.calls).toEqual([]);
  });

  it('a directory descriptor is EISDIR, as read(2) says', async () => {
    const { km } = setup();
    const fd = openSync(dir, 'r');
    try {
      await expect(km.loadModule({ fd })).rejects.toMatchObject({ code: 'EISDIR' });
    } finally {
      closeSync(fd);
    }
  });

  it('an ordinary .ko.xz still loads through user space', async () => {
    const { kernel, km } = setup();
    const path = join(dir, 'ok.ko.xz');
    writeFileSync(path, execFileSync('xz', ['--format=xz', '--check=crc32', '-c'], { input: FakeKernel.image('hardening_ok') }));
    await expect(km.loadModule(path)).resolves.toMatchObject({ module: 'ok', compression: { format: 'xz', decompressedBy: 'user' } });
    expect(kernel.modules.has('hardening_ok')).toBe(true);
  });
});
