// SPDX-License-Identifier: GPL-2.0
/*
 * kernmod_fail: init fails with -err when err != 0 (err=22 -> EINVAL,
 * err=19 -> ENODEV), so tests can check how init failures are reported.
 * A negative err is taken as the same errno (err=-22 also gives -EINVAL),
 * because a positive return from init is not an error, only a warning.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static int err;
module_param(err, int, 0444);
MODULE_PARM_DESC(err, "errno that init fails with (0 = load normally)");

static int __init kernmod_fail_init(void)
{
	int ret = err < 0 ? err : -err;

	pr_info("kernmod_fail: init err=%d\n", err);
	if (ret)
		pr_info("kernmod_fail: init failing with %d\n", ret);
	return ret;
}

static void __exit kernmod_fail_exit(void)
{
	pr_info("kernmod_fail: exit\n");
}

module_init(kernmod_fail_init);
module_exit(kernmod_fail_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kernmod test: init returns -err");
MODULE_AUTHOR("kernmod");
