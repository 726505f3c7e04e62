// The .modinfo of built-in modules (modules.builtin.modinfo), read as kmod's modinfo reads it, over
// small byte strings written here. (Finding built-ins by name or alias: modinfo-lookup.test.ts.)
import { describe, expect, it } from 'vitest';
import { builtinModinfo } from '../../lib/elf/builtin.js';

const modinfoBytes = Buffer.from(
  [
    'amd_uncore.license=GPL v2',
    'amd_uncore.file=arch/x86/events/amd/amd-uncore',
    'zswap.description=Compressed cache',
    'zswap.parmtype=enabled:bool',
    'zswap.alias=zswap-alias-*',
    'zswap_extra.x=1',
    'zswap.late=not part of the first run',
    '',
  ].join('\0'),
);

describe('modules.builtin.modinfo', () => {
  it("returns a module's first contiguous run of strings, as kmod does", () => {
    expect(builtinModinfo(modinfoBytes, 'zswap')).toEqual([
      { key: 'description', value: 'Compressed cache' },
      { key: 'parmtype', value: 'enabled:bool' },
      { key: 'alias', value: 'zswap-alias-*' },
    ]);
    expect(builtinModinfo(modinfoBytes, 'amd_uncore')).toHaveLength(2);
    expect(builtinModinfo(modinfoBytes, 'zsw')).toBeUndefined(); // a prefix of a name is not a match
    expect(builtinModinfo(modinfoBytes, 'nosuch')).toBeUndefined();
  });

  it('fails like kmod on a string without a module prefix', () => {
    expect(() => builtinModinfo(Buffer.from('a.x=1\0noprefix\0'), 'zz')).toThrow(
      expect.objectContaining({ code: 'ERR_KERNMOD_BAD_BUILTIN_MODINFO' }),
    );
  });
});
