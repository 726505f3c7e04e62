// Mutation fuzzing through modinfo(): real module bytes (our test modules, Debian's signed 6.1 .ko and
// 6.12 .ko.xz, a hand-built signed ELF32 big-endian module) and their gzip/xz/zstd containers, damaged by
// fast-check — flipped bytes, truncations, ELF and section header fields set to extremes, DER lengths of
// the PKCS#7 signature set to extremes, runs of random bytes. The invariant: every input gives a result
// or a KernmodError, each within BUDGET_MS, and no decoded image exceeds maxBytes. Seeded (FUZZ_SEED
// picks another seed) and bounded in runs, so a failure reproduces and the file stays well under 60 s.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { decompress, decompressSync, detectCompression } from '../../lib/compress/index.js';
import { KernmodError } from '../../lib/errors.js';
import { modinfo, modinfoFromImage, modinfoSync } from '../../lib/elf/modinfo.js';
import { buildElf, concat, modversion, pkcs7, signatureTrailer, strings } from '../fixtures/elf-builder.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x6b6d6f64);
/** Time one call may take, on a busy machine; the slowest real call is a few ms. */
const BUDGET_MS = 1000;
/** The cap every call runs under: four times the largest source. */
const MAX_BYTES = 8 << 20;

const require = createRequire(import.meta.url);
const { xz } = require('@napi-rs/lzma') as { xz: { compressSync(b: Uint8Array): Buffer } };

interface Source {
  name: string;
  bytes: Uint8Array;
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The synthetic module, and our test modules (plain and compressed) when built. */
function plainSources(): Source[] {
  const out: Source[] = [];
  const sig = pkcs7({ cn: 'fuzz', serial: [0x10, 0x20], digestOid: '2.16.840.1.101.3.4.2.1', signature: new Uint8Array(64).fill(9) });
  out.push({
    name: 'synthetic ELF32 big-endian, signed',
    bytes: buildElf({
      class: 32,
      endian: 'big',
      sections: [
        { name: '.modinfo', data: strings('name=fz', 'parm=a:x', 'parmtype=a:int', 'depends=q', 'vermagic=v ') },
        { name: '__versions', data: concat(modversion(1, 'module_layout', false, false), modversion(2, 'printk', false, false)) },
        {
          name: '.note.gnu.build-id',
          data: new Uint8Array([0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 3, 0x47, 0x4e, 0x55, 0, 1, 2, 3, 4]),
          type: 7,
        },
      ],
      trailer: signatureTrailer(sig),
    }),
  });
  const cache = new URL('../../.cache/test-modules/', import.meta.url).pathname;
  const release = existsSync(cache) ? readdirSync(cache).find((r) => existsSync(`${cache}${r}/manifest.json`)) : undefined;
  if (release) {
    const m = JSON.parse(readFileSync(`${cache}${release}/manifest.json`, 'utf8')) as { modules: Record<string, string> };
    for (const key of ['hello', 'params', 'helloSigned', 'importer', 'helloGz', 'helloXz', 'helloZst', 'helloPlainXz']) {
      if (m.modules[key] && existsSync(m.modules[key])) out.push({ name: `test module ${key}`, bytes: readFileSync(m.modules[key]) });
    }
  }
  return out;
}

/** Debian's modules from each /lib/modules tree here: small ones, plain (6.1, signed) or .ko.xz (6.12). */
function debianFiles(): Array<{ name: string; path: string }> {
  const out: Array<{ name: string; path: string }> = [];
  for (const r of existsSync('/lib/modules') ? readdirSync('/lib/modules') : []) {
    if (!/^6\.(1|12)\./.test(r)) continue;
    const d = `/lib/modules/${r}/kernel/drivers/block`;
    if (!existsSync(d)) continue;
    const files = readdirSync(d)
      .filter((f) => /\.ko(\.xz)?$/.test(f) && statSync(`${d}/${f}`).size < 200_000)
      .slice(0, 2);
    for (const f of files) out.push({ name: `${r}/${f}`, path: `${d}/${f}` });
  }
  return out;
}

/**
 * Compressed containers: our test modules' and Debian's as they are, and small plain modules packed by
 * gzip, xz and (when the tool is here) zstd.
 */
function compressedSources(sources: Source[]): Source[] {
  const isCompressed = (s: Source) => detectCompression(s.bytes) !== null;
  const out = sources.filter(isCompressed);
  const base = sources.filter((s) => !isCompressed(s) && s.bytes.length < 100_000).slice(0, 3);
  const dir = mkdtempSync(join(tmpdir(), 'kernmod-fuzz-zst-'));
  try {
    for (const s of base) {
      out.push({ name: `${s.name}.gz`, bytes: gzipSync(s.bytes) });
      out.push({ name: `${s.name}.xz`, bytes: xz.compressSync(s.bytes) });
      if (hasCommand('zstd')) {
        writeFileSync(join(dir, 'm.ko'), s.bytes);
        out.push({ name: `${s.name}.zst`, bytes: execFileSync('zstd', ['-q', '-c', '-19', join(dir, 'm.ko')]) });
        out.push({
          name: `${s.name}.zst (-1, no content size)`,
          bytes: execFileSync('zstd', ['-q', '-c', '-1', '--no-content-size', join(dir, 'm.ko')]),
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const EXTREMES = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff];

/** One damage, as data: fast-check generates, shrinks and prints it. */
type Mutation =
  | { kind: 'flip'; at: number[]; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'elf-field'; field: number; value: number }
  | { kind: 'section-field'; section: number; field: number; value: number; wide: boolean }
  | { kind: 'der-length'; at: number; value: readonly number[] }
  | { kind: 'tail'; at: number[]; value: number }
  | { kind: 'run'; at: number; bytes: number[] };

const fraction = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.array(fraction, { minLength: 1, maxLength: 8 }),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fraction }),
  fc.record({ kind: fc.constant('elf-field' as const), field: fc.nat(), value: fc.constantFrom(...EXTREMES) }),
  fc.record({
    kind: fc.constant('section-field' as const),
    section: fc.nat(),
    field: fc.integer({ min: 0, max: 2 }),
    value: fc.constantFrom(...EXTREMES),
    wide: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('der-length' as const),
    at: fraction,
    value: fc.constantFrom(
      [0x80],
      [0x81, 0xff],
      [0x82, 0xff, 0xff],
      [0x84, 0xff, 0xff, 0xff, 0xff],
      [0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      [0x00],
      [0x7f],
    ),
  }),
  fc.record({
    kind: fc.constant('tail' as const),
    at: fc.array(fc.integer({ min: 0, max: 1199 }), { minLength: 1, maxLength: 4 }),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('run' as const),
    at: fraction,
    bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 64 }),
  }),
);

/** The signature's DER, when the image ends in a module signature trailer: [start, end). */
function signatureRange(b: Uint8Array): [number, number] | undefined {
  const magic = '~Module signature appended~\n';
  if (b.length < 40 + 12 || Buffer.from(b.subarray(b.length - magic.length)).toString('latin1') !== magic) return undefined;
  const len = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(b.length - 40 + 8, false);
  const end = b.length - 40;
  return len > 0 && len <= end ? [end - len, end] : undefined;
}

function apply(src: Uint8Array, m: Mutation): Uint8Array {
  const b = new Uint8Array(src); // a copy (a Buffer's slice() would share the source's bytes)
  if (b.length === 0) return b;
  const v = new DataView(b.buffer);
  const le = b[5] !== 2;
  const is64 = b[4] === 2;
  const pos = (f: number) => Math.floor(f * b.length);
  switch (m.kind) {
    case 'flip':
      for (const f of m.at) b[pos(f)]! ^= 1 << m.bit;
      return b;
    case 'truncate':
      return b.subarray(0, pos(m.at));
    case 'elf-field': {
      const fields = is64 ? [40, 44, 58, 60, 62] : [32, 46, 48, 50];
      const at = fields[m.field % fields.length]!;
      if (at + 4 <= b.length) at === 40 || at === 32 || at === 44 ? v.setUint32(at, m.value, le) : v.setUint16(at, m.value & 0xffff, le);
      return b;
    }
    case 'section-field': {
      if (b.length < 64) return b;
      const shoff = is64 ? Number(v.getBigUint64(40, le)) : v.getUint32(32, le);
      const shnum = v.getUint16(is64 ? 60 : 48, le);
      const ent = is64 ? 64 : 40;
      if (shnum === 0 || shoff + shnum * ent > b.length) return b;
      const h = shoff + (m.section % shnum) * ent;
      const field = [0, is64 ? 24 : 16, is64 ? 32 : 20][m.field]!;
      if (is64 && field !== 0) v.setBigUint64(h + field, m.wide ? 0xffffffffffffffffn : BigInt(m.value), le);
      else v.setUint32(h + field, m.value, le);
      return b;
    }
    case 'der-length': {
      // A length octet inside the PKCS#7 message (else anywhere in the last KiB) set to an extreme form.
      const [start, end] = signatureRange(b) ?? [Math.max(0, b.length - 1024), b.length];
      const at = start + Math.floor(m.at * (end - start));
      b.set(m.value.slice(0, b.length - at), at);
      return b;
    }
    case 'tail':
      for (const i of m.at) if (i < b.length) b[b.length - 1 - i] = m.value;
      return b;
    case 'run': {
      const at = pos(m.at);
      b.set(m.bytes.slice(0, b.length - at), at);
      return b;
    }
  }
}

/** Runs one call: a result or a KernmodError, within the budget; returns which. */
function outcome(run: () => unknown): 'ok' | string {
  const started = performance.now();
  try {
    const r = run();
    if (r instanceof Uint8Array) expect(r.length).toBeLessThanOrEqual(MAX_BYTES);
    return 'ok';
  } catch (e) {
    if (!(e instanceof KernmodError)) throw new Error(`not a KernmodError: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.code).toMatch(/^(ERR_KERNMOD_|E[A-Z]+$)/);
    return e.code;
  } finally {
    expect(performance.now() - started).toBeLessThan(BUDGET_MS);
  }
}

async function outcomeAsync(run: () => Promise<unknown>): Promise<'ok' | string> {
  const started = performance.now();
  try {
    const r = await run();
    if (r instanceof Uint8Array) expect(r.length).toBeLessThanOrEqual(MAX_BYTES);
    return 'ok';
  } catch (e) {
    if (!(e instanceof KernmodError)) throw new Error(`not a KernmodError: ${(e as Error)?.stack ?? String(e)}`);
    return e.code;
  } finally {
    expect(performance.now() - started).toBeLessThan(BUDGET_MS);
  }
}

const all = [...plainSources(), ...debianFiles().map((f) => ({ name: f.name, bytes: readFileSync(f.path) }))];
const elfSources = all.filter((s) => detectCompression(s.bytes) === null);
const compressed = compressedSources(all);
const opts = { maxBytes: MAX_BYTES };

describe(`fuzz modinfo (seed ${SEED})`, () => {
  it(`ELF and PKCS#7: a result or a KernmodError for every damaged module (${elfSources.length} sources)`, () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.nat({ max: elfSources.length - 1 }), mutation, fc.boolean(), (i, m, lenient) => {
        const bytes = apply(elfSources[i]!.bytes, m);
        seen.add(outcome(() => modinfoFromImage(bytes, { lenient })));
        seen.add(outcome(() => modinfoSync(bytes, { ...opts, lenient })));
      }),
      { seed: SEED, numRuns: Number(process.env.FUZZ_RUNS ?? 1500) },
    );
    expect(seen.has('ok')).toBe(true); // the damage is not all fatal ...
    expect(seen.size).toBeGreaterThan(2); // ... and breaks things in more than one way
  }, 60_000);

  it.skipIf(compressed.length === 0)(
    `gz/xz/zstd: a result or a KernmodError for every damaged container (${compressed.length} sources)`,
    () => {
      const seen = new Set<string>();
      // Damage near the headers is likelier to reach the decoders' checks: half the positions are in the first 64 bytes.
      const headerMutation = fc.record({
        kind: fc.constant('run' as const),
        at: fc.double({ min: 0, max: 0.01, noNaN: true }),
        bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }),
      });
      fc.assert(
        fc.property(fc.nat({ max: compressed.length - 1 }), fc.oneof(mutation, headerMutation), (i, m) => {
          const bytes = apply(compressed[i]!.bytes, m);
          seen.add(outcome(() => decompressSync(bytes, opts)));
          seen.add(outcome(() => modinfoSync(bytes, opts)));
        }),
        { seed: SEED, numRuns: Number(process.env.FUZZ_COMPRESSED_RUNS ?? 600) },
      );
      expect(seen.has('ERR_KERNMOD_DECOMPRESS')).toBe(true);
      // Undamaged, every one decodes (checksums catch most damage, so the fuzzed ones rarely do).
      for (const s of compressed)
        expect({ name: s.name, outcome: outcome(() => modinfoSync(s.bytes, opts)) }).toEqual({ name: s.name, outcome: 'ok' });
    },
    60_000,
  );

  it(`async: modinfo() and decompress() keep the same invariant`, async () => {
    const both = [...elfSources, ...compressed];
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: both.length - 1 }), mutation, async (i, m) => {
        const bytes = apply(both[i]!.bytes, m);
        const sync = outcome(() => modinfoSync(bytes, opts));
        expect(await outcomeAsync(() => modinfo(bytes, opts))).toBe(sync);
        if (i >= elfSources.length) await outcomeAsync(() => decompress(bytes, opts));
      }),
      { seed: SEED, numRuns: Number(process.env.FUZZ_ASYNC_RUNS ?? 200) },
    );
  }, 60_000);
});

describe('fuzz: the file reader', () => {
  // Files of 64 KiB and more are read in pieces; whatever the damage, the answer (or the error code)
  // must be the one a full read gives — else a parser reads a byte the reader did not fetch.
  const big = elfSources.filter((s) => s.bytes.length >= 64 * 1024);
  const dir = mkdtempSync(join(tmpdir(), 'kernmod-fuzz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it.skipIf(big.length === 0)(
    'agrees with a full read on damaged files, sync and async',
    async () => {
      const file = join(dir, 'm.ko');
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: big.length - 1 }), mutation, fc.boolean(), async (i, m, lenient) => {
          const bytes = apply(big[i]!.bytes, m);
          writeFileSync(file, bytes);
          const code = (f: () => unknown) => {
            try {
              return f();
            } catch (e) {
              if (!(e instanceof KernmodError)) throw e;
              return e.code;
            }
          };
          const viaBytes = code(() => modinfoFromImage(bytes, { filename: file, lenient }));
          expect(code(() => modinfoSync(file, { lenient }))).toEqual(viaBytes);
          let viaAsync: unknown;
          try {
            viaAsync = await modinfo(file, { lenient });
          } catch (e) {
            if (!(e instanceof KernmodError)) throw e;
            viaAsync = e.code;
          }
          expect(viaAsync).toEqual(viaBytes);
        }),
        { seed: SEED, numRuns: Number(process.env.FUZZ_FILE_RUNS ?? 200) },
      );
    },
    60_000,
  );
});
