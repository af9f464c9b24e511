// SPDX-License-Identifier: GPL-2.0
/* A DKMS fixture module that calls vmrun-core without any symvers wiring. */
#include <linux/module.h>

int vmrun_core_value(int x);

static int __init probe_init(void)
{
	pr_info("vmrun-probe: loaded, core says %d\n", vmrun_core_value(7));
	return 0;
}

static void __exit probe_exit(void)
{
}

module_init(probe_init);
module_exit(probe_exit);
MODULE_LICENSE("GPL");
