// Resolving a module name or alias to module files or builtins within one module directory
// (/lib/modules/<release>), as kmod's kmod_module_new_from_lookup does for modinfo, in its order:
// modules.dep (by name), modules.symbols (`symbol:NAME`), modules.alias (glob patterns, all matches),
// then builtins (modules.builtin names, then modules.builtin.modinfo aliases). kmod reads the .bin
// indexes; we read the text files depmod writes beside them, which hold the same entries.
// Not covered: aliases and install/remove commands from modprobe.d (lib/modprobe's job).
// The text files are read once per ModuleDirectory and only when a lookup needs them.
import { readFileSync } from 'node:fs';
import { normalizeModuleName } from '../names.js';
import { builtinAliases, parseModulesBuiltin } from './builtin.js';

export type ResolvedModule = { kind: 'file'; name: string; path: string } | { kind: 'builtin'; name: string };

/**
 * kmod's alias_normalize: `-` becomes `_` except inside `[...]`; an unbalanced `]` or `[` makes the
 * alias invalid (undefined).
 */
export function normalizeAlias(alias: string): string | undefined {
  let out = '';
  for (let i = 0; i < alias.length; i++) {
    const c = alias[i]!;
    if (c === '-') out += '_';
    else if (c === ']') return undefined;
    else if (c === '[') {
      const close = alias.indexOf(']', i);
      if (close === -1) return undefined;
      out += alias.slice(i, close + 1);
      i = close;
    } else out += c;
  }
  return out;
}

/** POSIX fnmatch(pattern, s, 0): `*`, `?`, `[...]` (with `!`/`^` negation and ranges), `\` escapes. */
export function fnmatch(pattern: string, s: string): boolean {
  let p = 0;
  let i = 0;
  let starP = -1;
  let starI = 0;
  while (i < s.length) {
    if (p < pattern.length) {
      const c = pattern[p]!;
      if (c === '*') {
        starP = p++;
        starI = i;
        continue;
      }
      if (c === '?') {
        p++;
        i++;
        continue;
      }
      if (c === '[') {
        const m = matchClass(pattern, p, s[i]!);
        if (m !== undefined) {
          if (m.matched) {
            p = m.next;
            i++;
            continue;
          }
        } else if (s[i] === '[') {
          // An unterminated '[' matches itself.
          p++;
          i++;
          continue;
        }
      } else {
        let lit = c;
        let next = p + 1;
        if (c === '\\' && p + 1 < pattern.length) {
          lit = pattern[p + 1]!;
          next = p + 2;
        }
        if (lit === s[i]) {
          p = next;
          i++;
          continue;
        }
      }
    }
    if (starP === -1) return false;
    p = starP + 1;
    i = ++starI;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

function matchClass(pattern: string, start: number, ch: string): { matched: boolean; next: number } | undefined {
  let p = start + 1;
  let negate = false;
  if (pattern[p] === '!' || pattern[p] === '^') {
    negate = true;
    p++;
  }
  let matched = false;
  let first = true;
  while (p < pattern.length && (first || pattern[p] !== ']')) {
    first = false;
    let lo = pattern[p]!;
    if (lo === '\\' && p + 1 < pattern.length) lo = pattern[++p]!;
    p++;
    if (pattern[p] === '-' && p + 1 < pattern.length && pattern[p + 1] !== ']') {
      let hi = pattern[p + 1]!;
      p += 2;
      if (hi === '\\' && p < pattern.length) hi = pattern[p++]!;
      if (lo <= ch && ch <= hi) matched = true;
    } else if (lo === ch) matched = true;
  }
  if (p >= pattern.length) return undefined;
  return { matched: matched !== negate, next: p + 1 };
}

/** `modules.dep` → module name → path column (relative to the directory unless absolute). */
export function parseModulesDep(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0 || line.startsWith('#')) continue;
    const path = line.slice(0, colon).trim();
    const name = normalizeModuleName(path.slice(path.lastIndexOf('/') + 1));
    if (!out.has(name)) out.set(name, path);
  }
  return out;
}

/**
 * `modules.alias` / `modules.symbols`: `alias PATTERN MODULE` lines, in file order. Patterns are
 * normalised as depmod does for the .bin index kmod reads (`-` → `_` outside brackets); a pattern with
 * unbalanced brackets is dropped, as depmod drops it.
 */
export function parseAliasFile(text: string): Array<{ pattern: string; module: string }> {
  const out: Array<{ pattern: string; module: string }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('alias ')) continue;
    const parts = line.slice(6).trim().split(/\s+/);
    if (parts.length < 2) continue;
    const pattern = normalizeAlias(parts[0]!);
    if (pattern !== undefined) out.push({ pattern, module: parts[1]! });
  }
  return out;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export class ModuleDirectory {
  private dep?: Map<string, string>;
  private symbols?: Array<{ pattern: string; module: string }>;
  private aliases?: Array<{ pattern: string; module: string }>;
  private builtins?: Set<string>;
  private builtinAliasList?: Array<{ pattern: string; module: string }>;
  private builtinModinfoBytes?: Uint8Array | null;

  constructor(readonly dir: string) {}

  private depMap(): Map<string, string> {
    this.dep ??= parseModulesDep(readText(`${this.dir}/modules.dep`) ?? '');
    return this.dep;
  }

  /** The bytes of modules.builtin.modinfo, or null when the kernel predates it. */
  builtinModinfo(): Uint8Array | null {
    if (this.builtinModinfoBytes === undefined) {
      try {
        this.builtinModinfoBytes = readFileSync(`${this.dir}/modules.builtin.modinfo`);
      } catch {
        this.builtinModinfoBytes = null;
      }
    }
    return this.builtinModinfoBytes;
  }

  private fileOf(name: string): ResolvedModule | undefined {
    const rel = this.depMap().get(name);
    if (rel === undefined) return undefined;
    return { kind: 'file', name, path: rel.startsWith('/') ? rel : `${this.dir}/${rel}` };
  }

  /** A module by name only (kmod's `modinfo -m` / kmod_module_new_from_name_lookup). */
  lookupName(name: string): ResolvedModule | undefined {
    const n = normalizeModuleName(name);
    const file = this.fileOf(n);
    if (file) return file;
    this.builtins ??= new Set(parseModulesBuiltin(readText(`${this.dir}/modules.builtin`) ?? '').map((e) => e.name));
    return this.builtins.has(n) ? { kind: 'builtin', name: n } : undefined;
  }

  /** Every module a name or alias resolves to, as kmod's lookup would list them; [] when none. */
  lookup(nameOrAlias: string): ResolvedModule[] {
    const alias = normalizeAlias(nameOrAlias);
    if (alias === undefined) return [];
    const byName = this.fileOf(alias);
    if (byName) return [byName];
    this.symbols ??= parseAliasFile(readText(`${this.dir}/modules.symbols`) ?? '');
    const sym = this.matchAll(this.symbols, alias, false);
    if (sym.length) return sym;
    this.aliases ??= parseAliasFile(readText(`${this.dir}/modules.alias`) ?? '');
    const al = this.matchAll(this.aliases, alias, true);
    if (al.length) return al;
    const builtin = this.lookupName(alias);
    if (builtin) return [builtin];
    const bytes = this.builtinModinfo();
    if (bytes) {
      this.builtinAliasList ??= builtinAliases(bytes);
      const names = new Set<string>();
      for (const a of this.builtinAliasList) {
        const pattern = normalizeAlias(a.pattern);
        if (pattern !== undefined && fnmatch(pattern, alias)) names.add(a.module);
      }
      return [...names].map((name) => ({ kind: 'builtin', name }));
    }
    return [];
  }

  private matchAll(list: Array<{ pattern: string; module: string }>, alias: string, glob: boolean): ResolvedModule[] {
    const out: ResolvedModule[] = [];
    for (const a of list) {
      if (glob ? fnmatch(a.pattern, alias) : a.pattern === alias) {
        const m = this.fileOf(normalizeModuleName(a.module)) ?? this.lookupName(a.module);
        if (m) out.push(m);
      }
    }
    return out;
  }
}
