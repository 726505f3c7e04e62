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

interface Node {
  prefix: string;
  /** Sorted by priority; a new value goes before the values of equal priority (kmod's index_add_value). */
  values: Value[];
  children: Map<number, Node>;
}

const newNode = (prefix: string): Node => ({ prefix, values: [], children: new Map() });

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
  private readonly root = newNode('');

  /** Adds `value` under `key`; returns true when that key already had this value (depmod -w warns). */
  insert(key: string, value: string, priority: number): boolean {
    let node = this.root;
    let i = 0;
    for (;;) {
      const prefix = node.prefix;
      let j = 0;
      for (; j < prefix.length; j++) {
        const ch = prefix.charCodeAt(j);
        if (ch !== key.charCodeAt(i + j)) {
          // Split: the node keeps prefix[0..j) and gets one child at prefix[j] holding the rest.
          const rest: Node = { prefix: prefix.slice(j + 1), values: node.values, children: node.children };
          node.prefix = prefix.slice(0, j);
          node.values = [];
          node.children = new Map([[ch, rest]]);
          break;
        }
      }
      i += j;
      if (i === key.length) return addValue(node.values, value, priority);
      const ch = key.charCodeAt(i);
      const child = node.children.get(ch);
      if (!child) {
        const leaf = newNode(key.slice(i + 1));
        leaf.values.push({ value, priority });
        node.children.set(ch, leaf);
        return false;
      }
      node = child;
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
  const first = Math.min(128, ...node.children.keys());
  const last = Math.max(0, ...node.children.keys());
  let childOffsets: number[] | undefined;
  if (first < 128) {
    childOffsets = [];
    for (let ch = first; ch <= last; ch++) {
      const c = node.children.get(ch);
      childOffsets.push(c ? writeNode(c, out) : 0);
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
  if (node.values.length > 0) {
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
