// Reader for depmod's binary indexes: modules.dep.bin, modules.alias.bin, modules.symbols.bin,
// modules.builtin.bin, modules.builtin.alias.bin (research b10; kmod libkmod/libkmod-index.c). Pure:
// bytes in, strings out; nodes are decoded on demand, so one lookup touches only its path in the trie.
//
// Layout (all integers big-endian u32):
//   header: magic 0xB007F457, version 0x0002xxxx (major 2), root node offset
//   node offset: low 28 bits = file offset; flags in the top nibble: 0x80000000 the node has a prefix,
//     0x40000000 values, 0x20000000 children. An offset of 0 means "no node".
//   node: [prefix NUL-terminated] [u8 first][u8 last][u32 child offset x (last-first+1)]
//         [u32 count][{u32 priority, value NUL-terminated} x count]
// Keys of modules.alias.bin and modules.symbols.bin are fnmatch patterns: `searchWild` walks the trie
// like kmod's index_mm_searchwild, so results come back in kmod's order (by priority; among equal
// priorities, the value found later first — kmod's add_value inserts before equal ones).
import { invalidInput } from '../errors.js';
import { fnmatch, literalRun } from './fnmatch.js';

export const INDEX_MAGIC = 0xb007f457;
export const INDEX_VERSION_MAJOR = 0x0002;

const NODE_PREFIX = 0x80000000;
const NODE_VALUES = 0x40000000;
const NODE_CHILDS = 0x20000000;
const NODE_MASK = 0x0fffffff;

export interface IndexValue {
  value: string;
  priority: number;
}

interface Node {
  prefix: string;
  first: number;
  last: number;
  /** Byte offset of the child offset table (valid when first <= last). */
  children: number;
  /** Byte offset of the value count, or -1 without values. */
  values: number;
}

// Keys and values are bytes; inside the reader they are "binary strings" (one char per byte, latin1).
// Callers speak UTF-8 JavaScript strings; ASCII (all real module names and aliases) needs no conversion.
const NON_ASCII = /[^\x00-\x7f]/;
const toBinary = (s: string) => (NON_ASCII.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s);
const fromBinary = (s: string) => (NON_ASCII.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s);

/** kmod's add_value(): keep `out` sorted by priority, inserting before values of equal priority. */
function addValue(out: IndexValue[], value: IndexValue): void {
  let i = 0;
  while (i < out.length && out[i]!.priority < value.priority) i++;
  out.splice(i, 0, value);
}

/** Every pattern below a wildcard node, flattened in kmod's visiting order, with its values. */
type Flat = Array<{ pattern: string; need: string; values: IndexValue[] }>;

export class BinaryIndex {
  private readonly buf: Buffer;
  private readonly root: number;
  /** Decoded nodes by offset: lookups keep walking the same upper nodes. */
  private readonly nodes = new Map<number, Node | undefined>();
  /** Flattened wildcard subtrees (see searchAll), computed once per (node, start, pattern). */
  private readonly flats = new Map<string, Flat>();

  /** @param name used in error messages (e.g. the file path). */
  constructor(bytes: Uint8Array, readonly name = 'index') {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.buf.length < 12) throw invalidInput('ERR_KERNMOD_BAD_INDEX', `${name}: too short for an index header (${this.buf.length} bytes)`, { path: name });
    const magic = this.buf.readUInt32BE(0);
    if (magic !== INDEX_MAGIC) {
      throw invalidInput('ERR_KERNMOD_BAD_INDEX', `${name}: bad magic 0x${magic.toString(16)} (expected 0x${INDEX_MAGIC.toString(16)}); run depmod`, { path: name });
    }
    const version = this.buf.readUInt32BE(4);
    if (version >>> 16 !== INDEX_VERSION_MAJOR) {
      throw invalidInput('ERR_KERNMOD_BAD_INDEX', `${name}: index format version ${version >>> 16}, this reader knows ${INDEX_VERSION_MAJOR}`, { path: name });
    }
    this.root = this.buf.readUInt32BE(8);
  }

  private cstring(at: number): [string, number] {
    const end = this.buf.indexOf(0, at);
    if (end === -1) throw invalidInput('ERR_KERNMOD_BAD_INDEX', `${this.name}: unterminated string at offset ${at}`, { path: this.name });
    return [this.buf.toString('latin1', at, end), end + 1];
  }

  private node(offset: number): Node | undefined {
    let n = this.nodes.get(offset);
    if (n === undefined && !this.nodes.has(offset)) {
      n = this.decode(offset);
      this.nodes.set(offset, n);
    }
    return n;
  }

  private decode(offset: number): Node | undefined {
    const at = offset & NODE_MASK;
    if (at === 0) return undefined;
    if (at >= this.buf.length) throw invalidInput('ERR_KERNMOD_BAD_INDEX', `${this.name}: node offset ${at} past the end`, { path: this.name });
    let p = at;
    let prefix = '';
    if (offset & NODE_PREFIX) [prefix, p] = this.cstring(p);
    let first = 128;
    let last = 0;
    let children = 0;
    if (offset & NODE_CHILDS) {
      first = this.buf[p]!;
      last = this.buf[p + 1]!;
      children = p + 2;
      p = children + 4 * (last - first + 1);
    }
    return { prefix, first, last, children, values: offset & NODE_VALUES ? p : -1 };
  }

  private child(node: Node, ch: number): Node | undefined {
    if (ch < node.first || ch > node.last) return undefined;
    return this.node(this.buf.readUInt32BE(node.children + 4 * (ch - node.first)));
  }

  private nodeValues(node: Node): IndexValue[] {
    if (node.values < 0) return [];
    const count = this.buf.readUInt32BE(node.values);
    const out: IndexValue[] = [];
    let p = node.values + 4;
    for (let i = 0; i < count; i++) {
      const priority = this.buf.readUInt32BE(p);
      const [value, next] = this.cstring(p + 4);
      out.push({ value: fromBinary(value), priority });
      p = next;
    }
    return out;
  }

  /** Exact lookup (index_mm_search): the first value stored under `key`, or undefined. */
  search(key: string): string | undefined {
    const k = toBinary(key);
    let node = this.node(this.root);
    let i = 0;
    while (node) {
      const { prefix } = node;
      for (let j = 0; j < prefix.length; j++) if (prefix.charCodeAt(j) !== k.charCodeAt(i + j)) return undefined;
      i += prefix.length;
      if (i === k.length) return this.nodeValues(node)[0]?.value;
      node = this.child(node, k.charCodeAt(i));
      i++;
    }
    return undefined;
  }

  /** Wildcard lookup (index_mm_searchwild): the values of every stored pattern that matches `key`. */
  searchWild(key: string): IndexValue[] {
    const k = toBinary(key);
    const out: IndexValue[] = [];
    let node = this.node(this.root);
    let i = 0;
    while (node) {
      const { prefix } = node;
      for (let j = 0; j < prefix.length; j++) {
        const ch = prefix.charCodeAt(j);
        if (ch === 0x2a || ch === 0x3f || ch === 0x5b) {
          this.searchAll(node, j, '', k.slice(i + j), out);
          return out;
        }
        if (ch !== k.charCodeAt(i + j)) return out;
      }
      i += prefix.length;
      const rest = k.slice(i);
      for (const wild of [0x2a, 0x3f, 0x5b]) {
        const c = this.child(node, wild);
        if (c) this.searchAll(c, 0, String.fromCharCode(wild), rest, out);
      }
      if (i === k.length) {
        for (const v of this.nodeValues(node)) addValue(out, v);
        return out;
      }
      node = this.child(node, k.charCodeAt(i));
      i++;
    }
    return out;
  }

  /**
   * Level 3 of kmod's search: every key below `node` is a pattern starting with a wildcard; each one
   * that fnmatches the rest of the key contributes its values (children first, then the node itself).
   * The subtree's patterns are flattened once and reused by later lookups.
   */
  private searchAll(node: Node, j: number, pattern: string, subkey: string, out: IndexValue[]): void {
    const key = `${node.children}:${node.values}:${j}:${pattern}`;
    let flat = this.flats.get(key);
    if (!flat) {
      flat = [];
      this.flatten(node, j, pattern, flat);
      this.flats.set(key, flat);
    }
    for (const f of flat) if (subkey.includes(f.need) && fnmatch(f.pattern, subkey)) for (const v of f.values) addValue(out, v);
  }

  private flatten(node: Node, j: number, pattern: string, flat: Flat): void {
    const here = pattern + node.prefix.slice(j);
    for (let ch = node.first; ch <= node.last; ch++) {
      const c = this.child(node, ch);
      if (c) this.flatten(c, 0, here + String.fromCharCode(ch), flat);
    }
    if (node.values >= 0) flat.push({ pattern: here, need: literalRun(here), values: this.nodeValues(node) });
  }

  /** Every key and value, in kmod's dump order (index_mm_dump: a node's values, then its children). */
  entries(): Array<{ key: string; value: string; priority: number }> {
    const out: Array<{ key: string; value: string; priority: number }> = [];
    const walk = (node: Node, key: string) => {
      const here = key + node.prefix;
      for (const v of this.nodeValues(node)) out.push({ key: fromBinary(here), value: v.value, priority: v.priority });
      for (let ch = node.first; ch <= node.last; ch++) {
        const c = this.child(node, ch);
        if (c) walk(c, here + String.fromCharCode(ch));
      }
    };
    const root = this.node(this.root);
    if (root) walk(root, '');
    return out;
  }
}
