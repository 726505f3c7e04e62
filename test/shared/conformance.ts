// The conformance suite, shared by test/unit (host kernel + fake) and test/kernel (a real kernel in the VM).
// One conformance suite for every backend (native addon, ffi-rs, fake kernel): the same inputs must give
// the same results in the Promise and sync forms, and the same errors through the facade. Real backends
// here talk to the host's kernel: without module support every syscall must answer ENOSYS, and the full
// error shape is asserted for it.
import { readdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bind } from '../../lib/kernmod.js';
import type { BackendCase } from './backends.js';

const ENOENT = -2;
const EINVAL = -22;
const ENOSYS = -38;

const dir = mkdtempSync(join(tmpdir(), 'kernmod-conf-'));
const notElf = join(dir, 'not-elf.ko');
writeFileSync(notElf, 'this is not an ELF file');
const missing = join(dir, 'missing.ko');
const xzHead = join(dir, 'xz-head.ko.xz');
writeFileSync(xzHead, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6]));
const oneByte = join(dir, 'one-byte.ko');
writeFileSync(oneByte, Buffer.from([0x1f]));
const XZ = Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00);
const GZIP = Uint8Array.of(0x1f, 0x8b);

export function conformanceSuite(cases: BackendCase[]): void {
  describe.each(cases)('backend conformance: $label', ({ make, modules }) => {
    const expectKernel = (errno: number) => (modules ? errno : ENOSYS);

    it('names itself and knows the delete flags', () => {
      const b = make();
      expect(['native', 'ffi', 'fake']).toContain(b.name);
      expect(b.system).toBe('linux');
      expect(b.moduleNameLen).toBe(process.arch === 'ia32' || process.arch === 'arm' ? 60 : 56);
      expect(b.flags).toEqual({ O_TRUNC: 0o1000, O_NONBLOCK: 0o4000 });
    });

    it('a missing path fails in open(), not in the kernel, in both forms', async () => {
      const b = make();
      expect(b.finitModulePathSync(missing, '', 0)).toEqual({ ret: ENOENT, syscall: 'open' });
      expect(await b.finitModulePath(missing, '', 0)).toEqual({ ret: ENOENT, syscall: 'open' });
    });

    it('finit_module of a non-module file is refused by the kernel, the same in both forms', async () => {
      const b = make();
      const sync = b.finitModulePathSync(notElf, '', 0);
      const async = await b.finitModulePath(notElf, '', 0);
      expect(sync).toEqual(async);
      expect(sync.syscall).toBe('finit_module');
      expect(sync.ret).toBe(expectKernel(-8 /* ENOEXEC */));
    });

    it('a head guard that matches stops before finit_module and returns the head, in both forms', async () => {
      const b = make();
      const want = { ret: 0, syscall: 'read', stopped: true, head: Buffer.from(XZ) };
      expect(b.finitModulePathSync(xzHead, '', 0, [GZIP, XZ])).toEqual(want);
      expect(await b.finitModulePath(xzHead, '', 0, [GZIP, XZ])).toEqual(want);
    });

    it('a head guard that does not match reads the head on the same fd and goes on to finit_module', async () => {
      const b = make();
      const sync = b.finitModulePathSync(notElf, '', 0, [GZIP, XZ]);
      expect(sync).toEqual(await b.finitModulePath(notElf, '', 0, [GZIP, XZ]));
      // The head is returned only when the guard stopped the call.
      expect(sync).toEqual({ ret: expectKernel(-8), syscall: 'finit_module' });
      // A file shorter than a prefix matches nothing.
      expect(await b.finitModulePath(oneByte, '', 0, [GZIP])).toEqual({ ret: expectKernel(-8), syscall: 'finit_module' });
      // With a guard, a missing file still fails in open().
      expect(b.finitModulePathSync(missing, '', 0, [XZ])).toEqual({ ret: ENOENT, syscall: 'open' });
    });

    it('a malformed head guard is a TypeError / RangeError, not a system call', async () => {
      const b = make();
      expect(() => b.finitModulePathSync(xzHead, '', 0, ['fd37' as never])).toThrow(TypeError);
      expect(() => b.finitModulePathSync(xzHead, '', 0, [new Uint8Array(0)])).toThrow(RangeError);
      expect(() => b.finitModulePathSync(xzHead, '', 0, [new Uint8Array(17)])).toThrow(RangeError);
      await expect(async () => b.finitModulePath(xzHead, '', 0, [new Uint8Array(17)])).rejects.toThrow(RangeError);
    });

    it('unknown finit_module flag bits give EINVAL', async () => {
      const b = make();
      const r = await b.finitModulePath(notElf, '', 8);
      expect(r.ret).toBe(expectKernel(EINVAL));
    });

    it('init_module of garbage bytes is refused, the same in both forms', async () => {
      const b = make();
      const image = Buffer.from('not a module at all');
      expect(b.initModuleSync(image, '')).toBe(expectKernel(-8));
      expect(await b.initModule(image, '')).toBe(expectKernel(-8));
    });

    it('finit_module of bytes (an anonymous file) refuses garbage in the kernel, not in memfd_create or write, in both forms', async () => {
      const b = make();
      const image = Buffer.from('not a module at all');
      const want = { ret: expectKernel(-8), syscall: 'finit_module' };
      expect(b.finitModuleImageSync(image, '', 0)).toEqual(want);
      expect(await b.finitModuleImage(image, '', 0)).toEqual(want);
      // An empty image is written as nothing: the kernel still decides.
      expect((await b.finitModuleImage(new Uint8Array(0), '', 0)).syscall).toBe('finit_module');
    });

    it('a string with a NUL inside is refused with EINVAL before the call, never cut short', async () => {
      const b = make();
      // The part before the NUL names a file that exists: a cut path would open it.
      expect(b.finitModulePathSync(`${notElf}\0.xz`, '', 0)).toEqual({ ret: EINVAL, syscall: 'open' });
      expect(await b.finitModulePath(`${notElf}\0.xz`, '', 0)).toEqual({ ret: EINVAL, syscall: 'open' });
      expect(b.finitModulePathSync(notElf, 'a=1\0b=2', 0)).toEqual({ ret: EINVAL, syscall: 'finit_module' });
      expect(await b.finitModuleImage(Buffer.from('x'), 'a\0', 0)).toEqual({ ret: EINVAL, syscall: 'finit_module' });
      expect(b.initModuleSync(Buffer.from('x'), 'a\0')).toBe(EINVAL);
      expect(await b.initModule(Buffer.from('x'), 'a\0')).toBe(EINVAL);
      expect(b.deleteModuleSync('kernmod_not_loaded\0x', b.flags.O_NONBLOCK)).toBe(EINVAL);
      expect(await b.deleteModule('kernmod_not_loaded\0x', b.flags.O_NONBLOCK)).toBe(EINVAL);
    });

    it('delete_module of a module that is not loaded gives ENOENT, the same in both forms', async () => {
      const b = make();
      expect(b.deleteModuleSync('kernmod_not_loaded', b.flags.O_NONBLOCK)).toBe(expectKernel(ENOENT));
      expect(await b.deleteModule('kernmod_not_loaded', b.flags.O_NONBLOCK)).toBe(expectKernel(ENOENT));
    });

    it('the facade builds the same full error shape, Promise and sync', async () => {
      const km = bind(make());
      const code = modules ? 'ENOENT' : 'ENOSYS';
      const shape = {
        name: 'KernmodError',
        code,
        errno: modules ? ENOENT : ENOSYS,
        syscall: 'delete_module',
        module: 'kernmod_not_loaded',
        phase: 'unload',
      };
      await expect(km.unloadModule('kernmod-not-loaded')).rejects.toMatchObject(shape);
      expect(() => km.unloadModuleSync('kernmod-not-loaded')).toThrow(expect.objectContaining(shape));
      const err = (await km.unloadModule('kernmod_not_loaded').catch((e: unknown) => e)) as Error;
      expect(err.message).toBe(
        modules
          ? "ENOENT: no such file or directory, delete_module 'kernmod_not_loaded'"
          : "ENOSYS: function not implemented, delete_module 'kernmod_not_loaded'",
      );
      expect((err as { hint?: string }).hint).toMatch(modules ? /no module of this name is loaded/ : /without loadable module support/);
    });

    it('a path load error carries path, module and the syscall that failed', async () => {
      const km = bind(make());
      await expect(km.loadModule(missing)).rejects.toMatchObject({
        code: 'ENOENT',
        errno: ENOENT,
        syscall: 'open',
        path: missing,
        module: 'missing',
        message: `ENOENT: no such file or directory, open '${missing}'`,
      });
      expect(() => km.loadModuleSync(missing)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open', path: missing }));
    });

    it('leaks no file descriptor over 1,000 failed path loads', async () => {
      const b = make();
      const count = () => readdirSync('/proc/self/fd').length;
      // Warm up lazily opened descriptors (the ffi library handle, libuv's pool) before counting.
      b.finitModulePathSync(notElf, '', 0);
      await b.finitModulePath(notElf, '', 0);
      const before = count();
      for (let i = 0; i < 500; i++) {
        b.finitModulePathSync(notElf, '', 0);
        b.finitModulePathSync(missing, '', 0);
      }
      await Promise.all(Array.from({ length: 250 }, () => b.finitModulePath(notElf, '', 0)));
      await Promise.all(Array.from({ length: 250 }, () => b.finitModulePath(missing, '', 0)));
      expect(count()).toBe(before);
    });

    it('leaks no file descriptor over 500 loads of bytes through an anonymous file', async () => {
      const b = make();
      const count = () => readdirSync('/proc/self/fd').length;
      const image = Buffer.alloc(70_000, 0x5a); // more than one pipe-sized write
      b.finitModuleImageSync(image, '', 0);
      await b.finitModuleImage(image, '', 0);
      const before = count();
      for (let i = 0; i < 250; i++) b.finitModuleImageSync(image, '', 0);
      await Promise.all(Array.from({ length: 250 }, () => b.finitModuleImage(image, '', 0)));
      expect(count()).toBe(before);
    });

    it('rejects bad arguments with a TypeError-free typed error before any syscall', async () => {
      const km = bind(make());
      await expect(km.unloadModule('')).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_NAME', phase: 'validate' });
      await expect(km.unloadModule('x'.repeat(56))).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_NAME' });
      await expect(km.unloadModule('a\0b')).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_NAME' });
      await expect(km.loadModule(notElf, { params: { 'bad name': 1 } })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_PARAMS' });
    });
  });
}
