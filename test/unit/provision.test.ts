// Desired state (lib/provision): the spec check, the planner, the persisted files and ensure() as a
// whole, against scratch directories and a SIMULATED system (an in-memory stand-in for the kernel:
// which modules exist, which are loaded, their sysfs parameters). Real kernels: test/kernel/main/provision.test.ts.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KernmodError } from '../../lib/errors.js';
import { getParameters, getParametersSync, setParameter, setParameterSync, type ParameterInfo } from '../../lib/linux/parameters.js';
import { ensure } from '../../lib/provision/ensure.js';
import { readFileState, removeOwnedFile, writeOwnedFile } from '../../lib/provision/files.js';
import { planModule, sameValue, type ModuleSnapshot } from '../../lib/provision/plan.js';
import { MARKER } from '../../lib/provision/render.js';
import { checkSpec, parseSpecText, type ModuleSpec } from '../../lib/provision/spec.js';
import type { ProvisionSystem } from '../../lib/provision/system.js';

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kernmod-provision-'));
  scratch.push(d);
  return d;
}

/** An image root with a module tree (names given to ensure() with imageRoot are looked up there). */
function imageWithTree(): string {
  const root = tmp();
  mkdirSync(join(root, 'lib/modules/6.1.0-image'), { recursive: true });
  writeFileSync(
    join(root, 'lib/modules/6.1.0-image/modules.dep'),
    'kernel/drivers/block/loop.ko:\nkernel/net/8021q/8021q.ko:\nkernel/only_in_the_image.ko:\n',
  );
  return root;
}

interface SimModule {
  found: 'module' | 'builtin';
  loaded: boolean;
  params: Record<string, ParameterInfo>;
  /** Parameters a load sets: name -> { value on load, writable } (the value is replaced by the load's params). */
  declares?: Record<string, { value: string; writable: boolean }>;
  failLoad?: boolean;
}

/** A simulated system: what ensure() sees and does, recorded in `calls`. */
class SimSystem implements ProvisionSystem {
  calls: string[] = [];
  constructor(readonly modules: Record<string, SimModule>) {}
  async find(m: string) {
    return this.modules[m]?.found;
  }
  loaded(m: string) {
    return this.modules[m]?.loaded ?? false;
  }
  async parameters(m: string) {
    return structuredClone(this.modules[m]?.params ?? {});
  }
  async load(m: string, params: string) {
    this.calls.push(`load ${m}${params ? ` ${params}` : ''}`);
    const mod = this.modules[m]!;
    if (mod.failLoad)
      throw new KernmodError({
        code: 'EINVAL',
        errno: -22,
        module: m,
        phase: 'load',
        message: `EINVAL: invalid argument, finit_module '${m}'`,
      });
    mod.loaded = true;
    mod.params = {};
    for (const [k, d] of Object.entries(mod.declares ?? {})) mod.params[k] = { value: d.value, writable: d.writable };
    for (const tok of params.split(' ').filter(Boolean)) {
      const [k, v] = tok.split('=') as [string, string];
      if (mod.params[k]) mod.params[k]!.value = v;
    }
  }
  async unload(m: string) {
    this.calls.push(`unload ${m}`);
    this.modules[m]!.loaded = false;
    this.modules[m]!.params = {};
  }
  async setParameter(m: string, p: string, v: string) {
    this.calls.push(`set ${m}.${p}=${v}`);
    this.modules[m]!.params[p]!.value = v;
  }
}

function sim(): SimSystem {
  return new SimSystem({
    loop: {
      found: 'module',
      loaded: false,
      params: {},
      declares: { max_loop: { value: '0', writable: false }, max_part: { value: '0', writable: false } },
    },
    '8021q': { found: 'module', loaded: false, params: {} },
    dummy: { found: 'module', loaded: true, params: { numdummies: { value: '1', writable: false } } },
    pcspkr: { found: 'module', loaded: true, params: {} },
    dm_mod: {
      found: 'module',
      loaded: true,
      params: { reserved_bio_based_ios: { value: '16', writable: true }, stats_current_allocated_bytes: { value: '0', writable: false } },
    },
    unix: { found: 'builtin', loaded: false, params: {} },
  });
}

function dirs() {
  const d = tmp();
  return { loadDir: join(d, 'modules-load.d'), configDir: join(d, 'modprobe.d') };
}

const EVERY_STATE = {
  loop: { state: 'installed', params: { max_loop: 8 } },
  '8021q': 'loaded',
  dummy: { state: 'blacklisted' },
  pcspkr: { state: 'disabled' },
} as const;

describe('spec', () => {
  it('normalises names and params: a bare state, - as _, params as object or string, booleans as Y/N', () => {
    const { modules, problems } = checkSpec({
      'dm-mod': { state: 'loaded', params: { reserved_bio_based_ios: 4, 'swap-bios': true } },
      loop: 'installed',
      nbd: { state: 'installed', params: 'nbds_max=3 x="a b"', reload: true },
    });
    expect(problems).toEqual([]);
    expect(modules).toEqual<ModuleSpec[]>([
      {
        module: 'dm_mod',
        state: 'loaded',
        params: [
          ['reserved_bio_based_ios', '4'],
          ['swap_bios', 'Y'],
        ],
        reload: false,
      },
      { module: 'loop', state: 'installed', params: [], reload: false },
      {
        module: 'nbd',
        state: 'installed',
        params: [
          ['nbds_max', '3'],
          ['x', 'a b'],
        ],
        reload: true,
      },
    ]);
  });

  it('lists every problem of a bad spec, not just the first', () => {
    const { problems } = checkSpec({
      loop: { state: 'present' },
      'a/b': 'loaded',
      nbd: { state: 'installed', params: { 'bad name': 1, q: 'say "hi"' } },
      dummy: { state: 'unloaded', params: { numdummies: 2 }, reload: 'yes', extra: 1 },
      'dm-mod': 'loaded',
      dm_mod: 'loaded',
    });
    expect(problems).toHaveLength(8);
    expect(problems.join('\n')).toMatch(/loop: state "present" is not one of loaded, installed/);
    expect(problems.join('\n')).toMatch(/contains \//);
    expect(problems.join('\n')).toMatch(/nbd: invalid parameter name "bad name"/);
    expect(problems.join('\n')).toMatch(/nbd: parameter q: values cannot contain "/);
    expect(problems.join('\n')).toMatch(/dummy: unknown key "extra"/);
    expect(problems.join('\n')).toMatch(/dummy: params apply only to the states loaded and installed/);
    expect(problems.join('\n')).toMatch(/dummy: reload must be true or false/);
    expect(problems.join('\n')).toMatch(/dm_mod: named twice/);
    expect(checkSpec([]).problems).toHaveLength(1);
    expect(checkSpec('loop').problems).toHaveLength(1);
  });

  it('reads JSON and YAML; refuses text that is neither, and YAML with a key twice', () => {
    expect(parseSpecText('{"loop":"installed"}')).toEqual({ loop: 'installed' });
    expect(parseSpecText('loop:\n  state: installed\n  params:\n    max_loop: 8\n8021q: loaded\n')).toEqual({
      loop: { state: 'installed', params: { max_loop: 8 } },
      '8021q': 'loaded',
    });
    expect(() => parseSpecText('loop: [unclosed')).toThrow(KernmodError);
    expect(() => parseSpecText('loop: loaded\nloop: unloaded\n')).toThrow(/neither JSON nor YAML/);
  });
});

describe('planning', () => {
  const spec = (s: Partial<ModuleSpec>): ModuleSpec => ({ module: 'm', state: 'loaded', params: [], reload: false, ...s });
  const snap = (s: Partial<ModuleSnapshot>): ModuleSnapshot => ({
    found: 'module',
    loaded: false,
    params: {},
    loadFile: { path: '/l/m.conf', content: undefined, ours: true },
    configFile: { path: '/c/m.conf', content: undefined, ours: true },
    ...s,
  });
  const K = { kernel: true, requireKnown: true };

  it('compares parameter values as the kernel shows them: Y/N for bools, decimal for numbers', () => {
    expect(sameValue('1', 'Y')).toBe(true);
    expect(sameValue('on', 'Y')).toBe(true);
    expect(sameValue('off', 'N')).toBe(true);
    expect(sameValue('y', 'N')).toBe(false);
    expect(sameValue('0x10', '16')).toBe(true);
    expect(sameValue('+8', '8')).toBe(true);
    expect(sameValue('8', '9')).toBe(false);
    expect(sameValue('a,b', 'a,b')).toBe(true);
    expect(sameValue('abc', 'abd')).toBe(false);
  });

  it('a writable parameter that differs is set at run time; a read-only one is drift, fixed by a reload only when asked', () => {
    const params = { w: { value: '1', writable: true }, r: { value: '1', writable: false }, same: { value: 'Y', writable: false } };
    const s = spec({
      params: [
        ['w', '2'],
        ['r', '2'],
        ['same', '1'],
        ['hidden', '5'],
      ],
    });
    const p = planModule(s, snap({ loaded: true, params }), K);
    expect(p.actions).toEqual([{ module: 'm', action: 'set-param', param: 'w', before: '1', after: '2', status: 'planned' }]);
    expect(p.drift).toEqual([{ module: 'm', param: 'r', expected: '2', actual: '1', reload: false }]);

    const r = planModule({ ...s, reload: true }, snap({ loaded: true, params }), K);
    expect(r.actions).toEqual([
      { module: 'm', action: 'reload', before: 'loaded', after: 'loaded', params: 'w=2 r=2 same=1 hidden=5', status: 'planned' },
    ]);
    expect(r.drift[0]!.reload).toBe(true);
  });

  it('refuses an unknown module, a built-in one that would need unloading, and a file kernmod did not write', () => {
    expect(planModule(spec({}), snap({ found: undefined }), K).problems[0]).toMatch(/not found/);
    expect(planModule(spec({ state: 'unloaded' }), snap({ found: 'builtin' }), K).problems[0]).toMatch(/built into the kernel/);
    expect(planModule(spec({ state: 'loaded' }), snap({ found: 'builtin' }), K)).toEqual({ actions: [], drift: [], problems: [] });
    const foreign = snap({ loaded: true, loadFile: { path: '/l/m.conf', content: 'm\n', ours: false } });
    expect(planModule(spec({ state: 'installed' }), foreign, K).problems[0]).toMatch(/\/l\/m.conf exists and was not written by kernmod/);
    // Removing: someone else's file is not kernmod's config, and stays without complaint.
    expect(planModule(spec({ state: 'uninstalled' }), foreign, K)).toEqual({
      actions: [{ module: 'm', action: 'unload', before: 'loaded', after: 'unloaded', status: 'planned' }],
      drift: [],
      problems: [],
    });
  });

  it('files only, and no lookups, for an image (kernel: false)', () => {
    const p = planModule(spec({ state: 'installed', params: [['a', '1']] }), snap({ found: undefined }), {
      kernel: false,
      requireKnown: false,
    });
    expect(p.problems).toEqual([]);
    expect(p.actions.map((a) => a.action)).toEqual(['write-file', 'write-file']);
  });
});

describe('persisted files', () => {
  it('writes atomically with the marker first, leaves no temporary file, and never replaces or deletes a file it did not write', () => {
    const d = tmp();
    const f = join(d, 'sub', 'loop.conf');
    writeOwnedFile(f, `${MARKER}\nloop\n`);
    expect(readFileSync(f, 'utf8')).toBe(`${MARKER}\nloop\n`);
    writeOwnedFile(f, `${MARKER}\nloop\n# two\n`);
    expect(readdirSync(join(d, 'sub'))).toEqual(['loop.conf']);
    expect(readFileState(f)).toEqual({ path: f, content: `${MARKER}\nloop\n# two\n`, ours: true });
    removeOwnedFile(f);
    expect(existsSync(f)).toBe(false);
    removeOwnedFile(f); // absent: nothing to do

    const theirs = join(d, 'theirs.conf');
    writeFileSync(theirs, 'options loop max_loop=4\n');
    expect(() => writeOwnedFile(theirs, `${MARKER}\n`)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_NOT_OURS' }));
    expect(() => removeOwnedFile(theirs)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_NOT_OURS' }));
    expect(readFileSync(theirs, 'utf8')).toBe('options loop max_loop=4\n');
  });
});

describe('ensure() on a simulated system', () => {
  it('every state: the kernel actions and the files; a second run changes nothing', async () => {
    const system = sim();
    const { loadDir, configDir } = dirs();
    const r = await ensure(EVERY_STATE, { system, loadDir, configDir });
    expect(r.ok).toBe(true);
    expect(r.changed).toBe(true);
    expect(r.actions.map((a) => `${a.module} ${a.action} ${a.status}`)).toEqual([
      'loop write-file done',
      'loop write-file done',
      'loop load done',
      '8021q load done',
      'dummy write-file done',
      'dummy unload done',
      'pcspkr write-file done',
      'pcspkr unload done',
    ]);
    expect(system.calls).toEqual(['load loop max_loop=8', 'load 8021q', 'unload dummy', 'unload pcspkr']);
    expect(readFileSync(join(loadDir, 'loop.conf'), 'utf8')).toBe(`${MARKER}\nloop\n`);
    expect(readFileSync(join(configDir, 'loop.conf'), 'utf8')).toBe(`${MARKER}\noptions loop max_loop=8\n`);
    expect(readFileSync(join(configDir, 'dummy.conf'), 'utf8')).toBe(`${MARKER}\nblacklist dummy\n`);
    expect(readFileSync(join(configDir, 'pcspkr.conf'), 'utf8')).toBe(`${MARKER}\ninstall pcspkr /bin/false\n`);
    expect(existsSync(join(loadDir, '8021q.conf'))).toBe(false);

    system.calls = [];
    const again = await ensure(EVERY_STATE, { system, loadDir, configDir });
    expect(again).toEqual({ ok: true, changed: false, check: false, actions: [], drift: [] });
    expect(system.calls).toEqual([]);
  });

  it('check mode reports what would change and changes nothing', async () => {
    const system = sim();
    const { loadDir, configDir } = dirs();
    await ensure(EVERY_STATE, { system, loadDir, configDir });
    system.modules['loop']!.loaded = false; // unloaded by hand
    system.calls = [];
    const r = await ensure(EVERY_STATE, { system, loadDir, configDir, check: true });
    expect(r).toMatchObject({
      ok: true,
      changed: true,
      check: true,
      actions: [{ module: 'loop', action: 'load', status: 'planned', params: 'max_loop=8' }],
    });
    expect(system.calls).toEqual([]);
    expect(system.modules['loop']!.loaded).toBe(false);
  });

  it('uninstalled removes only its own files and unloads; installed without params keeps no modprobe.d file', async () => {
    const system = sim();
    const { loadDir, configDir } = dirs();
    await ensure({ loop: { state: 'installed', params: { max_loop: 8 } } }, { system, loadDir, configDir });
    const r = await ensure({ loop: 'installed' }, { system, loadDir, configDir });
    expect(r.actions.map((a) => `${a.action} ${a.path ?? ''}`)).toEqual([`remove-file ${join(configDir, 'loop.conf')}`]);
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, 'loop.conf'), 'options loop max_part=2\n'); // the admin's own file
    const u = await ensure({ loop: 'uninstalled' }, { system, loadDir, configDir });
    expect(u.actions.map((a) => a.action)).toEqual(['remove-file', 'unload']);
    expect(existsSync(join(loadDir, 'loop.conf'))).toBe(false);
    expect(readFileSync(join(configDir, 'loop.conf'), 'utf8')).toBe('options loop max_part=2\n');
  });

  it('a writable parameter is set at run time; a read-only one is drift until reload: true', async () => {
    const system = sim();
    const { loadDir, configDir } = dirs();
    const r = await ensure({ dm_mod: { state: 'loaded', params: { reserved_bio_based_ios: 4 } } }, { system, loadDir, configDir });
    expect(system.calls).toEqual(['set dm_mod.reserved_bio_based_ios=4']);
    expect(r.actions).toEqual([
      { module: 'dm_mod', action: 'set-param', param: 'reserved_bio_based_ios', before: '16', after: '4', status: 'done' },
    ]);

    system.calls = [];
    const drift = await ensure({ dummy: { state: 'loaded', params: { numdummies: 3 } } }, { system, loadDir, configDir });
    expect(drift).toMatchObject({
      ok: true,
      changed: false,
      actions: [],
      drift: [{ module: 'dummy', param: 'numdummies', expected: '3', actual: '1', reload: false }],
    });
    expect(system.calls).toEqual([]);
    const fixed = await ensure({ dummy: { state: 'loaded', params: { numdummies: 3 }, reload: true } }, { system, loadDir, configDir });
    expect(fixed.changed).toBe(true);
    expect(system.calls).toEqual(['unload dummy', 'load dummy numdummies=3']);
  });

  it('a bad spec or an unknown module is refused with every problem, before anything changes', async () => {
    const system = sim();
    const { loadDir, configDir } = dirs();
    const err = await ensure(
      { loop: 'installed', nosuchmod: 'loaded', other_missing: 'installed', '8021q': 'bogus' },
      { system, loadDir, configDir },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_KERNMOD_INVALID_SPEC',
      phase: 'validate',
      problems: [expect.stringMatching(/8021q: state "bogus"/)],
    });
    const err2 = (await ensure(
      { loop: 'installed', nosuchmod: 'loaded', other_missing: 'installed' },
      { system, loadDir, configDir },
    ).catch((e: unknown) => e)) as KernmodError & { problems: string[] };
    expect(err2).toBeInstanceOf(KernmodError);
    expect(err2.problems).toEqual([expect.stringMatching(/nosuchmod: not found/), expect.stringMatching(/other_missing: not found/)]);
    expect(system.calls).toEqual([]);
    expect(existsSync(loadDir)).toBe(false);
    expect(existsSync(configDir)).toBe(false);
  });

  it('a failure half-way reports what was done before it and what was not', async () => {
    const system = sim();
    system.modules['8021q']!.failLoad = true;
    const { loadDir, configDir } = dirs();
    const r = await ensure(EVERY_STATE, { system, loadDir, configDir });
    expect(r.ok).toBe(false);
    expect(r.changed).toBe(true);
    expect(r.error).toMatchObject({ code: 'EINVAL', module: '8021q' });
    expect(r.actions.map((a) => `${a.module} ${a.action} ${a.status}`)).toEqual([
      'loop write-file done',
      'loop write-file done',
      'loop load done',
      '8021q load failed',
      'dummy write-file planned',
      'dummy unload planned',
      'pcspkr write-file planned',
      'pcspkr unload planned',
    ]);
  });

  it('--root: the persisted files under an image root, nothing asked of the running system', async () => {
    const root = imageWithTree();
    const r = await ensure(
      { loop: { state: 'installed', params: 'max_loop=8' }, 'only-in-the-image': 'disabled', '8021q': 'loaded' },
      { imageRoot: root },
    );
    expect(r.ok).toBe(true);
    expect(readFileSync(join(root, 'etc/modules-load.d/loop.conf'), 'utf8')).toBe(`${MARKER}\nloop\n`);
    expect(readFileSync(join(root, 'etc/modprobe.d/loop.conf'), 'utf8')).toBe(`${MARKER}\noptions loop max_loop=8\n`);
    expect(readFileSync(join(root, 'etc/modprobe.d/only_in_the_image.conf'), 'utf8')).toBe(
      `${MARKER}\ninstall only_in_the_image /bin/false\n`,
    );
    expect(r.actions.every((a) => a.action === 'write-file')).toBe(true);
    expect((await ensure({ loop: { state: 'installed', params: 'max_loop=8' } }, { imageRoot: root })).changed).toBe(false);
  });
});

describe('module parameters in sysfs (a scratch /sys)', () => {
  function sysRoot(): string {
    const root = tmp();
    const dir = join(root, 'sys/module/dm_mod/parameters');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'reserved_bio_based_ios'), '16\n');
    writeFileSync(join(dir, 'stats_current_allocated_bytes'), '0\n');
    chmodSync(join(dir, 'stats_current_allocated_bytes'), 0o444);
    mkdirSync(join(root, 'sys/module/noparams'), { recursive: true });
    return root;
  }

  it('reads values and writability; a module without parameters has none; one not loaded is ENOENT', async () => {
    const root = sysRoot();
    const want = {
      reserved_bio_based_ios: { value: '16', writable: true },
      stats_current_allocated_bytes: { value: '0', writable: false },
    };
    expect(getParametersSync('dm-mod', { sysRoot: root })).toEqual(want);
    expect(await getParameters('dm_mod', { sysRoot: root })).toEqual(want);
    expect(getParametersSync('noparams', { sysRoot: root })).toEqual({});
    expect(() => getParametersSync('absent', { sysRoot: root })).toThrow(expect.objectContaining({ code: 'ENOENT', module: 'absent' }));
    await expect(getParameters('absent', { sysRoot: root })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('sets a writable parameter; refuses a read-only one (EACCES even for root), a missing one and bad input; makes no file', async () => {
    const root = sysRoot();
    const dir = join(root, 'sys/module/dm_mod/parameters');
    await setParameter('dm_mod', 'reserved_bio_based_ios', 4, { sysRoot: root });
    expect(readFileSync(join(dir, 'reserved_bio_based_ios'), 'utf8')).toBe('4');
    setParameterSync('dm_mod', 'reserved-bio-based-ios', '8', { sysRoot: root });
    expect(readFileSync(join(dir, 'reserved_bio_based_ios'), 'utf8')).toBe('8');
    await expect(setParameter('dm_mod', 'stats_current_allocated_bytes', 1, { sysRoot: root })).rejects.toMatchObject({
      code: 'EACCES',
      module: 'dm_mod',
      hint: expect.stringMatching(/read-only/),
    });
    expect(() => setParameterSync('dm_mod', 'nosuch', 1, { sysRoot: root })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(existsSync(join(dir, 'nosuch'))).toBe(false);
    expect(() => setParameterSync('dm_mod', '../x', 1, { sysRoot: root })).toThrow(
      expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_PARAMS' }),
    );
    expect(() => setParameterSync('dm_mod', 'reserved_bio_based_ios', '1\n2', { sysRoot: root })).toThrow(
      expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_PARAMS' }),
    );
    expect(() => setParameterSync('a/b', 'x', 1, { sysRoot: root })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_NAME' }));
  });
});

describe('kernmod apply (CLI)', async () => {
  const { applyCommand } = await import('../../lib/cli/apply.js');
  function io() {
    const o = { out: '', err: '' };
    return { o, io: { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) } };
  }
  function specFile(text: string): string {
    const f = join(tmp(), 'spec.yaml');
    writeFileSync(f, text);
    return f;
  }
  const YAML = 'loop:\n  state: installed\n  params: { max_loop: 8 }\n8021q: loaded\ndummy: blacklisted\npcspkr: disabled\n';

  it('applies, then says there is nothing to do; --check exits 2 when something would change, 0 when not', async () => {
    const system = sim();
    const { loadDir, configDir } = dirs();
    const f = specFile(YAML);
    const args = ['--load-dir', loadDir, '--config-dir', configDir, f];
    const a = io();
    expect(await applyCommand(args, a.io, { system })).toBe(0);
    expect(a.o.out).toBe(
      [
        `loop: create ${join(loadDir, 'loop.conf')}`,
        `loop: create ${join(configDir, 'loop.conf')}`,
        'loop: load (max_loop=8)',
        '8021q: load',
        `dummy: create ${join(configDir, 'dummy.conf')}`,
        'dummy: unload',
        `pcspkr: create ${join(configDir, 'pcspkr.conf')}`,
        'pcspkr: unload',
        '8 changes made',
        '',
      ].join('\n'),
    );
    const b = io();
    expect(await applyCommand(args, b.io, { system })).toBe(0);
    expect(b.o.out).toBe('no changes: the system already matches the spec\n');
    const c = io();
    expect(await applyCommand(['--check', ...args], c.io, { system })).toBe(0);
    system.modules['8021q']!.loaded = false;
    const d = io();
    expect(await applyCommand(['--check', '--json', ...args], d.io, { system })).toBe(2);
    expect(JSON.parse(d.o.out)).toEqual({
      ok: true,
      changed: true,
      check: true,
      actions: [{ module: '8021q', action: 'load', before: 'unloaded', after: 'loaded', params: '', status: 'planned' }],
      drift: [],
    });
    expect(system.modules['8021q']!.loaded).toBe(false);
  });

  it('--diff shows the files before and after; - reads the spec from standard input', async () => {
    const system = sim();
    const { loadDir, configDir } = dirs();
    const a = io();
    expect(
      await applyCommand(['--diff', '--load-dir', loadDir, '--config-dir', configDir, '-'], a.io, {
        system,
        readStdin: () => '{"dummy":"disabled"}',
      }),
    ).toBe(0);
    expect(a.o.out).toBe(
      `dummy: create ${join(configDir, 'dummy.conf')}\n--- /dev/null\n+++ ${join(configDir, 'dummy.conf')} (after)\n` +
        `+${MARKER}\n+install dummy /bin/false\ndummy: unload\n2 changes made\n`,
    );
  });

  it('a refused spec: every problem on stderr, no stack, exit 1, nothing changed', async () => {
    const system = sim();
    const { loadDir, configDir } = dirs();
    const a = io();
    expect(
      await applyCommand(
        ['--load-dir', loadDir, '--config-dir', configDir, specFile('loop: sideways\nnosuch: {state: loaded, params: {"a b": 1}}\n')],
        a.io,
        { system },
      ),
    ).toBe(1);
    expect(a.o.out).toBe('');
    expect(a.o.err).toMatch(/^apply: ERROR: the spec was refused, nothing was changed:\n {2}- module loop: state "sideways"/);
    expect(a.o.err).toMatch(/- module nosuch: invalid parameter name "a b"/);
    expect(a.o.err).not.toMatch(/\n {4}at /);
    const j = io();
    expect(await applyCommand(['--json', specFile('{"loop": 1}')], j.io, { system })).toBe(1);
    expect(JSON.parse(j.o.out)).toMatchObject({
      ok: false,
      error: { code: 'ERR_KERNMOD_INVALID_SPEC', problems: [expect.stringMatching(/loop: expected a state/)] },
    });
    const missing = io();
    expect(await applyCommand([join(tmp(), 'absent.yaml')], missing.io, { system })).toBe(1);
    expect(missing.o.err).toMatch(/^apply: ERROR: cannot read /);
    expect(system.calls).toEqual([]);
    expect(existsSync(configDir)).toBe(false);
  });

  it('a failure half-way: what was done, the error and its hint, exit 1', async () => {
    const system = sim();
    system.modules['8021q']!.failLoad = true;
    const { loadDir, configDir } = dirs();
    const a = io();
    expect(await applyCommand(['--load-dir', loadDir, '--config-dir', configDir, specFile(YAML)], a.io, { system })).toBe(1);
    expect(a.o.out).toMatch(/loop: load \(max_loop=8\)\n8021q: FAILED: load\nstopped after 3 changes; 4 not made\n$/);
    expect(a.o.err).toMatch(/^apply: ERROR: EINVAL/);
  });
});

describe('kernmod apply through the command table', () => {
  it('is registered, and --root writes an image without a backend', async () => {
    const { main } = await import('../../lib/cli/main.js');
    const o = { out: '', err: '' };
    const io = { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) };
    expect(await main(['apply', '--help'], io)).toBe(0);
    expect(o.out).toMatch(/^Usage: kernmod apply/);
    const root = imageWithTree();
    const f = join(root, 'spec.json');
    writeFileSync(f, '{"loop": {"state": "installed", "params": {"max_loop": 8}}}');
    expect(await main(['apply', '--root', root, f], io)).toBe(0);
    expect(readFileSync(join(root, 'etc/modprobe.d/loop.conf'), 'utf8')).toBe(`${MARKER}\noptions loop max_loop=8\n`);
  });
});

describe('ensure() through kernmod modprobe, on the FAKE kernel (a simulation of the syscalls)', async () => {
  const { createFakeBackend, FakeKernel } = await import('../../lib/backend/fake.js');
  const { bind } = await import('../../lib/kernmod.js');
  const { runningSystem } = await import('../../lib/provision/system.js');
  const { tempDir, withSysfs, writeTree } = await import('./modprobe-helpers.js');

  function setup() {
    const root = tempDir('provision');
    const dirname = writeTree(join(root, 'lib/modules/1.0-test'), { modules: { loop: {}, vlan: { deps: ['garp'] }, garp: {} } });
    const configDir = join(root, 'etc/modprobe.d');
    const loadDir = join(root, 'etc/modules-load.d');
    mkdirSync(configDir, { recursive: true });
    const kernel = new FakeKernel();
    const km = withSysfs(bind(createFakeBackend(kernel)), kernel, root);
    const open = () => runningSystem({ kernmod: km, dirname, config: [configDir], cmdline: false, sysRoot: root });
    return { root, kernel, system: open(), open, configDir, loadDir };
  }
  const loads = (k: InstanceType<typeof FakeKernel>) =>
    k.calls.filter((c) => c.syscall !== 'delete_module' && c.ret === 0).map((c) => `${c.name} ${c.params}`.trim());

  it('installed with params: the options it persisted are given to the load once, not twice', async () => {
    const { kernel, system, open, configDir, loadDir } = setup();
    const r = await ensure({ loop: { state: 'installed', params: { max_loop: 6 } }, vlan: 'loaded' }, { system, loadDir, configDir });
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(loads(kernel)).toEqual(['loop max_loop=6', 'garp', 'vlan']);
    // A reload after a change of a read-only value: the new options file, and the value once.
    kernel.calls.length = 0;
    const again = await ensure(
      { loop: { state: 'installed', params: { max_loop: 4 }, reload: true } },
      {
        system: { ...open(), parameters: async () => ({ max_loop: { value: '6', writable: false } }) },
        loadDir,
        configDir,
      },
    );
    expect(again.error).toBeUndefined();
    expect(loads(kernel)).toEqual(['loop max_loop=4']);
  });

  it("a value someone else's modprobe.d file already gives is passed once", async () => {
    const { kernel, system, configDir, loadDir } = setup();
    writeFileSync(join(configDir, 'admin.conf'), 'options loop max_loop=2\n');
    const same = await ensure({ loop: { state: 'loaded', params: { max_loop: 2 } } }, { system, loadDir, configDir });
    expect(same.error).toBeUndefined();
    expect(loads(kernel)).toEqual(['loop max_loop=2']);
  });
});
