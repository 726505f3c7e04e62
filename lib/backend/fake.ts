// A FAKE kernel, for unit tests only: it simulates the documented behaviour of init_module,
// finit_module and delete_module (research/linux-anchors.md b1, b2) in memory. It is a simulation, not
// a kernel: nothing it says proves anything about a real one — the kernel suite in the VM does that.
// Tests use it to exercise the facade's logic (errors, retries, fallbacks) on hosts without modules.
import { decompressSync, detectCompression } from '../compress/index.js';
import { readFdSync } from '../fs-read.js';
import { LINUX_ERRNO } from '../errno.js';
import { later } from './later.js';
import { LINUX_DELETE_FLAGS } from './syscalls.js';
import { finitPathSync, hasNul } from './guard.js';
import type { Backend, HeadGuard, ImageOutcome } from './types.js';

const E = LINUX_ERRNO;

/** kernel_read_file's limit for finit_module (INT_MAX): a larger file is EFBIG. */
const KERNEL_READ_FILE_MAX = 0x7fffffff;

export interface FakeModule {
  name: string;
  params: string;
  refcnt: number;
  flags: number;
  /** Names of modules using this one. */
  holders: Set<string>;
}

export interface FakeKernelOptions {
  /** Answer ENOSYS to everything, like a kernel without CONFIG_MODULES (the host CI runs on). */
  noModuleSupport?: boolean;
  /** Answer ENOSYS to finit_module only, like kernels before 3.8. */
  noFinitModule?: boolean;
  /** Simulated time each load/unload takes, in ms (async forms only). */
  delayMs?: number;
  /**
   * The format the simulated kernel decompresses with MODULE_INIT_COMPRESSED_FILE (like
   * /sys/module/compression); without it that flag gives EOPNOTSUPP (CONFIG_MODULE_DECOMPRESS=n).
   * Like the kernel's XZ Embedded decoder, it refuses xz streams whose check is not CRC32.
   */
  compression?: 'gzip' | 'xz' | 'zstd';
  /** Answer ENOSYS to memfd_create, like kernels before 3.17. */
  noMemfd?: boolean;
}

export interface FakeCall {
  syscall: 'init_module' | 'finit_module' | 'delete_module' | 'open' | 'memfd_create';
  name?: string;
  params?: string;
  flags?: number;
  ret: number;
}

/** A `.modinfo`-style `key=value` string of a fake image (FakeKernel.image), if it is there and not empty. */
function imageField(image: Uint8Array, key: string): string | undefined {
  const text = Buffer.from(image.buffer, image.byteOffset, image.byteLength).toString('latin1');
  return new RegExp(`(?:^|\\0)${key}=([^\\0]+)\\0`).exec(text)?.[1];
}

export class FakeKernel {
  readonly modules = new Map<string, FakeModule>();
  readonly calls: FakeCall[] = [];
  modulesDisabled = false;
  constructor(readonly options: FakeKernelOptions = {}) {}

  /** How many times each module's init ran (a failed init counts too). */
  readonly initRuns = new Map<string, number>();

  /**
   * Builds a minimal image the fake accepts: ELF magic, then `name=<name>`, optional `depends=`, and
   * `init_errno=` when its init should fail with that errno (like modules-src/kernmod_fail).
   */
  static image(name: string, depends: string[] = [], initErrno = 0): Buffer {
    return Buffer.from(`\x7fELF\0name=${name}\0depends=${depends.join(',')}\0${initErrno ? `init_errno=${initErrno}\0` : ''}`, 'latin1');
  }

  private record(call: FakeCall): number {
    this.calls.push(call);
    return call.ret;
  }

  load(image: Uint8Array, params: string, flags: number, syscall: 'init_module' | 'finit_module'): number {
    const fail = (ret: number, name?: string) => this.record({ syscall, params, flags, ret: -ret, ...(name ? { name } : {}) });
    if (this.options.noModuleSupport) return fail(E.ENOSYS);
    if (syscall === 'finit_module' && this.options.noFinitModule) return fail(E.ENOSYS);
    if (this.modulesDisabled) return fail(E.EPERM);
    if (flags & ~7) return fail(E.EINVAL);
    if (flags & 4) {
      if (syscall !== 'finit_module') return fail(E.EINVAL);
      if (!this.options.compression) return fail(E.EOPNOTSUPP);
      if (detectCompression(image) !== this.options.compression) return fail(E.EINVAL); // "not a ... compressed module"
      // xz stream flags: byte 7 holds the check type; XZ Embedded in the kernel supports CRC32 (1) only.
      if (this.options.compression === 'xz' && (image[7]! & 0x0f) !== 0x01) return fail(E.EINVAL); // "decompression failed"
      image = decompressSync(image);
    }
    if (image.length < 4 || image[0] !== 0x7f || image[1] !== 0x45 || image[2] !== 0x4c || image[3] !== 0x46) return fail(E.ENOEXEC);
    const name = imageField(image, 'name');
    if (!name) return fail(E.ENOEXEC);
    if (this.modules.has(name)) return fail(E.EEXIST, name);
    const deps = imageField(image, 'depends')?.split(',').filter(Boolean) ?? [];
    for (const d of deps) if (!this.modules.has(d)) return fail(E.ENOENT, name); // "Unknown symbol"
    this.initRuns.set(name, (this.initRuns.get(name) ?? 0) + 1);
    const initErrno = Number(imageField(image, 'init_errno') ?? 0);
    if (initErrno) return fail(initErrno, name);
    for (const d of deps) this.modules.get(d)!.holders.add(name);
    this.modules.set(name, { name, params, refcnt: 0, flags, holders: new Set() });
    return this.record({ syscall, name, params, flags, ret: 0 });
  }

  unload(name: string, flags: number): number {
    const fail = (ret: number) => this.record({ syscall: 'delete_module', name, flags, ret: -ret });
    if (this.options.noModuleSupport) return fail(E.ENOSYS);
    if (this.modulesDisabled) return fail(E.EPERM);
    const m = this.modules.get(name);
    if (!m) return fail(E.ENOENT);
    const force = (flags & LINUX_DELETE_FLAGS.O_TRUNC) !== 0;
    if (m.holders.size > 0) return fail(E.EAGAIN);
    if (m.refcnt > 0 && !force) return fail(E.EAGAIN);
    this.modules.delete(name);
    for (const other of this.modules.values()) other.holders.delete(name);
    return this.record({ syscall: 'delete_module', name, flags, ret: 0 });
  }

  /** The file behind finit_module's fd, as kernel_read_file reads it: a regular file of at most INT_MAX bytes, else EINVAL / EFBIG. */
  readFd(fd: number): Uint8Array | number {
    try {
      return readFdSync(fd, `/proc/self/fd/${fd}`, KERNEL_READ_FILE_MAX);
    } catch (e) {
      const n = (e as { errno?: unknown }).errno;
      return typeof n === 'number' && n < 0 ? (n === -E.EISDIR ? -E.EINVAL : n) : -E.EBADF;
    }
  }
}

// As the addon and the ffi backend do, a string with a NUL inside is refused with -EINVAL (hasNul).
const EINVAL = -E.EINVAL;

export function createFakeBackend(kernel: FakeKernel = new FakeKernel()): Backend & { kernel: FakeKernel } {
  const delay = kernel.options.delayMs ?? 0;
  const finitFd = (fd: number, params: string, flags: number): number => {
    if (hasNul(params)) return EINVAL;
    if (kernel.options.noModuleSupport) return kernel.load(new Uint8Array(0), params, flags, 'finit_module');
    const image = kernel.readFd(fd);
    if (typeof image === 'number') return image;
    return kernel.load(image, params, flags, 'finit_module');
  };
  const finitPath = (path: string, params: string, flags: number, guard?: HeadGuard) =>
    finitPathSync(
      path,
      params,
      guard,
      (fd) => finitFd(fd, params, flags),
      (ret) => kernel.calls.push({ syscall: 'open', ret }),
    );
  // memfd_create, write, finit_module of that file: the fake loads a private copy of the bytes.
  const finitImage = (image: Uint8Array, params: string, flags: number): ImageOutcome => {
    if (hasNul(params)) return { ret: EINVAL, syscall: 'finit_module' };
    if (kernel.options.noMemfd) {
      kernel.calls.push({ syscall: 'memfd_create', ret: -E.ENOSYS });
      return { ret: -E.ENOSYS, syscall: 'memfd_create' };
    }
    return { ret: kernel.load(Uint8Array.from(image), params, flags, 'finit_module'), syscall: 'finit_module' };
  };
  const init = (image: Uint8Array, params: string): number => (hasNul(params) ? EINVAL : kernel.load(image, params, 0, 'init_module'));
  const unload = (name: string, flags: number): number => (hasNul(name) ? EINVAL : kernel.unload(name, flags));
  return {
    name: 'fake',
    system: 'linux',
    moduleNameLen: 56,
    flags: LINUX_DELETE_FLAGS,
    kernel,
    initModule: (image, params) => later(delay, () => init(image, params)),
    initModuleSync: init,
    finitModule: (fd, params, flags) => later(delay, () => finitFd(fd, params, flags)),
    finitModuleSync: finitFd,
    finitModulePath: (path, params, flags, guard) => later(delay, () => finitPath(path, params, flags, guard)),
    finitModulePathSync: finitPath,
    finitModuleImage: (image, params, flags) => later(delay, () => finitImage(image, params, flags)),
    finitModuleImageSync: finitImage,
    deleteModule: (name, flags) => later(delay, () => unload(name, flags)),
    deleteModuleSync: unload,
  };
}
