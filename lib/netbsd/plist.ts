// NetBSD module properties: the XML property list that modload(8) hands the kernel in ml_props.
//
// externalizeProps() writes exactly what classic proplib's prop_dictionary_externalize() writes, which is
// what modload sends (research/netbsd-anchors.md §4.1; libprop prop_object.c 1.28, prop_dictionary.c
// 1.39, prop_number.c, prop_string.c, prop_bool.c, prop_array.c, prop_data.c):
//   - the <?xml …?> and <!DOCTYPE …> header lines, `<plist version="1.0">`, the dictionary, `</plist>\n`;
//   - a dictionary's entries sorted by key with strcmp (byte order), keys and strings escaping only
//     `<` `>` `&` (other bytes raw), one TAB per nesting level before start and empty tags;
//   - signed integers in decimal, unsigned ones (here: above INT64_MAX) as lowercase 0x hex;
//   - <true/>/<false/>, <string/> and <dict/>/<array/> when empty, <data> in base64. Empty data (which
//     proplib writes <data/>) is refused: the kernel's internalizer fails on <data/> (EINVAL).
// The kernel refuses ml_propslen > 4096 (MAXPROPSLEN, ENOMEM) and keys over 128 bytes (PDK_MAXKEY, which
// makes the internalizer fail: EINVAL), so both are checked here, before any system call.
//
// internalizeProps() is a port of the classic internalizer the kernel runs (prop_object.c
// _prop_generic_internalize / _prop_object_internalize_find_tag, and each type's internalizer): it
// accepts what the kernel accepts and fails where it fails. The fake NetBSD backend uses it for the
// kernel's "prop_dictionary_internalize() == NULL → EINVAL" check; `modload -m` uses it to read a plist.
import { invalidInput } from '../errors.js';
import { MAXPROPSLEN, PDK_MAXKEY } from './constants.js';

/** A value proplib can hold: string, integer (number or bigint), boolean, data, array or dictionary. */
export type PropValue = string | number | bigint | boolean | Uint8Array | readonly PropValue[] | PropDict;
export interface PropDict {
  readonly [key: string]: PropValue;
}

export const PLIST_HEADER =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple Computer//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
  '<plist version="1.0">\n';
export const PLIST_FOOTER = '</plist>\n';

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

export interface ExternalizeOptions {
  /** Largest text allowed, in bytes. Default MAXPROPSLEN (4096), the kernel's limit; Infinity for none. */
  maxBytes?: number;
}

function bad(message: string): never {
  throw invalidInput('ERR_KERNMOD_INVALID_PROPS', message);
}

function isDict(v: unknown): v is PropDict {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `&`, `<`, `>` only, as _prop_object_externalize_append_encoded_cstring. */
function encode(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkText(s: string, what: string): void {
  // The kernel handles C strings: a NUL would end the value (or the whole plist) early.
  if (s.includes('\0')) bad(`${what} contains a NUL byte`);
  if (LONE_SURROGATE.test(s)) bad(`${what} is not well-formed UTF-16 (a lone surrogate cannot be encoded as UTF-8)`);
}

function integerText(v: number | bigint, path: string): string {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) bad(`${path}: ${v} is not a safe integer (proplib numbers are 64-bit integers; pass a bigint)`);
    return String(v); // a signed number: "%" PRIi64
  }
  if (v < INT64_MIN || v > UINT64_MAX) bad(`${path}: ${v} does not fit in 64 bits`);
  // Above INT64_MAX only an unsigned proplib number holds it, and those are written "0x%" PRIx64.
  return v > INT64_MAX ? `0x${v.toString(16)}` : v.toString();
}

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Writes one plist's text into `out`, refusing what proplib cannot hold. */
class Externalizer {
  readonly out: string[] = [PLIST_HEADER];
  private readonly seen = new Set<object>();

  value(v: unknown, depth: number, path: string): void {
    const t = '\t'.repeat(depth);
    if (typeof v === 'string') {
      checkText(v, path);
      this.out.push(v === '' ? `${t}<string/>\n` : `${t}<string>${encode(v)}</string>\n`);
    } else if (typeof v === 'number' || typeof v === 'bigint') {
      this.out.push(`${t}<integer>${integerText(v, path)}</integer>\n`);
    } else if (typeof v === 'boolean') {
      this.out.push(`${t}<${v ? 'true' : 'false'}/>\n`);
    } else if (v instanceof Uint8Array) {
      // proplib writes empty data as <data/>, and the kernel's internalizer refuses that element (EINVAL).
      if (v.byteLength === 0) bad(`${path}: empty data is written <data/>, which the kernel refuses (EINVAL); leave the key out instead`);
      this.out.push(`${t}<data>${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}</data>\n`);
    } else if (Array.isArray(v)) {
      this.container('array', v, v.length, depth, path, () => v.forEach((e, i) => this.value(e, depth + 1, `${path}[${i}]`)));
    } else if (isDict(v)) {
      this.dict(v, depth, path);
    } else {
      const kind = v === null ? 'null' : typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
      bad(`${path}: ${kind} is not a property-list value (use a string, integer, boolean, Uint8Array, array or plain object)`);
    }
  }

  dict(d: PropDict, depth: number, path: string): void {
    const keys = Object.keys(d);
    this.container('dict', d, keys.length, depth, path, () => {
      for (const key of keys.sort(byteCompare)) {
        if (key === '') bad(`${path === '' ? 'props' : path}: a key is empty`);
        checkText(key, `key ${JSON.stringify(key)}`);
        const len = Buffer.byteLength(key, 'utf8');
        if (len > PDK_MAXKEY) bad(`key ${JSON.stringify(key)} is ${len} bytes; proplib allows at most ${PDK_MAXKEY}`);
        this.out.push(`${'\t'.repeat(depth + 1)}<key>${encode(key)}</key>\n`);
        this.value(d[key], depth + 1, path === '' ? key : `${path}.${key}`);
      }
    });
  }

  /** An <array> or <dict>: `<tag/>` when empty, else `entries()` between its tags; a value that holds itself is refused. */
  private container(tag: 'array' | 'dict', v: object, size: number, depth: number, path: string, entries: () => void): void {
    if (this.seen.has(v)) bad(`${path}: the value refers to itself`);
    const t = '\t'.repeat(depth);
    if (size === 0) {
      this.out.push(`${t}<${tag}/>\n`);
      return;
    }
    this.seen.add(v);
    this.out.push(`${t}<${tag}>\n`);
    entries();
    this.out.push(`${t}</${tag}>\n`);
    this.seen.delete(v);
  }
}

/**
 * The XML plist for `props`, byte for byte what NetBSD's proplib (and so modload) writes. Throws a
 * KernmodError ERR_KERNMOD_INVALID_PROPS for values proplib cannot hold, keys it refuses, and
 * ERR_KERNMOD_PROPS_TOO_LARGE past `maxBytes` (the kernel's 4096: it would answer ENOMEM).
 */
export function externalizeProps(props: PropDict = {}, options: ExternalizeOptions = {}): string {
  if (!isDict(props)) bad('module properties must be a plain object (a dictionary)');
  const x = new Externalizer();
  x.dict(props, 0, '');
  const text = `${x.out.join('')}${PLIST_FOOTER}`;
  const max = options.maxBytes ?? MAXPROPSLEN;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > max) {
    throw invalidInput(
      'ERR_KERNMOD_PROPS_TOO_LARGE',
      `the module properties are ${bytes} bytes as a plist; the kernel accepts at most ${max} (it would answer ENOMEM)`,
    );
  }
  return text;
}

// ---- internalize: a port of the classic proplib parser the kernel runs ------------------------------

const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]); // _PROP_ISSPACE
const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;

interface Tag {
  name: string;
  end: boolean;
  empty: boolean;
  attr?: { name: string; value: string };
}

class Fail extends Error {}

class Parser {
  i = 0;
  constructor(readonly b: Buffer) {}

  /** _PROP_EOF: the end of the text, or a NUL (the kernel's copy ends at the first one). */
  eof(at = this.i): boolean {
    return at >= this.b.length || this.b[at] === 0;
  }
  at(k: number): number {
    return this.b[k] ?? 0;
  }
  fail(): never {
    throw new Fail(`at byte ${this.i}`);
  }
  startsWith(s: string, at: number): boolean {
    return this.b.subarray(at, at + s.length).equals(Buffer.from(s, 'latin1'));
  }

  /** _prop_object_internalize_context_alloc: skip space, `<?xml ` and `<!DOCTYPE plist` up to `>`. */
  skipPreamble(): void {
    for (;;) {
      while (SPACE.has(this.at(this.i))) this.i++;
      if (this.eof() || this.at(this.i) !== LT) this.fail();
      if (this.startsWith('?xml ', this.i + 1) || this.startsWith('!DOCTYPE plist', this.i + 1)) {
        while (!this.eof() && this.at(this.i) !== GT) this.i++;
        if (this.eof()) this.fail();
        this.i++;
        continue;
      }
      return;
    }
  }

  /** _prop_object_internalize_find_tag. */
  findTag(name: string | null, want: 'start' | 'end' | 'either'): Tag {
    for (;;) {
      while (SPACE.has(this.at(this.i))) this.i++;
      if (this.eof() || this.at(this.i) !== LT) this.fail();
      this.i++;
      if (this.eof()) this.fail();
      if (this.at(this.i) === 0x21 /* ! */) {
        // Comments are allowed only where a start tag may come.
        if (!this.startsWith('!--', this.i) || want === 'end') this.fail();
        this.i += 3;
        while (!this.eof() && !this.startsWith('-->', this.i)) this.i++;
        if (this.eof()) this.fail();
        this.i += 3;
        continue;
      }
      let end = false;
      if (this.at(this.i) === SLASH) {
        if (want === 'start') this.fail();
        end = true;
        this.i++;
        if (this.eof()) this.fail();
      } else if (want === 'end') {
        this.fail();
      }
      const nameStart = this.i;
      while (!this.eof() && !SPACE.has(this.at(this.i)) && this.at(this.i) !== SLASH && this.at(this.i) !== GT) this.i++;
      if (this.eof()) this.fail();
      const tagName = this.b.toString('latin1', nameStart, this.i);
      if (name !== null && tagName !== name) this.fail();
      let empty = false;
      if (this.at(this.i) === SLASH) {
        if (end) this.fail();
        empty = true;
        this.i++;
        if (this.eof() || this.at(this.i) !== GT) this.fail();
      }
      if (this.at(this.i) === GT) {
        this.i++;
        return { name: tagName, end, empty };
      }
      // One attribute, exactly name="value", then `>`.
      this.i++;
      while (SPACE.has(this.at(this.i))) this.i++;
      if (this.eof()) this.fail();
      const attrStart = this.i;
      while (!this.eof() && !SPACE.has(this.at(this.i)) && this.at(this.i) !== 0x3d /* = */) this.i++;
      if (this.eof()) this.fail();
      const attrName = this.b.toString('latin1', attrStart, this.i);
      this.i++;
      if (this.at(this.i) !== 0x22 /* " */) this.fail();
      this.i++;
      const valStart = this.i;
      while (!this.eof() && this.at(this.i) !== 0x22) this.i++;
      if (this.eof()) this.fail();
      const value = this.b.toString('utf8', valStart, this.i);
      this.i++;
      if (this.at(this.i) !== GT) this.fail();
      this.i++;
      return { name: tagName, end, empty, attr: { name: attrName, value } };
    }
  }

  /** _prop_object_internalize_decode_string: text up to the next `<`, five entities, nothing else. */
  decodeString(maxBytes = Infinity): string {
    const bytes: number[] = [];
    for (;;) {
      if (this.eof()) this.fail();
      const c = this.at(this.i);
      if (c === LT) break;
      if (c === 0x26 /* & */) {
        const ent = [
          ['&amp;', 0x26],
          ['&lt;', LT],
          ['&gt;', GT],
          ['&apos;', 0x27],
          ['&quot;', 0x22],
        ] as const;
        const hit = ent.find(([e]) => this.startsWith(e, this.i));
        if (!hit) this.fail();
        bytes.push(hit[1]);
        this.i += hit[0].length;
      } else {
        bytes.push(c);
        this.i++;
      }
      if (bytes.length > maxBytes) this.fail();
    }
    return Buffer.from(bytes).toString('utf8');
  }

  value(tag: Tag): PropValue {
    if (tag.end) this.fail();
    switch (tag.name) {
      case 'dict':
        return this.dict(tag);
      case 'array':
        return this.array(tag);
      case 'string': {
        if (tag.attr) this.fail();
        if (tag.empty) return '';
        const s = this.decodeString();
        this.findTag('string', 'end');
        return s;
      }
      case 'integer':
        return this.integer(tag);
      case 'true':
      case 'false':
        if (!tag.empty || tag.attr) this.fail();
        return tag.name === 'true';
      case 'data':
        return this.data(tag);
      default:
        return this.fail();
    }
  }

  dict(tag: Tag): PropDict {
    if (tag.attr) this.fail();
    const d: Record<string, PropValue> = {};
    if (tag.empty) return d;
    for (;;) {
      const t = this.findTag(null, 'either');
      if (t.name === 'dict' && t.end) return d;
      if (t.name !== 'key' || t.end || t.empty) this.fail();
      const key = this.decodeString(PDK_MAXKEY);
      this.findTag('key', 'end');
      const v = this.value(this.findTag(null, 'start'));
      // A later duplicate replaces the earlier value (prop_dictionary_set). defineProperty keeps a key
      // such as "__proto__" an ordinary entry.
      Object.defineProperty(d, key, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }

  array(tag: Tag): PropValue[] {
    if (tag.attr) this.fail();
    const a: PropValue[] = [];
    if (tag.empty) return a;
    for (;;) {
      const t = this.findTag(null, 'either');
      if (t.name === 'array' && t.end) return a;
      a.push(this.value(t));
    }
  }

  /** _prop_number_internalize: `-` → strtoll, `0x` → strtoull, else strtoll (base 0: 0x hex, 0 octal). */
  integer(tag: Tag): number | bigint {
    if (tag.attr || tag.empty) this.fail();
    const unsigned = this.at(this.i) === 0x30 && this.at(this.i + 1) === 0x78;
    // The kernel's strtoll/strtoull clamp and it has no ERANGE check, so an out-of-range value is kept.
    const v = this.strtoll(unsigned);
    this.findTag('integer', 'end');
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  /** strtoll/strtoull with base 0, as the C library does it; returns the clamped value, moves the cursor. */
  strtoll(unsigned: boolean): bigint {
    let k = this.i;
    while (SPACE.has(this.at(k)) || this.at(k) === 0x0b || this.at(k) === 0x0c) k++;
    let neg = false;
    if (this.at(k) === 0x2b || this.at(k) === 0x2d) neg = this.at(k++) === 0x2d;
    let base = 10n;
    if (this.at(k) === 0x30 && (this.at(k + 1) | 0x20) === 0x78 && (digit(this.at(k + 2)) ?? 16) < 16) {
      base = 16n;
      k += 2;
    } else if (this.at(k) === 0x30) {
      base = 8n;
    }
    let v = 0n;
    let any = false;
    for (;;) {
      const d = digit(this.at(k));
      if (d === undefined || BigInt(d) >= base) break;
      v = v * base + BigInt(d);
      any = true;
      k++;
    }
    if (!any) return 0n; // no conversion: the cursor stays where it was
    this.i = k;
    if (unsigned) {
      if (v > UINT64_MAX) v = UINT64_MAX;
      return neg ? (UINT64_MAX + 1n - v) & UINT64_MAX : v;
    }
    if (neg) return -v < INT64_MIN ? INT64_MIN : -v;
    return v > INT64_MAX ? INT64_MAX : v;
  }

  data(tag: Tag): Uint8Array {
    if (tag.empty) this.fail(); // "We don't accept empty elements"
    if (tag.attr && (tag.attr.name !== 'size' || tag.attr.value === '')) this.fail();
    const start = this.i;
    while (!this.eof() && this.at(this.i) !== LT) this.i++;
    if (this.eof()) this.fail();
    const text = this.b.toString('latin1', start, this.i).replace(/[ \t\r\n]/g, '');
    if (!/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text) || text.length % 4 !== 0) this.fail();
    const bytes = Buffer.from(text, 'base64');
    if (tag.attr && Number(tag.attr.value) !== bytes.length) this.fail();
    this.findTag('data', 'end');
    return new Uint8Array(bytes);
  }
}

function digit(c: number): number | undefined {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x7a) return l - 0x61 + 10;
  return undefined;
}

/**
 * Parses an XML plist the way NetBSD's kernel does (classic proplib). Returns the dictionary, or throws
 * ERR_KERNMOD_INVALID_PROPS where the kernel's prop_dictionary_internalize() would return NULL — in
 * MODCTL_LOAD that is EINVAL. Integers come back as numbers, or bigints outside the safe range.
 */
export function internalizeProps(text: string | Uint8Array): PropDict {
  const b = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  const p = new Parser(b);
  try {
    p.skipPreamble();
    const plist = p.findTag('plist', 'start');
    if (plist.empty) p.fail();
    if (plist.attr && plist.attr.name !== 'version') p.fail();
    const dict = p.dict(p.findTag('dict', 'start'));
    p.findTag('plist', 'end'); // what follows </plist> is not looked at
    return dict;
  } catch (e) {
    if (e instanceof Fail) bad(`the property list is not one the kernel accepts (${e.message})`);
    throw e;
  }
}
