// SPDX-License-Identifier: GPL-2.0
/* kernmod_exporter: exports a GPL symbol that kernmod_importer uses. */
#include <linux/init.h>
#include <linux/module.h>

#include "kernmod_exporter.h"

int kernmod_exporter_answer(void)
{
	return 42;
}
EXPORT_SYMBOL_GPL(kernmod_exporter_answer);

static int __init kernmod_exporter_init(void)
{
	pr_info("kernmod_exporter: init\n");
	return 0;
}

static void __exit kernmod_exporter_exit(void)
{
	pr_info("kernmod_exporter: exit\n");
}

module_init(kernmod_exporter_init);
module_exit(kernmod_exporter_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kernmod test: exports kernmod_exporter_answer()");
MODULE_AUTHOR("kernmod");
