// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
static int __init broken_init(void) { return this_is_not_declared; }
module_init(broken_init);
MODULE_LICENSE("GPL");
