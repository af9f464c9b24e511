// SPDX-License-Identifier: GPL-2.0
/* The provider half of vmrun's two-package DKMS fixture (tests/dkms). */
#include <linux/module.h>

static int level = 1;
module_param(level, int, 0444);
MODULE_PARM_DESC(level, "a setting the test passes and reads back");

int vmrun_core_value(int x)
{
	return x * 10 + level;
}
EXPORT_SYMBOL_GPL(vmrun_core_value);

static int __init core_init(void)
{
	pr_info("vmrun-core: loaded, level=%d\n", level);
	return 0;
}

static void __exit core_exit(void)
{
	pr_info("vmrun-core: unloaded\n");
}

module_init(core_init);
module_exit(core_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vmrun DKMS fixture: exports a symbol");
