// SPDX-License-Identifier: GPL-2.0
/*
 * kernmod_importer: depends on kernmod_exporter through one symbol. Loading
 * it while kernmod_exporter is absent fails with ENOENT and dmesg shows
 * "Unknown symbol kernmod_exporter_answer"; while it is loaded, the exporter
 * cannot be removed (EWOULDBLOCK / in use).
 */
#include <linux/init.h>
#include <linux/module.h>

#include "kernmod_exporter.h"

static int __init kernmod_importer_init(void)
{
	pr_info("kernmod_importer: init answer=%d\n", kernmod_exporter_answer());
	return 0;
}

static void __exit kernmod_importer_exit(void)
{
	pr_info("kernmod_importer: exit\n");
}

module_init(kernmod_importer_init);
module_exit(kernmod_importer_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kernmod test: uses kernmod_exporter_answer()");
MODULE_AUTHOR("kernmod");
