// SPDX-License-Identifier: GPL-2.0
/* The consumer half of vmrun's two-package DKMS fixture (tests/dkms). */
#include <linux/module.h>

int vmrun_core_value(int x);

static int __init card_init(void)
{
	pr_info("vmrun-card: loaded, core says %d\n", vmrun_core_value(4));
	return 0;
}

static void __exit card_exit(void)
{
	pr_info("vmrun-card: unloaded\n");
}

module_init(card_init);
module_exit(card_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vmrun DKMS fixture: uses vmrun-core's symbol");
