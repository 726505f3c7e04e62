// Fuzzing the modprobe layer's inputs (seeded, a bounded number of runs): depmod's .bin indexes —
// mutations of kmod-written ones and of small ones from our writer —, modprobe.d text driven through
// lookup, resolve and a dry-run removal, and parameter strings and objects. The invariant for every
// input: a result or a typed KernmodError, within a fixed budget, and an index walk's keys within the
// documented cap (8 bytes per byte of file, plus 64 KiB).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { KernmodError } from '../../lib/errors.js';
import { bind } from '../../lib/kernmod.js';
import { parseModprobeConf } from '../../lib/modprobe/config.js';
import { BinaryIndex } from '../../lib/modprobe/index-bin.js';
import { ModuleDirectory } from '../../lib/modprobe/moddir.js';
import { executeRemove } from '../../lib/modprobe/remove.js';
import { Resolver } from '../../lib/modprobe/resolve.js';
import { encodeParams, parseParams, validateParamString, type ParamValue } from '../../lib/params.js';
import { syncSysfs, tempDir, writeIndex, writeTree } from './modprobe-helpers.js';

const SEED = 20261202;
/** Per input: far above what any of these inputs needs (milliseconds), far below a runaway. */
const BUDGET_MS = 1000;
/** Per property: seconds unloaded; generous, since the machine may be shared. */
const TEST_TIMEOUT = 60_000;

/** Runs f; a result or a KernmodError within the budget passes, anything else fails the property. */
function typedOrResult<T>(f: () => T): T | KernmodError {
  const t0 = performance.now();
  let out: T | KernmodError;
  try {
    out = f();
  } catch (e) {
    if (!(e instanceof KernmodError)) throw e;
    out = e;
  }
  expect(performance.now() - t0).toBeLessThan(BUDGET_MS);
  return out;
}

async function typedOrResultAsync<T>(f: () => Promise<T>): Promise<T | KernmodError> {
  const t0 = performance.now();
  let out: T | KernmodError;
  try {
    out = await f();
  } catch (e) {
    if (!(e instanceof KernmodError)) throw e;
    out = e;
  }
  expect(performance.now() - t0).toBeLessThan(BUDGET_MS);
  return out;
}

// ---- .bin indexes --------------------------------------------------------------------------------

/** kmod-written indexes of the installed trees (small ones: the builtin indexes), where present. */
function kmodIndexes(): Buffer[] {
  if (!existsSync('/lib/modules')) return [];
  const out: Buffer[] = [];
  for (const r of readdirSync('/lib/modules')) {
    for (const f of ['modules.builtin.bin', 'modules.builtin.alias.bin']) {
      const p = `/lib/modules/${r}/${f}`;
      if (existsSync(p)) out.push(readFileSync(p));
    }
  }
  return out.slice(0, 2);
}

const WRITTEN = [
  writeIndex([]),
  writeIndex([
    { key: 'ext4', value: 'kernel/fs/ext4/ext4.ko: kernel/fs/jbd2.ko', priority: 0 },
    { key: 'ext2', value: 'kernel/fs/ext2.ko:', priority: 1 },
    { key: 'loop', value: 'kernel/drivers/block/loop.ko:', priority: 2 },
  ]),
  writeIndex([
    { key: 'pci:v00008086d*', value: 'intel_any', priority: 5 },
    { key: 'pci:v0000????d000010D3*', value: 'anyvendor', priority: 2 },
    { key: 'usb:v[0-9]*', value: 'usbdigit', priority: 1 },
    { key: '*', value: 'everything', priority: 9 },
    { key: 'fs_ext4', value: 'ext4', priority: 0 },
  ]),
];

const QUERIES = ['ext4', 'loop', 'pci:v00008086d000010D3sv0', 'usb:v1x', 'fs_ext4', '', 'symbol:printk', 'x'];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('u32' as const),
    at: fc.nat(),
    value: fc.oneof(fc.nat(), fc.constantFrom(0, 12, 0xffffffff, 0x20000000 | 12, 0xe000000c, 0x4000000c)),
  }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(src: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(src);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'set') b[at] = m.byte;
    else if (m.kind === 'u32') {
      if (at + 4 <= b.length) b.writeUInt32BE(m.value >>> 0, at);
    } else if (m.kind === 'cut') b = b.subarray(0, at);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
  }
  return b;
}

/** Every reading of an index: a result or a typed error, and the dump within the key cap. */
function exercise(bytes: Buffer): void {
  const idx = typedOrResult(() => new BinaryIndex(bytes, 'fuzz.bin'));
  if (idx instanceof KernmodError) {
    expect(idx.code).toBe('ERR_KERNMOD_BAD_INDEX');
    return;
  }
  for (const q of QUERIES) {
    typedOrResult(() => idx.search(q));
    typedOrResult(() => idx.searchWild(q));
  }
  const all = typedOrResult(() => idx.entries());
  if (!(all instanceof KernmodError)) {
    const keyBytes = all.reduce((n, e) => n + e.key.length, 0);
    expect(keyBytes).toBeLessThanOrEqual(8 * bytes.length + 64 * 1024);
  }
}

describe('fuzz: .bin indexes', () => {
  const sources = [...kmodIndexes(), ...WRITTEN];

  it("mutated indexes (kmod-written and our writer's) give results or ERR_KERNMOD_BAD_INDEX", { timeout: TEST_TIMEOUT }, () => {
    fc.assert(
      fc.property(fc.nat({ max: sources.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 6 }), (which, ms) => {
        exercise(mutate(sources[which]!, ms));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('random bytes behind a valid header give results or ERR_KERNMOD_BAD_INDEX', { timeout: TEST_TIMEOUT }, () => {
    const header = Buffer.from([0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1]);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 300 }), (body) => {
        exercise(Buffer.concat([header, Buffer.from(body)]));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

// ---- modprobe.d ----------------------------------------------------------------------------------

const NAMES = ['t', 'a', 'b', 'c', 'bi', 'x-y', 'thing-t', 'nope'];
const word = fc.oneof(
  fc.constantFrom(...NAMES, '*', 't*', '[ab]', '[', 'a]', 'pre:', 'post:', '$CMDLINE_OPTS', 'x=1', 'y="a b"', '\\', '#', 'true', 'exit'),
  fc.string({ maxLength: 6 }),
);
/** softdep lines between the tree's modules: cycles among them are likely, as they must be handled. */
const softdepLine = fc
  .tuple(fc.constantFrom(...NAMES), fc.constantFrom('pre:', 'post:'), fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }))
  .map(([m, kind, ds]) => `softdep ${m} ${kind} ${ds.join(' ')}`);
const line = fc.oneof(
  softdepLine,
  fc
    .tuple(
      fc.constantFrom('alias', 'options', 'install', 'remove', 'blacklist', 'softdep', 'weakdep', 'include', 'bogus', '#'),
      fc.array(word, { maxLength: 6 }),
    )
    .map(([c, ws]) => [c, ...ws].join(' ')),
  fc.string({ maxLength: 30 }),
);
const confText = fc
  .array(fc.tuple(line, fc.constantFrom('\n', '\\\n', '\t\n', '\r\n')), { maxLength: 12 })
  .map((ls) => ls.map(([l, end]) => l + end).join(''));

describe('fuzz: modprobe.d', () => {
  const root = tempDir('fuzz');
  const dir = writeTree(join(root, 'lib/modules/1.0-fuzz'), {
    bin: true,
    modules: { t: { deps: ['a', 'c'], aliases: ['thing-t'] }, a: { deps: ['b'] }, b: {}, c: {}, 'x-y': {} },
    builtin: ['bi'],
  });
  const moddir = ModuleDirectory.openSync(dir);
  // Every module loaded (in the fake kernel's sysfs), so removal walks softdeps, holders and deps.
  const kernel = new FakeKernel();
  const km = bind(createFakeBackend(kernel));
  for (const m of ['b', 'a', 'c', 't', 'x_y']) kernel.load(FakeKernel.image(m, []), '', 0, 'finit_module');
  syncSysfs(kernel, root);

  it('any text parses to a configuration; lookup, resolve and a dry-run removal end with a result or a typed error', {
    timeout: TEST_TIMEOUT,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(confText, fc.constantFrom(...NAMES), async (text, query) => {
        const config = typedOrResult(() => parseModprobeConf(text, 'fuzz.conf'));
        expect(config).not.toBeInstanceOf(KernmodError);
        if (config instanceof KernmodError) return;
        const resolver = new Resolver(moddir, config);
        typedOrResult(() => resolver.lookup(query));
        typedOrResult(() => resolver.resolve(query, { sysRoot: root }));
        typedOrResult(() => resolver.resolve(query, { ignoreLoaded: true, params: 'p=1' }));
        await typedOrResultAsync(() =>
          executeRemove(new Resolver(moddir, config), query, {
            kernmod: km,
            dryRun: true,
            sysRoot: root,
            runCommand: () => Promise.reject(new Error('a dry run runs no command')),
          }),
        );
      }),
      { seed: SEED, numRuns: 200 },
    );
    expect(kernel.calls.filter((c) => c.syscall === 'delete_module')).toEqual([]);
  });
});

// ---- parameters ----------------------------------------------------------------------------------

const paramChar = fc.oneof(
  fc.constantFrom(' ', '\t', '\n', '"', '=', ',', '-', '_', '\0', '\u00a0', '\\', ';', '$', 'a', 'b', '1'),
  fc.string({ unit: 'grapheme', maxLength: 1 }),
);
const paramString = fc.string({ unit: paramChar, maxLength: 40 });
const scalar = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double(),
  fc.bigInt(),
  fc.boolean(),
  fc.constantFrom(null as unknown as string, undefined as unknown as string),
);
const value: fc.Arbitrary<ParamValue | undefined> = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }));

describe('fuzz: parameters', () => {
  it('any string is accepted unchanged or refused with ERR_KERNMOD_INVALID_PARAMS; an accepted one parses to valid, distinct names', {
    timeout: TEST_TIMEOUT,
  }, () => {
    fc.assert(
      fc.property(paramString, (s) => {
        const r = typedOrResult(() => validateParamString(s));
        if (r instanceof KernmodError) {
          expect(r.code).toBe('ERR_KERNMOD_INVALID_PARAMS');
          return;
        }
        expect(r).toBe(s);
        expect(encodeParams(s)).toBe(s);
        const names = parseParams(s).map((p) => p.name.replaceAll('-', '_'));
        for (const n of names) expect(n).toMatch(/^[A-Za-z0-9_]+$/);
        expect(new Set(names).size).toBe(names.length);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('any object encodes to a string the kernel parses back to the same names and values, or is refused', { timeout: TEST_TIMEOUT }, () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: paramChar, maxLength: 6 }), value, { maxKeys: 4 }), (obj) => {
        const r = typedOrResult(() => encodeParams(obj as Record<string, ParamValue>));
        if (r instanceof KernmodError) {
          expect(r.code).toBe('ERR_KERNMOD_INVALID_PARAMS');
          return;
        }
        expect(validateParamString(r)).toBe(r);
        const parsed = parseParams(r);
        const given = Object.entries(obj).filter(([, v]) => v !== undefined);
        expect(parsed.map((p) => p.name)).toEqual(given.map(([k]) => k));
        for (const [i, [, v]] of given.entries()) {
          const text = (x: unknown) => (typeof x === 'boolean' ? (x ? 'Y' : 'N') : String(x));
          expect(parsed[i]!.value).toBe(Array.isArray(v) ? v.map(text).join(',') : text(v));
        }
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});
