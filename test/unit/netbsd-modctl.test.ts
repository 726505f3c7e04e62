// The NetBSD policy layer (lib/netbsd/modctl.ts) and its errors, driven through the FAKE NetBSD kernel —
// a simulation of modctl(2)'s documented checks, not a kernel (no NetBSD kernel runs here). What is
// asserted is kernmod's own behaviour: what it sends, how it reads answers, which typed error and hint
// each NetBSD errno becomes.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { systemError } from '../../lib/errors.js';
import { EMPTY_PROPS_PLIST } from '../../lib/netbsd/backend.js';
import { NETBSD_ERRNO, netbsdErrnoInfo, netbsdErrnoNumber } from '../../lib/netbsd/errno-table.js';
import { netbsdHint } from '../../lib/netbsd/errors.js';
import { createFakeNetbsdBackend, FakeNetbsdKernel, type FakeKmodSpec, type FakeNetbsdKernelOptions } from '../../lib/netbsd/fake.js';
import { bind } from '../../lib/netbsd/index.js';
import { externalizeProps } from '../../lib/netbsd/plist.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-netbsd-'));
const modulePath = join(dir, 'stand');

function kmod(spec: FakeKmodSpec, plist?: string): void {
  const d = join(modulePath, spec.name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, `${spec.name}.kmod`), FakeNetbsdKernel.image(spec));
  if (plist !== undefined) writeFileSync(join(d, `${spec.name}.plist`), plist);
}

kmod({ name: 'tmpfs', class: 'vfs', size: 40000 });
kmod({ name: 'krpc' });
kmod({ name: 'nfs', class: 'vfs', required: ['krpc'] });
kmod({ name: 'cyc_a', required: ['cyc_b'] });
kmod({ name: 'cyc_b', required: ['cyc_a'] });
kmod({ name: 'selfish', required: ['selfish'] });
kmod({ name: 'old', release: 9 });
kmod({ name: 'initfail', initError: 'ENXIO' });
kmod({ name: 'sticky', finiError: 'EOPNOTSUPP' });
kmod({ name: 'bigp' }, `<plist><dict><key>k</key><string>${'x'.repeat(9000)}</string></dict></plist>`);
kmod({ name: 'badp' }, '<plist><dict><key>k</key>');
kmod({ name: 'withp' }, externalizeProps({ a: 1, b: 'file' }));
for (let i = 0; i < 8; i++) kmod({ name: `d${i}`, ...(i < 7 ? { required: [`d${i + 1}`] } : {}) });
writeFileSync(join(dir, 'mymod.kmod'), FakeNetbsdKernel.image({ name: 'mymod' }));
writeFileSync(join(dir, 'garbage.kmod'), 'not an ELF object');
writeFileSync(join(dir, 'renamed.kmod'), FakeNetbsdKernel.image({ name: 'rumptest', required: ['krpc'] }));

function setup(opts: FakeNetbsdKernelOptions = {}) {
  const kernel = new FakeNetbsdKernel({ modulePath, ...opts });
  return { kernel, nb: bind(createFakeNetbsdBackend(kernel)) };
}

const errno = (code: string) => -netbsdErrnoNumber(code)!;

describe('netbsd.loadModule', () => {
  it('sends the name as given, no flags, and always a plist (the empty one when there are no props)', async () => {
    const { kernel, nb } = setup();
    const r = await nb.loadModule('tmpfs');
    expect(r).toEqual({
      platform: 'netbsd',
      module: 'tmpfs',
      moduleFrom: 'argument',
      syscall: 'modctl',
      command: 'MODCTL_LOAD',
      flags: 0,
      props: EMPTY_PROPS_PLIST,
      backend: 'fake',
    });
    expect(kernel.calls).toEqual([{ command: 'load', arg: 'tmpfs', flags: 0, props: EMPTY_PROPS_PLIST, ret: 0 }]);
    expect(kernel.modules.get('tmpfs')).toMatchObject({ class: 'vfs', source: 'filesys', refcnt: 0, size: 40000 });
  });

  it('reports the name the kernel registered for a path (the one compiled in), found by MODCTL_STAT before and after', async () => {
    const { kernel, nb } = setup();
    const path = join(dir, 'renamed.kmod');
    // rumptest requires krpc, which the kernel autoloads: the loaded module is the one nothing new requires.
    expect(await nb.loadModule(path)).toMatchObject({ module: 'rumptest', moduleFrom: 'kernel', alsoLoaded: ['krpc'], path });
    expect(kernel.calls.map((c) => c.command)).toEqual(['stat', 'load', 'stat']);
    expect(nb.unloadModuleSync('rumptest')).toMatchObject({ module: 'rumptest' }); // the name that unloads it
    expect(nb.loadModuleSync(path)).toMatchObject({ module: 'rumptest', moduleFrom: 'kernel', alsoLoaded: [] });
  });

  it('a bare name is the registered name (looked up as <name>/<name>.kmod): no MODCTL_STAT', async () => {
    const { kernel, nb } = setup();
    expect(await nb.loadModule('nfs')).toMatchObject({ module: 'nfs', moduleFrom: 'argument' });
    expect(kernel.calls.map((c) => c.command)).toEqual(['load']);
  });

  it('when MODCTL_STAT cannot say, the name guessed from the path is reported as such', async () => {
    const kernel = new FakeNetbsdKernel({ modulePath });
    const backend = createFakeNetbsdBackend(kernel);
    const failingStat = {
      ...backend,
      modctlStat: async () => ({ ret: errno('ENOMEM'), command: 4 as const, layout: 'v2' as const, bytes: new Uint8Array(0) }),
      modctlStatSync: () => ({ ret: errno('ENOMEM'), command: 4 as const, layout: 'v2' as const, bytes: new Uint8Array(0) }),
    };
    expect(await bind(failingStat).loadModule(join(dir, 'renamed.kmod'))).toMatchObject({ module: 'renamed', moduleFrom: 'argument' });
  });

  it('sends props as the plist modload would, and force / noProp as MODCTL_LOAD_FORCE / MODCTL_NO_PROP', async () => {
    const { kernel, nb } = setup();
    const props = { verbose: true, count: 3, name: 'a b' };
    const r = nb.loadModuleSync('tmpfs', { props, force: true, noProp: true });
    expect(r.flags).toBe(3);
    expect(r.props).toBe(externalizeProps(props));
    expect(kernel.calls[0]!.props).toBe(externalizeProps(props));
    expect(kernel.modules.get('tmpfs')!.props).toEqual(props);
  });

  it('accepts a path (module name = basename without .kmod) and a file: URL', async () => {
    const { nb } = setup();
    const path = join(dir, 'mymod.kmod');
    expect(await nb.loadModule(path)).toMatchObject({ module: 'mymod', path });
    await nb.unloadModule('mymod');
    expect(await nb.loadModule(pathToFileURL(path))).toMatchObject({ module: 'mymod', path });
    await expect(nb.loadModule(new URL('https://example.invalid/x.kmod'))).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
  });

  it('EEXIST with NetBSD numbers and the kernel’s cause', async () => {
    const { nb } = setup();
    await nb.loadModule('tmpfs');
    await expect(nb.loadModule('tmpfs')).rejects.toMatchObject({
      code: 'EEXIST',
      errno: -17,
      syscall: 'modctl',
      module: 'tmpfs',
      phase: 'load',
      message: "EEXIST: file exists, modctl 'tmpfs'",
      hint: expect.stringMatching(/already loaded/),
    });
  });

  it('loads required modules first (autoloaded, referenced), and refuses to unload them while held: EBUSY', async () => {
    const { kernel, nb } = setup();
    await nb.loadModule('nfs');
    expect(kernel.modules.get('krpc')).toMatchObject({ refcnt: 1, flags: 2 });
    const list = await nb.listModules();
    expect(list.find((m) => m.name === 'krpc')).toMatchObject({
      holders: ['nfs'],
      flags: { autoLoaded: true, mustForce: false, raw: 2 },
      refcnt: 1,
      state: 'Live',
    });
    expect(list.find((m) => m.name === 'nfs')).toMatchObject({
      required: ['krpc'],
      holders: [],
      class: 'vfs',
      source: 'filesys',
      builtin: false,
    });
    await expect(nb.unloadModule('krpc')).rejects.toMatchObject({
      code: 'EBUSY',
      errno: -16,
      phase: 'unload',
      message: "EBUSY: device busy, modctl 'krpc'",
      hint: expect.stringMatching(/in use/),
    });
    await nb.unloadModule('nfs');
    expect(kernel.modules.get('krpc')!.refcnt).toBe(0);
    expect(nb.unloadModuleSync('krpc')).toEqual({
      platform: 'netbsd',
      module: 'krpc',
      syscall: 'modctl',
      command: 'MODCTL_UNLOAD',
      backend: 'fake',
    });
  });

  it('a dependency cycle or a module requiring itself: EDEADLK, NetBSD’s 11 (Linux’s is 35)', async () => {
    const { nb } = setup();
    for (const m of ['cyc_a', 'selfish']) {
      await expect(nb.loadModule(m)).rejects.toMatchObject({ code: 'EDEADLK', errno: -11, hint: expect.stringMatching(/requires itself/) });
    }
  });

  it('a module for another release: EPROGMISMATCH (75), loaded with force', async () => {
    const { nb } = setup();
    await expect(nb.loadModule('old')).rejects.toMatchObject({
      code: 'EPROGMISMATCH',
      errno: -75,
      message: "EPROGMISMATCH: program version wrong, modctl 'old'",
      hint: expect.stringMatching(/different kernel version.*modload -f/),
    });
    expect(await nb.loadModule('old', { force: true })).toMatchObject({ flags: 1 });
  });

  it('dependencies nested deeper than 6 on NetBSD 8: EMLINK (31); fine on 10', async () => {
    await expect(setup({ release: 8 }).nb.loadModule('d0')).rejects.toMatchObject({
      code: 'EMLINK',
      errno: -31,
      hint: expect.stringMatching(/MODULE_MAX_DEPTH/),
    });
    const { kernel, nb } = setup({ release: 10 });
    await nb.loadModule('d0');
    expect(kernel.modules.size).toBe(8);
  });

  it("the module's own .plist: merged under ml_props, EFBIG past 8191 bytes, EINVAL if it does not parse, noProp skips it", async () => {
    const { kernel, nb } = setup();
    await nb.loadModule('withp', { props: { b: 'arg' } });
    expect(kernel.modules.get('withp')!.props).toEqual({ a: 1, b: 'arg' });
    await expect(nb.loadModule('bigp')).rejects.toMatchObject({ code: 'EFBIG', errno: -27, hint: expect.stringMatching(/8191/) });
    await expect(nb.loadModule('badp')).rejects.toMatchObject({ code: 'EINVAL', errno: -22 });
    await nb.loadModule('bigp', { noProp: true });
    await nb.loadModule('badp', { noProp: true });
  });

  it('ENOENT for a missing module, ENOEXEC for a non-module, EISDIR for a directory, the init’s own errno', async () => {
    const { nb } = setup();
    await expect(nb.loadModule('nosuch')).rejects.toMatchObject({
      code: 'ENOENT',
      errno: -2,
      module: 'nosuch',
      hint: expect.stringMatching(/kern\.module\.path/),
    });
    await expect(nb.loadModule(join(dir, 'garbage.kmod'))).rejects.toMatchObject({ code: 'ENOEXEC', errno: -8, module: 'garbage' });
    await expect(nb.loadModule(dir + '/')).rejects.toMatchObject({ code: 'EISDIR', errno: -21 });
    await expect(nb.loadModule('initfail')).rejects.toMatchObject({
      code: 'ENXIO',
      errno: -6,
      message: "ENXIO: device not configured, modctl 'initfail'",
    });
  });

  it('EPERM for non-root and above securelevel 0; ENOSYS without options MODULAR', async () => {
    await expect(setup({ uid: 1000 }).nb.loadModule('tmpfs')).rejects.toMatchObject({
      code: 'EPERM',
      errno: -1,
      hint: expect.stringMatching(/only root.*securelevel/),
    });
    await expect(setup({ securelevel: 1 }).nb.loadModule('tmpfs')).rejects.toMatchObject({ code: 'EPERM' });
    await expect(setup({ modular: false }).nb.loadModule('tmpfs')).rejects.toMatchObject({
      code: 'ENOSYS',
      errno: -78,
      message: "ENOSYS: function not implemented, modctl 'tmpfs'",
      hint: expect.stringMatching(/options MODULAR/),
    });
  });

  it('refuses inputs the kernel would refuse before any system call', async () => {
    const { kernel, nb } = setup();
    await expect(nb.loadModule('tmpfs', { props: { k: 'x'.repeat(4000) } })).rejects.toMatchObject({ code: 'ERR_KERNMOD_PROPS_TOO_LARGE' });
    await expect(nb.loadModule('tmpfs', { props: { ['k'.repeat(129)]: 1 } })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_PROPS' });
    await expect(nb.loadModule('a\0b')).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
    expect(() => nb.unloadModuleSync('n'.repeat(32))).toThrow(
      expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_NAME', message: expect.stringMatching(/limit is 31.*ENAMETOOLONG/) }),
    );
    const ac = new AbortController();
    ac.abort();
    await expect(nb.loadModule('tmpfs', { signal: ac.signal })).rejects.toMatchObject({
      code: 'ABORT_ERR',
      phase: 'abort',
      module: 'tmpfs',
    });
    await expect(nb.unloadModule('tmpfs', { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expect(kernel.calls).toEqual([]);
  });
});

describe('netbsd.unloadModule', () => {
  it('ENOENT when not loaded; the module’s own refusal (EOPNOTSUPP, 45) passed through', async () => {
    const { nb } = setup();
    await expect(nb.unloadModule('tmpfs')).rejects.toMatchObject({
      code: 'ENOENT',
      errno: -2,
      hint: expect.stringMatching(/no module of this name/),
    });
    await nb.loadModule('sticky');
    await expect(nb.unloadModule('sticky')).rejects.toMatchObject({
      code: 'EOPNOTSUPP',
      errno: -45,
      hint: expect.stringMatching(/does not support being unloaded/),
    });
  });

  it('builtins: a disabled one is listed with refcnt -1, needs force to come back; unloading puts it back; secmodels stay', async () => {
    const { nb } = setup({
      builtins: [
        { name: 'compat_50', class: 'misc', disabled: true },
        { name: 'secmodel_bsd44', class: 'secmodel', secmodel: true },
      ],
    });
    let list = await nb.listModules();
    expect(list.find((m) => m.name === 'compat_50')).toMatchObject({
      state: 'Disabled',
      refcnt: -1,
      builtin: true,
      source: 'kernel',
      address: 0n,
      size: 0,
    });
    expect(list.find((m) => m.name === 'secmodel_bsd44')).toMatchObject({ state: 'Live', refcnt: 0, builtin: true, class: 'secmodel' });
    await expect(nb.loadModule('compat_50')).rejects.toMatchObject({ code: 'EPERM', hint: expect.stringMatching(/disabled.*force/) });
    await nb.loadModule('compat_50', { force: true });
    list = await nb.listModules();
    expect(list.find((m) => m.name === 'compat_50')).toMatchObject({ state: 'Live', refcnt: 0 });
    await nb.unloadModule('compat_50');
    expect((await nb.listModules()).find((m) => m.name === 'compat_50')).toMatchObject({ state: 'Disabled', refcnt: -1 });
    await expect(nb.unloadModule('secmodel_bsd44')).rejects.toMatchObject({
      code: 'EPERM',
      hint: expect.stringMatching(/security models/),
    });
  });
});

describe('netbsd.listModules (MODCTL_STAT)', () => {
  it('reads the 9.0+ layout, growing the buffer past 8192 bytes while modules appear between calls', async () => {
    const { kernel, nb } = setup({
      onStat: (k, call) => {
        if (call < 2)
          k.modules.set(`late${call}`, {
            name: `late${call}`,
            class: 'misc',
            source: 'filesys',
            required: [],
            refcnt: 0,
            flags: 0,
            addr: 1n,
            size: 1,
            props: {},
          });
      },
    });
    for (let i = 0; i < 150; i++)
      kernel.modules.set(`m${i}`, {
        name: `m${i}`,
        class: 'driver',
        source: 'boot',
        required: ['x'],
        refcnt: 0,
        flags: 0,
        addr: 0n,
        size: 0,
        props: {},
      });
    const list = await nb.listModules();
    expect(list).toHaveLength(152);
    expect(list.map((m) => m.name)).toContain('late1');
    const stats = kernel.calls.filter((c) => c.command === 'stat');
    expect(stats.length).toBe(3); // 8192 (too small), the reported size (grew meanwhile), the new size
    expect(list.find((m) => m.name === 'm0')).toMatchObject({ source: 'boot', class: 'driver', required: ['x'] });
  });

  it('reads the 392-byte layout on NetBSD 8 (command 4 is EINVAL there) and on 9+ with compat_80 only if asked', async () => {
    const { kernel, nb } = setup({ release: 8 });
    await nb.loadModule('nfs');
    expect((await nb.listModules()).map((m) => [m.name, m.required])).toEqual([
      ['krpc', []],
      ['nfs', ['krpc']],
    ]);
    expect(kernel.calls.filter((c) => c.command === 'stat').map((c) => [c.arg, c.ret])).toEqual([
      [4, -22],
      [2, 0],
    ]);
  });

  it('hides addresses and sizes from non-root on 9.0+ (as the kernel does)', async () => {
    const k = new FakeNetbsdKernel({ modulePath });
    k.load('tmpfs', 0, '');
    k.uid = 1000;
    const list = bind(createFakeNetbsdBackend(k)).listModulesSync();
    expect(list[0]).toMatchObject({ name: 'tmpfs', address: 0n, size: 0 });
  });
});

describe('netbsd.moduleSupport (MODCTL_EXISTS 0 and 1)', () => {
  it.each([
    ['root', {}, { modular: true, load: true, autoload: true }],
    ['a user', { uid: 1000 }, { modular: true, load: false, autoload: true }],
    ['securelevel 1', { securelevel: 1 }, { modular: true, load: false, autoload: false }],
    ['no options MODULAR', { modular: false }, { modular: false, load: false, autoload: false }],
    ['NetBSD 6 (no MODCTL_EXISTS)', { release: 6 }, { modular: null, load: null, autoload: null }],
  ] as const)('%s', async (_what, opts, want) => {
    const { nb } = setup(opts);
    expect(await nb.moduleSupport()).toEqual({ ...want, backend: 'fake' });
    expect(nb.moduleSupportSync()).toEqual({ ...want, backend: 'fake' });
  });
});

describe('NetBSD errno table and hints', () => {
  it('has NetBSD’s numbers and strerror texts, whatever the host', () => {
    expect(netbsdErrnoInfo(-35)).toEqual({ errno: 35, code: 'EAGAIN', description: 'Resource temporarily unavailable' });
    expect(netbsdErrnoInfo(11).code).toBe('EDEADLK');
    expect(netbsdErrnoInfo(16).description).toBe('Device busy');
    for (const [code, n] of [
      ['EPROGMISMATCH', 75],
      ['ENOSYS', 78],
      ['EFTYPE', 79],
      ['EAUTH', 80],
      ['ENEEDAUTH', 81],
      ['ENOATTR', 93],
      ['ENOTSUP', 86],
      ['EOPNOTSUPP', 45],
      ['ENAMETOOLONG', 63],
      ['EWOULDBLOCK', 35],
    ] as const) {
      expect(netbsdErrnoNumber(code), code).toBe(n);
    }
    expect(netbsdErrnoInfo(500)).toEqual({ errno: 500, code: 'E500', description: 'Unknown error: 500' });
    // Every number 1..98 once, ascending, as errlist.awk requires of errno.h.
    expect(NETBSD_ERRNO.map(([n]) => n)).toEqual(Array.from({ length: 98 }, (_, i) => i + 1));
  });

  it('does not change how Linux errors are built', () => {
    expect(systemError(-35, 'finit_module', {})).toMatchObject({ code: 'EDEADLK', errno: -35, phase: 'load' });
    expect(systemError(-11, 'delete_module', { module: 'x' })).toMatchObject({
      code: 'EAGAIN',
      phase: 'unload',
      hint: expect.stringMatching(/in use/),
    });
  });

  it('has a hint from modctl(2)/modload(8) for each documented MODCTL_LOAD errno', () => {
    for (const code of [
      'EPROGMISMATCH',
      'EDEADLK',
      'EMLINK',
      'EFBIG',
      'EEXIST',
      'ENOENT',
      'EPERM',
      'EINVAL',
      'ENOMEM',
      'ENAMETOOLONG',
      'ENOSYS',
      'ENOEXEC',
      'EFAULT',
    ]) {
      expect(netbsdHint(code, 'load'), code).toBeTruthy();
    }
    for (const code of ['ENOENT', 'EBUSY', 'EPERM', 'ENAMETOOLONG']) expect(netbsdHint(code, 'unload'), code).toBeTruthy();
    expect(netbsdHint('EINVAL', 'stat')).toMatch(/compat_80/);
    expect(netbsdHint('ENOSYS', 'exists')).toBe('The kernel was compiled without options MODULAR.');
    expect(errno('EPROGMISMATCH')).toBe(-75);
  });

  it('load hints name every cause found in kern_module.c / sys_module.c, not only the documented one', () => {
    expect(netbsdHint('ENAMETOOLONG', 'load')).toMatch(/a component of the path is longer than 255 bytes/);
    expect(netbsdHint('ENOEXEC', 'load')).toMatch(/already loaded from another path \("global symbol redefined"/);
    expect(netbsdHint('EINVAL', 'load')).toMatch(/the file is empty or truncated/);
    expect(netbsdHint('EFBIG', 'load')).toMatch(/8190 bytes/);
    expect(netbsdHint('EFBIG', 'load')).not.toMatch(/8191 bytes of it/);
  });

  it("any load errno may be the module's own init result: every load hint says so, and EAGAIN gets a hint", () => {
    expect(netbsdHint('EAGAIN', 'load')).toMatch(/^the module's own initialisation \(MODULE_CMD_INIT\) returned this error/);
    for (const code of ['EPROGMISMATCH', 'EEXIST', 'ENOENT', 'EPERM', 'EINVAL', 'ENOMEM', 'ENOEXEC', 'EBUSY', 'EIO']) {
      expect(netbsdHint(code, 'load'), code).toMatch(/module's own initialisation \(MODULE_CMD_INIT\)/);
    }
    expect(netbsdHint('EBUSY', 'unload')).not.toMatch(/MODULE_CMD_INIT\)/);
  });
});

describe('the netbsd namespace (what `import { netbsd } from "kernmod"` exposes)', () => {
  it('has the Linux-shaped API plus listModules/moduleSupport, codecs and the fake', async () => {
    const ns = await import('../../lib/netbsd/index.js');
    for (const f of [
      'loadModule',
      'loadModuleSync',
      'unloadModule',
      'unloadModuleSync',
      'listModules',
      'listModulesSync',
      'moduleSupport',
      'moduleSupportSync',
      'bind',
      'withBackend',
      'externalizeProps',
      'internalizeProps',
      'decodeModstat',
      'encodeModstat',
      'createFakeNetbsdBackend',
      'createNetbsdNativeBackend',
      'netbsdErrnoInfo',
    ] as const) {
      expect(typeof ns[f], f).toBe('function');
    }
    expect(ns.MODCTL_STAT).toBe(4);
    expect(ns.FakeNetbsdKernel).toBeTypeOf('function');
  });

  it.skipIf(process.platform === 'netbsd')(
    'off NetBSD, importing is free and the default API fails on first use with a typed error (a rejection for Promises)',
    async () => {
      const ns = await import('../../lib/netbsd/index.js');
      const p = ns.loadModule('tmpfs');
      await expect(p).rejects.toMatchObject({
        code: 'ERR_KERNMOD_NO_BACKEND',
        phase: 'backend',
        message: expect.stringMatching(/built for linux|built for \w+/),
      });
      await expect(ns.listModules()).rejects.toMatchObject({ code: 'ERR_KERNMOD_NO_BACKEND' });
      expect(() => ns.moduleSupportSync()).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_NO_BACKEND' }));
    },
  );
});
