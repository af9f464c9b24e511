/*
 * A job's module given by name in its `modules` file, found the way
 * modprobe finds it, in the module tree that modtree.c assembles at
 * /lib/modules/REL (the guest kernel's modules plus the job's own), and
 * loaded with its dependencies through modules_load_file().
 */
#ifndef VMRUN_GUEST_MODPROBE_H
#define VMRUN_GUEST_MODPROBE_H

/*
 * Bounds on what a (hostile) module tree can make init do for one name;
 * the index files' and names' sizes are in modindex.h.
 */
#define MODPROBE_MODULES_MAX 256 /* modules one name may pull in */
#define MODPROBE_DEPTH_MAX 16    /* nesting of (soft) dependencies */
#define MODPROBE_NAMES_MAX 64    /* names looked up: the name, soft deps */
#define MODPROBE_ALIAS_MAX 8     /* modules one alias may name */
#define MODPROBE_PATHS_MAX 4096  /* dependencies visited, again or not */

/*
 * Whether a `modules` line's first word is a module name rather than a
 * path: it has no '/' and does not end in .ko, .ko.xz, .ko.zst or .ko.gz.
 */
int modprobe_is_name(const char *word);

/*
 * Loads the module NAME (a module name, '-' and '_' alike, or an alias)
 * from modtree_dir(): looked up in modules.dep, else modules.alias (every
 * module it matches), else modules.builtin and the aliases in
 * modules.builtin.modinfo (built in: nothing to load; with PARAMS an
 * error, they can only be set on the kernel command line). Before it, its
 * modules.dep dependencies (last first) with their soft dependencies, then
 * its modules.softdep `pre:` modules; after it, the `post:` ones: kmod's
 * order. A soft dependency that names nothing or fails to load (with what
 * it needs) is skipped silently, as kmod does. PARAMS go to NAME only.
 * A module already loaded (/sys/module/M/initstate) is skipped.
 * Returns 0, or -1 after printing one line: `vmrun-init: cannot load NAME:
 * reason` (a dependency: `DEP (for NAME)`). Test mode loads nothing and
 * prints `vmrun-init: test mode: would load NAME from PATH PARAMS` lines.
 */
int modprobe_load(const char *name, const char *params, int test);

#endif /* VMRUN_GUEST_MODPROBE_H */
