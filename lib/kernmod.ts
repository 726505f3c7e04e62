// The public API bound to one backend. `index.ts` binds it to the default backend (native, else ffi);
// `withBackend()` gives the same API over another one — ffi, or a FakeKernel in a user's unit tests.
//
// Each load and unload carries the kernel log lines it caused (/dev/kmsg, lib/linux/kmsg.ts): the
// position is taken before the call and the records read after it, here around the call, so the load
// path itself knows nothing of the log. On success they are `result.kernelLog` and `result.warnings`;
// on failure `err.kernelLog`, and `err.hint` names the cause they give. When the log cannot be read
// the call is unaffected and `kernelLogUnavailable` says why.
import { readlinkSync } from 'node:fs';
import { release } from 'node:os';
import { loadBackend } from './backend/select.js';
import type { Backend } from './backend/types.js';
import { modinfo, modinfoSync } from './elf/modinfo.js';
import { KernmodError } from './errors.js';
import { sourcePath } from './source.js';
import { hintFromKernelLog, kernelWarnings, unknownSymbols, type KernelWarning, type SymbolOwners } from './linux/kernel-log-hints.js';
import { kmsgReader, recordsFor, type KernelLogEntry, type KmsgCaptured } from './linux/kmsg.js';
import {
  loadModule,
  loadModuleSync,
  unloadModule,
  unloadModuleSync,
  type LoadOptions as BaseLoadOptions,
  type LoadResult as BaseLoadResult,
  type ModuleSource,
  type UnloadOptions as BaseUnloadOptions,
  type UnloadResult as BaseUnloadResult,
  type KernelEnv,
} from './linux/load.js';
import { ModuleDirectory } from './modprobe/moddir.js';
import { moduleNameFromPath, normalizeModuleName } from './names.js';

export type { KernelLogEntry, KernelLogLevel } from './linux/kmsg.js';
export type { KernelWarning, KernelWarningKind } from './linux/kernel-log-hints.js';

interface KernelLogOption {
  /** Capture the call's kernel log lines (default true); false skips reading /dev/kmsg. */
  kernelLog?: boolean;
}
export type LoadOptions = BaseLoadOptions & KernelLogOption;
export type UnloadOptions = BaseUnloadOptions & KernelLogOption;

/** The kernel log of one call. */
interface KernelLogFields {
  /** The call's own kernel log lines: the module's (`name: ...`) and the loader's about it. */
  kernelLog?: KernelLogEntry[];
  /** Why kernelLog is absent: /dev/kmsg not readable (not root, kernel.dmesg_restrict=1), not captured. */
  kernelLogUnavailable?: string;
  /** What the kernel warned about although the call succeeded (unknown parameter, taint, unsigned). */
  warnings: KernelWarning[];
}
export type LoadResult = BaseLoadResult & KernelLogFields;
export type UnloadResult = BaseUnloadResult & KernelLogFields;

export interface Kernmod {
  /** Which backend makes the system calls: 'native' | 'ffi' | 'fake'. */
  readonly backend: Backend['name'];
  /** The kernel's MODULE_NAME_LEN (with the NUL) for this architecture. */
  readonly MODULE_NAME_LEN: number;
  loadModule(source: ModuleSource, options?: LoadOptions): Promise<LoadResult>;
  loadModuleSync(source: ModuleSource, options?: Omit<LoadOptions, 'signal'>): LoadResult;
  unloadModule(name: string, options?: UnloadOptions): Promise<UnloadResult>;
  unloadModuleSync(name: string, options?: Omit<UnloadOptions, 'signal'>): UnloadResult;
}

/** Where the kernel log comes from and where a missing symbol's exporter is looked up (tests point them elsewhere). */
export interface KernelLogEnv {
  /** Default /dev/kmsg. With the fake backend there is no log unless this is given. */
  kmsgPath?: string;
  /** The module directory whose modules.symbols names exporters; default /lib/modules/<uname -r>. */
  moduleDirectory?: string;
}

// ---- which lines are the call's ----------------------------------------------------------------------

type Kind = 'load' | 'unload';

/** The module name a source's lines carry, as far as it is known before the call: from the path (kmod's rule). */
function nameBefore(source: ModuleSource): string | undefined {
  try {
    if (typeof source === 'string') return moduleNameFromPath(source);
    if (source instanceof URL) return moduleNameFromPath(sourcePath(source));
    if (source && typeof source === 'object' && 'fd' in source) return moduleNameFromPath(readlinkSync(`/proc/self/fd/${source.fd}`));
  } catch {
    /* no name yet: ownName() asks the module */
  }
  return undefined;
}

function unloadName(name: string): string | undefined {
  return typeof name === 'string' ? normalizeModuleName(name) : undefined;
}

/**
 * When the log has lines but none carries the name known (a file renamed, e.g. foo.ko.xz holding module
 * bar; bytes the kernel refused), the module names itself: .modinfo name=. Read only then. A loaded
 * module's bytes or fd named themselves in the result already (load.ts decodes them).
 */
function needsOwnName(name: string | undefined, source: ModuleSource, captured: KmsgCaptured): source is string | URL | Uint8Array {
  if (captured.records.length === 0) return false;
  const path = typeof source === 'string' || source instanceof URL;
  if (!path && !(source instanceof Uint8Array && name === undefined)) return false;
  return name === undefined || !captured.records.some((r) => r.message.startsWith(`${name}: `));
}

const MODINFO_NAME_ONLY = { versions: false, buildId: false, lenient: true } as const;

function ownNameSync(name: string | undefined, source: ModuleSource, captured: KmsgCaptured): string | undefined {
  if (!needsOwnName(name, source, captured)) return name;
  try {
    return modinfoSync(source, MODINFO_NAME_ONLY).name;
  } catch {
    return name;
  }
}

async function ownName(name: string | undefined, source: ModuleSource, captured: KmsgCaptured): Promise<string | undefined> {
  if (!needsOwnName(name, source, captured)) return name;
  return modinfo(source, MODINFO_NAME_ONLY).then(
    (i) => i.name,
    () => name,
  );
}

// ---- attaching the log ---------------------------------------------------------------------------------

function logFields(
  captured: KmsgCaptured,
  module: string | undefined,
  kind: Kind,
): { kernelLog: KernelLogEntry[] } | { kernelLogUnavailable: string } {
  return captured.unavailable !== undefined
    ? { kernelLogUnavailable: captured.unavailable }
    : { kernelLog: recordsFor(captured.records, module, kind) };
}

/** Adds the log's fields to the call's own fresh result object (a copy of it cost more than the call's JS path). */
function withLog<R extends object>(result: R, captured: KmsgCaptured, module: string | undefined, kind: Kind): R & KernelLogFields {
  const out = Object.assign(result, logFields(captured, module, kind)) as R & KernelLogFields;
  out.warnings = out.kernelLog ? kernelWarnings(out.kernelLog) : [];
  return out;
}

function ownersIn(dir: ModuleDirectory | undefined): SymbolOwners | undefined {
  return dir && ((symbol) => dir.symbols(`symbol:${symbol}`));
}

/** Sets err.kernelLog (or the reason there is none) and the hint its lines give. */
function attach(err: unknown, captured: KmsgCaptured, module: string | undefined, kind: Kind, owners?: SymbolOwners): unknown {
  if (!(err instanceof KernmodError)) return err;
  const fields = logFields(captured, module, kind);
  const e = err as { -readonly [K in keyof KernmodError]: KernmodError[K] };
  if ('kernelLogUnavailable' in fields) {
    e.kernelLogUnavailable = fields.kernelLogUnavailable;
    return err;
  }
  e.kernelLog = fields.kernelLog;
  const hint = hintFromKernelLog(err.code, fields.kernelLog, module ?? err.module, owners, err.hint);
  if (hint !== undefined) e.hint = hint;
  return err;
}

/** A missing symbol's exporters come from modules.symbols; the directory is read only when the log names one. */
function needsOwners(err: unknown, captured: KmsgCaptured): boolean {
  return err instanceof KernmodError && err.code === 'ENOENT' && unknownSymbols(captured.records).length > 0;
}

const moduleDirectoryOf = (logEnv: KernelLogEnv) => logEnv.moduleDirectory ?? `/lib/modules/${release()}`;

// ---- the bound API -------------------------------------------------------------------------------------

/** Splits our option (kernelLog) off the options the load path takes. */
function split<O extends KernelLogOption>(options: O | undefined): [boolean, Omit<O, 'kernelLog'> | undefined] {
  if (options === undefined || !('kernelLog' in options)) return [true, options];
  const { kernelLog, ...rest } = options;
  return [kernelLog !== false, rest];
}

const NOT_CAPTURED: KmsgCaptured = { records: [], unavailable: 'not captured (kernelLog: false)' };
const NO_LOG_FOR_FAKE: KmsgCaptured = { records: [], unavailable: 'the fake backend has no kernel log' };

/** `env.sysRoot` points the policy at another /sys (tests, containers); default the real one. */
export function bind(backend: Backend, env: KernelEnv & KernelLogEnv = {}): Kernmod {
  const { kmsgPath, moduleDirectory, ...loadEnv } = env;
  const logEnv: KernelLogEnv = {
    ...(kmsgPath !== undefined ? { kmsgPath } : {}),
    ...(moduleDirectory !== undefined ? { moduleDirectory } : {}),
  };
  const reader = backend.name === 'fake' && kmsgPath === undefined ? undefined : kmsgReader(kmsgPath);
  const skipped = (capture: boolean) => (capture ? NO_LOG_FOR_FAKE : NOT_CAPTURED);

  async function captureAsync<R extends object>(
    capture: boolean,
    kind: Kind,
    name: string | undefined,
    call: () => Promise<R>,
    nameAfter?: (c: KmsgCaptured, result?: R) => Promise<string | undefined>,
  ): Promise<R & KernelLogFields> {
    if (!capture || reader === undefined) {
      try {
        return withLog(await call(), skipped(capture), name, kind);
      } catch (err) {
        throw attach(err, skipped(capture), name, kind);
      }
    }
    const mark = await reader.begin();
    let result: R;
    try {
      result = await call();
    } catch (err) {
      const captured = await mark.end();
      const module = nameAfter ? await nameAfter(captured) : name;
      const dir = needsOwners(err, captured) ? await ModuleDirectory.open(moduleDirectoryOf(logEnv)).catch(() => undefined) : undefined;
      throw attach(err, captured, module, kind, ownersIn(dir));
    }
    const captured = await mark.end();
    return withLog(result, captured, nameAfter ? await nameAfter(captured, result) : name, kind);
  }

  function captureSync<R extends object>(
    capture: boolean,
    kind: Kind,
    name: string | undefined,
    call: () => R,
    nameAfter?: (c: KmsgCaptured, result?: R) => string | undefined,
  ): R & KernelLogFields {
    if (!capture || reader === undefined) {
      try {
        return withLog(call(), skipped(capture), name, kind);
      } catch (err) {
        throw attach(err, skipped(capture), name, kind);
      }
    }
    const mark = reader.beginSync();
    let result: R;
    try {
      result = call();
    } catch (err) {
      const captured = mark.endSync();
      const module = nameAfter ? nameAfter(captured) : name;
      let dir: ModuleDirectory | undefined;
      if (needsOwners(err, captured)) {
        try {
          dir = ModuleDirectory.openSync(moduleDirectoryOf(logEnv));
        } catch {
          /* no exporter named */
        }
      }
      throw attach(err, captured, module, kind, ownersIn(dir));
    }
    const captured = mark.endSync();
    return withLog(result, captured, nameAfter ? nameAfter(captured, result) : name, kind);
  }

  return {
    backend: backend.name,
    MODULE_NAME_LEN: backend.moduleNameLen,
    loadModule: (source, options) => {
      const [capture, rest] = split(options);
      const name = nameBefore(source);
      return captureAsync(
        capture,
        'load',
        name,
        () => loadModule(backend, source, rest, loadEnv),
        (c, loaded) => ownName(loaded?.module || name, source, c),
      );
    },
    loadModuleSync: (source, options) => {
      const [capture, rest] = split(options);
      const name = nameBefore(source);
      return captureSync(
        capture,
        'load',
        name,
        () => loadModuleSync(backend, source, rest, loadEnv),
        (c, loaded) => ownNameSync(loaded?.module || name, source, c),
      );
    },
    unloadModule: (name, options) => {
      const [capture, rest] = split(options);
      return captureAsync(capture, 'unload', unloadName(name), () => unloadModule(backend, name, rest));
    },
    unloadModuleSync: (name, options) => {
      const [capture, rest] = split(options);
      return captureSync(capture, 'unload', unloadName(name), () => unloadModuleSync(backend, name, rest));
    },
  };
}

/** The same API over a chosen backend: 'native', 'ffi', or a Backend object (e.g. createFakeBackend()). */
export function withBackend(backend: 'native' | 'ffi' | Backend, env: KernelEnv & KernelLogEnv = {}): Kernmod {
  return bind(typeof backend === 'string' ? loadBackend(backend) : backend, env);
}
