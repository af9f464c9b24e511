/*
 * What goes inside the job's root (rootfs.h), every mount point resolved
 * inside it (inroot.h) and created there when the image lacks it:
 *   /proc, /sys              fresh
 *   /dev                     a recursive bind of init's (devtmpfs, /dev/pts)
 *   /dev/shm, /tmp (1777)    fresh tmpfs
 *   /run                     fresh tmpfs
 *   each vmrun.9p share      a bind of init's mount, at its path, in order
 *                            (the module share at /run/vmrun/modules too:
 *                            the module tree's links point there)
 *   /job                     a bind of init's /job (moved, with rootfs_init)
 *   /lib/modules/REL         a bind of the tree init assembled (modtree.h)
 *   /etc/resolv.conf         init's (a DHCP lease's DNS servers), and
 *   /etc/hosts               a localhost one if the image's is missing or
 *                            empty; only with a vmrun.net interface. Written
 *                            into the overlay; over a read-write image they
 *                            are bind-mounted over its existing files instead
 *                            (the image is the user's: nothing is written
 *                            into it), and skipped where it has none.
 */
#ifndef VMRUN_GUEST_ROOTMNT_H
#define VMRUN_GUEST_ROOTMNT_H

#include "job.h"
#include "rootcfg.h"

/*
 * Mounts the above into the root rootfd (at root_dir in init's view).
 * Returns 0, or -1 after one line. Test mode mounts nothing: it makes the
 * mount points and prints `vmrun-init: test mode: would mount|bind X at
 * PATH` (PATH as resolved in the root), and writes the /etc files.
 */
int rootmnt_setup(int rootfd, const char *root_dir, const struct rootcfg *cfg,
                  const char *cmdline, struct job *job, int test);

#endif /* VMRUN_GUEST_ROOTMNT_H */
