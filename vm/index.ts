// Public entry of the VM rig ("kernmod/vm"): boot Debian kernels in qemu and run commands in them.
export { runInVm, GUEST_IO_DIR, type VmRunOptions, type VmRunResult } from './run.js';
export {
  resolveKernel,
  listInstalledKernels,
  compareReleases,
  releaseFromBzImageHeader,
  DEFAULT_KERNEL_SPEC,
  type KernelInfo,
  type KernelLayout,
} from './kernels.js';
export { provision, pickNewest612, type ProvisionOptions } from './provision.js';
export { writeCpioNewc, type CpioEntry } from './cpio.js';
export { bootstrapModules, parseModulesDep, parseModulesBuiltin, BOOTSTRAP_TARGETS } from './modules-dep.js';
export { chooseAccel, probeKvm, type AccelChoice, type AccelRequest } from './accel.js';
export { ensureInitramfs } from './initramfs.js';
export { vmCommand } from './cli.js';
