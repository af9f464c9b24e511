/*
 * vmrun-init: the guest's PID 1. Mounts the basic filesystems, loads the
 * initramfs's modules, runs the job given by `vmrun.cmd=` on the kernel
 * command line (or, with `vmrun.job=`, the job disk's /job/run; job.c) on
 * the console, after mounting the `vmrun.9p=` shared directories
 * (shares.c) and configuring the `vmrun.net=` interfaces (net.c), and
 * reports how it ended through the exit port (docs/guest-protocol.md).
 *
 * Test mode (VMRUN_INIT_TEST=1, for running on the host): no mounts, no
 * modules, no console, no port I/O, no power-off; the command line comes
 * from VMRUN_INIT_CMDLINE if set, VMRUN_INIT_JOB_DIR stands in for a
 * mounted job disk, VMRUN_INIT_SHARE_ROOT for / when creating the shares'
 * mount points, and the status word is printed to stdout.
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
#include "shares.h"
#include "util.h"

#define EXIT_PORT 0xf4
#define STATUS_MAGIC 0x564du

enum status_kind {
    KIND_EXITED = 0,
    KIND_SIGNALED = 1,
    KIND_INIT_FAILED = 2,
    KIND_READY = 3, /* not an end: init is up, console configured */
};

/* Big enough for any kernel's command line (x86 allows 2 KiB). */
#define CMDLINE_MAX 65536

static uint32_t status_word(enum status_kind kind, unsigned value)
{
    return (STATUS_MAGIC << 16) | ((uint32_t)kind << 8) | (value & 0xffu);
}

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
 * In the child: become a session leader owning the console, so the job
 * gets job control and ^C goes to it, then exec. On failure, tell the
 * parent the errno through the CLOEXEC pipe (a successful exec closes it
 * silently), which is how the parent tells "could not start" apart from a
 * job that itself exits 126/127.
 */
static void run_child(int test, char *const argv[], const char *cwd, int report_fd)
{
    int err;
    if (!test) {
        /*
         * The job gets its own process group, in the foreground of the
         * console (so Ctrl-C reaches it), in init's session. Not a session
         * of its own: when a session leader exits, the kernel hangs up its
         * terminal and throws away output not yet sent.
         */
        setpgid(0, 0);
        tcsetpgrp(STDIN_FILENO, getpid());
        signal(SIGTTOU, SIG_DFL);
    }
    if (cwd != NULL && chdir(cwd) != 0) {
        err = errno;
        say("vmrun-init: cannot enter ", cwd, ": ", strerror(err), NULL);
        err = err == ENOENT ? EACCES : err; /* report 126, not "not found" */
    } else {
        execvp(argv[0], argv);
        err = errno;
        /* ENOENT for a file that is there: its interpreter is not. */
        int no_interp = err == ENOENT && strchr(argv[0], '/') && access(argv[0], F_OK) == 0;
        say("vmrun-init: cannot run '", argv[0], "': ", strerror(err),
            no_interp ? " (its #! interpreter or ELF loader is missing?)" : "", NULL);
    }
    ssize_t ignored = write(report_fd, &err, sizeof err);
    (void)ignored; /* the exit code below still says it failed */
    _exit(err == ENOENT ? 127 : 126);
}

/* Returns the exec errno the child reported, or 0 if exec succeeded. */
static int read_exec_error(int fd)
{
    int err = 0;
    ssize_t n;
    do
        n = read(fd, &err, sizeof err);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof err ? err : 0;
}

/*
 * Reaps every child until the job itself ends: as PID 1 we inherit all
 * orphans, and unreaped ones would stay zombies. Returns the job's wait
 * status, or -1 if it vanished (cannot happen, but do not spin).
 */
static int wait_job(pid_t job)
{
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w == job)
            return st;
        if (w < 0 && errno != EINTR)
            return -1;
    }
}

/*
 * Runs argv as the job, in directory cwd (NULL: init's, /), and returns
 * the status word describing its end.
 */
static uint32_t run_job(int test, char *const argv[], const char *cwd)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        say("vmrun-init: pipe: ", strerror(errno), NULL);
        return status_word(KIND_INIT_FAILED, 126);
    }
    pid_t pid = fork();
    if (pid < 0) {
        say("vmrun-init: fork: ", strerror(errno), NULL);
        return status_word(KIND_INIT_FAILED, 126);
    }
    if (pid == 0) {
        close(pfd[0]);
        run_child(test, argv, cwd, pfd[1]);
    }
    close(pfd[1]);
    if (!test)
        setpgid(pid, pid); /* also here: whichever runs first wins the race */
    int err = read_exec_error(pfd[0]); /* returns at exec or child exit */
    close(pfd[0]);

    int st = wait_job(pid);
    if (!test)
        tcsetpgrp(STDIN_FILENO, getpgrp());
    if (err != 0)
        return status_word(KIND_INIT_FAILED, err == ENOENT ? 127 : 126);
    if (st == -1)
        return status_word(KIND_INIT_FAILED, 127);
    if (WIFSIGNALED(st))
        return status_word(KIND_SIGNALED, (unsigned)WTERMSIG(st));
    return status_word(KIND_EXITED, (unsigned)WEXITSTATUS(st));
}

/*
 * Runs what the command line asks for: vmrun.cmd (absent: a shell) or,
 * with a job disk, its run file (vmrun.cmd, if given, instead) in its
 * directory. Returns the status word.
 */
static uint32_t run_from_cmdline(int test)
{
    static char cmdline[CMDLINE_MAX]; /* static: keep PID 1's stack small */
    static struct vmrun_cmd cmd;      /* static: argv points into it */
    static struct job job;
    static char sh[] = "/bin/sh";
    static char *const shell[] = {sh, NULL};

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
     * Shares and the network before the job disk and the job, which may use
     * them. If they fail, job stays all zero (static) and job_finish() does
     * nothing.
     */
    uint32_t word;
    int st = shares_mount(cmdline, test) != 0 || net_setup(cmdline, test) != 0
                 ? JOB_SETUP_FAILED
                 : job_setup(cmdline, test, &job);
    if (st != 0) {
        word = status_word(KIND_INIT_FAILED, (unsigned)st);
    } else if (!job.active) {
        word = run_job(test, r == VMRUN_CMD_FOUND ? cmd.argv : shell, NULL);
    } else if (r == VMRUN_CMD_FOUND) {
        word = run_job(test, cmd.argv, job.dir);
    } else if ((st = job_check_run(&job)) != 0) {
        word = status_word(KIND_INIT_FAILED, (unsigned)st);
    } else {
        char *const run[] = {job.run, NULL};
        word = run_job(test, run, job.dir);
    }
    job_finish(&job, test); /* the host reads the image once we report */
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
