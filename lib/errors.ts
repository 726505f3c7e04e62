// The one error type. Every failure — a kernel refusal, an open() failure, invalid input caught before
// the syscall, a missing backend — is a KernmodError, shaped like Node's SystemError (`code`, negative
// `errno`, `syscall`, `path`) plus `module`, `phase` and `hint`: the kernel's cause for that errno on
// that syscall, where kmod only says "see dmesg".
import { errnoInfo, type ErrnoInfo } from './errno.js';
import type { KernelLogEntry } from './linux/kmsg.js';

export type Syscall = 'init_module' | 'finit_module' | 'delete_module' | 'open' | 'read' | 'memfd_create' | 'write' | 'modctl';

export type Phase =
  | 'validate' // bad input, rejected before any system call
  | 'open' // opening / reading the module file
  | 'load' // init_module / finit_module
  | 'unload' // delete_module
  | 'backend' // no usable backend
  | 'abort' // the caller's AbortSignal fired
  | 'query'; // asking the kernel about its modules (NetBSD MODCTL_STAT / MODCTL_EXISTS)

export interface KernmodErrorFields {
  code: string;
  message?: string;
  errno?: number; // negative, like Node's
  syscall?: Syscall;
  path?: string;
  module?: string;
  phase: Phase;
  hint?: string;
  kernelLog?: KernelLogEntry[];
  kernelLogUnavailable?: string;
  cause?: unknown;
}

/** The fields an error carries besides name, code and message, in the order --json prints them. */
const FIELDS = ['errno', 'syscall', 'path', 'module', 'phase', 'hint', 'kernelLog', 'kernelLogUnavailable'] as const;

export class KernmodError extends Error {
  /** 'EEXIST', or for errors found before any syscall 'ERR_KERNMOD_*' / 'ABORT_ERR'. */
  readonly code: string;
  /** Negative errno, as in Node's SystemError; absent for validation errors. */
  readonly errno?: number;
  readonly syscall?: Syscall;
  readonly path?: string;
  readonly module?: string;
  readonly phase: Phase;
  /** What the kernel (or kernmod) means by this error, and what to do about it. */
  readonly hint?: string;
  /** A load's or unload's own kernel log lines (/dev/kmsg), when they could be read. */
  readonly kernelLog?: KernelLogEntry[];
  /** Why there is no kernelLog (e.g. /dev/kmsg not readable by this process). */
  readonly kernelLogUnavailable?: string;

  constructor(f: KernmodErrorFields) {
    super(f.message ?? f.code, f.cause === undefined ? undefined : { cause: f.cause });
    this.name = 'KernmodError';
    this.code = f.code;
    this.phase = f.phase;
    for (const k of FIELDS) if (f[k] !== undefined) (this as Record<string, unknown>)[k] = f[k];
  }

  /** A plain object for JSON output (`--json`), without the stack. */
  toJSON(): Record<string, unknown> {
    const o: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const k of FIELDS) if (this[k] !== undefined) o[k] = this[k];
    return o;
  }
}

function lowerFirst(s: string): string {
  return s.length > 1 && s[1] === s[1]!.toLowerCase() ? s[0]!.toLowerCase() + s.slice(1) : s;
}

/**
 * How another system's backend describes its errors (lib/netbsd): its own errno table, because its
 * numbers differ from the host's (NetBSD's EAGAIN is 35, Linux's 11), its own hints, and the phase.
 * Without one, systemError uses the host/Linux table and hintFor().
 */
export interface ErrorDialect {
  errnoInfo(errno: number): ErrnoInfo;
  hint(code: string): string | undefined;
  phase: Phase;
}

/** Builds the error for a failed system call: `EEXIST: file exists, finit_module '/x.ko'`. */
export function systemError(
  ret: number,
  syscall: Syscall,
  target: { path?: string; module?: string; flags?: number },
  dialect?: ErrorDialect,
): KernmodError {
  const info = dialect ? dialect.errnoInfo(ret) : errnoInfo(ret);
  const subject = target.path ?? target.module;
  const phase: Phase = dialect
    ? dialect.phase
    : syscall === 'delete_module'
      ? 'unload'
      : syscall === 'open' || syscall === 'read'
        ? 'open'
        : 'load';
  // The constructor leaves out the fields that are undefined (a path, a module, a hint).
  return new KernmodError({
    code: info.code,
    errno: -info.errno,
    syscall,
    path: target.path,
    module: target.module,
    phase,
    message: `${info.code}: ${lowerFirst(info.description)}, ${syscall}${subject === undefined ? '' : ` '${subject}'`}`,
    hint: dialect ? dialect.hint(info.code) : hintFor(info.code, syscall, target.flags ?? 0),
  });
}

/** An error found before any system call. */
export function invalidInput(code: string, message: string, extra: Partial<KernmodErrorFields> = {}): KernmodError {
  return new KernmodError({ ...extra, code, message, phase: 'validate' });
}

/**
 * A failure that is not a system call's errno (a bug, a RangeError from Node, a decoder's own error):
 * a KernmodError stays as it is; anything else becomes one that keeps the original as `cause` and its
 * code, never a made-up errno.
 */
export function causeError(e: unknown, phase: Phase, extra: Partial<KernmodErrorFields> = {}): KernmodError {
  if (e instanceof KernmodError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  return new KernmodError({
    ...extra,
    code: typeof code === 'string' ? code : 'ERR_KERNMOD_INTERNAL',
    message: e instanceof Error ? e.message : String(e),
    phase,
    cause: e,
  });
}

export function abortError(signal: AbortSignal, extra: Partial<KernmodErrorFields> = {}): KernmodError {
  return new KernmodError({
    ...extra,
    code: 'ABORT_ERR',
    message: 'The operation was aborted',
    phase: 'abort',
    cause: signal.reason,
  });
}

const LOAD_HINTS: Record<string, string> = {
  EPERM:
    'the kernel refused to load modules: the process lacks CAP_SYS_MODULE (run as root), or ' +
    'kernel.modules_disabled is 1 (it stays 1 until reboot), or lockdown refuses an unsigned module, or ' +
    'the name is in module_blacklist=, or an LSM (e.g. LoadPin) denied it',
  EKEYREJECTED:
    'signature enforcement is on (module.sig_enforce=1 or a lockdown/secure-boot kernel) and the module ' +
    'is unsigned, signed by a key the kernel does not trust, or its signature does not verify; ' +
    'forced loads count as unsigned',
  EBADMSG: 'the module signature trailer is malformed (truncated or with non-zero reserved fields)',
  ENOKEY: 'the module is signed by a key that is not in the kernel keyring',
  ENOEXEC:
    'invalid module format: not an ELF module for this kernel/architecture, a vermagic mismatch (built ' +
    'for another kernel version or config), a module_layout symbol-version mismatch, or a forced load on ' +
    'a kernel without MODULE_FORCE_LOAD; dmesg names the cause (see modinfo -F vermagic)',
  ENOENT:
    'unknown symbol in module: a module it depends on is not loaded (load its dependencies first, or ' +
    'use modprobe); dmesg lists the missing symbols',
  EINVAL:
    'the kernel rejected the request: an invalid parameter value (see dmesg "invalid for parameter"), a ' +
    'symbol whose version disagrees with the kernel, a missing symbol-namespace import, unknown ' +
    "finit_module flag bits, a failed in-kernel decompression, or the module's own init returned -EINVAL",
  ERANGE: 'a numeric parameter value is out of range for its type',
  ENOSPC: 'a string parameter is longer than the module allows (charp: 1024 bytes; module_param_string: its buffer)',
  EEXIST: 'a module with this name is already loaded (unload it first, or treat it as success as modprobe does)',
  EBUSY: 'a module with this name was being loaded at the same time and did not finish loading',
  ENOSYS: 'this kernel was built without loadable module support (CONFIG_MODULES=n), or it lacks this system call',
  EOPNOTSUPP: 'the kernel cannot decompress modules (CONFIG_MODULE_DECOMPRESS=n): decompress in user space instead',
  EBADF: 'the file descriptor is not open for reading',
  ETXTBSY: 'the module file is open for writing elsewhere',
  EFBIG: 'the module file is larger than the kernel accepts (2 GiB)',
  EFAULT: 'the kernel could not read the module image or parameters from user memory',
  ENOMEM: 'the kernel ran out of memory while loading the module',
  EINTR: 'the load was interrupted by a signal while waiting',
};

const UNLOAD_HINTS: Record<string, string> = {
  ENOENT: 'no module of this name is loaded (names use _ where files use -)',
  EAGAIN:
    'the module is in use: other modules depend on it (see /sys/module/<name>/holders) or its reference ' +
    'count is not zero; unload the holders first, pass wait to retry until it is free, ' +
    'or force (taints the kernel)',
  EBUSY:
    'the module is not live (still loading or already unloading), or it has no exit function ' +
    '("[permanent]") and cannot be unloaded without force',
  EPERM: 'no CAP_SYS_MODULE (run as root), or kernel.modules_disabled is 1',
  ENOSYS: 'this kernel was built without loadable module support or without module unloading (CONFIG_MODULE_UNLOAD=n)',
  EINTR: 'the unload was interrupted by a signal',
};

const MEMFD_HINTS: Record<string, string> = {
  ENOSYS: 'the kernel has no memfd_create (Linux 3.17+), which loading bytes with ignore flags needs: load the module by path instead',
  EINVAL:
    "the kernel refused memfd_create's flags (MFD_CLOEXEC needs Linux 3.17+), which loading bytes with " +
    'ignore flags needs: load the module by path instead',
  EMFILE: 'the process has too many open files',
  ENOMEM: 'out of memory for the anonymous file that holds the module image',
  ENOSPC: 'out of memory for the anonymous file that holds the module image',
};

const OPEN_HINTS: Record<string, string> = {
  ENOENT: 'the module file does not exist',
  EACCES: 'no permission to read the module file',
  EISDIR: 'the path is a directory, not a module file',
};

export function hintFor(code: string, syscall: Syscall, flags = 0): string | undefined {
  if (syscall === 'open' || syscall === 'read') return OPEN_HINTS[code];
  if (syscall === 'memfd_create' || syscall === 'write') return MEMFD_HINTS[code];
  if (syscall === 'delete_module') return UNLOAD_HINTS[code === 'EWOULDBLOCK' ? 'EAGAIN' : code];
  if (code === 'EINVAL' && syscall === 'finit_module' && flags & 4) {
    return (
      'the kernel could not decompress the module (its xz decoder verifies only CRC32 or no check: xz ' +
      '--check=crc32; its zstd decoder takes no dictionary; its gzip reader skips only a file name), the ' +
      'format is not the one the kernel was built for (/sys/module/compression), or a parameter value, a ' +
      "symbol version or the module's own init was rejected: dmesg says which"
    );
  }
  return LOAD_HINTS[code];
}
