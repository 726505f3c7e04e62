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
  /** /sys/module/<name>/initstate: live | coming | going; undefined if it vanished. */
  initstate?: string;
  address: bigint;
  taint: string;
  permanent: boolean;
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
   * coresize, refcnt, holders — plus initstate, which tells a module that vanished meanwhile. Half the
   * reads, for listings of many modules.
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
/** A directory's entries in the order the file system returns them (what kmod, using readdir(3), sees). */
export function listRawOpt(path: string): string[] | undefined {
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

function join1(row: ProcModulesRow, s: ReturnType<typeof readSysSync>): LoadedModule {
  const info: LoadedModule = {
    name: row.name,
    size: row.size,
    refcnt: s.refcnt !== undefined ? Number(s.refcnt) : row.refcnt,
    holders: s.holders ?? row.usedBy,
    state: row.state,
    address: row.address,
    taint: s.taint ?? row.taint,
    permanent: row.permanent,
    parameters: s.parameters,
  };
  if (s.initstate !== undefined) info.initstate = s.initstate;
  if (s.coresize !== undefined) info.coresize = Number(s.coresize);
  if (s.initsize !== undefined) info.initsize = Number(s.initsize);
  if (s.version !== undefined) info.version = s.version;
  if (s.srcversion !== undefined) info.srcversion = s.srcversion;
  return info;
}

interface Reading {
  withParams: boolean;
  all: boolean;
}

function reading(opts: StateOptions): Reading {
  const all = (opts.fields ?? 'all') === 'all';
  return { withParams: opts.parameters ?? all, all };
}

function readSysSync(sys: string, name: string, { withParams, all }: Reading) {
  const d = `${sys}/${name}`;
  const parameters: Record<string, string> = {};
  if (withParams) {
    for (const p of listOpt(`${d}/parameters`) ?? []) {
      const v = readOpt(`${d}/parameters/${p}`);
      if (v !== undefined) parameters[p] = v;
    }
  }
  return {
    initstate: readOpt(`${d}/initstate`),
    holders: listRawOpt(`${d}/holders`),
    coresize: readOpt(`${d}/coresize`),
    initsize: all ? readOpt(`${d}/initsize`) : undefined,
    version: all ? readOpt(`${d}/version`) : undefined,
    srcversion: all ? readOpt(`${d}/srcversion`) : undefined,
    taint: all ? readOpt(`${d}/taint`) : undefined,
    refcnt: readOpt(`${d}/refcnt`),
    parameters,
  };
}

const skip = Promise.resolve(undefined);

async function readSys(sys: string, name: string, { withParams, all }: Reading) {
  const d = join(sys, name);
  const parameters: Record<string, string> = {};
  if (withParams) {
    const names = (await listOptAsync(join(d, 'parameters'))) ?? [];
    const values = await Promise.all(names.map((p) => readOptAsync(join(d, 'parameters', p))));
    names.forEach((p, i) => {
      const v = values[i];
      if (v !== undefined) parameters[p] = v;
    });
  }
  const [initstate, holders, coresize, initsize, version, srcversion, taint, refcnt] = await Promise.all([
    readOptAsync(join(d, 'initstate')),
    listRawOptAsync(join(d, 'holders')),
    readOptAsync(join(d, 'coresize')),
    all ? readOptAsync(join(d, 'initsize')) : skip,
    all ? readOptAsync(join(d, 'version')) : skip,
    all ? readOptAsync(join(d, 'srcversion')) : skip,
    all ? readOptAsync(join(d, 'taint')) : skip,
    readOptAsync(join(d, 'refcnt')),
  ]);
  return { initstate, holders, coresize, initsize, version, srcversion, taint, refcnt, parameters };
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
