// The liblzma decoder addon (kernmod_xz) against the default decoder, on real xz data made by `xz`.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { installNativeXz } from '../../lib/backend/native-xz.js';
import { decompress, decompressSync, setXzDecoder } from '../../lib/compress/index.js';

const require = createRequire(import.meta.url);
let binding: { available: boolean } | undefined;
try {
  binding = require('bindings')('kernmod_xz');
} catch {
  binding = undefined;
}
const xz = (bytes: Buffer, args: string[]) => spawnSync('xz', ['-c', ...args], { input: bytes }).stdout as Buffer;
// Compressible but not trivial: text with random words, 3 MB.
const words = Array.from({ length: 2000 }, () => randomBytes(6).toString('hex'));
const raw = Buffer.from(Array.from({ length: 300_000 }, (_, i) => words[(i * 7919) % words.length]).join(' '));

describe.skipIf(!binding?.available)('kernmod_xz (liblzma)', () => {
  it('is installed as the xz decoder and gives the same bytes, sync and async, kernel-style and plain xz', async () => {
    expect(installNativeXz()).toMatch(/^\d+\.\d+/);
    for (const args of [['--check=crc32', '--lzma2=dict=1MiB'], []]) {
      const packed = xz(raw, args);
      expect(Buffer.compare(Buffer.from(decompressSync(packed)), raw)).toBe(0);
      expect(Buffer.compare(Buffer.from(await decompress(packed)), raw)).toBe(0);
    }
  });

  it('corrupt data is a typed error, not a crash', async () => {
    installNativeXz();
    const bad = Buffer.from(xz(raw, ['--check=crc32']));
    bad.fill(0x55, 100, 200);
    expect(() => decompressSync(bad)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_KERNMOD_/) }));
    await expect(decompress(bad)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_KERNMOD_/) });
  });

  it('the default decoder gives the same bytes when the addon is not used', () => {
    setXzDecoder(undefined);
    try {
      expect(Buffer.compare(Buffer.from(decompressSync(xz(raw, []))), raw)).toBe(0);
    } finally {
      installNativeXz();
    }
  });
});

describe.skipIf(!binding?.available)('kernmod_xz readFile (the modinfo CLI reader of compressed modules)', () => {
  it('reads a regular file whole, says its size when it does not fit, -errno, or NOT_REGULAR', async () => {
    const { installModinfoXz, modinfoFileReader } = await import('../../lib/cli/modinfo-xz.js');
    installModinfoXz();
    const reader = modinfoFileReader()!;
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-readfile-'));
    const file = join(dir, 'm.ko.xz');
    writeFileSync(file, raw.subarray(0, 1000));
    const buf = Buffer.alloc(1000);
    expect(reader.read(file, buf)).toBe(1000);
    expect(Buffer.compare(buf, raw.subarray(0, 1000))).toBe(0);
    expect(reader.read(file, Buffer.alloc(999))).toBe(1000); // the size: grow and call again
    expect(reader.read(join(dir, 'missing'), buf)).toBe(-2); // ENOENT
    expect(reader.read(`${file}\0other`, buf)).toBe(-22); // EINVAL, not the file before the NUL
    expect(reader.read(dir, buf)).toBe(reader.NOT_REGULAR);
    expect(reader.read('/dev/null', buf)).toBe(reader.NOT_REGULAR);
    writeFileSync(file, '');
    expect(reader.read(file, buf)).toBe(0);
  });
});
