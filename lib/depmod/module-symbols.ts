// What depmod needs from one module image, read as kmod 30's libkmod reads it (libkmod-elf.c):
//  - `.modinfo` alias= and softdep= strings (kmod_elf_get_strings: NUL runs split, empties dropped);
//  - exported symbols: the `__crc_<name>` symbols of .symtab, with the CRC they point at
//    (kmod_elf_get_symbols); without any, the strings of `__ksymtab_strings`, CRC 0;
//  - needed symbols: .symtab's undefined symbols in table order (weak ones marked), each with its CRC
//    from `__versions`, then the `__versions` entries no symbol used (module_layout)
//    (kmod_elf_get_dependency_symbols).
// Strings are binary strings (one char per byte), written back byte for byte. Pure: bytes in.
import { ElfReader, findSection, parseElfSections, type ElfFile, type ElfSection } from '../elf/elf.js';

export interface ModuleSymbol {
  name: string;
  crc: bigint;
}

interface NeededSymbol extends ModuleSymbol {
  weak: boolean;
}

export interface ModuleSymbols {
  /** `.modinfo` fields depmod uses, in file order: [key, value] for alias and softdep. */
  info: Array<[key: 'alias' | 'softdep', value: string]>;
  exports: ModuleSymbol[];
  needs: NeededSymbol[];
}

const SHN_UNDEF = 0;
const SHN_ABS = 0xfff1;
const STB_WEAK = 2;
const STT_REGISTER = 13;
const EM_SPARC = 2;
const EM_SPARCV9 = 43;
const VERSION_ENTRY = 64;
/** The CRC of every symbol when CRCs are not wanted (no -E / -F to compare them with). */
const NO_CRC = 0n;

/** Bytes as a binary string. `b` is the image as a Buffer (readModuleSymbols makes it one, once). */
function binary(b: Uint8Array, start: number, end: number): string {
  return (b as Buffer).toString('latin1', start, end);
}

function cstring(b: Uint8Array, at: number, limit = b.length): string {
  let e = at;
  while (e < limit && b[e] !== 0) e++;
  return binary(b, at, e);
}

/**
 * Makes bytes [offset, offset + length) of the image valid before they are read: a reader that fills
 * a module's buffer sparsely (read-module.ts) reads them then; a whole image needs nothing.
 */
export type Ensure = (offset: number, length: number) => void;

const whole: Ensure = () => {};

/** The sections read by name (the others are never looked at). */
const SECTIONS = ['.modinfo', '.symtab', '.strtab', '__ksymtab_strings', '__versions'];

/** kmod_elf_get_strings: the non-empty NUL-separated strings of a section. */
function strings(elf: ElfFile, s: ElfSection | undefined, ensure: Ensure): string[] {
  if (!s || s.size === 0) return [];
  ensure(s.offset, s.size);
  const out: string[] = [];
  for (const piece of binary(elf.bytes, s.offset, s.offset + s.size).split('\0')) if (piece !== '') out.push(piece);
  return out;
}

interface SymbolTable {
  sym: ElfSection;
  str: ElfSection;
  entry: number;
  count: number;
}

function symbolTable(elf: ElfFile, ensure: Ensure): SymbolTable | undefined {
  const str = findSection(elf, '.strtab');
  const sym = findSection(elf, '.symtab');
  if (!str || !sym) return undefined;
  const entry = elf.class === 64 ? 24 : 16;
  if (sym.size % entry !== 0) return undefined;
  ensure(sym.offset, sym.size);
  ensure(str.offset, str.size);
  return { sym, str, entry, count: sym.size / entry };
}

/**
 * The NUL-terminated name at `offset` in the string table (to the table's end when unterminated), as a
 * string of its own: names outlive the module's bytes, and a slice of one big string would keep the
 * whole table alive with them.
 */
function nameAt(b: Uint8Array, t: SymbolTable, offset: number): string {
  return cstring(b, t.str.offset + offset, t.str.offset + t.str.size);
}

/** Whether the name at string-table offset `offset` starts with "__crc_". */
function isCrcName(b: Uint8Array, t: SymbolTable, offset: number): boolean {
  const p = t.str.offset + offset;
  return b[p] === 0x5f && b[p + 1] === 0x5f && b[p + 2] === 0x63 && b[p + 3] === 0x72 && b[p + 4] === 0x63 && b[p + 5] === 0x5f;
}

/** Field offsets inside one Elf32_Sym / Elf64_Sym. */
const FIELDS = {
  64: { info: 4, shndx: 6, value: 8 },
  32: { info: 12, shndx: 14, value: 4 },
} as const;

function exportedSymbols(elf: ElfFile, r: ElfReader, t: SymbolTable | undefined, ensure: Ensure, crcs: boolean): ModuleSymbol[] {
  if (t) {
    const b = elf.bytes;
    const f = FIELDS[elf.class];
    const out: ModuleSymbol[] = [];
    let bad = false;
    for (let i = 1; i < t.count; i++) {
      const at = t.sym.offset + i * t.entry;
      const nameOff = r.u32(at);
      if (nameOff >= t.str.size) {
        bad = true;
        break;
      }
      if (!isCrcName(b, t, nameOff)) continue;
      let crc = NO_CRC;
      if (crcs) {
        const shndx = r.u16(at + f.shndx);
        crc = elf.class === 64 ? r.u64big(at + f.value) : BigInt(r.u32(at + f.value));
        if (shndx !== SHN_ABS && shndx !== SHN_UNDEF) crc = resolveCrc(elf, r, crc, shndx, ensure);
      }
      out.push({ name: nameAt(b, t, nameOff + 6), crc });
    }
    if (!bad && out.length > 0) return out;
  }
  // No __crc_ symbols (a kernel without CONFIG_MODVERSIONS): the exported names, CRC 0.
  return strings(elf, findSection(elf, '__ksymtab_strings'), ensure).map((name) => ({ name, crc: 0n }));
}

/** Section `index`'s file offset and size, from the section header table (read with the ELF header). */
function sectionAt(elf: ElfFile, r: ElfReader, index: number): [offset: number, size: number] | undefined {
  const is64 = elf.class === 64;
  const shoff = r.word(is64 ? 40 : 32, is64);
  const shnum = r.u16(is64 ? 60 : 48);
  if (index >= shnum) return undefined;
  const h = shoff + index * (is64 ? 64 : 40);
  const offset = r.word(h + (is64 ? 24 : 16), is64);
  const size = r.word(h + (is64 ? 32 : 20), is64);
  return offset + size <= elf.bytes.length ? [offset, size] : undefined;
}

/** kmod_elf_resolve_crc: the u32 at `value` inside section `shndx`; -1 when out of range. */
function resolveCrc(elf: ElfFile, r: ElfReader, value: bigint, shndx: number, ensure: Ensure): bigint {
  const s = sectionAt(elf, r, shndx);
  if (!s || s[1] < 4 || value > BigInt(s[1] - 4)) return 0xffffffffffffffffn;
  ensure(s[0] + Number(value), 4);
  return BigInt(r.u32(s[0] + Number(value)));
}

function neededSymbols(elf: ElfFile, r: ElfReader, t: SymbolTable | undefined, ensure: Ensure, crcs: boolean): NeededSymbol[] {
  if (!t) return [];
  const b = elf.bytes;
  const f = FIELDS[elf.class];
  // __versions: the first entry of each name gives its CRC (kmod_elf_crc_find).
  const versions = findSection(elf, '__versions');
  const crcSize = elf.class === 64 ? 8 : 4;
  const versionNames: string[] = [];
  const versionIndex = new Map<string, number>();
  if (versions && versions.size % VERSION_ENTRY === 0) {
    ensure(versions.offset, versions.size);
    for (let i = 0; i < versions.size / VERSION_ENTRY; i++) {
      const at = versions.offset + i * VERSION_ENTRY;
      const name = cstring(b, at + crcSize, at + VERSION_ENTRY);
      versionNames.push(name);
      if (!versionIndex.has(name)) versionIndex.set(name, i);
    }
  }
  const versionCrc = (i: number) => {
    if (!crcs) return NO_CRC;
    const at = versions!.offset + i * VERSION_ENTRY;
    return crcSize === 8 ? r.u64big(at) : BigInt(r.u32(at));
  };
  const visited = new Uint8Array(versionNames.length);
  const registers = elf.machine === EM_SPARC || elf.machine === EM_SPARCV9;
  const out: NeededSymbol[] = [];
  for (let i = 1; i < t.count; i++) {
    const at = t.sym.offset + i * t.entry;
    if (r.u16(at + f.shndx) !== SHN_UNDEF) continue;
    const info = b[at + f.info]!;
    if (registers && (info & 0xf) === STT_REGISTER) continue;
    const nameOff = r.u32(at);
    if (nameOff >= t.str.size) return [];
    if (b[t.str.offset + nameOff] === 0) continue;
    const name = nameAt(b, t, nameOff);
    const v = versionIndex.get(name);
    let crc = NO_CRC;
    if (v !== undefined) {
      visited[v] = 1;
      crc = versionCrc(v);
    }
    out.push({ name, crc, weak: info >> 4 === STB_WEAK });
  }
  for (let i = 0; i < versionNames.length; i++) if (!visited[i]) out.push({ name: versionNames[i]!, crc: versionCrc(i), weak: false });
  return out;
}

/**
 * Reads what depmod needs from a (decompressed) module image. With `ensure`, only the ELF header, the
 * section headers and the section-name table need to be valid beforehand. `crcs: false` leaves every
 * CRC 0 (they are compared only against Module.symvers). Throws ERR_KERNMOD_BAD_ELF for a non-ELF. */
export function readModuleSymbols(image: Uint8Array, ensure: Ensure = whole, crcs = true): ModuleSymbols {
  const bytes = Buffer.isBuffer(image) ? image : Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  const elf = parseElfSections(bytes, SECTIONS);
  const r = new ElfReader(elf.bytes, elf.endian === 'little');
  const info: ModuleSymbols['info'] = [];
  for (const s of strings(elf, findSection(elf, '.modinfo'), ensure)) {
    // kmod splits at the first '='; a key without one has an empty value.
    if (s.startsWith('alias=') || s === 'alias') info.push(['alias', s.slice(6)]);
    else if (s.startsWith('softdep=') || s === 'softdep') info.push(['softdep', s.slice(8)]);
  }
  const t = symbolTable(elf, ensure);
  return { info, exports: exportedSymbols(elf, r, t, ensure, crcs), needs: neededSymbols(elf, r, t, ensure, crcs) };
}
