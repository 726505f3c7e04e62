// depmod: kmod 30's tools/depmod.c in TypeScript. Reads a module tree (lib/modules/VERSION under a
// base directory), works out which module needs which through their symbols, and writes modules.dep,
// modules.alias, modules.symbols ... and their .bin tries byte for byte as kmod writes them.
//
// One run: options → (-A: stop when nothing is newer than modules.dep) → kernel symbols (-E / -F)
// → find the modules (depmod.d) → order them (kmod's name-table order, then modules.order) → read each
// module's symbols → dependencies → topological order (a cycle ends the run, nothing written) → write.
// The library never prints: kmod's stderr lines come back as `messages`, its -v lines as `needs`.
import { closeSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { isAbsolute } from 'node:path';
import { KernmodError } from '../errors.js';
import { readRegularFileSync } from '../fs-read.js';
import { loadConfig } from './config.js';
import { kmodHashOrder } from './kmod-hash.js';
import type { Depmod, Mod, Sym } from './model.js';
import { nativeBatchReader, pack, type Packed } from './native-reader.js';
import { readModuleFile, readModuleFileSync } from './read-module.js';
import * as out from './outputs.js';
import { ModuleSearch, moduleNameOf, strerror, type FoundModule } from './tree.js';
import { upToDate } from './up-to-date.js';

export interface DepmodOptions {
  /** -b: the root the tree lives under (BASE/lib/modules/VERSION). */
  basedir?: string;
  /** The kernel release (default: the running kernel's). Must start like "N.N". */
  kernelVersion?: string;
  /** -C: config files or directories instead of the depmod.d defaults (repeatable). */
  config?: string[];
  /** -e: report needed symbols nobody provides (with -E or -F). */
  errsyms?: boolean;
  /** -E: Module.symvers, the kernel's symbols with their CRCs (also checks versions). */
  symvers?: string;
  /** -F: System.map, the kernel's symbols. */
  systemMap?: string;
  /** -n: compute, write nothing; the text files come back in `output` (the .bin files are skipped). */
  dryRun?: boolean;
  /** -o / --outdir: write under OUTDIR/lib/modules/VERSION instead of the tree (as kmod 31). */
  outdir?: string;
  /** -P: the architecture's symbol prefix character. */
  symbolPrefix?: string;
  /** -w: warn about duplicate index entries. */
  warnDuplicates?: boolean;
  /** -A: do nothing when no module file is newer than modules.dep. */
  quick?: boolean;
  /** FILES: index only these modules (absolute paths) instead of searching the tree. */
  files?: string[];
}

type DepmodLevel = 'FATAL' | 'ERROR' | 'WARNING' | 'INFO';

export interface DepmodMessage {
  level: DepmodLevel;
  /** kmod's text, ending in a newline (printed as `depmod: LEVEL: text`). */
  text: string;
}

export interface DepmodResult {
  /** BASE/lib/modules/VERSION. */
  dirname: string;
  /** Where the files went (dirname unless outdir). */
  outputDir: string;
  /** -A found nothing newer than modules.dep (or -A with -n): nothing was read or written. */
  upToDate: boolean;
  /** Names of the files written, in kmod's order. */
  written: string[];
  /** -n: kmod's standard output (the text files, one after another). */
  output?: string;
  /** kmod's diagnostics, in order. */
  messages: DepmodMessage[];
  /** What `depmod -v` prints: `PATH needs "SYMBOL": PATH` lines. */
  needs: string[];
  /** Modules indexed. */
  modules: number;
}

/** A run that kmod ends with exit status 1; `messages` holds everything it printed before. */
export class DepmodError extends KernmodError {
  constructor(
    code: string,
    message: string,
    readonly messages: DepmodMessage[],
    extra: { path?: string; errno?: number; cause?: unknown } = {},
  ) {
    super({ code, message, phase: 'validate', ...extra });
    this.name = 'KernmodError';
  }
}

interface Run {
  opts: DepmodOptions;
  kversion: string;
  dirname: string;
  outputDir: string;
  prefix: string;
  messages: DepmodMessage[];
  needs: string[];
}

/** kmod's CRIT (printed as FATAL) or ERR line, then the run ends with exit status 1 (the code: the cause's, else `code`). */
function fail(
  run: Run,
  code: string,
  text: string,
  extra: { path?: string; errno?: number; cause?: unknown; level?: DepmodLevel } = {},
): never {
  const { level = 'FATAL', ...fields } = extra;
  run.messages.push({ level, text });
  throw new DepmodError((extra.cause as NodeJS.ErrnoException | undefined)?.code ?? code, text.trimEnd(), run.messages, fields);
}

/** Adds kmod's lines of one level to the run's messages. */
const logger = (run: Run, level: DepmodLevel) => (text: string) => void run.messages.push({ level, text });

/** kmod's path_make_absolute_cwd: relative paths are joined to the working directory, not normalized. */
const absolute = (p: string) => (p.startsWith('/') ? p : `${process.cwd()}/${p}`);

function start(opts: DepmodOptions): Run {
  const messages: DepmodMessage[] = [];
  const kversion = opts.kernelVersion ?? release();
  const run: Run = { opts, kversion, dirname: '', outputDir: '', prefix: '', messages, needs: [] };
  if (typeof kversion !== 'string' || !/^\s*[+-]?\d+\.\s*[+-]?\d/.test(kversion)) {
    fail(run, 'ERR_KERNMOD_INVALID_OPTION', `Bad version passed ${String(kversion)}\n`, { level: 'ERROR' });
  }
  if (opts.symbolPrefix !== undefined && opts.symbolPrefix.length !== 1) {
    fail(run, 'ERR_KERNMOD_INVALID_OPTION', '-P only takes a single char\n');
  }
  for (const f of opts.files ?? []) if (!isAbsolute(f)) fail(run, 'ERR_KERNMOD_INVALID_OPTION', `${f}: not absolute path.\n`, { path: f });
  run.prefix = opts.symbolPrefix ?? '';
  const root = opts.basedir === undefined ? '' : absolute(opts.basedir);
  run.dirname = `${root}/lib/modules/${kversion}`;
  run.outputDir = opts.outdir === undefined ? run.dirname : `${absolute(opts.outdir)}/lib/modules/${kversion}`;
  return run;
}

/** A symbol table seeded from Module.symvers (-E) or System.map (-F), kmod's depmod_load_symvers/_system_map. */
function kernelSymbols(
  run: Run,
  symbols: Map<string, Sym>,
  add: (name: string, prefixSkipped: boolean, crc: bigint, owner: Mod | null) => void,
): boolean {
  const { symvers, systemMap } = run.opts;
  const file = symvers ?? systemMap;
  if (file === undefined) return false;
  let text: string;
  try {
    text = readTreeText(file);
  } catch (e) {
    fail(run, 'ENOENT', `could not load ${file}: ${strerror(e)}\n`, { path: file, cause: e });
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (symvers !== undefined) {
    // "0xb352177e\tfind_first_bit\tvmlinux\tEXPORT_SYMBOL": only vmlinux's symbols.
    lines.forEach((line, i) => {
      const [ver, sym, where] = line.split(/[ \t]+/).filter((w) => w !== '');
      if (ver === undefined || sym === undefined || where !== 'vmlinux') return;
      const m = /^\s*(?:0[xX])?([0-9a-fA-F]*)$/.exec(ver);
      if (!m) {
        run.messages.push({ level: 'ERROR', text: `${file}:${i + 1} Invalid symbol version ${ver}: Success\n` });
        return;
      }
      add(sym, false, m[1] ? BigInt.asUintN(64, BigInt(`0x${m[1]}`)) : 0n, null);
    });
  } else {
    // "c0294200 R __ksymtab_devfs_alloc_devnum": exported symbols, no CRCs.
    lines.forEach((line, i) => {
      const a = line.indexOf(' ');
      const b = a === -1 ? -1 : line.indexOf(' ', a + 1);
      if (b === -1) {
        const asRead = i < lines.length - 1 || text.endsWith('\n') ? `${line}\n` : line; // fgets keeps the newline
        run.messages.push({ level: 'ERROR', text: `${file}:${i + 1}: invalid line: ${asRead}\n` });
        return;
      }
      let p = line.slice(b + 1);
      if (run.prefix && p.startsWith(run.prefix)) p = p.slice(1);
      if (p.startsWith('__ksymtab_')) add(p.slice(10), true, 0n, null);
    });
  }
  // __this_module is made up by the kernel's loader; the other two by s390 and ppc64 toolchains.
  add('__this_module', true, 0n, null);
  add('_GLOBAL_OFFSET_TABLE_', true, 0n, null);
  if (!symbols.has('TOC.')) add('TOC.', true, 0n, null);
  return true;
}

function newMod(run: Run, f: FoundModule): Mod {
  const dir = run.dirname;
  const relpath = f.path.startsWith(dir) && f.path[dir.length] === '/' ? f.path.slice(dir.length + 1) : undefined;
  return { name: f.name, path: f.path, relpath, sortIdx: 1, idx: 0, depSortIdx: 0x7fffffff, info: [], deps: [], users: 0 };
}

/** depmod_modules_sort: modules.order's lines first, in its order; the rest keep kmod's table order. */
function orderModules(run: Run, mods: Mod[]): Mod[] {
  const text = readTreeFile(run, 'modules.order');
  if (text === undefined) return mods;
  const lines = text.split('\n');
  const last = lines.pop()!;
  if (last !== '') {
    run.messages.push({ level: 'ERROR', text: `${run.dirname}/modules.order:${lines.length + 1} corrupted line misses '\\n'\n` });
    return mods;
  }
  // Keyed by the path inside the tree with ".ko" for any compressed extension (kmod's uncrelpath).
  const byUncompressed = new Map<string, Mod>();
  for (const m of mods) {
    if (m.relpath === undefined) continue;
    const slash = m.relpath.lastIndexOf('/');
    byUncompressed.set(`${m.relpath.slice(0, slash + 1 + m.name.length)}.ko`, m);
  }
  const total = lines.length + 1;
  lines.forEach((line, i) => {
    const m = byUncompressed.get(line);
    if (m) m.sortIdx = i + 1 - total;
  });
  return mods.slice().sort((a, b) => a.sortIdx - b.sortIdx); // stable, as glibc's merge sort
}

interface Started {
  run: Run;
  symbols: Map<string, Sym>;
  printUnknown: boolean;
  addSymbol: (name: string, prefixSkipped: boolean, crc: bigint, owner: Mod | null) => void;
  /** The tree's search, to run; none for FILES. */
  search: ModuleSearch | undefined;
  /** FILES, as found. */
  files: FoundModule[];
  /** -E/-F: modules are read with their CRCs, which are compared. */
  checkSymvers: boolean;
}

interface Prepared extends Started {
  mods: Mod[];
}

function result(run: Run, upToDate: boolean, modules: number): DepmodResult {
  return { dirname: run.dirname, outputDir: run.outputDir, upToDate, written: [], messages: run.messages, needs: run.needs, modules };
}

/** Everything up to searching the tree; a result when -A finds the indexes up to date. */
function prepare(opts: DepmodOptions): Started | DepmodResult {
  const run = start(opts);
  if (opts.quick && (opts.dryRun || upToDate(run.outputDir, run.dirname, logger(run, 'ERROR')))) {
    return result(run, true, 0);
  }
  const symbols = new Map<string, Sym>();
  const addSymbol = (name: string, prefixSkipped: boolean, crc: bigint, owner: Mod | null) => {
    if (!prefixSkipped && run.prefix && name.startsWith(run.prefix)) name = name.slice(1);
    symbols.set(name, { name, crc, owner });
  };
  const haveKernelSymbols = kernelSymbols(run, symbols, addSymbol);
  const printUnknown = !!opts.errsyms && haveKernelSymbols;
  if (opts.errsyms && !haveKernelSymbols) run.messages.push({ level: 'WARNING', text: '-e needs -E or -F\n' });
  const checkSymvers = opts.symvers !== undefined;

  if (opts.files === undefined || opts.files.length === 0) {
    const search = new ModuleSearch(run.dirname, loadConfig(opts.config, run.kversion, run.messages), logger(run, 'ERROR'));
    return { run, symbols, printUnknown, addSymbol, search, files: [], checkSymvers };
  }
  const byName = new Map<string, FoundModule>();
  for (const path of opts.files) {
    const name = moduleNameOf(path);
    if (byName.has(name)) fail(run, 'EEXIST', `could not add module ${path}: File exists\n`, { path });
    byName.set(name, { name, path });
  }
  return { run, symbols, printUnknown, addSymbol, search: undefined, files: [...byName.values()], checkSymvers };
}

/** Searches the tree (when there is one to search), then puts the modules in kmod's order. */
function ordered(s: Started): Prepared {
  const { run } = s;
  try {
    s.search?.run();
  } catch (e) {
    fail(run, 'ENOENT', `could not search modules: ${strerror(e)}\n`, { path: run.dirname, cause: e });
  }
  const found = s.search ? [...s.search.found.values()] : s.files;
  // kmod builds its module list by walking its 512-bucket name table.
  const sorted = orderModules(
    run,
    kmodHashOrder(
      found.map((f): [string, Mod] => [f.name, newMod(run, f)]),
      512,
    ),
  );
  sorted.forEach((m, i) => (m.idx = i));
  return { ...s, mods: sorted };
}

/** Symbols and dependencies from what was read, the topological order, then the files. */
function finish(p: Prepared, read: Array<Packed | Error>): DepmodResult {
  const { run, mods, symbols } = p;
  mods.forEach((m, i) => {
    const r = read[i]!;
    if (r instanceof Error) {
      run.messages.push({ level: 'ERROR', text: `failed to load symbols from ${m.path}: ${strerror(r)}\n` });
      return;
    }
    for (const s of r.exports) p.addSymbol(s.name, false, s.crc, m);
    m.info = r.info;
  });
  const find = (name: string) => {
    if (name.startsWith('.')) name = name.slice(1);
    if (run.prefix && name.startsWith(run.prefix)) name = name.slice(1);
    return symbols.get(name);
  };
  mods.forEach((m, i) => {
    const r = read[i]!;
    if (r instanceof Error) return;
    const names = r.weak === '' ? [] : r.needs.split('\0');
    for (let k = 0; k < names.length; k++) {
      const need = { name: names[k]!, weak: r.weak[k] === '1', crc: r.crcs?.[k] ?? 0n };
      const sym = find(need.name);
      if (!sym) {
        if (p.printUnknown && !need.weak) run.messages.push({ level: 'WARNING', text: `${m.path} needs unknown symbol ${need.name}\n` });
        continue;
      }
      if (p.checkSymvers && sym.crc !== need.crc && !need.weak && p.printUnknown) {
        run.messages.push({ level: 'WARNING', text: `${m.path} disagrees about version of symbol ${need.name}\n` });
      }
      const owner = sym.owner;
      if (!owner || m.deps.includes(owner)) continue;
      m.deps.push(owner);
      owner.users++;
      run.needs.push(`${m.path} needs "${sym.name}": ${owner.path}\n`);
    }
  });
  topologicalOrder(run, mods);

  const d: Depmod = {
    modules: mods,
    depLines: out.depLines(mods),
    ownedSymbols: out.ownedSymbols(symbols),
    warnDuplicates: !!run.opts.warnDuplicates,
    warn: logger(run, 'WARNING'),
    error: logger(run, 'ERROR'),
  };
  const res = result(run, false, mods.length);
  if (run.opts.dryRun) {
    res.output = out.outputDeps(d) + out.outputAliases(d) + out.outputSoftdeps(d) + out.outputSymbols(d) + out.outputDevname(d);
    return res;
  }
  writeAll(run, d, res);
  return res;
}

/** kmod's depmod_calculate_dependencies: Kahn's algorithm over a stack; a cycle is fatal. */
function topologicalOrder(run: Run, mods: Mod[]): void {
  const users = mods.map((m) => m.users);
  const roots: number[] = [];
  users.forEach((u, i) => u === 0 && roots.push(i));
  let sorted = 0;
  while (roots.length > 0) {
    const src = mods[roots.pop()!]!;
    src.depSortIdx = sorted++;
    for (const dst of src.deps) if (--users[dst.idx]! === 0) roots.push(dst.idx);
  }
  if (sorted < mods.length) {
    const names = reportCycles(run, mods, users);
    run.messages.push({ level: 'ERROR', text: `Found ${names} modules in dependency cycles!\n` });
    throw new DepmodError('ERR_KERNMOD_DEPMOD_CYCLE', `dependency cycle among ${names} modules`, run.messages);
  }
  for (const m of mods) if (m.deps.length > 1) m.deps.sort((a, b) => a.depSortIdx - b.depSortIdx);
}

/** depmod_report_cycles: one "Cycle detected" line per cycle found walking from each module still used. */
function reportCycles(run: Run, mods: Mod[], users: number[]): number {
  interface Vertex {
    parent: Vertex | undefined;
    mod: Mod;
  }
  const roots: Mod[] = [];
  mods.forEach((m, i) => users[i]! > 0 && roots.push(m));
  const remove = (m: Mod) => {
    const i = roots.indexOf(m);
    if (i !== -1) roots.splice(i, 1);
  };
  const visited = new Set<Mod>();
  const inCycles = new Set<string>();
  while (roots.length > 0) {
    const root = roots.shift()!;
    const revisit = new Set<Mod>();
    const stack: Vertex[] = [{ parent: undefined, mod: root }];
    while (stack.length > 0) {
      const v = stack.pop()!;
      const m = v.mod;
      if (visited.has(m) && m === root) {
        const chain: Mod[] = [];
        for (let p = v.parent; p; p = p.parent) {
          chain.push(p.mod);
          inCycles.add(p.mod.name);
        }
        chain.reverse();
        for (const c of chain) remove(c);
        run.messages.push({ level: 'ERROR', text: `Cycle detected: ${[...chain, m].map((x) => x.name).join(' -> ')}\n` });
        continue;
      }
      // kmod 30 walks on forever when it meets a cycle that does not contain the root (the same modules
      // pushed again and again); such a cycle is reported from its own root, so the walk stops there.
      // Its modules are walked afresh when one of them is a root.
      if (visited.has(m)) {
        const inner: Mod[] = [];
        let again = false;
        for (let p = v.parent; p && !again; p = p.parent) {
          inner.push(p.mod);
          again = p.mod === m;
        }
        if (again) {
          for (const x of inner) revisit.add(x);
          continue;
        }
      }
      visited.add(m);
      if (m.deps.length === 0) {
        remove(m);
        continue;
      }
      for (const dep of m.deps) stack.push({ parent: v, mod: dep });
    }
    for (const x of revisit) visited.delete(x);
  }
  return inCycles.size;
}

const WRITERS: Record<out.OutputFile, (d: Depmod, run: Run) => string | Buffer> = {
  'modules.dep': (d) => out.outputDeps(d),
  'modules.dep.bin': (d) => out.outputDepsBin(d),
  'modules.alias': (d) => out.outputAliases(d),
  'modules.alias.bin': (d) => out.outputAliasesBin(d),
  'modules.softdep': (d) => out.outputSoftdeps(d),
  'modules.symbols': (d) => out.outputSymbols(d),
  'modules.symbols.bin': (d) => out.outputSymbolsBin(d),
  'modules.builtin.bin': (d, run) => {
    const text = readTreeFile(run, 'modules.builtin');
    return text === undefined ? Buffer.alloc(0) : out.builtinBin(text, d.error);
  },
  'modules.builtin.alias.bin': (d, run) => {
    const text = readTreeFile(run, 'modules.builtin.modinfo');
    return text === undefined ? Buffer.alloc(0) : out.builtinAliasBin(text, d.warn);
  },
  'modules.devname': (d) => out.outputDevname(d),
};

/** The text files depmod reads besides modules (modules.order, modules.builtin*, -E/-F): regular files only, capped. */
const TREE_TEXT_MAX_BYTES = 256 * 1024 * 1024;
function readTreeText(path: string): string {
  return readRegularFileSync(path, TREE_TEXT_MAX_BYTES).toString('latin1');
}

function readTreeFile(run: Run, name: string): string | undefined {
  try {
    return readTreeText(`${run.dirname}/${name}`);
  } catch (e) {
    run.messages.push({ level: 'WARNING', text: `could not open ${name} at ${run.dirname}: ${strerror(e)}\n` });
    return undefined;
  }
}

/**
 * Each file is written under a temporary name in the output directory and renamed over the old one,
 * so a reader (modprobe) sees the old index or the new one, never half of one.
 */
function writeAll(run: Run, d: Depmod, res: DepmodResult): void {
  const dir = run.outputDir;
  if (dir !== run.dirname) mkdirSync(dir, { recursive: true });
  try {
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (e) {
    fail(run, 'ENOENT', `could not open directory ${dir}: ${strerror(e)}\n`, { path: dir, cause: e });
  }
  const now = Date.now();
  const stamp = `${process.pid}.${(now % 1000) * 1000}.${Math.floor(now / 1000)}`;
  for (const name of out.OUTPUT_FILES) {
    const tmp = `${dir}/${name}.${stamp}`;
    let fd: number;
    try {
      fd = openSync(tmp, 'wx', 0o644);
    } catch (e) {
      run.messages.push({ level: 'ERROR', text: `openat(${dir}, ${name}.${stamp}, 301, 644): ${strerror(e)}\n` });
      continue;
    }
    try {
      writeFileSync(fd, WRITERS[name](d, run), 'latin1');
      closeSync(fd);
    } catch (e) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
      unlinkSync(tmp);
      fail(run, 'EIO', `Could not create index '${name}'. Output is truncated: ${strerror(e)}\n`, {
        path: `${dir}/${name}`,
        cause: e,
        level: 'ERROR',
      });
    }
    try {
      renameSync(tmp, `${dir}/${name}`);
    } catch (e) {
      fail(run, 'EIO', `renameat(${dir}, ${name}.${stamp}, ${dir}, ${name}): ${strerror(e)}\n`, { path: `${dir}/${name}`, cause: e });
    }
    res.written.push(name);
  }
}

/** Runs depmod, reading the modules one after another on this thread. */
export function depmodSync(opts: DepmodOptions = {}): DepmodResult {
  const started = prepare(opts);
  if (!('run' in started)) return started;
  const p = ordered(started);
  const read = p.mods.map((m) => {
    try {
      return pack(readModuleFileSync(m.path, p.checkSymvers), p.checkSymvers);
    } catch (e) {
      return e as Error;
    }
  });
  return finish(p, read);
}

/** How many module files are read and decoded at once (decoding runs on the libuv thread pool). */
const READ_CONCURRENCY = 4;
/** Files per call of the addon's reader: one hop to the pool and back per batch, not per file. */
const NATIVE_BATCH = 16;

/** Runs depmod; modules are read (and decoded) on the thread pool, several at a time. */
export async function depmod(opts: DepmodOptions = {}): Promise<DepmodResult> {
  const started = prepare(opts);
  if (!('run' in started)) return started;
  const crcs = started.checkSymvers;
  const native = nativeBatchReader();
  // Each module is handed to the addon as the walk finds it: reading overlaps the rest of the walk.
  const early = new Map<string, Promise<Packed | undefined>>();
  let batch: string[] = [];
  const flush = () => {
    if (!native || batch.length === 0) return;
    const got = native(batch, crcs).catch(() => []);
    batch.forEach((path, k) =>
      early.set(
        path,
        got.then((r) => r[k]),
      ),
    );
    batch = [];
  };
  const queue = (path: string) => {
    batch.push(path);
    if (batch.length === NATIVE_BATCH) flush();
  };
  if (native && started.search) started.search.onFound = queue;
  else if (native) for (const f of started.files) queue(f.path);
  const p = ordered(started);
  flush();
  const read: Array<Packed | Error> = new Array(p.mods.length);
  let next = 0;
  const worker = async () => {
    while (next < p.mods.length) {
      const i = next++;
      const path = p.mods[i]!.path;
      const r = await early.get(path);
      if (r) {
        read[i] = r;
        continue;
      }
      // Without the addon, or a file it did not take: module-symbols.ts reads it and says why.
      try {
        read[i] = pack(await readModuleFile(path, crcs), crcs);
      } catch (e) {
        read[i] = e as Error;
      }
    }
  };
  await Promise.all(Array.from({ length: READ_CONCURRENCY }, worker));
  return finish(p, read);
}
