// A FAKE NetBSD kernel, for unit tests only. It SIMULATES modctl(2) as documented — the checks of
// handle_modctl_load, module_load/module_do_load, module_unload, handle_modctl_stat and MODCTL_EXISTS,
// in the order research/netbsd-anchors.md §2 gives them — in memory. It is not a kernel and proves
// nothing about one: no NetBSD kernel runs in this project's CI. It exists so the policy layer, errors
// and CLI can be exercised on any host. Module "files" are small fake images (FakeNetbsdKernel.image),
// read from the real file system like a kernel would read a .kmod.
import { type Stats, statSync } from 'node:fs';
import { readRegularFileSync } from '../fs-read.js';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { later } from '../backend/later.js';
import { EMPTY_PROPS_PLIST, type NetbsdBackend, type StatOutcome } from './backend.js';
import {
  MAXMODNAME,
  MAXPATHLEN,
  MAXPROPSLEN,
  MODCTL_LOAD_FORCE,
  MODCTL_NO_PROP,
  MODFLG_AUTO_LOADED,
  MODFLG_MUST_FORCE,
  type ModuleClass,
  type ModuleSourceKind,
} from './constants.js';
import { netbsdErrnoNumber } from './errno-table.js';
import { encodeModstat } from './modstat.js';
import { internalizeProps, type PropDict } from './plist.js';

const E = (code: string): number => netbsdErrnoNumber(code)!;

/** What a fake .kmod declares (its modinfo_t, plus how its init/fini behave). */
export interface FakeKmodSpec {
  name: string;
  class?: ModuleClass;
  /** mi_required. */
  required?: string[];
  /** The NetBSD release it was built for; a mismatch is EPROGMISMATCH unless forced. Default: the kernel's. */
  release?: number;
  /** An errno name its MODULE_CMD_INIT returns (e.g. 'EBUSY'); default success. */
  initError?: string;
  /** An errno name its MODULE_CMD_FINI returns; default success. */
  finiError?: string;
  /** Text size reported by modstat; default the image's length. */
  size?: number;
}

export interface FakeNetbsdModule {
  name: string;
  class: ModuleClass;
  source: ModuleSourceKind;
  required: string[];
  refcnt: number;
  flags: number;
  addr: bigint;
  size: number;
  /** The properties it was loaded with (ml_props merged with its own .plist). */
  props: PropDict;
  finiError?: string;
  /** A builtin security model: never unloadable. */
  secmodel?: boolean;
}

export interface FakeNetbsdKernelOptions {
  /** NetBSD release: < 7 has no MODCTL_EXISTS, < 9 answers only the old MODCTL_STAT (2). Default 10. */
  release?: number;
  /** false: a kernel without options MODULAR. */
  modular?: boolean;
  /** The caller's uid: only root may load and unload, and only root sees addresses (9.0+). Default 0. */
  uid?: number;
  /** kern.securelevel: above 0 nothing may be loaded or unloaded. Default 0. */
  securelevel?: number;
  /** kern.module.path, where names without "/" (and dependencies) are looked up. */
  modulePath?: string;
  /** NetBSD 9+: the compat_80 module is present, so the old command 2 (MODCTL_OSTAT) answers. */
  compat80?: boolean;
  /** Builtins (source kernel), as if linked into the kernel; `disabled` ones sit on the builtin list. */
  builtins?: Array<{ name: string; class?: ModuleClass; disabled?: boolean; secmodel?: boolean; required?: string[] }>;
  /** Called before each MODCTL_STAT, e.g. to load a module between two calls. */
  onStat?: (kernel: FakeNetbsdKernel, call: number) => void;
  /** Simulated time each async call takes, in ms. */
  delayMs?: number;
}

export interface FakeNetbsdCall {
  command: 'load' | 'unload' | 'stat' | 'exists';
  arg: string | number;
  flags?: number;
  props?: string;
  ret: number;
}

const MAGIC = '\x7fELF\0kernmod-fake-netbsd-kmod\0';
/** NetBSD 8.x and older stop at this depth of dependencies (MODULE_MAX_DEPTH) with EMLINK. */
const MODULE_MAX_DEPTH = 6;
/** kern_module_vfs.c: a module's own .plist must be smaller than this, else EFBIG. */
const MAX_PLIST_FILE = 8191;
/** The fake's own limit on a module image (its images are a few hundred bytes). */
const MAX_IMAGE_FILE = 256 * 1024 * 1024;

class Refusal extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}
function refuse(code: string): never {
  throw new Refusal(E(code));
}
function internalizeOr(text: string | Uint8Array, code: string): PropDict {
  try {
    return internalizeProps(text);
  } catch {
    return refuse(code);
  }
}

export class FakeNetbsdKernel {
  /** module_list: loaded modules, including initialised builtins. */
  readonly modules = new Map<string, FakeNetbsdModule>();
  /** module_builtins: builtins not (or no longer) initialised; modstat shows them with refcnt -1. */
  readonly builtins = new Map<string, FakeNetbsdModule>();
  readonly calls: FakeNetbsdCall[] = [];
  readonly release: number;
  modular: boolean;
  uid: number;
  securelevel: number;
  readonly modulePath: string;
  private nextAddr = 0xffffffff81000000n;
  private statCalls = 0;

  constructor(readonly options: FakeNetbsdKernelOptions = {}) {
    this.release = options.release ?? 10;
    this.modular = options.modular ?? true;
    this.uid = options.uid ?? 0;
    this.securelevel = options.securelevel ?? 0;
    this.modulePath = options.modulePath ?? `/stand/amd64/${this.release}.0/modules`;
    for (const b of options.builtins ?? []) {
      const m: FakeNetbsdModule = {
        name: b.name,
        class: b.class ?? 'misc',
        source: 'kernel',
        required: b.required ?? [],
        refcnt: 0,
        flags: b.disabled ? MODFLG_MUST_FORCE : 0,
        addr: 0n,
        size: 0,
        props: {},
        ...(b.secmodel ? { secmodel: true } : {}),
      };
      (b.disabled ? this.builtins : this.modules).set(b.name, m);
    }
  }

  /** A fake module file: ELF magic, a marker, then the spec as JSON. */
  static image(spec: FakeKmodSpec): Buffer {
    return Buffer.from(MAGIC + JSON.stringify(spec), 'latin1');
  }

  /** Runs one call's checks: 0, or -errno for the first Refusal; either way recorded in `calls`. */
  private answer(call: Omit<FakeNetbsdCall, 'ret'>, checks: () => void): number {
    let ret = 0;
    try {
      checks();
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      ret = -e.errno;
    }
    this.calls.push({ ...call, ret });
    return ret;
  }

  private allowed(autoload: boolean): boolean {
    // secmodel_suser: root, or any autoload; secmodel_securelevel: nobody above securelevel 0.
    return (this.uid === 0 || autoload) && this.securelevel <= 0;
  }

  // ---- MODCTL_LOAD --------------------------------------------------------------------------------

  load(filename: string, flags: number, props: string): number {
    return this.answer({ command: 'load', arg: filename, flags, props }, () => {
      const ml = props === '' ? EMPTY_PROPS_PLIST : props; // as the native layer: never a NULL ml_props
      const path = filename.split('\0')[0]!; // the kernel sees a C string
      // handle_modctl_load, in order: copyinstr(filename, MAXPATHLEN), the 4096-byte props limit,
      // then prop_dictionary_internalize.
      if (Buffer.byteLength(path, 'utf8') + 1 > MAXPATHLEN) refuse('ENAMETOOLONG');
      if (Buffer.byteLength(ml, 'utf8') > MAXPROPSLEN) refuse('ENOMEM');
      const dict = internalizeOr(ml, 'EINVAL');
      // module_load: (8.0+) a module named exactly like the argument is already there; then kauth.
      if (this.release >= 8 && this.modules.has(path)) refuse('EEXIST');
      if (!this.allowed(false)) refuse('EPERM');
      this.doLoad(path, flags, dict, false, 0, []);
    });
  }

  /** module_do_load, simulated. */
  private doLoad(name: string, flags: number, props: PropDict, autoload: boolean, depth: number, pending: string[]): FakeNetbsdModule {
    const builtin = this.builtins.get(name);
    if (builtin) {
      // A disabled builtin comes back only when forced.
      if (builtin.flags & MODFLG_MUST_FORCE && !(flags & MODCTL_LOAD_FORCE)) refuse('EPERM');
      this.builtins.delete(name);
      builtin.flags &= ~MODFLG_MUST_FORCE;
      this.modules.set(name, builtin);
      return builtin;
    }
    if (!this.modular) refuse('ENOSYS'); // kobj_load_vfs without options MODULAR
    if (this.release <= 8 && depth > MODULE_MAX_DEPTH) refuse('EMLINK');
    const file = this.findFile(name);
    const image = this.readImage(file);
    const spec = this.parseImage(image);
    let merged: PropDict = props;
    if (!(flags & MODCTL_NO_PROP)) {
      const plist = file.replace(/\.kmod$/, '') + '.plist';
      const own = this.readPlist(plist);
      if (own) merged = { ...own, ...props };
    }
    if (Buffer.byteLength(spec.name, 'utf8') >= MAXMODNAME) refuse('EINVAL');
    if ((spec.release ?? this.release) !== this.release && !(flags & MODCTL_LOAD_FORCE)) refuse('EPROGMISMATCH');
    if (this.modules.has(spec.name)) refuse('EEXIST');
    const required = spec.required ?? [];
    const deps: FakeNetbsdModule[] = [];
    for (const req of required) {
      if (Buffer.byteLength(req, 'utf8') >= MAXMODNAME) refuse('EINVAL');
      if (req === spec.name || pending.includes(req)) refuse('EDEADLK');
      const have = this.modules.get(req);
      // A missing dependency is autoloaded from the module path, recursively.
      deps.push(have ?? this.doLoad(req, 0, {}, true, depth + 1, [...pending, spec.name]));
    }
    if (spec.initError) refuse(spec.initError);
    for (const d of deps) d.refcnt++;
    const m: FakeNetbsdModule = {
      name: spec.name,
      class: spec.class ?? 'misc',
      source: 'filesys',
      required,
      refcnt: 0,
      flags: autoload ? MODFLG_AUTO_LOADED : 0,
      addr: this.nextAddr,
      size: spec.size ?? image.length,
      props: merged,
      ...(spec.finiError ? { finiError: spec.finiError } : {}),
    };
    this.nextAddr += 0x10000n;
    this.modules.set(m.name, m);
    return m;
  }

  /** kern_module_vfs.c: a name with "/" is a path; otherwise <module path>/<name>/<name>.kmod. */
  private findFile(name: string): string {
    const file = name.includes('/') ? name : join(this.modulePath, name, `${name}.kmod`);
    let st: Stats;
    try {
      st = statSync(file);
    } catch {
      refuse('ENOENT');
    }
    if (st.isDirectory()) refuse('EISDIR');
    return file;
  }

  private parseImage(image: Buffer): FakeKmodSpec {
    const text = image.toString('latin1');
    let spec: Partial<FakeKmodSpec> | undefined;
    try {
      spec = text.startsWith(MAGIC) ? (JSON.parse(text.slice(MAGIC.length)) as FakeKmodSpec) : undefined;
    } catch {}
    if (typeof spec?.name !== 'string') refuse('ENOEXEC');
    return spec as FakeKmodSpec;
  }

  // The fake reads only regular files, opened without blocking (fs-read.ts): a FIFO or device named like
  // a module is refused (EINVAL), never waited on, and a size limit is checked before anything is read.
  private readImage(file: string): Buffer {
    try {
      return readRegularFileSync(file, MAX_IMAGE_FILE);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'ERR_KERNMOD_TOO_LARGE') return refuse('EFBIG');
      if (code === 'ERR_KERNMOD_INVALID_SOURCE') return refuse('EINVAL');
      throw e;
    }
  }

  private readPlist(path: string): PropDict | undefined {
    let text: Buffer;
    try {
      text = readRegularFileSync(path, MAX_PLIST_FILE - 1);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ERR_KERNMOD_TOO_LARGE') refuse('EFBIG');
      return undefined;
    }
    return internalizeOr(text, 'EINVAL');
  }

  // ---- MODCTL_UNLOAD ------------------------------------------------------------------------------

  unload(name: string): number {
    return this.answer({ command: 'unload', arg: name }, () => {
      // copyinstr into char[MAXMODNAME]; then module_unload: kauth, lookup, refcnt, builtin secmodel, fini.
      if (Buffer.byteLength(name.split('\0')[0]!, 'utf8') + 1 > MAXMODNAME) refuse('ENAMETOOLONG');
      if (!this.allowed(false)) refuse('EPERM');
      const m = this.modules.get(name);
      if (!m) refuse('ENOENT');
      if (m.refcnt !== 0) refuse('EBUSY');
      if (m.source === 'kernel' && m.secmodel) refuse('EPERM');
      if (m.finiError) refuse(m.finiError);
      this.modules.delete(name);
      for (const r of m.required) {
        const dep = this.modules.get(r);
        if (dep) dep.refcnt--;
      }
      if (m.source === 'kernel') {
        // An unloaded builtin goes back to the builtin list, and loading it again needs force.
        m.flags |= MODFLG_MUST_FORCE;
        this.builtins.set(name, m);
      }
    });
  }

  // ---- MODCTL_STAT --------------------------------------------------------------------------------

  /**
   * One MODCTL_STAT call with a buffer of `iovLen` bytes: the bytes written (at most iovLen) and the
   * iov_len written back (the full size), as handle_modctl_stat does.
   */
  stat(command: 2 | 4, iovLen: number): { ret: number; written: Uint8Array; reported: number } {
    this.options.onStat?.(this, this.statCalls++);
    let written: Uint8Array = new Uint8Array(0);
    let reported = iovLen;
    const ret = this.answer({ command: 'stat', arg: command }, () => {
      // Command 4 is unknown before 9.0; on 9.0+ the old command 2 (OSTAT) needs compat_80.
      if (command === 4 ? this.release < 9 : this.release >= 9 && !this.options.compat80) refuse('EINVAL');
      const privileged = this.uid === 0 || this.release < 8; // addresses hidden from non-root in later kernels
      if (command === 4 && iovLen === 0 && !privileged) refuse('EPERM'); // the documented hazard
      const records = [
        ...[...this.modules.values()].map((m) => ({
          name: m.name,
          required: m.required,
          source: m.source,
          class: m.class,
          addr: privileged ? m.addr : 0n,
          size: privileged ? m.size : 0,
          refcnt: m.refcnt,
          flags: m.flags,
        })),
        // Builtins on the builtin list: refcnt -1, source kernel, ms_flags left 0.
        ...[...this.builtins.values()].map((m) => ({ name: m.name, required: m.required, source: m.source, class: m.class, refcnt: -1 })),
      ];
      const full = encodeModstat(records, command === 4 ? 'v2' : 'v1', { endian: endianness() });
      written = full.subarray(0, Math.min(iovLen, full.length));
      reported = full.length;
    });
    return { ret, written, reported };
  }

  // ---- MODCTL_EXISTS ------------------------------------------------------------------------------

  exists(which: number): number {
    return this.answer({ command: 'exists', arg: which }, () => {
      if (this.release < 7) refuse('EINVAL'); // no MODCTL_EXISTS before 7.0
      if (!this.modular) refuse('ENOSYS');
      if (which !== 0 && which !== 1) refuse('EINVAL');
      if (!this.allowed(which === 1)) refuse('EPERM');
    });
  }
}

/** The first buffer MODCTL_STAT gets (modstat's), and how many times a growing answer is retried. */
const STAT_INITIAL_BYTES = 8192;
const STAT_MAX_TRIES = 32;

/** One command of native/sys_netbsd.cc's stat loop: the buffer grows to the size the kernel reports. */
function statCommand(kernel: FakeNetbsdKernel, command: 2 | 4): StatOutcome {
  const layout = command === 4 ? 'v2' : 'v1';
  let len = STAT_INITIAL_BYTES;
  let r = kernel.stat(command, len);
  for (let tries = 1; r.ret === 0 && r.reported > len; tries++) {
    if (tries >= STAT_MAX_TRIES) return { ret: -E('EAGAIN'), command, layout, bytes: new Uint8Array(0) };
    len = r.reported;
    r = kernel.stat(command, len);
  }
  return { ret: r.ret, command, layout, bytes: Uint8Array.from(r.written.subarray(0, r.reported)) };
}

/** The stat loop of native/sys_netbsd.cc, over the fake kernel: command 4, and command 2 after EINVAL. */
function statLoop(kernel: FakeNetbsdKernel): StatOutcome {
  const r = statCommand(kernel, 4);
  return r.ret === -E('EINVAL') ? statCommand(kernel, 2) : r;
}

/** A NetbsdBackend over a FakeNetbsdKernel: a SIMULATION for unit tests, never a kernel. */
export function createFakeNetbsdBackend(kernel: FakeNetbsdKernel = new FakeNetbsdKernel()): NetbsdBackend {
  const delayed = <T>(f: () => T): Promise<T> => later(kernel.options.delayMs ?? 0, f);
  return {
    name: 'fake',
    system: 'netbsd',
    endian: endianness(),
    modctlLoad: (f, fl, p) => delayed(() => kernel.load(f, fl, p)),
    modctlLoadSync: (f, fl, p) => kernel.load(f, fl, p),
    modctlUnload: (n) => delayed(() => kernel.unload(n)),
    modctlUnloadSync: (n) => kernel.unload(n),
    modctlStat: () => delayed(() => statLoop(kernel)),
    modctlStatSync: () => statLoop(kernel),
    modctlExists: (w) => delayed(() => kernel.exists(w)),
    modctlExistsSync: (w) => kernel.exists(w),
  };
}
