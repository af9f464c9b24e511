/* The job's root file system for vmrun-init; see rootfs.h. */
#define _GNU_SOURCE
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inroot.h"
#include "rootmnt.h"
#include "shares.h"
#include "util.h"

#define OVERLAY_OPTIONS                                                                    \
    "lowerdir=" ROOTFS_IMAGE_DIR ",upperdir=" ROOTFS_RW_DIR "/upper,workdir=" ROOTFS_RW_DIR \
    "/work"

static int mount_or_say(const char *src, const char *dir, const char *type, unsigned long flags,
                        const char *data, const char *what, const char *hint)
{
    if (mount(src, dir, type, flags, data) == 0)
        return 0;
    int err = errno;
    say("vmrun-init: cannot mount ", what, ": ", strerror(err), err == ENODEV ? hint : "", NULL);
    return -1;
}

/* A writable layer in RAM over the read-only image: the image never changes. */
static int mount_overlay(void)
{
    ensure_dir(ROOTFS_RW_DIR, 0755);
    ensure_dir(ROOTFS_DIR, 0755);
    if (mount_or_say("tmpfs", ROOTFS_RW_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755",
                     "a tmpfs for the rootfs's overlay", "") != 0)
        return -1;
    ensure_dir(ROOTFS_RW_DIR "/upper", 0755);
    ensure_dir(ROOTFS_RW_DIR "/work", 0755);
    return mount_or_say("overlay", ROOTFS_DIR, "overlay", 0, OVERLAY_OPTIONS, "the rootfs's overlay",
                        " (no overlay file system: is overlay in the initramfs?)");
}

static int mount_disk(const struct rootcfg *cfg)
{
    char dev[48];
    const char *dir = cfg->rw ? ROOTFS_DIR : ROOTFS_IMAGE_DIR;
    unsigned long flags = MS_NOATIME | (cfg->rw ? 0 : MS_RDONLY);
    snprintf(dev, sizeof dev, "/dev/%s", cfg->dev);
    if (wait_for_block_device(dev, "rootfs disk", JOB_DEVICE_WAIT_MS) != 0)
        return -1;
    ensure_dir(dir, 0755);
    if (mount(dev, dir, "ext4", flags, NULL) == 0)
        return 0;
    int err = errno;
    /* A journal to replay on a read-only disk: ext4 refuses; read it as it is. */
    if (!cfg->rw && err == EROFS && mount(dev, dir, "ext4", flags, "noload") == 0) {
        say("vmrun-init: the rootfs ", dev, " was not cleanly unmounted; using it without",
            " replaying its journal (the disk is read-only)", NULL);
        return 0;
    }
    say("vmrun-init: cannot mount the rootfs ", dev, cfg->rw ? " read-write" : "", ": ",
        strerror(err),
        cfg->rw && (err == EROFS || err == EACCES) ? " (the disk is read-only)"
                                                   : " (is it an ext4 image?)",
        NULL);
    return -1;
}

static int mount_image(const struct rootcfg *cfg)
{
    ensure_dir("/run/vmrun", 0755);
    if (cfg->is_9p) {
        struct vmrun_share share = cfg->share; /* shares_mount_one wants it writable */
        return shares_mount_one(&share) != 0 ? -1 : mount_overlay();
    }
    if (mount_disk(cfg) != 0)
        return -1;
    return cfg->rw ? 0 : mount_overlay();
}

static void describe_image(const struct rootcfg *cfg)
{
    char what[128];
    if (cfg->is_9p)
        snprintf(what, sizeof what, "9p share %s read-only", cfg->share.tag);
    else
        snprintf(what, sizeof what, "/dev/%s %s", cfg->dev, cfg->rw ? "read-write" : "read-only");
    say("vmrun-init: test mode: would mount the rootfs ", what,
        cfg->is_9p || !cfg->rw ? " under an overlay in RAM" : "", NULL);
}

int rootfs_setup(const struct rootcfg *cfg, const char *cmdline, struct job *job, int test,
                 struct rootfs *r)
{
    const char *dir = test ? getenv("VMRUN_INIT_ROOTFS_DIR") : NULL;
    memset(r, 0, sizeof *r);
    r->fd = -1;
    if (!cfg->active && dir == NULL)
        return 0;
    r->active = 1;
    if (test && dir == NULL) {
        say("vmrun-init: test mode: vmrun.rootfs needs VMRUN_INIT_ROOTFS_DIR", NULL);
        return -1;
    }
    if (test) {
        if (realpath(dir, r->dir) == NULL) {
            say("vmrun-init: VMRUN_INIT_ROOTFS_DIR ", dir, ": ", strerror(errno), NULL);
            return -1;
        }
        if (cfg->active)
            describe_image(cfg);
    } else {
        strcpy(r->dir, ROOTFS_DIR);
        r->mounted = 1; /* whatever got mounted is detached at the end */
        if (mount_image(cfg) != 0)
            return -1;
    }
    r->fd = open(r->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (r->fd < 0) {
        say("vmrun-init: cannot open the rootfs ", r->dir, ": ", strerror(errno), NULL);
        return -1;
    }
    return rootmnt_setup(r->fd, r->dir, cfg, cmdline, job, test);
}

int rootfs_enter(const char *root, const struct run_user *user, const char *cwd)
{
    if (root != NULL && (chroot(root) != 0 || chdir("/") != 0)) {
        say("vmrun-init: cannot enter the rootfs: ", strerror(errno), NULL);
        return -1;
    }
    /* Groups first: after setuid the process may no longer change them. */
    if (user != NULL && (setgroups(user->ngroups, user->groups) != 0 ||
                         setgid(user->gid) != 0 || setuid(user->uid) != 0)) {
        char ids[48];
        snprintf(ids, sizeof ids, "%lu:%lu", (unsigned long)user->uid,
                 (unsigned long)user->gid);
        say("vmrun-init: cannot become ", ids, ": ", strerror(errno), NULL);
        return -1;
    }
    /* As the user: a directory they cannot enter fails as it would for them. */
    if (cwd != NULL && chdir(cwd) != 0) {
        int err = errno;
        say("vmrun-init: cannot enter ", cwd, ": ", strerror(err), NULL);
        return err;
    }
    return 0;
}

int rootfs_switch(struct rootfs *r, char *const argv[], int test)
{
    if (test) {
        say("vmrun-init: test mode: would switch to the rootfs and run ", argv[0], " as PID 1",
            NULL);
        return 0;
    }
    /* Checked while there is still a way back (a status, a clean /job). */
    if (strchr(argv[0], '/') != NULL) {
        int fd = inroot_open(r->fd, argv[0], O_PATH, 0);
        if (fd < 0) {
            say("vmrun-init: cannot run '", argv[0], "' in the rootfs: ", strerror(-fd), NULL);
            return -fd;
        }
        close(fd);
    }
    close(r->fd);
    r->fd = -1;
    /* switch_root's way: the new root's mount over /, then chroot into it. */
    if (chdir(r->dir) != 0 || mount(r->dir, "/", NULL, MS_MOVE, NULL) != 0 ||
        chroot(".") != 0 || chdir("/") != 0) {
        say("vmrun-init: cannot switch to the rootfs: ", strerror(errno), NULL);
        return -1;
    }
    r->mounted = 0;           /* it is / now */
    signal(SIGTTOU, SIG_DFL); /* init ignores it, and exec would keep that */
    execvp(argv[0], argv);
    int err = errno;
    say("vmrun-init: cannot run '", argv[0], "': ", strerror(err), NULL);
    return err;
}

void rootfs_finish(struct rootfs *r, int test)
{
    static const char *const dirs[] = {ROOTFS_DIR, ROOTFS_RW_DIR, ROOTFS_IMAGE_DIR};
    if (r->fd >= 0)
        close(r->fd); /* it holds the root */
    r->fd = -1;
    if (test || !r->mounted || getpid() != 1)
        return; /* kill(-1) must never run outside the guest */
    sync();
    kill_leftovers();
    /*
     * Lazily: one call takes the root and everything mounted in it. With
     * nothing left that uses them the file systems go at once (the last
     * reference is dropped before umount2 returns), the bind of /job too.
     */
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (umount2(dirs[i], MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
            say("vmrun-init: cannot unmount ", dirs[i], ": ", strerror(errno), NULL);
    r->mounted = 0;
}
