// Reading a module file for modinfo. A plain .ko is read *sparsely*, as kmod's mmap effectively does:
// the ELF header, the section headers, the section-name table, the few sections modinfo decodes and the
// signature at the end go into a zero-filled buffer of the file's size; the code and relocations (most
// of the bytes) are never read. That is ~8 small reads instead of copying the whole file, which is what
// makes a whole-tree modinfo fast. Compressed files and anything unusual are read whole.
import { close, closeSync, fstat, fstatSync, open, openSync, type Stats } from 'node:fs';
import { COMPRESSION_MAGIC_BYTES, detectCompression } from '../compress/detect.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../compress/index.js';
import { checkRegularFile, OPEN_NAMED_FILE, readRange, readRangeSync } from '../fs-read.js';
import { findSection, parseElfSections, readElfHeader, type ElfFile } from './elf.js';
import { hasSignatureTrailer } from './signature.js';

/** Sections modinfoFromImage decodes. */
export const MODINFO_SECTIONS = [
  '.modinfo',
  '__versions',
  '__version_ext_crcs',
  '__version_ext_names',
  '.note.gnu.build-id',
  '.gnu.linkonce.this_module',
] as const;

/** Below this size a file is simply read whole: a few reads cost more than copying it. */
export const SPARSE_MIN_SIZE = 64 * 1024;
const SIG_TAIL = 28 + 12;
/**
 * The first read also takes this much of the file's end: ld puts .shstrtab and the section headers
 * last, and sign-file appends the signature after them, so one read usually covers all three.
 */
const TAIL_READ = 16 * 1024;
/** Ranges closer than this are read as one (a syscall costs more than a few KiB of copying). */
const MERGE_GAP = 4096;

export type Range = [offset: number, length: number];

/**
 * The plan, written once as a generator and driven by a sync and an async reader: each `yield` asks for
 * ranges to be filled in; the result says to read the file whole, or is the parsed ELF of the sparse
 * image.
 */
function* plan(buf: Uint8Array, sections: readonly string[] = MODINFO_SECTIONS): Generator<Range[], 'whole' | ElfFile, void> {
  const size = buf.length;
  yield [
    [0, Math.min(size, 64)],
    [Math.max(0, size - TAIL_READ), Math.min(size, TAIL_READ)],
  ];
  if (detectCompression(buf.subarray(0, COMPRESSION_MAGIC_BYTES))) return 'whole';
  let elf: ElfFile;
  try {
    const h = readElfHeader(buf);
    yield [[h.shoff, h.shnum * h.shentsize]];
    yield [h.nameTable()];
    // From here the reader's own parser decides which sections matter, exactly as modinfo will.
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
    const sigLen = new DataView(buf.buffer, buf.byteOffset, size).getUint32(size - SIG_TAIL + 8); // big-endian
    const signerLen = buf[size - SIG_TAIL + 3]!;
    const keyIdLen = buf[size - SIG_TAIL + 4]!;
    const start = size - SIG_TAIL - sigLen - signerLen - keyIdLen;
    if (start >= 0) ranges.push([start, size - SIG_TAIL - start]);
  }
  yield ranges;
  return elf; // the section headers it was read from are the image's: modinfo need not parse them again
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
 * Reads the parts of a large plain module that modinfo decodes into `buf` (the file's size, zero
 * wherever the file is not read yet), with synchronous reads. `have`: ranges of `buf` that hold this
 * file's bytes already (not read again); `onRead` is told of each range read. Returns the parsed ELF of
 * the sparse image, or 'whole' when the file is not one to read sparsely: the caller reads it whole then.
 */
export function readSparseSync(
  fd: number,
  buf: Uint8Array,
  sections: readonly string[] = MODINFO_SECTIONS,
  have: readonly Range[] = [],
  onRead?: (off: number, len: number) => void,
): ElfFile | 'whole' {
  const filled = have.slice();
  const p = plan(buf, sections);
  for (let step = p.next(); ; step = p.next()) {
    if (step.done) return step.value;
    for (const [off, len] of pendingRanges(step.value, filled)) {
      readRangeSync(fd, buf, off, len);
      filled.push([off, len]);
      onRead?.(off, len);
    }
  }
}

/**
 * A module file's image (sparse for a large plain .ko), in a buffer of its own. Only a regular file of
 * at most `maxBytes` is read (checkRegularFile): a FIFO neither blocks the open nor is read, and a huge
 * file is refused before any buffer is allocated for it.
 */
export function readModuleImageSync(path: string, maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES): Uint8Array {
  const fd = openSync(path, OPEN_NAMED_FILE);
  try {
    const st = fstatSync(fd);
    checkRegularFile(st, path, maxBytes);
    if (st.size < SPARSE_MIN_SIZE) {
      // Read whole, so only what a short read (the file shrank) leaves needs zeroing. Not from Node's
      // shared pool: the image's ArrayBuffer holds this file alone.
      const buf = Buffer.allocUnsafeSlow(st.size);
      buf.fill(0, readRangeSync(fd, buf, 0, st.size));
      return buf;
    }
    const buf = Buffer.alloc(st.size); // zeroed: what a sparse read skips is zeros
    if (readSparseSync(fd, buf) === 'whole') readRangeSync(fd, buf, 0, st.size);
    return buf;
  } finally {
    closeSync(fd);
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
