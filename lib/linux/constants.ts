// Flags from include/uapi/linux/module.h and delete_module(2).

/** finit_module: ignore symbol version hashes (`modprobe --force-modversion`). Taints the kernel. */
export const MODULE_INIT_IGNORE_MODVERSIONS = 1;
/** finit_module: ignore the kernel version magic (`modprobe --force-vermagic`). Taints the kernel. */
export const MODULE_INIT_IGNORE_VERMAGIC = 2;
/** finit_module: the file is compressed in the kernel's own format; let the kernel decompress it (5.17+). */
export const MODULE_INIT_COMPRESSED_FILE = 4;
/** Every finit_module flag bit the kernel knows; any other bit gives EINVAL. */
export const MODULE_INIT_KNOWN_FLAGS = MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC | MODULE_INIT_COMPRESSED_FILE;
