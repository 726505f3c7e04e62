// The one interface every backend implements: the native addon, the ffi-rs fallback and the fake
// kernel used by unit tests. A backend issues the system call and reports `ret` or `-errno`; it knows no
// policy and builds no messages (lib/errors.ts does, once, for all of them).

export type BackendName = 'native' | 'ffi' | 'fake';

/** finit_module by path does two system calls; `syscall` says which one produced `ret`. */
export interface PathOutcome {
  ret: number;
  syscall: 'open' | 'finit_module';
}

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
  /** Opens `path` O_RDONLY|O_CLOEXEC, calls finit_module, closes it on every path. */
  finitModulePath(path: string, params: string, flags: number): Promise<PathOutcome>;
  finitModulePathSync(path: string, params: string, flags: number): PathOutcome;
  deleteModule(name: string, flags: number): Promise<number>;
  deleteModuleSync(name: string, flags: number): number;
}
