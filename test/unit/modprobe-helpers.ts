// Test helpers for lib/modprobe: a writer for depmod's .bin index format (so the reader is tested on
// bytes we control, and kmod itself can read what we wrote), synthetic module trees for the FAKE
// kernel (a simulation of the syscalls, see lib/backend/fake.ts), and a sysfs view of that fake kernel.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';
import { FakeKernel } from '../../lib/backend/fake.js';
import type { Kernmod } from '../../lib/kernmod.js';

// ---- .bin writer --------------------------------------------------------------------------------

interface TrieNode {
  children: Map<number, TrieNode>;
  values: Array<{ value: string; priority: number }>;
}

const newNode = (): TrieNode => ({ children: new Map(), values: [] });

/**
 * Serialises key/value pairs as depmod does (tools/depmod.c index_write): a trie with path
 * compression (a chain of single children without values becomes a node's prefix), nodes written
 * children first, offsets tagged with the PREFIX/VALUES/CHILDS flags, big-endian.
 */
export function writeIndex(entries: Array<{ key: string; value: string; priority?: number }>): Buffer {
  const root = newNode();
  for (const e of entries) {
    let n = root;
    for (const ch of Buffer.from(e.key, 'latin1')) {
      let c = n.children.get(ch);
      if (!c) n.children.set(ch, (c = newNode()));
      n = c;
    }
    const v = { value: e.value, priority: e.priority ?? 0 };
    let i = 0;
    while (i < n.values.length && n.values[i]!.priority <= v.priority) i++;
    n.values.splice(i, 0, v);
  }
  const chunks: Buffer[] = [Buffer.alloc(12)];
  let size = 12;
  const emit = (b: Buffer): number => {
    const at = size;
    chunks.push(b);
    size += b.length;
    return at;
  };
  const write = (start: TrieNode): number => {
    // Path compression: follow single children while the node has no values.
    let prefix: number[] = [];
    let node = start;
    while (node.values.length === 0 && node.children.size === 1) {
      const [ch, child] = [...node.children][0]!;
      prefix.push(ch);
      node = child;
    }
    const kids = [...node.children.keys()].sort((a, b) => a - b);
    const childOffsets = new Map<number, number>();
    for (const k of kids) childOffsets.set(k, write(node.children.get(k)!));
    const parts: Buffer[] = [];
    let flags = 0;
    if (prefix.length) {
      flags |= 0x80000000;
      parts.push(Buffer.from([...prefix, 0]));
    }
    if (kids.length) {
      flags |= 0x20000000;
      const first = kids[0]!;
      const last = kids[kids.length - 1]!;
      const table = Buffer.alloc(2 + 4 * (last - first + 1));
      table[0] = first;
      table[1] = last;
      for (const [k, off] of childOffsets) table.writeUInt32BE(off, 2 + 4 * (k - first));
      parts.push(table);
    }
    if (node.values.length) {
      flags |= 0x40000000;
      const count = Buffer.alloc(4);
      count.writeUInt32BE(node.values.length);
      parts.push(count);
      for (const v of node.values) {
        const pr = Buffer.alloc(4);
        pr.writeUInt32BE(v.priority);
        parts.push(pr, Buffer.from(v.value + '\0', 'latin1'));
      }
    }
    prefix = [];
    return (emit(Buffer.concat(parts)) | flags) >>> 0;
  };
  const rootOffset = write(root);
  const out = Buffer.concat(chunks);
  out.writeUInt32BE(0xb007f457, 0);
  out.writeUInt32BE(0x00020001, 4);
  out.writeUInt32BE(rootOffset, 8);
  return out;
}

// ---- synthetic module trees -------------------------------------------------------------------------

export interface ModSpec {
  /** Direct dependencies (module names). */
  deps?: string[];
  aliases?: string[];
  /** Path relative to the tree (default kernel/<name>.ko). */
  file?: string;
  /** Module name inside the file (default: the name). */
  internalName?: string;
}

export interface TreeSpec {
  modules: Record<string, ModSpec>;
  builtin?: string[];
  /** modules.builtin.modinfo records: [module, key, value]. */
  builtinModinfo?: Array<[string, string, string]>;
  softdep?: string;
  weakdep?: string;
  /** Write the .bin indexes too (default: text files only). */
  bin?: boolean;
}

/** depmod's modules.dep order for a module: its dependency closure, users before what they use. */
export function depClosure(spec: TreeSpec, name: string): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string) => {
    for (const d of spec.modules[n]?.deps ?? []) {
      if (seen.has(d)) continue;
      seen.add(d);
      visit(d);
      order.push(d); // post-order: load order
    }
  };
  visit(name);
  return order.reverse();
}

export function fileOf(spec: TreeSpec, name: string): string {
  return spec.modules[name]?.file ?? `kernel/${name}.ko`;
}

/** Writes a module tree (files are FakeKernel images) into `dir`; returns dir. */
export function writeTree(dir: string, spec: TreeSpec): string {
  mkdirSync(dir, { recursive: true });
  const depLines: string[] = [];
  const aliasLines: string[] = ['# Aliases extracted from modules themselves.'];
  const depBin: Array<{ key: string; value: string; priority: number }> = [];
  const aliasBin: Array<{ key: string; value: string; priority: number }> = [];
  Object.entries(spec.modules).forEach(([name, m], i) => {
    const file = fileOf(spec, name);
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), FakeKernel.image(m.internalName ?? name, m.deps ?? []));
    const line = `${file}: ${depClosure(spec, name)
      .map((d) => fileOf(spec, d))
      .join(' ')}`.trimEnd();
    depLines.push(line);
    depBin.push({ key: name, value: line, priority: i });
    for (const a of m.aliases ?? []) {
      aliasLines.push(`alias ${a} ${name}`);
      aliasBin.push({ key: a.replaceAll('-', '_'), value: name, priority: i });
    }
  });
  writeFileSync(join(dir, 'modules.dep'), depLines.join('\n') + '\n');
  writeFileSync(join(dir, 'modules.alias'), aliasLines.join('\n') + '\n');
  writeFileSync(join(dir, 'modules.builtin'), (spec.builtin ?? []).map((b) => `kernel/${b}.ko\n`).join(''));
  if (spec.builtinModinfo)
    writeFileSync(join(dir, 'modules.builtin.modinfo'), spec.builtinModinfo.map(([m, k, v]) => `${m}.${k}=${v}\0`).join(''));
  if (spec.softdep !== undefined) writeFileSync(join(dir, 'modules.softdep'), spec.softdep);
  if (spec.weakdep !== undefined) writeFileSync(join(dir, 'modules.weakdep'), spec.weakdep);
  if (spec.bin) {
    writeFileSync(join(dir, 'modules.dep.bin'), writeIndex(depBin));
    writeFileSync(join(dir, 'modules.alias.bin'), writeIndex(aliasBin));
    writeFileSync(join(dir, 'modules.symbols.bin'), writeIndex([]));
    writeFileSync(join(dir, 'modules.builtin.bin'), writeIndex((spec.builtin ?? []).map((b) => ({ key: b, value: '' }))));
  }
  return dir;
}

const created: string[] = [];
// Each test file that makes trees removes them when it is done.
afterAll(() => {
  for (const d of created.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `kernmod-mp-${prefix}-`));
  created.push(d);
  return d;
}

// ---- sysfs of the fake kernel ----------------------------------------------------------------------

/** Writes /sys/module/<name>/{initstate,refcnt,holders/} under `root` for every module the fake kernel holds. */
export function syncSysfs(kernel: FakeKernel, root: string): void {
  const sys = join(root, 'sys/module');
  rmSync(sys, { recursive: true, force: true });
  mkdirSync(sys, { recursive: true });
  for (const m of kernel.modules.values()) {
    const d = join(sys, m.name);
    mkdirSync(join(d, 'holders'), { recursive: true });
    writeFileSync(join(d, 'initstate'), 'live\n');
    // The kernel counts one reference per module using this one, plus other users.
    writeFileSync(join(d, 'refcnt'), `${m.refcnt + m.holders.size}\n`);
    for (const h of m.holders) writeFileSync(join(d, 'holders', h), '');
  }
}

/** A Kernmod that keeps `root`'s fake sysfs in step with the fake kernel after every call. */
export function withSysfs(km: Kernmod, kernel: FakeKernel, root: string): Kernmod {
  syncSysfs(kernel, root);
  const after = <T>(p: Promise<T>): Promise<T> =>
    p.finally(() => {
      syncSysfs(kernel, root);
    });
  return {
    ...km,
    loadModule: (s, o) => after(km.loadModule(s, o)),
    unloadModule: (n, o) => after(km.unloadModule(n, o)),
  };
}
