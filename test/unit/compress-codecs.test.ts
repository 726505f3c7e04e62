// lib/compress over synthetic bytes: magic detection, the size walkers for xz and zstd (built here
// byte by byte), decoding, and the limits — a hostile header or a bomb ends in a typed error before
// any large allocation. Real files (our test modules, Debian's .ko.xz) close each section.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { crc32, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decompress, decompressSync, detectCompression, setXzDecoder } from '../../lib/compress/index.js';
import { xzUncompressedSize } from '../../lib/compress/xz-size.js';
import { zstdSizes } from '../../lib/compress/zstd-size.js';
import { concat } from '../fixtures/elf-builder.js';

const require = createRequire(import.meta.url);
const { xz } = require('@napi-rs/lzma') as { xz: { compressSync(b: Uint8Array): Buffer } };

const u32le = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};

/** An .xz file holding `payload` in LZMA2 *uncompressed* chunks (control 0x01), with correct CRCs. */
function xzStored(payload: Uint8Array, check: 0 | 1 = 1): Uint8Array {
  const flags = new Uint8Array([0, check]);
  const header = concat(new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]), flags, u32le(crc32(flags)));
  // Block header: size byte 2 → (2+1)*4 = 12 bytes; flags 0 (one filter); LZMA2 id 0x21, 1 props byte (dict 0x08).
  const bh = new Uint8Array([2, 0, 0x21, 1, 0x08, 0, 0, 0]);
  const blockHeader = concat(bh, u32le(crc32(bh)));
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < payload.length; i += 0x10000) {
    const part = payload.subarray(i, i + 0x10000);
    chunks.push(new Uint8Array([i === 0 ? 0x01 : 0x02, (part.length - 1) >> 8, (part.length - 1) & 0xff]), part);
  }
  chunks.push(new Uint8Array([0]));
  const data = concat(...chunks);
  const pad = (4 - ((blockHeader.length + data.length) % 4)) % 4;
  const checkBytes = check === 1 ? u32le(crc32(payload)) : new Uint8Array(0);
  const block = concat(blockHeader, data, new Uint8Array(pad), checkBytes);
  const unpadded = blockHeader.length + data.length + checkBytes.length;
  const vli = (n: number) => {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return out;
  };
  let index: Uint8Array = new Uint8Array([0, 1, ...vli(unpadded), ...vli(payload.length)]);
  index = concat(index, new Uint8Array((4 - (index.length % 4)) % 4));
  index = concat(index, u32le(crc32(index)));
  const backward = new Uint8Array(u32le(index.length / 4 - 1));
  const footerBody = concat(backward, flags);
  const footer = concat(u32le(crc32(footerBody)), footerBody, new Uint8Array([0x59, 0x5a]));
  return concat(header, block, index, footer);
}

/** A zstd frame from raw/RLE blocks: [type, size, byte-or-bytes][]. */
function zstdFrame(
  blocks: Array<{ raw: Uint8Array } | { rle: number; size: number }>,
  opts: { fcs?: number; windowLog?: number } = {},
): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([0x28, 0xb5, 0x2f, 0xfd])];
  if (opts.fcs !== undefined) {
    parts.push(new Uint8Array([0x80 /* fcs 4 bytes, not single segment */, ((opts.windowLog ?? 20) - 10) << 3]), u32le(opts.fcs));
  } else {
    parts.push(new Uint8Array([0x00, ((opts.windowLog ?? 20) - 10) << 3]));
  }
  blocks.forEach((b, i) => {
    const last = i === blocks.length - 1 ? 1 : 0;
    const size = 'raw' in b ? b.raw.length : b.size;
    const type = 'raw' in b ? 0 : 1;
    const h = last | (type << 1) | (size << 3);
    parts.push(new Uint8Array([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), 'raw' in b ? b.raw : new Uint8Array([b.rle]));
  });
  return concat(...parts);
}

const payload = new Uint8Array(Array.from({ length: 150_000 }, (_, i) => (i * 7 + (i >> 9)) & 0xff));

describe('detectCompression', () => {
  it('goes by magic bytes only', () => {
    expect(detectCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
    expect(detectCompression(new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe('xz');
    expect(detectCompression(new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x01]))).toBeNull();
    expect(detectCompression(new Uint8Array([0x1f, 0x8b]))).toBe('gzip');
    expect(detectCompression(new Uint8Array([0x7f, 0x45, 0x4c, 0x46]))).toBeNull();
    expect(detectCompression(new Uint8Array([0x1f]))).toBeNull();
  });

  it('refuses bytes that are not compressed, and non-bytes', async () => {
    expect(() => decompressSync(new Uint8Array([0x7f, 0x45, 0x4c, 0x46]))).toThrow(
      expect.objectContaining({ code: 'ERR_KERNMOD_DECOMPRESS' }),
    );
    expect(() => decompressSync('x' as never)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE' }));
    await expect(decompress(new Uint8Array(8), { maxBytes: -1 })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_OPTION' });
  });
});

describe('xz', () => {
  it('walks a hand-built stream of uncompressed LZMA2 chunks to its exact size, and decodes it', async () => {
    const file = xzStored(payload);
    expect(xzUncompressedSize(file)).toBe(payload.length);
    expect(decompressSync(file)).toEqual(Buffer.from(payload));
    expect(await decompress(file)).toEqual(Buffer.from(payload));
  }, 20_000); // ~2 s on a quiet host (the decoders' first use); 5 s was not enough with both cores busy

  it('agrees with the encoder on real LZMA2 data, and with concatenated streams', () => {
    const packed = xz.compressSync(payload);
    expect(xzUncompressedSize(packed)).toBe(payload.length);
    expect(Buffer.from(decompressSync(packed)).equals(Buffer.from(payload))).toBe(true);
    expect(xzUncompressedSize(concat(packed, new Uint8Array(4), xzStored(payload)))).toBe(2 * payload.length);
  });

  it('refuses output beyond maxBytes before decoding: a 2 MiB-per-chunk claim in 6 bytes', () => {
    expect(() => decompressSync(xzStored(payload), { maxBytes: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE' }));
    // 200 LZMA chunk headers each claiming 2 MiB (0x9F: unpacked-size high bits all set).
    const lie = new Uint8Array([
      0xe0,
      0x1f,
      0xff,
      0x00,
      0x00,
      0x5d,
      0x00,
      ...Array.from({ length: 199 }, () => [0x9f, 0xff, 0xff, 0x00, 0x00, 0x00]).flat(),
      0x00,
    ]);
    const walker = concat(
      new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0, 1, 0, 0, 0, 0]),
      new Uint8Array([2, 0, 0x21, 1, 0x08, 0, 0, 0, 0, 0, 0, 0]),
      lie,
    );
    expect(() => xzUncompressedSize(walker)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_DECOMPRESS' })); // no index: corrupt
    const t = performance.now();
    expect(() => decompressSync(walker, { maxBytes: 1 << 20 })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_DECOMPRESS' }));
    expect(performance.now() - t).toBeLessThan(100);
  });

  it('names the damage: truncation, bad magic, bad control byte, index mismatch', () => {
    const file = xzStored(payload);
    const why = (b: Uint8Array) => {
      try {
        xzUncompressedSize(b);
        return 'no error';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(why(file.subarray(0, file.length - 1))).toMatch(/corrupt xz data/);
    expect(why(file.subarray(0, 30))).toMatch(/corrupt xz data/);
    const ctl = file.slice();
    ctl[24] = 0x05; // first LZMA2 control byte (after 12 + 12 header bytes)
    expect(why(ctl)).toMatch(/invalid LZMA2 control byte 0x5/);
    const idx = file.slice();
    idx[file.length - 12 - 8 + 3]! ^= 1; // a byte of the index's uncompressed size
    expect(why(idx)).toMatch(/index/);
    for (let n = 0; n < file.length; n += 997)
      expect(() => decompressSync(file.subarray(0, n))).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_DECOMPRESS' }));
  });

  it('hands a replacement decoder (setXzDecoder) the exact size, and still checks its output', async () => {
    const file = xzStored(payload);
    const sizes: number[] = [];
    setXzDecoder({
      decompressSync: (_b, size) => (sizes.push(size), new Uint8Array(size)),
      decompress: async (_b, size) => (sizes.push(size), new Uint8Array(size - 1)),
    });
    try {
      expect(decompressSync(file).length).toBe(payload.length);
      await expect(decompress(file)).rejects.toThrow(/decoded 149999 bytes where its headers state 150000/);
      expect(sizes).toEqual([payload.length, payload.length]);
    } finally {
      setXzDecoder(undefined);
    }
    expect(Buffer.from(decompressSync(file)).equals(Buffer.from(payload))).toBe(true);
  });

  it('turns decoder failures into ERR_KERNMOD_DECOMPRESS (a flipped CRC)', async () => {
    const file = xzStored(payload);
    const bad = file.slice();
    bad[12 + 12 + 3 + 0x10000 + 3 + (payload.length - 0x10000) + 1 + 1]! ^= 0xff; // inside the CRC32 check
    expect(() => decompressSync(bad)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_DECOMPRESS' }));
    await expect(decompress(bad)).rejects.toMatchObject({ code: 'ERR_KERNMOD_DECOMPRESS' });
  });
});

describe('zstd', () => {
  it('bounds and decodes raw and RLE blocks', async () => {
    const frame = zstdFrame([{ raw: payload.subarray(0, 1000) }, { rle: 0x41, size: 5000 }]);
    expect(zstdSizes(frame)).toEqual({ bound: 6000, declared: undefined, largestAllocation: 1 << 20 });
    const out = decompressSync(frame);
    expect(out.length).toBe(6000);
    expect(Buffer.from(out.subarray(0, 1000)).equals(Buffer.from(payload.subarray(0, 1000)))).toBe(true);
    expect(out[5999]).toBe(0x41);
    expect(await decompress(frame)).toEqual(out);
  });

  it('refuses a frame whose window or content size exceeds maxBytes, before the decoder allocates it', () => {
    const bigWindow = zstdFrame([{ rle: 0, size: 10 }], { windowLog: 31 }); // 2 GiB window
    expect(() => decompressSync(bigWindow)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE' }));
    const bigFcs = zstdFrame([{ rle: 0, size: 10 }], { fcs: 0xfffffff0 });
    expect(() => decompressSync(bigFcs)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_DECOMPRESS' })); // blocks cannot produce it
    // An RLE bomb: 2000 blocks × 128 KiB from 8 KB of input.
    const bomb = zstdFrame(
      Array.from({ length: 2000 }, () => ({ rle: 7, size: 128 * 1024 })),
      { windowLog: 17 },
    );
    expect(bomb.length).toBeLessThan(10_000);
    expect(() => decompressSync(bomb, { maxBytes: 64 << 20 })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE' }));
  });

  it('reports truncation and reserved bits as corrupt', () => {
    const frame = zstdFrame([{ raw: payload.subarray(0, 100) }]);
    expect(() => decompressSync(frame.subarray(0, frame.length - 1))).toThrow(/corrupt zstd data/);
    const reserved = frame.slice();
    reserved[4]! |= 0x08;
    expect(() => decompressSync(reserved)).toThrow(/reserved frame header bit/);
    const type3 = frame.slice();
    type3[6]! |= 0x06; // block type 3
    expect(() => decompressSync(type3)).toThrow(/reserved block type/);
  });
});

describe('gzip', () => {
  it('decodes, and stops a bomb at maxBytes', async () => {
    expect(Buffer.from(decompressSync(gzipSync(payload))).equals(Buffer.from(payload))).toBe(true);
    const bomb = gzipSync(new Uint8Array(20 << 20));
    expect(bomb.length).toBeLessThan(100_000);
    expect(() => decompressSync(bomb, { maxBytes: 1 << 20 })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE' }));
    await expect(decompress(bomb, { maxBytes: 1 << 20 })).rejects.toMatchObject({ code: 'ERR_KERNMOD_TOO_LARGE' });
    const corrupt = gzipSync(payload).subarray(0, 500);
    expect(() => decompressSync(corrupt)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_DECOMPRESS' }));
  });
});

// Our test modules, when built: every compressed copy decodes to the plain module.
const cacheDir = new URL('../../.cache/test-modules/', import.meta.url).pathname;
const releases = existsSync(cacheDir) ? readdirSync(cacheDir).filter((r) => existsSync(`${cacheDir}${r}/manifest.json`)) : [];
describe.skipIf(releases.length === 0)('test modules', () => {
  for (const r of releases) {
    it(`${r}: .gz/.xz/.zst copies and the plain-xz (CRC64, 8 MiB) copy decode to the .ko`, async () => {
      const m = JSON.parse(readFileSync(`${cacheDir}${r}/manifest.json`, 'utf8')) as { modules: Record<string, string> };
      const plain = readFileSync(m.modules.hello!);
      for (const k of ['helloGz', 'helloXz', 'helloZst', 'helloPlainXz']) {
        const b = readFileSync(m.modules[k]!);
        expect(Buffer.from(decompressSync(b)).equals(plain)).toBe(true);
        expect(Buffer.from(await decompress(b)).equals(plain)).toBe(true);
      }
    });
  }
});

// Debian's .ko.xz (kbuild: CRC32, 1 MiB dictionary) against the xz tool, when both are here.
function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const xzTrees = existsSync('/lib/modules')
  ? readdirSync('/lib/modules')
      .map((r) => `/lib/modules/${r}/kernel/drivers/block`)
      .filter((d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.ko.xz')))
  : [];
describe.skipIf(xzTrees.length === 0 || !which('xz'))("Debian's .ko.xz", () => {
  it('decode to the same bytes as xz -dc, with the walked size', async () => {
    const files = readdirSync(xzTrees[0]!)
      .filter((f) => f.endsWith('.ko.xz'))
      .slice(0, 8)
      .map((f) => `${xzTrees[0]}/${f}`);
    for (const f of files) {
      const b = readFileSync(f);
      const ref = execFileSync('xz', ['-dc', f], { maxBuffer: 256 << 20 });
      expect(xzUncompressedSize(b)).toBe(ref.length);
      expect(Buffer.from(await decompress(b)).equals(ref)).toBe(true);
    }
  });
});

// The zstd block walk against the zstd tool: every level's output (FSE tables, repeat modes, Huffman
// literals, long matches) walks to exactly the size the tool decodes, and decodes to the same bytes.
const plainKos = existsSync('/lib/modules')
  ? readdirSync('/lib/modules')
      .map((r) => `/lib/modules/${r}/kernel/drivers/block`)
      .filter((d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.ko')))
  : [];
describe.skipIf(plainKos.length === 0 || !which('zstd'))('zstd tool output', () => {
  it('walks to the exact decoded size at every level, and decodes to the same bytes', () => {
    const files = readdirSync(plainKos[0]!)
      .filter((f) => f.endsWith('.ko'))
      .slice(0, 3)
      .map((f) => `${plainKos[0]}/${f}`);
    for (const f of files) {
      const plain = readFileSync(f);
      for (const args of [['-1'], ['-3'], ['-9'], ['-19', '--long'], ['-3', '--no-content-size', '-B4096'], ['--fast=5']]) {
        const packed = execFileSync('zstd', ['-q', '-c', ...args, f], { maxBuffer: 256 << 20 });
        expect({ args, size: zstdSizes(packed).bound }).toEqual({ args, size: plain.length });
        expect(Buffer.from(decompressSync(packed)).equals(plain)).toBe(true);
      }
    }
  }, 120_000);
});
