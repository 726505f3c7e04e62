// The one interface every backend implements: the native addon, the ffi-rs fallback and the fake
// kernel used by unit tests. A backend issues the system call and reports `ret` or `-errno`; it knows no
// policy and builds no messages (lib/errors.ts does, once, for all of them).

export type BackendName = 'native' | 'ffi' | 'fake';

/**
 * finit_module by path is open, (with a guard) pread of the first bytes, finit_module, close; `syscall`
 * says which call produced `ret`.
 */
export interface PathOutcome {
  ret: number;
  syscall: 'open' | 'read' | 'finit_module';
  /**
   * When the guard stopped the call: the file's first bytes as read (the longest prefix's length). Only
   * then: a call that went on to finit_module has no use for them, and copying them out costs the
   * common case (a plain module) an allocation per load.
   */
  head?: Uint8Array;
  /** With a guard: the head began with one of its prefixes, so finit_module was not called (ret is 0). */
  stopped?: boolean;
  /**
   * The path is not a regular file (a FIFO, a socket, a device): refused after the open, which does not
   * wait (O_NONBLOCK), without reading it or calling finit_module; ret is -EINVAL, syscall 'open'.
   * (A directory is -EISDIR from 'read', as reading it says.)
   */
  notRegular?: boolean;
}

/** finit_module of bytes through an anonymous file: `ret` or `-errno` of the call named by `syscall`. */
export interface ImageOutcome {
  ret: number;
  syscall: 'memfd_create' | 'write' | 'finit_module';
}

/**
 * Byte prefixes that stop a finit_module by path before the call: the caller learns the file's first
 * bytes from the same open instead of opening the file twice. Each prefix is 1..16 bytes.
 */
export type HeadGuard = readonly Uint8Array[];

export interface Backend {
  readonly name: BackendName;
  /** The system the backend drives: 'linux', or another OS whose calls all answer ENOSYS. */
  readonly system: string;
  /** The kernel's MODULE_NAME_LEN (including the NUL) on this architecture. */
  readonly moduleNameLen: number;
  /** delete_module flag values on this system. */
  readonly flags: { readonly O_TRUNC: number; readonly O_NONBLOCK: number };

  initModule(image: Uint8Array, params: string): Promise<number>;
  initModuleSync(image: Uint8Array, params: string): number;
  finitModule(fd: number, params: string, flags: number): Promise<number>;
  finitModuleSync(fd: number, params: string, flags: number): number;
  /**
   * Opens `path` O_RDONLY|O_CLOEXEC, calls finit_module, closes it on every path. With a guard, first
   * reads the head on that fd and returns it, stopping before finit_module when a prefix matches.
   */
  finitModulePath(path: string, params: string, flags: number, guard?: HeadGuard): Promise<PathOutcome>;
  finitModulePathSync(path: string, params: string, flags: number, guard?: HeadGuard): PathOutcome;
  /**
   * finit_module of bytes that have no file: an anonymous memory file (memfd_create, MFD_CLOEXEC) holds a
   * private copy of `image`, finit_module reads it, the fd is closed on every path. No path, nothing left
   * behind. `syscall` says which call produced `ret` ('memfd_create', 'write' or 'finit_module').
   */
  finitModuleImage(image: Uint8Array, params: string, flags: number): Promise<ImageOutcome>;
  finitModuleImageSync(image: Uint8Array, params: string, flags: number): ImageOutcome;
  deleteModule(name: string, flags: number): Promise<number>;
  deleteModuleSync(name: string, flags: number): number;
}
