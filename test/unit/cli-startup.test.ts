// Start-up (issue #20): a command loads and reads only what it uses. A dry run never asks for a
// backend, and a module directory reads an index file only when a lookup needs it.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modprobeCommand } from '../../lib/cli/modprobe.js';
import { BinaryIndex } from '../../lib/modprobe/index-bin.js';
import { ModuleDirectory } from '../../lib/modprobe/moddir.js';
import { tempDir, writeIndex, writeTree } from './modprobe-helpers.js';

function tree() {
  const root = tempDir('startup');
  const dir = writeTree(join(root, 'lib/modules/2.0-st'), {
    modules: { t: { deps: ['a'], aliases: ['thing-t'] }, a: {} },
    builtin: ['bi'],
    bin: true,
  });
  return { root, dir };
}

// An index of many blocks, of which a lookup reads a few; values long enough to cross block boundaries.
const depValue = (i: number, sub = '') => `kernel/${sub}m${i}.ko: ${'kernel/dep.ko '.repeat(i % 40)}`.trimEnd();
const depEntries = (sub = '') => Array.from({ length: 3000 }, (_, i) => ({ key: `m${i}`, value: depValue(i, sub) }));

function depTree(name: string): string {
  const dir = join(tempDir(name), 'lib/modules/2.0-dep');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'modules.dep.bin'), writeIndex(depEntries()));
  return dir;
}

describe('start-up: only what the command uses', () => {
  it('modprobe -D, -n, -R and -c never ask for the Kernmod; a load asks once', async () => {
    const { root } = tree();
    let asked = 0;
    const km = async () => {
      asked++;
      throw new Error('not in this test');
    };
    const io = { out: () => {}, err: () => {} };
    const env = { cmdline: false as const, sysRoot: root };
    for (const flags of [['-D', 't'], ['-n', 't'], ['-R', 'thing-t'], ['-c']]) {
      expect(await modprobeCommand(['-d', root, '-S', '2.0-st', ...flags], km, io, env)).toBe(0);
    }
    expect(asked).toBe(0);
    await expect(modprobeCommand(['-d', root, '-S', '2.0-st', 't'], km, io, env)).rejects.toThrow('not in this test');
    expect(asked).toBe(1);
  });

  it('a module directory reads each index file when a lookup first needs it', () => {
    const { dir } = tree();
    const md = ModuleDirectory.openSync(dir);
    // Removed after opening: only the lookups that need these files miss them.
    for (const f of ['modules.alias.bin', 'modules.alias', 'modules.symbols.bin', 'modules.symbols']) rmSync(join(dir, f), { force: true });
    expect(md.dep('t')?.path).toBe(join(dir, 'kernel/t.ko'));
    expect(md.aliases('thing-t')).toEqual([]);
    expect(md.isBuiltin('bi')).toBe(true);
    expect(md.formats).toMatchObject({ dep: 'bin', alias: 'none', symbols: 'none', builtin: 'bin' });
  });

  it('an index file read block by block answers as the whole file does, and a damaged one is ERR_KERNMOD_BAD_INDEX', () => {
    const dir = depTree('paged');
    const whole = new BinaryIndex(readFileSync(join(dir, 'modules.dep.bin')));
    const md = ModuleDirectory.openSync(dir);
    for (const i of [2999, 0, 1234, 17, 2500, 999]) {
      expect(md.dep(`m${i}`)?.path).toBe(join(dir, `kernel/m${i}.ko`));
      expect(md.dep(`m${i}`)?.deps.length).toBe(i % 40);
      expect(whole.search(`m${i}`)).toBe(depValue(i));
    }
    expect(md.dep('nope')).toBeUndefined();
    // A root offset past the end of the file.
    const bad = writeIndex(depEntries());
    bad.writeUInt32BE(bad.length + 100, 8);
    writeFileSync(join(dir, 'modules.dep.bin'), bad);
    expect(() => ModuleDirectory.openSync(dir).dep('m1')).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_BAD_INDEX' }));
  });

  // depmod writes a new index beside the old one and renames it in. A lookup that reads blocks after that
  // must not mix them with blocks of the old file.
  it('a lookup that reads an index file replaced since earlier lookups reads the new file', () => {
    const dir = depTree('replaced');
    const md = ModuleDirectory.openSync(dir);
    expect(md.dep('m0')?.path).toBe(join(dir, 'kernel/m0.ko'));
    writeFileSync(join(dir, 'new.bin'), writeIndex(depEntries('new/')));
    renameSync(join(dir, 'new.bin'), join(dir, 'modules.dep.bin'));
    expect(md.dep('m2999')?.path).toBe(join(dir, 'kernel/new/m2999.ko'));
    expect(md.dep('m1500')?.path).toBe(join(dir, 'kernel/new/m1500.ko'));
  });

  // A process that probes again and again (a provisioning daemon) must not hold a descriptor per lookup
  // until a garbage collection: under the usual soft limit of 1024 it would fail with EMFILE.
  it.skipIf(!existsSync('/proc/self/fd'))('lookups leave no index file open', () => {
    const dir = depTree('fds');
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 200; i++) expect(ModuleDirectory.openSync(dir).dep('m1234')?.path).toBe(join(dir, 'kernel/m1234.ko'));
    expect(open() - before).toBeLessThan(10);
  });
});
