/*
 * The job disk (docs/job-images.md): an ext4 image that vmrun attaches as
 * a virtio-blk disk, named on the kernel command line by `vmrun.job=NAME`.
 * vmrun-init mounts it at /job, loads the job's modules (/job/modules),
 * sets its environment (/job/env), runs /job/run in /job, and afterwards
 * unmounts it so the host finds a clean file system.
 */
#ifndef VMRUN_GUEST_JOB_H
#define VMRUN_GUEST_JOB_H

#include <limits.h>

/*
 * Init's status (kind 2) when the job disk (or a shared directory, see
 * shares.h) cannot be set up: nothing ran.
 */
#define JOB_SETUP_FAILED 125

/* How long to wait for the job disk's device node (looking every 10 ms). */
#define JOB_DEVICE_WAIT_MS 10000

struct job {
    int active;             /* a job disk was asked for */
    int mounted;            /* dir is our mount, to unmount at the end */
    char dir[PATH_MAX];     /* "/job", or VMRUN_INIT_JOB_DIR in test mode */
    char run[PATH_MAX + 8]; /* dir + "/run" */
    char env[PATH_MAX + 8]; /* dir + "/env", read by the caller (job_read_env) */
};

/*
 * Reads vmrun.job / vmrun.job_ro from cmdline. Without vmrun.job (and, in
 * test mode, without VMRUN_INIT_JOB_DIR) there is no job disk: returns 0
 * with job->active 0. Otherwise waits for /dev/NAME, mounts it at /job,
 * loads the job's modules and reads its env file into the environment.
 * Test mode mounts nothing and loads nothing: the job directory is
 * VMRUN_INIT_JOB_DIR. Returns 0, or JOB_SETUP_FAILED after printing a line
 * (call job_finish() either way).
 */
int job_setup(const char *cmdline, int test, struct job *job);

/*
 * Checks that the job's run file can be executed. Returns 0, or 127 (no
 * such file) or 126 (not an executable file) after printing a line.
 */
int job_check_run(const struct job *job);

/*
 * After the job (and after rootfs_finish(), which drops the rootfs's bind
 * of /job): syncs and unmounts /job. If something still uses it
 * (processes the job left behind), kills every remaining process first.
 * Does nothing in test mode or when nothing was mounted.
 */
void job_finish(struct job *job, int test);

/*
 * Parses an env file (KEY=VALUE lines, '#' comments and blank lines
 * skipped, no quoting or expansion: VALUE is the rest of the line) and
 * sets each variable. A missing file is fine. Returns 0, or -1 after
 * printing a line naming the bad line. Exposed for the job and its tests.
 */
int job_read_env(const char *path);

#endif /* VMRUN_GUEST_JOB_H */
