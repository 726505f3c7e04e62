// Loading, unloading and listing on NetBSD: the policy on top of a NetbsdBackend's raw modctl(2).
//  - Load sends what modload(8) sends: ml_filename as given (a name is looked up by the kernel in
//    kern.module.path, a path is opened as is), ml_flags, and always a props plist (an empty dictionary
//    when there are none). Inputs the kernel would refuse are refused first, with typed errors.
//  - Unload passes the name; MODCTL_STAT gives the list (both layouts decoded); MODCTL_EXISTS (0, 1)
//    says whether loading and autoloading are allowed now.
import { abortError, invalidInput } from '../errors.js';
import { sourcePath } from '../source.js';
import { validateModuleName } from '../names.js';
import type { NetbsdBackend, StatOutcome } from './backend.js';
import { MAXMODNAME, MAXPATHLEN, MODCTL_LOAD_FORCE, MODCTL_NO_PROP, type ModuleClass, type ModuleSourceKind } from './constants.js';
import { netbsdErrnoNumber } from './errno-table.js';
import { modctlError } from './errors.js';
import { decodeModstat, type ModstatEntry, type ModstatFlags, type ModstatLayout } from './modstat.js';
import { externalizeProps, type PropDict } from './plist.js';

export interface NetbsdLoadOptions {
  /** Module properties, sent as the XML plist modload builds (`-b`/`-i`/`-s`). At most 4096 bytes as text. */
  props?: PropDict;
  /** MODCTL_LOAD_FORCE (`modload -f`): load despite a version mismatch, or re-enable a disabled builtin. */
  force?: boolean;
  /** MODCTL_NO_PROP (`modload -P`): do not read the module's own <module>.plist. */
  noProp?: boolean;
  /** Checked before the system call (a call already in the kernel cannot be interrupted). */
  signal?: AbortSignal;
}

export interface NetbsdLoadResult {
  /** Which system answered: the top-level loadModule's result is LoadResult | NetbsdLoadResult. */
  platform: 'netbsd';
  /**
   * The name the kernel registered, the one to unload it by. For a bare name, that name (the kernel
   * loads <name>/<name>.kmod). For a path, the name compiled into the file (`modload ./renamed.kmod` may
   * load `rumptest`), found by comparing MODCTL_STAT before and after; when that cannot say, the
   * file's basename without `.kmod` (see moduleFrom).
   */
  module: string;
  /** 'kernel': `module` is what MODCTL_STAT showed appearing; 'argument': taken from the argument. */
  moduleFrom: 'kernel' | 'argument';
  /** For a path: modules that appeared with it (its dependencies, autoloaded), when MODCTL_STAT said. */
  alsoLoaded?: string[];
  /** The path, when the argument was one (contains "/"). */
  path?: string;
  syscall: 'modctl';
  command: 'MODCTL_LOAD';
  /** ml_flags sent. */
  flags: number;
  /** The plist sent as ml_props. */
  props: string;
  backend: string;
}

export interface NetbsdUnloadOptions {
  signal?: AbortSignal;
}

export interface NetbsdUnloadResult {
  /** Which system answered: the top-level unloadModule's result is UnloadResult | NetbsdUnloadResult. */
  platform: 'netbsd';
  module: string;
  syscall: 'modctl';
  command: 'MODCTL_UNLOAD';
  backend: string;
}

/**
 * One module as listModules() reports it: the fields Linux's list has (name, size, refcnt, holders,
 * state, address) with NetBSD's meaning, plus NetBSD's own (required, source, class, flags, builtin).
 */
export interface NetbsdModuleInfo {
  name: string;
  /** Text size in bytes (0 when the kernel hides it from non-root callers, or for builtins). */
  size: number;
  /** References; -1 for a builtin on the kernel's builtin list (disabled). */
  refcnt: number;
  /** Loaded modules that require this one. */
  holders: string[];
  /** 'Live': in the kernel's module list; 'Disabled': a builtin that is not active (refcnt -1). */
  state: 'Live' | 'Disabled';
  /** Load address (0 for builtins, and for callers not allowed to see kernel addresses). */
  address: bigint;
  /** Modules it requires (modstat's REQUIRES). */
  required: string[];
  /** Where it came from: 'kernel' (builtin), 'boot' (loaded by the boot loader) or 'filesys'. */
  source: ModuleSourceKind | 'unknown';
  class: ModuleClass | 'unknown';
  flags: ModstatFlags;
  /** Linked into the kernel (source 'kernel'). */
  builtin: boolean;
}

export interface ModstatReading {
  /** Which answer the kernel gave: 'v2' (MODCTL_STAT 4, NetBSD 9+) or 'v1' (command 2, 5.0–8.x). */
  layout: ModstatLayout;
  entries: ModstatEntry[];
}

export interface ModuleSupport {
  /** false: the kernel lacks options MODULAR (EXISTS answered ENOSYS); null: unknown (before 7.0). */
  modular: boolean | null;
  /** MODCTL_EXISTS(0): may this process load modules now? null when the kernel cannot say. */
  load: boolean | null;
  /** MODCTL_EXISTS(1): may the kernel autoload now? (kern.module.autoload is not consulted.) */
  autoload: boolean | null;
  backend: string;
}

// ---- input checks -----------------------------------------------------------------------------------

function sourceOf(source: string | URL): string {
  if (typeof source !== 'string' && !(source instanceof URL)) {
    throw invalidInput('ERR_KERNMOD_INVALID_SOURCE', 'a NetBSD module source is a module name, a path or a file: URL');
  }
  const s = sourcePath(source); // '', a NUL, a non-file: URL, file://host/ and %2f are refused there
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes >= MAXPATHLEN) {
    throw invalidInput(
      'ERR_KERNMOD_INVALID_SOURCE',
      `the module path is ${bytes} bytes; the kernel accepts at most ${MAXPATHLEN - 1} (it would answer ENAMETOOLONG)`,
      { path: s },
    );
  }
  return s;
}

/** The module name for a modload argument: a bare name as is, a path's basename without `.kmod`. */
export function netbsdModuleName(arg: string): string {
  if (!arg.includes('/')) return arg;
  const base = arg.slice(arg.lastIndexOf('/') + 1);
  return base.endsWith('.kmod') ? base.slice(0, -'.kmod'.length) : base;
}

/** Checks a name before MODCTL_UNLOAD: not empty, no NUL or "/", at most 31 bytes (MAXMODNAME - 1). */
export function validateNetbsdModuleName(name: unknown): string {
  return validateModuleName(name, MAXMODNAME, ' (it would answer ENAMETOOLONG)');
}

interface PreparedLoad {
  filename: string;
  flags: number;
  props: string;
  /** The module name guessed from the argument, and the path when it is one (contains "/"). */
  target: { path?: string; module: string };
}

function prepareLoad(source: string | URL, options: NetbsdLoadOptions): PreparedLoad {
  const filename = sourceOf(source);
  const module = netbsdModuleName(filename);
  return {
    filename,
    flags: (options.force ? MODCTL_LOAD_FORCE : 0) | (options.noProp ? MODCTL_NO_PROP : 0),
    // Always a plist, even an empty one, as modload does (5.x kernels fault on a NULL ml_props).
    props: externalizeProps(options.props ?? {}),
    target: filename.includes('/') ? { path: filename, module } : { module },
  };
}

/** The live modules in a MODCTL_STAT answer (disabled builtins excluded); null when it cannot be read. */
function liveModules(r: StatOutcome, backend: NetbsdBackend): ModstatEntry[] | null {
  if (r.ret < 0) return null;
  try {
    return decodeModstat(r.bytes, r.layout, { endian: backend.endian }).filter((e) => e.refcnt !== -1);
  } catch {
    return null;
  }
}

/**
 * Which module a load by path registered: of the modules that became live, the one no other new
 * module requires (the rest are its dependencies, autoloaded). Anything less clear (a failed STAT,
 * another process loading at the same time) falls back to the name guessed from the path.
 */
function registered(p: PreparedLoad, before: ModstatEntry[] | null, after: ModstatEntry[] | null) {
  if (before && after) {
    const had = new Set(before.map((e) => e.name));
    const appeared = after.filter((e) => !had.has(e.name));
    const top = appeared.filter((e) => !appeared.some((o) => o.required.includes(e.name)));
    if (top.length === 1)
      return { module: top[0]!.name, moduleFrom: 'kernel' as const, alsoLoaded: appeared.filter((e) => e !== top[0]).map((e) => e.name) };
  }
  return { module: p.target.module, moduleFrom: 'argument' as const };
}

function loadResult(
  backend: NetbsdBackend,
  p: PreparedLoad,
  before: ModstatEntry[] | null,
  after: ModstatEntry[] | null,
): NetbsdLoadResult {
  return {
    platform: 'netbsd',
    ...registered(p, before, after),
    ...(p.target.path ? { path: p.target.path } : {}),
    syscall: 'modctl',
    command: 'MODCTL_LOAD',
    flags: p.flags,
    props: p.props,
    backend: backend.name,
  };
}

function unloadResult(backend: NetbsdBackend, module: string, ret: number): NetbsdUnloadResult {
  if (ret < 0) throw modctlError(ret, 'unload', { module });
  return { platform: 'netbsd', module, syscall: 'modctl', command: 'MODCTL_UNLOAD', backend: backend.name };
}

// ---- load / unload ----------------------------------------------------------------------------------

// A load by path reads MODCTL_STAT before and after (see registered()); a bare name needs neither.
export async function loadModule(backend: NetbsdBackend, source: string | URL, options: NetbsdLoadOptions = {}): Promise<NetbsdLoadResult> {
  const p = prepareLoad(source, options);
  if (options.signal?.aborted) throw abortError(options.signal, p.target);
  const before = p.target.path ? liveModules(await backend.modctlStat(), backend) : null;
  const ret = await backend.modctlLoad(p.filename, p.flags, p.props);
  if (ret < 0) throw modctlError(ret, 'load', p.target);
  return loadResult(backend, p, before, before && liveModules(await backend.modctlStat(), backend));
}

export function loadModuleSync(
  backend: NetbsdBackend,
  source: string | URL,
  options: Omit<NetbsdLoadOptions, 'signal'> = {},
): NetbsdLoadResult {
  const p = prepareLoad(source, options);
  const before = p.target.path ? liveModules(backend.modctlStatSync(), backend) : null;
  const ret = backend.modctlLoadSync(p.filename, p.flags, p.props);
  if (ret < 0) throw modctlError(ret, 'load', p.target);
  return loadResult(backend, p, before, before && liveModules(backend.modctlStatSync(), backend));
}

export async function unloadModule(backend: NetbsdBackend, name: string, options: NetbsdUnloadOptions = {}): Promise<NetbsdUnloadResult> {
  const module = validateNetbsdModuleName(name);
  if (options.signal?.aborted) throw abortError(options.signal, { module });
  return unloadResult(backend, module, await backend.modctlUnload(module));
}

export function unloadModuleSync(backend: NetbsdBackend, name: string): NetbsdUnloadResult {
  const module = validateNetbsdModuleName(name);
  return unloadResult(backend, module, backend.modctlUnloadSync(module));
}

// ---- stat -------------------------------------------------------------------------------------------

function reading(backend: NetbsdBackend, r: StatOutcome): ModstatReading {
  if (r.ret < 0) throw modctlError(r.ret, 'stat');
  return { layout: r.layout, entries: decodeModstat(r.bytes, r.layout, { endian: backend.endian }) };
}

/** MODCTL_STAT, decoded: the kernel's records in its order (loaded modules, then the builtin list). */
export async function readModstat(backend: NetbsdBackend): Promise<ModstatReading> {
  return reading(backend, await backend.modctlStat());
}

export function readModstatSync(backend: NetbsdBackend): ModstatReading {
  return reading(backend, backend.modctlStatSync());
}

function toInfo(entries: ModstatEntry[]): NetbsdModuleInfo[] {
  return entries.map((e) => ({
    name: e.name,
    size: e.size,
    refcnt: e.refcnt,
    holders: entries.filter((o) => o.refcnt !== -1 && o.required.includes(e.name)).map((o) => o.name),
    state: e.refcnt === -1 ? 'Disabled' : 'Live',
    address: e.addr,
    required: e.required,
    source: e.source,
    class: e.class,
    flags: e.flags,
    builtin: e.source === 'kernel',
  }));
}

/** Every module the kernel knows, in its order (loaded, then disabled builtins). */
export async function listModules(backend: NetbsdBackend): Promise<NetbsdModuleInfo[]> {
  return toInfo((await readModstat(backend)).entries);
}

export function listModulesSync(backend: NetbsdBackend): NetbsdModuleInfo[] {
  return toInfo(readModstatSync(backend).entries);
}

// ---- exists -----------------------------------------------------------------------------------------

function answer(ret: number): { ok: boolean | null; modular?: boolean } {
  if (ret >= 0) return { ok: true, modular: true };
  if (ret === -netbsdErrnoNumber('EPERM')!) return { ok: false, modular: true };
  if (ret === -netbsdErrnoNumber('ENOSYS')!) return { ok: false, modular: false };
  if (ret === -netbsdErrnoNumber('EINVAL')!) return { ok: null }; // no MODCTL_EXISTS before 7.0
  throw modctlError(ret, 'exists');
}

function support(backend: NetbsdBackend, r0: number, r1: number): ModuleSupport {
  const a = answer(r0);
  const b = answer(r1);
  return { modular: a.modular ?? b.modular ?? null, load: a.ok, autoload: b.ok, backend: backend.name };
}

/** MODCTL_EXISTS 0 and 1: whether this process may load modules now, and whether the kernel may autoload. */
export async function moduleSupport(backend: NetbsdBackend): Promise<ModuleSupport> {
  const r0 = await backend.modctlExists(0);
  const r1 = await backend.modctlExists(1);
  return support(backend, r0, r1);
}

export function moduleSupportSync(backend: NetbsdBackend): ModuleSupport {
  return support(backend, backend.modctlExistsSync(0), backend.modctlExistsSync(1));
}
