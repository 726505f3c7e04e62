// Mutation fuzzing of the addon's depmod reader (native/xz.cc depmodReadBatch), C++ that parses whatever
// file a module tree holds, as root. Small modules built here (either class and byte order) and the same
// padded past 64 KiB, so that the reader's sparse path (headers and wanted sections only) runs too; damaged
// by fast-check: flipped bytes, header and section-header fields set to extremes, truncations. The rule:
// for every damaged file the reader either declines it (the reference, module-symbols.ts, then reads and
// reports it) or gives exactly what the reference gives. The sanitizer build (scripts/test-sanitizers.mjs)
// runs this file too, so an out-of-bounds read fails there. Seeded (FUZZ_SEED picks another seed).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeBatchReader } from '../../lib/depmod/native-reader.js';
import { referencePacked } from './depmod-reference.js';
import { buildElf, concat, elfSymbol, modversion, strings } from '../fixtures/elf-builder.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x64657064);
const dir = mkdtempSync(join(tmpdir(), 'kernmod-fuzz-depmod-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const native = nativeBatchReader();

const reference = referencePacked;

/** A module with exports (CRCs in a section), needs (one versioned, one weak) and modinfo; `pad` bytes of .text first. */
function module(is64: boolean, le: boolean, pad: number): Uint8Array {
  const entry = is64 ? 24 : 16;
  const sym = (name: number, info: number, shndx: number, value: number) => elfSymbol(is64, le, name, info, shndx, value);
  const crc = new Uint8Array(8);
  new DataView(crc.buffer).setUint32(4, 0x1234abcd, le);
  return buildElf({
    class: is64 ? 64 : 32,
    endian: le ? 'little' : 'big',
    sections: [
      { name: '.text', data: new Uint8Array(pad) },
      { name: '__kcrctab', data: crc },
      { name: '.modinfo', data: strings('alias=pci:v*', 'softdep=pre: a', 'license=GPL') },
      { name: '__ksymtab_strings', data: strings('exp_a') },
      { name: '__versions', data: concat(modversion(7, 'need_b', is64, le), modversion(9, 'module_layout', is64, le)) },
      { name: '.symtab', data: concat(new Uint8Array(entry), sym(1, 0x10, 2, 4), sym(13, 0x10, 0, 0), sym(20, 0x20, 0, 0)), type: 2 },
      { name: '.strtab', data: Buffer.from('\0__crc_exp_a\0need_b\0weak_c\0', 'latin1'), type: 3 },
    ],
  });
}

const bases = [true, false].flatMap((is64) => [true, false].flatMap((le) => [module(is64, le, 0), module(is64, le, 70 * 1024)]));

/** Offsets worth damaging: the ELF header, and the section headers at the end (where buildElf puts them). */
const damage = fc.record({
  base: fc.nat({ max: bases.length - 1 }),
  edits: fc.array(
    fc.record({
      where: fc.oneof(
        fc.nat({ max: 63 }),
        fc.nat({ max: 1023 }).map((n) => -1 - n),
        fc.nat(),
      ),
      value: fc.oneof(fc.constantFrom(0, 0xff, 0x7f, 0x80), fc.nat({ max: 255 })),
      width: fc.constantFrom(1, 2, 4, 8),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  cut: fc.option(fc.nat(), { freq: 4 }),
});

describe.skipIf(!native)('depmod native reader, damaged files', () => {
  let n = 0;
  const seen = { taken: 0, declined: 0 };
  it('declines a damaged file or reads it exactly as the reference does', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(damage, fc.boolean(), async ({ base, edits, cut }, crcs) => {
        const b = Uint8Array.from(bases[base]!);
        for (const { where, value, width } of edits) {
          const at = where < 0 ? b.length + where : where % b.length;
          for (let i = 0; i < width && at + i >= 0 && at + i < b.length; i++) b[at + i] = value;
        }
        const bytes = cut === null ? b : b.subarray(0, cut % (b.length + 1));
        const path = join(dir, `m${n++}.ko`);
        writeFileSync(path, bytes);
        const [got] = await native!([path], crcs);
        seen[got === undefined ? 'declined' : 'taken'] += 1;
        if (got !== undefined) expect(got).toEqual(reference(path, crcs));
        rmSync(path);
      }),
      { seed: SEED, numRuns: 400 },
    );
    // Both outcomes happen, so both the reader's parse and its refusals are exercised.
    expect(seen.taken).toBeGreaterThan(20);
    expect(seen.declined).toBeGreaterThan(20);
  });
});
