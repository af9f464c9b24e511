/* The mounts inside the job's root for vmrun-init; see rootmnt.h. */
#define _GNU_SOURCE
#include "rootmnt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inroot.h"
#include "modtree.h"
#include "rootfs.h"
#include "util.h"

#define RESOLV_MAX 65536
#define HOSTS_TEXT "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

struct where {
    int fd;          /* the root */
    const char *dir; /* its path in init's view */
    int test;
};

/*
 * Mounts src on fd (a place already resolved inside the root, shown as
 * path); closes fd. See rootmnt.h for test mode.
 */
static int mount_at(const struct where *w, int fd, const char *src, const char *path,
                    const char *type, unsigned long flags, const char *data)
{
    char link[32], at[PATH_MAX];
    int err = 0;
    if (w->test) {
        inroot_where(fd, w->dir, at, sizeof at);
        say("vmrun-init: test mode: would ",
            flags & MS_MOVE ? "move " : flags & MS_BIND ? "bind " : "mount ", src, " at ", at,
            NULL);
    } else if (mount(src, inroot_fd_path(fd, link), type, flags, data) != 0) {
        err = errno;
        say("vmrun-init: cannot mount ", src, " at ", path, " in the rootfs: ", strerror(err),
            NULL);
    }
    close(fd);
    return err == 0 ? 0 : -1;
}

/* Mounts src at the directory path inside the root, making it. */
static int mount_in(const struct where *w, const char *src, const char *path, const char *type,
                    unsigned long flags, const char *data)
{
    int fd = inroot_mkdirs(w->fd, path);
    if (fd < 0) {
        say("vmrun-init: cannot make ", path, " in the rootfs: ", strerror(-fd), NULL);
        return -1;
    }
    return mount_at(w, fd, src, path, type, flags, data);
}

static int mount_basics(const struct where *w)
{
    const unsigned long tmp = MS_NOSUID | MS_NODEV;
    if (mount_in(w, "proc", "/proc", "proc", tmp | MS_NOEXEC, NULL) != 0 ||
        mount_in(w, "sysfs", "/sys", "sysfs", tmp | MS_NOEXEC, NULL) != 0 ||
        mount_in(w, "/dev", "/dev", NULL, MS_BIND | MS_REC, NULL) != 0 ||
        mount_in(w, "tmpfs", "/dev/shm", "tmpfs", tmp, "mode=1777") != 0 ||
        mount_in(w, "tmpfs", "/tmp", "tmpfs", tmp, "mode=1777") != 0)
        return -1;
    return mount_in(w, "tmpfs", "/run", "tmpfs", tmp, "mode=0755");
}

/* Each share as init mounted it (shares.c has checked the tokens). */
static int bind_shares(const struct where *w, const char *cmdline)
{
    static char value[3 * VMRUN_SHARE_PATH_MAX + 64], src[PATH_MAX + VMRUN_SHARE_PATH_MAX];
    static struct vmrun_share s;
    const char *cursor = cmdline;
    const char *root = w->test ? getenv("VMRUN_INIT_SHARE_ROOT") : "";
    while (cmdline_next(&cursor, "vmrun.9p", value, sizeof value) > 0)
        if (vmrun_share_parse(value, &s) == VMRUN_SHARE_OK) {
            snprintf(src, sizeof src, "%s%s", root ? root : "", s.path);
            if (mount_in(w, src, s.path, NULL, MS_BIND, NULL) != 0)
                return -1;
        }
    return 0;
}

/* Writes all of text to fd; 0 or an errno value. */
static int write_all(int fd, const char *text)
{
    for (size_t left = strlen(text); left > 0;) {
        ssize_t n = write(fd, text, left);
        if (n < 0 && errno != EINTR)
            return errno;
        if (n > 0) {
            text += n;
            left -= (size_t)n;
        }
    }
    return 0;
}

/* Into the overlay: whatever is there (a symlink, say) gives way to a file. */
static int write_etc(const struct where *w, const char *name, const char *text)
{
    int etc = inroot_mkdirs(w->fd, "/etc"), fd = -1, err;
    if (etc < 0) {
        err = -etc;
    } else if (unlinkat(etc, name, 0) != 0 && errno != ENOENT) {
        err = errno;
    } else {
        fd = openat(etc, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        err = fd < 0 ? errno : write_all(fd, text);
    }
    if (fd >= 0)
        close(fd);
    if (etc >= 0)
        close(etc);
    if (err != 0)
        say("vmrun-init: cannot write /etc/", name, " in the rootfs: ", strerror(err), NULL);
    else if (w->test)
        say("vmrun-init: test mode: wrote /etc/", name, NULL);
    return err == 0 ? 0 : -1;
}

/* Over a read-write image: bound over its own regular file, if it has one. */
static int bind_etc(const struct where *w, const char *name, const char *text)
{
    char path[64], src[64];
    struct stat st;
    snprintf(path, sizeof path, "/etc/%s", name);
    int fd = inroot_open(w->fd, path, O_PATH, 0);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    snprintf(src, sizeof src, ROOTFS_FILES_DIR "/%s", name);
    if (!w->test) {
        ensure_dir(ROOTFS_FILES_DIR, 0755);
        int out = open(src, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int err = out < 0 ? errno : write_all(out, text);
        if (out >= 0)
            close(out);
        if (err != 0) {
            say("vmrun-init: cannot write ", src, ": ", strerror(err), NULL);
            close(fd);
            return -1;
        }
    }
    return mount_at(w, fd, src, path, NULL, MS_BIND, NULL);
}

/* 1 if the image's /etc/hosts is a regular file with something in it. */
static int has_hosts(const struct where *w)
{
    struct stat st;
    int fd = inroot_open(w->fd, "/etc/hosts", O_RDONLY | O_NONBLOCK, 0);
    int yes = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
    if (fd >= 0)
        close(fd);
    return yes;
}

static int provide_etc(const struct where *w, const struct rootcfg *cfg, const char *cmdline)
{
    char net[4], path[PATH_MAX], *resolv = NULL;
    if (cmdline_get(cmdline, "vmrun.net", net, sizeof net) == 0)
        return 0; /* no network: the image's own files stay */
    const char *root = w->test ? getenv("VMRUN_INIT_SHARE_ROOT") : "";
    snprintf(path, sizeof path, "%s/etc/resolv.conf", root ? root : "/nonexistent");
    int err = read_file_alloc(path, RESOLV_MAX, &resolv), status = 0;
    if (err != 0 && err != ENOENT) {
        say("vmrun-init: cannot read ", path, ": ", strerror(err), NULL);
        return -1;
    }
    int (*put)(const struct where *, const char *, const char *) =
        cfg->rw ? bind_etc : write_etc;
    if (resolv != NULL)
        status = put(w, "resolv.conf", resolv);
    if (status == 0 && !has_hosts(w))
        status = put(w, "hosts", HOSTS_TEXT);
    free(resolv);
    return status;
}

int rootmnt_setup(int rootfd, const char *root_dir, const struct rootcfg *cfg,
                  const char *cmdline, struct job *job, int test)
{
    char modules[PATH_MAX];
    const struct where w = {rootfd, root_dir, test};
    if (mount_basics(&w) != 0 || bind_shares(&w, cmdline) != 0)
        return -1;
    if (job->active) {
        /* Moved for the image's init, so that it alone holds /job and can unmount it. */
        int move = cfg->init && (job->mounted || test);
        if (mount_in(&w, job->dir, "/job", NULL, move ? MS_MOVE : MS_BIND, NULL) != 0)
            return -1;
        if (move && !test)
            job->mounted = 0;
    }
    if (modtree_assembled()) {
        const char *tree = modtree_dir(test);
        snprintf(modules, sizeof modules, "/lib/modules/%s", modtree_release(test));
        if (mount_in(&w, tree ? tree : "?", modules, NULL, MS_BIND, NULL) != 0)
            return -1;
    }
    return provide_etc(&w, cfg, cmdline);
}
