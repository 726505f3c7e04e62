// The ELF reader and the section decoders over hand-built files: ELF32 and ELF64, both byte orders,
// checked byte by byte against what the builder wrote (test/fixtures/elf-builder.ts).
import { describe, expect, it } from 'vitest';
import type { KernmodError } from '../../lib/errors.js';
import { findSection, parseElf, sectionBytes } from '../../lib/elf/elf.js';
import { modinfoFromImage } from '../../lib/elf/modinfo.js';
import { readBuildId } from '../../lib/elf/notes.js';
import { mergeParams } from '../../lib/elf/params.js';
import { parseModinfoStrings, splitStrings } from '../../lib/elf/strings.js';
import { readThisModuleName, thisModuleNameLayout } from '../../lib/elf/this-module.js';
import { readExtendedVersions, readModuleVersions, readVersions } from '../../lib/elf/versions.js';
import { buildElf, concat, modversion, strings, type ElfSpec } from '../fixtures/elf-builder.js';

function thisModule(name: string, cls: 32 | 64): Uint8Array {
  const { offset } = thisModuleNameLayout(cls);
  const b = new Uint8Array(cls === 64 ? 0x380 : 0x200);
  b.set(Buffer.from(name, 'latin1'), offset);
  return b;
}

function buildIdNote(id: number[], le: boolean): Uint8Array {
  const b = new Uint8Array(16 + Math.ceil(id.length / 4) * 4);
  const v = new DataView(b.buffer);
  v.setUint32(0, 4, le);
  v.setUint32(4, id.length, le);
  v.setUint32(8, 3, le);
  b.set([0x47, 0x4e, 0x55, 0], 12);
  b.set(id, 16);
  return b;
}

function module(cls: 32 | 64, endian: 'little' | 'big', extra: ElfSpec['sections'] = []): Uint8Array {
  const is64 = cls === 64;
  const le = endian === 'little';
  return buildElf({
    class: cls,
    endian,
    sections: [
      { name: '.note.gnu.build-id', data: buildIdNote([0xde, 0xad, 0xbe, 0xef, 0x01], le), type: 7 },
      { name: '.text', data: new Uint8Array([0xc3]) },
      // Alignment NULs before and between strings, as the linker leaves them.
      {
        name: '.modinfo',
        data: concat(
          new Uint8Array(3),
          strings('alias=a-1', 'parm=p:desc of p', 'license=GPL'),
          new Uint8Array(2),
          strings('parmtype=p:int', 'depends=x,y', 'name=tiny', 'vermagic=6.1.0 SMP mod_unload '),
        ),
      },
      {
        name: '__versions',
        data: concat(modversion(0xbdfb6dbb, 'module_layout', is64, le), modversion(0xfeaa26fa, '.param_set_int', is64, le)),
      },
      { name: '.gnu.linkonce.this_module', data: thisModule('tiny_struct', cls) },
      { name: '.bss', data: new Uint8Array(0), type: 8, size: 1 << 20 },
      ...extra,
    ],
  });
}

describe('parseElf', () => {
  for (const cls of [32, 64] as const) {
    for (const endian of ['little', 'big'] as const) {
      it(`reads ELF${cls} ${endian}-endian headers and section names`, () => {
        const elf = parseElf(module(cls, endian));
        expect(elf.class).toBe(cls);
        expect(elf.endian).toBe(endian);
        expect(elf.sections.map((s) => s.name)).toEqual([
          '',
          '.note.gnu.build-id',
          '.text',
          '.modinfo',
          '__versions',
          '.gnu.linkonce.this_module',
          '.bss',
          '.shstrtab',
        ]);
        const text = findSection(elf, '.text')!;
        expect([...sectionBytes(elf, text)]).toEqual([0xc3]);
        // .bss claims 1 MiB that is not in the file: not an error, just not "in file".
        expect(elf.sections[6]!.inFile).toBe(false);
      });

      it(`decodes __versions, build-id and struct module's name for ELF${cls} ${endian}`, () => {
        const elf = parseElf(module(cls, endian));
        expect(readVersions(elf)).toEqual([
          { crc: 0xbdfb6dbb, symbol: 'module_layout' },
          { crc: 0xfeaa26fa, symbol: 'param_set_int' }, // ppc64 dot-symbol: '.' dropped, as kmod
        ]);
        expect(readBuildId(elf)).toBe('deadbeef01');
        expect(readThisModuleName(elf)).toBe('tiny_struct');
      });
    }
  }

  it('places struct module name at offset 24 on 64-bit and 12 on 32-bit', () => {
    expect(thisModuleNameLayout(64)).toEqual({ offset: 24, length: 56 });
    expect(thisModuleNameLayout(32)).toEqual({ offset: 12, length: 60 });
  });

  it('rejects what is not ELF with ENOEXEC, and broken headers with EINVAL', () => {
    const err = (b: Uint8Array) => {
      try {
        parseElf(b);
      } catch (e) {
        return e as KernmodError;
      }
      throw new Error('no error');
    };
    expect(err(Buffer.from('hello world, not elf')).errno).toBe(-8);
    expect(err(Buffer.from('hello world, not elf')).code).toBe('ERR_KERNMOD_BAD_ELF');
    const good = module(64, 'little');
    expect(err(good.subarray(0, 40)).errno).toBe(-22); // shorter than the ELF header
    const bad = good.slice();
    bad[4] = 3; // class
    expect(err(bad).message).toMatch(/unknown ELF class 3/);
    const far = good.slice();
    new DataView(far.buffer).setBigUint64(40, 0xffffffffffn, true); // e_shoff past the end
    expect(err(far).message).toMatch(/section headers .* run past the end/);
    const ent = good.slice();
    new DataView(ent.buffer).setUint16(58, 40, true);
    expect(err(ent).message).toMatch(/section header size is 40, expected 64/);
    const strndx = good.slice();
    new DataView(strndx.buffer).setUint16(62, 0, true);
    expect(err(strndx).message).toMatch(/section-name table index 0/);
  });
});

describe('.modinfo strings', () => {
  it('splits like kmod: leading NULs skipped, NUL runs collapse, an unterminated last string counts', () => {
    expect(splitStrings(Buffer.from('\0\0a=1\0\0\0b=2\0c'))).toEqual(['a=1', 'b=2', 'c']);
    expect(splitStrings(Buffer.from('\0\0\0'))).toEqual([]);
    expect(parseModinfoStrings(Buffer.from('k=v=w\0novalue\0=x\0'))).toEqual([
      { key: 'k', value: 'v=w' },
      { key: 'novalue', value: '' },
      { key: '', value: 'x' },
    ]);
  });

  it('keeps file order and repeated keys; merges parms in reverse first-seen order, last value winning', () => {
    const fields = parseModinfoStrings(
      strings('parm=a:first', 'parm=b:bee', 'parmtype=a:int', 'parmtype=c:bool', 'parm=a:second', 'parm=bad'),
    );
    expect(mergeParams(fields)).toEqual({
      params: [
        { name: 'c', type: 'bool' },
        { name: 'b', description: 'bee' },
        { name: 'a', description: 'second', type: 'int' },
      ],
      invalid: [{ key: 'parm', value: 'bad' }],
    });
  });
});

describe('modinfoFromImage', () => {
  it('assembles the typed object from an ELF32 big-endian module', () => {
    const info = modinfoFromImage(module(32, 'big'));
    expect(info).toMatchObject({
      name: 'tiny',
      builtin: false,
      vermagic: '6.1.0 SMP mod_unload ',
      depends: ['x', 'y'],
      params: [{ name: 'p', description: 'desc of p', type: 'int' }],
      buildId: 'deadbeef01',
      elf: { class: 32, endian: 'big', machine: 'i386' },
      compression: null,
      warnings: [],
    });
    expect(info.fields.map((f) => f.key)).toEqual(['alias', 'parm', 'license', 'parmtype', 'depends', 'name', 'vermagic']);
    expect(info.signature).toBeUndefined();
  });

  it('takes the name from struct module when .modinfo has none, else from the file name', () => {
    const noName = buildElf({
      class: 64,
      endian: 'little',
      sections: [
        { name: '.modinfo', data: strings('license=GPL') },
        { name: '.gnu.linkonce.this_module', data: thisModule('from_struct', 64) },
      ],
    });
    expect(modinfoFromImage(noName).name).toBe('from_struct');
    const bare = buildElf({ class: 64, endian: 'little', sections: [{ name: '.modinfo', data: strings('license=GPL') }] });
    expect(modinfoFromImage(bare, { filename: '/x/my-mod.ko.xz' }).name).toBe('my_mod');
    expect(() => modinfoFromImage(bare)).toThrow(/no module name/);
  });

  it('fails like kmod 30 without .modinfo (ENOENT) and when .modinfo lies outside the file', () => {
    const none = buildElf({ class: 64, endian: 'little', sections: [{ name: '.text', data: new Uint8Array(4) }] });
    expect(() => modinfoFromImage(none)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_BAD_ELF', errno: -2 }));
    const outside = buildElf({ class: 64, endian: 'little', sections: [{ name: '.modinfo', data: strings('name=x'), size: 1 << 30 }] });
    expect(() => modinfoFromImage(outside)).toThrow(/\.modinfo .* runs past the end/);
  });

  it('reads the extended modversions tables (6.13+) in preference to __versions', () => {
    const le = true;
    const crcs = new Uint8Array(8);
    new DataView(crcs.buffer).setUint32(0, 0x11223344, le);
    new DataView(crcs.buffer).setUint32(4, 0xaabbccdd, le);
    const long = 'a_symbol_name_that_is_far_too_long_for_the_fixed_56_byte_field_of_modversion_info';
    const elf = parseElf(
      module(64, 'little', [
        { name: '__version_ext_crcs', data: crcs },
        { name: '__version_ext_names', data: strings('module_layout', long) },
      ]),
    );
    expect(readExtendedVersions(elf)).toEqual([
      { crc: 0x11223344, symbol: 'module_layout' },
      { crc: 0xaabbccdd, symbol: long },
    ]);
    expect(readModuleVersions(elf)).toHaveLength(2);
    expect(readModuleVersions(elf)[1]!.symbol).toBe(long);
  });

  it('reports a bad __versions strictly, or as a warning when lenient (kmod ignores it)', () => {
    const odd = module(64, 'little').slice();
    const elf = parseElf(odd);
    const v = elf.sections.find((s) => s.name === '__versions')!;
    // Shrink __versions to 100 bytes: not a whole number of 64-byte entries.
    const shoff = Number(new DataView(odd.buffer).getBigUint64(40, true));
    new DataView(odd.buffer).setBigUint64(shoff + v.index * 64 + 32, 100n, true);
    expect(() => modinfoFromImage(odd)).toThrow(/__versions is 100 bytes/);
    const info = modinfoFromImage(odd, { lenient: true });
    expect(info.versions).toEqual([]);
    expect(info.warnings).toEqual([expect.stringMatching(/__versions is 100 bytes/)]);
  });
});
