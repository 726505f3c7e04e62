// The facade's policy (fallbacks, flags, anonymous files, unload retries, abort), exercised against the FAKE
// kernel: a simulation of the documented syscall behaviour, not a kernel. The real effects of the same
// calls are asserted in test/kernel inside a VM.
import { mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { bind } from '../../lib/kernmod.js';
import { MODULE_INIT_IGNORE_MODVERSIONS, MODULE_INIT_IGNORE_VERMAGIC } from '../../lib/linux/constants.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-load-'));
function moduleFile(name: string, depends: string[] = []): string {
  const path = join(dir, `${name.replaceAll('_', '-')}.ko`);
  writeFileSync(path, FakeKernel.image(name, depends));
  return path;
}

function setup(options: ConstructorParameters<typeof FakeKernel>[0] = {}) {
  const kernel = new FakeKernel(options);
  // A fake /sys whose module/compression names what the fake kernel decompresses (none by default).
  const sysRoot = mkdtempSync(join(tmpdir(), 'kernmod-sys-'));
  if (options.compression) {
    mkdirSync(join(sysRoot, 'module'));
    writeFileSync(join(sysRoot, 'module/compression'), `${options.compression}\n`);
  }
  return { kernel, km: bind(createFakeBackend(kernel), { sysRoot }) };
}

describe('loadModule (fake kernel)', () => {
  it('loads a path with finit_module and reports what it did', async () => {
    const { kernel, km } = setup();
    const path = moduleFile('demo_a');
    const r = await km.loadModule(path, { params: { x: 1, s: 'a b' } });
    expect(r).toMatchObject({ module: 'demo_a', syscall: 'finit_module', path, params: 'x=1 s="a b"', flags: 0, backend: 'fake' });
    expect(kernel.modules.get('demo_a')?.params).toBe('x=1 s="a b"');
  });

  it('a plain module path is opened once: the magic is read on the fd finit_module gets (head guard)', async () => {
    const kernel = new FakeKernel();
    const fake = createFakeBackend(kernel);
    const calls: Array<{ flags: number; guarded: boolean }> = [];
    const counting = {
      ...fake,
      finitModulePath: (path: string, params: string, flags: number, guard?: readonly Uint8Array[]) => {
        calls.push({ flags, guarded: guard !== undefined });
        return fake.finitModulePath(path, params, flags, guard);
      },
      finitModulePathSync: (path: string, params: string, flags: number, guard?: readonly Uint8Array[]) => {
        calls.push({ flags, guarded: guard !== undefined });
        return fake.finitModulePathSync(path, params, flags, guard);
      },
    };
    const km = bind(counting);
    await km.loadModule(moduleFile('demo_once'));
    km.loadModuleSync(moduleFile('demo_once_sync'));
    expect(calls).toEqual([
      { flags: 0, guarded: true },
      { flags: 0, guarded: true },
    ]);
    expect(kernel.calls.map((c) => c.syscall)).toEqual(['finit_module', 'finit_module']);
  });

  it('accepts file: URLs, Buffers and fds', async () => {
    const { kernel, km } = setup();
    await km.loadModule(pathToFileURL(moduleFile('demo_url')));
    expect((await km.loadModule(FakeKernel.image('demo_buf'))).syscall).toBe('init_module');
    const fd = openSync(moduleFile('demo_fd'), 'r');
    try {
      expect((await km.loadModule({ fd })).syscall).toBe('finit_module');
    } finally {
      closeSync(fd);
    }
    expect([...kernel.modules.keys()].sort()).toEqual(['demo_buf', 'demo_fd', 'demo_url']);
  });

  it('passes ignore flags to finit_module', async () => {
    const { kernel, km } = setup();
    const r = km.loadModuleSync(moduleFile('demo_force'), { ignoreVermagic: true, ignoreModversions: true });
    expect(r.flags).toBe(MODULE_INIT_IGNORE_VERMAGIC | MODULE_INIT_IGNORE_MODVERSIONS);
    expect(kernel.calls.at(-1)).toMatchObject({ syscall: 'finit_module', flags: 3, ret: 0 });
  });

  it('loads a Buffer with ignore flags through an anonymous file (memfd): no path, nothing in TMPDIR', async () => {
    const { kernel, km } = setup();
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('kernmod-')).length;
    const r = await km.loadModule(FakeKernel.image('demo_memfd'), { ignoreVermagic: true });
    expect(r).toMatchObject({ syscall: 'finit_module', fallback: 'anonymous-file', flags: MODULE_INIT_IGNORE_VERMAGIC });
    expect(km.loadModuleSync(FakeKernel.image('demo_memfd_sync'), { ignoreModversions: true })).toMatchObject({
      syscall: 'finit_module',
      fallback: 'anonymous-file',
    });
    expect([...kernel.modules.keys()]).toEqual(['demo_memfd', 'demo_memfd_sync']);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('kernmod-')).length).toBe(before);
  });

  it('a kernel without memfd_create is a typed error naming memfd_create, and nothing is loaded', async () => {
    const { kernel, km } = setup({ noMemfd: true });
    await expect(km.loadModule(FakeKernel.image('demo_nomemfd'), { ignoreVermagic: true })).rejects.toMatchObject({
      name: 'KernmodError',
      code: 'ENOSYS',
      syscall: 'memfd_create',
      hint: expect.stringMatching(/memfd_create/),
    });
    expect(kernel.modules.size).toBe(0);
  });

  it('falls back to init_module with the file bytes when finit_module answers ENOSYS', async () => {
    const { kernel, km } = setup({ noFinitModule: true });
    const r = await km.loadModule(moduleFile('demo_old'));
    expect(r).toMatchObject({ syscall: 'init_module', fallback: 'finit_module-enosys' });
    expect(kernel.calls.map((c) => `${c.syscall}:${c.ret}`)).toEqual(['finit_module:-38', 'init_module:0']);
    const s = km.loadModuleSync(moduleFile('demo_old_sync'));
    expect(s.fallback).toBe('finit_module-enosys');
  });

  it('reports the kernel refusal with hint: EEXIST, ENOENT (unknown symbol), EPERM', async () => {
    const { kernel, km } = setup();
    const path = moduleFile('demo_twice');
    await km.loadModule(path);
    await expect(km.loadModule(path)).rejects.toMatchObject({
      code: 'EEXIST',
      errno: -17,
      syscall: 'finit_module',
      message: `EEXIST: file exists, finit_module '${path}'`,
      hint: expect.stringMatching(/already loaded/),
    });
    await expect(km.loadModule(moduleFile('demo_importer', ['demo_missing']))).rejects.toMatchObject({
      code: 'ENOENT',
      hint: expect.stringMatching(/unknown symbol/),
    });
    kernel.modulesDisabled = true;
    await expect(km.loadModule(moduleFile('demo_perm'))).rejects.toMatchObject({
      code: 'EPERM',
      hint: expect.stringMatching(/modules_disabled/),
    });
  });

  it('checks the AbortSignal before the syscall', async () => {
    const { kernel, km } = setup();
    const ac = new AbortController();
    ac.abort();
    await expect(km.loadModule(moduleFile('demo_abort'), { signal: ac.signal })).rejects.toMatchObject({
      code: 'ABORT_ERR',
      phase: 'abort',
    });
    expect(kernel.calls).toHaveLength(0);
  });

  it('rejects bad sources before any syscall', async () => {
    const { kernel, km } = setup();
    await expect(km.loadModule('')).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
    // A NUL would cut the path the kernel sees: refused on the no-options fast path and with options.
    await expect(km.loadModule('/lib/x.ko\0/evil.ko')).rejects.toMatchObject({
      code: 'ERR_KERNMOD_INVALID_SOURCE',
      path: '/lib/x.ko\0/evil.ko',
    });
    await expect(km.loadModule('/lib/x.ko\0', { params: 'a=1' })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
    expect(() => km.loadModuleSync('/lib/x.ko\0')).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE' }));
    await expect(km.loadModule(new URL('https://example.invalid/x.ko'))).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
    await expect(km.loadModule(Buffer.alloc(0))).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
    await expect(km.loadModule({ fd: -1 })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
    await expect(km.loadModule('x.ko', { params: 'a="' })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_PARAMS' });
    expect(kernel.calls).toHaveLength(0);
  });
});

describe('unloadModule (fake kernel)', () => {
  it('normalises the name and always sets O_NONBLOCK; force adds O_TRUNC', async () => {
    const { kernel, km } = setup();
    await km.loadModule(FakeKernel.image('demo_rm'));
    const r = await km.unloadModule('demo-rm');
    expect(r).toMatchObject({ module: 'demo_rm', attempts: 1, flags: 0o4000 });
    await km.loadModule(FakeKernel.image('demo_rm'));
    kernel.modules.get('demo_rm')!.refcnt = 1;
    await expect(km.unloadModule('demo_rm')).rejects.toMatchObject({ code: 'EAGAIN', hint: expect.stringMatching(/in use/) });
    expect(km.unloadModuleSync('demo_rm', { force: true }).flags).toBe(0o4000 | 0o1000);
  });

  it('wait retries EAGAIN until the module is free', async () => {
    const { kernel, km } = setup();
    await km.loadModule(FakeKernel.image('demo_busy'));
    kernel.modules.get('demo_busy')!.refcnt = 1;
    setTimeout(() => (kernel.modules.get('demo_busy')!.refcnt = 0), 60);
    const r = await km.unloadModule('demo_busy', { wait: 5_000 });
    expect(r.attempts).toBeGreaterThan(1);
    expect(kernel.modules.has('demo_busy')).toBe(false);
  });

  it('wait gives up with EAGAIN after the time runs out, saying how long it tried', async () => {
    const { kernel, km } = setup();
    await km.loadModule(FakeKernel.image('demo_stuck'));
    kernel.modules.get('demo_stuck')!.refcnt = 1;
    const err = (await km.unloadModule('demo_stuck', { wait: 80 }).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'EAGAIN', syscall: 'delete_module' });
    expect(err.message).toMatch(/still in use after \d+ attempts/);
    expect(() => km.unloadModuleSync('demo_stuck', { wait: 50 })).toThrow(/still in use/);
  });

  it('an abort during the wait stops the retries', async () => {
    const { kernel, km } = setup();
    await km.loadModule(FakeKernel.image('demo_ab'));
    kernel.modules.get('demo_ab')!.refcnt = 1;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await expect(km.unloadModule('demo_ab', { wait: 10_000, signal: ac.signal })).rejects.toMatchObject({ code: 'ABORT_ERR' });
  });

  it('holders make the kernel answer EAGAIN until they are gone', async () => {
    const { km } = setup();
    await km.loadModule(FakeKernel.image('demo_exp'));
    await km.loadModule(FakeKernel.image('demo_imp', ['demo_exp']));
    await expect(km.unloadModule('demo_exp')).rejects.toMatchObject({ code: 'EAGAIN' });
    await km.unloadModule('demo_imp');
    await km.unloadModule('demo_exp');
  });
});

describe('compressed modules (fake kernel that decompresses xz itself, like Debian 6.12)', async () => {
  const { gzipSync } = await import('node:zlib');
  const { spawnSync } = await import('node:child_process');
  const xz = (bytes: Buffer, args: string[]) => {
    const r = spawnSync('xz', ['-c', ...args], { input: bytes });
    return r.status === 0 ? r.stdout : null;
  };
  const raw = FakeKernel.image('demo_comp');
  const kernelXz = xz(raw, ['--check=crc32', '--lzma2=dict=1MiB']);
  const plainXz = xz(raw, []);
  const write = (name: string, bytes: Buffer) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  it.skipIf(!kernelXz)('an xz module in the kernel format goes to finit_module with MODULE_INIT_COMPRESSED_FILE', async () => {
    const { kernel, km } = setup({ compression: 'xz' });
    const r = await km.loadModule(write('comp-kernel.ko.xz', kernelXz!));
    expect(r).toMatchObject({ syscall: 'finit_module', flags: 4, compression: { format: 'xz', decompressedBy: 'kernel' } });
    expect(kernel.calls.map((c) => `${c.syscall}:${c.flags}:${c.ret}`)).toEqual(['finit_module:4:0']);
  });

  it.skipIf(!plainXz)(
    'a plain-xz module (CRC64) that the kernel decoder would refuse goes to user space before any call, saying why',
    async () => {
      const { kernel, km } = setup({ compression: 'xz' });
      const r = await km.loadModule(write('comp-plain.ko.xz', plainXz!));
      expect(r).toMatchObject({
        syscall: 'init_module',
        fallback: 'kernel-cannot-decompress',
        fallbackReason: expect.stringMatching(/CRC64/),
        compression: { format: 'xz', decompressedBy: 'user' },
      });
      expect(kernel.calls.map((c) => `${c.syscall}:${c.ret}`)).toEqual(['init_module:0']);
    },
  );

  it.skipIf(!kernelXz)(
    'issue #17: a kernel-decompressed module whose init fails with EINVAL runs its init once, and the error names finit_module',
    async () => {
      const { kernel, km } = setup({ compression: 'xz' });
      const failing = xz(FakeKernel.image('demo_init_fails', [], 22), ['--check=crc32', '--lzma2=dict=1MiB'])!;
      const path = write('comp-init-fails.ko.xz', failing);
      await expect(km.loadModule(path)).rejects.toMatchObject({ code: 'EINVAL', syscall: 'finit_module', path });
      expect(kernel.initRuns.get('demo_init_fails')).toBe(1);
      expect(() => km.loadModuleSync(path)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'finit_module' }));
      expect(kernel.initRuns.get('demo_init_fails')).toBe(2);
      expect(kernel.calls.map((c) => `${c.syscall}:${c.flags}:${c.ret}`)).toEqual(['finit_module:4:-22', 'finit_module:4:-22']);
    },
  );

  it.skipIf(!plainXz)("decompress: 'kernel' reports the kernel's EINVAL with the xz settings in the hint", async () => {
    const { km } = setup({ compression: 'xz' });
    await expect(km.loadModule(write('comp-plain2.ko.xz', plainXz!), { decompress: 'kernel' })).rejects.toMatchObject({
      code: 'EINVAL',
      hint: expect.stringMatching(/--check=crc32/),
    });
  });

  it.skipIf(!kernelXz)('without in-kernel decompression (no /sys/module/compression) xz is decompressed in user space', async () => {
    const { kernel, km } = setup();
    const r = await km.loadModule(write('comp-user.ko.xz', kernelXz!));
    expect(r).toMatchObject({ syscall: 'init_module', compression: { format: 'xz', decompressedBy: 'user' } });
    expect(kernel.calls.map((c) => c.syscall)).toEqual(['init_module']);
  });

  it.skipIf(!kernelXz)('ignore flags on a compressed module in user space travel through an anonymous file', async () => {
    const { kernel, km } = setup();
    const r = await km.loadModule(write('comp-force.ko.xz', kernelXz!), { ignoreVermagic: true });
    expect(r).toMatchObject({ syscall: 'finit_module', fallback: 'anonymous-file', flags: 2, compression: { decompressedBy: 'user' } });
    expect(kernel.calls.at(-1)).toMatchObject({ syscall: 'finit_module', flags: 2, ret: 0 });
  });

  it('gzip bytes are detected by magic (not by name) and decompressed in user space', async () => {
    const { kernel, km } = setup();
    const r = km.loadModuleSync(write('no-extension', gzipSync(raw)));
    expect(r).toMatchObject({ syscall: 'init_module', compression: { format: 'gzip', decompressedBy: 'user' } });
    expect(kernel.modules.has('demo_comp')).toBe(true);
  });

  it("decompress: 'kernel' refuses when the kernel does not do that format", async () => {
    const { kernel, km } = setup();
    await expect(km.loadModule(write('k.ko.gz', gzipSync(raw)), { decompress: 'kernel' })).rejects.toMatchObject({
      code: 'ERR_KERNMOD_UNSUPPORTED_COMPRESSION',
    });
    expect(kernel.calls).toHaveLength(0);
  });

  it.skipIf(!plainXz)('corrupt compressed data is a typed error before any syscall', async () => {
    const { kernel, km } = setup();
    const bad = Buffer.from(plainXz!);
    bad.fill(0x41, 12, 40);
    await expect(km.loadModule(bad)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_KERNMOD_(DECOMPRESS|TOO_LARGE)$/) });
    expect(kernel.calls).toHaveLength(0);
  });
});
