/* Paths inside another root for vmrun-init; see inroot.h. */
#define _GNU_SOURCE
#include "inroot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int inroot_open(int rootfd, const char *path, int flags, mode_t mode)
{
    /* No magic links (/proc/self/...) in the image's symlinks either. */
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd;
    do
        fd = syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : (int)fd;
}

/*
 * Resolves the whole prefix from the root each time (not component by
 * component from the last directory), so that a symlink's `..` or
 * absolute target is taken relative to the root, as in a chroot.
 */
int inroot_mkdirs(int rootfd, const char *path)
{
    char prefix[PATH_MAX], name[NAME_MAX + 1];
    size_t len = 0;
    int cur = inroot_open(rootfd, "/", O_PATH | O_DIRECTORY, 0);
    for (const char *p = path; cur >= 0;) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            return cur;
        size_t n = strcspn(p, "/");
        if (n > NAME_MAX || len + 1 + n >= sizeof prefix) {
            close(cur);
            return -ENAMETOOLONG;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        prefix[len++] = '/';
        memcpy(prefix + len, p, n);
        len += n;
        prefix[len] = '\0';
        p += n;
        int next = inroot_open(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
        if (next == -ENOENT) {
            /* A dangling symlink gives EEXIST here and ENOENT again below. */
            if (mkdirat(cur, name, 0755) != 0 && errno != EEXIST)
                next = -errno;
            else
                next = inroot_open(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
        }
        close(cur);
        cur = next;
    }
    return cur;
}

int inroot_read(int rootfd, const char *path, size_t max, char **out)
{
    struct stat st;
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = inroot_open(rootfd, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return -fd;
    int err = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
    char *buf = err == 0 ? malloc(max + 1) : NULL;
    size_t len = 0;
    if (err == 0 && buf == NULL)
        err = ENOMEM;
    while (err == 0) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            err = errno;
        else if (n == 0)
            break;
        else if ((len += (size_t)n) > max)
            err = EFBIG;
    }
    close(fd);
    if (err != 0) {
        free(buf);
        return err;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

const char *inroot_fd_path(int fd, char buf[32])
{
    snprintf(buf, 32, "/proc/self/fd/%d", fd);
    return buf;
}

void inroot_where(int fd, const char *root_path, char *out, size_t outlen)
{
    char link[32], real[PATH_MAX];
    ssize_t n = readlink(inroot_fd_path(fd, link), real, sizeof real - 1);
    size_t rl = strlen(root_path);
    if (n < 0) {
        snprintf(out, outlen, "?");
        return;
    }
    real[n] = '\0';
    if (strncmp(real, root_path, rl) == 0 && (real[rl] == '/' || real[rl] == '\0'))
        snprintf(out, outlen, "%s", real[rl] ? real + rl : "/");
    else
        snprintf(out, outlen, "%s", real);
}
