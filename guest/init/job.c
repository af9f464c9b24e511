/* The job disk for vmrun-init; see job.h and docs/job-images.md. */
#define _GNU_SOURCE
#include "job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd_decode.h"
#include "modtree.h"
#include "modules.h"
#include "util.h"

#define JOB_MOUNT_POINT "/job"
#define ENV_FILE_MAX (1024 * 1024)
#define DEVICE_NAME_MAX 32

static int mount_job(const char *dev, int read_only)
{
    unsigned long flags = MS_NOATIME | (read_only ? MS_RDONLY : 0);
    ensure_dir(JOB_MOUNT_POINT, 0755);
    if (mount(dev, JOB_MOUNT_POINT, "ext4", flags, NULL) == 0)
        return 0;
    int err = errno;
    if (!read_only && (err == EROFS || err == EACCES) &&
        mount(dev, JOB_MOUNT_POINT, "ext4", flags | MS_RDONLY, NULL) == 0) {
        say("vmrun-init: job disk ", dev, " is read-only; /job is mounted read-only", NULL);
        return 0;
    }
    say("vmrun-init: cannot mount job disk ", dev, " on " JOB_MOUNT_POINT ": ", strerror(err),
        " (is it an ext4 image from vmrun-mkjob?)", NULL);
    return -1;
}

/* KEY: a letter or '_', then letters, digits, '_'. */
static int valid_env_key(const char *key)
{
    if (!((*key >= 'A' && *key <= 'Z') || (*key >= 'a' && *key <= 'z') || *key == '_'))
        return 0;
    for (const char *p = key + 1; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

int job_read_env(const char *path)
{
    char *text;
    int err = read_file_alloc(path, ENV_FILE_MAX, &text);
    if (err == ENOENT)
        return 0;
    if (err != 0) {
        say("vmrun-init: cannot read ", path, ": ", strerror(err), NULL);
        return -1;
    }
    int status = 0, number = 0;
    char *cursor = text, *line;
    while (status == 0 && (line = next_line(&cursor)) != NULL) {
        number++;
        line = skip_blanks(line);
        if (*line == '\0' || *line == '#')
            continue;
        char *eq = strchr(line, '=');
        if (eq != NULL)
            *eq = '\0';
        if (eq == NULL || !valid_env_key(line)) {
            char where[32];
            snprintf(where, sizeof where, " line %d", number);
            say("vmrun-init: ", path, where, ": expected KEY=VALUE (KEY: letters, digits, _)",
                NULL);
            status = -1;
        } else if (setenv(line, eq + 1, 1) != 0) {
            say("vmrun-init: ", path, ": setenv ", line, ": ", strerror(errno), NULL);
            status = -1;
        }
    }
    free(text);
    return status;
}

/* Finds the job directory: the job disk, mounted, or the test directory. */
static int find_job_dir(const char *cmdline, int test, struct job *job)
{
    char name[DEVICE_NAME_MAX], ro[8], dev[DEVICE_NAME_MAX + 8];
    int have = cmdline_get(cmdline, "vmrun.job", name, sizeof name);
    const char *test_dir = test ? getenv("VMRUN_INIT_JOB_DIR") : NULL;

    if (test_dir != NULL) {
        job->active = 1;
        if (realpath(test_dir, job->dir) == NULL) {
            say("vmrun-init: VMRUN_INIT_JOB_DIR ", test_dir, ": ", strerror(errno), NULL);
            return -1;
        }
        return 0;
    }
    if (have == 0)
        return 0;
    job->active = 1;
    if (have < 0 || !valid_device_name(name)) {
        say("vmrun-init: bad vmrun.job (expected a device name such as vda)", NULL);
        return -1;
    }
    if (test) {
        say("vmrun-init: test mode: vmrun.job needs VMRUN_INIT_JOB_DIR", NULL);
        return -1;
    }
    /* vmrun.job_ro=1 (or a bare vmrun.job_ro): read-only; =0 or absent: rw. */
    int read_only = cmdline_get(cmdline, "vmrun.job_ro", ro, sizeof ro) != 0 &&
                    strcmp(ro, "0") != 0;
    snprintf(dev, sizeof dev, "/dev/%s", name);
    strcpy(job->dir, JOB_MOUNT_POINT);
    if (wait_for_block_device(dev, "job disk", JOB_DEVICE_WAIT_MS) != 0 ||
        mount_job(dev, read_only) != 0)
        return -1;
    job->mounted = 1;
    return 0;
}

int job_setup(const char *cmdline, int test, struct job *job)
{
    memset(job, 0, sizeof *job);
    if (find_job_dir(cmdline, test, job) != 0)
        return JOB_SETUP_FAILED;
    /* The module tree also without a job disk: `vmrun -- modprobe x` works. */
    if (modtree_setup(job->active ? job->dir : NULL, test) != 0)
        return JOB_SETUP_FAILED;
    if (!job->active)
        return 0;
    snprintf(job->run, sizeof job->run, "%s/run", job->dir);
    snprintf(job->env, sizeof job->env, "%s/env", job->dir);
    /* Modules first: a job whose driver does not load must not run. */
    return modules_load_job(job->dir, test) != 0 ? JOB_SETUP_FAILED : 0;
}

int job_check_run(const struct job *job)
{
    struct stat st;
    if (stat(job->run, &st) != 0) {
        int err = errno;
        say("vmrun-init: the job has no run file (", job->run, "): ", strerror(err), NULL);
        return err == ENOENT || err == ENOTDIR ? 127 : 126;
    }
    if (!S_ISREG(st.st_mode)) {
        say("vmrun-init: ", job->run, " is not a regular file", NULL);
        return 126;
    }
    if (access(job->run, X_OK) != 0) {
        say("vmrun-init: ", job->run, " is not executable (chmod +x it)", NULL);
        return 126;
    }
    return 0;
}

void job_finish(struct job *job, int test)
{
    if (test || !job->mounted || getpid() != 1)
        return; /* kill(-1) below must never run outside the guest */
    sync();
    int ok = umount(job->dir) == 0;
    if (!ok && errno == EBUSY) {
        kill_leftovers(); /* the job left processes behind that use /job */
        ok = umount(job->dir) == 0 ||
             mount(NULL, job->dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0;
    }
    if (!ok)
        say("vmrun-init: cannot unmount ", job->dir, ": ", strerror(errno),
            " (the image may need e2fsck)", NULL);
    job->mounted = 0;
}
