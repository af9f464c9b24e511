/* Running the job for vmrun-init; see run.h. */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inroot.h"
#include "rootfs.h"
#include "util.h"

/* What the child reports for a failure to take the root or the user (125). */
#define SETUP_FAILED (-1)

extern char **environ;

/*
 * In the child: become a process group owning the console, so the job
 * gets job control and ^C goes to it, enter the root, then exec. On
 * failure, tell the parent the errno through the CLOEXEC pipe (a
 * successful exec closes it silently), which is how the parent tells
 * "could not start" apart from a job that itself exits 126/127.
 */
static void run_child(int test, char *const argv[], const struct run_ctx *ctx, int report_fd)
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
    int entered = rootfs_enter(ctx->root, ctx->user, ctx->cwd);
    if (entered != 0) {
        /* A missing directory is 126 ("cannot enter"), not "not found". */
        err = entered < 0 ? SETUP_FAILED : entered == ENOENT ? EACCES : entered;
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
    _exit(err == SETUP_FAILED ? 125 : err == ENOENT ? 127 : 126);
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

/* Appends printf-style text to line (size LINE_MAX_TEXT), cutting it off at the end. */
#define LINE_MAX_TEXT 2048
static size_t add(char *line, size_t n, const char *fmt, const char *s, unsigned long v)
{
    if (n >= LINE_MAX_TEXT - 1)
        return n;
    int k = s != NULL ? snprintf(line + n, LINE_MAX_TEXT - n, fmt, s)
                      : snprintf(line + n, LINE_MAX_TEXT - n, fmt, v);
    return k < 0 ? n : n + (size_t)k >= LINE_MAX_TEXT ? LINE_MAX_TEXT - 1 : n + (size_t)k;
}

/* The job's directory, looked up in the root as the child would (126 if not there). */
static int pretend_cwd(const struct run_ctx *ctx)
{
    int root = open(ctx->root ? ctx->root : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = root < 0 ? -errno : inroot_open(root, ctx->cwd, O_PATH | O_DIRECTORY, 0);
    if (root >= 0)
        close(root);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    say("vmrun-init: cannot enter ", ctx->cwd, ": ", strerror(-fd), NULL);
    return -1;
}

static uint32_t pretend(char *const argv[], const struct run_ctx *ctx)
{
    static char line[LINE_MAX_TEXT];
    const struct run_user *u = ctx->user;
    if (ctx->cwd != NULL && pretend_cwd(ctx) != 0)
        return status_word(KIND_INIT_FAILED, 126);
    size_t n = add(line, 0, "%s", "vmrun-init: test mode: would run", 0);
    for (int i = 0; argv[i] != NULL; i++)
        n = add(line, n, " [%s]", argv[i], 0);
    n = add(line, n, " as %lu", NULL, u ? (unsigned long)u->uid : 0UL);
    n = add(line, n, ":%lu groups ", NULL, u ? (unsigned long)u->gid : 0UL);
    for (size_t i = 0; u != NULL && i < u->ngroups; i++)
        n = add(line, n, i ? ",%lu" : "%lu", NULL, (unsigned long)u->groups[i]);
    n = add(line, n, "%s", u ? "" : "(init's)", 0);
    n = add(line, n, " in %s\n", ctx->cwd ? ctx->cwd : "/", 0);
    ssize_t ignored = write(STDERR_FILENO, line, n);
    (void)ignored;
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, "VMRUN_INIT_", 11) != 0)
            say("vmrun-init: test mode: env ", *e, NULL);
    return status_word(KIND_EXITED, 0);
}

uint32_t run_job(int test, char *const argv[], const struct run_ctx *ctx)
{
    int pfd[2];
    if (ctx->pretend)
        return pretend(argv, ctx);
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
        run_child(test, argv, ctx, pfd[1]);
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
        return status_word(KIND_INIT_FAILED,
                           err == SETUP_FAILED ? 125 : err == ENOENT ? 127 : 126);
    if (st == -1)
        return status_word(KIND_INIT_FAILED, 127);
    if (WIFSIGNALED(st))
        return status_word(KIND_SIGNALED, (unsigned)WTERMSIG(st));
    return status_word(KIND_EXITED, (unsigned)WEXITSTATUS(st));
}
