// modload / modunload / modstat: NetBSD's tool names, options, messages and modstat's columns, driven
// through the FAKE NetBSD kernel (a simulation; no NetBSD kernel runs here). Expected lines follow
// sbin/modload/main.c, sbin/modunload/main.c 1.5 and sbin/modstat/main.c 1.23 (printf formats, err(3)).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getoptLong, NETBSD, type OptionSpec } from '../../lib/cli/getopt.js';
import { MODLOAD_USAGE, modloadCommand } from '../../lib/cli/modload.js';
import { formatModstat, MODSTAT_USAGE, modstatCommand } from '../../lib/cli/modstat.js';
import { MODUNLOAD_USAGE, modunloadCommand } from '../../lib/cli/modunload.js';
import { dehumanizeNumber } from '../../lib/netbsd/dehumanize.js';
import { createFakeNetbsdBackend, FakeNetbsdKernel, type FakeNetbsdKernelOptions } from '../../lib/netbsd/fake.js';
import { bind } from '../../lib/netbsd/index.js';
import type { NetbsdModuleInfo } from '../../lib/netbsd/modctl.js';
import { externalizeProps } from '../../lib/netbsd/plist.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-netbsd-cli-'));
for (const [name, cls, required] of [
  ['tmpfs', 'vfs', []],
  ['krpc', 'misc', []],
  ['nfs', 'vfs', ['krpc']],
  ['old', 'misc', []],
] as const) {
  mkdirSync(join(dir, name));
  writeFileSync(
    join(dir, name, `${name}.kmod`),
    FakeNetbsdKernel.image({ name, class: cls, required: [...required], size: 12345, ...(name === 'old' ? { release: 9 } : {}) }),
  );
}

function setup(opts: FakeNetbsdKernelOptions = {}) {
  const kernel = new FakeNetbsdKernel({
    modulePath: dir,
    builtins: [
      { name: 'compat_50', disabled: true },
      { name: 'ffs', class: 'vfs' },
    ],
    ...opts,
  });
  const o = { out: '', err: '' };
  const io = { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) };
  return { kernel, o, io, deps: { netbsd: bind(createFakeNetbsdBackend(kernel)) } };
}

describe('getoptLong in NETBSD style (NetBSD libc getopt semantics)', () => {
  const table: OptionSpec[] = [
    { key: 'P', short: 'P' },
    { key: 'b', short: 'b', arg: 'required' },
    { key: 'f', short: 'f' },
    { key: 'i', short: 'i', arg: 'required' },
    { key: 'json', long: 'json' },
  ];
  const parse = (argv: string[]) => getoptLong(argv, table, NETBSD);
  it('clusters flags, takes attached or separate arguments, stops at the first operand or --', () => {
    const r = parse(['-fP', '-bx=1', '-i', 'n=2', 'mod', '-f']);
    expect(r.options.map((o) => [o.key, o.value])).toEqual([
      ['f', undefined],
      ['P', undefined],
      ['b', 'x=1'],
      ['i', 'n=2'],
    ]);
    expect(r.operands).toEqual(['mod', '-f']);
    expect(r.error).toBeUndefined();
    expect(parse(['--', '-f']).operands).toEqual(['-f']);
    expect(parse(['-x']).error).toBe('unknown option -- x');
    expect(parse(['-b']).error).toBe('option requires an argument -- b');
    expect(parse(['--bogus']).error).toBe('unknown option -- -');
  });
  it("kernmod's own long options wherever they come before --", () => {
    expect(parse(['-f', 'm', '--json']).options.map((o) => o.key)).toEqual(['f', 'json']);
    expect(parse(['m', '--', '--json'])).toMatchObject({ options: [], operands: ['m', '--json'] });
  });
});

describe('dehumanizeNumber (modload -i, libc dehumanize_number 1.8)', () => {
  it.each([
    ['42', 42n],
    ['-42', -42n],
    [' +7', 7n],
    ['1k', 1024n],
    ['2M', 2n * 1024n ** 2n],
    ['3g', 3n * 1024n ** 3n],
    ['5b', 5n],
    ['k', 0n], // no digits before the suffix: strtoll stops at the start, which is the suffix
    ['9223372036854775807', 2n ** 63n - 1n],
  ] as const)('%s → %s', (s, v) => expect(dehumanizeNumber(s)).toEqual({ value: v }));

  it.each([
    ['', 'EINVAL'],
    ['1x', 'EINVAL'],
    ['1t', 'EINVAL'],
    ['0x10', 'EINVAL'],
    ['1.5', 'EINVAL'],
    ['1 ', 'EINVAL'],
    ['9223372036854775808', 'ERANGE'],
    ['9007199254740993g', 'ERANGE'],
  ] as const)('%s → %s', (s, e) => expect(dehumanizeNumber(s)).toEqual({ error: e }));
});

describe('kernmod modload', () => {
  it('loads silently and exits 0, sending the plist built from -b/-i/-s and the -f/-P flags', async () => {
    const { kernel, o, io, deps } = setup();
    expect(await modloadCommand(['-f', '-P', '-b', 'on=YES', '-i', 'size=2k', '-s', 'who=a=b', 'tmpfs'], io, deps)).toBe(0);
    expect(o).toEqual({ out: '', err: '' });
    expect(kernel.calls[0]).toMatchObject({ arg: 'tmpfs', flags: 3, props: externalizeProps({ on: true, size: 2048n, who: 'a=b' }) });
  });

  it("prints err(3)'s line, `modload: File exists`, then a hint line, and exits 1", async () => {
    const { o, io, deps } = setup();
    await modloadCommand(['tmpfs'], io, deps);
    expect(await modloadCommand(['tmpfs'], io, deps)).toBe(1);
    expect(o.err).toBe(
      'modload: File exists\nmodload: hint: a module with this name is already loaded (see modstat); or ' +
        "the module's own initialisation (MODULE_CMD_INIT) returned this error\n",
    );
  });

  it('says what NetBSD says for a version mismatch', async () => {
    const { o, io, deps } = setup();
    expect(await modloadCommand(['old'], io, deps)).toBe(1);
    expect(o.err.split('\n')[0]).toBe('modload: Program version wrong');
    expect(await modloadCommand(['-f', 'old'], io, deps)).toBe(0);
  });

  it("reports bad parameters with modload's own messages", async () => {
    const cases: Array<[string[], string]> = [
      [['-b', 'x', 'tmpfs'], "modload: Invalid parameter `x'\n"],
      [['-b', 'x=maybe', 'tmpfs'], "modload: Invalid boolean value `maybe'\n"],
      [['-i', 'x=12q', 'tmpfs'], "modload: Invalid integer value `12q': Invalid argument\n"],
      [['-i', 'x=99999999999999999999', 'tmpfs'], "modload: Invalid integer value `99999999999999999999': Result too large or too small\n"],
    ];
    for (const [argv, line] of cases) {
      const { kernel, o, io, deps } = setup();
      expect(await modloadCommand(argv, io, deps)).toBe(1);
      expect(o.err).toBe(line);
      expect(kernel.calls).toEqual([]);
    }
  });

  it('prints the usage for a wrong number of operands or an unknown option', async () => {
    let t = setup();
    expect(await modloadCommand([], t.io, t.deps)).toBe(1);
    expect(t.o.err).toBe(MODLOAD_USAGE);
    t = setup();
    expect(await modloadCommand(['-z', 'tmpfs'], t.io, t.deps)).toBe(1);
    expect(t.o.err).toBe(`modload: unknown option -- z\n${MODLOAD_USAGE}`);
    t = setup();
    expect(await modloadCommand(['--help'], t.io, t.deps)).toBe(0);
    expect(t.o.out.startsWith(MODLOAD_USAGE)).toBe(true);
  });

  it('-p prints the plist instead of loading; -m merges into a plist file and -d deletes keys', async () => {
    let t = setup();
    expect(await modloadCommand(['-p', '-s', 'b=x', '-b', 'a=0', '-i', 'n=-1'], t.io, t.deps)).toBe(0);
    expect(t.o.out).toBe(externalizeProps({ a: false, b: 'x', n: -1 }));
    expect(t.kernel.calls).toEqual([]);
    const file = join(dir, 'existing.plist');
    writeFileSync(file, externalizeProps({ keep: 1, drop: 2, b: 'old' }));
    t = setup();
    expect(await modloadCommand(['-p', '-m', file, '-d', 'drop', '-s', 'b=new'], t.io, t.deps)).toBe(0);
    expect(t.o.out).toBe(externalizeProps({ keep: 1, b: 'new' }));
    writeFileSync(file, 'not a plist');
    t = setup();
    expect(await modloadCommand(['-p', '-m', file], t.io, t.deps)).toBe(1);
    expect(t.o.err).toBe('modload: Failed to read existing property list\n');
  });

  it('refuses properties over 4096 bytes before the system call', async () => {
    const { kernel, o, io, deps } = setup();
    expect(await modloadCommand(['-s', `k=${'x'.repeat(4000)}`, 'tmpfs'], io, deps)).toBe(1);
    expect(o.err).toMatch(
      /^modload: the module properties are \d+ bytes as a plist; the kernel accepts at most 4096 \(it would answer ENOMEM\)\n$/,
    );
    expect(kernel.calls).toEqual([]);
  });

  it('--json prints the result, or the error object', async () => {
    const { o, io, deps } = setup();
    expect(await modloadCommand(['--json', 'tmpfs'], io, deps)).toBe(0);
    expect(JSON.parse(o.out)).toMatchObject({
      ok: true,
      result: { module: 'tmpfs', syscall: 'modctl', command: 'MODCTL_LOAD', flags: 0, backend: 'fake' },
    });
    o.out = '';
    expect(await modloadCommand(['--json', 'tmpfs'], io, deps)).toBe(1);
    expect(JSON.parse(o.out)).toMatchObject({
      ok: false,
      error: { code: 'EEXIST', errno: -17, syscall: 'modctl', module: 'tmpfs', phase: 'load' },
    });
  });
});

describe('kernmod modunload', () => {
  it('unloads each name in turn, and stops at the first failure with `modunload: name: strerror`', async () => {
    const { kernel, o, io, deps } = setup();
    await modloadCommand(['nfs'], io, deps);
    await modloadCommand(['tmpfs'], io, deps);
    expect(await modunloadCommand(['tmpfs', 'krpc', 'nfs'], io, deps)).toBe(1);
    expect(o.err.split('\n')[0]).toBe('modunload: krpc: Device busy');
    expect(o.err.split('\n')[1]).toMatch(/^modunload: hint: the module is in use/);
    expect(kernel.modules.has('tmpfs')).toBe(false);
    expect(kernel.modules.has('nfs')).toBe(true); // not reached
    const t = setup();
    expect(await modunloadCommand(['nope'], t.io, t.deps)).toBe(1);
    expect(t.o.err.split('\n')[0]).toBe('modunload: nope: No such file or directory');
  });

  it('prints the usage without names, and --json results', async () => {
    let t = setup();
    expect(await modunloadCommand([], t.io, t.deps)).toBe(1);
    expect(t.o.err).toBe(MODUNLOAD_USAGE);
    t = setup();
    await modloadCommand(['tmpfs'], t.io, t.deps);
    expect(await modunloadCommand(['tmpfs', '--json'], t.io, t.deps)).toBe(0);
    expect(JSON.parse(t.o.out)).toEqual({
      ok: true,
      results: [{ platform: 'netbsd', module: 'tmpfs', syscall: 'modctl', command: 'MODCTL_UNLOAD', backend: 'fake' }],
    });
  });
});

describe('kernmod modstat', () => {
  const info = (over: Partial<NetbsdModuleInfo>): NetbsdModuleInfo => ({
    name: 'x',
    size: 0,
    refcnt: 0,
    holders: [],
    state: 'Live',
    address: 0n,
    required: [],
    source: 'filesys',
    class: 'misc',
    flags: { mustForce: false, autoLoaded: false, raw: 0 },
    builtin: false,
    ...over,
  });

  it("formats modstat's columns byte for byte: sorted by name, width max(16, longest), `-` for empty SIZE/REQUIRES", () => {
    const text = formatModstat([
      info({ name: 'nfs', class: 'vfs', size: 200000, required: ['krpc', 'ufs'] }),
      info({ name: 'compat_linux', source: 'kernel', class: 'exec', refcnt: -1, flags: { mustForce: true, autoLoaded: false, raw: 1 } }),
      info({ name: 'krpc', refcnt: 1, size: 12345, flags: { mustForce: false, autoLoaded: true, raw: 2 } }),
      info({ name: 'weird', class: 'unknown', source: 'unknown', flags: { mustForce: true, autoLoaded: true, raw: 7 } }),
    ]);
    expect(text).toBe(
      'NAME             CLASS    SOURCE   FLAG  REFS    SIZE REQUIRES \n' +
        'compat_linux     exec     builtin  f       -1       - -\n' +
        'krpc             misc     filesys  a        1   12345 -\n' +
        'nfs              vfs      filesys  -        0  200000 krpc,ufs\n' +
        'weird            UNKNOWN  UNKNOWN  af       0       - -\n',
    );
  });

  it('widens NAME for long names and adds ADDRESS with -k; -n / a name keeps one row', () => {
    const mods = [info({ name: 'a_module_with_a_long_name', address: 0xffffffff81234567n, size: 1 }), info({ name: 'b', address: 0n })];
    expect(formatModstat(mods, { address: true, name: 'b' })).toBe(
      'NAME                      CLASS    SOURCE   FLAG  REFS ADDRESS             SIZE REQUIRES \n' +
        'b                         misc     filesys  -        0 0                      - -\n',
    );
    expect(formatModstat(mods, { address: true }).split('\n')[1]).toBe(
      'a_module_with_a_long_name misc     filesys  -        0 ffffffff81234567       1 -',
    );
  });

  it('prints the kernel’s modules through MODCTL_STAT', async () => {
    const { o, io, deps } = setup();
    await modloadCommand(['nfs'], io, deps);
    expect(await modstatCommand([], io, deps)).toBe(0);
    expect(o.out).toBe(
      'NAME             CLASS    SOURCE   FLAG  REFS    SIZE REQUIRES \n' +
        'compat_50        misc     builtin  -       -1       - -\n' +
        'ffs              vfs      builtin  -        0       - -\n' +
        'krpc             misc     filesys  a        1   12345 -\n' +
        'nfs              vfs      filesys  -        0   12345 krpc\n',
    );
    o.out = '';
    expect(await modstatCommand(['-n', 'nfs'], io, deps)).toBe(0);
    expect(o.out.split('\n').slice(1)).toEqual(['nfs              vfs      filesys  -        0   12345 krpc', '']);
  });

  it('-e / -a / -A answer with modstat’s sentences on stderr', async () => {
    const run = async (argv: string[], opts: FakeNetbsdKernelOptions = {}, sysctl = '1') => {
      const t = setup(opts);
      const code = await modstatCommand(argv, t.io, { ...t.deps, sysctl: () => sysctl });
      return [code, t.o.err];
    };
    expect(await run(['-e'])).toEqual([0, 'modstat: You can load modules.\n']);
    expect(await run(['-e'], { uid: 1000 })).toEqual([1, 'modstat: You are not allowed to load modules right now.\n']);
    expect(await run(['-e'], { modular: false })).toEqual([1, 'modstat: The kernel was compiled without options MODULAR.\n']);
    expect(await run(['-e'], { release: 6 })).toEqual([1, 'modstat: modctl_exists for autoload: Invalid argument\n']);
    expect(await run(['-a'], { uid: 1000 })).toEqual([0, 'modstat: Modules can be autoloaded.\n']);
    expect(await run(['-a'], { securelevel: 1 })).toEqual([1, 'modstat: Modules can not be autoloaded right now.\n']);
    expect(await run(['-A'], {}, '0')).toEqual([0, 'modstat: Modules can be autoloaded, but kern.module.autoload = 0.\n']);
    expect(await run(['-A'], {}, '1')).toEqual([0, 'modstat: Modules can be autoloaded.\n']);
  });

  it('usage errors, and --json', async () => {
    let t = setup();
    expect(await modstatCommand(['a', 'b'], t.io, t.deps)).toBe(1);
    expect(t.o.err).toBe(MODSTAT_USAGE);
    t = setup();
    expect(await modstatCommand(['-x'], t.io, t.deps)).toBe(1);
    expect(t.o.err).toBe(`modstat: unknown option -- x\n${MODSTAT_USAGE}`);
    t = setup();
    expect(await modstatCommand(['--json', 'ffs'], t.io, t.deps)).toBe(0);
    expect(JSON.parse(t.o.out)).toEqual([
      {
        name: 'ffs',
        size: 0,
        refcnt: 0,
        holders: [],
        state: 'Live',
        address: '0',
        required: [],
        source: 'kernel',
        class: 'vfs',
        flags: { mustForce: false, autoLoaded: false, raw: 0 },
        builtin: true,
      },
    ]);
  });
});
