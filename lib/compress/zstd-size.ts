// What a .zst file decompresses to, found by walking its frames and blocks without producing output
// (RFC 8878 §3.1): raw and RLE blocks state their size, and a compressed block's is the sum of its
// literals and matches (zstd-block.ts), each block at most Block_Maximum_Size = min(window, 128 KiB) and
// each frame exactly its declared Frame_Content_Size when it has one — the rules by which libzstd
// refuses a corrupt frame at once. decompress() compares the size (and the buffers a decoder would
// allocate up front: the declared content size or the window) with the caller's limit before decoding.
import { corrupt, zstdCompressedBlockSize, type ZstdFrameTables } from './zstd-block.js';

const BLOCK_SIZE_MAX = 128 * 1024;

function le(b: Uint8Array, pos: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[pos + i]!;
  return v;
}

export interface ZstdSizes {
  /** The bytes a correct decoder produces: the sum of every block's size. */
  bound: number;
  /** The sum of the frames' declared content sizes, when every frame declares one. */
  declared: number | undefined;
  /** The largest single buffer a one-shot decoder allocates for a frame (content size, else window). */
  largestAllocation: number;
}

export function zstdSizes(b: Uint8Array): ZstdSizes {
  let pos = 0;
  let bound = 0;
  let declared: number | undefined = 0;
  let largestAllocation = 0;
  let frames = 0;
  while (pos < b.length) {
    if (pos + 4 > b.length) throw corrupt('truncated frame magic', pos);
    const magic = le(b, pos, 4);
    if (magic >= 0x184d2a50 && magic <= 0x184d2a5f) {
      // Skippable frame: 4-byte length, then that many bytes nobody decodes.
      if (pos + 8 > b.length) throw corrupt('truncated skippable frame', pos);
      pos += 8 + le(b, pos + 4, 4);
      if (pos > b.length) throw corrupt('skippable frame runs past the end', b.length);
      frames++;
      continue;
    }
    if (magic !== 0xfd2fb528) throw corrupt('bad frame magic', pos);
    if (pos + 5 > b.length) throw corrupt('truncated frame header', pos);
    const fhd = b[pos + 4]!;
    if (fhd & 0x08) throw corrupt('reserved frame header bit set', pos + 4);
    const fcsFlag = fhd >> 6;
    const singleSegment = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    const dictIdSize = [0, 1, 2, 4][fhd & 3]!;
    const fcsSize = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
    let p = pos + 5;
    let window = 0;
    if (!singleSegment) {
      if (p >= b.length) throw corrupt('truncated window descriptor', p);
      const wd = b[p++]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    p += dictIdSize;
    if (p + fcsSize > b.length) throw corrupt('truncated frame header', p);
    let contentSize: number | undefined;
    if (fcsSize > 0) contentSize = le(b, p, fcsSize) + (fcsSize === 2 ? 256 : 0);
    p += fcsSize;
    if (singleSegment) window = contentSize!;
    const blockMax = Math.min(window, BLOCK_SIZE_MAX);
    largestAllocation = Math.max(largestAllocation, contentSize ?? window);

    let frameSize = 0;
    const tables: ZstdFrameTables = {};
    for (;;) {
      if (p + 3 > b.length) throw corrupt('truncated block header', p);
      const header = le(b, p, 3);
      const last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      p += 3;
      if (type === 0) {
        if (size > blockMax) throw corrupt('raw block larger than the window allows', p - 3);
        p += size;
        frameSize += size;
      } else if (type === 1) {
        if (size > blockMax) throw corrupt('RLE block larger than the window allows', p - 3);
        p += 1;
        frameSize += size;
      } else if (type === 2) {
        if (size > blockMax) throw corrupt('compressed block larger than the window allows', p - 3);
        if (p + size > b.length) throw corrupt('block runs past the end of the data', b.length);
        frameSize += zstdCompressedBlockSize(b, p, p + size, blockMax, tables);
        p += size;
      } else {
        throw corrupt('reserved block type', p - 3);
      }
      if (p > b.length) throw corrupt('block runs past the end of the data', b.length);
      if (last) break;
    }
    if (checksum) p += 4;
    if (p > b.length) throw corrupt('truncated frame checksum', b.length);
    if (contentSize !== undefined && contentSize !== frameSize) {
      throw corrupt(`declared content size ${contentSize} is not the ${frameSize} bytes its blocks produce`, pos);
    }
    declared = contentSize === undefined || declared === undefined ? undefined : declared + contentSize;
    bound += frameSize;
    pos = p;
    frames++;
  }
  if (frames === 0) throw corrupt('empty input', 0);
  return { bound, declared, largestAllocation };
}
