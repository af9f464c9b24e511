/*
 * Kernel module loading for vmrun-init, with finit_module(2): no modprobe,
 * no modules.dep; lists give the order (dependencies first).
 */
#ifndef VMRUN_GUEST_MODULES_H
#define VMRUN_GUEST_MODULES_H

/*
 * Loads every module listed in /lib/modules/$(uname -r)/load-order (one
 * absolute path a line, written by images/lib/modules.sh), in order. A
 * missing list is fine (an initramfs without modules). A module that is
 * already loaded counts as loaded; any other failure prints one line
 * `vmrun-init: cannot load PATH: reason` and the next module is tried.
 */
void modules_load_boot(void);

/*
 * Loads the job's modules: the file DIR/modules (absent: nothing to load)
 * lists one module a line as `PATH [PARAMS...]`, PATH relative to DIR and
 * PARAMS (the rest of the line) passed to the module as its parameters;
 * blank lines and lines starting with '#' are skipped. Stops at the first
 * failure, after printing one line. Returns 0 if every module loaded.
 * With test set nothing is loaded: each module file is only opened, and
 * `vmrun-init: test mode: would load PATH PARAMS` printed instead.
 */
int modules_load_job(const char *dir, int test);

#endif /* VMRUN_GUEST_MODULES_H */
