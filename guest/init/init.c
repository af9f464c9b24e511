/*
 * vmrun-init: the guest's PID 1. Mounts the basic filesystems, loads the
 * initramfs's modules, runs the job given by `vmrun.cmd=` on the kernel
 * command line (or, with `vmrun.job=`, the job disk's /job/run; job.c) on
 * the console, after mounting the `vmrun.9p=` shared directories
 * (shares.c) and configuring the `vmrun.net=` interfaces (net.c), in the
 * image's own userland with `vmrun.rootfs=` (rootfs.c; run.c runs it
 * there), and reports how it ended through the exit port
 * (docs/guest-protocol.md).
 *
 * Test mode (VMRUN_INIT_TEST=1, for running on the host): no mounts, no
 * modules, no console, no port I/O, no power-off; the command line comes
 * from VMRUN_INIT_CMDLINE if set, VMRUN_INIT_JOB_DIR stands in for a
 * mounted job disk, VMRUN_INIT_SHARE_ROOT for / when creating the shares'
 * mount points, VMRUN_INIT_ROOTFS_DIR for the job's root (only mount
 * points are made in it and users resolved against it; what would run is
 * printed instead of run), and the status word is printed to stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd_decode.h"
#include "dmesg.h"
#include "job.h"
#include "modules.h"
#include "net.h"
#include "rootcfg.h"
#include "rootfs.h"
#include "run.h"
#include "shares.h"
#include "user.h"
#include "util.h"

#define EXIT_PORT 0xf4

/* Big enough for any kernel's command line (x86 allows 2 KiB). */
#define CMDLINE_MAX 65536

/* Mounts one filesystem; EBUSY means it is already there, which is fine. */
static void mount_one(const char *type, const char *target, unsigned long flags,
                      const char *data)
{
    ensure_dir(target, 0755);
    if (mount(type, target, type, flags, data) != 0 && errno != EBUSY)
        say("vmrun-init: mount ", target, ": ", strerror(errno), NULL);
}

/* The filesystems jobs expect; failures are reported but not fatal. */
static void mount_all(void)
{
    mount_one("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("devtmpfs", "/dev", MS_NOSUID, "mode=0755");
    mount_one("devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
    mount_one("tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_one("tmpfs", "/run", MS_NOSUID | MS_NODEV, "mode=0755");
}

/*
 * Points fds 0-2 at /dev/console. The kernel only does this if the
 * initramfs has a /dev/console node; after mounting devtmpfs we always can.
 * O_NOCTTY: init makes it its controlling tty explicitly, in main().
 */
static void attach_console(void)
{
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0) {
        say("vmrun-init: open /dev/console: ", strerror(errno), NULL);
        return;
    }
    for (int i = 0; i < 3; i++)
        if (fd != i)
            dup2(fd, i);
    if (fd > 2)
        close(fd);
}

/*
 * The console is a pipe to vmrun's stdout, not a terminal: pass bytes
 * through unchanged (no \n -> \r\n) and do not echo input back, since the
 * host side (a terminal or a file) already shows what it sends.
 */
static void make_console_transparent(void)
{
    struct termios tio;
    if (tcgetattr(STDIN_FILENO, &tio) != 0)
        return;
    tio.c_oflag &= ~(tcflag_t)ONLCR;
    tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    tcsetattr(STDIN_FILENO, TCSANOW, &tio);
}

static void set_env(void)
{
    setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
    setenv("HOME", "/root", 1);
    setenv("TERM", "linux", 1);
}

/* Gets the command line text: /proc/cmdline, or the test override. */
static int get_cmdline(int test, char *buf, size_t size)
{
    const char *fake = test ? getenv("VMRUN_INIT_CMDLINE") : NULL;
    if (fake == NULL)
        return read_file("/proc/cmdline", buf, size);
    if (strlen(fake) >= size)
        return EFBIG;
    strcpy(buf, fake);
    return 0;
}

/*
 * The job's user and environment, in this order: init's defaults, the
 * image's Env (vmrun.env), HOME from the user's passwd entry unless that
 * Env set it, and last the job's env file, which wins.
 */
static int prepare(int test, const char *cmdline, const struct rootcfg *cfg,
                   const struct rootfs *root, const struct job *job, struct run_user *user)
{
    int sets_home;
    if (rootcfg_apply_env(cmdline, &sets_home) != 0)
        return -1;
    if (cfg->have_user && !cfg->init) {
        if (test && !root->active) {
            say("vmrun-init: test mode: vmrun.user needs VMRUN_INIT_ROOTFS_DIR", NULL);
            return -1;
        }
        int fd = root->active ? root->fd : open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        int rc = user_resolve(fd, root->active ? "the image's" : "the initramfs's", cfg->user,
                              user);
        if (!root->active && fd >= 0)
            close(fd);
        if (rc != 0)
            return -1;
        if (!sets_home && setenv("HOME", user->home, 1) != 0)
            return -1;
    }
    return job->active ? job_read_env(job->env) : 0;
}

/*
 * Runs what the command line asks for: vmrun.cmd (absent: a shell) or,
 * with a job disk, its run file (vmrun.cmd, if given, instead) in its
 * directory; in the image's root with vmrun.rootfs, or the image's init
 * in its place with vmrun.rootfs_init. Returns the status word.
 */
static uint32_t run_from_cmdline(int test)
{
    static char cmdline[CMDLINE_MAX]; /* static: keep PID 1's stack small */
    static struct vmrun_cmd cmd;      /* static: argv points into it */
    static struct job job;
    static struct rootcfg cfg;
    static struct rootfs root = {.fd = -1};
    static struct run_user user;
    static char sh[] = "/bin/sh", sbin_init[] = "/sbin/init", job_run[] = "/job/run";
    static char *const shell[] = {sh, NULL}, *const image_init[] = {sbin_init, NULL};

    int err = get_cmdline(test, cmdline, sizeof cmdline);
    if (err != 0) {
        say("vmrun-init: cannot read /proc/cmdline: ", strerror(err), NULL);
        return status_word(KIND_INIT_FAILED, 127);
    }
    enum vmrun_cmd_result r = vmrun_cmd_decode(cmdline, &cmd);
    if (r != VMRUN_CMD_FOUND && r != VMRUN_CMD_NOT_FOUND) {
        say("vmrun-init: bad vmrun.cmd: ", vmrun_cmd_result_str(r), NULL);
        return status_word(KIND_INIT_FAILED, 127);
    }

    /*
     * The settings first (a bad one mounts nothing), then shares and the
     * network before the job disk and the job, which may use them, then
     * the root, which binds them all. If one fails, job and root stay
     * all zero (static) and job_finish(), rootfs_finish() do nothing.
     */
    uint32_t word;
    int st = rootcfg_parse(cmdline, ROOTFS_IMAGE_DIR, &cfg) != 0 ||
                     shares_mount(cmdline, test) != 0 || net_setup(cmdline, test) != 0
                 ? JOB_SETUP_FAILED
                 : job_setup(cmdline, test, &job);
    if (st == 0 && (rootfs_setup(&cfg, cmdline, &job, test, &root) != 0 ||
                    prepare(test, cmdline, &cfg, &root, &job, &user) != 0))
        st = JOB_SETUP_FAILED;
    struct run_ctx ctx = {
        .root = root.active ? root.dir : NULL,
        .cwd = cfg.have_cwd ? cfg.cwd : !job.active ? NULL : root.active ? "/job" : job.dir,
        .user = cfg.have_user ? &user : NULL,
        .pretend = test && (root.active || cfg.have_user),
    };
    char *const *args = r == VMRUN_CMD_FOUND ? cmd.argv : NULL;
    if (st != 0) {
        word = status_word(KIND_INIT_FAILED, (unsigned)st);
    } else if (cfg.init) {
        err = rootfs_switch(&root, args ? args : image_init, test);
        word = err == 0 ? status_word(KIND_EXITED, 0)
                        : status_word(KIND_INIT_FAILED, err < 0 ? 125 : err == ENOENT ? 127 : 126);
    } else if (args != NULL || !job.active) {
        word = run_job(test, args ? args : shell, &ctx);
    } else if ((st = job_check_run(&job)) != 0) {
        word = status_word(KIND_INIT_FAILED, (unsigned)st);
    } else {
        char *const run[] = {root.active ? job_run : job.run, NULL};
        word = run_job(test, run, &ctx);
    }
    rootfs_finish(&root, test); /* its bind of /job goes first */
    job_finish(&job, test);     /* the host reads the image once we report */
    unsigned kind = word >> 8 & 0xff, value = word & 0xff;
    if (!test && (kind != KIND_EXITED || value != 0)) {
        char status[48];
        snprintf(status, sizeof status, "%s %u",
                 kind == KIND_SIGNALED ? "signal" : kind == KIND_INIT_FAILED ? "init failure" : "status",
                 value);
        dmesg_to_log_port(cmdline, status);
    }
    return word;
}

/*
 * Tells vmrun that init is up and the console is configured, so it can
 * start passing its stdin through (see docs/guest-protocol.md, kind 3).
 */
static void report_ready(void)
{
    if (ioperm(EXIT_PORT, 4, 1) == 0)
        outl(status_word(KIND_READY, 0), EXIT_PORT);
}

/*
 * Reports the status through the exit port and powers off. vmrun stops the
 * VM at the outl; the power-off and the pause loop are fallbacks, since
 * PID 1 must never return (the kernel would panic).
 */
static void report_and_power_off(uint32_t word)
{
    sync(); /* the job's writes to disks must land before vmrun kills us */
    /*
     * And its last output must have left the UART: the tty transmits from
     * its buffer on interrupts, possibly on another CPU, after the job has
     * exited. vmrun stops the VM at the outl, so wait for the console.
     */
    tcdrain(STDOUT_FILENO);
    if (ioperm(EXIT_PORT, 4, 1) == 0)
        outl(word, EXIT_PORT);
    else
        say("vmrun-init: ioperm: ", strerror(errno), NULL);
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

int main(void)
{
    const char *t = getenv("VMRUN_INIT_TEST");
    int test = t != NULL && strcmp(t, "1") == 0;

    if (!test && getpid() != 1) {
        /* Guard: as root on a host, the power-off below would be real. */
        say("vmrun-init: not PID 1 (set VMRUN_INIT_TEST=1 to test)", NULL);
        return 1;
    }
    if (test) {
        /* Adopt the job's orphans like PID 1 does, so reaping is exercised. */
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    } else {
        mount_all();
        attach_console();
        /* Init owns the console as its session leader (see run_child). */
        setsid();
        if (ioctl(STDIN_FILENO, TIOCSCTTY, 0) != 0)
            say("vmrun-init: TIOCSCTTY: ", strerror(errno), NULL);
        /* Taking the foreground back from a job must not stop init. */
        signal(SIGTTOU, SIG_IGN);
        make_console_transparent();
        modules_load_boot(); /* virtio, ext4...: what a job disk needs */
        report_ready();
        ensure_dir("/root", 0700);
    }
    signal(SIGCHLD, SIG_DFL); /* an inherited SIG_IGN would auto-reap the job */
    set_env();

    uint32_t word = run_from_cmdline(test);
    if (test) {
        printf("0x%08x\n", (unsigned)word);
        return 0;
    }
    report_and_power_off(word);
    return 0;
}
