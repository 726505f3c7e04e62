// Parsers for the text files of a module directory (/lib/modules/<release>/; research b10). Pure: text
// or bytes in, data out. kmod itself reads only depmod's .bin indexes (and modules.builtin.modinfo);
// these let kernmod work on a tree that has just the text files (a hand-written modules.dep, a tree
// whose depmod was never run), and they are the reference the .bin reader is tested against.
import { moduleNameFromPath } from '../names.js';
import { normalizeAlias } from './normalize.js';

export interface DepEntry {
  /** Module name (basename without extension, `-` as `_`). */
  name: string;
  /** Path as written: relative to the module directory, or absolute. */
  path: string;
  /** Dependency paths as written: depmod lists them so they load in REVERSE order. */
  deps: string[];
}

/**
 * modules.dep: `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko ...`.
 * Also the value format of modules.dep.bin (whose key is the module name), so one parser serves both.
 */
export function parseDepLine(line: string): Omit<DepEntry, 'name'> | undefined {
  const colon = line.indexOf(':');
  if (colon === -1) return undefined;
  const path = line.slice(0, colon).trim();
  if (path === '') return undefined;
  // kmod splits the dependency list with strtok(" \t").
  const deps = line
    .slice(colon + 1)
    .split(/[ \t]+/)
    .filter((d) => d !== '');
  return { path, deps };
}

/** modules.dep as a map from module name; the first line for a name wins, as in depmod's index. */
export function parseModulesDep(text: string): Map<string, DepEntry> {
  const out = new Map<string, DepEntry>();
  for (const raw of text.split('\n')) {
    if (raw === '' || raw.startsWith('#')) continue;
    const e = parseDepLine(raw);
    if (!e) continue;
    const name = moduleNameFromPath(e.path);
    if (!out.has(name)) out.set(name, { name, ...e });
  }
  return out;
}

export interface AliasEntry {
  /** The fnmatch pattern, normalised as depmod normalises the keys of the .bin index. */
  pattern: string;
  module: string;
}

/**
 * modules.alias / modules.symbols: `alias <pattern> <module>` lines (`# ...` comments). Patterns are
 * normalised (`-` to `_` outside `[...]`); a pattern with an unmatched bracket is skipped, as depmod
 * skips it when it writes the .bin index.
 */
export function parseModulesAlias(text: string): AliasEntry[] {
  const out: AliasEntry[] = [];
  for (const raw of text.split('\n')) {
    const f = raw.split(/[ \t]+/);
    if (f[0] !== 'alias' || f.length < 3) continue;
    const pattern = normalizeAlias(f[1]!);
    if (pattern === undefined || f[2] === '') continue;
    out.push({ pattern, module: f[2]! });
  }
  return out;
}

/** modules.builtin: one path per built-in module (`kernel/fs/ext4/ext4.ko`); returns module names. */
export function parseModulesBuiltin(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    out.push(moduleNameFromPath(line));
  }
  return out;
}

/**
 * modules.builtin.modinfo: NUL-separated `module.key=value` records, the .modinfo of every built-in
 * module (`ext4.license=GPL`). Returns each module's keys and values in file order (keys repeat:
 * `alias`, `parm`, ...).
 */
export function parseBuiltinModinfo(bytes: Uint8Array | string): Map<string, Array<[string, string]>> {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const out = new Map<string, Array<[string, string]>>();
  for (const rec of text.split('\0')) {
    const dot = rec.indexOf('.');
    const eq = rec.indexOf('=', dot + 1);
    if (dot <= 0 || eq === -1) continue;
    const name = rec.slice(0, dot);
    let list = out.get(name);
    if (!list) out.set(name, (list = []));
    list.push([rec.slice(dot + 1, eq), rec.slice(eq + 1)]);
  }
  return out;
}

/** The aliases of built-in modules, from modules.builtin.modinfo (what depmod puts in modules.builtin.alias.bin). */
export function builtinAliases(modinfo: Map<string, Array<[string, string]>>): AliasEntry[] {
  const out: AliasEntry[] = [];
  for (const [module, kv] of modinfo) {
    for (const [k, v] of kv) {
      if (k !== 'alias') continue;
      const pattern = normalizeAlias(v);
      if (pattern !== undefined) out.push({ pattern, module });
    }
  }
  return out;
}
