// What the kernel's own module decompressor (kernel/module/decompress.c) takes, told from the container
// before finit_module: a refusal sends the file to user space, so an EINVAL after the call is never
// mistaken for a decoder refusal (issue #17). Real containers from the xz/zstd tools and node:zlib.
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { kernelDecompressRefusal } from '../../lib/linux/kernel-decompress.js';

const data = Buffer.from('\x7fELF'.padEnd(100_000, 'module text '), 'latin1');
const tool = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { input: data, maxBuffer: 1 << 26 });
  return r.status === 0 ? r.stdout : null;
};
const xz = (...args: string[]) => tool('xz', ['-c', ...args]);
const zstd = (...args: string[]) => tool('zstd', ['-c', '-q', ...args]);
const hasXz = xz() !== null;
const hasZstd = zstd() !== null;

describe.skipIf(!hasXz)('xz: check None/CRC32, LZMA2 alone, one stream — any dictionary', () => {
  it('takes what kbuild writes, no check, and a large dictionary (the module decoder has no dictionary limit)', () => {
    expect(kernelDecompressRefusal('xz', xz('--check=crc32', '--lzma2=dict=1MiB')!)).toBeUndefined();
    expect(kernelDecompressRefusal('xz', xz('--check=none')!)).toBeUndefined();
    expect(kernelDecompressRefusal('xz', xz('--check=crc32', '--lzma2=dict=64MiB')!)).toBeUndefined();
    expect(kernelDecompressRefusal('xz', xz('--check=crc32', '--block-size=65536')!)).toBeUndefined(); // many blocks
  });

  it('refuses CRC64 and SHA-256, saying which', () => {
    expect(kernelDecompressRefusal('xz', xz()!)).toMatch(/CRC64/);
    expect(kernelDecompressRefusal('xz', xz('--check=sha256')!)).toMatch(/SHA-256/);
  });

  it('refuses a BCJ or delta filter, and a second stream', () => {
    expect(kernelDecompressRefusal('xz', xz('--check=crc32', '--x86', '--lzma2')!)).toMatch(/BCJ/);
    expect(kernelDecompressRefusal('xz', xz('--check=crc32', '--delta=dist=4', '--lzma2')!)).toMatch(/filter 0x3/);
    const one = xz('--check=crc32')!;
    expect(kernelDecompressRefusal('xz', Buffer.concat([one, one]))).toMatch(/more than one stream/);
  });

  it('a container it cannot walk is a refusal (user space then names the corruption)', () => {
    const bad = Buffer.from(xz('--check=crc32')!);
    expect(kernelDecompressRefusal('xz', bad.subarray(0, 30))).toBeDefined();
  });
});

describe('gzip: deflate with at most a file name', () => {
  const gz = gzipSync(data);
  it('takes what gzip and node:zlib write, with or without a name', () => {
    expect(kernelDecompressRefusal('gzip', gz)).toBeUndefined();
    const named = Buffer.concat([gz.subarray(0, 3), Buffer.from([0x08]), gz.subarray(4, 10), Buffer.from('demo.ko\0'), gz.subarray(10)]);
    expect(kernelDecompressRefusal('gzip', named)).toBeUndefined();
  });

  it('refuses FEXTRA, FCOMMENT and FHCRC, which the kernel does not skip', () => {
    for (const flag of [0x02, 0x04, 0x10]) {
      const b = Buffer.from(gz);
      b[3] = flag;
      expect(kernelDecompressRefusal('gzip', b)).toMatch(/file name/);
    }
  });
});

describe.skipIf(!hasZstd)('zstd: no dictionary, one frame', () => {
  it('takes what zstd writes, with or without a checksum', () => {
    expect(kernelDecompressRefusal('zstd', zstd()!)).toBeUndefined();
    expect(kernelDecompressRefusal('zstd', zstd('--no-check')!)).toBeUndefined();
  });

  it('refuses a second frame and a dictionary ID', () => {
    const one = zstd()!;
    expect(kernelDecompressRefusal('zstd', Buffer.concat([one, one]))).toMatch(/more than one frame/);
    // Frame header with a 1-byte dictionary ID (FHD bits 0-1 = 1), single segment, then one empty raw block.
    const withDict = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x21, 0x07, 0x00, 0x01, 0x00, 0x00]);
    expect(kernelDecompressRefusal('zstd', withDict)).toMatch(/dictionary/);
  });
});
