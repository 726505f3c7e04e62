// Loading and unloading our own modules in a real kernel, through each backend, asserting what the
// kernel shows: /proc/modules rows, sysfs, taint letters, holders, dmesg, and each refusal's errno.
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadResult } from '../../../lib/kernmod.js';
import { kernelBackends, kmsgMark, kmsgSince, procModule, requireKernel, sysfs, holders, testModules, unloadOurs } from '../helpers.js';

requireKernel();
const { modules: m } = testModules();
const kernelXz = existsSync('/sys/module/compression') && readFileSync('/sys/module/compression', 'utf8').trim() === 'xz';

describe.each(kernelBackends())('load and unload on a real kernel: $label backend', ({ km: make }) => {
  const km = make();
  afterEach(() => unloadOurs(km));

  it('loads by path with finit_module: a Live row in /proc/modules, sysfs, taint, dmesg; unload removes it', async () => {
    kmsgMark();
    const r = await km.loadModule(m.hello);
    expect(r).toMatchObject({ module: 'kernmod_hello', syscall: 'finit_module', path: m.hello });
    const row = procModule('kernmod_hello');
    expect(row).toMatchObject({ name: 'kernmod_hello', refcnt: '0', deps: '-', state: 'Live' });
    expect(row!.size).toBeGreaterThan(0);
    expect(row!.taints).toMatch(/^\(.*O.*\)$/); // out-of-tree
    expect(sysfs('kernmod_hello/initstate')).toBe('live');
    expect(sysfs('kernmod_hello/taint')).toContain('O');
    expect(kmsgSince()).toContain('kernmod_hello: init');
    const u = await km.unloadModule('kernmod_hello');
    expect(u).toMatchObject({ module: 'kernmod_hello', attempts: 1 });
    expect(procModule('kernmod_hello')).toBeUndefined();
    expect(kmsgSince()).toContain('kernmod_hello: exit');
  });

  it('loads a Buffer with init_module and an fd with finit_module (sync forms)', () => {
    const r = km.loadModuleSync(readFileSync(m.hello));
    expect(r.syscall).toBe('init_module');
    expect(procModule('kernmod_hello')?.state).toBe('Live');
    km.unloadModuleSync('kernmod_hello');
    const fd = openSync(m.hello, 'r');
    try {
      expect(km.loadModuleSync({ fd }).syscall).toBe('finit_module');
    } finally {
      closeSync(fd);
    }
    expect(procModule('kernmod_hello')?.state).toBe('Live');
  });

  it('result.module is the name /proc/modules shows for a Buffer and an fd, also an fd of a renamed copy (async and sync)', async () => {
    const renamed = join(mkdtempSync(join(tmpdir(), 'kernmod-renamed-')), 'renamed-copy.ko');
    writeFileSync(renamed, readFileSync(m.hello));
    const withFd = (path: string, load: (fd: number) => Promise<LoadResult> | LoadResult) => async () => {
      const fd = openSync(path, 'r');
      try {
        return await load(fd);
      } finally {
        closeSync(fd);
      }
    };
    const loads: Array<[string, () => Promise<LoadResult> | LoadResult]> = [
      ['Buffer, async', () => km.loadModule(readFileSync(m.hello))],
      ['Buffer, sync', () => km.loadModuleSync(readFileSync(m.hello))],
      ['fd, async', withFd(m.hello, (fd) => km.loadModule({ fd }))],
      ['fd, sync', withFd(m.hello, (fd) => km.loadModuleSync({ fd }))],
      ['renamed fd, async', withFd(renamed, (fd) => km.loadModule({ fd }))],
      ['renamed fd, sync', withFd(renamed, (fd) => km.loadModuleSync({ fd }))],
      // On 6.12 the kernel decompresses xz itself: the name is read from our decompression of the file.
      ['xz fd, async', withFd(m.helloXz, (fd) => km.loadModule({ fd }, { decompress: kernelXz ? 'kernel' : 'auto' }))],
      ['xz fd, sync', withFd(m.helloXz, (fd) => km.loadModuleSync({ fd }))],
    ];
    for (const [label, load] of loads) {
      const r = await load();
      expect({ label, module: r.module, live: procModule(r.module)?.state }).toEqual({ label, module: 'kernmod_hello', live: 'Live' });
      km.unloadModuleSync(r.module);
    }
  });

  it('a Buffer with ignoreVermagic loads through an anonymous file (memfd): finit_module carries the flag, taint F', async () => {
    const r = await km.loadModule(readFileSync(m.forged), { ignoreVermagic: true });
    expect(r).toMatchObject({ syscall: 'finit_module', fallback: 'anonymous-file', flags: 2 });
    expect(procModule('kernmod_forged')!.taints).toContain('F');
    km.unloadModuleSync('kernmod_forged');
    expect(km.loadModuleSync(readFileSync(m.forged), { ignoreVermagic: true })).toMatchObject({
      syscall: 'finit_module',
      fallback: 'anonymous-file',
    });
    expect(procModule('kernmod_forged')?.state).toBe('Live');
  });

  it('loads an image that is a view at an odd offset into a larger buffer (async init_module)', async () => {
    const file = readFileSync(m.hello);
    const big = new Uint8Array(file.length + 11);
    big.set(file, 7);
    const r = await km.loadModule(big.subarray(7, 7 + file.length));
    expect(r.syscall).toBe('init_module');
    expect(procModule('kernmod_hello')?.state).toBe('Live');
    await km.unloadModule('kernmod_hello');
    expect(procModule('kernmod_hello')).toBeUndefined();
  });

  it('parameter values read back from sysfs equal what was encoded, including a value with spaces', async () => {
    kmsgMark();
    const r = await km.loadModule(m.params, {
      params: {
        p_int: -123456,
        p_uint: 4000000000,
        p_long: -9007199254740991n,
        p_ullong: 18446744073709551615n,
        p_hexint: 0xbeef,
        p_byte: 255,
        p_short: -32768,
        p_charp: 'hello kernel world',
        p_bool: true,
        p_invbool: true,
        p_string: 'fixed size',
        p_array: [4, -5, 6],
      },
    });
    expect(r.params).toContain('p_charp="hello kernel world"');
    const p = (name: string) => sysfs(`kernmod_params/parameters/${name}`);
    expect(p('p_int')).toBe('-123456');
    expect(p('p_uint')).toBe('4000000000');
    expect(p('p_long')).toBe('-9007199254740991');
    expect(p('p_ullong')).toBe('18446744073709551615');
    expect(p('p_hexint')).toBe('0x00beef');
    expect(p('p_byte')).toBe('255');
    expect(p('p_short')).toBe('-32768');
    expect(p('p_charp')).toBe('hello kernel world');
    expect(p('p_bool')).toBe('Y');
    expect(p('p_invbool')).toBe('Y');
    expect(p('p_string')).toBe('fixed size');
    expect(p('p_array')).toBe('4,-5,6');
    expect(kmsgSince().join('\n')).toMatch(/kernmod_params: .*p_int=-123456/);
  });

  it('a raw parameter string is passed as given', async () => {
    await km.loadModule(m.params, { params: 'p_charp="a b" p_bool p_array=7' });
    expect(sysfs('kernmod_params/parameters/p_charp')).toBe('a b');
    expect(sysfs('kernmod_params/parameters/p_bool')).toBe('Y');
    expect(sysfs('kernmod_params/parameters/p_array')).toBe('7');
  });

  it('EEXIST when the module is already loaded', async () => {
    await km.loadModule(m.hello);
    await expect(km.loadModule(m.hello)).rejects.toMatchObject({
      code: 'EEXIST',
      errno: -17,
      syscall: 'finit_module',
      module: 'kernmod_hello',
    });
    expect(() => km.loadModuleSync(readFileSync(m.hello))).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'init_module' }));
  });

  it('EINVAL for a bad parameter value, and the module is not left behind', async () => {
    kmsgMark();
    await expect(km.loadModule(m.params, { params: { p_int: 'notanumber' } })).rejects.toMatchObject({
      code: 'EINVAL',
      hint: expect.stringMatching(/invalid parameter value|not a valid value for parameter p_int/), // the errno's hint, or the kernel log's
    });
    expect(procModule('kernmod_params')).toBeUndefined();
    expect(kmsgSince().join('\n')).toMatch(/invalid for parameter .p_int/);
  });

  it("the init function's own errno comes back: ENODEV, EINVAL", async () => {
    await expect(km.loadModule(m.fail, { params: { err: 19 } })).rejects.toMatchObject({ code: 'ENODEV', errno: -19 });
    await expect(km.loadModule(m.fail, { params: { err: 22 } })).rejects.toMatchObject({ code: 'EINVAL', errno: -22 });
    expect(procModule('kernmod_fail')).toBeUndefined();
    await km.loadModule(m.fail, { params: { err: 0 } });
    expect(procModule('kernmod_fail')?.state).toBe('Live');
  });

  it('ENOEXEC for a forged vermagic; ignoreVermagic loads it and the kernel taints it F', async () => {
    kmsgMark();
    await expect(km.loadModule(m.forged)).rejects.toMatchObject({ code: 'ENOEXEC', errno: -8, hint: expect.stringMatching(/vermagic/) });
    expect(kmsgSince().join('\n')).toMatch(/kernmod_forged: version magic .*modversionX/);
    const r = await km.loadModule(m.forged, { ignoreVermagic: true });
    expect(r.flags).toBe(2);
    expect(procModule('kernmod_forged')!.taints).toContain('F');
    expect(sysfs('kernmod_forged/taint')).toContain('F');
  });

  it('ENOENT (unknown symbol) for the importer without its exporter', async () => {
    kmsgMark();
    await expect(km.loadModule(m.importer)).rejects.toMatchObject({
      code: 'ENOENT',
      syscall: 'finit_module',
      hint: expect.stringMatching(/unknown symbol|does not know symbol/),
    });
    expect(kmsgSince().join('\n')).toMatch(/kernmod_importer: Unknown symbol kernmod_exporter_answer/);
  });

  it('dependencies: holders and refcnt; EAGAIN while in use; unload in order', async () => {
    await km.loadModule(m.exporter);
    await km.loadModule(m.importer);
    expect(holders('kernmod_exporter')).toEqual(['kernmod_importer']);
    expect(procModule('kernmod_exporter')).toMatchObject({ refcnt: '1', deps: 'kernmod_importer,' });
    expect(sysfs('kernmod_exporter/refcnt')).toBe('1');
    await expect(km.unloadModule('kernmod_exporter')).rejects.toMatchObject({
      code: 'EAGAIN',
      errno: -11,
      syscall: 'delete_module',
      hint: expect.stringMatching(/in use/),
    });
    expect(() => km.unloadModuleSync('kernmod_exporter')).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    await km.unloadModule('kernmod_importer');
    expect(holders('kernmod_exporter')).toEqual([]);
    await km.unloadModule('kernmod_exporter');
    expect(procModule('kernmod_exporter')).toBeUndefined();
  });

  it('unload with wait succeeds once the holder goes away', async () => {
    await km.loadModule(m.exporter);
    await km.loadModule(m.importer);
    const pending = km.unloadModule('kernmod_exporter', { wait: 10_000 });
    setTimeout(() => void km.unloadModule('kernmod_importer'), 300);
    const r = await pending;
    expect(r.attempts).toBeGreaterThan(1);
    expect(procModule('kernmod_exporter')).toBeUndefined();
  });

  it('ENOENT when unloading a module that is not loaded', async () => {
    await expect(km.unloadModule('kernmod_hello')).rejects.toMatchObject({
      code: 'ENOENT',
      errno: -2,
      syscall: 'delete_module',
      module: 'kernmod_hello',
    });
  });

  it("the async API keeps the event loop ticking while the module's init sleeps 2 s", async () => {
    const drift: number[] = [];
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      drift.push(now - last - 10);
      last = now;
    }, 10);
    const start = performance.now();
    await km.loadModule(m.slow, { params: { delay_ms: 2000 } });
    const took = performance.now() - start;
    clearInterval(timer);
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(drift.length).toBeGreaterThan(50);
    expect(Math.max(...drift)).toBeLessThan(100);
  });

  it('the sync API blocks the event loop for the whole init, as documented', async () => {
    let fired = 0;
    const t0 = performance.now();
    const timer = setTimeout(() => (fired = performance.now() - t0), 10);
    km.loadModuleSync(m.slow, { params: { delay_ms: 1000 } });
    await new Promise((r) => setTimeout(r, 20));
    clearTimeout(timer);
    expect(fired).toBeGreaterThanOrEqual(950);
  });
});
