// MODCTL_STAT answers decoded byte by byte. Every buffer here is built field by field at the offsets
// documented in research/netbsd-anchors.md §1.3 (392-byte records, NetBSD 5.0–8.x) and §1.4/§2.5
// (count + 64-byte records from byte 4 + string pool, NetBSD 9.0+) — not by the encoder under test.
import { describe, expect, it } from 'vitest';
import { decodeModstat, encodeModstat, type ModstatEntry } from '../../lib/netbsd/modstat.js';

interface Fields {
  name: string | Uint8Array;
  addr?: bigint;
  source?: number;
  class?: number;
  size?: number;
  refcnt?: number;
  flags?: number;
  reqoffset?: number; // v2
  required?: string; // v1
}

function putBytes(buf: Uint8Array, at: number, s: string | Uint8Array): void {
  buf.set(typeof s === 'string' ? Buffer.from(s, 'utf8') : s, at);
}

/** A v2 answer: int count at 0, 64-byte records from 4, then the pool bytes. */
function v2(records: Fields[], pool: string, le = true, count = records.length): Uint8Array {
  const poolBytes = Buffer.from(pool, 'latin1');
  const buf = new Uint8Array(4 + records.length * 64 + poolBytes.length);
  const dv = new DataView(buf.buffer);
  dv.setInt32(0, count, le);
  records.forEach((r, n) => {
    const o = 4 + n * 64;
    putBytes(buf, o + 0, r.name); // ms_name[32]
    dv.setBigUint64(o + 32, r.addr ?? 0n, le); // ms_addr (misaligned: byte 36 of the buffer for record 0)
    dv.setUint32(o + 40, r.source ?? 0, le); // ms_source
    dv.setUint32(o + 44, r.class ?? 0, le); // ms_class
    dv.setUint32(o + 48, r.size ?? 0, le); // ms_size
    dv.setUint32(o + 52, (r.refcnt ?? 0) >>> 0, le); // ms_refcnt (u_int)
    dv.setUint32(o + 56, r.flags ?? 0, le); // ms_flags
    dv.setUint32(o + 60, r.reqoffset ?? 0, le); // ms_reqoffset
  });
  buf.set(poolBytes, 4 + records.length * 64);
  return buf;
}

/** A v1 answer: 392-byte records. */
function v1(records: Fields[], le = true): Uint8Array {
  const buf = new Uint8Array(records.length * 392);
  const dv = new DataView(buf.buffer);
  records.forEach((r, n) => {
    const o = n * 392;
    putBytes(buf, o + 0, r.name); // ms_name[32]
    putBytes(buf, o + 32, r.required ?? ''); // ms_required[320]
    dv.setBigUint64(o + 352, r.addr ?? 0n, le);
    dv.setUint32(o + 360, r.source ?? 0, le);
    dv.setUint32(o + 364, r.class ?? 0, le);
    dv.setUint32(o + 368, r.size ?? 0, le);
    dv.setUint32(o + 372, (r.refcnt ?? 0) >>> 0, le);
    dv.setUint32(o + 376, r.flags ?? 0, le); // ms_flags (8.x) / ms_reserved[0] (5.x–7.x, zero)
  });
  return buf;
}

const flags = (raw: number) => ({ mustForce: (raw & 1) !== 0, autoLoaded: (raw & 2) !== 0, raw });
// A disabled builtin (refcnt -1): the kernel fills ms_flags only for live modules (handle_modctl_stat on
// 8.x, 9.x and 10.x alike), so whether reloading it needs force is unknown, whatever the bytes hold.
const builtinFlags = (raw: number) => ({ mustForce: 'unknown' as const, autoLoaded: false, raw });
const bad = { code: 'ERR_KERNMOD_BAD_MODSTAT', phase: 'query' };

// pool: byte 0 NUL, "ufs,krpc" at 1, "zlib" at 10.
const POOL = '\0ufs,krpc\0zlib\0';
const V2_RECORDS: Fields[] = [
  { name: 'tmpfs', addr: 0xffffffff81234567n, source: 2, class: 2, size: 12345, refcnt: 0, flags: 0, reqoffset: 0 },
  { name: 'nfs', addr: 0xffffffff80001000n, source: 2, class: 2, size: 200000, refcnt: 1, flags: 2, reqoffset: 1 },
  { name: 'compat_linux', source: 0, class: 4, refcnt: -1, flags: 3, reqoffset: 10 },
];
const V2_EXPECTED: ModstatEntry[] = [
  { name: 'tmpfs', required: [], source: 'filesys', class: 'vfs', addr: 0xffffffff81234567n, size: 12345, refcnt: 0, flags: flags(0) },
  {
    name: 'nfs',
    required: ['ufs', 'krpc'],
    source: 'filesys',
    class: 'vfs',
    addr: 0xffffffff80001000n,
    size: 200000,
    refcnt: 1,
    flags: flags(2),
  },
  { name: 'compat_linux', required: ['zlib'], source: 'kernel', class: 'exec', addr: 0n, size: 0, refcnt: -1, flags: builtinFlags(3) },
];

describe('ms_flags of a disabled builtin', () => {
  it('is not copied by the kernel: mustForce is "unknown" in both layouts, even with the bytes zero', () => {
    const [a] = decodeModstat(v2([{ name: 'compat_linux', source: 0, refcnt: -1, flags: 0 }], '\0'), 'v2', { endian: 'LE' });
    expect(a!.flags).toEqual({ mustForce: 'unknown', autoLoaded: false, raw: 0 });
    const [b] = decodeModstat(v1([{ name: 'compat_linux', required: '', source: 0, refcnt: -1, flags: 0 }]), 'v1', { endian: 'LE' });
    expect(b!.flags).toEqual({ mustForce: 'unknown', autoLoaded: false, raw: 0 });
  });
});

describe('decodeModstat v2 (MODCTL_STAT 4, NetBSD 9.0+)', () => {
  it('decodes count, 64-byte records from byte 4 (misaligned ms_addr) and the string pool', () => {
    expect(decodeModstat(v2(V2_RECORDS, POOL), 'v2', { endian: 'LE' })).toEqual(V2_EXPECTED);
  });

  it('reads the kernel byte order: the same answer big-endian', () => {
    expect(decodeModstat(v2(V2_RECORDS, POOL, false), 'v2', { endian: 'BE' })).toEqual(V2_EXPECTED);
  });

  it('treats ms_reqoffset 0 as "no requirements" even when the pool holds strings', () => {
    const [e] = decodeModstat(v2([{ name: 'a', reqoffset: 0 }], '\0ufs\0'), 'v2', { endian: 'LE' });
    expect(e!.required).toEqual([]);
  });

  it('decodes every class and source name, and UNKNOWN values as "unknown"', () => {
    const classes = ['any', 'misc', 'vfs', 'driver', 'exec', 'secmodel', 'bufq', 'unknown', 'unknown'];
    const recs = classes.map((_, i) => ({ name: `m${i}`, class: i, source: i % 4 }));
    const out = decodeModstat(v2(recs, '\0'), 'v2', { endian: 'LE' });
    expect(out.map((e) => e.class)).toEqual(classes);
    expect(out.map((e) => e.source).slice(0, 4)).toEqual(['kernel', 'boot', 'filesys', 'unknown']);
  });

  it('takes a name of 31 bytes plus NUL, and refuses 32 bytes without a NUL', () => {
    expect(decodeModstat(v2([{ name: 'n'.repeat(31) }], '\0'), 'v2', { endian: 'LE' })[0]!.name).toBe('n'.repeat(31));
    expect(() => decodeModstat(v2([{ name: 'n'.repeat(32) }], '\0'), 'v2', { endian: 'LE' })).toThrow(expect.objectContaining(bad));
  });

  it('decodes an empty list (count 0, pool of one NUL)', () => {
    expect(decodeModstat(v2([], '\0'), 'v2', { endian: 'LE' })).toEqual([]);
  });

  it('refuses truncated answers', () => {
    const full = v2(V2_RECORDS, POOL);
    expect(() => decodeModstat(full.subarray(0, 3), 'v2', { endian: 'LE' })).toThrow(expect.objectContaining(bad));
    // The count says 3 records, only two and a half arrived.
    expect(() => decodeModstat(full.subarray(0, 4 + 64 * 2 + 32), 'v2', { endian: 'LE' })).toThrow(
      expect.objectContaining({ ...bad, message: expect.stringMatching(/3 records need 196 bytes, only 164 arrived/) }),
    );
    // A count larger than what follows.
    expect(() => decodeModstat(v2(V2_RECORDS.slice(0, 1), '\0', true, 2), 'v2', { endian: 'LE' })).toThrow(expect.objectContaining(bad));
    expect(() => decodeModstat(v2([], '', true, -1), 'v2', { endian: 'LE' })).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/negative/) }),
    );
  });

  it('refuses an ms_reqoffset outside the pool, or one whose string runs off the end', () => {
    // pool is 15 bytes: offsets 0..14 exist; 15 is outside.
    expect(() => decodeModstat(v2([{ name: 'x', reqoffset: 15 }], POOL), 'v2', { endian: 'LE' })).toThrow(
      expect.objectContaining({ ...bad, message: expect.stringMatching(/ms_reqoffset 15 is outside the 15-byte string pool/) }),
    );
    expect(() => decodeModstat(v2([{ name: 'x', reqoffset: 0xffffffff }], POOL), 'v2', { endian: 'LE' })).toThrow(
      expect.objectContaining(bad),
    );
    // The pool's last string lost its NUL (a truncated pool).
    expect(() => decodeModstat(v2([{ name: 'x', reqoffset: 1 }], '\0ufs'), 'v2', { endian: 'LE' })).toThrow(
      expect.objectContaining({ ...bad, message: expect.stringMatching(/not NUL-terminated/) }),
    );
    // An offset into the middle of a string is in bounds and NUL-terminated: it decodes what is there.
    expect(decodeModstat(v2([{ name: 'x', reqoffset: 5 }], POOL), 'v2', { endian: 'LE' })[0]!.required).toEqual(['krpc']);
  });
});

describe('decodeModstat v1 (MODCTL_STAT 2, NetBSD 5.0–8.x)', () => {
  const recs: Fields[] = [
    { name: 'ffs', required: '', addr: 0xc0100000n, source: 0, class: 2, size: 0, refcnt: 2, flags: 0 },
    { name: 'nfs', required: 'ufs,krpc', addr: 0xffffffff80a00000n, source: 2, class: 2, size: 4096, refcnt: 0, flags: 2 },
    { name: 'secmodel_x', required: '', source: 0, class: 5, refcnt: -1, flags: 1 },
  ];

  it('decodes 392-byte records with the inline required list', () => {
    expect(decodeModstat(v1(recs), 'v1', { endian: 'LE' })).toEqual([
      { name: 'ffs', required: [], source: 'kernel', class: 'vfs', addr: 0xc0100000n, size: 0, refcnt: 2, flags: flags(0) },
      {
        name: 'nfs',
        required: ['ufs', 'krpc'],
        source: 'filesys',
        class: 'vfs',
        addr: 0xffffffff80a00000n,
        size: 4096,
        refcnt: 0,
        flags: flags(2),
      },
      { name: 'secmodel_x', required: [], source: 'kernel', class: 'secmodel', addr: 0n, size: 0, refcnt: -1, flags: builtinFlags(1) },
    ]);
  });

  it('decodes big-endian records', () => {
    expect(decodeModstat(v1(recs, false), 'v1', { endian: 'BE' })[1]!.addr).toBe(0xffffffff80a00000n);
  });

  it('accepts a full 319-byte list, and refuses 320 bytes without a NUL', () => {
    const list = Array.from({ length: 80 }, (_, i) => `m${String(i).padStart(2, '0')}`)
      .join(',')
      .slice(0, 319);
    expect(decodeModstat(v1([{ name: 'a', required: list }]), 'v1', { endian: 'LE' })[0]!.required.join(',')).toBe(list.replace(/,$/, ''));
    expect(() => decodeModstat(v1([{ name: 'a', required: 'x'.repeat(320) }]), 'v1', { endian: 'LE' })).toThrow(
      expect.objectContaining(bad),
    );
  });

  it('refuses a truncated record', () => {
    const buf = v1(recs);
    expect(() => decodeModstat(buf.subarray(0, 392 * 2 + 100), 'v1', { endian: 'LE' })).toThrow(
      expect.objectContaining({ ...bad, message: expect.stringMatching(/not a whole number of 392-byte records/) }),
    );
    expect(decodeModstat(buf.subarray(0, 0), 'v1', { endian: 'LE' })).toEqual([]);
  });
});

describe('encodeModstat (what the kernel writes; the fake backend uses it)', () => {
  it('writes v2 byte for byte as the hand-built answer above', () => {
    const records = V2_EXPECTED.map((e) => ({ ...e, source: e.source as 'kernel', class: e.class as 'vfs', flags: e.flags.raw }));
    expect(Buffer.from(encodeModstat(records, 'v2', { endian: 'LE' }))).toEqual(Buffer.from(v2(V2_RECORDS, POOL)));
  });

  it('round-trips both layouts', () => {
    const records = V2_EXPECTED.map((e) => ({ ...e, source: e.source as 'kernel', class: e.class as 'vfs', flags: e.flags.raw }));
    for (const layout of ['v1', 'v2'] as const) {
      for (const endian of ['LE', 'BE'] as const) {
        expect(decodeModstat(encodeModstat(records, layout, { endian }), layout, { endian })).toEqual(V2_EXPECTED);
      }
    }
  });
});
