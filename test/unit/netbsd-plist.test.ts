// The NetBSD module-properties plist, byte for byte against what classic proplib (and so modload(8))
// writes, and the port of the kernel's internalizer against what the kernel accepts and refuses.
// Expected texts are written out by hand from prop_object.c / prop_dictionary.c / prop_number.c
// (research/netbsd-anchors.md §4), not produced by the code under test.
import { describe, expect, it } from 'vitest';
import { EMPTY_PROPS_PLIST } from '../../lib/netbsd/backend.js';
import { externalizeProps, internalizeProps, PLIST_FOOTER, PLIST_HEADER, type PropDict } from '../../lib/netbsd/plist.js';

const HEAD =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple Computer//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
  '<plist version="1.0">\n';
const FOOT = '</plist>\n';
const doc = (body: string) => HEAD + body + FOOT;
const invalid = { code: 'ERR_KERNMOD_INVALID_PROPS', phase: 'validate' };

describe('externalizeProps: what modload sends', () => {
  it('an empty dictionary is the 190-byte plist modload sends without -b/-i/-s', () => {
    const text = externalizeProps({});
    expect(text).toBe(doc('<dict/>\n'));
    expect(Buffer.byteLength(text)).toBe(190);
    expect(text).toBe(EMPTY_PROPS_PLIST);
    expect(externalizeProps()).toBe(text);
  });

  it('writes the research example exactly (296 bytes): keys sorted, one tab per level, <true/>, decimal, escaped', () => {
    const text = externalizeProps({ s: 'a<b', i: 42, b: true });
    expect(text).toBe(
      doc(
        '<dict>\n\t<key>b</key>\n\t<true/>\n\t<key>i</key>\n\t<integer>42</integer>\n\t<key>s</key>\n\t<string>a&lt;b</string>\n</dict>\n',
      ),
    );
    expect(Buffer.byteLength(text)).toBe(296);
  });

  it('sorts keys by their UTF-8 bytes (strcmp), not by UTF-16 code units', () => {
    // U+FF61 is EF BD A1 in UTF-8, U+1F600 is F0 9F 98 80: bytes put U+FF61 first, UTF-16 (D83D…) the emoji.
    const text = externalizeProps({ '\u{1F600}': 1, '\uFF61': 2, b: 3, B: 4, _: 5, a: 6 });
    const keys = [...text.matchAll(/<key>(.*?)<\/key>/g)].map((m) => m[1]);
    expect(keys).toEqual(['B', '_', 'a', 'b', '\uFF61', '\u{1F600}']);
  });

  it('escapes only < > & in keys and strings; quotes, apostrophes, UTF-8 and control bytes go raw', () => {
    expect(externalizeProps({ 'k<&>': `<a href="x">'&'</a>\t\u00e9\u0001` })).toBe(
      doc(`<dict>\n\t<key>k&lt;&amp;&gt;</key>\n\t<string>&lt;a href="x"&gt;'&amp;'&lt;/a&gt;\t\u00e9\u0001</string>\n</dict>\n`),
    );
  });

  it('writes signed integers in decimal and values above INT64_MAX as unsigned 0x hex (lowercase)', () => {
    const ints = (v: number | bigint) => /<integer>(.*)<\/integer>/.exec(externalizeProps({ n: v }))![1];
    expect(ints(0)).toBe('0');
    expect(ints(-1)).toBe('-1');
    expect(ints(Number.MAX_SAFE_INTEGER)).toBe('9007199254740991');
    expect(ints(-(2n ** 63n))).toBe('-9223372036854775808');
    expect(ints(2n ** 63n - 1n)).toBe('9223372036854775807');
    expect(ints(2n ** 63n)).toBe('0x8000000000000000');
    expect(ints(2n ** 64n - 1n)).toBe('0xffffffffffffffff');
    expect(ints(255n)).toBe('255');
  });

  it('refuses numbers proplib cannot hold', () => {
    for (const v of [1.5, Number.NaN, Infinity, 2 ** 53, 2n ** 64n, -(2n ** 63n) - 1n]) {
      expect(() => externalizeProps({ n: v })).toThrow(expect.objectContaining(invalid));
    }
  });

  it('writes empty values as empty elements: <string/>, <array/>, <dict/>, and <false/>', () => {
    expect(externalizeProps({ a: '', b: [], c: {}, e: false })).toBe(
      doc(
        '<dict>\n\t<key>a</key>\n\t<string/>\n\t<key>b</key>\n\t<array/>\n\t<key>c</key>\n\t<dict/>\n\t<key>e</key>\n\t<false/>\n</dict>\n',
      ),
    );
  });

  it('refuses empty data: proplib writes it as <data/>, which the kernel internalizer always refuses (EINVAL)', () => {
    const cases: PropDict[] = [{ d: new Uint8Array(0) }, { a: [new Uint8Array(0)] }, { x: { y: new Uint8Array(new ArrayBuffer(8), 8) } }];
    for (const props of cases) {
      expect(() => externalizeProps(props)).toThrow(
        expect.objectContaining({ ...invalid, message: expect.stringMatching(/empty data .*<data\/>.*EINVAL/) }),
      );
    }
    expect(() => internalizeProps(PLIST_HEADER + '<dict>\n\t<key>d</key>\n\t<data/>\n</dict>\n' + PLIST_FOOTER)).toThrow();
  });

  it('nests dictionaries and arrays, each level one more tab, closing tags at the parent indentation', () => {
    expect(externalizeProps({ b: [], a: { y: [true, 'two', {}], x: 1 } })).toBe(
      doc(
        '<dict>\n' +
          '\t<key>a</key>\n' +
          '\t<dict>\n' +
          '\t\t<key>x</key>\n' +
          '\t\t<integer>1</integer>\n' +
          '\t\t<key>y</key>\n' +
          '\t\t<array>\n' +
          '\t\t\t<true/>\n' +
          '\t\t\t<string>two</string>\n' +
          '\t\t\t<dict/>\n' +
          '\t\t</array>\n' +
          '\t</dict>\n' +
          '\t<key>b</key>\n' +
          '\t<array/>\n' +
          '</dict>\n',
      ),
    );
  });

  it('writes data as standard base64 with padding', () => {
    expect(externalizeProps({ d: new Uint8Array([1, 2, 3]), e: Buffer.from([0xff]), f: new Uint8Array([0xfb, 0xff]) })).toBe(
      doc(
        '<dict>\n\t<key>d</key>\n\t<data>AQID</data>\n\t<key>e</key>\n\t<data>/w==</data>\n\t<key>f</key>\n\t<data>+/8=</data>\n</dict>\n',
      ),
    );
  });

  it('accepts keys up to 128 bytes (PDK_MAXKEY), counted in UTF-8', () => {
    expect(() => externalizeProps({ ['k'.repeat(128)]: 1 })).not.toThrow();
    expect(() => externalizeProps({ ['k'.repeat(129)]: 1 })).toThrow(
      expect.objectContaining({ ...invalid, message: expect.stringMatching(/129 bytes; proplib allows at most 128/) }),
    );
    expect(() => externalizeProps({ ['\u20ac'.repeat(42)]: 1 })).not.toThrow(); // 126 bytes
    expect(() => externalizeProps({ ['\u20ac'.repeat(43)]: 1 })).toThrow(expect.objectContaining(invalid)); // 129 bytes
    expect(() => externalizeProps({ a: { ['k'.repeat(129)]: 1 } })).toThrow(expect.objectContaining(invalid));
  });

  it('refuses what the kernel would cut short or cannot represent', () => {
    const cases: unknown[] = [
      { '': 1 },
      { 'a\0b': 1 },
      { s: 'a\0b' },
      { s: '\ud800' },
      { n: null },
      { n: undefined },
      { f: () => 1 },
      { d: new Date(0) },
      { m: new Map() },
      { s: Symbol('x') },
      { a: [1, undefined] },
    ];
    for (const c of cases)
      expect(() => externalizeProps(c as PropDict), JSON.stringify(String(Object.keys(c as object)))).toThrow(
        expect.objectContaining(invalid),
      );
    expect(() => externalizeProps([] as unknown as PropDict)).toThrow(expect.objectContaining(invalid));
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => externalizeProps(loop as PropDict)).toThrow(
      expect.objectContaining({ ...invalid, message: expect.stringMatching(/refers to itself/) }),
    );
    // The same object twice, not nested in itself, is fine.
    const shared = { x: 1 };
    expect(() => externalizeProps({ a: shared, b: shared })).not.toThrow();
  });

  it('stops at 4096 bytes (MAXPROPSLEN) with a typed error before any system call; the kernel would say ENOMEM', () => {
    const lengthFor = (n: number) => Buffer.byteLength(externalizeProps({ k: 'x'.repeat(n) }, { maxBytes: Infinity }));
    const n = 4096 - lengthFor(1) + 1;
    expect(Buffer.byteLength(externalizeProps({ k: 'x'.repeat(n) }))).toBe(4096);
    expect(() => externalizeProps({ k: 'x'.repeat(n + 1) })).toThrow(
      expect.objectContaining({
        code: 'ERR_KERNMOD_PROPS_TOO_LARGE',
        phase: 'validate',
        message: expect.stringMatching(/4097 bytes.*at most 4096.*ENOMEM/),
      }),
    );
    // Multi-byte characters count as bytes: one 2-byte character tips it over.
    expect(() => externalizeProps({ k: 'x'.repeat(n - 1) + '\u00e9' })).toThrow(
      expect.objectContaining({ code: 'ERR_KERNMOD_PROPS_TOO_LARGE' }),
    );
    expect(Buffer.byteLength(externalizeProps({ k: 'x'.repeat(5000) }, { maxBytes: Infinity }))).toBeGreaterThan(5000);
  });
});

describe('internalizeProps: the kernel’s parser', () => {
  it('reads back what externalizeProps writes', () => {
    const v: PropDict = {
      s: 'a<b>&c "q" \'a\'',
      e: '',
      n: -42,
      big: 2n ** 63n + 5n,
      neg: -(2n ** 63n),
      t: true,
      f: false,
      d: new Uint8Array([0, 1, 254, 255]),
      a: [1, 'x', [], {}, { k: [false] }],
      o: { deep: { deeper: 'yes' } },
      __proto__x: 1,
    };
    expect(internalizeProps(externalizeProps(v))).toEqual(v);
  });

  it('needs neither the <?xml ?> nor the DOCTYPE line, and ignores what follows </plist>', () => {
    expect(internalizeProps('<plist><dict><key>a</key><true/></dict></plist>')).toEqual({ a: true });
    expect(internalizeProps('  \n<?xml version="1.0"?>\n<!DOCTYPE plist x>\n<plist version="9"><dict/></plist> trailing junk')).toEqual({});
    expect(internalizeProps('<plist><!-- c --><dict><!-- c --><key>a</key><!-- c --><integer>1</integer></dict></plist>')).toEqual({
      a: 1,
    });
  });

  it('reads integers with strtoll/strtoull base 0: octal after 0, 0x hex (unsigned), a sign', () => {
    const int = (t: string) => internalizeProps(`<plist><dict><key>n</key><integer>${t}</integer></dict></plist>`).n;
    expect(int('010')).toBe(8);
    expect(int('0x10')).toBe(16);
    expect(int('-5')).toBe(-5);
    expect(int(' 7 ')).toBe(7);
    expect(int('0xffffffffffffffff')).toBe(2n ** 64n - 1n);
    expect(int('99999999999999999999')).toBe(2n ** 63n - 1n); // clamped: the kernel has no ERANGE check
  });

  it('decodes the five entities and refuses any other', () => {
    expect(internalizeProps('<plist><dict><key>s</key><string>&lt;&gt;&amp;&apos;&quot;></string></dict></plist>').s).toBe(`<>&'">`);
    expect(() => internalizeProps('<plist><dict><key>s</key><string>&#60;</string></dict></plist>')).toThrow(
      expect.objectContaining(invalid),
    );
  });

  it('keeps the later of two equal keys, and a "__proto__" key as an ordinary entry', () => {
    const d = internalizeProps(
      '<plist><dict><key>a</key><integer>1</integer><key>a</key><integer>2</integer><key>__proto__</key><true/></dict></plist>',
    );
    expect(d.a).toBe(2);
    expect(Object.getOwnPropertyDescriptor(d, '__proto__')?.value).toBe(true);
    expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
  });

  it('accepts keys of 128 bytes and refuses 129', () => {
    expect(internalizeProps(`<plist><dict><key>${'k'.repeat(128)}</key><true/></dict></plist>`)).toHaveProperty('k'.repeat(128), true);
    expect(() => internalizeProps(`<plist><dict><key>${'k'.repeat(129)}</key><true/></dict></plist>`)).toThrow(
      expect.objectContaining(invalid),
    );
  });

  it.each([
    ['no <plist>', '<dict/>'],
    ['<plist/>', '<plist/>'],
    ['an attribute other than version', '<plist foo="1"><dict/></plist>'],
    ['a top-level array', '<plist><array/></plist>'],
    ['no </plist>', '<plist><dict/>'],
    ['<key/>', '<plist><dict><key/><true/></dict></plist>'],
    ['a non-empty <true>', '<plist><dict><key>a</key><true></true></dict></plist>'],
    ['<integer/>', '<plist><dict><key>a</key><integer/></dict></plist>'],
    ['junk after the digits', '<plist><dict><key>a</key><integer>42x</integer></dict></plist>'],
    ['an attribute on <dict>', '<plist><dict a="b"/></plist>'],
    ['an attribute on <string>', '<plist><dict><key>a</key><string x="1">s</string></dict></plist>'],
    ['upper-case tags', '<plist><Dict/></plist>'],
    ['an unknown element', '<plist><dict><key>a</key><real>1.5</real></dict></plist>'],
    ['a value without a key', '<plist><dict><true/></dict></plist>'],
    ['a NUL before the end', '<plist><dict/>\0</plist>'],
    ['an empty text', ''],
    ['<data/>', '<plist><dict><key>a</key><data/></dict></plist>'],
    ['bad base64', '<plist><dict><key>a</key><data>A$==</data></dict></plist>'],
  ])('refuses %s, as the kernel would (EINVAL)', (_what, text) => {
    expect(() => internalizeProps(text)).toThrow(expect.objectContaining(invalid));
  });
});
