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
//
// What is accepted is what kmod reads: depmod writes an index with no keys as a bare header whose root
// offset is the file size (a node with no fields needs no bytes), and a 0-byte file where the source
// list is missing (modules.builtin.bin without modules.builtin); both are empty indexes here. A file
// is untrusted input all the same: every field is read within the file or is a KernmodError
// (ERR_KERNMOD_BAD_INDEX), a node reached twice by one walk is refused (a trie is a tree; shared
// children would make the walk exponential, a node that is its own child endless), and one walk
// builds at most KEY_BYTES_PER_FILE_BYTE bytes of keys per byte of file (real indexes: under 1).
import { invalidInput, type KernmodError } from '../errors.js';
import { fnmatch, literalRun } from './fnmatch.js';

export const INDEX_MAGIC = 0xb007f457;
const INDEX_VERSION_MAJOR = 0x0002;

const NODE_PREFIX = 0x80000000;
const NODE_VALUES = 0x40000000;
const NODE_CHILDS = 0x20000000;
const NODE_MASK = 0x0fffffff;
const HEADER_SIZE = 12;

/** The bound on the keys one walk may build, per byte of file, plus a floor for tiny files. */
const KEY_BYTES_PER_FILE_BYTE = 8;
const KEY_BYTES_FLOOR = 64 * 1024;

export interface IndexValue {
  value: string;
  priority: number;
}

interface Node {
  /** Its file offset (the node offset without the flag bits). */
  at: number;
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
// biome-ignore lint/suspicious/noControlCharactersInRegex: the range is every ASCII byte, NUL included
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

  /**
   * @param name used in error messages (e.g. the file path).
   * @param fill when given, `bytes` holds only what fill(start, end) has been asked for: it is called
   *   before every read of a range (an index file read as lookups reach its nodes, lib/modprobe/moddir.ts).
   */
  constructor(
    bytes: Uint8Array,
    readonly name = 'index',
    private readonly fill?: (start: number, end: number) => void,
  ) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.fill?.(0, Math.min(HEADER_SIZE, this.buf.length));
    if (this.buf.length === 0) {
      // What depmod writes for an index it has no source for; kmod finds nothing in it.
      this.root = 0;
      return;
    }
    if (this.buf.length < HEADER_SIZE) throw this.bad(`too short for an index header (${this.buf.length} bytes)`);
    const magic = this.buf.readUInt32BE(0);
    if (magic !== INDEX_MAGIC) throw this.bad(`bad magic 0x${magic.toString(16)} (expected 0x${INDEX_MAGIC.toString(16)})`);
    const version = this.buf.readUInt32BE(4);
    if (version >>> 16 !== INDEX_VERSION_MAJOR)
      throw this.bad(`index format version ${version >>> 16}, this reader knows ${INDEX_VERSION_MAJOR}`);
    this.root = this.buf.readUInt32BE(8);
  }

  private bad(message: string): KernmodError {
    return invalidInput('ERR_KERNMOD_BAD_INDEX', `${this.name}: ${message}`, {
      path: this.name,
      hint: 'the index is damaged or not written by depmod: run depmod for this kernel',
    });
  }

  private cstring(at: number): [string, number] {
    let end = -1;
    if (this.fill === undefined) end = at < this.buf.length ? this.buf.indexOf(0, at) : -1;
    else {
      // Filled a piece at a time: a search must not run on into bytes not read yet.
      for (let from = at; end === -1 && from < this.buf.length; ) {
        const to = Math.min(this.buf.length, from + 4096 - (from % 4096));
        this.fill(from, to);
        const i = this.buf.subarray(from, to).indexOf(0);
        end = i === -1 ? -1 : from + i;
        from = to;
      }
    }
    if (end === -1) throw this.bad(`unterminated string at offset ${at}`);
    return [this.buf.toString('latin1', at, end), end + 1];
  }

  /** A big-endian u32 that must lie inside the file. */
  private u32(at: number, what: string): number {
    if (at + 4 > this.buf.length) throw this.bad(`${what} at offset ${at} runs past the end (${this.buf.length} bytes)`);
    this.fill?.(at, at + 4);
    return this.buf.readUInt32BE(at);
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
    if (at > this.buf.length) throw this.bad(`node offset ${at} past the end (${this.buf.length} bytes)`);
    let p = at;
    let prefix = '';
    if (offset & NODE_PREFIX) [prefix, p] = this.cstring(p);
    let first = 128;
    let last = 0;
    let children = 0;
    if (offset & NODE_CHILDS) {
      if (p + 2 > this.buf.length) throw this.bad(`child range at offset ${p} runs past the end`);
      this.fill?.(p, p + 2);
      first = this.buf[p]!;
      last = this.buf[p + 1]!;
      // kmod reads such a node as no node at all.
      if (first > last) return undefined;
      children = p + 2;
      p = children + 4 * (last - first + 1);
      if (p > this.buf.length) throw this.bad(`child table at offset ${children} runs past the end`);
      this.fill?.(children, p);
    }
    let values = -1;
    if (offset & NODE_VALUES) {
      const count = this.u32(p, 'value count');
      // Each value takes at least 5 bytes: its priority and the NUL ending it.
      if (count > (this.buf.length - p - 4) / 5) throw this.bad(`${count} values at offset ${p} cannot fit in the file`);
      values = p;
    }
    return { at, prefix, first, last, children, values };
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
      const priority = this.u32(p, 'value priority');
      const [value, next] = this.cstring(p + 4);
      out.push({ value: fromBinary(value), priority });
      p = next;
    }
    return out;
  }

  /**
   * The guard of one walk over a subtree: each node once (else the file is a graph, not a trie), and
   * the keys it builds bounded by the file's size.
   */
  private walk(): { enter(node: Node): void; spend(keyBytes: number): void } {
    const seen = new Set<number>();
    let budget = KEY_BYTES_PER_FILE_BYTE * this.buf.length + KEY_BYTES_FLOOR;
    return {
      enter: (node) => {
        if (seen.has(node.at)) throw this.bad(`the node at offset ${node.at} is reached twice: the index is not a tree`);
        seen.add(node.at);
      },
      spend: (keyBytes) => {
        budget -= keyBytes;
        if (budget < 0) throw this.bad(`its keys add up to more than ${KEY_BYTES_PER_FILE_BYTE} bytes per byte of file`);
      },
    };
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
    const key = `${node.at}:${j}:${pattern}`;
    let flat = this.flats.get(key);
    if (!flat) {
      flat = this.flatten(node, j, pattern);
      this.flats.set(key, flat);
    }
    for (const f of flat) if (subkey.includes(f.need) && fnmatch(f.pattern, subkey)) for (const v of f.values) addValue(out, v);
  }

  /** The patterns below `top` with their values, children first (by character), then the node itself. */
  private flatten(top: Node, j: number, pattern: string): Flat {
    const flat: Flat = [];
    const guard = this.walk();
    guard.enter(top);
    const stack = [{ node: top, here: pattern + top.prefix.slice(j), ch: top.first }];
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      if (f.ch <= f.node.last) {
        const ch = f.ch++;
        const c = this.child(f.node, ch);
        if (c) {
          guard.enter(c);
          stack.push({ node: c, here: f.here + String.fromCharCode(ch) + c.prefix, ch: c.first });
        }
        continue;
      }
      stack.pop();
      const values = this.nodeValues(f.node);
      if (values.length > 0) {
        guard.spend(f.here.length);
        flat.push({ pattern: f.here, need: literalRun(f.here), values });
      }
    }
    return flat;
  }

  /** Every key and value, in kmod's dump order (index_mm_dump: a node's values, then its children). */
  entries(): Array<{ key: string; value: string; priority: number }> {
    const out: Array<{ key: string; value: string; priority: number }> = [];
    const root = this.node(this.root);
    if (!root) return out;
    const guard = this.walk();
    const stack: Array<{ node: Node; here: string; ch: number }> = [];
    const enter = (node: Node, here: string) => {
      guard.enter(node);
      for (const v of this.nodeValues(node)) {
        guard.spend(here.length);
        out.push({ key: fromBinary(here), value: v.value, priority: v.priority });
      }
      stack.push({ node, here, ch: node.first });
    };
    enter(root, root.prefix);
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      if (f.ch > f.node.last) {
        stack.pop();
        continue;
      }
      const ch = f.ch++;
      const c = this.child(f.node, ch);
      if (c) enter(c, f.here + String.fromCharCode(ch) + c.prefix);
    }
    return out;
  }
}
