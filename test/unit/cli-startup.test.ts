// Start-up (issue #20): a command loads and reads only what it uses. A dry run never asks for a
// backend, and a module directory reads an index file only when a lookup needs it.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modprobeCommand } from '../../lib/cli/modprobe.js';
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

  // A process that probes again and again (a provisioning daemon) must not hold a descriptor per lookup
  // until a garbage collection: under the usual soft limit of 1024 it would fail with EMFILE.
  it.skipIf(!existsSync('/proc/self/fd'))('lookups leave no index file open', () => {
    const dir = join(tempDir('fds'), 'lib/modules/2.0-fd');
    mkdirSync(dir, { recursive: true });
    // An index of many blocks, of which a lookup reads a few.
    const entries = Array.from({ length: 3000 }, (_, i) => ({
      key: `m${i}`,
      value: `kernel/m${i}.ko: ${'kernel/dep.ko '.repeat(i % 40)}`.trimEnd(),
    }));
    writeFileSync(join(dir, 'modules.dep.bin'), writeIndex(entries));
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 200; i++) expect(ModuleDirectory.openSync(dir).dep('m1234')?.path).toBe(join(dir, 'kernel/m1234.ko'));
    expect(open() - before).toBeLessThan(10);
  });
});
