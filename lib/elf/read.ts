// Reading a module file for modinfo. A plain .ko is read *sparsely*, as kmod's mmap effectively does:
// the ELF header, the section headers, the section-name table, the few sections modinfo decodes and the
// signature at the end go into a zero-filled buffer of the file's size; the code and relocations (most
// of the bytes) are never read. That is ~8 small reads instead of copying the whole file, which is what
// makes a whole-tree modinfo fast. Compressed files and anything unusual are read whole.
import { close, closeSync, fstat, fstatSync, open, openSync, type Stats } from 'node:fs';
import { COMPRESSION_MAGIC_BYTES, detectCompression } from '../compress/detect.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../compress/index.js';
import { checkRegularFile, OPEN_NAMED_FILE, readRange, readRangeSync } from '../fs-read.js';
import { findSection, parseElfSections, type ElfFile } from './elf.js';
import { hasSignatureTrailer } from './signature.js';

/** Sections modinfoFromImage decodes. */
export const MODINFO_SECTIONS = ['.modinfo', '__versions', '__version_ext_crcs', '__version_ext_names', '.note.gnu.build-id', '.gnu.linkonce.this_module'] as const;

/** Below this size a file is simply read whole: a few reads cost more than copying it. */
const SPARSE_MIN_SIZE = 64 * 1024;
const SIG_TAIL = 28 + 12;
/**
 * The first read also takes this much of the file's end: ld puts .shstrtab and the section headers
 * last, and sign-file appends the signature after them, so one read usually covers all three.
 */
const TAIL_READ = 16 * 1024;
/** Ranges closer than this are read as one (a syscall costs more than a few KiB of copying). */
const MERGE_GAP = 4096;

type Range = [offset: number, length: number];

/**
 * The plan, written once as a generator and driven by a sync and an async reader: each `yield` asks for
 * ranges to be filled in; the result says to read the file whole, or is the parsed ELF of the sparse
 * image.
 */
function* plan(buf: Uint8Array, sections: readonly string[] = MODINFO_SECTIONS): Generator<Range[], 'whole' | ElfFile, void> {
  const size = buf.length;
  yield [[0, Math.min(size, 64)], [Math.max(0, size - TAIL_READ), Math.min(size, TAIL_READ)]];
  if (detectCompression(buf.subarray(0, COMPRESSION_MAGIC_BYTES)) || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) return 'whole';
  const is64 = buf[4] === 2;
  const le = buf[5] === 1;
  if ((buf[4] !== 1 && !is64) || (buf[5] !== 1 && buf[5] !== 2)) return 'whole';
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shoff = is64 ? Number(v.getBigUint64(40, le)) : v.getUint32(32, le);
  const shentsize = v.getUint16(is64 ? 58 : 46, le);
  const shnum = v.getUint16(is64 ? 60 : 48, le);
  const shstrndx = v.getUint16(is64 ? 62 : 50, le);
  const tableEnd = shoff + shentsize * shnum;
  if (shentsize !== (is64 ? 64 : 40) || tableEnd > size || shstrndx >= shnum) return 'whole';
  yield [[shoff, tableEnd - shoff]];
  const h = shoff + shstrndx * shentsize;
  const strOff = is64 ? Number(v.getBigUint64(h + 24, le)) : v.getUint32(h + 16, le);
  const strSize = is64 ? Number(v.getBigUint64(h + 32, le)) : v.getUint32(h + 20, le);
  if (!(strOff + strSize <= size)) return 'whole';
  yield [[strOff, strSize]];
  // From here the reader's own parser decides which sections matter, exactly as modinfo will.
  let elf;
  try {
    elf = parseElfSections(buf, MODINFO_SECTIONS);
  } catch {
    return 'whole'; // let the full read produce the precise error
  }
  const ranges: Range[] = [];
  for (const name of sections) {
    const s = findSection(elf, name);
    if (s && s.size > 0) ranges.push([s.offset, s.size]);
  }
  if (hasSignatureTrailer(buf)) {
    const sigLen = v.getUint32(size - SIG_TAIL + 8, false);
    const signerLen = buf[size - SIG_TAIL + 3]!;
    const keyIdLen = buf[size - SIG_TAIL + 4]!;
    const start = size - SIG_TAIL - sigLen - signerLen - keyIdLen;
    if (start >= 0) ranges.push([start, size - SIG_TAIL - start]);
  }
  yield ranges;
  return elf; // the section headers it was read from are the image's: modinfo need not parse them again
}

/**
 * The sync reader keeps one scratch buffer, zero except for the ranges in `dirty`, and re-zeroes only
 * what an earlier file left where the next image needs zeros, so a read costs no allocation and no
 * full-size memset (both dominated a whole-tree run: most modules are small, and a fresh buffer per file
 * kept the garbage collector busy). Every image it returns — sparse, whole or compressed — is therefore
 * only valid until the next call: modinfoSync() decodes it at once and keeps no reference (every value
 * it returns is a copy); modinfo() copies compressed bytes before it hands them to an asynchronous
 * decoder.
 */
const SCRATCH_MAX = 64 * 1024 * 1024;
let scratch = Buffer.alloc(0);
let dirty: Range[] = [];

/** Makes the scratch buffer at least `size` bytes, keeping its first `keep` bytes. */
function reserve(size: number, keep: number): void {
  if (scratch.length >= size) return;
  const bigger = Buffer.alloc(Math.max(size, Math.min(SCRATCH_MAX, scratch.length * 2)));
  scratch.copy(bigger, 0, 0, keep);
  scratch = bigger;
  dirty = keep > 0 ? [[0, keep]] : [];
}

/** Zeroes what earlier reads left in [start, end) of the scratch buffer. */
function clean(start: number, end: number): void {
  const still: Range[] = [];
  for (const [off, len] of dirty) {
    const stop = Math.min(off + len, scratch.length);
    const s = Math.max(off, start);
    const e = Math.min(stop, end);
    if (s < e) scratch.fill(0, s, e);
    if (off < start) still.push([off, Math.min(stop, start) - off]);
    if (stop > end) still.push([Math.max(off, end), stop - Math.max(off, end)]);
  }
  dirty = still;
}

/** Records that [off, off + len) now holds file bytes; `dirty` stays sorted, without overlaps. */
function mark(off: number, len: number): void {
  if (len <= 0) return;
  let end = off + len;
  const out: Range[] = [];
  let placed = false;
  for (const [o, l] of dirty) {
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
  dirty = out;
}

/**
 * What still has to be read of `ranges`, given what `filled` already covers (both as [offset, length]),
 * with neighbours merged. Keeps the reader at about four reads per module.
 */
export function pendingRanges(ranges: Range[], filled: Range[]): Range[] {
  const covered = (off: number, len: number) => filled.some(([f, l]) => off >= f && off + len <= f + l);
  const todo = ranges.filter(([off, len]) => len > 0 && !covered(off, len)).sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  for (const [off, len] of todo) {
    const last = out[out.length - 1];
    if (last && off <= last[0] + last[1] + MERGE_GAP) last[1] = Math.max(last[1], off + len - last[0]);
    else out.push([off, len]);
  }
  return out;
}

/**
 * A module file's image (sparse for a large plain .ko). Only a regular file of at most `maxBytes` is
 * read (checkRegularFile): a FIFO neither blocks the open nor is read, and a huge file is refused
 * before any buffer is allocated for it.
 */
export function readModuleImageSync(path: string, maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES): Uint8Array {
  const fd = openSync(path, OPEN_NAMED_FILE);
  try {
    const st = fstatSync(fd);
    checkRegularFile(st, path, maxBytes);
    return readModuleImageFdSync(fd, st.size);
  } finally {
    closeSync(fd);
  }
}

/** What readModuleHeadSync reads: a small module (most of them) whole, a large one's ELF header. */
export const HEAD_BYTES = SPARSE_MIN_SIZE;

/**
 * The first HEAD_BYTES of an open file — all of it when it is shorter, which then needs no fstat to
 * know its size — in the scratch buffer, for readModuleImageFdSync to go on from.
 */
export function readModuleHeadSync(fd: number): Uint8Array {
  reserve(HEAD_BYTES, 0);
  const n = readRangeSync(fd, scratch, 0, HEAD_BYTES);
  mark(0, n);
  return scratch.subarray(0, n);
}

/**
 * readModuleImageSync of a file the caller has open and has fstat'ed (and closes); `head`, when given,
 * is what readModuleHeadSync read from it just before, and is not read again. `sections`: the ones to
 * read from a large plain module, default all that modinfo decodes. `parsed.elf` is set to the image's
 * parsed ELF when the reader had to parse it (a sparse read), so that it is not parsed twice.
 */
export function readModuleImageFdSync(fd: number, size: number, head?: Uint8Array, sections: readonly string[] = MODINFO_SECTIONS, parsed?: { elf?: ElfFile }): Uint8Array {
  if (size > SCRATCH_MAX) {
    const buf = Buffer.alloc(size); // zeroed: a file that shrinks under us leaves zeros, not heap
    readRangeSync(fd, buf, 0, size);
    return buf;
  }
  const have = Math.min(head?.length ?? 0, size);
  reserve(size, have);
  const buf = scratch.subarray(0, size);
  if (size < SPARSE_MIN_SIZE) {
    // Read whole: only a short read (the file shrank) leaves bytes to zero.
    const n = have + readRangeSync(fd, buf, have, size - have);
    mark(have, n - have);
    clean(n, size);
    return buf;
  }
  clean(have, size);
  const p = plan(buf, sections);
  for (let step = p.next(); ; step = p.next()) {
    if (step.done) {
      if (step.value !== 'whole') {
        if (parsed) parsed.elf = step.value;
        return buf;
      }
      mark(have, readRangeSync(fd, buf, have, size - have));
      return buf;
    }
    for (const [off, len] of pendingRanges(step.value, dirty)) {
      readRangeSync(fd, buf, off, len);
      mark(off, len);
    }
  }
}

const call = <T>(fn: (cb: (err: NodeJS.ErrnoException | null, v: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

/** readModuleImageSync with callback fs (lighter than fs/promises' FileHandle for thousands of small files). */
export async function readModuleImage(path: string, maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES): Promise<Uint8Array> {
  const fd = await call<number>((cb) => open(path, OPEN_NAMED_FILE, cb));
  try {
    const st = await call<Stats>((cb) => fstat(fd, cb));
    checkRegularFile(st, path, maxBytes);
    const size = st.size;
    const buf = Buffer.alloc(size);
    const fill = async (ranges: Range[]) => {
      await Promise.all(ranges.map(([off, len]) => readRange(fd, buf, off, len)));
    };
    if (size < SPARSE_MIN_SIZE) {
      await fill([[0, size]]);
      return buf;
    }
    const p = plan(buf);
    const filled: Range[] = [];
    for (let step = p.next(); ; step = p.next()) {
      if (step.done) {
        if (step.value === 'whole') await fill([[0, size]]);
        return buf;
      }
      const todo = pendingRanges(step.value, filled);
      filled.push(...todo);
      await fill(todo);
    }
  } finally {
    await call<void>((cb) => close(fd, (err) => cb(err, undefined)));
  }
}
