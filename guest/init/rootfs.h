/*
 * The job's userland (rootcfg.h): vmrun-init builds its root at
 * /run/vmrun/root after the shares, the network, the job disk and the
 * module tree: the image (read-only, under a writable overlay in RAM; or
 * read-write), then inside it /proc, /sys, /dev, /dev/pts, /dev/shm, /tmp,
 * /run, the shares, /job and /lib/modules/REL, and /etc/resolv.conf and
 * /etc/hosts when there is a network. The job runs chrooted there
 * (rootfs_enter, in the child). Init itself stays outside, as PID 1: an
 * initramfs cannot pivot_root (its root, rootfs, can never be unmounted),
 * and init must unmount /job and report the status after the job.
 */
#ifndef VMRUN_GUEST_ROOTFS_H
#define VMRUN_GUEST_ROOTFS_H

#include <limits.h>

#include "job.h"
#include "rootcfg.h"
#include "user.h"

#define ROOTFS_IMAGE_DIR "/run/vmrun/image" /* the image, read-only: the overlay's lower */
#define ROOTFS_RW_DIR "/run/vmrun/rw"       /* tmpfs: the overlay's upper and work */
#define ROOTFS_DIR "/run/vmrun/root"        /* the job's root */
#define ROOTFS_FILES_DIR "/run/vmrun/etc"   /* files bound over a read-write image's */

struct rootfs {
    int active;         /* the job runs in dir */
    int mounted;        /* init mounted it: detached by rootfs_finish */
    int fd;             /* O_PATH of dir while set up; -1 */
    char dir[PATH_MAX]; /* ROOTFS_DIR, or VMRUN_INIT_ROOTFS_DIR in test mode */
};

/*
 * Builds the root if cfg asks for one (in test mode: if VMRUN_INIT_ROOTFS_DIR
 * is set, which stands in for it: nothing is mounted, the mount points are
 * made there and `vmrun-init: test mode: would mount|bind X at PATH` lines
 * printed). With cfg->init, /job is moved into the root rather than bound,
 * so the image's init owns it. Returns 0 (r->active 0 without a rootfs),
 * or -1 after one line; call rootfs_finish() either way.
 */
int rootfs_setup(const struct rootcfg *cfg, const char *cmdline, struct job *job, int test,
                 struct rootfs *r);

/*
 * In the job's child, before exec: chroot to root (NULL: stay), take the
 * user's groups, gid and uid (NULL: stay root), enter cwd (NULL: stay).
 * Returns 0; -1 after a line if the root or the user cannot be taken (a
 * setup failure, 125); or the errno of a failed chdir after `vmrun-init:
 * cannot enter CWD: reason` (126).
 */
int rootfs_enter(const char *root, const struct run_user *user, const char *cwd);

/*
 * vmrun.rootfs_init: moves the root over / (then chroot, as switch_root
 * does) and execs argv there as PID 1. Returns only on failure: -1 after a
 * line if the switch failed (125), or the errno of the failed exec (127 for
 * ENOENT, 126 otherwise). Test mode prints what it would run and returns 0.
 */
int rootfs_switch(struct rootfs *r, char *const argv[], int test);

/*
 * After the job: kills what it left behind (its files keep the root and
 * /job busy) and detaches the root and everything mounted in it, so that
 * job_finish() then releases /job's file system for good and a read-write
 * image is unmounted cleanly too.
 */
void rootfs_finish(struct rootfs *r, int test);

#endif /* VMRUN_GUEST_ROOTFS_H */
