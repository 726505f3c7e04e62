// One module directory (/lib/modules/<release>/): the lookups modprobe needs, each answered from
// depmod's .bin index when it exists (a trie walk touching a few nodes: kmod's own format and result
// order) and from the text file otherwise (parsed once). kmod reads only the .bin files; reading the
// text ones too lets kernmod use a tree with a hand-written modules.dep.
import { closeSync, openSync } from 'node:fs';
import { invalidInput } from '../errors.js';
import { OPEN_NAMED_FILE, readRangeSync, readRegularFileSync, regularFileSizeSync } from '../fs-read.js';
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

/** Bytes of an index file read in one go when it is not opened whole (see PagedIndexFile). */
const BLOCK = 16 * 1024;

/** Closes the descriptor of a paged index file that was dropped before it had been read whole. */
const unread = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
});

/**
 * An index file read a block at a time as lookups reach its nodes, as kmod maps it (start-up: `modprobe -D
 * 8021q` reads 8 blocks of 16 KiB of modules.dep.bin's 704 KB). The descriptor stays open until every block is in,
 * so each lookup reads the file as it was when opened (depmod replaces index files by renaming).
 */
class PagedIndexFile {
  readonly bytes: Buffer;
  private readonly have: Uint8Array;
  private missing: number;
  private readonly token = {};

  constructor(
    private fd: number,
    size: number,
  ) {
    this.bytes = Buffer.allocUnsafe(size);
    this.have = new Uint8Array(Math.ceil(size / BLOCK));
    this.missing = this.have.length;
    if (this.missing === 0) this.close();
    else unread.register(this, fd, this.token);
  }

  fill(start: number, end: number, path: string): void {
    for (let b = Math.floor(start / BLOCK); b * BLOCK < end && b < this.have.length; b++) {
      if (this.have[b]) continue;
      const at = b * BLOCK;
      const want = Math.min(BLOCK, this.bytes.length - at);
      if (readRangeSync(this.fd, this.bytes, at, want) !== want)
        throw invalidInput('ERR_KERNMOD_BAD_INDEX', `${path}: the file shrank while it was read`, {
          path,
          hint: 'run depmod for this kernel',
        });
      this.have[b] = 1;
      if (--this.missing === 0) this.close();
    }
  }

  private close(): void {
    unread.unregister(this.token);
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** A binary index read block by block, or undefined when the file cannot be opened as a regular file. */
function openBinaryIndex(path: string): BinaryIndex | undefined {
  let fd: number;
  try {
    fd = openSync(path, OPEN_NAMED_FILE);
  } catch {
    return undefined;
  }
  let file: PagedIndexFile;
  try {
    file = new PagedIndexFile(fd, regularFileSizeSync(fd, path, INDEX_FILE_MAX));
  } catch {
    closeSync(fd);
    return undefined;
  }
  return new BinaryIndex(file.bytes, path, (start, end) => file.fill(start, end, path));
}

function decode(kind: Kind, bytes: Buffer | undefined): Source {
  if (bytes === undefined) return undefined;
  // modules.builtin.modinfo is NUL-separated binary-ish text; the others are plain text.
  return { text: kind === 'builtinAlias' ? bytes.toString('latin1') : bytes.toString('utf8') };
}

export class ModuleDirectory {
  private depText?: Map<string, DepEntry>;
  private aliasText?: TextAliases;
  private symbolsText?: TextAliases;
  private builtinText?: Set<string>;
  private builtinAliasText?: TextAliases;
  /** Each index file is read when a lookup first needs it, as kmod maps them (start-up: modprobe -D 8021q opens 1 of the 5). */
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
    const index = openBinaryIndex(join(this.dirname, bin));
    const s = index !== undefined ? { bin: index } : decode(kind, read(text));
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
