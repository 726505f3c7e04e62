// Writer for kmod's binary index (modules.*.bin), the format lib/modprobe/index-bin.ts reads: a
// path-compressed trie over 7-bit keys, written post-order (children before their parent) exactly as
// kmod 30's depmod writes it (tools/depmod.c, index_insert / index_write), so the bytes match.
//   header: u32 magic 0xB007F457, u32 version 0x00020001, u32 root offset (all big-endian)
//   node:   [prefix NUL] [u8 first, u8 last, u32 child offset x (last-first+1)] [u32 count, {u32 priority, value NUL} x count]
// A node's offset carries flags in its top nibble: 0x80000000 prefix, 0x40000000 values, 0x20000000 children.
// Keys and values are binary strings (one char per byte).
import { INDEX_MAGIC } from '../modprobe/index-bin.js';

const INDEX_VERSION = 0x00020001;
const NODE_PREFIX = 0x80000000;
const NODE_VALUES = 0x40000000;
const NODE_CHILDS = 0x20000000;

interface Value {
  value: string;
  priority: number;
}

// A node's children are two parallel lists, their first characters as a string and the nodes, not a
// Map: modules.alias.bin alone has 36,000 nodes, and a Map each made the indexes a quarter slower to write.
interface Node {
  prefix: string;
  /** Sorted by priority; a new value goes before the values of equal priority (kmod's index_add_value). */
  values: Value[] | undefined;
  /** The children's first characters, in the order they were added. */
  keys: string;
  /** The children, in the order of `keys`. */
  children: Node[];
}

const newNode = (prefix: string, values: Value[] | undefined, keys = '', children: Node[] = []): Node => ({
  prefix,
  values,
  keys,
  children,
});

/** Inserts before the first value of priority >= `priority`; true when the node already held `value`. */
function addValue(values: Value[], value: string, priority: number): boolean {
  let duplicate = false;
  for (const v of values) if (v.value === value) duplicate = true;
  let i = 0;
  while (i < values.length && values[i]!.priority < priority) i++;
  values.splice(i, 0, { value, priority });
  return duplicate;
}

export class IndexWriter {
  private readonly root = newNode('', undefined);

  /** Adds `value` under `key`; returns true when that key already had this value (depmod -w warns). */
  insert(key: string, value: string, priority: number): boolean {
    let node = this.root;
    let i = 0;
    for (;;) {
      const prefix = node.prefix;
      let j = 0;
      for (; j < prefix.length; j++) {
        if (prefix.charCodeAt(j) !== key.charCodeAt(i + j)) {
          // Split: the node keeps prefix[0..j) and gets one child at prefix[j] holding the rest.
          const rest = newNode(prefix.slice(j + 1), node.values, node.keys, node.children);
          node.prefix = prefix.slice(0, j);
          node.values = undefined;
          node.keys = prefix[j]!;
          node.children = [rest];
          break;
        }
      }
      i += j;
      if (i === key.length) {
        if (node.values) return addValue(node.values, value, priority);
        node.values = [{ value, priority }];
        return false;
      }
      const k = node.keys.indexOf(key[i]!);
      if (k === -1) {
        node.keys += key[i];
        node.children.push(newNode(key.slice(i + 1), [{ value, priority }]));
        return false;
      }
      node = node.children[k]!;
      i++;
    }
  }

  /** The whole file. */
  toBuffer(): Buffer {
    const out = new ByteSink();
    out.u32(INDEX_MAGIC);
    out.u32(INDEX_VERSION);
    out.u32(0);
    const root = writeNode(this.root, out);
    const buf = out.finish();
    buf.writeUInt32BE(root >>> 0, 8);
    return buf;
  }
}

function writeNode(node: Node, out: ByteSink): number {
  // kmod's node->first starts at 128 (no children) and node->last at 0.
  let first = 128;
  let last = 0;
  for (let k = 0; k < node.keys.length; k++) {
    const ch = node.keys.charCodeAt(k);
    first = Math.min(first, ch);
    last = Math.max(last, ch);
  }
  let childOffsets: number[] | undefined;
  if (first < 128) {
    childOffsets = new Array<number>(last - first + 1).fill(0);
    for (let ch = first; ch <= last; ch++) {
      const k = node.keys.indexOf(String.fromCharCode(ch));
      if (k !== -1) childOffsets[ch - first] = writeNode(node.children[k]!, out);
    }
  }
  let offset = out.length;
  if (node.prefix.length > 0) {
    out.cstring(node.prefix);
    offset |= NODE_PREFIX;
  }
  if (childOffsets) {
    out.u8(first);
    out.u8(last);
    for (const c of childOffsets) out.u32(c);
    offset |= NODE_CHILDS;
  }
  if (node.values) {
    out.u32(node.values.length);
    for (const v of node.values) {
      out.u32(v.priority);
      out.cstring(v.value);
    }
    offset |= NODE_VALUES;
  }
  return offset >>> 0;
}

/** An append-only byte buffer that grows by doubling. */
class ByteSink {
  private buf = Buffer.allocUnsafe(1 << 16);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number): void {
    this.reserve(1);
    this.buf[this.length++] = v;
  }
  u32(v: number): void {
    this.reserve(4);
    this.buf.writeUInt32BE(v >>> 0, this.length);
    this.length += 4;
  }
  /** A binary string and its terminating NUL. */
  cstring(s: string): void {
    this.reserve(s.length + 1);
    this.length += this.buf.write(s, this.length, 'latin1');
    this.buf[this.length++] = 0;
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}
