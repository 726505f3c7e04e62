// Planning (lib/modprobe/resolve.ts) on synthetic module trees: the order kmod would load in, softdep
// placement, blacklist, options, install commands, built-ins, already-loaded modules, and the DAG edges
// probe() uses to load independent modules concurrently.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Modprobe } from '../../lib/modprobe/modprobe.js';
import { formatPlan } from '../../lib/modprobe/format.js';
import type { Plan } from '../../lib/modprobe/resolve.js';
import { tempDir, writeTree, type TreeSpec } from './modprobe-helpers.js';

const SPEC: TreeSpec = {
  modules: {
    // t needs a and c; a needs b. modules.dep says `kernel/t.ko: kernel/c.ko kernel/a.ko kernel/b.ko`,
    // which loads in reverse: b, a, c.
    t: { deps: ['a', 'c'], aliases: ['thing-t', 'pci:v0000BEEFd*'] },
    a: { deps: ['b'] },
    b: {},
    c: {},
    s1: { deps: ['b'] }, // a softdep with a dependency shared with t
    s2: {},
    p: { aliases: ['pci:v0000BEEFd0001*'] }, // a second module for the same pci device
    inst: { aliases: ['run-me'] },
    lonely: {},
    dash_mod: { file: 'kernel/drivers/dash-mod.ko.xz' },
  },
  builtin: ['bi', 'bi2'],
  builtinModinfo: [
    ['bi', 'alias', 'fs-bi'],
    ['bi', 'license', 'GPL'],
  ],
  softdep: 'softdep a pre: s2 post: lonely\n',
};

function setup(opts: { conf?: string; bin?: boolean; cmdline?: string; sys?: string[] } = {}) {
  const root = tempDir('resolve');
  const dir = writeTree(join(root, 'lib/modules/1.0-test'), { ...SPEC, bin: opts.bin ?? false });
  const conf = join(root, 'modprobe.d');
  mkdirSync(conf);
  if (opts.conf !== undefined) writeFileSync(join(conf, 't.conf'), opts.conf);
  const cmdlinePath = join(root, 'cmdline');
  writeFileSync(cmdlinePath, opts.cmdline ?? '');
  for (const m of opts.sys ?? []) {
    mkdirSync(join(root, 'sys/module', m), { recursive: true });
    writeFileSync(join(root, 'sys/module', m, 'initstate'), 'live\n');
  }
  const mp = Modprobe.openSync({ root, release: '1.0-test', config: [conf], cmdline: cmdlinePath, sysRoot: root });
  return { mp, dir, root };
}

const order = (p: Plan) => p.modules.flatMap((m) => m.steps.map((s) => s.module));
const line = (p: Plan) => formatPlan(p);

describe('resolve: load order', () => {
  it('dependencies come in load order (modules.dep reversed), the target last', () => {
    const { mp, dir } = setup();
    const plan = mp.resolve('t', { ignoreLoaded: true });
    // a's pre-softdep s2 comes right before a, its post-softdep lonely right after.
    expect(readFileSync(join(dir, 'modules.dep'), 'utf8').split('\n')[0]).toBe('kernel/t.ko: kernel/c.ko kernel/a.ko kernel/b.ko');
    expect(order(plan)).toEqual(['b', 's2', 'a', 'lonely', 'c', 't']);
    expect(line(plan)).toBe(['b', 's2', 'a', 'lonely', 'c', 't'].map((m) => `insmod ${dir}/kernel/${m}.ko \n`).join(''));
    const t = plan.modules[0]!;
    expect(t).toMatchObject({ module: 't', status: 'ok' });
    expect(t.steps.map((s) => [s.module, s.role, s.required])).toEqual([
      ['b', 'dependency', true],
      ['s2', 'softdep', false],
      ['a', 'dependency', true],
      ['lonely', 'softdep', false],
      ['c', 'dependency', true],
      ['t', 'target', true],
    ]);
  });

  it('DAG edges: each step waits only for what it needs', () => {
    const { mp } = setup();
    const steps = Object.fromEntries(mp.resolve('t', { ignoreLoaded: true }).modules[0]!.steps.map((s) => [s.module, s.after.sort()]));
    expect(steps).toEqual({ c: [], b: [], s2: [], a: ['b', 's2'], lonely: ['a'], t: ['a', 'b', 'c'] });
  });

  it('target softdeps go around the target; a shared dependency is listed again but planned once', () => {
    const { mp } = setup({ conf: 'softdep t pre: s1 post: s2\n' });
    const steps = mp.resolve('t', { ignoreLoaded: true }).modules[0]!.steps;
    // s1's own dependency b is listed again (kmod does that too; loading it the second time is a no-op)
    expect(steps.map((s) => s.module + (s.repeat ? '(again)' : ''))).toEqual(['b', 's2', 'a', 'lonely', 'c', 'b(again)', 's1', 't']);
    // s2 is t's post-softdep but was visited already (a's pre-softdep): kmod does not list it twice.
    expect(steps.find((s) => s.module === 't')!.after.sort()).toEqual(['a', 'b', 'c', 's1']);
  });

  it('an alias naming two modules gives two probes, in kmod order; paths keep their real file names', () => {
    const { mp, dir } = setup();
    const plan = mp.resolve('pci:v0000BEEFd0001sv0', { ignoreLoaded: true });
    expect(plan.modules.map((m) => [m.module, m.alias])).toEqual([
      ['t', 'pci:v0000BEEFd0001sv0'],
      ['p', 'pci:v0000BEEFd0001sv0'],
    ]);
    expect(mp.resolve('dash-mod', { ignoreLoaded: true }).modules[0]!.steps[0]!.path).toBe(`${dir}/kernel/drivers/dash-mod.ko.xz`);
  });

  it('text-only and .bin trees give the same plans', () => {
    const text = setup({ bin: false });
    const bin = setup({ bin: true });
    expect(bin.mp.moduleDirectory.formats.dep).toBe('bin');
    expect(text.mp.moduleDirectory.formats.dep).toBe('text');
    for (const q of ['t', 'a', 'thing-t', 'lonely', 'dash_mod', 'bi']) {
      const a = text.mp.resolve(q, { ignoreLoaded: true });
      const b = bin.mp.resolve(q, { ignoreLoaded: true });
      expect(formatPlan(a).replaceAll(text.dir, 'D')).toBe(formatPlan(b).replaceAll(bin.dir, 'D'));
    }
  });
});

describe('resolve: lookup', () => {
  it('name, alias (with - as _), built-in, built-in alias, config alias; unknown names fail', () => {
    const { mp } = setup({ conf: 'alias my-t t\nalias wild* lonely\n' });
    expect(mp.lookup('t')).toEqual([{ module: 't', source: 'modules.dep' }]);
    expect(mp.lookup('thing_t')).toEqual([{ module: 't', alias: 'thing_t', source: 'modules.alias' }]);
    expect(mp.lookup('bi')).toEqual([{ module: 'bi', source: 'modules.builtin' }]);
    expect(mp.lookup('fs-bi')).toEqual([{ module: 'bi', alias: 'fs_bi', source: 'builtin-alias' }]);
    expect(mp.lookup('my-t')).toEqual([{ module: 't', alias: 'my_t', source: 'config-alias' }]);
    expect(mp.lookup('wildcard')).toEqual([{ module: 'lonely', alias: 'wild*', source: 'config-alias' }]);
    expect(mp.lookup('nope')).toEqual([]);
    expect(() => mp.resolve('nope')).toThrow(
      expect.objectContaining({
        code: 'ERR_KERNMOD_NOT_FOUND',
        message: expect.stringMatching(/^Module nope not found in directory .*\/lib\/modules\/1\.0-test$/),
      }),
    );
  });

  it('a query that is not a string, or holds NUL, is ERR_KERNMOD_INVALID_NAME on every entry point', async () => {
    const { mp } = setup();
    const invalid = expect.objectContaining({ name: 'KernmodError', code: 'ERR_KERNMOD_INVALID_NAME' });
    for (const q of ['t\0x', '/tmp/x\0.ko', undefined, 42, null] as unknown as string[]) {
      expect(() => mp.lookup(q)).toThrow(invalid);
      expect(() => mp.lookupAlias(q)).toThrow(invalid);
      expect(() => mp.lookupName(q)).toThrow(invalid);
      expect(() => mp.resolve(q)).toThrow(invalid);
      await expect(mp.remove(q, { kernmod: {} as never })).rejects.toThrow(invalid);
    }
  });

  it("modinfo's lookups: no paths, an invalid alias apart from a missing one, and -m by name only", () => {
    const { mp } = setup({ conf: 'alias my-t t\n' });
    expect(mp.lookupAlias('thing-t')).toEqual([{ module: 't', alias: 'thing_t', source: 'modules.alias' }]);
    expect(mp.lookupAlias('./t.ko')).toEqual([]); // modprobe would take it as a path; modinfo as an alias
    expect(mp.lookupAlias('nope')).toEqual([]);
    expect(mp.lookupAlias('bad]')).toBeUndefined();
    expect(mp.lookupName('t.ko')).toEqual({ module: 't', source: 'modules.dep' });
    expect(mp.lookupName('fs-bi')).toEqual({ module: 'bi', alias: 'fs_bi', source: 'builtin-alias' }); // kmod tries built-in aliases too
    expect(mp.lookupName('thing-t')).toBeUndefined();
    expect(mp.lookupName('my-t')).toBeUndefined();
  });

  it('built-in modules: a builtin step with --show-depends, nothing to do otherwise', () => {
    const { mp } = setup();
    expect(line(mp.resolve('bi', { ignoreLoaded: true }))).toBe('builtin bi\n');
    expect(mp.resolve('bi').modules[0]!.status).toBe('builtin');
    expect(line(mp.resolve('bi'))).toBe('');
  });

  it('a config alias to a module that does not exist plans a missing step (kmod prints nothing for it)', () => {
    const { mp } = setup({ conf: 'alias ghost no_such_module\n' });
    const plan = mp.resolve('ghost', { ignoreLoaded: true });
    expect(plan.modules[0]!.steps).toMatchObject([{ module: 'no_such_module', action: 'missing' }]);
    expect(line(plan)).toBe('');
  });
});

describe('resolve: blacklist, options, install', () => {
  it('blacklist applies to aliases only, and to names with useBlacklist (-b)', () => {
    const { mp } = setup({ conf: 'blacklist t\n' });
    expect(mp.resolve('t', { ignoreLoaded: true }).modules[0]!.status).toBe('ok');
    expect(mp.resolve('thing-t', { ignoreLoaded: true }).modules[0]!.status).toBe('blacklisted');
    expect(mp.resolve('t', { ignoreLoaded: true, useBlacklist: true }).modules[0]!.status).toBe('blacklisted');
    // dependencies are not filtered: blacklisting c does not stop t
    const dep = setup({ conf: 'blacklist c\n' }).mp.resolve('thing-t', { ignoreLoaded: true });
    expect(order(dep)).toContain('c');
  });

  it("options: config lines for the name and for the alias used, then the caller's, for the target only", () => {
    const { mp } = setup({ conf: 'options t a=1\noptions thing_t b=2\noptions c c=3\noptions t \\\n  d=4\n', cmdline: 't.e=5 c.f=6\n' });
    const steps = (q: string, params?: string) =>
      Object.fromEntries(
        mp.resolve(q, { ignoreLoaded: true, ...(params ? { params } : {}) }).modules[0]!.steps.map((s) => [s.module, s.params]),
      );
    expect(steps('t')).toMatchObject({ c: 'c=3 f=6 ', t: 'a=1   d=4 e=5 ' });
    expect(steps('thing-t', 'x=9 y="a b"')).toMatchObject({ c: 'c=3 f=6 ', t: 'a=1 b=2   d=4 e=5 x=9 y="a b"' });
    expect(steps('lonely', 'z=1')).toMatchObject({ lonely: 'z=1' }); // no config options: no trailing space
    expect(steps('lonely')).toMatchObject({ lonely: '' });
  });

  it('install commands replace loading, unless the module has softdeps or ignoreInstall is set', () => {
    const { mp, dir } = setup({
      conf: 'install inst /bin/echo hi $CMDLINE_OPTS\noptions inst o=1\ninstall a /bin/false\ninstall run-me /bin/true\n',
    });
    expect(line(mp.resolve('inst', { ignoreLoaded: true, params: 'p=2' }))).toBe('install /bin/echo hi $CMDLINE_OPTS o=1 p=2\n');
    expect(line(mp.resolve('inst', { ignoreLoaded: true, ignoreInstall: true }))).toBe(`insmod ${dir}/kernel/inst.ko o=1 \n`);
    // a has softdeps (s2, lonely): kmod ignores its install command
    expect(order(mp.resolve('a', { ignoreLoaded: true }))).toEqual(['b', 's2', 'a', 'lonely']);
    expect(line(mp.resolve('a', { ignoreLoaded: true }))).not.toContain('/bin/false');
    // an install line for a name no module has: found through the install command itself
    expect(mp.lookup('run-me')).toEqual([{ module: 'run_me', source: 'install-command' }]);
  });

  it('install steps run alone: they wait for every earlier step and every later step waits for them', () => {
    const { mp } = setup({ conf: 'install c /bin/true\n' });
    const steps = Object.fromEntries(mp.resolve('t', { ignoreLoaded: true }).modules[0]!.steps.map((s) => [s.module, s.after.sort()]));
    expect(steps).toMatchObject({ b: [], s2: [], a: ['b', 's2'], lonely: ['a'], c: ['a', 'b', 'lonely', 's2'], t: ['a', 'b', 'c'] });
  });

  it('weakdeps are reported, not planned', () => {
    const { mp } = setup({ conf: 'weakdep t lonely s1\n' });
    const t = mp.resolve('t', { ignoreLoaded: true }).modules[0]!.steps.find((s) => s.module === 't')!;
    expect(t.weakdeps).toEqual(['lonely', 's1']);
    expect(order(mp.resolve('t', { ignoreLoaded: true }))).not.toContain('s1');
  });
});

describe('resolve: the running kernel (sysfs under a test root)', () => {
  it('modules already live are "loaded" steps; a live target needs nothing', () => {
    const { mp } = setup({ sys: ['b', 'lonely'] });
    const steps = mp.resolve('t').modules[0]!.steps;
    expect(steps.map((s) => [s.module, s.action])).toEqual([
      ['b', 'loaded'],
      ['s2', 'insmod'],
      ['a', 'insmod'],
      ['lonely', 'loaded'],
      ['c', 'insmod'],
      ['t', 'insmod'],
    ]);
    expect(setup({ sys: ['t'] }).mp.resolve('t').modules[0]).toMatchObject({ status: 'loaded', steps: [] });
    // --show-depends ignores the kernel
    expect(setup({ sys: ['t'] }).mp.resolve('t', { ignoreLoaded: true }).modules[0]!.status).toBe('ok');
  });
});
