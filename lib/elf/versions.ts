// Symbol versions a module expects from the kernel (CONFIG_MODVERSIONS), as the kernel reads them:
//  - `__versions`: struct modversion_info { unsigned long crc; char name[64 - sizeof(unsigned long)]; },
//    64 bytes per entry on 32- and 64-bit alike (include/linux/module.h; kmod's kmod_modversion32/64);
//  - since 6.13 (CONFIG_EXTENDED_MODVERSIONS), `__version_ext_crcs` (u32 each) with
//    `__version_ext_names` (the names, NUL-joined, same order), which also carry names too long for
//    the fixed field. When present they are complete, and the kernel uses them instead of __versions.
import { cString, ElfReader, elfError, findSectionStrict, type ElfFile } from './elf.js';

export interface ModuleVersion {
  /** A number, or a bigint for a 64-bit CRC field beyond 2^53 (never seen in practice). */
  crc: number | bigint;
  symbol: string;
}

const ENTRY_SIZE = 64;

/** The `__versions` entries; throws ERR_KERNMOD_BAD_ELF when the section is not a whole number of entries. */
export function readVersions(elf: ElfFile): ModuleVersion[] {
  const s = findSectionStrict(elf, '__versions');
  if (!s || s.size === 0) return [];
  if (s.size % ENTRY_SIZE !== 0) throw elfError(`__versions is ${s.size} bytes, not a multiple of ${ENTRY_SIZE}`);
  const r = new ElfReader(elf.bytes, elf.endian === 'little');
  const crcSize = elf.class === 64 ? 8 : 4;
  const out: ModuleVersion[] = [];
  for (let off = s.offset; off < s.offset + s.size; off += ENTRY_SIZE) {
    let crc: number | bigint = crcSize === 4 ? r.u32(off) : r.u64big(off);
    if (typeof crc === 'bigint' && crc <= BigInt(Number.MAX_SAFE_INTEGER)) crc = Number(crc);
    let nameStart = off + crcSize;
    // ppc64 ELFv1 dot-symbols: kmod drops the leading '.'.
    if (elf.bytes[nameStart] === 0x2e) nameStart++;
    out.push({ crc, symbol: cString(elf.bytes, nameStart, off + ENTRY_SIZE) });
  }
  return out;
}

/** The extended version tables, or undefined when the module has none. */
export function readExtendedVersions(elf: ElfFile): ModuleVersion[] | undefined {
  const crcs = findSectionStrict(elf, '__version_ext_crcs');
  const names = findSectionStrict(elf, '__version_ext_names');
  if (!crcs && !names) return undefined;
  if (!crcs || !names) throw elfError('__version_ext_crcs and __version_ext_names must come together');
  if (crcs.size % 4 !== 0) throw elfError(`__version_ext_crcs is ${crcs.size} bytes, not a multiple of 4`);
  const count = crcs.size / 4;
  const r = new ElfReader(elf.bytes, elf.endian === 'little');
  const out: ModuleVersion[] = [];
  let p = names.offset;
  const end = names.offset + names.size;
  for (let i = 0; i < count; i++) {
    if (p >= end) throw elfError(`__version_ext_names has fewer names than __version_ext_crcs has CRCs (${count})`);
    const symbol = cString(elf.bytes, p, end);
    out.push({ crc: r.u32(crcs.offset + i * 4), symbol });
    p += symbol.length + 1; // latin1: a character a byte
  }
  return out;
}

/** The versions the kernel checks: the extended tables when present, else __versions. */
export function readModuleVersions(elf: ElfFile): ModuleVersion[] {
  return readExtendedVersions(elf) ?? readVersions(elf);
}
