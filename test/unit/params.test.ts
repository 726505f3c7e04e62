import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeParams, nextArg, overrideParams, parseParams, validateParamString } from '../../lib/params.js';

const invalid = { code: 'ERR_KERNMOD_INVALID_PARAMS', phase: 'validate' };

describe('encodeParams', () => {
  it('encodes each value type by the kernel rules', () => {
    expect(encodeParams({ i: -5, u: 7, big: 18446744073709551615n, t: true, f: false, s: 'plain', arr: [1, 2, 3], sarr: ['a', 'b'] })).toBe(
      'i=-5 u=7 big=18446744073709551615 t=Y f=N s=plain arr=1,2,3 sarr=a,b',
    );
  });

  it('double-quotes values with any kernel whitespace, including 0xA0 inside UTF-8', () => {
    expect(encodeParams({ s: 'hello world' })).toBe('s="hello world"');
    expect(encodeParams({ s: 'a\tb' })).toBe('s="a\tb"');
    expect(encodeParams({ s: 'à' })).toBe('s="à"'); // UTF-8 C3 A0: the kernel's isspace(0xA0) is true
    expect(encodeParams({ s: 'é' })).toBe('s=é'); // C3 A9: no space byte
    expect(encodeParams({ a: ['x y', 'z'] })).toBe('a="x y,z"');
  });

  it('keeps an empty string as name=', () => {
    expect(encodeParams({ s: '' })).toBe('s=');
  });

  it('skips undefined, accepts Maps and pairs', () => {
    expect(encodeParams({ a: 1, b: undefined })).toBe('a=1');
    expect(encodeParams(new Map([['a', 1]]))).toBe('a=1');
    expect(
      encodeParams([
        ['a', 'x'],
        ['b', 2],
      ]),
    ).toBe('a=x b=2');
  });

  it.each([
    [{ 'bad name': 1 }, /invalid parameter name/],
    [{ 'a.b': 1 }, /invalid parameter name/],
    [{ '': 1 }, /invalid parameter name/],
    [{ a_b: 1, 'a-b': 2 }, /duplicate parameter/],
    [{ s: 'say "hi"' }, /cannot contain "/],
    [{ s: 'a\0b' }, /NUL/],
    [{ s: 'a\nb' }, /newline/],
    [{ a: ['x,y'] }, /comma/],
    [{ a: [] }, /at least one element/],
    [{ n: 1.5 }, /not an integer/],
    [{ n: Number.NaN }, /not a finite number/],
    [{ n: 2 ** 60 }, /bigint/],
    [{ n: null as unknown as number }, /unsupported value type null/],
  ])('rejects %j before any syscall', (input, message) => {
    expect(() => encodeParams(input as never)).toThrow(message);
    try {
      encodeParams(input as never);
    } catch (e) {
      expect(e).toMatchObject(invalid);
    }
  });
});

describe('nextArg (port of lib/cmdline.c)', () => {
  it('splits name=value tokens and skips trailing space', () => {
    expect(nextArg('a=1  b=2')).toEqual({ param: 'a', value: '1', rest: 'b=2' });
  });
  it('strips quotes around a value', () => {
    expect(nextArg('s="x y" t=1')).toEqual({ param: 's', value: 'x y', rest: 't=1' });
  });
  it('strips quotes around a whole token', () => {
    expect(nextArg('"s=x y" t')).toEqual({ param: 's', value: 'x y', rest: 't' });
  });
  it('a bare name has a null value', () => {
    expect(nextArg('flag rest')).toEqual({ param: 'flag', value: null, rest: 'rest' });
  });
  it('quotes in the middle of a value stay (the kernel has no escape)', () => {
    expect(nextArg('a=x"y z"')).toEqual({ param: 'a', value: 'x"y z"', rest: '' });
  });
  it("an '=' at index 0 is not a separator, as in C", () => {
    expect(nextArg('=x')).toEqual({ param: '=x', value: null, rest: '' });
  });
});

describe('parseParams', () => {
  it('parses like parse_args and stops at a bare --', () => {
    expect(parseParams('  a=1 b="two words" c -- d=4')).toEqual([
      { name: 'a', value: '1' },
      { name: 'b', value: 'two words' },
      { name: 'c', value: null },
    ]);
  });
});

describe('validateParamString', () => {
  it('passes a good string through unchanged', () => {
    expect(validateParamString('a=1 b="x y"')).toBe('a=1 b="x y"');
    expect(encodeParams('a=1  b=2')).toBe('a=1  b=2');
  });
  it.each([
    ['a=1 a=2', /duplicate/],
    ['a-b=1 a_b=2', /duplicate/],
    ['a="x', /unbalanced/],
    ['a=1 -- b=2', /bare --/],
    ['a=x"y"', /cannot be passed/],
    ['bad.name=1', /invalid parameter name/],
    ['a=\0', /NUL/],
  ])('rejects %j', (s, message) => {
    expect(() => validateParamString(s)).toThrow(message);
  });
});

describe('overrideParams', () => {
  it('keeps the last token of each name (- and _ alike), as written; unchanged without a repeat', () => {
    expect(overrideParams('a=1 b="x y" a-b=2 a=3 a_b')).toBe('b="x y" a=3 a_b');
    expect(overrideParams('  a=1\tb=2 ')).toBe('  a=1\tb=2 ');
    expect(overrideParams('c=2 ')).toBe('c=2 ');
    expect(overrideParams('')).toBe('');
    expect(overrideParams('"a=x y" a=ü')).toBe('a=ü');
    expect(overrideParams('a=1 -- a=2')).toBe('-- a=2');
  });
});

describe('round trip: parseParams(encodeParams(x))', () => {
  const name = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,15}$/);
  // Any text the encoder accepts: no ", NUL or newline (commas are fine outside arrays).
  const text = fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !/["\0\n]/.test(s));
  const element = fc.oneof(
    fc.integer(),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
    fc.boolean(),
    text.filter((s) => !s.includes(',')),
  );
  const value = fc.oneof(fc.integer(), fc.bigInt(), fc.boolean(), text, fc.array(element, { minLength: 1, maxLength: 4 }));

  const scalar = (v: unknown): string => (typeof v === 'boolean' ? (v ? 'Y' : 'N') : String(v));
  const expected = (v: unknown): string => (Array.isArray(v) ? v.map(scalar).join(',') : scalar(v));

  it('gives back every name and value, in order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n.replaceAll('-', '_'), maxLength: 8 }), (pairs) => {
        const encoded = encodeParams(pairs);
        const parsed = parseParams(encoded);
        // A value that is only whitespace-free text may not start with a quote; none can, since " is rejected.
        expect(parsed).toEqual(pairs.map(([n, v]) => ({ name: n, value: expected(v) })));
        // And the encoded string passes its own validation.
        expect(validateParamString(encoded)).toBe(encoded);
      }),
      { numRuns: 500 },
    );
  });
});
