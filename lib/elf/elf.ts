// A minimal ELF reader for kernel modules: the file header and the section headers with their names,
// for ELF32/ELF64 in either byte order (System V gABI, "ELF Header" and "Sections"). It validates what
// it reads the way kmod's libkmod-elf.c does — header sizes, the section table inside the file, the
// section-name table ending in NUL — and never trusts an offset or a count: anything out of bounds is a
// typed ERR_KERNMOD_BAD_ELF error, with errno ENOEXEC for "not ELF" and EINVAL otherwise, as kmod says.
import { invalidInput, type KernmodError } from '../errors.js';

export const SHT_NOBITS = 8;
export const SHT_NOTE = 7;

export const EM_NAMES: Readonly<Record<number, string>> = {
  3: 'i386',
  8: 'mips',
  20: 'ppc',
  21: 'ppc64',
  22: 's390',
  40: 'arm',
  42: 'sh',
  43: 'sparcv9',
  62: 'x86_64',
  183: 'aarch64',
  243: 'riscv',
  258: 'loongarch',
};

export interface ElfSection {
  index: number;
  /** Undefined when sh_name points outside the section-name table. */
  name: string | undefined;
  type: number;
  flags: number;
  offset: number;
  size: number;
  /** False when offset + size lies outside the file (SHT_NOBITS sections like .bss often do). */
  inFile: boolean;
}

export interface ElfFile {
  bytes: Uint8Array;
  class: 32 | 64;
  endian: 'little' | 'big';
  /** e_machine (62 = x86_64). */
  machine: number;
  sections: ElfSection[];
}

export function elfError(reason: string, errno = -22): KernmodError {
  return invalidInput('ERR_KERNMOD_BAD_ELF', `invalid ELF module: ${reason}`, { errno });
}

/** Reads unsigned integers of either width/byte order from `bytes`, bounds-checked. */
export class ElfReader {
  readonly view: DataView;
  readonly little: boolean;
  constructor(readonly bytes: Uint8Array, little: boolean) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.little = little;
  }
  private check(off: number, n: number): void {
    if (off < 0 || off + n > this.bytes.length) throw elfError(`read of ${n} bytes at offset ${off} is past the end of the file (${this.bytes.length} bytes)`);
  }
  u8(off: number): number {
    this.check(off, 1);
    return this.bytes[off]!;
  }
  u16(off: number): number {
    this.check(off, 2);
    return this.view.getUint16(off, this.little);
  }
  u32(off: number): number {
    this.check(off, 4);
    return this.view.getUint32(off, this.little);
  }
  /** A 64-bit value as a number; values beyond 2^53 cannot be file offsets, so they become Infinity. */
  u64(off: number): number {
    this.check(off, 8);
    // Two 32-bit halves: much cheaper than a BigInt per field, and exact below 2^53.
    const lo = this.view.getUint32(this.little ? off : off + 4, this.little);
    const hi = this.view.getUint32(this.little ? off + 4 : off, this.little);
    return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
  }
  u64big(off: number): bigint {
    this.check(off, 8);
    return this.view.getBigUint64(off, this.little);
  }
  /** An unsigned long of this ELF class. */
  word(off: number, is64: boolean): number {
    return is64 ? this.u64(off) : this.u32(off);
  }
}

/** The NUL-terminated string at `off`, stopping at `end`; latin1 keeps section names byte-exact. */
function cString(b: Buffer, off: number, end: number): string {
  let e = off;
  while (e < end && b[e] !== 0) e++;
  return b.toString('latin1', off, e);
}

export function parseElf(bytes: Uint8Array): ElfFile {
  const EI_NIDENT = 16;
  if (bytes.length <= EI_NIDENT || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw elfError('not an ELF file (no \\x7fELF magic)', -8 /* ENOEXEC */);
  }
  const cls = bytes[4];
  if (cls !== 1 && cls !== 2) throw elfError(`unknown ELF class ${cls}`);
  const is64 = cls === 2;
  const data = bytes[5];
  if (data !== 1 && data !== 2) throw elfError(`unknown ELF data encoding ${data}`);
  const ehdrSize = is64 ? 64 : 52;
  if (bytes.length <= ehdrSize) throw elfError(`file (${bytes.length} bytes) is too short for the ELF header`);
  const r = new ElfReader(bytes, data === 1);
  const machine = r.u16(18);
  const shoff = is64 ? r.u64(40) : r.u32(32);
  const shentsize = r.u16(is64 ? 58 : 46);
  const shnum = r.u16(is64 ? 60 : 48);
  const shstrndx = r.u16(is64 ? 62 : 50);
  const expectedEntSize = is64 ? 64 : 40;
  if (shentsize !== expectedEntSize) throw elfError(`section header size is ${shentsize}, expected ${expectedEntSize}`);
  if (shoff + shnum * shentsize > bytes.length) throw elfError(`section headers (${shnum} at offset ${shoff}) run past the end of the file`);

  const sections: ElfSection[] = new Array(shnum);
  const nameOffs = new Uint32Array(shnum);
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * shentsize;
    const nameOff = r.u32(h);
    const type = r.u32(h + 4);
    const flags = is64 ? r.u64(h + 8) : r.u32(h + 8);
    const offset = is64 ? r.u64(h + 24) : r.u32(h + 16);
    const size = is64 ? r.u64(h + 32) : r.u32(h + 20);
    nameOffs[i] = nameOff;
    sections[i] = { index: i, name: undefined, type, flags, offset, size, inFile: offset + size <= bytes.length };
  }
  const strtab = sections[shstrndx];
  if (shstrndx === 0 || !strtab) throw elfError(`section-name table index ${shstrndx} is not a section`);
  if (!strtab.inFile) throw elfError('section-name table runs past the end of the file');
  if (strtab.size === 0 || bytes[strtab.offset + strtab.size - 1] !== 0) throw elfError('section-name table does not end with NUL');
  const strEnd = strtab.offset + strtab.size;
  const asBuffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < shnum; i++) {
    if (nameOffs[i]! < strtab.size) sections[i]!.name = cString(asBuffer, strtab.offset + nameOffs[i]!, strEnd);
  }
  return { bytes, class: is64 ? 64 : 32, endian: data === 1 ? 'little' : 'big', machine, sections };
}

/**
 * The first section (after the null section 0) with this name whose contents lie inside the file —
 * kmod's kmod_elf_get_section, which skips out-of-bounds headers rather than failing on them.
 */
export function findSection(elf: ElfFile, name: string): ElfSection | undefined {
  for (let i = 1; i < elf.sections.length; i++) {
    const s = elf.sections[i]!;
    if (s.inFile && s.name === name) return s;
  }
  return undefined;
}

/** Like findSection, but also reports a same-named section whose contents are outside the file. */
export function findSectionStrict(elf: ElfFile, name: string): ElfSection | undefined {
  const s = findSection(elf, name);
  if (s) return s;
  for (let i = 1; i < elf.sections.length; i++) {
    const t = elf.sections[i]!;
    if (t.name === name && t.type !== SHT_NOBITS) {
      throw elfError(`section ${name} (offset ${t.offset}, size ${t.size}) runs past the end of the file (${elf.bytes.length} bytes)`);
    }
  }
  return undefined;
}

export function sectionBytes(elf: ElfFile, s: ElfSection): Uint8Array {
  return elf.bytes.subarray(s.offset, s.offset + s.size);
}
