// SPDX-License-Identifier: GPL-2.0
/*
 * kernmod_slow: init sleeps delay_ms milliseconds, so tests can observe a
 * module in the "coming" state, concurrent loads (EBUSY/EEXIST) and timeouts.
 */
#include <linux/delay.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static unsigned int delay_ms;
module_param(delay_ms, uint, 0444);
MODULE_PARM_DESC(delay_ms, "milliseconds to sleep in init (default 0)");

static int __init kernmod_slow_init(void)
{
	pr_info("kernmod_slow: init delay_ms=%u\n", delay_ms);
	if (delay_ms)
		msleep(delay_ms);
	pr_info("kernmod_slow: init done\n");
	return 0;
}

static void __exit kernmod_slow_exit(void)
{
	pr_info("kernmod_slow: exit\n");
}

module_init(kernmod_slow_init);
module_exit(kernmod_slow_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kernmod test: init sleeps delay_ms");
MODULE_AUTHOR("kernmod");
