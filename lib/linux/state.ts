// What the running kernel reports about its modules: /proc/modules joined with /sys/module/<name>.
// Modules can vanish while we read (an unload in between): such a module is dropped from the list, or
// keeps only what /proc/modules said, never an error (kmod's lsmod printed `-2 -2`, kmod issue #41).
// fs.promises is a getter: node:fs/promises loads only when an async reader runs (start-up: lsmod reads sync).
import {
  close,
  closeSync,
  existsSync,
  open,
  openSync,
  opendirSync,
  promises as fsp,
  read,
  readFileSync,
  readSync,
  readdirSync,
} from 'node:fs';
import { join } from 'node:path';
import { causeError, KernmodError, systemError } from '../errors.js';
import { normalizeModuleName } from '../names.js';
import { parseProcModules, type ProcModulesRow } from './procfs.js';

export interface LoadedModule {
  name: string;
  /** Bytes, from /proc/modules (all memory regions). */
  size: number;
  refcnt: number | null;
  /**
   * Modules holding this one (sysfs holders/, else /proc/modules' column), in the directory's own order
   * as kmod's lsmod prints them (Node's readdir would sort them).
   */
  holders: string[];
  state: string;
  /** /sys/module/<name>/initstate: live | coming | going; undefined if it vanished or with fields 'lsmod'. */
  initstate?: string;
  address: bigint;
  taint: string;
  permanent: boolean;
  /** Every loaded module has one in sysfs (as kmod's lsmod relies on): undefined if it vanished meanwhile. */
  coresize?: number;
  initsize?: number;
  version?: string;
  srcversion?: string;
  /** Current parameter values readable in /sys/module/<name>/parameters (unreadable ones omitted). */
  parameters: Record<string, string>;
}

export interface StateOptions {
  /** Root of procfs/sysfs, for tests and containers: `${root}/proc/modules`, `${root}/sys/module`. */
  root?: string;
  /** Read parameter values too (a readdir + a read per parameter). Default true, false with fields 'lsmod'. */
  parameters?: boolean;
  /**
   * Which sysfs attributes to read per module: 'all' (default), or 'lsmod': only what lsmod prints —
   * coresize, refcnt, holders. A third of the reads or fewer, for listings of many modules.
   */
  fields?: 'all' | 'lsmod';
}

const paths = (root = '') => ({ proc: `${root}/proc/modules`, sys: `${root}/sys/module` });

export function trimNl(s: string): string {
  return s.endsWith('\n') ? s.slice(0, -1) : s;
}

// A sysfs attribute is at most a page and comes whole from one read(2) at offset 0, so an attribute is
// open + read + close into a scratch page: a third of the system calls of readFileSync (which also
// fstats and reads until EOF), and far fewer thread-pool hops than fs/promises' readFile.
const ATTR_MAX = 4096;
const attrScratch = Buffer.allocUnsafe(ATTR_MAX);

function readOpt(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    return trimNl(attrScratch.toString('utf8', 0, readSync(fd, attrScratch, 0, ATTR_MAX, 0)));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
function readOptAsync(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    open(path, 'r', (err, fd) => {
      if (err) return resolve(undefined);
      const buf = Buffer.allocUnsafe(ATTR_MAX); // concurrent reads: one page each
      read(fd, buf, 0, ATTR_MAX, 0, (rerr, n) => {
        close(fd, () => resolve(rerr ? undefined : trimNl(buf.toString('utf8', 0, n))));
      });
    });
  });
}
function listOpt(path: string): string[] | undefined {
  try {
    return readdirSync(path).sort();
  } catch {
    return undefined;
  }
}
/**
 * A directory's entries in the order the file system returns them (what kmod, using readdir(3), sees).
 * readdir answers in one call but sorts, which changes nothing below two entries; only longer lists are
 * read again through opendir (most holders/ have none or one): a third off listModulesSync's time.
 */
export function listRawOpt(path: string): string[] | undefined {
  const sorted = listOpt(path);
  if (sorted === undefined || sorted.length < 2) return sorted;
  try {
    const dir = opendirSync(path);
    const names: string[] = [];
    try {
      for (let e = dir.readSync(); e !== null; e = dir.readSync()) names.push(e.name);
    } finally {
      dir.closeSync();
    }
    return names;
  } catch {
    return undefined;
  }
}
export async function listRawOptAsync(path: string): Promise<string[] | undefined> {
  const sorted = await listOptAsync(path);
  if (sorted === undefined || sorted.length < 2) return sorted;
  try {
    const names: string[] = [];
    for await (const e of await fsp.opendir(path)) names.push(e.name);
    return names;
  } catch {
    return undefined;
  }
}
async function listOptAsync(path: string): Promise<string[] | undefined> {
  try {
    return (await fsp.readdir(path)).sort();
  } catch {
    return undefined;
  }
}

// The sysfs attributes read per module: what lsmod prints (coresize, refcnt); fields 'all' adds the rest.
// One list for the sync and async readers.
const LSMOD_ATTRS = ['coresize', 'refcnt'] as const;
const ALL_ATTRS = [...LSMOD_ATTRS, 'initstate', 'initsize', 'version', 'srcversion', 'taint'] as const;
type Attr = (typeof ALL_ATTRS)[number];

interface SysReading {
  attrs: Partial<Record<Attr, string>>;
  holders: string[] | undefined;
  parameters: Record<string, string>;
}

interface Reading {
  withParams: boolean;
  attrs: readonly Attr[];
}

function reading(opts: StateOptions): Reading {
  const all = (opts.fields ?? 'all') === 'all';
  return { withParams: opts.parameters ?? all, attrs: all ? ALL_ATTRS : LSMOD_ATTRS };
}

/** The named attributes of a directory that could be read, by name. */
function readAttrs(dir: string, names: readonly string[]): Record<string, string> {
  const values = names.map((n) => readOpt(`${dir}/${n}`));
  return readable(names, values);
}
async function readAttrsAsync(dir: string, names: readonly string[]): Promise<Record<string, string>> {
  return readable(names, await Promise.all(names.map((n) => readOptAsync(`${dir}/${n}`))));
}
function readable(names: readonly string[], values: (string | undefined)[]): Record<string, string> {
  const out: Record<string, string> = {};
  names.forEach((n, i) => {
    const v = values[i];
    if (v !== undefined) out[n] = v;
  });
  return out;
}

function readSysSync(sys: string, name: string, r: Reading): SysReading {
  const d = `${sys}/${name}`;
  const params = r.withParams ? (listOpt(`${d}/parameters`) ?? []) : [];
  return { attrs: readAttrs(d, r.attrs), holders: listRawOpt(`${d}/holders`), parameters: readAttrs(`${d}/parameters`, params) };
}

async function readSys(sys: string, name: string, r: Reading): Promise<SysReading> {
  const d = `${sys}/${name}`;
  const params = r.withParams ? ((await listOptAsync(`${d}/parameters`)) ?? []) : [];
  const [attrs, holders, parameters] = await Promise.all([
    readAttrsAsync(d, r.attrs),
    listRawOptAsync(`${d}/holders`),
    readAttrsAsync(`${d}/parameters`, params),
  ]);
  return { attrs, holders, parameters };
}

function join1(row: ProcModulesRow, { attrs: a, holders, parameters }: SysReading): LoadedModule {
  const info: LoadedModule = {
    name: row.name,
    size: row.size,
    refcnt: a.refcnt !== undefined ? Number(a.refcnt) : row.refcnt,
    holders: holders ?? row.usedBy,
    state: row.state,
    address: row.address,
    taint: a.taint ?? row.taint,
    permanent: row.permanent,
    parameters,
  };
  if (a.initstate !== undefined) info.initstate = a.initstate;
  if (a.coresize !== undefined) info.coresize = Number(a.coresize);
  if (a.initsize !== undefined) info.initsize = Number(a.initsize);
  if (a.version !== undefined) info.version = a.version;
  if (a.srcversion !== undefined) info.srcversion = a.srcversion;
  return info;
}

/**
 * A failure to read /proc/modules as a KernmodError naming the file; its absence means the kernel has no
 * module support, which is the hint (the generic one for open is about module files).
 */
function procError(e: unknown, proc: string): unknown {
  const errno = (e as NodeJS.ErrnoException | null)?.errno;
  if (typeof errno !== 'number') return causeError(e, 'open', { path: proc });
  const err = systemError(-Math.abs(errno), 'open', { path: proc });
  const hint = err.code === 'ENOENT' ? 'this kernel has no loadable module support (CONFIG_MODULES=n)' : err.hint;
  return new KernmodError({ ...err, message: err.message, hint, cause: e });
}
const readProc = (proc: string) => fsp.readFile(proc, 'utf8').catch((e: unknown) => Promise.reject(procError(e, proc)));
function readProcSync(proc: string): string {
  try {
    return readFileSync(proc, 'utf8');
  } catch (e) {
    throw procError(e, proc);
  }
}

/** Every loaded module, in /proc/modules order (newest first), joined with sysfs. */
export async function listModules(opts: StateOptions = {}): Promise<LoadedModule[]> {
  const { proc, sys } = paths(opts.root);
  const rows = parseProcModules(await readProc(proc));
  const r = reading(opts);
  return Promise.all(rows.map(async (row) => join1(row, await readSys(sys, row.name, r))));
}

export function listModulesSync(opts: StateOptions = {}): LoadedModule[] {
  const { proc, sys } = paths(opts.root);
  const rows = parseProcModules(readProcSync(proc));
  const r = reading(opts);
  return rows.map((row) => join1(row, readSysSync(sys, row.name, r)));
}

/** One loaded module by name (`-` and `_` alike), or undefined. */
export async function getModule(name: string, opts: StateOptions = {}): Promise<LoadedModule | undefined> {
  const want = normalizeModuleName(name);
  const { proc, sys } = paths(opts.root);
  const row = parseProcModules(await readProc(proc)).find((r) => r.name === want);
  return row && join1(row, await readSys(sys, row.name, reading(opts)));
}

/**
 * Whether a module is in the kernel, as kmod decides it: /sys/module/<name>/initstate says
 * live/coming/going; a directory without initstate is a builtin (reported as 'builtin').
 */
export function moduleState(name: string, opts: StateOptions = {}): 'live' | 'coming' | 'going' | 'builtin' | 'absent' {
  const d = join(paths(opts.root).sys, normalizeModuleName(name));
  const init = readOpt(join(d, 'initstate'));
  if (init === 'live' || init === 'coming' || init === 'going') return init;
  return existsSync(d) ? 'builtin' : 'absent';
}

/** True if the module is loaded (live, or still coming/going); false for builtins and absent ones. */
export function isLoaded(name: string, opts: StateOptions = {}): boolean {
  const s = moduleState(name, opts);
  return s === 'live' || s === 'coming' || s === 'going';
}
