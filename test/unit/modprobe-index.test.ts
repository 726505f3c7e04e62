// The .bin trie reader (lib/modprobe/index-bin.ts): on bytes written by hand, on bytes from our
// depmod-format writer (test helper, which kmod itself must read identically), and on the installed
// Debian trees against their text files.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BinaryIndex } from '../../lib/modprobe/index-bin.js';
import { ModuleDirectory } from '../../lib/modprobe/moddir.js';
import { Modprobe } from '../../lib/modprobe/modprobe.js';
import {
  builtinAliases,
  parseBuiltinModinfo,
  parseModulesAlias,
  parseModulesBuiltin,
  parseModulesDep,
} from '../../lib/modprobe/moddir-text.js';
import { tempDir, writeIndex, writeTree } from './modprobe-helpers.js';

/** The smallest index: root node with prefix "ab" and one value. Laid out byte by byte. */
function handIndex(): Buffer {
  const b = Buffer.alloc(12 + 3 + 4 + 4 + 2);
  b.writeUInt32BE(0xb007f457, 0);
  b.writeUInt32BE(0x00020001, 4);
  b.writeUInt32BE((0x80000000 | 0x40000000 | 12) >>> 0, 8); // root at 12: prefix + values
  b.write('ab\0', 12, 'latin1');
  b.writeUInt32BE(1, 15); // one value
  b.writeUInt32BE(7, 19); // priority 7
  b.write('x\0', 23, 'latin1');
  return b;
}

const WILD = [
  { key: 'pci:v00008086d*', value: 'intel_any', priority: 5 },
  { key: 'pci:v00008086d000010D3*', value: 'e1000e', priority: 2 },
  { key: 'pci:v0000????d000010D3*', value: 'anyvendor', priority: 2 },
  { key: 'usb:v[0-9]*', value: 'usbdigit', priority: 1 },
  { key: 'fs_ext4', value: 'ext4', priority: 0 },
  { key: '*', value: 'everything', priority: 9 },
];

describe('BinaryIndex', () => {
  it('reads a hand-made node: prefix, value count, priority, value', () => {
    const idx = new BinaryIndex(handIndex());
    expect(idx.search('ab')).toBe('x');
    expect(idx.search('a')).toBeUndefined();
    expect(idx.search('abc')).toBeUndefined();
    expect(idx.searchWild('ab')).toEqual([{ value: 'x', priority: 7 }]);
    expect(idx.entries()).toEqual([{ key: 'ab', value: 'x', priority: 7 }]);
  });

  it('rejects a bad magic, a bad major version and a short file with a typed error', () => {
    const bad = handIndex();
    bad.writeUInt32BE(0x12345678, 0);
    expect(() => new BinaryIndex(bad, 'f.bin')).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_BAD_INDEX', path: 'f.bin' }));
    const v3 = handIndex();
    v3.writeUInt32BE(0x00030000, 4);
    expect(() => new BinaryIndex(v3)).toThrow(/version 3/);
    expect(() => new BinaryIndex(Buffer.alloc(4))).toThrow(/too short/);
  });

  it('finds exact keys through children and prefixes (written by the depmod-format writer)', () => {
    const keys = ['ext4', 'ext2', 'e1000', 'e1000e', 'loop', 'l', 'lo'];
    const idx = new BinaryIndex(writeIndex(keys.map((k, i) => ({ key: k, value: `v-${k}`, priority: i }))));
    for (const k of keys) expect(idx.search(k)).toBe(`v-${k}`);
    for (const k of ['ext', 'e100', 'loops', '', 'x']) expect(idx.search(k)).toBeUndefined();
    expect(idx.entries().map((e) => e.key)).toEqual([...keys].sort());
  });

  it('wildcard search: patterns with * ? [..] match, results ordered by priority then latest first', () => {
    const idx = new BinaryIndex(writeIndex(WILD));
    const v = (k: string) => idx.searchWild(k).map((x) => x.value);
    expect(v('fs_ext4')).toEqual(['ext4', 'everything']);
    // anyvendor and e1000e share priority 2. The walk tries the wildcard children of a node before
    // following the exact character, so anyvendor is found first; kmod's add_value inserts a value
    // before the equal-priority ones already found, so e1000e ends up first.
    expect(v('pci:v00008086d000010D3sv0')).toEqual(['e1000e', 'anyvendor', 'intel_any', 'everything']);
    expect(v('usb:v1x')).toEqual(['usbdigit', 'everything']);
    expect(v('usb:vAx')).toEqual(['everything']);
  });

  it("kmod reads the writer's files the same way (modprobe -d on a generated tree)", () => {
    if (spawnSync('modprobe', ['-V']).status !== 0) return; // kmod not installed: nothing to compare with
    const root = tempDir('binx');
    const dir = join(root, 'lib/modules/9.9.9-test');
    writeTree(dir, {
      bin: true,
      modules: {
        a: { deps: ['b'], aliases: ['pci:v0000ABCD*', 'thing-a'] },
        b: { deps: ['c'], aliases: ['pci:v0000ABCDd0001*'] },
        c: { aliases: ['thing-?'] },
      },
    });
    const kmod = (q: string) =>
      spawnSync('modprobe', ['-C', '/dev/null', '-d', root, '-S', '9.9.9-test', '-D', q], { encoding: 'utf8' }).stdout;
    expect(kmod('a')).toBe(`insmod ${dir}/kernel/c.ko \ninsmod ${dir}/kernel/b.ko \ninsmod ${dir}/kernel/a.ko \n`);
    const check = (queries: string[]) => {
      const alias = new BinaryIndex(readFileSync(join(dir, 'modules.alias.bin')));
      for (const q of queries) {
        const ours = alias.searchWild(q.replaceAll('-', '_')).map((x) => x.value);
        const theirs = spawnSync('modprobe', ['-C', '/dev/null', '-d', root, '-S', '9.9.9-test', '-R', q], { encoding: 'utf8' })
          .stdout.split('\n')
          .filter(Boolean);
        expect(ours).toEqual(theirs);
      }
    };
    check(['pci:v0000ABCDd0001sv0', 'thing-a', 'thing-x']);
    // The priority/tie order, as kmod's own search produces it.
    writeFileSync(join(dir, 'modules.alias.bin'), writeIndex(WILD));
    check(['pci:v00008086d000010D3sv0', 'fs-ext4', 'usb:v1x', 'usb:vAx', 'nothing']);
  });
});

// ---- crafted and kmod-written edge cases --------------------------------------------------------

const HEADER = (root: number) => {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(0xb007f457, 0);
  b.writeUInt32BE(0x00020001, 4);
  b.writeUInt32BE(root >>> 0, 8);
  return b;
};

/**
 * A "trie" that is a graph: `depth` nodes, each with children '*' and '?' that both point at the next
 * node (2^depth paths through 5 + 10 * depth bytes); the last node has one value.
 */
function sharedChildren(depth: number): Buffer {
  const nodes: Buffer[] = [];
  let at = 12;
  const offsets: number[] = [];
  for (let i = 0; i < depth; i++) {
    offsets.push(at);
    at += 2 + 4 * ('?'.charCodeAt(0) - '*'.charCodeAt(0) + 1);
  }
  const leaf = at;
  for (let i = 0; i < depth; i++) {
    const n = Buffer.alloc(2 + 4 * 22);
    n[0] = 0x2a;
    n[1] = 0x3f;
    const next = i + 1 < depth ? (0x20000000 | offsets[i + 1]!) >>> 0 : (0x40000000 | leaf) >>> 0;
    n.writeUInt32BE(next, 2);
    n.writeUInt32BE(next, 2 + 4 * 21);
    nodes.push(n);
  }
  const value = Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0x78, 0]);
  return Buffer.concat([HEADER((0x20000000 | 12) >>> 0), ...nodes, value]);
}

/** A root whose only child ('*') is the root itself. */
function selfLoop(): Buffer {
  const n = Buffer.alloc(2 + 4);
  n[0] = 0x2a;
  n[1] = 0x2a;
  n.writeUInt32BE((0x20000000 | 12) >>> 0, 2);
  return Buffer.concat([HEADER((0x20000000 | 12) >>> 0), n]);
}

describe('BinaryIndex on files kmod writes and on crafted ones', () => {
  it('an empty index as depmod writes it (12 bytes, root offset = file size) answers nothing', () => {
    const idx = new BinaryIndex(HEADER(12));
    expect(idx.search('x')).toBeUndefined();
    expect(idx.search('')).toBeUndefined();
    expect(idx.searchWild('pci:v1')).toEqual([]);
    expect(idx.entries()).toEqual([]);
    expect(new BinaryIndex(writeIndex([])).entries()).toEqual([]);
  });

  it('a 0-byte index (depmod writes modules.builtin.bin so when modules.builtin is missing) is empty', () => {
    const idx = new BinaryIndex(Buffer.alloc(0));
    expect(idx.search('x')).toBeUndefined();
    expect(idx.searchWild('x')).toEqual([]);
    expect(idx.entries()).toEqual([]);
  });

  it('depmod -b on an empty tree: ModuleDirectory and modprobe read every file it wrote', () => {
    if (spawnSync('depmod', ['-V']).status !== 0) return; // kmod not installed
    const root = tempDir('empty');
    mkdirSync(join(root, 'lib/modules/9.9.9'), { recursive: true });
    expect(spawnSync('depmod', ['-b', root, '9.9.9']).status).toBe(0);
    const dir = join(root, 'lib/modules/9.9.9');
    expect(readFileSync(join(dir, 'modules.builtin.bin')).length).toBe(0);
    const md = ModuleDirectory.openSync(dir);
    expect(md.dep('x')).toBeUndefined();
    expect(md.isBuiltin('x')).toBe(false);
    expect(md.aliases('pci:v1')).toEqual([]);
    expect(md.builtinAliases('fs-x')).toEqual([]);
    expect(md.dumpIndex('alias')).toEqual([]);
    const mp = Modprobe.openSync({ root, release: '9.9.9', config: [], cmdline: false });
    expect(() => mp.resolve('foo')).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_NOT_FOUND' }));
  });

  it('children shared between nodes (a graph, not a tree) are refused at once, not walked 2^n times', () => {
    const bytes = sharedChildren(24);
    expect(bytes.length).toBeLessThan(2400);
    const idx = new BinaryIndex(bytes, 'g.bin');
    const t0 = performance.now();
    expect(() => idx.searchWild('abc')).toThrow(
      expect.objectContaining({ name: 'KernmodError', code: 'ERR_KERNMOD_BAD_INDEX', path: 'g.bin' }),
    );
    expect(() => new BinaryIndex(bytes).entries()).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_BAD_INDEX' }));
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('a node that is its own child is a typed error, not a stack overflow', () => {
    expect(() => new BinaryIndex(selfLoop()).searchWild('x')).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_BAD_INDEX' }));
    expect(() => new BinaryIndex(selfLoop()).entries()).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_BAD_INDEX' }));
    expect(new BinaryIndex(selfLoop()).search('***')).toBeUndefined();
  });

  it('fields that run past the end of the file are typed errors', () => {
    const good = writeIndex([
      { key: 'abc', value: 'x' },
      { key: 'abd', value: 'y' },
    ]);
    for (let len = 12; len < good.length; len++) {
      const cut = good.subarray(0, len);
      for (const f of [(i: BinaryIndex) => i.search('abc'), (i: BinaryIndex) => i.searchWild('abd'), (i: BinaryIndex) => i.entries()]) {
        try {
          f(new BinaryIndex(cut));
        } catch (e) {
          expect(e).toMatchObject({ name: 'KernmodError', code: 'ERR_KERNMOD_BAD_INDEX' });
        }
      }
    }
    // A value count far beyond what the file could hold.
    const many = handIndex();
    many.writeUInt32BE(0xffffffff, 15);
    expect(() => new BinaryIndex(many).search('ab')).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_BAD_INDEX' }));
  });
});

// The installed Debian trees, whatever releases they are (none hard-coded); skipped where absent.
const trees = existsSync('/lib/modules')
  ? readdirSync('/lib/modules').filter(
      (r) => existsSync(`/lib/modules/${r}/modules.dep.bin`) && existsSync(`/lib/modules/${r}/modules.dep`),
    )
  : [];

describe.skipIf(trees.length === 0)('BinaryIndex on the installed trees', () => {
  it.each(trees)('%s: modules.dep.bin answers every module exactly as modules.dep says', (release) => {
    const dir = `/lib/modules/${release}`;
    const idx = new BinaryIndex(readFileSync(`${dir}/modules.dep.bin`));
    const text = parseModulesDep(readFileSync(`${dir}/modules.dep`, 'utf8'));
    expect(text.size).toBeGreaterThan(100);
    for (const [name, e] of text) expect(idx.search(name)).toBe(`${e.path}:${e.deps.map((d) => ` ${d}`).join('')}`);
  });

  it.each(trees)(
    '%s: modules.alias.bin holds exactly the (normalised) lines of modules.alias',
    (release) => {
      const dir = `/lib/modules/${release}`;
      const idx = new BinaryIndex(readFileSync(`${dir}/modules.alias.bin`));
      const fromBin = idx.entries().map((e) => `${e.key} ${e.value}`);
      const fromText = parseModulesAlias(readFileSync(`${dir}/modules.alias`, 'utf8')).map((a) => `${a.pattern} ${a.module}`);
      expect(new Set(fromBin)).toEqual(new Set(fromText));
      // Every pattern finds its own module when the pattern is the query.
      for (const a of parseModulesAlias(readFileSync(`${dir}/modules.alias`, 'utf8')).slice(0, 3000)) {
        expect(idx.searchWild(a.pattern).map((v) => v.value)).toContain(a.module);
      }
    },
    60_000,
  ); // whole real indexes: seconds of work, more on a shared machine
});

describe('the text files beside the indexes', () => {
  it('reads modules.dep: names from basenames, normalised; the path as written', () => {
    expect(parseModulesDep('kernel/a/foo-bar.ko.xz: kernel/b.ko\n/abs/x.ko:\n# c\n')).toEqual(
      new Map([
        ['foo_bar', { name: 'foo_bar', path: 'kernel/a/foo-bar.ko.xz', deps: ['kernel/b.ko'] }],
        ['x', { name: 'x', path: '/abs/x.ko', deps: [] }],
      ]),
    );
  });

  it('reads modules.alias, normalising patterns and dropping one with an unmatched bracket, as depmod does', () => {
    expect(parseModulesAlias('# Aliases\nalias devname:loop-control loop\nalias x[ broken\n')).toEqual([
      { pattern: 'devname:loop_control', module: 'loop' },
    ]);
  });

  it('reads modules.builtin and the built-in aliases of modules.builtin.modinfo', () => {
    expect(parseModulesBuiltin('kernel/arch/x86/events/amd/amd-uncore.ko\n\nkernel/mm/zswap.ko\n')).toEqual(['amd_uncore', 'zswap']);
    const modinfo = parseBuiltinModinfo(
      Buffer.from('amd_uncore.license=GPL v2\0zswap.description=Compressed cache\0zswap.alias=zswap-alias-*\0'),
    );
    expect(builtinAliases(modinfo)).toEqual([{ pattern: 'zswap_alias_*', module: 'zswap' }]);
  });
});
