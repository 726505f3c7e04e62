// Reading module files for depmod. A plain .ko is read sparsely into one reused buffer: the ELF
// header, the section headers and their names first, then only the sections depmod looks at
// (.symtab, .strtab, .modinfo, __versions, the CRC tables) as it asks for them — a sixth of the bytes
// of a typical module, and no new buffer per file. Compressed files (gzip, xz, zstd, told by magic
// bytes as kmod tells them) are decoded whole. Module files are never trusted: each is opened without
// blocking and read only when it is a regular file of at most DEFAULT_MAX_DECOMPRESSED_BYTES (fs-read.ts).
import { closeSync, openSync } from 'node:fs';
import { decompress, decompressSync, DEFAULT_MAX_DECOMPRESSED_BYTES, detectCompression } from '../compress/index.js';
import { OPEN_NAMED_FILE, readRangeSync, readRegularFile, regularFileSizeSync } from '../fs-read.js';
import { hasElfMagic } from '../elf/elf.js';
import { readModuleSymbols, type Ensure, type ModuleSymbols } from './module-symbols.js';

/** Files below this size are read whole (one read costs less than several small ones). */
const WHOLE_BELOW = 64 * 1024;
/** The first read also takes the file's end, where ld puts the section headers and their names. */
const TAIL = 16 * 1024;

let scratch = Buffer.alloc(1 << 20);

/** Reads and decodes one module file on this thread. */
export function readModuleFileSync(path: string, crcs = true): ModuleSymbols {
  const fd = openSync(path, OPEN_NAMED_FILE);
  try {
    const size = regularFileSizeSync(fd, path, DEFAULT_MAX_DECOMPRESSED_BYTES);
    if (scratch.length < size) scratch = Buffer.alloc(Math.max(size, scratch.length * 2));
    const buf = scratch.subarray(0, size);
    const filled: Array<[number, number]> = [];
    const ensure = (offset: number, length: number) => {
      const end = Math.min(offset + length, size);
      for (const [s, e] of filled) if (s <= offset && end <= e) return;
      buf.fill(0, offset + readRangeSync(fd, buf, offset, end - offset), end); // the file shrank: zeros, not stale bytes
      filled.push([offset, end]);
    };
    if (size >= WHOLE_BELOW && readHeaders(buf, ensure)) return readModuleSymbols(buf, ensure, crcs);
    ensure(0, size);
    return readModuleSymbols(detectCompression(buf) ? decompressSync(buf) : buf, undefined, crcs);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a large file's ELF header, section headers and section names, all the parser needs first; false
 * when it is to be read whole: not ELF (compressed, say), or headers out of range (the parser reports them).
 */
function readHeaders(buf: Buffer, ensure: Ensure): boolean {
  const size = buf.length;
  ensure(0, 64);
  ensure(Math.max(0, size - TAIL), TAIL);
  if (!hasElfMagic(buf)) return false;
  const is64 = buf[4] === 2;
  const le = buf[5] === 1;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shoff = is64 ? Number(v.getBigUint64(40, le)) : v.getUint32(32, le);
  const shnum = v.getUint16(is64 ? 60 : 48, le);
  const shstrndx = v.getUint16(is64 ? 62 : 50, le);
  const entry = is64 ? 64 : 40;
  if (shoff + shnum * entry > size || shstrndx >= shnum) return false;
  ensure(shoff, shnum * entry);
  const h = shoff + shstrndx * entry;
  const strOff = is64 ? Number(v.getBigUint64(h + 24, le)) : v.getUint32(h + 16, le);
  const strSize = is64 ? Number(v.getBigUint64(h + 32, le)) : v.getUint32(h + 20, le);
  if (strOff + strSize <= size) ensure(strOff, strSize);
  return true;
}

/**
 * Reads one module file; a compressed one is decoded off this thread (the libuv pool for xz and gzip),
 * so several decode at once while this thread reads the symbols of the ones done.
 */
export async function readModuleFile(path: string, crcs = true): Promise<ModuleSymbols> {
  // A plain .ko is read on this thread (a few small reads); the sync reader still goes by magic bytes.
  if (path.endsWith('.ko')) return readModuleFileSync(path, crcs);
  const bytes = await readRegularFile(path, DEFAULT_MAX_DECOMPRESSED_BYTES);
  return readModuleSymbols(detectCompression(bytes) ? await decompress(bytes) : bytes, undefined, crcs);
}
