// insmod/rmmod output, exit codes and --json, driven through the FAKE kernel (a simulation of the
// syscalls; the kernel suite runs the real CLI in the VM).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { insmod, joinParamArgs } from '../../lib/cli/insmod.js';
import { rmmod } from '../../lib/cli/rmmod.js';
import { main } from '../../lib/cli/main.js';
import { bind } from '../../lib/kernmod.js';
import { syncSysfs, withSysfs } from './modprobe-helpers.js';

function io() {
  const o = { out: '', err: '' };
  return { o, io: { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) } };
}
const dir = mkdtempSync(join(tmpdir(), 'kernmod-cli-'));
const file = (name: string, deps: string[] = []) => {
  const p = join(dir, `${name}.ko`);
  writeFileSync(p, FakeKernel.image(name, deps));
  return p;
};
const sysfs = join(dir, 'sys-module');
mkdirSync(join(sysfs, 'builtin_thing'), { recursive: true }); // a builtin: no initstate

describe('kernmod insmod', () => {
  it('joins PARAM=VALUE args like kmod v34, quoting values with spaces', () => {
    expect(joinParamArgs(['a=1', 'b=x y', 'c="q r"', 'flag'])).toBe('a=1 b="x y" c="q r" flag');
  });

  it('loads silently and exits 0', async () => {
    const kernel = new FakeKernel();
    const { o, io: t } = io();
    expect(await insmod([file('cli_a'), 'x=1', 's=two words'], bind(createFakeBackend(kernel)), t)).toBe(0);
    expect(o).toEqual({ out: '', err: '' });
    expect(kernel.modules.get('cli_a')?.params).toBe('x=1 s="two words"');
  });

  it("prints kmod's error line, a hint line, and exits 1", async () => {
    const km = bind(createFakeBackend(new FakeKernel()));
    const path = file('cli_b');
    await insmod([path], km, io().io);
    const { o, io: t } = io();
    expect(await insmod([path], km, t)).toBe(1);
    expect(o.err).toBe(
      `insmod: ERROR: could not insert module ${path}: File exists\ninsmod: hint: a module with this name ` +
        `is already loaded (unload it first, or treat it as success as modprobe does)\n`,
    );
  });

  it("uses kmod's wording for unknown symbols and a missing file", async () => {
    const km = bind(createFakeBackend(new FakeKernel()));
    const { o, io: t } = io();
    await insmod([file('cli_imp', ['cli_exp'])], km, t);
    expect(o.err).toMatch(/^insmod: ERROR: could not insert module .*cli_imp\.ko: Unknown symbol in module\n/);
    const m = io();
    expect(await insmod(['/nonexistent.ko'], km, m.io)).toBe(1);
    expect(m.o.err.split('\n')[0]).toBe('insmod: ERROR: could not load module /nonexistent.ko: No such file or directory');
  });

  it('prints the result or the error as JSON', async () => {
    const km = bind(createFakeBackend(new FakeKernel()));
    const a = io();
    expect(await insmod(['--json', file('cli_j'), 'n=5'], km, a.io)).toBe(0);
    expect(JSON.parse(a.o.out)).toMatchObject({ ok: true, result: { module: 'cli_j', syscall: 'finit_module', params: 'n=5' } });
    const b = io();
    expect(await insmod(['--json', file('cli_j')], km, b.io)).toBe(1);
    expect(JSON.parse(b.o.out)).toMatchObject({ ok: false, error: { code: 'EEXIST', errno: -17, syscall: 'finit_module', phase: 'load' } });
    expect(b.o.err).toBe('');
  });

  it('rejects bad params before the kernel sees them', async () => {
    const kernel = new FakeKernel();
    const { o, io: t } = io();
    expect(await insmod([file('cli_p'), 'a=1', 'a=2'], bind(createFakeBackend(kernel)), t)).toBe(1);
    expect(o.err).toMatch(/duplicate parameter/);
    expect(kernel.calls).toHaveLength(0);
  });

  it('-f sets both ignore flags', async () => {
    const kernel = new FakeKernel();
    await insmod(['-f', file('cli_f')], bind(createFakeBackend(kernel)), io().io);
    expect(kernel.calls[0]?.flags).toBe(3);
  });
});

describe('kernmod rmmod', () => {
  /** A fake kernel whose modules sysfs shows, as a real kernel's are. */
  function rig() {
    const kernel = new FakeKernel();
    const root = mkdtempSync(join(tmpdir(), 'kernmod-rmmod-'));
    const km = withSysfs(bind(createFakeBackend(kernel)), kernel, root);
    return { kernel, km, sys: join(root, 'sys/module') };
  }

  it('removes by name or by path', async () => {
    const { kernel, km, sys } = rig();
    await km.loadModule(file('cli_r1'));
    await km.loadModule(file('cli_r2'));
    expect(await rmmod(['cli-r1', join(dir, 'cli_r2.ko')], km, io().io, sys)).toBe(0);
    expect(kernel.modules.size).toBe(0);
  });

  it("uses kmod's lines for not loaded, in use, and builtin", async () => {
    const { kernel, km, sys } = rig();
    const a = io();
    expect(await rmmod(['cli_none'], km, a.io, sys)).toBe(1);
    expect(a.o.err.split('\n')[0]).toBe('rmmod: ERROR: Module cli_none is not currently loaded');
    await km.loadModule(file('cli_busy'));
    kernel.modules.get('cli_busy')!.refcnt = 1;
    syncSysfs(kernel, join(sys, '../..'));
    const b = io();
    expect(await rmmod(['cli_busy'], km, b.io, sys)).toBe(1);
    expect(b.o.err.split('\n')[0]).toBe('rmmod: ERROR: Module cli_busy is in use');
    const c = io();
    expect(await rmmod(['builtin_thing'], km, c.io, sysfs)).toBe(1);
    expect(c.o.err.split('\n')[0]).toBe('rmmod: ERROR: Module builtin_thing is builtin.');
  });

  it('lists holders in the order readdir(3) gives them, as kmod does (not sorted)', async () => {
    const { kernel, km, sys } = rig();
    await km.loadModule(file('llc'));
    // Loaded in sorted order: the file system decides the order readdir(3) returns their sysfs links.
    for (const h of ['garp', 'mrp', 'p8022', 'psnap', 'stp']) await km.loadModule(file(h, ['llc']));
    const readdirOrder = spawnSync('ls', ['-U', '-1', join(sys, 'llc', 'holders')], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean);
    expect(readdirOrder).toHaveLength(5);
    const t = io();
    expect(await rmmod(['llc'], km, t.io, sys)).toBe(1);
    expect(t.o.err.split('\n')[0]).toBe(`rmmod: ERROR: Module llc is in use by: ${readdirOrder.join(' ')}`);
    expect(kernel.modules.has('llc')).toBe(true);
  });

  it("on a kernel without module unloading (no refcnt in sysfs) says kmod's line, and calls nothing", async () => {
    const { kernel, km, sys } = rig();
    await km.loadModule(file('cli_nounload'));
    rmSync(join(sys, 'cli_nounload', 'refcnt'));
    const t = io();
    expect(await rmmod(['cli_nounload'], km, t.io, sys)).toBe(1);
    expect(t.o.err.split('\n')[0]).toBe('rmmod: ERROR: Module unloading is not supported');
    expect(kernel.modules.has('cli_nounload')).toBe(true);
  });

  it('-w waits for the module to become free', async () => {
    const { kernel, km, sys } = rig();
    await km.loadModule(file('cli_w'));
    kernel.modules.get('cli_w')!.refcnt = 1;
    setTimeout(() => (kernel.modules.get('cli_w')!.refcnt = 0), 50);
    const t = io();
    expect(await rmmod(['-w', '2000', '--json', 'cli_w'], km, t.io, sys)).toBe(0);
    expect(JSON.parse(t.o.out).results[0]).toMatchObject({ module: 'cli_w' });
  });
});

const haveKmod = /^kmod version/.test(spawnSync('rmmod', ['-V'], { encoding: 'utf8' }).stdout ?? '');

describe("insmod and rmmod: kmod's command-line messages, -V, -s, --json usage errors", () => {
  const km = bind(createFakeBackend(new FakeKernel()));
  const run = async (tool: 'insmod' | 'rmmod', argv: string[]) => {
    const t = io();
    const status = await (tool === 'insmod' ? insmod(argv, km, t.io) : rmmod(argv, km, t.io, sysfs));
    return { status, ...t.o };
  };

  it.each([
    ['insmod', '--bogus'],
    ['insmod', '-Z'],
    ['insmod', '--help=3'],
    ['rmmod', '--bogus'],
    ['rmmod', '-Z'],
    ['rmmod', '--verb=1'],
  ] as const)('%s %s', async (tool, arg) => {
    const ours = await run(tool, [arg]);
    expect(ours.status).toBe(1);
    expect(ours.out).toBe('');
    if (haveKmod) {
      const theirs = spawnSync(tool, [arg], { encoding: 'utf8' });
      expect({ status: ours.status, err: ours.err }).toEqual({ status: theirs.status, err: theirs.stderr });
    } else expect(ours.err).toMatch(new RegExp(`^${tool}: (unrecognized|invalid|option)`));
  });

  it.skipIf(!haveKmod)("rmmod of a module this host does not have: kmod's line and status", async () => {
    const ours = await rmmod(['kernmod_no_such_mod'], km, io().io, '/sys/module');
    const t = io();
    await rmmod(['kernmod_no_such_mod'], km, t.io, '/sys/module');
    const theirs = spawnSync('rmmod', ['kernmod_no_such_mod'], { encoding: 'utf8' });
    expect({ status: ours, err: t.o.err }).toEqual({ status: theirs.status, err: theirs.stderr });
  });

  it('-V/--version prints the version', async () => {
    for (const tool of ['insmod', 'rmmod'] as const) {
      for (const flag of ['-V', '--version']) {
        const r = await run(tool, [flag]);
        expect(r).toMatchObject({ status: 0, err: '' });
        expect(r.out).toMatch(/^kernmod version \d+\.\d+\.\d+\n$/);
      }
    }
  });

  it('-s/--syslog is refused, not silently ignored', async () => {
    for (const tool of ['insmod', 'rmmod'] as const) {
      const r = await run(tool, ['-s', 'x']);
      expect(r.status).toBe(1);
      expect(r.err).toBe(`${tool}: option '--syslog' is not supported: kernmod prints its messages to stderr\n`);
    }
  });

  it('a usage error under --json is the one error shape', async () => {
    const a = await run('insmod', ['--json']);
    expect(a.status).toBe(1);
    expect(a.err).toBe('');
    expect(JSON.parse(a.out)).toEqual({
      ok: false,
      error: { name: 'KernmodError', code: 'ERR_KERNMOD_USAGE', phase: 'validate', message: 'missing filename.' },
    });
    const b = await run('rmmod', ['--json', '--bogus']);
    expect(JSON.parse(b.out)).toMatchObject({ ok: false, error: { code: 'ERR_KERNMOD_USAGE', message: "unrecognized option '--bogus'" } });
  });
});

describe('kernmod (dispatch)', () => {
  it('prints usage for help and an error for unknown commands', async () => {
    const a = io();
    expect(await main(['--help'], a.io)).toBe(0);
    expect(a.o.out).toMatch(/Usage: kernmod <command>/);
    const b = io();
    expect(await main(['frobnicate'], b.io)).toBe(1);
    expect(b.o.err).toMatch(/unknown command 'frobnicate'/);
  });
});
