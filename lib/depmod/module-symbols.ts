// What depmod needs from one module image, read as kmod 30's libkmod reads it (libkmod-elf.c):
//  - `.modinfo` alias= and softdep= strings (kmod_elf_get_strings: NUL runs split, empties dropped);
//  - exported symbols: the `__crc_<name>` symbols of .symtab, with the CRC they point at
//    (kmod_elf_get_symbols); without any, the strings of `__ksymtab_strings`, CRC 0;
//  - needed symbols: .symtab's undefined symbols in table order (weak ones marked), each with its CRC
//    from `__versions`, then the `__versions` entries no symbol used (module_layout)
//    (kmod_elf_get_dependency_symbols).
// Strings are binary strings (one char per byte), written back byte for byte. Pure: bytes in.
import { findSection, parseElf, type ElfFile, type ElfSection } from '../elf/elf.js';

export interface ModuleSymbol {
  name: string;
  crc: bigint;
}

export interface NeededSymbol extends ModuleSymbol {
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

function binary(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1', start, end);
}

function cstring(b: Uint8Array, at: number, limit = b.length): string {
  let e = at;
  while (e < limit && b[e] !== 0) e++;
  return binary(b, at, e);
}

/** kmod_elf_get_strings: the non-empty NUL-separated strings of a section. */
function strings(elf: ElfFile, s: ElfSection | undefined): string[] {
  if (!s || s.size === 0) return [];
  const out: string[] = [];
  for (const piece of binary(elf.bytes, s.offset, s.offset + s.size).split('\0')) if (piece !== '') out.push(piece);
  return out;
}

class Reader {
  readonly view: DataView;
  readonly le: boolean;
  constructor(readonly elf: ElfFile) {
    this.view = new DataView(elf.bytes.buffer, elf.bytes.byteOffset, elf.bytes.byteLength);
    this.le = elf.endian === 'little';
  }
  u8(at: number): number {
    return this.elf.bytes[at]!;
  }
  u16(at: number): number {
    return this.view.getUint16(at, this.le);
  }
  u32(at: number): number {
    return this.view.getUint32(at, this.le);
  }
  u64(at: number): bigint {
    return this.view.getBigUint64(at, this.le);
  }
}

interface SymbolTable {
  sym: ElfSection;
  str: ElfSection;
  entry: number;
  count: number;
}

function symbolTable(elf: ElfFile): SymbolTable | undefined {
  const str = findSection(elf, '.strtab');
  const sym = findSection(elf, '.symtab');
  if (!str || !sym) return undefined;
  const entry = elf.class === 64 ? 24 : 16;
  if (sym.size % entry !== 0) return undefined;
  return { sym, str, entry, count: sym.size / entry };
}

/** Field offsets inside one Elf32_Sym / Elf64_Sym. */
const FIELDS = {
  64: { info: 4, shndx: 6, value: 8 },
  32: { info: 12, shndx: 14, value: 4 },
} as const;

const CRC_PREFIX = [0x5f, 0x5f, 0x63, 0x72, 0x63, 0x5f]; // "__crc_"

function exportedSymbols(elf: ElfFile, r: Reader, t: SymbolTable | undefined): ModuleSymbol[] {
  const b = elf.bytes;
  if (t) {
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
      const n = t.str.offset + nameOff;
      let k = 0;
      while (k < 6 && b[n + k] === CRC_PREFIX[k]) k++;
      if (k < 6) continue;
      const shndx = r.u16(at + f.shndx);
      let crc = elf.class === 64 ? r.u64(at + f.value) : BigInt(r.u32(at + f.value));
      if (shndx !== SHN_ABS && shndx !== SHN_UNDEF) crc = resolveCrc(elf, r, crc, shndx);
      out.push({ name: cstring(b, n + 6), crc });
    }
    if (!bad && out.length > 0) return out;
  }
  // No __crc_ symbols (a kernel without CONFIG_MODVERSIONS): the exported names, CRC 0.
  return strings(elf, findSection(elf, '__ksymtab_strings')).map((name) => ({ name, crc: 0n }));
}

/** kmod_elf_resolve_crc: the u32 at `value` inside section `shndx`; -1 when out of range. */
function resolveCrc(elf: ElfFile, r: Reader, value: bigint, shndx: number): bigint {
  const s = elf.sections.find((x) => x.index === shndx);
  if (!s || !s.inFile || s.size < 4 || value > BigInt(s.size - 4)) return 0xffffffffffffffffn;
  return BigInt(r.u32(s.offset + Number(value)));
}

function neededSymbols(elf: ElfFile, r: Reader, t: SymbolTable | undefined): NeededSymbol[] {
  if (!t) return [];
  const b = elf.bytes;
  const f = FIELDS[elf.class];
  // __versions: the first entry of each name gives its CRC (kmod_elf_crc_find).
  const versions = findSection(elf, '__versions');
  const crcSize = elf.class === 64 ? 8 : 4;
  const versionNames: string[] = [];
  const versionIndex = new Map<string, number>();
  if (versions && versions.size % VERSION_ENTRY === 0) {
    for (let i = 0; i < versions.size / VERSION_ENTRY; i++) {
      const name = cstring(b, versions.offset + i * VERSION_ENTRY + crcSize);
      versionNames.push(name);
      if (!versionIndex.has(name)) versionIndex.set(name, i);
    }
  }
  const versionCrc = (i: number) => {
    const at = versions!.offset + i * VERSION_ENTRY;
    return crcSize === 8 ? r.u64(at) : BigInt(r.u32(at));
  };
  const visited = new Uint8Array(versionNames.length);
  const registers = elf.machine === EM_SPARC || elf.machine === EM_SPARCV9;
  const out: NeededSymbol[] = [];
  for (let i = 1; i < t.count; i++) {
    const at = t.sym.offset + i * t.entry;
    if (r.u16(at + f.shndx) !== SHN_UNDEF) continue;
    const info = r.u8(at + f.info);
    if (registers && (info & 0xf) === STT_REGISTER) continue;
    const nameOff = r.u32(at);
    if (nameOff >= t.str.size) return [];
    const n = t.str.offset + nameOff;
    if (b[n] === 0) continue;
    const name = cstring(b, n);
    const v = versionIndex.get(name);
    let crc = 0n;
    if (v !== undefined) {
      visited[v] = 1;
      crc = versionCrc(v);
    }
    out.push({ name, crc, weak: info >> 4 === STB_WEAK });
  }
  for (let i = 0; i < versionNames.length; i++) if (!visited[i]) out.push({ name: versionNames[i]!, crc: versionCrc(i), weak: false });
  return out;
}

/** Reads what depmod needs from a (decompressed) module image. Throws ERR_KERNMOD_BAD_ELF for a non-ELF. */
export function readModuleSymbols(image: Uint8Array): ModuleSymbols {
  const elf = parseElf(image);
  const r = new Reader(elf);
  const info: ModuleSymbols['info'] = [];
  for (const s of strings(elf, findSection(elf, '.modinfo'))) {
    // kmod splits at the first '='; a key without one has an empty value.
    if (s.startsWith('alias=') || s === 'alias') info.push(['alias', s.slice(6)]);
    else if (s.startsWith('softdep=') || s === 'softdep') info.push(['softdep', s.slice(8)]);
  }
  const t = symbolTable(elf);
  return { info, exports: exportedSymbols(elf, r, t), needs: neededSymbols(elf, r, t) };
}
