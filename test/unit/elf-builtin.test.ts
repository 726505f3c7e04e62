// Builtin modules (modules.builtin, modules.builtin.modinfo) and the name/alias lookups modinfo does
// in a module directory, over small files written here.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinAliases, builtinModinfo, parseModulesBuiltin } from '../../lib/elf/builtin.js';
import { fnmatch, ModuleDirectory, normalizeAlias, parseAliasFile, parseModulesDep } from '../../lib/elf/moddir.js';

const modinfoBytes = Buffer.from(
  ['amd_uncore.license=GPL v2', 'amd_uncore.file=arch/x86/events/amd/amd-uncore', 'zswap.description=Compressed cache', 'zswap.parmtype=enabled:bool', 'zswap.alias=zswap-alias-*', 'zswap_extra.x=1', 'zswap.late=not part of the first run', ''].join('\0'),
);

describe('modules.builtin', () => {
  it('names builtins by basename, normalised', () => {
    expect(parseModulesBuiltin('kernel/arch/x86/events/amd/amd-uncore.ko\n\nkernel/mm/zswap.ko\n')).toEqual([
      { name: 'amd_uncore', path: 'kernel/arch/x86/events/amd/amd-uncore.ko' },
      { name: 'zswap', path: 'kernel/mm/zswap.ko' },
    ]);
  });

  it("returns a module's first contiguous run of strings, as kmod does", () => {
    expect(builtinModinfo(modinfoBytes, 'zswap')).toEqual([
      { key: 'description', value: 'Compressed cache' },
      { key: 'parmtype', value: 'enabled:bool' },
      { key: 'alias', value: 'zswap-alias-*' },
    ]);
    expect(builtinModinfo(modinfoBytes, 'amd_uncore')).toHaveLength(2);
    expect(builtinModinfo(modinfoBytes, 'zsw')).toBeUndefined(); // a prefix of a name is not a match
    expect(builtinModinfo(modinfoBytes, 'nosuch')).toBeUndefined();
    expect(builtinAliases(modinfoBytes)).toEqual([{ module: 'zswap', pattern: 'zswap-alias-*' }]);
  });

  it('fails like kmod on a string without a module prefix', () => {
    expect(() => builtinModinfo(Buffer.from('a.x=1\0noprefix\0'), 'zz')).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_BAD_BUILTIN_MODINFO' }));
  });
});

describe('fnmatch and alias normalisation', () => {
  it('matches like fnmatch(3) with flags 0', () => {
    expect(fnmatch('pci:v00008086d*sv*sd*bc0Csc03i30*', 'pci:v00008086d00001234sv0sd0bc0Csc03i30')).toBe(true);
    expect(fnmatch('pci:v00008086d*sv*sd*bc0Csc03i30*', 'pci:v00008087d00001234sv0sd0bc0Csc03i30')).toBe(false);
    expect(fnmatch('block-major-7-*', 'block-major-7-')).toBe(true);
    expect(fnmatch('a?c', 'abc')).toBe(true);
    expect(fnmatch('a?c', 'ac')).toBe(false);
    expect(fnmatch('x[0-9]y', 'x5y')).toBe(true);
    expect(fnmatch('x[!0-9]y', 'x5y')).toBe(false);
    expect(fnmatch('x[]]y', 'x]y')).toBe(true);
    expect(fnmatch('a\\*b', 'a*b')).toBe(true);
    expect(fnmatch('a\\*b', 'axb')).toBe(false);
    expect(fnmatch('*a*a*a*a*a*b', 'a'.repeat(60))).toBe(false); // no exponential blow-up
  });

  it("normalises like kmod's alias_normalize", () => {
    expect(normalizeAlias('char-major-10-237')).toBe('char_major_10_237');
    expect(normalizeAlias('usb:v[0-9]p-x')).toBe('usb:v[0-9]p_x');
    expect(normalizeAlias('bad]')).toBeUndefined();
    expect(normalizeAlias('bad[')).toBeUndefined();
  });

  it('parses modules.dep and alias files', () => {
    expect(parseModulesDep('kernel/a/foo-bar.ko.xz: kernel/b.ko\n/abs/x.ko:\n# c\n')).toEqual(
      new Map([
        ['foo_bar', 'kernel/a/foo-bar.ko.xz'],
        ['x', '/abs/x.ko'],
      ]),
    );
    expect(parseAliasFile('# Aliases\nalias devname:loop-control loop\nalias x[ broken\n')).toEqual([{ pattern: 'devname:loop_control', module: 'loop' }]);
  });
});

describe('ModuleDirectory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kernmod-moddir-'));
  mkdirSync(join(dir, 'kernel'), { recursive: true });
  writeFileSync(join(dir, 'modules.dep'), 'kernel/drivers/block/loop.ko:\nkernel/sound/snd-a.ko: kernel/sound/snd.ko\nkernel/sound/snd-b.ko:\n');
  writeFileSync(join(dir, 'modules.alias'), 'alias devname:loop-control loop\nalias block-major-7-* loop\nalias acpi*:X:* snd_a\nalias acpi*:X:* snd_b\n');
  writeFileSync(join(dir, 'modules.symbols'), 'alias symbol:snd_sym snd_a\n');
  writeFileSync(join(dir, 'modules.builtin'), 'kernel/mm/zswap.ko\n');
  writeFileSync(join(dir, 'modules.builtin.modinfo'), modinfoBytes);
  const d = new ModuleDirectory(dir);

  it('resolves names first (with - or _), then symbols, aliases (every match, in file order), builtins', () => {
    expect(d.lookup('loop')).toEqual([{ kind: 'file', name: 'loop', path: `${dir}/kernel/drivers/block/loop.ko` }]);
    expect(d.lookup('snd-a')).toEqual([{ kind: 'file', name: 'snd_a', path: `${dir}/kernel/sound/snd-a.ko` }]);
    expect(d.lookup('symbol:snd_sym').map((m) => m.name)).toEqual(['snd_a']);
    expect(d.lookup('devname:loop-control').map((m) => m.name)).toEqual(['loop']);
    expect(d.lookup('block-major-7-3').map((m) => m.name)).toEqual(['loop']);
    expect(d.lookup('acpi:X:').map((m) => m.name)).toEqual(['snd_a', 'snd_b']);
    expect(d.lookup('zswap')).toEqual([{ kind: 'builtin', name: 'zswap' }]);
    expect(d.lookup('zswap-alias-1')).toEqual([{ kind: 'builtin', name: 'zswap' }]);
    expect(d.lookup('nosuch')).toEqual([]);
    expect(d.lookupName('devname:loop-control')).toBeUndefined(); // -m: names only
  });

  it('answers [] for a directory that does not exist', () => {
    expect(new ModuleDirectory(join(dir, 'missing')).lookup('loop')).toEqual([]);
  });
});
