// A small ASN.1 reader, enough for the PKCS#7 blob of a module signature: tag-length-value elements
// over a byte range, definite lengths (DER) and, because OpenSSL's streaming CMS writer can emit them,
// BER indefinite lengths. Every length is checked against its parent before use, so malformed input
// fails with ERR_KERNMOD_BAD_SIGNATURE; nesting is capped so a crafted blob cannot exhaust the stack.
import { invalidInput, type KernmodError } from '../errors.js';
import { LINUX_ERRNO } from '../errno.js';

export const TAG_INTEGER = 0x02;
export const TAG_OCTET_STRING = 0x04;
export const TAG_OID = 0x06;
export const TAG_SEQUENCE = 0x30;
export const TAG_SET = 0x31;

const MAX_DEPTH = 32;

export interface Der {
  /** The identifier octet (class, constructed bit and tag number ≤ 30). */
  tag: number;
  /** Where the element starts (its tag) and where its contents start and end, in the buffer. */
  start: number;
  contentStart: number;
  contentEnd: number;
  /** The first byte after the element (after the end-of-contents octets for an indefinite length). */
  end: number;
}

export function derError(reason: string, offset: number): KernmodError {
  return invalidInput('ERR_KERNMOD_BAD_SIGNATURE', `malformed PKCS#7 signature: ${reason} (at byte ${offset} of the signature)`, {
    errno: -LINUX_ERRNO.EBADMSG,
  });
}

/**
 * A copy of bytes [start, end): never a view, because Buffer#slice shares memory and the caller's
 * buffer (or the reader's scratch buffer) may change after we return.
 */
export function copyBytes(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}

/** Reads the element at `pos`, which must end by `limit`. */
export function readDer(b: Uint8Array, pos: number, limit: number, depth = 0): Der {
  if (depth > MAX_DEPTH) throw derError('nesting too deep', pos);
  if (pos + 2 > limit) throw derError('truncated element', pos);
  const tag = b[pos]!;
  if ((tag & 0x1f) === 0x1f) throw derError('multi-byte tag numbers are not used in PKCS#7', pos);
  let p = pos + 1;
  const first = b[p++]!;
  if (first < 0x80) {
    const end = p + first;
    if (end > limit) throw derError('length runs past its container', pos);
    return { tag, start: pos, contentStart: p, contentEnd: end, end };
  }
  if (first === 0x80) {
    // Indefinite length: only for constructed elements; the contents end at a 00 00 element.
    if ((tag & 0x20) === 0) throw derError('indefinite length on a primitive element', pos);
    let q = p;
    for (;;) {
      if (q + 2 > limit) throw derError('indefinite length without end-of-contents', pos);
      if (b[q] === 0 && b[q + 1] === 0) return { tag, start: pos, contentStart: p, contentEnd: q, end: q + 2 };
      q = readDer(b, q, limit, depth + 1).end;
    }
  }
  const n = first & 0x7f;
  if (n > 4) throw derError('length longer than 4 bytes', pos);
  if (p + n > limit) throw derError('truncated length', pos);
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
  const end = p + len;
  if (end > limit) throw derError('length runs past its container', pos);
  return { tag, start: pos, contentStart: p, contentEnd: end, end };
}

/** The elements directly inside a constructed element. */
export function children(b: Uint8Array, parent: Der, depth = 0): Der[] {
  if ((parent.tag & 0x20) === 0) throw derError('expected a constructed element', parent.start);
  const out: Der[] = [];
  for (let p = parent.contentStart; p < parent.contentEnd; ) {
    const c = readDer(b, p, parent.contentEnd, depth + 1);
    out.push(c);
    p = c.end;
  }
  return out;
}

/** Checks an element's tag, naming what was expected in the error. */
export function expectTag(el: Der | undefined, tag: number, what: string, at: number): Der {
  if (!el) throw derError(`missing ${what}`, at);
  if (el.tag !== tag) throw derError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${el.tag.toString(16)}`, el.start);
  return el;
}

/** An OBJECT IDENTIFIER's dotted form ('2.16.840.1.101.3.4.2.1'). */
export function oidToString(b: Uint8Array, el: Der): string {
  if (el.contentEnd <= el.contentStart) throw derError('empty OBJECT IDENTIFIER', el.start);
  let out = '';
  // Arcs are numbers while they stay exact (every real one); a longer arc continues as a BigInt.
  let value = 0;
  let big: bigint | undefined;
  let first = true;
  for (let p = el.contentStart; p < el.contentEnd; p++) {
    const byte = b[p]!;
    if (big !== undefined) big = (big << 7n) | BigInt(byte & 0x7f);
    else if (value >= 2 ** 45) big = (BigInt(value) << 7n) | BigInt(byte & 0x7f);
    else value = value * 128 + (byte & 0x7f);
    if (byte & 0x80) {
      if (p === el.contentEnd - 1) throw derError('truncated OBJECT IDENTIFIER', p);
      continue;
    }
    if (first) {
      if (big !== undefined) out += `2.${big - 80n}`;
      else {
        const x = value < 40 ? 0 : value < 80 ? 1 : 2;
        out += `${x}.${value - x * 40}`;
      }
      first = false;
    } else out += `.${big ?? value}`;
    value = 0;
    big = undefined;
  }
  return out;
}
