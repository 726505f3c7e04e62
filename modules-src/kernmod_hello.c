// SPDX-License-Identifier: GPL-2.0
/* kernmod_hello: the smallest useful test module (load, list, unload). */
#include <linux/init.h>
#include <linux/module.h>

static int __init kernmod_hello_init(void)
{
	pr_info("kernmod_hello: init\n");
	return 0;
}

static void __exit kernmod_hello_exit(void)
{
	pr_info("kernmod_hello: exit\n");
}

module_init(kernmod_hello_init);
module_exit(kernmod_hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kernmod test: trivial module");
MODULE_AUTHOR("kernmod");
