/*
 * Running the job and describing its end as the status word of the exit
 * port (docs/guest-protocol.md, "The status").
 */
#ifndef VMRUN_GUEST_RUN_H
#define VMRUN_GUEST_RUN_H

#include <stdint.h>

#include "user.h"

#define STATUS_MAGIC 0x564du

enum status_kind {
    KIND_EXITED = 0,
    KIND_SIGNALED = 1,
    KIND_INIT_FAILED = 2,
    KIND_READY = 3, /* not an end: init is up, console configured */
};

static inline uint32_t status_word(enum status_kind kind, unsigned value)
{
    return (STATUS_MAGIC << 16) | ((uint32_t)kind << 8) | (value & 0xffu);
}

/* Where and as whom the job runs. */
struct run_ctx {
    const char *root;            /* chroot here first; NULL: init's root */
    const char *cwd;             /* NULL: where init is (/, or the root's /) */
    const struct run_user *user; /* NULL: root, with init's groups */
    int pretend;                 /* test mode: print what would run, run nothing */
};

/*
 * Runs argv as the job (execvp, so a name is looked up in PATH, inside the
 * root) on the console, in its own process group in the foreground, and
 * reaps every child until it ends. Returns the status word: its exit or
 * signal, or kind 2 with 127 (not found), 126 (cannot execute, or cannot
 * enter cwd) or 125 (cannot enter the root or become the user).
 * With ctx->pretend: checks that CWD is a directory in the root (126 with
 * `vmrun-init: cannot enter CWD: reason` if not), prints `vmrun-init: test
 * mode: would run [ARG]... as UID:GID groups G,... in CWD`, then one
 * `vmrun-init: test mode: env KEY=VALUE` line per variable (but init's
 * VMRUN_INIT_*), and returns status 0.
 */
uint32_t run_job(int test, char *const argv[], const struct run_ctx *ctx);

#endif /* VMRUN_GUEST_RUN_H */
