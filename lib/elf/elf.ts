// A minimal ELF reader for kernel modules: the file header and the section headers with their names,
// for ELF32/ELF64 in either byte order (System V gABI, "ELF Header" and "Sections"). It validates what
// it reads the way kmod's libkmod-elf.c does — header sizes, the section table inside the file, the
// section-name table ending in NUL — and never trusts an offset or a count: anything out of bounds is a
// typed ERR_KERNMOD_BAD_ELF error, with errno ENOEXEC for "not ELF" and EINVAL otherwise, as kmod says.
import { invalidInput, type KernmodError } from '../errors.js';
import { LINUX_ERRNO } from '../errno.js';

const SHT_NOBITS = 8;

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

export function elfError(reason: string, errno = -LINUX_ERRNO.EINVAL): KernmodError {
  return invalidInput('ERR_KERNMOD_BAD_ELF', `invalid ELF module: ${reason}`, { errno });
}

/** Reads unsigned integers of either width/byte order from `bytes`, bounds-checked. */
export class ElfReader {
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly little: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private check(off: number, n: number): void {
    if (off < 0 || off + n > this.bytes.length)
      throw elfError(`read of ${n} bytes at offset ${off} is past the end of the file (${this.bytes.length} bytes)`);
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
  /** An unsigned long (an address, offset or size) of this ELF class. */
  word(off: number, is64: boolean): number {
    return is64 ? this.u64(off) : this.u32(off);
  }
}

/** Bytes [start, end) as latin1 text, byte-exact (section and symbol names). */
function latin1(b: Uint8Array, start: number, end: number): string {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return buf.toString('latin1', start, end);
}

/** The NUL-terminated string at `start` (all of [start, end) when no NUL comes first), as latin1. */
export function cString(b: Uint8Array, start: number, end: number): string {
  let e = start;
  while (e < end && b[e] !== 0) e++;
  return latin1(b, start, e);
}

export function parseElf(bytes: Uint8Array): ElfFile {
  return parseElfSections(bytes);
}

/** Whether `bytes` start with the ELF magic, \x7fELF (and go on past it). */
export function hasElfMagic(bytes: Uint8Array): boolean {
  return bytes.length > 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/**
 * The ELF header's facts, checked (a typed error for anything out of bounds), and where the section-name
 * table lies: nameTable() reads that from the section table, which a sparse read (read.ts) reads only after
 * the header has said where it is.
 */
export function readElfHeader(bytes: Uint8Array) {
  const EI_NIDENT = 16;
  if (bytes.length <= EI_NIDENT || !hasElfMagic(bytes)) {
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
  const shoff = r.word(is64 ? 40 : 32, is64);
  const shentsize = r.u16(is64 ? 58 : 46);
  const shnum = r.u16(is64 ? 60 : 48);
  const shstrndx = r.u16(is64 ? 62 : 50);
  const expectedEntSize = is64 ? 64 : 40;
  if (shentsize !== expectedEntSize) throw elfError(`section header size is ${shentsize}, expected ${expectedEntSize}`);
  if (shoff + shnum * shentsize > bytes.length)
    throw elfError(`section headers (${shnum} at offset ${shoff}) run past the end of the file`);
  if (shstrndx === 0 || shstrndx >= shnum) throw elfError(`section-name table index ${shstrndx} is not a section`);
  const nameTable = (): [offset: number, size: number] => {
    const sh = shoff + shstrndx * shentsize;
    const off = r.word(sh + (is64 ? 24 : 16), is64);
    const size = r.word(sh + (is64 ? 32 : 20), is64);
    if (!(off + size <= bytes.length)) throw elfError('section-name table runs past the end of the file');
    return [off, size];
  };
  return { r, is64, machine: r.u16(18), shoff, shentsize, shnum, nameTable };
}

/**
 * The ELF file, with every section, or with `only` the sections that have one of these names (with
 * their true indexes), for readers that find sections by name (findSection, findSectionStrict): a
 * module has forty-odd sections and modinfo reads six, and naming and building the others was most of
 * the cost of parsing one under emulation.
 */
export function parseElfSections(bytes: Uint8Array, only?: readonly string[]): ElfFile {
  const { r, is64, machine, shoff, shentsize, shnum, nameTable } = readElfHeader(bytes);
  const [strOff, strSize] = nameTable();
  if (strSize === 0 || bytes[strOff + strSize - 1] !== 0) throw elfError('section-name table does not end with NUL');
  // One latin1 string for the whole table (it ends in NUL), names cut from it — one native call, not
  // one per section.
  const names = latin1(bytes, strOff, strOff + strSize);

  // With `only`: where in the table each wanted name (NUL-terminated) occurs, which are the only name
  // offsets a wanted section can have (a name may also end another one: ".text" in ".rela.text").
  let wanted: Map<number, string> | undefined;
  if (only) {
    wanted = new Map();
    for (const name of only) {
      for (let p = names.indexOf(`${name}\0`); p !== -1; p = names.indexOf(`${name}\0`, p + 1)) wanted.set(p, name);
    }
  }
  const sections: ElfSection[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * shentsize;
    const nameOff = r.view.getUint32(h, r.little); // inside the file: readElfHeader checked the whole table
    if (wanted && !wanted.has(nameOff)) continue;
    const type = r.u32(h + 4);
    const flags = r.word(h + 8, is64);
    const offset = r.word(h + (is64 ? 24 : 16), is64);
    const size = r.word(h + (is64 ? 32 : 20), is64);
    const name = wanted ? wanted.get(nameOff) : nameOff < strSize ? names.slice(nameOff, names.indexOf('\0', nameOff)) : undefined;
    sections.push({ index: i, name, type, flags, offset, size, inFile: offset + size <= bytes.length });
  }
  return { bytes, class: is64 ? 64 : 32, endian: r.little ? 'little' : 'big', machine, sections };
}

/**
 * The first section (after the null section 0) with this name whose contents lie inside the file —
 * kmod's kmod_elf_get_section, which skips out-of-bounds headers rather than failing on them.
 */
export function findSection(elf: ElfFile, name: string): ElfSection | undefined {
  for (const s of elf.sections) {
    if (s.index !== 0 && s.inFile && s.name === name) return s;
  }
  return undefined;
}

/** Like findSection, but also reports a same-named section whose contents are outside the file. */
export function findSectionStrict(elf: ElfFile, name: string): ElfSection | undefined {
  const s = findSection(elf, name);
  if (s) return s;
  for (const t of elf.sections) {
    if (t.index !== 0 && t.name === name && t.type !== SHT_NOBITS) {
      throw elfError(`section ${name} (offset ${t.offset}, size ${t.size}) runs past the end of the file (${elf.bytes.length} bytes)`);
    }
  }
  return undefined;
}

export function sectionBytes(elf: ElfFile, s: ElfSection): Uint8Array {
  return elf.bytes.subarray(s.offset, s.offset + s.size);
}
