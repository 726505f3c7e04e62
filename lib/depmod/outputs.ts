// The ten files depmod writes, in kmod 30's order and byte for byte (tools/depmod.c output_*).
// Text files are built as binary strings; the .bin files by IndexWriter. Pure over the computed tree.
import { IndexWriter } from './index-writer.js';
import { normalizeAlias } from '../modprobe/normalize.js';
import { kmodHashOrder } from './kmod-hash.js';
import { moduleNameOf } from './tree.js';
import type { Depmod, Mod, Sym } from './model.js';

export const OUTPUT_FILES = [
  'modules.dep',
  'modules.dep.bin',
  'modules.alias',
  'modules.alias.bin',
  'modules.softdep',
  'modules.symbols',
  'modules.symbols.bin',
  'modules.builtin.bin',
  'modules.builtin.alias.bin',
  'modules.devname',
] as const;

export type OutputFile = (typeof OUTPUT_FILES)[number];

/** The path modules.dep names a module by: relative to the tree when inside it. */
const shownPath = (m: Mod) => m.relpath ?? m.path;

/** Every module `m` needs, directly or not, once each, in dependency order (kmod's dep_sort_idx). */
function allDependencies(m: Mod): Mod[] {
  if (m.deps.length === 0) return [];
  const seen = new Set<Mod>();
  const walk = (x: Mod) => {
    for (const d of x.deps) {
      if (seen.has(d)) continue;
      seen.add(d);
      walk(d);
    }
  };
  walk(m);
  return [...seen].sort((a, b) => a.depSortIdx - b.depSortIdx);
}

/** The lines of modules.dep, one per module. */
export function depLines(modules: Mod[]): string[] {
  return modules.map((m) => {
    let line = `${shownPath(m)}:`;
    for (const dep of allDependencies(m)) line += ` ${shownPath(dep)}`;
    return line;
  });
}

export function outputDeps(d: Depmod): string {
  return d.depLines.length ? d.depLines.join('\n') + '\n' : '';
}

export function outputDepsBin(d: Depmod): Buffer {
  const idx = new IndexWriter();
  const lines = d.depLines;
  d.modules.forEach((m, i) => {
    if (idx.insert(m.name, lines[i]!, m.idx) && d.warnDuplicates) d.warn(`duplicate module deps:\n${lines[i]}\n`);
  });
  return idx.toBuffer();
}

export function outputAliases(d: Depmod): string {
  let out = '# Aliases extracted from modules themselves.\n';
  for (const m of d.modules) for (const [k, v] of m.info) if (k === 'alias') out += `alias ${v} ${m.name}\n`;
  return out;
}

export function outputAliasesBin(d: Depmod): Buffer {
  const idx = new IndexWriter();
  for (const m of d.modules) {
    for (const [k, v] of m.info) {
      if (k !== 'alias') continue;
      const alias = normalizeAlias(v);
      if (alias === undefined) {
        d.warn(`Unmatched bracket in ${v}\n`);
        continue;
      }
      if (idx.insert(alias, m.name, m.idx) && d.warnDuplicates) d.warn(`duplicate module alias:\n${alias} ${m.name}\n`);
    }
  }
  return idx.toBuffer();
}

export function outputSoftdeps(d: Depmod): string {
  let out = '# Soft dependencies extracted from modules themselves.\n';
  for (const m of d.modules) for (const [k, v] of m.info) if (k === 'softdep') out += `softdep ${m.name} ${v}\n`;
  return out;
}

/** The symbols with an owning module, in the order kmod's 2048-bucket symbol table iterates. */
export function ownedSymbols(symbols: Map<string, Sym>): Sym[] {
  return kmodHashOrder(symbols.entries(), 2048).filter((s) => s.owner !== null);
}

export function outputSymbols(d: Depmod): string {
  let out = '# Aliases for symbols, used by symbol_request().\n';
  for (const s of d.ownedSymbols) out += `alias symbol:${s.name} ${s.owner!.name}\n`;
  return out;
}

export function outputSymbolsBin(d: Depmod): Buffer {
  const idx = new IndexWriter();
  for (const s of d.ownedSymbols) {
    if (idx.insert(`symbol:${s.name}`, s.owner!.name, s.owner!.idx) && d.warnDuplicates)
      d.warn(`duplicate module syms:\nsymbol:${s.name} ${s.owner!.name}\n`);
  }
  return idx.toBuffer();
}

/**
 * modules.builtin (one path per line) keyed by module name, value "" — kmod's path_to_modname on the
 * line as read, newline included (it only ends up in the key when the name has no '.').
 */
export function builtinBin(text: string, error: (message: string) => void): Buffer {
  const idx = new IndexWriter();
  // Lines as fgets returns them: each with its '\n', the last one possibly without.
  for (const line of text.match(/[^\n]*\n|[^\n]+/g) ?? []) {
    if (!/^[A-Za-z]/.test(line)) error(`Invalid modules.builtin line: ${line}\n`);
    else if (!line.endsWith('/')) idx.insert(moduleNameOf(line), '', 0);
  }
  return idx.toBuffer();
}

/**
 * modules.builtin.modinfo ("module.key=value\0" records): each alias keyed by its normalized form,
 * value the module name. Read as kmod's flush_stream_to reads it, one character at a time, so
 * malformed records are skipped (or swallow the next one) exactly as kmod does.
 */
export function builtinAliasBin(text: string, warn: (message: string) => void): Buffer {
  const idx = new IndexWriter();
  let p = 0;
  const n = text.length;
  /** Reads up to `end` (consumed), NUL (consumed) or EOF; the text read when it stopped at `end`, else "". */
  const readTo = (end: string): string => {
    const start = p;
    while (p < n && text[p] !== end && text[p] !== '\0') p++;
    const hit = p < n && text[p] === end;
    const got = text.slice(start, p);
    if (p < n) p++;
    return hit ? got : '';
  };
  while (p < n) {
    const modname = readTo('.');
    if (!modname) continue;
    const key = readTo('=');
    if (key !== 'alias') {
      readTo('\0');
      continue;
    }
    const value = readTo('\0');
    if (!value) continue;
    const alias = normalizeAlias(value);
    if (alias === undefined) {
      warn(`Unmatched bracket in ${value}\n`);
      continue;
    }
    idx.insert(alias, modname, 0);
  }
  return idx.toBuffer();
}

/** sscanf("%u-%u") after a prefix: two unsigned numbers (leading blanks and a sign allowed, wrapping). */
function majorMinor(value: string, prefix: string): [number, number] | undefined {
  if (!value.startsWith(prefix)) return undefined;
  const m = /^\s*([+-]?)(\d+)-\s*([+-]?)(\d+)/.exec(value.slice(prefix.length));
  if (!m) return undefined;
  const u = (sign: string, digits: string) => {
    const v = Number(BigInt.asUintN(32, BigInt(digits)));
    return sign === '-' ? (0x100000000 - v) % 0x100000000 : v;
  };
  return [u(m[1]!, m[2]!), u(m[3]!, m[4]!)];
}

export function outputDevname(d: Depmod): string {
  let out = '';
  for (const m of d.modules) {
    let devname: string | undefined;
    let type = '';
    let major = 0;
    let minor = 0;
    for (const [k, v] of m.info) {
      if (k !== 'alias') continue;
      let mm: [number, number] | undefined;
      if (v.startsWith('devname:')) devname = v.slice(8);
      else if ((mm = majorMinor(v, 'char-major-'))) [type, major, minor] = ['c', mm[0], mm[1]];
      else if ((mm = majorMinor(v, 'block-major-'))) [type, major, minor] = ['b', mm[0], mm[1]];
      if (type !== '' && devname !== undefined) break;
    }
    if (devname === undefined) continue;
    if (type === '') {
      d.error(`Module '${m.name}' has devname (${devname}) but lacks major and minor information. Ignoring.\n`);
      continue;
    }
    if (out === '') out = '# Device nodes to trigger on-demand module loading.\n';
    out += `${m.name} ${devname} ${type}${major}:${minor}\n`;
  }
  return out;
}
