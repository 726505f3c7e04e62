// One module directory (/lib/modules/<release>/): the lookups modprobe needs, each answered from
// depmod's .bin index when it exists (a trie walk touching a few nodes: kmod's own format and result
// order) and from the text file otherwise (parsed once). kmod reads only the .bin files; reading the
// text ones too lets kernmod use a tree with a hand-written modules.dep.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { invalidInput } from '../errors.js';
import { checkRegularFile, OPEN_NAMED_FILE, readRangeSync, readRegularFileSync } from '../fs-read.js';
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

/** Bytes of an index file read at a time (start-up: modinfo -k reads 4 of modules.dep.bin's 43 blocks). */
const BLOCK = 16 * 1024;

/** Thrown by a lookup that finds the file replaced since the blocks it kept were read. */
const REPLACED = Symbol('replaced');

/**
 * A binary index file read a block at a time as lookups reach its nodes, like kmod's modinfo. No
 * descriptor outlives a lookup: one that needs a block not read yet opens the file, and closes it before
 * it returns. Blocks read are kept for later lookups, so each lookup is answered from one version of the
 * file: if the file was replaced (depmod renames a new one in) when a lookup opens it, that lookup starts
 * over on the new file, whose blocks are all read afresh.
 */
class PagedIndex {
  private fd = -1;
  private index!: BinaryIndex;

  /** The index at `path`, or undefined when that is not a regular file of at most INDEX_FILE_MAX bytes. */
  static open(path: string): PagedIndex | undefined {
    const paged = new PagedIndex(path);
    let file: { id: string; size: number };
    try {
      file = paged.opened();
    } catch {
      paged.close();
      return undefined;
    }
    try {
      paged.index = paged.version(file);
    } finally {
      paged.close();
    }
    return paged;
  }

  private constructor(private readonly path: string) {}

  /** f(index), on one version of the file. */
  lookup<T>(f: (index: BinaryIndex) => T): T {
    try {
      try {
        return f(this.index);
      } catch (e) {
        if (e !== REPLACED) throw e;
        this.index = this.version(this.opened());
        return f(this.index);
      }
    } finally {
      this.close();
    }
  }

  /** The file, opened unless it is, and its identity: device, inode, size and modification time. */
  private opened(): { id: string; size: number } {
    if (this.fd === -1) this.fd = openSync(this.path, OPEN_NAMED_FILE);
    const st = fstatSync(this.fd, { bigint: true });
    const size = Number(st.size);
    checkRegularFile({ isFile: () => st.isFile(), isDirectory: () => st.isDirectory(), size }, this.path, INDEX_FILE_MAX);
    return { id: `${st.dev}:${st.ino}:${size}:${st.mtimeNs}`, size };
  }

  /** An index over the file as now open, its blocks read as lookups reach them. */
  private version({ id, size }: { id: string; size: number }): BinaryIndex {
    const bytes = Buffer.allocUnsafe(size);
    const have = new Uint8Array(Math.ceil(size / BLOCK));
    return new BinaryIndex(bytes, this.path, (start, end) => {
      for (let b = Math.floor(start / BLOCK); b * BLOCK < end && b < have.length; b++) {
        if (have[b]) continue;
        if (this.fd === -1 && this.opened().id !== id) throw REPLACED;
        const want = Math.min(BLOCK, size - b * BLOCK);
        if (readRangeSync(this.fd, bytes, b * BLOCK, want) !== want)
          throw invalidInput('ERR_KERNMOD_BAD_INDEX', `${this.path}: the file shrank while it was read`, {
            path: this.path,
            hint: 'run depmod for this kernel',
          });
        have[b] = 1;
      }
    });
  }

  private close(): void {
    if (this.fd !== -1) closeSync(this.fd);
    this.fd = -1;
  }
}

type Source = { bin: PagedIndex } | { text: string } | undefined;

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
    const [bin, text] = FILES[kind];
    const paged = PagedIndex.open(join(this.dirname, bin));
    let s: Source = paged && { bin: paged };
    if (!s)
      try {
        // modules.builtin.modinfo is NUL-separated binary-ish text; the others are plain text.
        s = { text: readRegularFileSync(join(this.dirname, text), INDEX_FILE_MAX).toString(kind === 'builtinAlias' ? 'latin1' : 'utf8') };
      } catch {
        /* absent, or not a regular file: left out */
      }
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
      const line = s.bin.lookup((index) => index.search(name));
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
    if ('bin' in s) return s.bin.lookup((index) => index.searchWild(key)).map((v) => v.value);
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
    if ('bin' in s) return s.bin.lookup((index) => index.search(name)) !== undefined;
    this.builtinText ??= new Set(parseModulesBuiltin(s.text));
    return this.builtinText.has(name);
  }

  /** Every key and value of a binary index, in kmod's dump order (for `modprobe -c`); [] for text. */
  dumpIndex(kind: 'alias' | 'symbols'): Array<{ key: string; value: string }> {
    const s = this.source(kind);
    return s !== undefined && 'bin' in s ? s.bin.lookup((index) => index.entries()) : [];
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
