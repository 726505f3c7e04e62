// SPDX-License-Identifier: GPL-2.0
/*
 * kernmod_params: one parameter of each standard type, all 0444 so their
 * values can be read back from /sys/module/kernmod_params/parameters/.
 * Defaults are distinct and non-zero where possible so tests can tell
 * "default" from "set". Init prints every value (one line per group, to stay
 * well under printk's line limit even with a 1024-char p_charp).
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static int p_int = -1;
module_param(p_int, int, 0444);
MODULE_PARM_DESC(p_int, "test int (default -1)");

static unsigned int p_uint = 1;
module_param(p_uint, uint, 0444);
MODULE_PARM_DESC(p_uint, "test uint (default 1)");

static long p_long = -2;
module_param(p_long, long, 0444);
MODULE_PARM_DESC(p_long, "test long (default -2)");

static unsigned long long p_ullong = 2;
module_param(p_ullong, ullong, 0444);
MODULE_PARM_DESC(p_ullong, "test ullong (default 2)");

static unsigned int p_hexint = 0xcafe;
module_param(p_hexint, hexint, 0444);
MODULE_PARM_DESC(p_hexint, "test hexint, reads back as 0x00cafe (default 0xcafe)");

static unsigned char p_byte = 3;
module_param(p_byte, byte, 0444);
MODULE_PARM_DESC(p_byte, "test byte (default 3)");

static short p_short = -3;
module_param(p_short, short, 0444);
MODULE_PARM_DESC(p_short, "test short (default -3)");

static char *p_charp = "default";
module_param(p_charp, charp, 0444);
MODULE_PARM_DESC(p_charp, "test charp, max 1024 chars (default \"default\")");

static bool p_bool;
module_param(p_bool, bool, 0444);
MODULE_PARM_DESC(p_bool, "test bool, may be given without a value (default N)");

/* invbool stores the negation: the variable is true, the parameter reads N. */
static bool p_invbool = true;
module_param(p_invbool, invbool, 0444);
MODULE_PARM_DESC(p_invbool, "test invbool, needs a value (default N)");

static char p_string[32] = "fixed";
module_param_string(p_string, p_string, sizeof(p_string), 0444);
MODULE_PARM_DESC(p_string, "test string in a char[32], max 31 chars (default \"fixed\")");

static int p_array[4] = { 1, 2 };
static unsigned int p_array_count = 2;
module_param_array(p_array, int, &p_array_count, 0444);
MODULE_PARM_DESC(p_array, "test array of up to 4 ints (default 1,2)");

static int __init kernmod_params_init(void)
{
	char arr[4 * 12 + 1] = "";
	size_t len = 0;
	unsigned int i;

	for (i = 0; i < p_array_count && i < ARRAY_SIZE(p_array); i++)
		len += scnprintf(arr + len, sizeof(arr) - len, "%s%d",
				 i ? "," : "", p_array[i]);

	pr_info("kernmod_params: init\n");
	pr_info("kernmod_params: p_int=%d p_uint=%u p_long=%ld p_ullong=%llu p_hexint=%#08x p_byte=%u p_short=%hd\n",
		p_int, p_uint, p_long, p_ullong, p_hexint, p_byte, p_short);
	/* Booleans as sysfs shows them (Y/N); invbool's value is !variable. */
	pr_info("kernmod_params: p_bool=%c p_invbool=%c\n",
		p_bool ? 'Y' : 'N', p_invbool ? 'N' : 'Y');
	pr_info("kernmod_params: p_charp=%s\n", p_charp);
	pr_info("kernmod_params: p_string=%s\n", p_string);
	pr_info("kernmod_params: p_array=%s count=%u\n", arr, p_array_count);
	return 0;
}

static void __exit kernmod_params_exit(void)
{
	pr_info("kernmod_params: exit\n");
}

module_init(kernmod_params_init);
module_exit(kernmod_params_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kernmod test: one parameter of each standard type");
MODULE_AUTHOR("kernmod");
