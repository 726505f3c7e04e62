// Will the kernel's own decompressor (kernel/module/decompress.c, CONFIG_MODULE_DECOMPRESS) take this
// file? Told from the container before the call, because after it the answer comes too late: an
// EINVAL from finit_module may just as well come from the module's init or a bad parameter, and a
// retry would run that init twice. What each decoder refuses, from the kernel source:
//  - xz (lib/xz, XZ Embedded, multi-call with no dictionary limit): only check None or CRC32, stream
//    flags 0, per block one LZMA2 filter (props <= 39, one properties byte) optionally after one BCJ
//    filter without properties — which BCJ filters exist depends on the kernel's CONFIG_XZ_DEC_*, which
//    user space cannot see, so any BCJ counts as refused; and only the first stream is decoded.
//  - gzip: method 8 (deflate), a header with at most a file name (FEXTRA, FCOMMENT, FHCRC are not
//    skipped); the first member only (a multi-member file is not told here).
//  - zstd: no dictionary (dictID 0), a window of at most 2^31 bytes, the first frame only.
// A refusal is a sentence for LoadResult.fallbackReason; undefined means the kernel takes the file.
import type { CompressionFormat } from '../compress/index.js';
import { walkLzma2, xzCheckSize } from '../compress/xz-size.js';

const XZ_CHECK_NAMES = ['none', 'CRC32', '2', '3', 'CRC64', '5', '6', '7', '8', '9', 'SHA-256'];
const LZMA2 = 0x21;
const BCJ_FILTERS = new Set([0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b]);
const ZSTD_WINDOW_MAX = 2 ** 31;

/** Why the kernel's decompressor for `format` would refuse `bytes`, or undefined if it takes them. */
export function kernelDecompressRefusal(format: CompressionFormat, bytes: Uint8Array): string | undefined {
  try {
    if (format === 'xz') return xzRefusal(bytes);
    if (format === 'gzip') return gzipRefusal(bytes);
    return zstdRefusal(bytes);
  } catch (e) {
    // A container we cannot walk: user space decodes it, or says exactly what is corrupt.
    return (e as Error).message;
  }
}

/** A multi-byte integer (xz-file-format.txt 1.2); small enough for a number in a block header or index. */
function vli(b: Uint8Array, pos: number): { value: number; next: number } {
  let value = 0;
  for (let i = 0; i < 9 && pos + i < b.length; i++) {
    value += (b[pos + i]! & 0x7f) * 2 ** (7 * i);
    if ((b[pos + i]! & 0x80) === 0) return { value, next: pos + i + 1 };
  }
  throw new Error(`corrupt xz data: bad integer at byte ${pos}`);
}

function xzRefusal(b: Uint8Array): string | undefined {
  if (b.length < 24) return 'the xz data is truncated';
  if (b[6] !== 0) return 'the xz stream flags are not ones the kernel knows';
  const check = b[7]!;
  if (check > 1)
    return `the xz check is ${XZ_CHECK_NAMES[check] ?? check}; the kernel's decoder verifies only CRC32 or none (xz --check=crc32)`;
  let pos = 12;
  while (b[pos] !== 0x00) {
    if (pos >= b.length) throw new Error('corrupt xz data: truncated block');
    const headerEnd = pos + (b[pos]! + 1) * 4;
    const flags = b[pos + 1]!;
    if (flags & 0x3e) return 'an xz block has more than two filters or reserved flags';
    let p = pos + 2;
    if (flags & 0x40) p = vli(b, p).next;
    if (flags & 0x80) p = vli(b, p).next;
    if (flags & 0x01) {
      const id = b[p]!;
      return BCJ_FILTERS.has(id)
        ? `an xz block uses BCJ filter 0x${id.toString(16)}, which the kernel decodes only if it was built with it`
        : `an xz block uses filter 0x${id.toString(16)}, which the kernel does not decode`;
    }
    if (b[p] !== LZMA2 || b[p + 1] !== 0x01) return 'an xz block uses another filter than LZMA2';
    if (b[p + 2]! > 39) return 'an xz block declares a dictionary over 3 GiB';
    for (let i = p + 3; i < headerEnd - 4; i++) if (b[i] !== 0) return 'an xz block header has non-zero padding';
    const blockStart = pos;
    pos = walkLzma2(b, headerEnd, b.length).next;
    pos += (4 - ((pos - blockStart) % 4)) % 4;
    pos += xzCheckSize(check);
  }
  // The index: its records, padding to four bytes, CRC32; then the 12-byte footer ends the stream.
  const indexStart = pos;
  let { value: records, next: p } = vli(b, pos + 1);
  for (; records > 0; records--) p = vli(b, vli(b, p).next).next;
  p += (4 - ((p - indexStart) % 4)) % 4;
  const end = p + 4 + 12;
  if (end > b.length) throw new Error('corrupt xz data: truncated index');
  if (end < b.length) return 'the xz file holds more than one stream; the kernel decodes only the first';
  return undefined;
}

function gzipRefusal(b: Uint8Array): string | undefined {
  if (b.length < 10 || b[2] !== 8) return 'the gzip data is not deflate (method 8)';
  const flags = b[3]!;
  if (flags & ~0x09)
    return (
      'the gzip header carries fields other than a file name (FEXTRA, FCOMMENT, FHCRC or reserved bits), ' +
      "which the kernel's reader does not skip"
    );
  if (flags & 0x08 && b.indexOf(0, 10) === -1) return 'the gzip file name has no end';
  return undefined;
}

function le(b: Uint8Array, pos: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[pos + i]!;
  return v;
}

function zstdRefusal(b: Uint8Array): string | undefined {
  if (b.length < 6) return 'the zstd frame header is incomplete';
  const fhd = b[4]!;
  if (fhd & 0x08) return 'the zstd frame header has its reserved bit set';
  const singleSegment = (fhd >> 5) & 1;
  const dictIdSize = [0, 1, 2, 4][fhd & 3]!;
  const fcsSize = fhd >> 6 === 0 ? singleSegment : 1 << (fhd >> 6);
  let p = 5;
  if (!singleSegment) {
    const wd = b[p++]!;
    const base = 2 ** (10 + (wd >> 3));
    if (base + (base / 8) * (wd & 7) > ZSTD_WINDOW_MAX) return 'the zstd window is larger than the kernel allows (2 GiB)';
  }
  if (dictIdSize > 0 && le(b, p, dictIdSize) !== 0) return 'the zstd frame needs a dictionary, which the kernel does not have';
  p += dictIdSize + fcsSize;
  // Blocks: a 3-byte header each (last flag, type, size); raw and compressed carry `size` bytes, RLE one.
  for (;;) {
    if (p + 3 > b.length) throw new Error('corrupt zstd data: truncated block header');
    const h = le(b, p, 3);
    const type = (h >> 1) & 3;
    if (type === 3) throw new Error('corrupt zstd data: reserved block type');
    p += 3 + (type === 1 ? 1 : h >>> 3);
    if (h & 1) break;
  }
  if (fhd & 0x04) p += 4; // content checksum
  if (p > b.length) throw new Error('corrupt zstd data: truncated frame');
  if (p < b.length) return 'the zstd file holds more than one frame; the kernel decodes only the first';
  return undefined;
}
