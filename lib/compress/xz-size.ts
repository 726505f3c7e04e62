// The exact decompressed size of an .xz file, found by walking its container and LZMA2 chunk headers
// without decoding anything. Every LZMA2 chunk states how many bytes it unpacks to, so the sum is what a
// correct decoder must produce: decompress() checks it against the caller's limit *before* decoding, so
// a hostile file cannot make the decoder allocate without bound, and checks the output against it after.
// Format: https://tukaani.org/xz/xz-file-format.txt (stream, block, index) and the LZMA2 chunk layout
// from liblzma's lzma2_decoder.c / the kernel's lib/xz/xz_dec_lzma2.c.
import { invalidInput, type KernmodError } from '../errors.js';
import { detectCompression } from './detect.js';
import { LINUX_ERRNO } from '../errno.js';

const STREAM_HEADER_SIZE = 12;
const STREAM_FOOTER_SIZE = 12;
const FILTER_LZMA2 = 0x21n;
/** Size-preserving filters that may precede LZMA2: delta and the BCJ family (x86 ... RISC-V). */
const SIZE_PRESERVING_FILTERS = new Set([0x03n, 0x04n, 0x05n, 0x06n, 0x07n, 0x08n, 0x09n, 0x0an, 0x0bn]);

function corrupt(reason: string, offset: number): KernmodError {
  return invalidInput('ERR_KERNMOD_DECOMPRESS', `corrupt xz data: ${reason} (at byte ${offset})`, { errno: -LINUX_ERRNO.EINVAL });
}

/** Bytes of the integrity check for each check ID (xz-file-format.txt 2.1.1.2). */
export function xzCheckSize(checkId: number): number {
  if (checkId === 0) return 0;
  return 4 << Math.floor((checkId - 1) / 3);
}

/** A variable-length integer (7 bits a byte, little-endian, at most 9 bytes). */
function readVli(b: Uint8Array, pos: number, end: number): { value: bigint; next: number } {
  let value = 0n;
  for (let i = 0; i < 9; i++) {
    if (pos + i >= end) throw corrupt('truncated integer', pos + i);
    const byte = b[pos + i]!;
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) {
      if (byte === 0 && i > 0) throw corrupt('integer not in its shortest form', pos + i);
      return { value, next: pos + i + 1 };
    }
  }
  throw corrupt('integer longer than 9 bytes', pos);
}

function be16(b: Uint8Array, pos: number): number {
  return (b[pos]! << 8) | b[pos + 1]!;
}

/** Walks one block's LZMA2 chunks; returns the unpacked size and where the compressed data ends. */
export function walkLzma2(b: Uint8Array, pos: number, end: number): { unpacked: number; next: number } {
  let unpacked = 0;
  for (;;) {
    if (pos >= end) throw corrupt('LZMA2 data ends without an end marker', pos);
    const control = b[pos]!;
    if (control === 0x00) return { unpacked, next: pos + 1 };
    if (control === 0x01 || control === 0x02) {
      // Uncompressed chunk: 16-bit size - 1, then the bytes themselves.
      if (pos + 3 > end) throw corrupt('truncated LZMA2 chunk header', pos);
      const size = be16(b, pos + 1) + 1;
      pos += 3 + size;
      unpacked += size;
    } else if (control >= 0x80) {
      // LZMA chunk: 21-bit unpacked size - 1, 16-bit packed size - 1, a properties byte on reset >= 2.
      const headerSize = control >= 0xc0 ? 6 : 5;
      if (pos + headerSize > end) throw corrupt('truncated LZMA2 chunk header', pos);
      const size = ((control & 0x1f) << 16) + be16(b, pos + 1) + 1;
      const packed = be16(b, pos + 3) + 1;
      pos += headerSize + packed;
      unpacked += size;
    } else {
      throw corrupt(`invalid LZMA2 control byte 0x${control.toString(16)}`, pos);
    }
    if (pos > end) throw corrupt('LZMA2 chunk runs past the end of the data', end);
  }
}

/**
 * The decompressed size of a complete .xz file (all streams). Throws ERR_KERNMOD_DECOMPRESS for a
 * malformed container. Cost: a few reads per 64 KiB of compressed data.
 */
export function xzUncompressedSize(b: Uint8Array): number {
  let pos = 0;
  let total = 0;
  let streams = 0;
  while (pos < b.length) {
    if (streams > 0) {
      // Stream padding: zero bytes in multiples of four, then maybe another stream.
      if (b[pos] === 0) {
        if (pos + 4 > b.length || b[pos + 1] !== 0 || b[pos + 2] !== 0 || b[pos + 3] !== 0) throw corrupt('bad stream padding', pos);
        pos += 4;
        continue;
      }
    }
    const start = pos;
    if (pos + STREAM_HEADER_SIZE + STREAM_FOOTER_SIZE > b.length) throw corrupt('truncated stream', pos);
    if (detectCompression(b.subarray(pos)) !== 'xz') throw corrupt('bad stream header magic', pos);
    if (b[pos + 6] !== 0 || (b[pos + 7]! & 0xf0) !== 0) throw corrupt('unsupported stream flags', pos + 6);
    const checkSize = xzCheckSize(b[pos + 7]! & 0x0f);
    pos += STREAM_HEADER_SIZE;

    const blockSizes: Array<{ unpadded: bigint; unpacked: number }> = [];
    for (;;) {
      if (pos >= b.length) throw corrupt('truncated block', pos);
      const headerByte = b[pos]!;
      if (headerByte === 0) break; // the index follows
      const headerSize = (headerByte + 1) * 4;
      const blockStart = pos;
      const headerEnd = pos + headerSize;
      if (headerEnd > b.length) throw corrupt('truncated block header', pos);
      const flags = b[pos + 1]!;
      if (flags & 0x3c) throw corrupt('reserved block flags set', pos + 1);
      let p = pos + 2;
      let declaredPacked: bigint | undefined;
      let declaredUnpacked: bigint | undefined;
      const fieldsEnd = headerEnd - 4; // the CRC32 closes the header
      if (flags & 0x40) ({ value: declaredPacked, next: p } = readVli(b, p, fieldsEnd));
      if (flags & 0x80) ({ value: declaredUnpacked, next: p } = readVli(b, p, fieldsEnd));
      const filters = (flags & 0x03) + 1;
      let lastFilter = -1n;
      for (let f = 0; f < filters; f++) {
        const id = readVli(b, p, fieldsEnd);
        const propsSize = readVli(b, id.next, fieldsEnd);
        p = propsSize.next + Number(propsSize.value);
        if (p > fieldsEnd) throw corrupt('filter properties run past the block header', p);
        if (f < filters - 1 && !SIZE_PRESERVING_FILTERS.has(id.value)) {
          throw corrupt(`unsupported filter 0x${id.value.toString(16)}`, id.next);
        }
        lastFilter = id.value;
      }
      if (lastFilter !== FILTER_LZMA2) throw corrupt(`the last filter is 0x${lastFilter.toString(16)}, not LZMA2`, pos);
      const data = walkLzma2(b, headerEnd, b.length);
      const packed = data.next - headerEnd;
      if (declaredPacked !== undefined && declaredPacked !== BigInt(packed))
        throw corrupt('block compressed size disagrees with its header', pos);
      if (declaredUnpacked !== undefined && declaredUnpacked !== BigInt(data.unpacked)) {
        throw corrupt('block uncompressed size disagrees with its header', pos);
      }
      pos = data.next;
      while ((pos - blockStart) % 4 !== 0) {
        if (pos >= b.length || b[pos] !== 0) throw corrupt('bad block padding', pos);
        pos++;
      }
      pos += checkSize;
      if (pos > b.length) throw corrupt('truncated block check', b.length);
      blockSizes.push({ unpadded: BigInt(headerSize + packed + checkSize), unpacked: data.unpacked });
      total += data.unpacked;
    }

    // The index repeats every block's sizes: a cheap cross-check of the walk above.
    const indexStart = pos;
    let { value: records, next: p } = readVli(b, pos + 1, b.length);
    if (records !== BigInt(blockSizes.length)) throw corrupt('index record count disagrees with the blocks', pos);
    for (const block of blockSizes) {
      const unpadded = readVli(b, p, b.length);
      const unpacked = readVli(b, unpadded.next, b.length);
      if (unpadded.value !== block.unpadded || unpacked.value !== BigInt(block.unpacked))
        throw corrupt('index disagrees with the blocks', p);
      p = unpacked.next;
    }
    while ((p - indexStart) % 4 !== 0) {
      if (p >= b.length || b[p] !== 0) throw corrupt('bad index padding', p);
      p++;
    }
    p += 4; // CRC32 of the index
    if (p + STREAM_FOOTER_SIZE > b.length) throw corrupt('truncated stream footer', p);
    if (b[p + 10] !== 0x59 || b[p + 11] !== 0x5a) throw corrupt('bad stream footer magic', p + 10);
    pos = p + STREAM_FOOTER_SIZE;
    streams++;
    if (pos <= start) throw corrupt('no progress', pos); // cannot happen; guards the loop
  }
  if (streams === 0) throw corrupt('empty input', 0);
  return total;
}
