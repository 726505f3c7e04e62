// `kernmod modinfo` of a module file it has open, read with node:fs (the way taken when the liblzma
// addon's one-call reader is not there): the library's sparse reader, but into one buffer the command
// keeps from file to file and re-zeroes only where an earlier file left bytes, so a read costs no
// allocation and no full-size memset (both dominated a whole-tree run: most modules are small). The
// buffer never leaves this object: each module is decoded here at once, and a ModuleInfo holds copies.
import { maxBytesOf, type DecompressSyncOptions } from '../../compress/index.js';
import { detectCompression } from '../../compress/detect.js';
import { checkFileSize, readRangeSync } from '../../fs-read.js';
import { decodeModuleSync, modinfoFromElf, readError, withPath, type ModinfoOptions, type ModuleInfo } from '../../elf/modinfo.js';
import { hasElfMagic, type ElfFile } from '../../elf/elf.js';
import { MODINFO_SECTIONS, readSparseSync, SPARSE_MIN_SIZE, type Range } from '../../elf/read.js';

/** What readHead reads: a small module (most of them) whole, a large one's ELF header. */
export const HEAD_BYTES = SPARSE_MIN_SIZE;
/** Larger files get a buffer of their own rather than growing the kept one. */
const KEPT_MAX = 64 * 1024 * 1024;

export class OpenModuleReader {
  private buf = Buffer.alloc(0);
  /** The ranges of `buf` that are not zero, sorted, without overlaps. */
  private dirty: Range[] = [];

  /**
   * Reads the first HEAD_BYTES of the open file `fd` — all of it when it is shorter, which then needs no
   * fstat to know its size — for modinfo() to go on from. `module`: the bytes are a module's (ELF or
   * compressed, by magic bytes).
   */
  readHead(fd: number): { length: number; module: boolean } {
    this.reserve(HEAD_BYTES, 0);
    const n = readRangeSync(fd, this.buf, 0, HEAD_BYTES);
    this.mark(0, n);
    const head = this.buf.subarray(0, n);
    return { length: n, module: hasElfMagic(head) || detectCompression(head) !== null };
  }

  /**
   * The modinfo of the open file `fd` (the caller closes it) of `size` bytes, which the caller fstat'ed
   * or learnt from a short head. `headLength`: what readHead just read of this file, not read again.
   * `into`: decompressSync's, for a compressed file.
   */
  modinfo(fd: number, size: number, path: string, opts: ModinfoOptions, headLength = 0, into?: DecompressSyncOptions['into']): ModuleInfo {
    let bytes: Uint8Array;
    let elf: ElfFile | undefined;
    try {
      checkFileSize(size, path, maxBytesOf(opts)); // the caller fstat'ed it: a regular file
      if (size > KEPT_MAX) {
        bytes = Buffer.alloc(size); // zeroed: a file that shrinks under us leaves zeros, not heap
        readRangeSync(fd, bytes, 0, size);
      } else {
        ({ bytes, elf } = this.read(fd, size, Math.min(headLength, size), sectionsFor(opts)));
      }
    } catch (e) {
      throw readError(e, path);
    }
    if (elf === undefined) return decodeModuleSync(bytes, path, opts, into);
    try {
      return modinfoFromElf(elf, { ...opts, filename: path, compression: null });
    } catch (e) {
      return withPath(e, path);
    }
  }

  /** The file's image in the kept buffer (valid until the next read), and its ELF when read sparsely. */
  private read(fd: number, size: number, have: number, sections: readonly string[]): { bytes: Uint8Array; elf?: ElfFile } {
    this.reserve(size, have);
    const buf = this.buf.subarray(0, size);
    if (size >= SPARSE_MIN_SIZE) {
      this.clean(have, size);
      const elf = readSparseSync(fd, buf, sections, this.dirty, (off, len) => this.mark(off, len));
      if (elf !== 'whole') return { bytes: buf, elf };
    }
    // Read whole: only a short read (the file shrank) leaves bytes to zero.
    const n = have + readRangeSync(fd, buf, have, size - have);
    this.mark(have, n - have);
    this.clean(n, size);
    return { bytes: buf };
  }

  /** Makes the buffer at least `size` bytes, keeping its first `keep` bytes. */
  private reserve(size: number, keep: number): void {
    if (this.buf.length >= size) return;
    const bigger = Buffer.alloc(Math.max(size, Math.min(KEPT_MAX, this.buf.length * 2)));
    this.buf.copy(bigger, 0, 0, keep);
    this.buf = bigger;
    this.dirty = keep > 0 ? [[0, keep]] : [];
  }

  /** Zeroes what earlier reads left in [start, end). */
  private clean(start: number, end: number): void {
    const still: Range[] = [];
    for (const [off, len] of this.dirty) {
      const stop = Math.min(off + len, this.buf.length);
      const s = Math.max(off, start);
      const e = Math.min(stop, end);
      if (s < e) this.buf.fill(0, s, e);
      if (off < start) still.push([off, Math.min(stop, start) - off]);
      if (stop > end) still.push([Math.max(off, end), stop - Math.max(off, end)]);
    }
    this.dirty = still;
  }

  /** Records that [off, off + len) now holds file bytes. */
  private mark(off: number, len: number): void {
    if (len <= 0) return;
    let end = off + len;
    const out: Range[] = [];
    let placed = false;
    for (const [o, l] of this.dirty) {
      if (o + l < off) out.push([o, l]);
      else if (o > end) {
        if (!placed) out.push([off, end - off]);
        placed = true;
        out.push([o, l]);
      } else {
        off = Math.min(off, o);
        end = Math.max(end, o + l);
      }
    }
    if (!placed) out.push([off, end - off]);
    this.dirty = out;
  }
}

/** The sections modinfo decodes with these options (a sparse read skips the others). */
function sectionsFor(opts: ModinfoOptions): readonly string[] {
  if (opts.versions !== false && opts.buildId !== false) return MODINFO_SECTIONS;
  return MODINFO_SECTIONS.filter((name) =>
    name === '.note.gnu.build-id' ? opts.buildId !== false : !name.startsWith('__version') || opts.versions !== false,
  );
}
