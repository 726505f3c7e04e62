// Mutation fuzzing: real module bytes (our test modules, a few of Debian's, a hand-built ELF32
// big-endian module), damaged thousands of ways — flipped bytes, header fields set to extremes,
// truncations, a damaged signature — must give a result or a KernmodError: never another exception, a
// hang or a huge allocation. Compressed copies get the same treatment through lib/compress.
// Seeded, so a failure reproduces; FUZZ_SEED=n picks another seed.
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decompressSync } from '../../lib/compress/index.js';
import { KernmodError } from '../../lib/errors.js';
import { modinfoFromImage, modinfoSync } from '../../lib/elf/modinfo.js';
import { buildElf, concat, modversion, pkcs7, signatureTrailer, strings } from '../fixtures/elf-builder.js';

let seed = Number(process.env.FUZZ_SEED ?? 0x6b6d6f64);
function rand(n: number): number {
  // xorshift32
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

const EXTREMES = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff];

function mutate(src: Uint8Array): Uint8Array {
  const b = src.slice();
  const v = new DataView(b.buffer);
  const le = b[5] !== 2;
  const is64 = b[4] === 2;
  switch (rand(6)) {
    case 0: // flip a few random bytes
      for (let i = rand(8) + 1; i > 0; i--) b[rand(b.length)]! ^= 1 << rand(8);
      return b;
    case 1: // truncate
      return b.subarray(0, rand(b.length));
    case 2: {
      // an ELF header field set to an extreme
      const fields = is64 ? [40, 44, 58, 60, 62] : [32, 46, 48, 50];
      const at = fields[rand(fields.length)]!;
      const x = EXTREMES[rand(EXTREMES.length)]!;
      if (at + 4 <= b.length) (at === 40 || at === 32 || at === 44 ? v.setUint32(at, x, le) : v.setUint16(at, x & 0xffff, le));
      return b;
    }
    case 3: {
      // a section header's offset, size or name set to an extreme
      if (b.length < 64) return b;
      const shoff = is64 ? Number(v.getBigUint64(40, le)) : v.getUint32(32, le);
      const shnum = v.getUint16(is64 ? 60 : 48, le);
      const ent = is64 ? 64 : 40;
      if (shnum === 0 || shoff + shnum * ent > b.length) return b;
      const h = shoff + rand(shnum) * ent;
      const field = [0, is64 ? 24 : 16, is64 ? 32 : 20][rand(3)]!;
      const x = EXTREMES[rand(EXTREMES.length)]!;
      if (is64 && field !== 0) v.setBigUint64(h + field, rand(2) ? BigInt(x) : 0xffffffffffffffffn, le);
      else v.setUint32(h + field, x, le);
      return b;
    }
    case 4: {
      // damage the tail: the signature trailer, PKCS#7 and section headers live there
      const n = Math.min(b.length, 1200);
      for (let i = rand(4) + 1; i > 0; i--) b[b.length - 1 - rand(n)] = rand(256);
      return b;
    }
    default: {
      // overwrite a run with random bytes
      const start = rand(b.length);
      for (let i = start; i < Math.min(b.length, start + rand(64)); i++) b[i] = rand(256);
      return b;
    }
  }
}

function sources(): Array<{ name: string; bytes: Uint8Array }> {
  const out: Array<{ name: string; bytes: Uint8Array }> = [];
  const sig = pkcs7({ cn: 'fuzz', serial: [0x10, 0x20], digestOid: '2.16.840.1.101.3.4.2.1', signature: new Uint8Array(64).fill(9) });
  out.push({
    name: 'synthetic ELF32 big-endian, signed',
    bytes: buildElf({
      class: 32,
      endian: 'big',
      sections: [
        { name: '.modinfo', data: strings('name=fz', 'parm=a:x', 'parmtype=a:int', 'depends=q', 'vermagic=v ') },
        { name: '__versions', data: concat(modversion(1, 'module_layout', false, false), modversion(2, 'printk', false, false)) },
        { name: '.note.gnu.build-id', data: new Uint8Array([0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 3, 0x47, 0x4e, 0x55, 0, 1, 2, 3, 4]), type: 7 },
      ],
      trailer: signatureTrailer(sig),
    }),
  });
  const cache = new URL('../../.cache/test-modules/', import.meta.url).pathname;
  if (existsSync(cache)) {
    for (const r of readdirSync(cache)) {
      for (const rel of ['kernmod_hello.ko', 'kernmod_params.ko', 'signed/kernmod_hello.ko', 'kernmod_importer.ko']) {
        const p = `${cache}${r}/${rel}`;
        if (existsSync(p)) out.push({ name: `${r}/${rel}`, bytes: readFileSync(p) });
      }
      break; // one release is enough
    }
  }
  for (const r of existsSync('/lib/modules') ? readdirSync('/lib/modules') : []) {
    const d = `/lib/modules/${r}/kernel/drivers/block`;
    if (!existsSync(d)) continue;
    const ko = readdirSync(d).filter((f) => f.endsWith('.ko') && statSync(`${d}/${f}`).size < 200_000).slice(0, 2);
    for (const f of ko) out.push({ name: `${r}/${f}`, bytes: readFileSync(`${d}/${f}`) });
  }
  return out;
}

function expectOnlyKernmodErrors(run: () => unknown): 'ok' | 'error' {
  try {
    run();
    return 'ok';
  } catch (e) {
    if (!(e instanceof KernmodError)) throw new Error(`not a KernmodError: ${(e as Error)?.stack ?? e}`);
    expect(e.code).toMatch(/^ERR_KERNMOD_/);
    return 'error';
  }
}

describe('fuzz: modinfo over mutated modules', () => {
  const srcs = sources();
  it(`gives a result or a KernmodError, fast (${srcs.length} sources)`, () => {
    const iterations = Number(process.env.FUZZ_ITERATIONS ?? 4000);
    const counts = { ok: 0, error: 0 };
    const started = performance.now();
    let slowest = 0;
    for (let i = 0; i < iterations; i++) {
      const src = srcs[i % srcs.length]!;
      const bytes = mutate(src.bytes);
      const t = performance.now();
      counts[expectOnlyKernmodErrors(() => modinfoFromImage(bytes))]++;
      expectOnlyKernmodErrors(() => modinfoFromImage(bytes, { lenient: true }));
      slowest = Math.max(slowest, performance.now() - t);
    }
    expect(counts.ok + counts.error).toBe(iterations);
    expect(counts.error).toBeGreaterThan(iterations / 10); // the mutations do break things
    expect(slowest).toBeLessThan(500);
    expect(performance.now() - started).toBeLessThan(60_000);
  }, 120_000);
});

describe('fuzz: the sparse file reader', () => {
  // Files of 64 KiB and more are read in pieces; whatever the damage, the answer (or the error code)
  // must be the one a full read gives — else a parser reads a byte the reader did not fetch.
  const big = sources().filter((s) => s.bytes.length >= 64 * 1024);
  it.skipIf(big.length === 0)('agrees with a full read on mutated files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-fuzz-'));
    const file = join(dir, 'm.ko');
    const outcome = (f: () => unknown) => {
      try {
        return f();
      } catch (e) {
        if (!(e instanceof KernmodError)) throw e;
        return e.code;
      }
    };
    for (let i = 0; i < Number(process.env.FUZZ_FILE_ITERATIONS ?? 400); i++) {
      const bytes = mutate(big[i % big.length]!.bytes);
      writeFileSync(file, bytes);
      const viaFile = outcome(() => modinfoSync(file, { lenient: i % 2 === 0 }));
      const viaBytes = outcome(() => modinfoFromImage(bytes, { filename: file, lenient: i % 2 === 0 }));
      expect(viaFile).toEqual(viaBytes);
    }
  }, 120_000);
});

describe('fuzz: decompress over mutated compressed modules', () => {
  const cache = new URL('../../.cache/test-modules/', import.meta.url).pathname;
  const release = existsSync(cache) ? readdirSync(cache).find((r) => existsSync(`${cache}${r}/manifest.json`)) : undefined;
  it.skipIf(!release)('gives bytes or a KernmodError for damaged .gz/.xz/.zst', () => {
    const m = JSON.parse(readFileSync(`${cache}${release}/manifest.json`, 'utf8')) as { modules: Record<string, string> };
    for (const key of ['helloGz', 'helloXz', 'helloZst', 'helloPlainXz']) {
      const src = readFileSync(m.modules[key]!);
      for (let i = 0; i < Number(process.env.FUZZ_COMPRESSED_ITERATIONS ?? 300); i++) {
        const b = src.slice();
        if (rand(3) === 0) {
          const cut = b.subarray(0, rand(b.length));
          expectOnlyKernmodErrors(() => decompressSync(cut, { maxBytes: 8 << 20 }));
          continue;
        }
        for (let k = rand(6) + 1; k > 0; k--) b[rand(b.length)] = rand(256);
        const r = expectOnlyKernmodErrors(() => decompressSync(b, { maxBytes: 8 << 20 }));
        if (r === 'ok') expectOnlyKernmodErrors(() => modinfoFromImage(decompressSync(b, { maxBytes: 8 << 20 })));
      }
    }
  }, 120_000);
});
