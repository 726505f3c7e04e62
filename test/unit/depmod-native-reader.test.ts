// The addon's depmod reader (native/xz.cc depmodReadBatch) against the reference, module-symbols.ts:
// for every file it takes, the same Packed module, CRCs or not; every file it does not take (errors,
// gzip, odd ELF) is left to the reference, which reports it. Real modules from the host's trees where
// they are installed, and small ELF files built here for the corners (32-bit big-endian, CRCs inside a
// section, names past the string table, no __crc_ symbols).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeBatchReader, pack, type Packed } from '../../lib/depmod/native-reader.js';
import { readModuleFileSync } from '../../lib/depmod/read-module.js';
import { referencePacked } from './depmod-reference.js';
import { buildElf, concat, elfSymbol, modversion, strings } from '../fixtures/elf-builder.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-depmod-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const native = nativeBatchReader();

const reference = referencePacked;

/** A module whose __crc_ symbols point into a section (index 1), with weak, versioned and unnamed needs. */
function corners(is64: boolean, le: boolean, opts: { badName?: boolean; noCrcs?: boolean } = {}): Uint8Array {
  const strtab = '\0__crc_alpha\0beta\0gamma\0__crc_\0';
  const crcData = new Uint8Array(8);
  new DataView(crcData.buffer).setUint32(4, 0xdeadbeef, le);
  const syms: Uint8Array[] = [new Uint8Array(is64 ? 24 : 16)];
  if (!opts.noCrcs) {
    syms.push(elfSymbol(is64, le, 1, 0x10, 1, 4)); // __crc_alpha -> 0xdeadbeef in section 1
    syms.push(elfSymbol(is64, le, 1, 0x10, 1, 6)); // past the section's end: CRC -1
    syms.push(elfSymbol(is64, le, 24, 0x10, 0xfff1, 5)); // "__crc_": an empty name
  }
  syms.push(elfSymbol(is64, le, 13, 0x10, 0, 0), elfSymbol(is64, le, 18, 0x20, 0, 0), elfSymbol(is64, le, 0, 0x10, 0, 0));
  if (opts.badName) syms.push(elfSymbol(is64, le, 999, 0x10, 0, 0));
  return buildElf({
    class: is64 ? 64 : 32,
    endian: le ? 'little' : 'big',
    sections: [
      { name: '__kcrctab', data: crcData },
      { name: '.modinfo', data: strings('alias', 'alias=pci:v*', 'aliasx=no', 'softdep=pre: a', 'license=GPL', '') },
      { name: '__ksymtab_strings', data: strings('kept_a', 'kept_b') },
      {
        name: '__versions',
        data: concat(modversion(7, 'gamma', is64, le), modversion(9, 'module_layout', is64, le), modversion(3, '', is64, le)),
      },
      { name: '.symtab', data: concat(...syms), type: 2 },
      { name: '.strtab', data: Buffer.from(strtab, 'latin1'), type: 3 },
    ],
  });
}

/** A few hundred installed modules (every 15th of each tree), when the host has them. */
function installed(): string[] {
  const out: string[] = [];
  for (const rel of existsSync('/lib/modules') ? readdirSync('/lib/modules') : []) {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (/\.ko(\.xz)?$/.test(e.name)) files.push(join(d, e.name));
      }
    };
    if (existsSync(`/lib/modules/${rel}/kernel`)) walk(`/lib/modules/${rel}/kernel`);
    out.push(...files.filter((_, i) => i % 15 === 0));
  }
  return out;
}

describe.skipIf(!native)('depmod native reader', () => {
  const write = (name: string, data: Uint8Array | string) => {
    const p = join(dir, name);
    writeFileSync(p, data);
    return p;
  };

  it('gives what module-symbols.ts gives, with and without CRCs, for every file it takes', { timeout: 120_000 }, async () => {
    const built: string[] = [];
    for (const is64 of [true, false])
      for (const le of [true, false]) {
        const tag = `${is64 ? 64 : 32}${le ? 'le' : 'be'}`;
        built.push(write(`c-${tag}.ko`, corners(is64, le)));
        built.push(write(`bad-${tag}.ko`, corners(is64, le, { badName: true })));
        built.push(write(`nocrc-${tag}.ko`, corners(is64, le, { noCrcs: true })));
      }
    const xz = write('c-xz.ko', corners(true, true));
    execFileSync('xz', ['-k', '--check=crc32', xz]);
    built.push(`${xz}.xz`);
    const real = installed();
    for (const crcs of [true, false]) {
      const paths = [...built, ...real];
      const got: Array<Packed | undefined> = [];
      for (let i = 0; i < paths.length; i += 16) got.push(...(await native!(paths.slice(i, i + 16), crcs)));
      expect(got.filter((r) => r === undefined)).toEqual([]); // it takes all of these
      paths.forEach((p, i) => expect({ p, r: got[i] }).toEqual({ p, r: reference(p, crcs) }));
    }
  });

  it('leaves to the reference every file it does not take: errors, gzip, odd ELF, xz with more after it', async () => {
    const good = corners(true, true);
    const xzPath = write('tail.ko', good);
    execFileSync('xz', ['-k', xzPath]);
    const withTail = Buffer.concat([readFileSync(`${xzPath}.xz`), Buffer.from('junk')]);
    mkdirSync(join(dir, 'subdir.ko'), { recursive: true });
    const paths = [
      write('empty.ko', ''),
      write('text.ko', 'not an ELF file at all'),
      write('short.ko', good.subarray(0, 40)),
      write('cut.ko', good.subarray(0, good.length - 30)),
      write('gz.ko.gz', gzipSync(good)),
      write('tail.ko.xz', withTail),
      join(dir, 'subdir.ko'),
      join(dir, 'missing.ko'),
      `${dir}/nul\0.ko`,
    ];
    expect(await native!(paths, true)).toEqual(paths.map(() => undefined));
    // The reference reads the gzip one; the others it rejects.
    expect(reference(join(dir, 'gz.ko.gz'), true)).toEqual(pack(readModuleFileSync(join(dir, 'tail.ko'), true), true));
  });
});
