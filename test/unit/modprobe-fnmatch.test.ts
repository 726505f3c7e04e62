// fnmatch (lib/modprobe/fnmatch.ts) against glibc's own fnmatch(3) with flags 0, which is what kmod
// calls: curated cases, then random patterns and strings over the alphabet aliases are made of.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fnmatch, literalRun } from '../../lib/modprobe/fnmatch.js';
import { normalizeAlias } from '../../lib/modprobe/normalize.js';

/** glibc fnmatch through ffi-rs, when it can be loaded (undefined otherwise: those checks skip). */
function glibcFnmatch(): ((p: string, s: string) => boolean) | undefined {
  try {
    const ffi = createRequire(import.meta.url)('ffi-rs') as typeof import('ffi-rs');
    ffi.open({ library: 'libc-fnmatch', path: '' });
    return (p, s) =>
      (ffi.load({
        library: 'libc-fnmatch',
        funcName: 'fnmatch',
        retType: ffi.DataType.I32,
        paramsType: [ffi.DataType.String, ffi.DataType.String, ffi.DataType.I32],
        paramsValue: [p, s, 0],
      }) as number) === 0;
  } catch {
    return undefined;
  }
}
const glibc = process.platform === 'linux' ? glibcFnmatch() : undefined;

const CASES: Array<[string, string, boolean]> = [
  ['pci:v00008086d*sv*sd*bc*sc*i*', 'pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00', true],
  ['pci:v00008086d*sv*sd*bc*sc*i*', 'pci:v00001234d000010D3sv0sd0bc02sc00i00', false],
  ['usb:v*p*d*dc*dsc*dp*ic0Eisc01ip*in*', 'usb:v046Dp0825d0010dcEFdsc02dp01ic0Eisc01ip00in00', true],
  ['fs_ext4', 'fs_ext4', true],
  ['fs_ext4', 'fs_ext', false],
  ['a?c', 'abc', true],
  ['a?c', 'ac', false],
  ['*', '', true],
  ['', '', true],
  ['', 'a', false],
  ['a*', 'a/b.c', true], // flags 0: * crosses /
  ['?', '.', true], // flags 0: no special leading dot
  ['[abc]x', 'bx', true],
  ['[!abc]x', 'bx', false],
  ['[^abc]x', 'dx', true],
  ['[a-c]', 'b', true],
  ['[a-c]', 'd', false],
  ['[]a]', ']', true],
  ['[!]a]', ']', false],
  ['[a-]', '-', true],
  ['[[:digit:]]z', '7z', true],
  ['[[:alpha:]]z', '7z', false],
  ['[[:xdigit:]][[:upper:]]', 'fQ', true],
  ['[', '[', true], // unterminated bracket: a literal [
  ['[ab', '[ab', true],
  ['\\*', '*', true],
  ['\\*', 'a', false],
  ['a\\', 'a\\', false], // trailing backslash matches nothing
  ['*a*b*c*', 'xxaxxbxxcxx', true],
  ['*a*b*c', 'xxaxxbxxcxx', false],
  ['acpi*:PNP0C0A:*', 'acpi:PNP0C0A:', true],
  ['of:N*T*Cfsl,mpc5200-psc-ac97C*', 'of:NfooTbarCfsl,mpc5200-psc-ac97Cbaz', true],
  ['block-major-7-*', 'block-major-7-', true],
  ['x[]]y', 'x]y', true],
  ['x[!0-9]y', 'x5y', false],
];

describe('fnmatch', () => {
  it.each(CASES)('fnmatch(%j, %j) is %s', (p, s, want) => {
    expect(fnmatch(p, s)).toBe(want);
    if (glibc) expect(glibc(p, s)).toBe(want);
  });

  it('has no exponential blow-up on many stars', () => {
    expect(fnmatch('*a*a*a*a*a*b', 'a'.repeat(60))).toBe(false);
  });

  it.skipIf(!glibc)('agrees with glibc on random patterns and strings', () => {
    const ch = fc.constantFrom('a', 'b', 'c', '0', '9', ':', '-', '_', '*', '?', '[', ']', '!', '^', '\\', 'A');
    const str = fc.constantFrom('a', 'b', 'c', '0', '9', ':', '-', '_', '[', ']', '!', '\\', 'A', '*', '?');
    fc.assert(
      fc.property(fc.string({ unit: ch, maxLength: 12 }), fc.string({ unit: str, maxLength: 12 }), (p, s) => {
        expect(fnmatch(p, s)).toBe(glibc!(p, s));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('literalRun (the pre-filter of wildcard searches)', () => {
  it('is the longest run of plain characters outside brackets and escapes', () => {
    expect(literalRun('pci:v00008086d*sv*sd*bc0Csc03i30*')).toBe('pci:v00008086d');
    expect(literalRun('*bc0Csc03i30*')).toBe('bc0Csc03i30');
    expect(literalRun('ab[0-9xyzxyzxyz]cd')).toBe('ab');
    expect(literalRun('a\\bcd')).toBe('cd');
    expect(literalRun('*')).toBe('');
  });

  it('every string a pattern matches contains it', () => {
    const ch = fc.constantFrom('a', 'b', '0', ':', '*', '?', '[', ']', '!', '\\', '-');
    const str = fc.constantFrom('a', 'b', '0', ':', '[', ']', '!', '\\', '-', '*');
    fc.assert(
      fc.property(fc.string({ unit: ch, maxLength: 12 }), fc.string({ unit: str, maxLength: 12 }), (p, s) => {
        if (fnmatch(p, s)) expect(s.includes(literalRun(p))).toBe(true);
      }),
      { numRuns: 20000 },
    );
  });
});

describe('alias normalisation', () => {
  it('turns - into _ except inside [...], and rejects unmatched brackets', () => {
    expect(normalizeAlias('fs-ext4')).toBe('fs_ext4');
    expect(normalizeAlias('char-major-10-237')).toBe('char_major_10_237');
    expect(normalizeAlias('scsi:t-0x0[0-7]-x')).toBe('scsi:t_0x0[0-7]_x');
    expect(normalizeAlias('a]b')).toBeUndefined();
    expect(normalizeAlias('a[b')).toBeUndefined();
    expect(normalizeAlias('')).toBe('');
    expect(normalizeAlias('-a--b-')).toBe('_a__b_');
    expect(normalizeAlias('[-]-x[a-b]-')).toBe('[-]_x[a-b]_');
    expect(normalizeAlias('pci:v00008086d*')).toBe('pci:v00008086d*');
    expect(normalizeAlias('a-[b')).toBeUndefined();
    expect(normalizeAlias('a-b]')).toBeUndefined();
  });

  it('agrees with kmod alias_normalize, transcribed character by character, on any text of - [ ] a _', () => {
    // shared/util.c alias_normalize, transcribed.
    const kmod = (s: string): string | undefined => {
      let out = '';
      for (let i = 0; i < s.length; i++) {
        if (s[i] === ']') return undefined;
        if (s[i] === '[') {
          const close = s.indexOf(']', i);
          if (close === -1) return undefined;
          out += s.slice(i, close + 1);
          i = close;
        } else out += s[i] === '-' ? '_' : s[i];
      }
      return out;
    };
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('-', '[', ']', 'a', '_'), maxLength: 16 }), (s) => {
        expect(normalizeAlias(s)).toBe(kmod(s));
      }),
      { numRuns: 20000 },
    );
  });
});
