/*
 * Kernel module loading for vmrun-init, with finit_module(2). Lists give
 * the order (dependencies first); a job's module given by name is found in
 * the module tree's modules.dep (modprobe.c).
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
 * lists one module a line as `PATH [PARAMS...]`, PATH relative to DIR, or
 * `NAME [PARAMS...]` (no '/', no .ko ending: see modprobe.h), and PARAMS
 * (the rest of the line) passed to the module as its parameters; blank
 * lines and lines starting with '#' are skipped. Stops at the first
 * failure, after printing one line. Returns 0 if every module loaded.
 * With test set nothing is loaded: each module file is only opened, and
 * `vmrun-init: test mode: would load PATH PARAMS` printed instead.
 */
int modules_load_job(const char *dir, int test);

/* modules_load_file()'s mode: bits. */
#define MODULES_TEST 1  /* test mode: load nothing */
#define MODULES_QUIET 2 /* print nothing on failure (a soft dependency) */

/*
 * Loads one module file (a .xz, .zst or .gz one is decompressed by the
 * kernel). SHOWN names it in messages. Returns 0, also when it is loaded
 * already, or -1 after printing `vmrun-init: cannot load SHOWN: reason`.
 * With MODULES_TEST it is only opened, and `vmrun-init: test mode: would
 * load SHOWN DETAIL PARAMS` printed (DETAIL: "" or text starting with a
 * blank).
 */
int modules_load_file(const char *path, const char *shown, const char *detail,
                      const char *params, int mode);

#endif /* VMRUN_GUEST_MODULES_H */
