// SPDX-License-Identifier: GPL-2.0
/*
 * kernmod_forged: a trivial module whose .ko is post-processed by build.ts:
 * the "modversions" flag in .modinfo vermagic= becomes "modversionX". The
 * kernel then refuses it (ENOEXEC) unless MODULE_INIT_IGNORE_VERMAGIC is
 * passed, in which case it loads and taints the kernel with F.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init kernmod_forged_init(void)
{
	pr_info("kernmod_forged: init\n");
	return 0;
}

static void __exit kernmod_forged_exit(void)
{
	pr_info("kernmod_forged: exit\n");
}

module_init(kernmod_forged_init);
module_exit(kernmod_forged_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kernmod test: module with a forged vermagic");
MODULE_AUTHOR("kernmod");
