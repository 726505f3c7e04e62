// Fuzzing the NetBSD codecs (fast-check, seeded and bounded, so a failure reproduces; FUZZ_SEED=n picks
// another seed): the plist externalizer and internalizer, and the MODCTL_STAT decoder in both layouts.
// Every input gives a result or a typed KernmodError, never another exception, and each one within 1 s.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KernmodError } from '../../lib/errors.js';
import { decodeModstat, encodeModstat, type ModstatRecord } from '../../lib/netbsd/modstat.js';
import { externalizeProps, internalizeProps, PLIST_FOOTER, PLIST_HEADER, type PropDict } from '../../lib/netbsd/plist.js';

const seed = Number(process.env.FUZZ_SEED ?? 0x6e627364);
const RUNS = 300;

/** Runs f; a non-KernmodError exception or a call over 1 s fails the property. */
function resultOrTyped<T>(f: () => T): T | KernmodError {
  const start = performance.now();
  let out: T | KernmodError;
  try {
    out = f();
  } catch (e) {
    if (!(e instanceof KernmodError)) throw e;
    out = e;
  }
  const ms = performance.now() - start;
  if (ms > 1000) throw new Error(`took ${ms.toFixed(0)} ms`);
  return out;
}

// Values proplib can hold, plus the ones it cannot (floats, null, lone surrogates, NUL, long keys).
const key = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ minLength: 120, maxLength: 140 }),
  fc.constantFrom('', 'a\0b', '<&>', '\uD800'),
);
const leaf = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.bigInt({ min: -(1n << 64n), max: 1n << 65n }),
  fc.boolean(),
  fc.uint8Array({ maxLength: 24 }),
  fc.double(),
  fc.constant(null),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 4 }), tie('d')),
  d: fc.dictionary(key, tie('v'), { maxKeys: 5 }),
})).d as fc.Arbitrary<PropDict>;

describe('fuzz: NetBSD plist codec', () => {
  it('externalizeProps: any value gives the text or ERR_KERNMOD_INVALID_PROPS / _TOO_LARGE; the text internalizes back', () => {
    fc.assert(
      fc.property(value, (props) => {
        const text = resultOrTyped(() => externalizeProps(props, { maxBytes: Infinity }));
        if (text instanceof KernmodError) {
          expect(text.code).toMatch(/^ERR_KERNMOD_(INVALID_PROPS|PROPS_TOO_LARGE)$/);
          return;
        }
        // What we write, the kernel's internalizer reads, and writing that again gives the same bytes.
        const back = resultOrTyped(() => internalizeProps(text));
        expect(back).not.toBeInstanceOf(KernmodError);
        expect(externalizeProps(back as PropDict, { maxBytes: Infinity })).toBe(text);
      }),
      { seed, numRuns: RUNS },
    );
  });

  it('internalizeProps: any text (random, or a valid plist cut or flipped) gives a dictionary or ERR_KERNMOD_INVALID_PROPS', () => {
    const valid = externalizeProps({ a: [1, 'two', { x: true }], b: new Uint8Array([1, 2, 3]), c: -5n, d: '' });
    const damaged = fc.oneof(
      fc.nat(valid.length).map((n) => valid.slice(0, n)),
      fc
        .tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 0x7e }))
        .map(([i, c]) => valid.slice(0, i) + String.fromCharCode(c) + valid.slice(i + 1)),
      fc.string({ maxLength: 200 }).map((s) => `${PLIST_HEADER}<dict>${s}</dict>\n${PLIST_FOOTER}`),
      fc.string({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }),
    );
    fc.assert(
      fc.property(damaged, (text) => {
        const r = resultOrTyped(() => internalizeProps(text));
        if (r instanceof KernmodError) expect(r.code).toBe('ERR_KERNMOD_INVALID_PROPS');
        else expect(typeof r).toBe('object');
      }),
      { seed, numRuns: RUNS * 3 },
    );
  });
});

describe('fuzz: MODCTL_STAT decoder', () => {
  const record: fc.Arbitrary<ModstatRecord> = fc.record({
    name: fc.string({ minLength: 1, maxLength: 31 }),
    required: fc.array(fc.stringMatching(/^[a-z0-9_]{1,12}$/), { maxLength: 4 }),
    source: fc.constantFrom('kernel', 'boot', 'filesys'),
    class: fc.constantFrom('any', 'misc', 'vfs', 'driver', 'exec', 'secmodel', 'bufq'),
    addr: fc.bigUint64Array({ minLength: 1, maxLength: 1 }).map((a) => a[0]!),
    size: fc.nat(),
    refcnt: fc.integer({ min: -1, max: 100 }),
    flags: fc.nat(7),
  });
  const answer = fc.tuple(
    fc.constantFrom('v1', 'v2') as fc.Arbitrary<'v1' | 'v2'>,
    fc.array(record, { maxLength: 6 }),
    fc.constantFrom('LE', 'BE') as fc.Arbitrary<'LE' | 'BE'>,
  );

  it('a kernel answer, cut, flipped or with fields set to extremes, gives entries or ERR_KERNMOD_BAD_MODSTAT', () => {
    const mutation = fc.tuple(fc.nat(5), fc.nat(), fc.nat(255), fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 0x80000000));
    fc.assert(
      fc.property(answer, mutation, ([layout, records, endian], [kind, at, byte, extreme]) => {
        const bytes = Buffer.from(encodeModstat(records, layout, { endian }));
        let input: Uint8Array = bytes;
        if (kind === 1) input = bytes.subarray(0, at % (bytes.length + 1));
        if (kind === 2 && bytes.length) bytes[at % bytes.length] = bytes[at % bytes.length]! ^ (byte || 1);
        if (kind === 3 && bytes.length >= 4) {
          // the v2 count, or a 32-bit field of some record (ms_reqoffset, ms_refcnt, ...)
          const where =
            layout === 'v2' && at % 3 === 0 ? 0 : Math.min(bytes.length - 4, (at % Math.max(1, Math.floor(bytes.length / 4))) * 4);
          if (endian === 'LE') bytes.writeUInt32LE(extreme, where);
          else bytes.writeUInt32BE(extreme, where);
        }
        if (kind === 4) input = Buffer.concat([bytes, Buffer.alloc((at % 64) + 1, byte)]);
        const r = resultOrTyped(() => decodeModstat(input, layout, { endian }));
        if (r instanceof KernmodError) expect(r.code).toBe('ERR_KERNMOD_BAD_MODSTAT');
        else expect(Array.isArray(r)).toBe(true);
        if (kind === 0) expect(r).toHaveLength(records.length);
      }),
      { seed, numRuns: RUNS * 3 },
    );
  });

  it('random bytes in either layout give entries or ERR_KERNMOD_BAD_MODSTAT', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.constantFrom('v1', 'v2') as fc.Arbitrary<'v1' | 'v2'>, (bytes, layout) => {
        const r = resultOrTyped(() => decodeModstat(bytes, layout, { endian: 'LE' }));
        if (r instanceof KernmodError) expect(r.code).toBe('ERR_KERNMOD_BAD_MODSTAT');
      }),
      { seed, numRuns: RUNS * 3 },
    );
  });
});
