/* Shared directories (virtio-9p) for vmrun-init; see shares.h. */
#define _GNU_SOURCE
#include "shares.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "cmd_decode.h"
#include "util.h"

/* A raw (still encoded) value: every path byte may take 3. */
#define SHARE_VALUE_MAX (3 * VMRUN_SHARE_PATH_MAX + 64)

/*
 * mkdir -p with mode 0755; path must be absolute. Returns 0 once path is a
 * directory, or an errno value (ENOTDIR if it exists as something else).
 */
static int make_dirs(char *path)
{
    struct stat st;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0'; /* path up to this component */
        int err = mkdir(path, 0755) != 0 && errno != EEXIST ? errno : 0;
        *p = c;
        if (err != 0)
            return err;
        if (c == '\0')
            break;
    }
    if (stat(path, &st) != 0)
        return errno;
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

/* Mounts the share, retrying while its device has not shown up yet. */
static int mount_share(const struct vmrun_share *s)
{
    unsigned long flags = s->read_only ? MS_RDONLY : 0;
    long deadline = now_ms() + SHARE_MOUNT_WAIT_MS;
    for (;;) {
        if (mount(s->tag, s->path, "9p", flags, SHARE_MOUNT_OPTIONS) == 0)
            return 0;
        int err = errno; /* ENOENT: 9pnet_virtio knows no device with the tag */
        if (err != ENOENT || now_ms() >= deadline)
            return err;
        sleep_ms(SHARE_MOUNT_POLL_MS);
    }
}

static int fail(const struct vmrun_share *s, int err)
{
    const char *hint = err == ENOENT   ? " (no virtio-9p device with this tag)"
                       : err == ENODEV ? " (the kernel has no 9p file system)"
                                       : "";
    say("vmrun-init: cannot mount 9p share ", s->tag, " at ", s->path, ": ", strerror(err),
        hint, NULL);
    return -1;
}

/*
 * Test mode: VMRUN_INIT_SHARE_ROOT stands in for /, and the directory is
 * only created there.
 */
static int pretend_mount(const struct vmrun_share *s)
{
    static char root[PATH_MAX], where[PATH_MAX + VMRUN_SHARE_PATH_MAX];
    const char *env = getenv("VMRUN_INIT_SHARE_ROOT");
    if (env == NULL) {
        say("vmrun-init: test mode: vmrun.9p needs VMRUN_INIT_SHARE_ROOT", NULL);
        return -1;
    }
    if (realpath(env, root) == NULL) {
        say("vmrun-init: VMRUN_INIT_SHARE_ROOT ", env, ": ", strerror(errno), NULL);
        return -1;
    }
    snprintf(where, sizeof where, "%s%s", root, s->path);
    int err = make_dirs(where);
    if (err != 0)
        return fail(s, err);
    say("vmrun-init: test mode: would mount ", s->tag, " at ", s->path,
        s->read_only ? " (ro)" : " (rw)", NULL);
    return 0;
}

int shares_mount_one(struct vmrun_share *s)
{
    int err = make_dirs(s->path);
    if (err == 0)
        err = mount_share(s);
    return err == 0 ? 0 : fail(s, err);
}

static int setup_share(struct vmrun_share *s, int test)
{
    return test ? pretend_mount(s) : shares_mount_one(s);
}

int shares_mount(const char *cmdline, int test)
{
    static char value[SHARE_VALUE_MAX]; /* static: keep PID 1's stack small */
    static struct vmrun_share share;
    const char *cursor = cmdline;
    int have;

    while ((have = cmdline_next(&cursor, "vmrun.9p", value, sizeof value)) != 0) {
        enum vmrun_share_result r =
            have < 0 ? VMRUN_SHARE_TOO_LONG : vmrun_share_parse(value, &share);
        if (r != VMRUN_SHARE_OK) {
            say("vmrun-init: bad vmrun.9p=", value, ": ", vmrun_share_result_str(r), NULL);
            return -1;
        }
        if (setup_share(&share, test) != 0)
            return -1;
    }
    return 0;
}
