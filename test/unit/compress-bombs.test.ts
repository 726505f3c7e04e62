// Hostile compressed input must cost little: every decoder fails fast on data that cannot be a valid
// frame of its declared size, so that neither the calling thread nor the event loop is held. The
// hostile cases run in a worker thread with a time budget, so that a regression fails this file instead
// of hanging it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { gzipSync, crc32 } from 'node:zlib';
import { decompress, decompressSync } from '../../lib/compress/index.js';
import { zstdSizes } from '../../lib/compress/zstd-size.js';
import { concat } from '../fixtures/elf-builder.js';
import { compiledLib } from './compiled-lib.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-bombs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The zstd work bomb of issue #16, 18 bytes: a frame with a 128 KiB window and one compressed block of
 * no literals and 98,303 sequences, whose RLE tables make each one 65,536 literals and a 65,539-byte
 * match — 12.9 GB of copying for a decoder that does not check a block's sequences against its
 * 128 KiB limit (libzstd and `zstd -t` refuse it at once).
 */
const ZSTD_WORK_BOMB = new Uint8Array([
  0x28,
  0xb5,
  0x2f,
  0xfd, // magic
  0x00, // frame header: no content size, no checksum, not single-segment
  (17 - 10) << 3, // window 2^17
  0x4d,
  0x00,
  0x00, // block header: last, compressed, 9 bytes
  0x00, // literals: raw, 0 bytes
  0xff,
  0xff,
  0xff, // 0xffff + 0x7f00 = 98,303 sequences
  0x54, // literal lengths, offsets and match lengths all RLE
  35, // literal length code 35: 65,536 + 16 bits
  0, // offset code 0: repeat offset
  52, // match length code 52: 65,539 + 16 bits
  0x01, // the bitstream: its end marker alone
]);

const BUDGET_MS = 20_000;

/**
 * Runs every entry point over `bytes` (and over a file of them) in a worker; resolves to the error
 * code each gave ('no error' when one returned), or rejects when the worker is not done in BUDGET_MS.
 */
function codesInWorker(bytes: Uint8Array, name: string, only?: string[]): Promise<Record<string, string>> {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  const lib = compiledLib();
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const c = await import(workerData.lib + '/lib/compress/index.js');
      const m = await import(workerData.lib + '/lib/elf/modinfo.js');
      const d = await import(workerData.lib + '/lib/linux/preflight.js');
      const bytes = new Uint8Array(workerData.bytes);
      const out = {};
      const run = async (name, f) => {
        if (workerData.only && !workerData.only.includes(name)) return;
        try {
          await f();
          out[name] = 'no error';
        } catch (e) {
          out[name] = e && e.name === 'KernmodError' ? e.code : 'not a KernmodError: ' + e;
        }
      };
      await run('decompressSync', () => c.decompressSync(bytes));
      await run('decompress', () => c.decompress(bytes));
      await run('modinfoSync(bytes)', () => m.modinfoSync(bytes));
      await run('modinfo(bytes)', () => m.modinfo(bytes));
      await run('modinfoSync(file)', () => m.modinfoSync(workerData.file));
      await run('modinfo(file)', () => m.modinfo(workerData.file));
      await run('modinfo(file, syncRead)', () => m.modinfo(workerData.file, { syncRead: true }));
      await run('preflight(file)', () => d.preflight(workerData.file));
      parentPort.postMessage(out);
    })();`;
  return new Promise((resolve, reject) => {
    const w = new Worker(source, { eval: true, workerData: { lib, file, bytes: Array.from(bytes), only } });
    const timer = setTimeout(() => {
      void w.terminate();
      reject(new Error(`still decoding after ${BUDGET_MS} ms`));
    }, BUDGET_MS);
    w.once('message', (m) => {
      clearTimeout(timer);
      void w.terminate();
      resolve(m as Record<string, string>);
    });
    w.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const everyEntryPoint = (code: string) => ({
  decompressSync: code,
  decompress: code,
  'modinfoSync(bytes)': code,
  'modinfo(bytes)': code,
  'modinfoSync(file)': code,
  'modinfo(file)': code,
  'modinfo(file, syncRead)': code,
  'preflight(file)': code,
});

describe('zstd: work bounded by the block limit', () => {
  it(
    'refuses the 18-byte work bomb at once, through every entry point',
    async () => {
      expect(ZSTD_WORK_BOMB.length).toBe(18);
      expect(await codesInWorker(ZSTD_WORK_BOMB, 'bomb.ko.zst')).toEqual(everyEntryPoint('ERR_KERNMOD_DECOMPRESS'));
    },
    BUDGET_MS + 30_000,
  );

  it('names the broken rule, from the block walk alone', () => {
    expect(() => zstdSizes(ZSTD_WORK_BOMB)).toThrow(/corrupt zstd data: .*(128 KiB|block limit|bitstream)/);
  });
});

describe('gzip: output and work bounded by maxBytes', () => {
  it('stops inflating at maxBytes, sync and on the thread pool', async () => {
    const bomb = gzipSync(new Uint8Array(64 << 20)); // 64 MiB of zeros in ~64 KiB
    expect(bomb.length).toBeLessThan(100_000);
    expect(() => decompressSync(bomb, { maxBytes: 1 << 20 })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE' }));
    await expect(decompress(bomb, { maxBytes: 1 << 20 })).rejects.toMatchObject({ code: 'ERR_KERNMOD_TOO_LARGE' });
  });

  it(
    'gives a typed error for a bomb past the default 256 MiB cap (modinfo, preflight)',
    async () => {
      // 300 MiB of zeros in ten members: inflating stops at the cap with a typed error.
      const member = gzipSync(new Uint8Array(30 << 20));
      const only = ['modinfo(file)', 'preflight(file)'];
      const codes = await codesInWorker(concat(...Array.from({ length: 10 }, () => member)), 'bomb.ko.gz', only);
      expect(codes).toEqual(Object.fromEntries(only.map((k) => [k, 'ERR_KERNMOD_TOO_LARGE'])));
    },
    BUDGET_MS + 30_000,
  );
});

const u32le = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};

const vli = (n: number) => {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return new Uint8Array(out);
};

/**
 * A well-formed .xz container around one block of LZMA2 chunks that each *state* 2 MiB of output from
 * one byte of (garbage) LZMA data: its headers, block index and footer all agree on chunks × 2 MiB.
 */
function xzClaiming(chunks: number): Uint8Array {
  const flags = new Uint8Array([0, 0]); // no integrity check
  const header = concat(new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]), flags, u32le(crc32(flags)));
  const bh = new Uint8Array([2, 0, 0x21, 1, 0x08, 0, 0, 0]);
  const blockHeader = concat(bh, u32le(crc32(bh)));
  const first = [0xff, 0xff, 0xff, 0x00, 0x00, 0x5d, 0x00]; // dictionary + state reset, new properties
  const next = [0x9f, 0xff, 0xff, 0x00, 0x00, 0x00];
  const data = new Uint8Array([...first, ...Array.from({ length: chunks - 1 }, () => next).flat(), 0x00]);
  const pad = (4 - ((blockHeader.length + data.length) % 4)) % 4;
  const block = concat(blockHeader, data, new Uint8Array(pad));
  let index = concat(new Uint8Array([0, 1]), vli(blockHeader.length + data.length), vli(chunks * (2 << 20)));
  index = concat(index, new Uint8Array((4 - (index.length % 4)) % 4));
  index = concat(index, u32le(crc32(index)));
  const footerBody = concat(u32le(index.length / 4 - 1), flags);
  return concat(header, block, index, u32le(crc32(footerBody)), footerBody, new Uint8Array([0x59, 0x5a]));
}

describe('xz: output bounded before decoding, by the sizes the headers state', () => {
  it(
    'refuses 300 MiB claimed by 1 KB through every entry point, before any decoder runs',
    async () => {
      const file = xzClaiming(150);
      expect(file.length).toBeLessThan(1100);
      expect(() => decompressSync(file, { maxBytes: 1 << 20 })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE' }));
      expect(await codesInWorker(file, 'claims.ko.xz')).toEqual(everyEntryPoint('ERR_KERNMOD_TOO_LARGE'));
    },
    BUDGET_MS + 30_000,
  );

  it(
    'gives a typed error when the stated sizes fit but the data is garbage',
    async () => {
      expect(await codesInWorker(xzClaiming(4), 'garbage.ko.xz')).toEqual(everyEntryPoint('ERR_KERNMOD_DECOMPRESS'));
    },
    BUDGET_MS + 30_000,
  );
});
