// One API on Linux and NetBSD: the top-level loadModule/unloadModule/listModules (and Sync twins), called
// with the Linux-shaped arguments a provisioning script passes, carried out with modctl on NetBSD.
// Driven through the FAKE NetBSD kernel (no NetBSD kernel runs here); the dispatch of lib/index.ts itself
// is shown by importing it with process.platform set to 'netbsd'.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MODCTL_LOAD_FORCE } from '../../lib/netbsd/constants.js';
import { createFakeNetbsdBackend, FakeNetbsdKernel } from '../../lib/netbsd/fake.js';
import { bind } from '../../lib/netbsd/index.js';
import { netbsdLoadOptions, netbsdTopLevel, paramsAsProps, platformTopLevel } from '../../lib/netbsd/platform.js';
import { externalizeProps } from '../../lib/netbsd/plist.js';

const modulePath = join(mkdtempSync(join(tmpdir(), 'kernmod-netbsd-top-')), 'stand');
for (const name of ['tmpfs', 'old']) {
  mkdirSync(join(modulePath, name), { recursive: true });
  writeFileSync(join(modulePath, name, `${name}.kmod`), FakeNetbsdKernel.image({ name, ...(name === 'old' ? { release: 9 } : {}) }));
}

function setup() {
  const kernel = new FakeNetbsdKernel({ modulePath });
  const api = bind(createFakeNetbsdBackend(kernel));
  return { kernel, top: netbsdTopLevel(() => api) };
}

describe('Linux-shaped calls on NetBSD', () => {
  it('params (an object) become the props modload would send, keeping their types; a list is comma-joined', async () => {
    const { kernel, top } = setup();
    const r = await top.loadModule('tmpfs', { params: { size: 2048, on: true, who: 'a b', ids: [1, 2] } });
    expect(r).toMatchObject({ module: 'tmpfs', syscall: 'modctl', command: 'MODCTL_LOAD' });
    expect(kernel.calls[0]!.props).toBe(externalizeProps({ size: 2048, on: true, who: 'a b', ids: '1,2' }));
  });

  it('a params string is split by the kernel rules: values as strings, a bare name true', () => {
    expect(paramsAsProps('size=2048 on who="a b"')).toEqual({ size: '2048', on: true, who: 'a b' });
    expect(paramsAsProps(new Map([['x', 1n]]))).toEqual({ x: 1n });
    expect(paramsAsProps([['y', false]])).toEqual({ y: false });
  });

  it('bad params are refused before any call, as on Linux', async () => {
    const { kernel, top } = setup();
    await expect(top.loadModule('tmpfs', { params: { 'bad name': 1 } })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_PARAMS' });
    expect(() => top.loadModuleSync('tmpfs', { params: 'a="unterminated' })).toThrow(
      expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_PARAMS' }),
    );
    expect(kernel.calls).toEqual([]);
  });

  it('ignoreVermagic / ignoreModversions / force ask for MODCTL_LOAD_FORCE (NetBSD has one force)', async () => {
    const { kernel, top } = setup();
    await expect(top.loadModule('old')).rejects.toMatchObject({ code: 'EPROGMISMATCH' });
    expect(top.loadModuleSync('old', { ignoreVermagic: true })).toMatchObject({ module: 'old', flags: MODCTL_LOAD_FORCE });
    expect(kernel.calls.at(-1)).toMatchObject({ command: 'load', flags: MODCTL_LOAD_FORCE, ret: 0 });
    expect(netbsdLoadOptions({ ignoreModversions: true })).toEqual({ force: true });
    expect(netbsdLoadOptions({ props: { a: 1 }, params: { b: 2 }, noProp: true })).toEqual({ props: { b: 2, a: 1 }, noProp: true });
  });

  it('bytes cannot be loaded with modctl: a typed error, no call', async () => {
    const { kernel, top } = setup();
    await expect(top.loadModule(new Uint8Array(64))).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
    expect(() => top.loadModuleSync(new Uint8Array(64))).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE' }));
    expect(kernel.calls).toEqual([]);
  });

  it('unload and list, async and sync', async () => {
    const { top } = setup();
    await top.loadModule('tmpfs');
    expect((await top.listModules()).map((m) => m.name)).toContain('tmpfs');
    expect(await top.unloadModule('tmpfs')).toMatchObject({ module: 'tmpfs', command: 'MODCTL_UNLOAD' });
    expect(top.listModulesSync().map((m) => m.name)).not.toContain('tmpfs');
    top.loadModuleSync('tmpfs');
    expect(top.unloadModuleSync('tmpfs')).toMatchObject({ module: 'tmpfs' });
  });

  it('only NetBSD gets the modctl branch', () => {
    expect(platformTopLevel('linux')).toBeUndefined();
    expect(platformTopLevel('netbsd')).toBeDefined();
  });
});

describe("lib/index.ts's top-level functions on NetBSD", () => {
  const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  afterEach(() => {
    Object.defineProperty(process, 'platform', platform);
    vi.resetModules();
  });

  it('go to modctl: here, with no NetBSD addon, the NetBSD backend error rather than a Linux call', async () => {
    Object.defineProperty(process, 'platform', { ...platform, value: 'netbsd' });
    vi.resetModules();
    const kernmod = await import('../../lib/index.js');
    const noModctl = { code: 'ERR_KERNMOD_NO_BACKEND', message: expect.stringMatching(/modctl/) };
    await expect(kernmod.loadModule('tmpfs')).rejects.toMatchObject(noModctl);
    expect(() => kernmod.loadModuleSync('tmpfs')).toThrow(expect.objectContaining(noModctl));
    await expect(kernmod.unloadModule('tmpfs')).rejects.toMatchObject(noModctl);
    expect(() => kernmod.listModulesSync()).toThrow(expect.objectContaining(noModctl));
    await expect(kernmod.listModules()).rejects.toMatchObject(noModctl);
    // Bytes are refused before a backend is even needed.
    await expect(kernmod.loadModule(new Uint8Array(8))).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
  }, 60_000); // a fresh import of the whole library
});
