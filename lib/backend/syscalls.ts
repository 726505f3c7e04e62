// System-call numbers for the ffi backend, which calls libc's syscall(2) directly. The native addon
// takes them from <sys/syscall.h> instead. Sources: arch/x86/entry/syscalls/syscall_{64,32}.tbl,
// arch/arm/tools/syscall.tbl, include/uapi/asm-generic/unistd.h (arm64, riscv64, loongarch64).
// memfd_create is for finitModuleImage's anonymous file (libc's memfd_create wrapper is glibc 2.27+ only).
const GENERIC = { init_module: 105, delete_module: 106, finit_module: 273, memfd_create: 279 };
export type ModuleSyscalls = typeof GENERIC;

export const LINUX_MODULE_SYSCALLS: Readonly<Record<string, ModuleSyscalls>> = {
  x64: { init_module: 175, delete_module: 176, finit_module: 313, memfd_create: 319 },
  ia32: { init_module: 128, delete_module: 129, finit_module: 350, memfd_create: 356 },
  arm: { init_module: 128, delete_module: 129, finit_module: 379, memfd_create: 385 },
  arm64: GENERIC,
  riscv64: GENERIC,
  loong64: GENERIC,
};

/** MODULE_NAME_LEN = 64 - sizeof(unsigned long): 56 on 64-bit architectures, 60 on 32-bit ones. */
export function linuxModuleNameLen(arch: string): number {
  return arch === 'ia32' || arch === 'arm' ? 60 : 56;
}

/** memfd_create's MFD_CLOEXEC (include/uapi/linux/memfd.h), the same on every architecture. */
export const MFD_CLOEXEC = 0x0001;

/** O_TRUNC / O_NONBLOCK for delete_module: the asm-generic values, shared by every arch listed above. */
export const LINUX_DELETE_FLAGS = { O_TRUNC: 0o1000, O_NONBLOCK: 0o4000 } as const;
