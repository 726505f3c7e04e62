// One conformance suite for every NetBSD backend: the same modctl(2) requests must give the same
// answers in the Promise and sync forms, with NetBSD's errno numbers, and the same errors through the
// facade. Here it runs against the FAKE NetBSD kernel (a simulation, in several releases); on NetBSD
// (the Vagrant box) the native addon has modctl and the suite runs against the real kernel too, with
// requests that change nothing.
import { endianness, release as osRelease } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadNativeBinding } from '../../lib/backend/native.js';
import type { NetbsdBackend } from '../../lib/netbsd/backend.js';
import { createFakeNetbsdBackend, FakeNetbsdKernel } from '../../lib/netbsd/fake.js';
import { bind } from '../../lib/netbsd/index.js';
import { decodeModstat } from '../../lib/netbsd/modstat.js';
import { createNetbsdNativeBackend } from '../../lib/netbsd/native.js';

// NetBSD errno numbers (sys/errno.h), not the host's.
const EPERM = -1;
const ENOENT = -2;
const ENOMEM = -12;
const EINVAL = -22;
const ENAMETOOLONG = -63;
const ENOSYS = -78;

interface Case {
  label: string;
  make: () => NetbsdBackend;
  /** The kernel has options MODULAR. */
  modular: boolean;
  /** NetBSD release (major). */
  release: number;
  /** The caller is root (kauth allows loading at securelevel <= 0). */
  root: boolean;
}

function cases(): Case[] {
  const fake = (label: string, opts: ConstructorParameters<typeof FakeNetbsdKernel>[0] & { release: number }): Case => ({
    label: `fake NetBSD ${label} (simulated kernel)`,
    make: () => createFakeNetbsdBackend(new FakeNetbsdKernel(opts)),
    modular: opts.modular ?? true,
    release: opts.release,
    root: true,
  });
  const list = [
    fake('10', { release: 10 }),
    fake('9 with compat_80', { release: 9, compat80: true }),
    fake('8', { release: 8 }),
    fake('6', { release: 6 }),
    fake('10 without options MODULAR', { release: 10, modular: false }),
  ];
  if (process.platform === 'netbsd') {
    const binding = loadNativeBinding();
    list.push({
      label: 'native (the real NetBSD kernel)',
      make: () => createNetbsdNativeBackend(binding),
      modular: true,
      release: Number.parseInt(osRelease(), 10),
      root: process.getuid?.() === 0,
    });
  }
  return list;
}

const missing = '/nonexistent/kernmod-conformance/missing.kmod';

describe.each(cases())('NetBSD backend conformance: $label', (c) => {
  const loadAnswer = c.root ? (c.modular ? ENOENT : ENOSYS) : EPERM;

  it('names itself, drives netbsd, knows the byte order', () => {
    const b = c.make();
    expect(['native', 'fake']).toContain(b.name);
    expect(b.system).toBe('netbsd');
    expect(b.endian).toBe(endianness());
  });

  it('MODCTL_UNLOAD of a module that is not loaded: ENOENT, the same in both forms', async () => {
    const b = c.make();
    const want = c.root ? ENOENT : EPERM;
    expect(b.modctlUnloadSync('kernmod_not_loaded')).toBe(want);
    expect(await b.modctlUnload('kernmod_not_loaded')).toBe(want);
  });

  it('MODCTL_LOAD of a missing path: ENOENT (ENOSYS without MODULAR), the same in both forms', async () => {
    const b = c.make();
    expect(b.modctlLoadSync(missing, 0, '')).toBe(loadAnswer);
    expect(await b.modctlLoad(missing, 0, '')).toBe(loadAnswer);
  });

  it('the checks of handle_modctl_load come first: bad plist EINVAL, props > 4096 ENOMEM, path >= 1024 ENAMETOOLONG', async () => {
    const b = c.make();
    expect(await b.modctlLoad(missing, 0, '<plist><dict>')).toBe(EINVAL);
    expect(b.modctlLoadSync(missing, 0, `<plist version="1.0"><dict><key>k</key><string>${'x'.repeat(5000)}</string></dict></plist>`)).toBe(
      ENOMEM,
    );
    expect(await b.modctlLoad(`/${'p'.repeat(1023)}`, 0, '')).toBe(ENAMETOOLONG);
    expect(b.modctlLoadSync(`/${'p'.repeat(1022)}`, 0, '')).toBe(loadAnswer); // 1023 bytes + NUL fits
  });

  it('MODCTL_UNLOAD of a name of 32 bytes or more: ENAMETOOLONG (copyinstr into char[32])', async () => {
    const b = c.make();
    expect(await b.modctlUnload('n'.repeat(32))).toBe(ENAMETOOLONG);
    expect(b.modctlUnloadSync('n'.repeat(31))).toBe(c.root ? ENOENT : EPERM);
  });

  it('MODCTL_STAT answers in the layout of the release, the same in both forms, and decodes', async () => {
    const b = c.make();
    const sync = b.modctlStatSync();
    const async = await b.modctlStat();
    expect(sync.ret).toBe(0);
    expect(sync.layout).toBe(c.release >= 9 ? 'v2' : 'v1');
    expect(sync.command).toBe(c.release >= 9 ? 4 : 2);
    expect(async).toEqual(sync);
    for (const e of decodeModstat(sync.bytes, sync.layout, { endian: b.endian })) expect(e.name).toMatch(/^[^\0]+$/);
  });

  it('MODCTL_EXISTS: 0/1 answered on 7.0+ (EINVAL before), any other argument EINVAL', async () => {
    const b = c.make();
    if (c.release < 7) {
      expect(b.modctlExistsSync(0)).toBe(EINVAL);
      expect(await b.modctlExists(1)).toBe(EINVAL);
      return;
    }
    if (!c.modular) {
      expect(await b.modctlExists(0)).toBe(ENOSYS);
      return;
    }
    expect([0, EPERM]).toContain(b.modctlExistsSync(0));
    expect(await b.modctlExists(0)).toBe(b.modctlExistsSync(0));
    expect(await b.modctlExists(2)).toBe(EINVAL);
  });

  it('the facade builds the same full error shape with NetBSD codes, Promise and sync', async () => {
    const nb = bind(c.make());
    const code = c.root ? 'ENOENT' : 'EPERM';
    const shape = {
      name: 'KernmodError',
      code,
      errno: c.root ? ENOENT : EPERM,
      syscall: 'modctl',
      module: 'kernmod_not_loaded',
      phase: 'unload',
    };
    await expect(nb.unloadModule('kernmod_not_loaded')).rejects.toMatchObject(shape);
    expect(() => nb.unloadModuleSync('kernmod_not_loaded')).toThrow(expect.objectContaining(shape));
    const err = (await nb.unloadModule('kernmod_not_loaded').catch((e: unknown) => e)) as Error & { hint?: string };
    if (c.root) {
      expect(err.message).toBe("ENOENT: no such file or directory, modctl 'kernmod_not_loaded'");
      expect(err.hint).toMatch(/no module of this name is loaded/);
    }
  });

  it('a load error carries the path, the module name and the phase', async () => {
    const nb = bind(c.make());
    const want = c.root ? (c.modular ? 'ENOENT' : 'ENOSYS') : 'EPERM';
    await expect(nb.loadModule(missing)).rejects.toMatchObject({
      code: want,
      errno: loadAnswer,
      syscall: 'modctl',
      path: missing,
      module: 'missing',
      phase: 'load',
    });
    expect(() => nb.loadModuleSync(missing)).toThrow(expect.objectContaining({ code: want, path: missing }));
  });

  it('rejects bad arguments with typed errors before any system call', async () => {
    const nb = bind(c.make());
    await expect(nb.unloadModule('')).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_NAME', phase: 'validate' });
    await expect(nb.unloadModule('n'.repeat(32))).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_NAME' });
    await expect(nb.unloadModule('a/b')).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_NAME' });
    await expect(nb.loadModule('')).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
    await expect(nb.loadModule(`/${'p'.repeat(1023)}`)).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
    await expect(nb.loadModule(missing, { props: { k: 'x'.repeat(5000) } })).rejects.toMatchObject({ code: 'ERR_KERNMOD_PROPS_TOO_LARGE' });
  });
});
