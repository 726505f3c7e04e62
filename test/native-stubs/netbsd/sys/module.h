/*
 * A STUB of NetBSD's <sys/module.h>, for compiling native/sys_netbsd.cc on a host that is not NetBSD
 * (the unit suite does, with g++ -I test/native-stubs/netbsd). It is not used to build the addon.
 *
 * It mirrors the userland part (outside #ifdef _KERNEL) of NetBSD's sys/sys/module.h rev 1.48
 * (2021-10-24, NetBSD 9.x/10.x; NetBSD/src), declaration for declaration, with the same types, order
 * and spelling, and like the original it does NOT wrap modctl() in __BEGIN_DECLS — so this stub also
 * proves that sys_netbsd.cc gives modctl() C linkage itself. Facts and history:
 * shared/research/netbsd-anchors.md §1 (MODCTL_STAT was 2 before 9.0, when modstat_t was the 392-byte
 * record; the 9.0 header renamed 2 to MODCTL_OSTAT and added MODCTL_STAT = 4 with this 64-byte record).
 */
#ifndef _SYS_MODULE_H_
#define _SYS_MODULE_H_

#include <sys/types.h>
#include <sys/param.h>
#include <sys/cdefs.h>
#include <sys/uio.h>

#define	MAXMODNAME	32
#define	MAXMODDEPS	10

/* Module classes, provided only for system boot and module validation. */
typedef enum modclass {
	MODULE_CLASS_ANY,
	MODULE_CLASS_MISC,
	MODULE_CLASS_VFS,
	MODULE_CLASS_DRIVER,
	MODULE_CLASS_EXEC,
	MODULE_CLASS_SECMODEL,
	MODULE_CLASS_BUFQ,
	MODULE_CLASS_MAX
} modclass_t;

/* Module sources: where did it come from? */
typedef enum modsrc {
	MODULE_SOURCE_KERNEL,
	MODULE_SOURCE_BOOT,
	MODULE_SOURCE_FILESYS
} modsrc_t;

/* Commands passed to module control routine. */
typedef enum modcmd {
	MODULE_CMD_INIT,		/* mandatory */
	MODULE_CMD_FINI,		/* mandatory */
	MODULE_CMD_STAT,		/* optional */
	MODULE_CMD_AUTOUNLOAD,		/* optional */
} modcmd_t;

/* (the #ifdef _KERNEL part of the real header is left out: the kernel's own structures) */

#include <stdint.h>

typedef struct modctl_load {
	const char *ml_filename;

#define MODCTL_NO_PROP		0x2
#define MODCTL_LOAD_FORCE	0x1
	int ml_flags;

	const char *ml_props;
	size_t ml_propslen;
} modctl_load_t;

enum modctl {
	MODCTL_LOAD,		/* modctl_load_t *ml */
	MODCTL_UNLOAD,		/* char *name */
	MODCTL_OSTAT,		/* struct iovec *buffer */
	MODCTL_EXISTS,		/* enum: 0: load, 1: autoload */
	MODCTL_STAT		/* struct iovec *buffer */
};

/*
 * This structure is used with the newer version of MODCTL_STAT, which
 * exports strings of arbitrary length for the list of required modules.
 */
typedef struct modstat {
	char		ms_name[MAXMODNAME];
	uint64_t	ms_addr;
	modsrc_t	ms_source;
	modclass_t	ms_class;
	u_int		ms_size;
	u_int		ms_refcnt;
	u_int		ms_flags;
	u_int		ms_reqoffset;	/* offset to module's required list
					   from beginning of iovec buffer! */
} modstat_t;

int	modctl(int, void *);

#endif	/* !_SYS_MODULE_H_ */
