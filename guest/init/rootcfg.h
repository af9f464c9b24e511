/*
 * The job's userland and its image config, from the kernel command line
 * (docs/guest-protocol.md, "The job's userland"):
 *   vmrun.rootfs=vdX | vmrun.rootfs=9p:TAG   the root file system
 *   vmrun.rootfs_rw=1                        vdX read-write, no overlay
 *   vmrun.rootfs_init=1                      the image's init as PID 1
 *   vmrun.env=KEY%3DVALUE (repeatable)       the image's Env
 *   vmrun.cwd=PATH                           its WorkingDir
 *   vmrun.user=SPEC                          its User (user.h)
 * Values are %-encoded like vmrun.cmd's arguments, one field each.
 */
#ifndef VMRUN_GUEST_ROOTCFG_H
#define VMRUN_GUEST_ROOTCFG_H

#include <limits.h>

#include "cmd_decode.h"
#include "user.h"

#define ROOTCFG_ENV_MAX 4096  /* one decoded KEY=VALUE */
#define ROOTCFG_ENV_COUNT 512 /* vmrun.env tokens */

struct rootcfg {
    int active;                /* vmrun.rootfs given */
    int is_9p;                 /* 9p:TAG, in share (mounted at the image dir) */
    char dev[32];              /* vdX */
    struct vmrun_share share;  /* 9p: TAG, where, read-only */
    int rw;                    /* vmrun.rootfs_rw=1 (a disk only) */
    int init;                  /* vmrun.rootfs_init=1 */
    int have_cwd;
    char cwd[PATH_MAX];
    int have_user;
    char user[USER_SPEC_MAX];
};

/*
 * Reads and checks every setting above (the vmrun.env tokens are checked
 * here and applied later by rootcfg_apply_env). share_dir: where a 9p
 * rootfs is to be mounted. Returns 0, or -1 after one line
 * (`vmrun-init: bad vmrun.X=VALUE: reason`).
 */
int rootcfg_parse(const char *cmdline, const char *share_dir, struct rootcfg *cfg);

/*
 * Sets each vmrun.env KEY=VALUE in command line order, replacing init's
 * defaults (the job's env file is read after, and wins). *sets_home: 1 if
 * one of them set HOME. Returns 0, or -1 after one line.
 */
int rootcfg_apply_env(const char *cmdline, int *sets_home);

#endif /* VMRUN_GUEST_ROOTCFG_H */
