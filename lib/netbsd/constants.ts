// NetBSD modctl(2) ABI constants. Sources (see shared research/netbsd-anchors.md §1, §2):
// sys/sys/module.h 1.48 (NetBSD 9.x/10.x) and 1.18/1.34/1.41 (5.x/7.x/8.x), sys/kern/sys_module.c,
// common/lib/libprop/prop_dictionary.c 1.39 (PDK_MAXKEY). Command numbers are given as integers, not
// taken from a header: MODCTL_STAT changed from 2 to 4 in NetBSD 9 (the old 2 became MODCTL_OSTAT).

/** modctl(2) commands. */
export const MODCTL_LOAD = 0;
export const MODCTL_UNLOAD = 1;
/** NetBSD 5.0–8.x: MODCTL_STAT with 392-byte records. On 9+: MODCTL_OSTAT, only with the compat_80 module. */
export const MODCTL_OSTAT = 2;
/** NetBSD 7.0+: may this caller load (arg 0) / may the system autoload (arg 1)? EINVAL before 7.0. */
export const MODCTL_EXISTS = 3;
/** NetBSD 9.0+: count, 64-byte records, then a string pool. EINVAL on 8.x and older. */
export const MODCTL_STAT = 4;

/** modctl_load_t.ml_flags */
export const MODCTL_LOAD_FORCE = 0x1;
export const MODCTL_NO_PROP = 0x2;

/** Module names are at most MAXMODNAME - 1 = 31 bytes (the kernel copies them into char[32]). */
export const MAXMODNAME = 32;
/** Dependencies per module in the old (≤ 8.x) record: ms_required is char[MAXMODNAME * MAXMODDEPS]. */
export const MAXMODDEPS = 10;
/** The kernel copies ml_filename with copyinstr(…, MAXPATHLEN): at most 1023 bytes plus the NUL. */
export const MAXPATHLEN = 1024;
/** handle_modctl_load refuses ml_propslen > 4096 with ENOMEM ("arbitrary limit to avoid DoS"). */
export const MAXPROPSLEN = 4096;
/** proplib refuses dictionary keys longer than 128 bytes (PDK_MAXKEY). */
export const PDK_MAXKEY = 128;

/** struct module's mod_flags as exported in ms_flags (kernel-only macros, so hard-coded as modstat does). */
export const MODFLG_MUST_FORCE = 0x01;
export const MODFLG_AUTO_LOADED = 0x02;

/** modclass_t, in enum order (MODULE_CLASS_ANY = 0 …). BUFQ appeared in 8.0. */
export const MODULE_CLASSES = ['any', 'misc', 'vfs', 'driver', 'exec', 'secmodel', 'bufq'] as const;
export type ModuleClass = (typeof MODULE_CLASSES)[number];

/** modsrc_t, in enum order: MODULE_SOURCE_KERNEL (builtin) = 0, BOOT = 1, FILESYS = 2. */
export const MODULE_SOURCES = ['kernel', 'boot', 'filesys'] as const;
export type ModuleSourceKind = (typeof MODULE_SOURCES)[number];

/** Record sizes of the two MODCTL_STAT layouts. */
export const MODSTAT_V1_SIZE = 392;
export const MODSTAT_V2_SIZE = 64;
