// The facade's policy (fallbacks, flags, staging, unload retries, abort), exercised against the FAKE
// kernel: a simulation of the documented syscall behaviour, not a kernel. The real effects of the same
// calls are asserted in test/kernel inside a VM.
import { mkdtempSync, openSync, closeSync, readdirSync, writeFileSync } from 'node:fs';
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

function setup(options = {}) {
  const kernel = new FakeKernel(options);
  return { kernel, km: bind(createFakeBackend(kernel)) };
}

describe('loadModule (fake kernel)', () => {
  it('loads a path with finit_module and reports what it did', async () => {
    const { kernel, km } = setup();
    const path = moduleFile('demo_a');
    const r = await km.loadModule(path, { params: { x: 1, s: 'a b' } });
    expect(r).toMatchObject({ module: 'demo_a', syscall: 'finit_module', path, params: 'x=1 s="a b"', flags: 0, backend: 'fake' });
    expect(kernel.modules.get('demo_a')?.params).toBe('x=1 s="a b"');
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

  it('stages a Buffer with ignore flags through a temp file (only finit_module carries flags), and removes it', async () => {
    const { kernel, km } = setup();
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('kernmod-')).length;
    const r = await km.loadModule(FakeKernel.image('demo_staged'), { ignoreVermagic: true });
    expect(r).toMatchObject({ syscall: 'finit_module', fallback: 'staged-temp-file', flags: MODULE_INIT_IGNORE_VERMAGIC });
    expect(kernel.modules.has('demo_staged')).toBe(true);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('kernmod-')).length).toBe(before);
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
    await expect(km.loadModule(moduleFile('demo_importer', ['demo_missing']))).rejects.toMatchObject({ code: 'ENOENT', hint: expect.stringMatching(/unknown symbol/) });
    kernel.modulesDisabled = true;
    await expect(km.loadModule(moduleFile('demo_perm'))).rejects.toMatchObject({ code: 'EPERM', hint: expect.stringMatching(/modules_disabled/) });
  });

  it('checks the AbortSignal before the syscall', async () => {
    const { kernel, km } = setup();
    const ac = new AbortController();
    ac.abort();
    await expect(km.loadModule(moduleFile('demo_abort'), { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORT_ERR', phase: 'abort' });
    expect(kernel.calls).toHaveLength(0);
  });

  it('rejects bad sources before any syscall', async () => {
    const { kernel, km } = setup();
    await expect(km.loadModule('')).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
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
