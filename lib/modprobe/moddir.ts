// One module directory (/lib/modules/<release>/): the lookups modprobe needs, each answered from
// depmod's .bin index when it exists (a trie walk touching a few nodes: kmod's own format and result
// order) and from the text file otherwise (parsed once). kmod reads only the .bin files; reading the
// text ones too lets kernmod use a tree with a hand-written modules.dep.
import { readRegularFileSync } from '../fs-read.js';
import { join } from 'node:path';
import { fnmatch, hasWildcard, literalRun } from './fnmatch.js';
import { BinaryIndex } from './index-bin.js';
import {
  builtinAliases,
  parseBuiltinModinfo,
  parseDepLine,
  parseModulesAlias,
  parseModulesBuiltin,
  parseModulesDep,
  type AliasEntry,
  type DepEntry,
} from './moddir-text.js';

/** The files a module directory may hold, as [binary index, text fallback]. */
const FILES = {
  dep: ['modules.dep.bin', 'modules.dep'],
  alias: ['modules.alias.bin', 'modules.alias'],
  symbols: ['modules.symbols.bin', 'modules.symbols'],
  builtin: ['modules.builtin.bin', 'modules.builtin'],
  builtinAlias: ['modules.builtin.alias.bin', 'modules.builtin.modinfo'],
} as const;
type Kind = keyof typeof FILES;

/**
 * Index files are never trusted: each is opened without blocking and read only when it is a regular
 * file of at most this size (kmod fstat()s and mmaps them); a real tree's largest is a few MiB. What
 * is not is left out, as a missing file is.
 */
const INDEX_FILE_MAX = 256 * 1024 * 1024;

/** A resolved modules.dep line: absolute paths, dependencies in the order depmod listed them. */
export interface DepLine {
  path: string;
  deps: string[];
}

/** An alias table from a text file: exact patterns in a map, wildcard ones scanned with fnmatch. */
class TextAliases {
  private readonly exact = new Map<string, Array<{ i: number; module: string }>>();
  private readonly wild: Array<{ i: number; pattern: string; need: string; module: string }> = [];
  constructor(entries: AliasEntry[]) {
    entries.forEach((e, i) => {
      if (hasWildcard(e.pattern) || e.pattern.includes('\\'))
        this.wild.push({ i, pattern: e.pattern, need: literalRun(e.pattern), module: e.module });
      else {
        let l = this.exact.get(e.pattern);
        if (!l) this.exact.set(e.pattern, (l = []));
        l.push({ i, module: e.module });
      }
    });
  }
  /** Matching modules in file order (a text file carries no priorities; the .bin order is kmod's). */
  lookup(key: string): string[] {
    const hits = [...(this.exact.get(key) ?? [])];
    for (const w of this.wild) if (key.includes(w.need) && fnmatch(w.pattern, key)) hits.push(w);
    return hits.sort((a, b) => a.i - b.i).map((h) => h.module);
  }
}

type Source = { bin: BinaryIndex } | { text: string } | undefined;

function decode(kind: Kind, name: string, bytes: Buffer | undefined, isBin: boolean): Source {
  if (bytes === undefined) return undefined;
  if (isBin) return { bin: new BinaryIndex(bytes, name) };
  // modules.builtin.modinfo is NUL-separated binary-ish text; the others are plain text.
  return { text: kind === 'builtinAlias' ? bytes.toString('latin1') : bytes.toString('utf8') };
}

export class ModuleDirectory {
  private depText?: Map<string, DepEntry>;
  private aliasText?: TextAliases;
  private symbolsText?: TextAliases;
  private builtinText?: Set<string>;
  private builtinAliasText?: TextAliases;
  /** Each index file is read when a lookup first needs it, as kmod maps them (start-up: modprobe -D reads 1 of 2.7 MB). */
  private readonly sources: Partial<Record<Kind, Source>> = {};

  private constructor(
    /** The directory, exactly as kmod would print it (`-d` root + /lib/modules/ + release). */
    readonly dirname: string,
  ) {}

  /** Which format each lookup is answered from: 'bin', 'text', or 'none' (file absent). */
  get formats(): Record<Kind, 'bin' | 'text' | 'none'> {
    const f = (kind: Kind) => {
      const s = this.source(kind);
      return s === undefined ? 'none' : 'bin' in s ? 'bin' : 'text';
    };
    return { dep: f('dep'), alias: f('alias'), symbols: f('symbols'), builtin: f('builtin'), builtinAlias: f('builtinAlias') };
  }

  private source(kind: Kind): Source {
    if (kind in this.sources) return this.sources[kind];
    const read = (f: string) => {
      try {
        return readRegularFileSync(join(this.dirname, f), INDEX_FILE_MAX);
      } catch {
        return undefined;
      }
    };
    const [bin, text] = FILES[kind];
    const b = read(bin);
    const s = b !== undefined ? decode(kind, join(this.dirname, bin), b, true) : decode(kind, join(this.dirname, text), read(text), false);
    this.sources[kind] = s;
    return s;
  }

  static openSync(dirname: string): ModuleDirectory {
    return new ModuleDirectory(dirname);
  }

  static async open(dirname: string): Promise<ModuleDirectory> {
    return new ModuleDirectory(dirname);
  }

  /** kmod's path_join: a relative path from modules.dep is relative to the module directory. */
  private abs(p: string): string {
    return p.startsWith('/') ? p : `${this.dirname}/${p}`;
  }

  private readonly depCache = new Map<string, DepLine | undefined>();

  /** The modules.dep line of a module name (kmod_search_moddep), or undefined. */
  dep(name: string): DepLine | undefined {
    if (this.depCache.has(name)) return this.depCache.get(name);
    const line = this.readDep(name);
    this.depCache.set(name, line);
    return line;
  }

  private readDep(name: string): DepLine | undefined {
    const s = this.source('dep');
    if (s === undefined) return undefined;
    let raw: { path: string; deps: string[] } | undefined;
    if ('bin' in s) {
      const line = s.bin.search(name);
      raw = line === undefined ? undefined : parseDepLine(line);
    } else {
      this.depText ??= parseModulesDep(s.text);
      raw = this.depText.get(name);
    }
    return raw && { path: this.abs(raw.path), deps: raw.deps.map((d) => this.abs(d)) };
  }

  private wild(kind: 'alias' | 'symbols' | 'builtinAlias', key: string): string[] {
    const s = this.source(kind);
    if (s === undefined) return [];
    if ('bin' in s) return s.bin.searchWild(key).map((v) => v.value);
    if (kind === 'alias') return (this.aliasText ??= new TextAliases(parseModulesAlias(s.text))).lookup(key);
    if (kind === 'symbols') return (this.symbolsText ??= new TextAliases(parseModulesAlias(s.text))).lookup(key);
    return (this.builtinAliasText ??= new TextAliases(builtinAliases(parseBuiltinModinfo(s.text)))).lookup(key);
  }

  /** Modules whose modules.alias pattern matches `alias` (already normalised). */
  aliases(alias: string): string[] {
    return this.wild('alias', alias);
  }

  /** Modules exporting a symbol: `symbol:<name>` keys of modules.symbols. */
  symbols(key: string): string[] {
    return this.wild('symbols', key);
  }

  /** Built-in modules with an alias matching `alias` (modules.builtin.alias.bin, else modules.builtin.modinfo). */
  builtinAliases(alias: string): string[] {
    return this.wild('builtinAlias', alias);
  }

  /** Whether `name` is built into the kernel (modules.builtin.bin, else modules.builtin). */
  isBuiltin(name: string): boolean {
    const s = this.source('builtin');
    if (s === undefined) return false;
    if ('bin' in s) return s.bin.search(name) !== undefined;
    this.builtinText ??= new Set(parseModulesBuiltin(s.text));
    return this.builtinText.has(name);
  }

  /** Every key and value of a binary index, in kmod's dump order (for `modprobe -c`); [] for text. */
  dumpIndex(kind: 'alias' | 'symbols'): Array<{ key: string; value: string }> {
    const s = this.source(kind);
    return s !== undefined && 'bin' in s ? s.bin.entries() : [];
  }

  /** The .modinfo of a built-in module, from modules.builtin.modinfo (read on demand). */
  builtinModinfo(name: string): Array<[string, string]> | undefined {
    try {
      return parseBuiltinModinfo(readRegularFileSync(join(this.dirname, 'modules.builtin.modinfo'), INDEX_FILE_MAX)).get(name);
    } catch {
      return undefined;
    }
  }
}
