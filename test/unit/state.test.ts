// Kernel-state readers over a synthetic /proc + /sys tree (the real ones are asserted in test/kernel).
import { mkdirSync, mkdtempSync, opendirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatLsmod, lsmodCommand } from '../../lib/cli/lsmod.js';
import { parseProcModules } from '../../lib/linux/procfs.js';
import { getModule, isLoaded, listModules, listModulesSync, moduleState } from '../../lib/linux/state.js';

const PROC = [
  'kernmod_importer 16384 0 - Live 0x0000000000000000 (OE)',
  'kernmod_exporter 16384 1 kernmod_importer, Live 0xffffffffc0a01000 (OE)',
  'perm_mod 12288 0 [permanent], Live 0x0000000000000000',
  'gone_mod 8192 0 - Unloading 0x0000000000000000 (O-)',
  'nounload 4096 - - Live 0x0000000000000000',
  '',
].join('\n');

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'kernmod-state-'));
  mkdirSync(join(root, 'proc'));
  writeFileSync(join(root, 'proc/modules'), PROC);
  const mod = (name: string, files: Record<string, string>, holders: string[] = [], params: Record<string, string> = {}) => {
    const d = join(root, 'sys/module', name);
    mkdirSync(join(d, 'holders'), { recursive: true });
    for (const [k, v] of Object.entries(files)) writeFileSync(join(d, k), `${v}\n`);
    for (const h of holders) writeFileSync(join(d, 'holders', h), '');
    if (Object.keys(params).length) {
      mkdirSync(join(d, 'parameters'));
      for (const [k, v] of Object.entries(params)) writeFileSync(join(d, 'parameters', k), `${v}\n`);
    }
  };
  mod('kernmod_importer', { initstate: 'live', refcnt: '0', coresize: '16384', taint: 'OE' });
  mod(
    'kernmod_exporter',
    { initstate: 'live', refcnt: '1', coresize: '12288', taint: 'OE', version: '1.0', srcversion: 'ABC' },
    ['kernmod_importer'],
    { answer: '42' },
  );
  mod('perm_mod', { initstate: 'live', refcnt: '0', coresize: '12288' });
  // gone_mod: listed in /proc/modules but already gone from sysfs (a race)
  mod('nounload', { initstate: 'live', coresize: '4096' });
  mod('builtin_thing', {}, [], { p: '1' }); // a builtin: parameters but no initstate
  return root;
}

describe('/proc/modules parser', () => {
  it('reads every column, [permanent], taints without +/-', () => {
    const rows = parseProcModules(PROC);
    expect(rows.map((r) => r.name)).toEqual(['kernmod_importer', 'kernmod_exporter', 'perm_mod', 'gone_mod', 'nounload']);
    expect(rows[1]).toEqual({
      name: 'kernmod_exporter',
      size: 16384,
      refcnt: 1,
      usedBy: ['kernmod_importer'],
      permanent: false,
      state: 'Live',
      address: 0xffffffffc0a01000n,
      taint: 'OE',
    });
    expect(rows[2]).toMatchObject({ usedBy: [], permanent: true, taint: '' });
    expect(rows[3]).toMatchObject({ state: 'Unloading', taint: 'O' });
    expect(rows[4]).toMatchObject({ refcnt: null, usedBy: [] });
  });
});

describe('listModules / getModule / moduleState', () => {
  const root = tree();
  it('joins /proc/modules with sysfs, async and sync alike', async () => {
    const list = await listModules({ root });
    expect(listModulesSync({ root })).toEqual(list);
    const exp = list.find((m) => m.name === 'kernmod_exporter')!;
    expect(exp).toMatchObject({
      refcnt: 1,
      holders: ['kernmod_importer'],
      initstate: 'live',
      coresize: 12288,
      version: '1.0',
      srcversion: 'ABC',
      taint: 'OE',
      parameters: { answer: '42' },
    });
  });
  it("fields: 'lsmod' reads only what lsmod prints, async and sync alike", async () => {
    const brief = await listModules({ root, fields: 'lsmod' });
    expect(listModulesSync({ root, fields: 'lsmod' })).toEqual(brief);
    const exp = brief.find((m) => m.name === 'kernmod_exporter')!;
    expect(exp).toEqual({
      name: 'kernmod_exporter',
      size: 16384,
      refcnt: 1,
      holders: ['kernmod_importer'],
      state: 'Live',
      address: 0xffffffffc0a01000n,
      taint: 'OE',
      permanent: false,
      coresize: 12288,
      parameters: {},
    });
    // Every loaded module has a coresize in sysfs: one without it vanished meanwhile.
    expect(brief.find((m) => m.name === 'gone_mod')?.coresize).toBeUndefined();
    // Parameters can still be asked for.
    expect((await listModules({ root, fields: 'lsmod', parameters: true })).find((m) => m.name === 'kernmod_exporter')?.parameters).toEqual(
      { answer: '42' },
    );
  });
  it('keeps what /proc/modules said for a module that vanished from sysfs', async () => {
    expect(await getModule('gone-mod', { root })).toMatchObject({ name: 'gone_mod', refcnt: 0, holders: [], state: 'Unloading' });
    expect((await getModule('gone_mod', { root }))?.initstate).toBeUndefined();
  });
  it("lists holders in the directory's own order, as kmod does, sync and async alike", async () => {
    const r = tree();
    const holders = join(r, 'sys/module/perm_mod/holders');
    for (const h of ['e', 'b', 'h', 'a', 'g', 'c', 'f', 'd']) writeFileSync(join(holders, `${h}_mod`), '');
    const dir = opendirSync(holders);
    const raw: string[] = [];
    for (let e = dir.readSync(); e !== null; e = dir.readSync()) raw.push(e.name);
    dir.closeSync();
    expect(raw).not.toEqual([...raw].sort()); // else the test could not tell the orders apart
    const brief = listModulesSync({ root: r, fields: 'lsmod' });
    expect(brief.find((m) => m.name === 'perm_mod')?.holders).toEqual(raw);
    expect(brief.find((m) => m.name === 'kernmod_exporter')?.holders).toEqual(['kernmod_importer']);
    expect(brief.find((m) => m.name === 'nounload')?.holders).toEqual([]);
    expect(await listModules({ root: r, fields: 'lsmod' })).toEqual(brief);
  });
  it('tells loaded, builtin and absent apart as kmod does', () => {
    expect(moduleState('kernmod-exporter', { root })).toBe('live');
    expect(moduleState('builtin_thing', { root })).toBe('builtin');
    expect(moduleState('nosuch', { root })).toBe('absent');
    expect(isLoaded('kernmod_importer', { root })).toBe(true);
    expect(isLoaded('builtin_thing', { root })).toBe(false);
  });
});

describe('lsmod', () => {
  it("prints kmod's exact layout, sizes from coresize, and skips modules that vanished", async () => {
    let out = '';
    expect(await lsmodCommand([], { out: (s) => void (out += s), err: () => {} }, tree())).toBe(0);
    expect(out).toBe(
      'Module                  Size  Used by\n' +
        'kernmod_importer       16384  0\n' +
        'kernmod_exporter       12288  1 kernmod_importer\n' +
        'perm_mod               12288  0\n' +
        'nounload                4096  -2\n',
    );
  });
  it('pads long names like printf %-19s', () => {
    expect(
      formatLsmod([
        {
          name: 'a_very_long_module_name_indeed',
          size: 1,
          refcnt: 0,
          holders: ['x', 'y'],
          state: 'Live',
          address: 0n,
          taint: '',
          permanent: false,
          parameters: {},
        },
      ]),
    ).toBe('Module                  Size  Used by\na_very_long_module_name_indeed        1  0 x,y\n');
  });
  it('--json gives the joined rows', async () => {
    let out = '';
    await lsmodCommand(['--json'], { out: (s) => void (out += s), err: () => {} }, tree());
    expect(JSON.parse(out)[1]).toMatchObject({ name: 'kernmod_exporter', holders: ['kernmod_importer'], address: '0xffffffffc0a01000' });
  });
  it('says why when there is no /proc/modules', async () => {
    let err = '';
    expect(await lsmodCommand([], { out: () => {}, err: (s) => void (err += s) }, mkdtempSync(join(tmpdir(), 'kernmod-none-')))).toBe(1);
    expect(err).toMatch(/no loadable module support/);
  });
});

describe('a kernel without /proc/modules (no module support)', () => {
  it('listModules, listModulesSync and getModule fail with a KernmodError naming the file, not a bare fs error', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kernmod-state-none-'));
    const want = {
      name: 'KernmodError',
      code: 'ENOENT',
      errno: -2,
      syscall: 'open',
      path: `${root}/proc/modules`,
      hint: expect.stringMatching(/CONFIG_MODULES=n/),
    };
    await expect(listModules({ root })).rejects.toMatchObject(want);
    expect(() => listModulesSync({ root })).toThrow(expect.objectContaining(want));
    await expect(getModule('loop', { root })).rejects.toMatchObject(want);
  });
});
