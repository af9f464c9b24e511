/* The guest's module tree for vmrun-init; see modtree.h. */
#define _GNU_SOURCE
#include "modtree.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "util.h"

#define RELEASE_FILE_MAX 256

static int assembled; /* modtree_setup() made the tree (see modtree_assembled) */

int modtree_assembled(void)
{
    return assembled;
}

const char *modtree_release(int test)
{
    static struct utsname u;
    const char *fake = test ? getenv("VMRUN_INIT_KERNEL_RELEASE") : NULL;
    if (fake != NULL)
        return fake;
    return uname(&u) == 0 ? u.release : "(unknown)";
}

const char *modtree_dir(int test)
{
    static char dir[PATH_MAX];
    if (test)
        return getenv("VMRUN_INIT_MODULES_DIR");
    snprintf(dir, sizeof dir, "/lib/modules/%s", modtree_release(test));
    return dir;
}

/* 1 if path is a directory, 0 if it is absent, -1 (after a line) if neither. */
static int is_dir(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        say("vmrun-init: cannot use ", path, ": ", strerror(errno), NULL);
        return -1;
    }
    if (S_ISDIR(st.st_mode))
        return 1;
    say("vmrun-init: ", path, " is not a directory", NULL);
    return -1;
}

/* A job built for another kernel must not run: its modules would not load. */
static int check_release(const char *job_dir, const char *release)
{
    char path[PATH_MAX + 32], text[RELEASE_FILE_MAX];
    snprintf(path, sizeof path, "%s/" MODTREE_JOB_KERNEL, job_dir);
    int err = read_file(path, text, sizeof text);
    if (err == ENOENT)
        return 0;
    if (err != 0) {
        say("vmrun-init: cannot read ", path, ": ", strerror(err), NULL);
        return -1;
    }
    char *cursor = text, *line = next_line(&cursor);
    line = skip_blanks(line != NULL ? line : text);
    line[strcspn(line, " \t")] = '\0';
    if (*line == '\0') {
        say("vmrun-init: ", path, ": expected the kernel release the job's modules are for",
            NULL);
        return -1;
    }
    if (strcmp(line, release) == 0)
        return 0;
    say("vmrun-init: this job's modules were built for ", line, "; the guest kernel is ",
        release, " (rebuild with vmrun-mkjob --dkms, or boot that kernel)", NULL);
    return -1;
}

/*
 * Links each entry of from into to (to/NAME -> from/NAME), replacing a
 * same-named link when replace is set.
 */
static int link_entries(const char *from, const char *to, int replace)
{
    static char target[PATH_MAX], link[PATH_MAX];
    DIR *d = opendir(from);
    if (d == NULL) {
        say("vmrun-init: cannot read ", from, ": ", strerror(errno), NULL);
        return -1;
    }
    int status = 0, count = 0;
    struct dirent *e;
    while (status == 0 && (errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (++count > MODTREE_ENTRIES_MAX) {
            say("vmrun-init: ", from, ": too many entries", NULL);
            status = -1;
        } else if ((size_t)snprintf(target, sizeof target, "%s/%s", from, e->d_name) >=
                       sizeof target ||
                   (size_t)snprintf(link, sizeof link, "%s/%s", to, e->d_name) >= sizeof link) {
            say("vmrun-init: ", from, ": a name is too long", NULL);
            status = -1;
        } else if ((replace && unlink(link) != 0 && errno != ENOENT) ||
                   symlink(target, link) != 0) {
            say("vmrun-init: cannot link ", link, " to ", target, ": ", strerror(errno), NULL);
            status = -1;
        }
    }
    if (status == 0 && e == NULL && errno != 0) {
        say("vmrun-init: cannot read ", from, ": ", strerror(errno), NULL);
        status = -1;
    }
    closedir(d);
    return status;
}

/* Test mode: dir stands in for the tmpfs, so it must start empty. */
static int pretend_tmpfs(const char *dir, const char *release)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        say("vmrun-init: VMRUN_INIT_MODULES_DIR ", dir, ": ", strerror(errno), NULL);
        return -1;
    }
    DIR *d = opendir(dir);
    struct dirent *e = NULL;
    while (d != NULL && (e = readdir(d)) != NULL &&
           (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)) {
    }
    if (d != NULL)
        closedir(d);
    if (d == NULL || e != NULL) {
        say("vmrun-init: test mode: VMRUN_INIT_MODULES_DIR ", dir, " must be an empty directory",
            NULL);
        return -1;
    }
    say("vmrun-init: test mode: would mount a tmpfs on /lib/modules/", release, NULL);
    return 0;
}

static int mount_tmpfs(const char *dir)
{
    ensure_dir("/lib", 0755);
    ensure_dir("/lib/modules", 0755);
    ensure_dir(dir, 0755);
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0)
        return 0;
    say("vmrun-init: cannot mount a tmpfs on ", dir, ": ", strerror(errno), NULL);
    return -1;
}

int modtree_setup(const char *job_dir, int test)
{
    static char share[PATH_MAX], job[PATH_MAX], root_buf[PATH_MAX];
    const char *release = modtree_release(test), *dir = modtree_dir(test);
    const char *root = test ? getenv("VMRUN_INIT_SHARE_ROOT") : "";

    /* Absolute: the links' targets must not depend on where the links are. */
    if (test && root != NULL)
        root = realpath(root, root_buf);

    if (job_dir != NULL && check_release(job_dir, release) != 0)
        return -1;
    int have_share = 0, have_job = 0;
    if (root != NULL) {
        snprintf(share, sizeof share, "%s" MODTREE_SHARE_DIR, root);
        if ((have_share = is_dir(share)) < 0)
            return -1;
    }
    if (job_dir != NULL) {
        snprintf(job, sizeof job, "%s/" MODTREE_JOB_DIR, job_dir);
        if ((have_job = is_dir(job)) < 0)
            return -1;
    }
    if (!have_share && !have_job)
        return 0; /* a custom kernel, and a job without modules of its own */
    if (dir == NULL) {
        say("vmrun-init: test mode: the module tree needs VMRUN_INIT_MODULES_DIR", NULL);
        return -1;
    }
    if (test ? pretend_tmpfs(dir, release) != 0 : mount_tmpfs(dir) != 0)
        return -1;
    assembled = 1;
    if (have_share && link_entries(share, dir, 0) != 0)
        return -1;
    return have_job ? link_entries(job, dir, 1) : 0;
}
