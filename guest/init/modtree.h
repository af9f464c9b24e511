/*
 * The guest's module tree, /lib/modules/REL (REL: `uname -r`), assembled
 * from the guest kernel's whole tree, which vmrun shares read-only at
 * /run/vmrun/modules (tag vmrun-modules), and a job's own modules in
 * /job/.vmrun/modules (DKMS-built ones in updates/, and depmod's indexes
 * for the two together), so modprobe (busybox's, kmod's, or init's own for
 * the job's `modules` file, modprobe.h) finds any of them by name.
 */
#ifndef VMRUN_GUEST_MODTREE_H
#define VMRUN_GUEST_MODTREE_H

#define MODTREE_SHARE_DIR "/run/vmrun/modules" /* the vmrun-modules share */
#define MODTREE_JOB_DIR ".vmrun/modules"       /* in the job directory */
#define MODTREE_JOB_KERNEL ".vmrun/kernel"     /* the release they were built for */
#define MODTREE_ENTRIES_MAX 4096               /* per directory linked */

/* The guest kernel's release; in test mode VMRUN_INIT_KERNEL_RELEASE if set. */
const char *modtree_release(int test);

/*
 * The directory module names are looked up in: /lib/modules/REL, or in
 * test mode VMRUN_INIT_MODULES_DIR (NULL if unset).
 */
const char *modtree_dir(int test);

/*
 * After the shares and the job disk (job_dir: its directory, or NULL
 * without one), before the job's modules: fails if JOB/.vmrun/kernel names
 * another release than the guest's; then, if the share or the job's
 * .vmrun/modules is there, mounts a tmpfs on /lib/modules/REL holding a
 * symlink to each entry of the share, then one to each entry of the job's
 * directory (replacing a same-named one: the job's indexes win). With
 * neither, /lib/modules is left alone. Returns 0, or -1 after one line.
 * Test mode mounts nothing: the share is VMRUN_INIT_SHARE_ROOT/run/vmrun/
 * modules, and the links go into VMRUN_INIT_MODULES_DIR, which must be
 * empty or absent (it is created).
 */
int modtree_setup(const char *job_dir, int test);

/*
 * 1 once modtree_setup() has mounted the tree's tmpfs (the rootfs gets a
 * bind of it), 0 when /lib/modules was left as the initramfs has it.
 */
int modtree_assembled(void);

#endif /* VMRUN_GUEST_MODTREE_H */
