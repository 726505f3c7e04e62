// The liblzma decoder addon (kernmod_xz) against the default decoder, on real xz data made by `xz`.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { installNativeXz } from '../../lib/backend/native-xz.js';
import { loadAddon } from '../../lib/backend/addon.js';
import { decompress, decompressSync, setXzDecoder } from '../../lib/compress/index.js';
import { requireLine } from '../shared/addon.js';

let binding: { available: boolean } | undefined;
try {
  binding = loadAddon<{ available: boolean }>('kernmod_xz').binding;
} catch {
  binding = undefined;
}
const xz = (bytes: Buffer, args: string[]) => spawnSync('xz', ['-c', ...args], { input: bytes }).stdout as Buffer;
// Compressible but not trivial: text with random words, 3 MB.
const words = Array.from({ length: 2000 }, () => randomBytes(6).toString('hex'));
const raw = Buffer.from(Array.from({ length: 300_000 }, (_, i) => words[(i * 7919) % words.length]).join(' '));

describe.skipIf(!binding?.available)('kernmod_xz (liblzma)', () => {
  it('is installed as the xz decoder and gives the same bytes, sync and async, kernel-style and plain xz', {
    timeout: 60_000,
  }, async () => {
    expect(installNativeXz()).toMatch(/^\d+\.\d+/);
    for (const args of [['--check=crc32', '--lzma2=dict=1MiB'], []]) {
      const packed = xz(raw, args);
      expect(Buffer.compare(Buffer.from(decompressSync(packed)), raw)).toBe(0);
      expect(Buffer.compare(Buffer.from(await decompress(packed)), raw)).toBe(0);
    }
  });

  it('corrupt data is a typed error, not a crash', { timeout: 60_000 }, async () => {
    installNativeXz();
    const bad = Buffer.from(xz(raw, ['--check=crc32']));
    bad.fill(0x55, 100, 200);
    expect(() => decompressSync(bad)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_KERNMOD_/) }));
    await expect(decompress(bad)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_KERNMOD_/) });
  });

  it('the default decoder gives the same bytes when the addon is not used', { timeout: 60_000 }, () => {
    setXzDecoder(undefined);
    try {
      expect(Buffer.compare(Buffer.from(decompressSync(xz(raw, []))), raw)).toBe(0);
    } finally {
      installNativeXz();
    }
  });
});

describe.skipIf(!binding?.available)('kernmod_xz decode: the input stays the call’s own', () => {
  // A child process with one pool thread, held in a read of a FIFO (as is the kernmod addon's syscall
  // thread): the decode waits in the queue while the caller detaches its input and overwrites the
  // memory the input had. The decode must still see the bytes it was given.
  it('decodes the bytes it was given though the caller transferred the input and zeroed it meanwhile', { timeout: 60_000 }, () => {
    const script = `
      ${requireLine('kernmod', 'k')}
      ${requireLine('kernmod_xz', 'x')}
      const { mkdtempSync, openSync, readFileSync, rmSync, writeSync, constants } = require('node:fs');
      const dir = mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'kernmod-xz-detach-'));
      require('node:child_process').spawnSync('mkfifo', [dir + '/a', dir + '/b']);
      // A call that lasts: readOne of a FIFO opened for reading and writing waits until a byte is written.
      const fds = {};
      const hold = (f) => k.readOne((fds[f] = openSync(f, constants.O_RDWR)));
      const unblock = async (f) => void writeSync(fds[f], 'x');
      (async () => {
        const packed = new Uint8Array(readFileSync(0));
        const size = Number(process.argv[1]);
        const held = [hold(dir + '/a'), hold(dir + '/b')];
        const decoded = x.decode(packed, size).then(
          (out) => require('node:crypto').createHash('sha256').update(out).digest('hex'),
          (e) => 'error: ' + e.message,
        );
        try {
          // Transferring moves the memory to the clone (Node 20 has no ArrayBuffer.prototype.transfer).
          new Uint8Array(structuredClone(packed.buffer, { transfer: [packed.buffer] })).fill(0);
        } finally {
          await unblock(dir + '/a');
          await unblock(dir + '/b');
        }
        await Promise.all(held);
        process.stdout.write(await decoded);
        rmSync(dir, { recursive: true });
      })();
    `;
    const small = raw.subarray(0, 200_000);
    const r = spawnSync(process.execPath, ['-e', script, String(small.length)], {
      input: xz(small, ['--check=crc32']),
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(createHash('sha256').update(small).digest('hex'));
  });
});

describe.skipIf(!binding?.available)('kernmod_xz releaseArea (the modinfo CLI gives a batch back when printed)', () => {
  it('detaches only an area a batch handed over, once; a plain module file comes back whole as input', async () => {
    const { poolXzDecoder } = await import('../../lib/backend/native-xz.js');
    const x = poolXzDecoder()!;
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-release-'));
    const file = join(dir, 'm.ko');
    writeFileSync(file, raw.subarray(0, 1000));
    const [f] = await x.readDecodeBatch([file], 1 << 20, 0);
    expect(f!.fileSize).toBe(1000);
    expect(Buffer.compare(f!.input, raw.subarray(0, 1000))).toBe(0);
    expect(() => x.releaseArea(new ArrayBuffer(8))).toThrow(TypeError);
    const area = f!.input.buffer as ArrayBuffer;
    x.releaseArea(area);
    expect(area.byteLength).toBe(0);
    expect(f!.input.length).toBe(0); // every view of it is empty now
    x.releaseArea(area); // twice: nothing to do
    x.releaseArea(f!.image.buffer as ArrayBuffer); // an empty output area: nothing to do
    // The next batch (likely in the area just given back) reads as well.
    const [g] = await x.readDecodeBatch([file], 1 << 20, 0);
    expect(Buffer.compare(g!.input, raw.subarray(0, 1000))).toBe(0);
  });
});

describe.skipIf(!binding?.available)('kernmod_xz readDecodeBatch: the batch writes only memory of its own', () => {
  // The pool thread writes the files' bytes and images into areas the addon allocated for the call and
  // hands over when it settles: the caller owns nothing the thread writes to, so detaching and freeing
  // everything it has while the call waits in the queue (one pool thread, held in a read of a FIFO)
  // cannot pull memory from under it. The sanitizer build (scripts/test-sanitizers.mjs) would report a
  // write to freed memory here; every build checks that the images come back whole and apart.
  it('gives back each image whole in memory of its own, though the caller freed all it had meanwhile', { timeout: 60_000 }, () => {
    const script = `
      ${requireLine('kernmod', 'k')}
      ${requireLine('kernmod_xz', 'x')}
      const { mkdtempSync, openSync, rmSync, writeFileSync, writeSync, constants } = require('node:fs');
      const { createHash } = require('node:crypto');
      const dir = mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'kernmod-xz-batch-'));
      require('node:child_process').spawnSync('mkfifo', [dir + '/a', dir + '/b']);
      // A call that lasts: readOne of a FIFO opened for reading and writing waits until a byte is written.
      const fds = {};
      const hold = (f) => k.readOne((fds[f] = openSync(f, constants.O_RDWR)));
      const unblock = async (f) => void writeSync(fds[f], 'x');
      (async () => {
        const packed = readFileSync0();
        const paths = [dir + '/m1.ko.xz', dir + '/m2.ko.xz'];
        for (const p of paths) writeFileSync(p, packed);
        const held = [hold(dir + '/a'), hold(dir + '/b')];
        const batch = x.readDecodeBatch(paths, 1 << 20, 1 << 20);
        const mine = [];
        try {
          paths.length = 0; // the call copied its paths
          for (let i = 0; i < 64; i++) mine.push(new Uint8Array(64 << 10).fill(0x55));
          for (const a of mine) structuredClone(a.buffer, { transfer: [a.buffer] });
          globalThis.gc();
        } finally {
          await unblock(dir + '/a');
          await unblock(dir + '/b');
        }
        await Promise.all(held);
        const files = await batch;
        files[0].image.fill(0); // the two images do not overlap
        const sha = (image) => createHash('sha256').update(image).digest('hex');
        const out = files.map((f) => ({ code: f.code, fileSize: f.fileSize, input: f.input.length, sha: sha(f.image) }));
        process.stdout.write(JSON.stringify(out));
        rmSync(dir, { recursive: true });
      })();
      function readFileSync0() { return require('node:fs').readFileSync(0); }
    `;
    const small = raw.subarray(0, 200_000);
    const packed = xz(small, ['--check=crc32']);
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
      input: packed,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const want = { code: small.length, fileSize: packed.length, input: packed.length };
    expect(JSON.parse(r.stdout)).toEqual([
      { ...want, sha: sha(new Uint8Array(small.length)) },
      { ...want, sha: sha(small) },
    ]);
  });
});
