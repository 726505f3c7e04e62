// probe() and remove() (lib/modprobe/probe.ts, remove.ts) driven through the FAKE kernel — a
// simulation of init_module/finit_module/delete_module (lib/backend/fake.ts) that enforces "dependencies
// first" (ENOENT otherwise) and "no unload while held" (EAGAIN). It proves the ordering and concurrency
// logic, not anything about a real kernel; the kernel suite (test/kernel/main/modprobe.test.ts) does that.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { bind, type Kernmod } from '../../lib/kernmod.js';
import { Modprobe } from '../../lib/modprobe/modprobe.js';
import type { StepResult } from '../../lib/modprobe/probe.js';
import { syncSysfs, tempDir, withSysfs, writeTree, type TreeSpec } from './modprobe-helpers.js';

const SPEC: TreeSpec = {
  modules: {
    t: { deps: ['a', 'c'], aliases: ['thing-t'] },
    a: { deps: ['b'] },
    b: {},
    c: {},
    s1: {},
    s2: {},
    inst: {},
    bad: { deps: ['b'] },
  },
  builtin: ['bi'],
  softdep: 'softdep a pre: s2\n',
};

interface Setup {
  mp: Modprobe;
  kernel: FakeKernel;
  km: Kernmod;
  root: string;
  dir: string;
  /** Load events, in the order the fake kernel received them, with overlap tracking. */
  events: Array<{ module: string; start: number; end: number }>;
  maxInFlight: () => number;
}

function setup(opts: { conf?: string; delayMs?: number; spec?: TreeSpec } = {}): Setup {
  const root = tempDir('probe');
  const dir = writeTree(join(root, 'lib/modules/1.0-test'), opts.spec ?? SPEC);
  const conf = join(root, 'modprobe.d');
  mkdirSync(conf);
  writeFileSync(join(conf, 't.conf'), opts.conf ?? '');
  const kernel = new FakeKernel({ delayMs: opts.delayMs ?? 0 });
  const base = withSysfs(bind(createFakeBackend(kernel)), kernel, root);
  const events: Setup['events'] = [];
  let inFlight = 0;
  let max = 0;
  const t0 = performance.now();
  const km: Kernmod = {
    ...base,
    loadModule: async (src, o) => {
      inFlight++;
      max = Math.max(max, inFlight);
      const start = performance.now() - t0;
      try {
        return await base.loadModule(src, o);
      } finally {
        inFlight--;
        events.push({ module: String(src).replace(/^.*\//, '').replace(/\.ko$/, ''), start, end: performance.now() - t0 });
      }
    },
  };
  const mp = Modprobe.openSync({ root, release: '1.0-test', config: [conf], cmdline: false, sysRoot: root });
  return { mp, kernel, km, root, dir, events, maxInFlight: () => max };
}

const byModule = (steps: StepResult[]) => Object.fromEntries(steps.map((s) => [s.module, s]));

describe('probe (fake kernel simulation)', () => {
  it('loads the target, its dependencies and softdeps, every module after what it needs', async () => {
    const s = setup();
    const r = await s.mp.probe('t', { kernmod: s.km });
    expect(r.ok).toBe(true);
    expect(r.steps.map((x) => [x.module, x.outcome])).toEqual([
      ['b', 'done'],
      ['s2', 'done'],
      ['a', 'done'],
      ['c', 'done'],
      ['t', 'done'],
    ]);
    expect([...s.kernel.modules.keys()].sort()).toEqual(['a', 'b', 'c', 's2', 't']);
    // the fake refuses a module whose dependencies are not loaded, so success proves the order
    expect(s.kernel.calls.filter((c) => c.ret !== 0)).toEqual([]);
    const first = byModule(r.steps);
    expect(first.t).toMatchObject({ action: 'insmod', path: `${s.dir}/kernel/t.ko`, params: '', required: true });
    expect(first.t!.ms).toBeGreaterThanOrEqual(0);
  });

  it("independent modules load concurrently; concurrency: 1 loads in kmod's order, one at a time", async () => {
    const par = setup({ delayMs: 30 });
    const r = await par.mp.probe('t', { kernmod: par.km });
    expect(r.ok).toBe(true);
    const ev = Object.fromEntries(par.events.map((e) => [e.module, e]));
    // b, s2 and c depend on nothing: all three are in flight together; a waits for b and s2 to finish,
    // t for a and c.
    expect(Math.max(ev.b!.start, ev.s2!.start, ev.c!.start)).toBeLessThan(Math.min(ev.b!.end, ev.s2!.end, ev.c!.end));
    expect(ev.a!.start).toBeGreaterThanOrEqual(Math.max(ev.b!.end, ev.s2!.end));
    expect(ev.t!.start).toBeGreaterThanOrEqual(Math.max(ev.a!.end, ev.c!.end));
    expect(par.maxInFlight()).toBe(3);
    expect(r.steps.every((x) => x.startedAt >= 0 && x.ms >= 0)).toBe(true);

    const seq = setup({ delayMs: 5 });
    await seq.mp.probe('t', { kernmod: seq.km, concurrency: 1 });
    expect(seq.maxInFlight()).toBe(1);
    expect(seq.events.map((e) => e.module)).toEqual(['b', 's2', 'a', 'c', 't']);
  });

  it('a module shared by several steps loads once', async () => {
    const s = setup({ conf: 'softdep t pre: s1\nsoftdep s1 pre: b\n' });
    const r = await s.mp.probe('t', { kernmod: s.km });
    expect(r.ok).toBe(true);
    expect(s.kernel.calls.filter((c) => c.name === 'b')).toHaveLength(1);
    expect(r.steps.filter((x) => x.module === 'b')).toHaveLength(1);
  });

  it('skips modules already loaded; an EEXIST race counts as loaded unless firstTime for the target', async () => {
    const s = setup();
    await s.km.loadModule(join(s.dir, 'kernel/b.ko'));
    const r = await s.mp.probe('t', { kernmod: s.km });
    expect(byModule(r.steps).b).toMatchObject({ action: 'loaded', outcome: 'already-loaded' });
    expect(s.kernel.calls.filter((c) => c.name === 'b')).toHaveLength(1);

    // Another loader wins the race: the fake has c, sysfs does not show it yet.
    const race = setup();
    race.kernel.load(FakeKernel.image('c'), '', 0, 'finit_module');
    const r2 = await race.mp.probe('t', { kernmod: race.km });
    expect(r2.ok).toBe(true);
    expect(byModule(r2.steps).c).toMatchObject({ action: 'insmod', outcome: 'already-loaded' });

    const ft = setup();
    ft.kernel.load(FakeKernel.image('lonely_target'), '', 0, 'finit_module');
    const spec: TreeSpec = { modules: { lonely_target: {} } };
    writeTree(ft.dir, spec);
    const mp = Modprobe.openSync({ dirname: ft.dir, config: [], cmdline: false, sysRoot: ft.root });
    const r3 = await mp.probe('lonely_target', { kernmod: ft.km, firstTime: true });
    expect(r3.ok).toBe(false);
    expect(r3.error).toMatchObject({ code: 'EEXIST' });
    // already visible in sysfs: nothing to do, and with firstTime an EEXIST error without a syscall
    syncSysfs(ft.kernel, ft.root);
    expect((await mp.probe('lonely_target', { kernmod: ft.km })).steps).toEqual([]);
    expect((await mp.probe('lonely_target', { kernmod: ft.km, firstTime: true })).error).toMatchObject({
      code: 'EEXIST',
      message: "could not insert 'lonely_target': Module already in kernel",
    });
  });

  it('a failing required module stops what has not started; a failing softdep does not', async () => {
    const s = setup({ delayMs: 10 });
    writeFileSync(join(s.dir, 'kernel/c.ko'), 'not an ELF file');
    const r = await s.mp.probe('t', { kernmod: s.km });
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ code: 'ENOEXEC', module: 'c', syscall: 'finit_module' });
    const st = byModule(r.steps);
    expect(st.c).toMatchObject({ outcome: 'failed', required: true });
    expect(st.t).toMatchObject({ outcome: 'cancelled' });
    expect(s.kernel.modules.has('t')).toBe(false);

    const soft = setup();
    writeFileSync(join(soft.dir, 'kernel/s2.ko'), 'garbage');
    const r2 = await soft.mp.probe('t', { kernmod: soft.km });
    expect(r2.ok).toBe(true);
    expect(byModule(r2.steps).s2).toMatchObject({
      outcome: 'failed',
      required: false,
      error: expect.objectContaining({ code: 'ENOEXEC' }),
    });
    expect(soft.kernel.modules.has('t')).toBe(true);
  });

  it('passes merged options to the kernel, and force flags as finit_module flags', async () => {
    const s = setup({ conf: 'options t a=1\noptions c c=2\n' });
    await s.mp.probe('t', { kernmod: s.km, params: 'b="x y"', ignoreVermagic: true });
    expect(s.kernel.modules.get('t')).toMatchObject({ params: 'a=1 b="x y"', flags: 2 });
    expect(s.kernel.modules.get('c')).toMatchObject({ params: 'c=2 ', flags: 2 });
  });

  it('runs install commands through /bin/sh with MODPROBE_MODULE and $CMDLINE_OPTS', async () => {
    const out = join(tempDir('inst'), 'ran');
    const s = setup({ conf: `install inst echo "$MODPROBE_MODULE [$CMDLINE_OPTS]" > ${out}\noptions inst o=1\n` });
    const r = await s.mp.probe('inst', { kernmod: s.km, params: 'p=2' });
    expect(r.ok).toBe(true);
    expect(r.steps).toMatchObject([{ module: 'inst', action: 'install', outcome: 'done' }]);
    expect(readFileSync(out, 'utf8')).toBe('inst [o=1 p=2]\n');
    expect(s.kernel.calls).toEqual([]);

    const f = setup({ conf: 'install inst exit 3\n' });
    const r2 = await f.mp.probe('inst', { kernmod: f.km });
    expect(r2.error).toMatchObject({
      code: 'ERR_KERNMOD_INSTALL_COMMAND',
      message: "Error running install command 'exit 3' for module inst: retcode 3",
    });
  });

  it('caller params never become shell syntax in an install command, however the command quotes them', async () => {
    const dir = tempDir('inj');
    const out = join(dir, 'out');
    const pwned = join(dir, 'pwned');
    // $CMDLINE_OPTS unquoted, inside double quotes, and inside single quotes given to a second shell.
    for (const cmd of [`/bin/echo $CMDLINE_OPTS > ${out}`, `echo "[$CMDLINE_OPTS]" > ${out}`, `sh -c 'echo $CMDLINE_OPTS > ${out}'`]) {
      const s = setup({ conf: `install inst ${cmd}\n` });
      const r = await s.mp.probe('inst', { kernmod: s.km, params: `mode=x;id>${pwned};echo` });
      expect(r.ok).toBe(true);
      expect(existsSync(pwned)).toBe(false);
      expect(readFileSync(out, 'utf8')).toContain(`mode=x;id>${pwned};echo`);
    }
  });

  it('validates caller params on every path (install command too) and refuses bad ones before running anything', async () => {
    const dir = tempDir('inj2');
    const pwned = join(dir, 'pwned');
    const s = setup({ conf: `install inst /bin/echo $CMDLINE_OPTS\n` });
    for (const params of [`a$(touch ${pwned})`, 'x=1 x=2', 'b@d=1', 'q="unbalanced', 'a=1 -- b=2']) {
      await expect(s.mp.probe('inst', { kernmod: s.km, params })).rejects.toMatchObject({
        name: 'KernmodError',
        code: 'ERR_KERNMOD_INVALID_PARAMS',
      });
      await expect(s.mp.probe('t', { kernmod: s.km, params })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_PARAMS' });
    }
    expect(existsSync(pwned)).toBe(false);
    expect(s.kernel.calls).toEqual([]);
  });

  it('takes params as an object, like loadModule', async () => {
    const s = setup({ conf: 'options t a=1\n' });
    const r = await s.mp.probe('t', { kernmod: s.km, params: { b: 'x y', n: 3, on: true, arr: [1, 2] } });
    expect(r.ok).toBe(true);
    expect(s.kernel.modules.get('t')?.params).toBe('a=1 b="x y" n=3 on=Y arr=1,2');
    expect(s.mp.resolve('t', { params: { b: 2 }, ignoreLoaded: true }).modules[0]!.steps.at(-1)!.params).toBe('a=1 b=2');
  });

  it("the caller's option replaces a configured one of the same name (the kernel's later value would win)", async () => {
    const s = setup({ conf: 'options t a=1 keep=2 b-c=3\noptions t a=4\n' });
    const r = await s.mp.probe('t', { kernmod: s.km, params: { a: 9, b_c: 'x y' } });
    expect(r.ok).toBe(true);
    expect(s.kernel.modules.get('t')?.params).toBe('keep=2 a=9 b_c="x y"');
    // The plan shows what kmod would pass (-D stays byte-identical); only the load drops the repeat.
    expect(s.mp.resolve('t', { ignoreLoaded: true }).modules[0]!.steps.at(-1)!.params).toBe('a=1 keep=2 b-c=3 a=4 ');
  });

  it("dry run: the plan's steps, nothing loaded; blacklisted aliases do nothing", async () => {
    const s = setup({ conf: 'blacklist t\n' });
    const r = await s.mp.probe('t', { kernmod: s.km, dryRun: true });
    expect(r.steps.map((x) => x.outcome)).toEqual(['dry-run', 'dry-run', 'dry-run', 'dry-run', 'dry-run']);
    expect(s.kernel.calls).toEqual([]);
    const b = await s.mp.probe('thing-t', { kernmod: s.km });
    expect(b).toMatchObject({ ok: true, steps: [] });
    expect(b.plan.modules[0]!.status).toBe('blacklisted');
    expect(s.kernel.calls).toEqual([]);
  });
});

describe('remove (fake kernel simulation)', () => {
  it("removes the module, then every dependency it left unused (users first), not its deps' softdeps", async () => {
    const s = setup();
    await s.mp.probe('t', { kernmod: s.km });
    const r = await s.mp.remove('t', { kernmod: s.km });
    expect(r.ok).toBe(true);
    // kmod walks dependencies in load order (b, a, c) and leaves b behind because a still holds it;
    // in reverse order a goes first and b is free when its turn comes.
    expect(r.steps.map((x) => [x.module, x.role, x.outcome])).toEqual([
      ['t', 'target', 'done'],
      ['c', 'dependency', 'done'],
      ['a', 'dependency', 'done'],
      ['b', 'dependency', 'done'],
    ]);
    expect([...s.kernel.modules.keys()]).toEqual(['s2']); // a's softdep stays, as with kmod
  });

  it('post-softdeps go first (last first), pre-softdeps last; a dependency still used elsewhere stays', async () => {
    const s = setup({ conf: 'softdep t pre: s1 post: inst\n' });
    await s.mp.probe('t', { kernmod: s.km });
    await s.km.loadModule(join(s.dir, 'kernel/bad.ko')); // bad also uses b
    const r = await s.mp.remove('t', { kernmod: s.km });
    expect(r.steps.map((x) => x.module)).toEqual(['inst', 't', 'c', 'a', 's1']);
    expect([...s.kernel.modules.keys()].sort()).toEqual(['b', 'bad', 's2']);
  });

  it('refuses a module in use (EBUSY, naming the holders); removeHolders takes the holders out first', async () => {
    const s = setup();
    await s.mp.probe('t', { kernmod: s.km });
    const busy = await s.mp.remove('a', { kernmod: s.km });
    expect(busy.ok).toBe(false);
    expect(busy.error).toMatchObject({ code: 'EBUSY', message: 'Module a is in use.', hint: expect.stringContaining('used by t') });
    expect(s.kernel.modules.has('a')).toBe(true);

    const r = await s.mp.remove('a', { kernmod: s.km, removeHolders: true });
    expect(r.ok).toBe(true);
    // t goes as a holder and takes its unused dependencies (a among them) with it; a is then done
    // but for its own pre-softdep s2.
    expect(r.steps.map((x) => [x.module, x.role])).toEqual([
      ['t', 'holder'],
      ['c', 'dependency'],
      ['a', 'dependency'],
      ['b', 'dependency'],
      ['s2', 'softdep'],
    ]);
    expect([...s.kernel.modules.keys()]).toEqual([]);
  });

  it('wait retries while the module is in use', async () => {
    const s = setup();
    await s.mp.probe('c', { kernmod: s.km });
    s.kernel.modules.get('c')!.refcnt = 1; // e.g. an open device
    syncSysfs(s.kernel, s.root);
    setTimeout(() => {
      s.kernel.modules.get('c')!.refcnt = 0;
    }, 60);
    const r = await s.mp.remove('c', { kernmod: s.km, wait: 2000 });
    expect(r.ok).toBe(true);
    expect(s.kernel.calls.filter((c) => c.syscall === 'delete_module' && c.ret === -11).length).toBeGreaterThan(0);
  });

  it('remove commands, builtins, modules not loaded, unknown names, dry run', async () => {
    const out = join(tempDir('rm'), 'ran');
    const s = setup({ conf: `remove c echo "$MODPROBE_MODULE" > ${out}\n` });
    expect((await s.mp.remove('c', { kernmod: s.km })).steps).toMatchObject([{ module: 'c', action: 'remove', outcome: 'done' }]);
    expect(readFileSync(out, 'utf8')).toBe('c\n');

    expect((await s.mp.remove('bi', { kernmod: s.km })).error).toMatchObject({
      code: 'ERR_KERNMOD_BUILTIN',
      message: 'Module bi is builtin.',
    });
    expect(await s.mp.remove('b', { kernmod: s.km })).toMatchObject({
      ok: true,
      steps: [],
      skipped: [{ module: 'b', reason: 'not-loaded' }],
    });
    expect((await s.mp.remove('b', { kernmod: s.km, firstTime: true })).error).toMatchObject({ message: 'Module b is not in kernel.' });
    await expect(s.mp.remove('nope', { kernmod: s.km })).rejects.toMatchObject({
      code: 'ERR_KERNMOD_NOT_FOUND',
      message: 'Module nope not found.',
    });

    await s.mp.probe('t', { kernmod: s.km });
    const calls = s.kernel.calls.length;
    const dry = await s.mp.remove('t', { kernmod: s.km, dryRun: true });
    expect(dry.steps.map((x) => [x.module, x.outcome])).toEqual([
      ['t', 'dry-run'],
      ['c', 'dry-run'],
      ['a', 'dry-run'],
      ['b', 'dry-run'],
    ]);
    expect(s.kernel.calls.length).toBe(calls);
  });

  it('a softdep cycle (a post: b, b post: a) is removed once each, not recursed into forever', async () => {
    const s = setup({ conf: 'softdep s1 post: s2\nsoftdep s2 post: s1\nsoftdep c pre: c\n' });
    await s.km.loadModule(join(s.dir, 'kernel/s1.ko'));
    await s.km.loadModule(join(s.dir, 'kernel/s2.ko'));
    await s.km.loadModule(join(s.dir, 'kernel/c.ko'));
    const r = await s.mp.remove('s1', { kernmod: s.km });
    expect(r.ok).toBe(true);
    expect(r.steps.map((x) => [x.module, x.role])).toEqual([
      ['s2', 'softdep'],
      ['s1', 'target'],
    ]);
    const c = await s.mp.remove('c', { kernmod: s.km });
    expect(c.steps.map((x) => x.module)).toEqual(['c']);
    expect([...s.kernel.modules.keys()]).toEqual([]);
  });

  it('a loaded module absent from the module directory is removed by its name', async () => {
    const s = setup();
    s.kernel.load(FakeKernel.image('out_of_tree'), '', 0, 'finit_module');
    syncSysfs(s.kernel, s.root);
    const r = await s.mp.remove('out-of-tree', { kernmod: s.km });
    expect(r.steps).toMatchObject([{ module: 'out_of_tree', outcome: 'done' }]);
    expect(existsSync(join(s.root, 'sys/module/out_of_tree'))).toBe(false);
  });
});
