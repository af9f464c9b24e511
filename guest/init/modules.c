/* Kernel module loading for vmrun-init; see modules.h. */
#define _GNU_SOURCE
#include "modules.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "modprobe.h"
#include "util.h"

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4 /* linux/module.h, Linux 5.17 */
#endif

#define MODULE_LIST_MAX (64 * 1024)
#define SYSLOG_ACTION_READ_ALL 3

/*
 * The module's own name as the kernel prints it: the file name without
 * directories and ".ko", '-' turned into '_'.
 */
static void module_name(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    size_t n = strcspn(base, ".");
    if (n >= size)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = base[i] == '-' ? '_' : base[i];
    out[n] = '\0';
}

/*
 * The kernel's own reason for a failed load is in its log, which the quiet
 * console does not show: finds the last log line that starts with
 * "NAME: " (after the "<level>[time] " prefix) and copies its text.
 */
static int kernel_reason(const char *name, char *out, size_t size)
{
    static char log[64 * 1024]; /* static: keep PID 1's stack small */
    int n = klogctl(SYSLOG_ACTION_READ_ALL, log, (int)sizeof log - 1);
    if (n <= 0)
        return 0;
    log[n] = '\0';
    size_t name_len = strlen(name);
    int found = 0;
    char *cursor = log, *line;
    while ((line = next_line(&cursor)) != NULL) {
        if (*line == '<')
            line = strchr(line, '>') != NULL ? strchr(line, '>') + 1 : line;
        if (*line == '[')
            line = strchr(line, ']') != NULL ? skip_blanks(strchr(line, ']') + 1) : line;
        if (strncmp(line, name, name_len) == 0 && line[name_len] == ':') {
            snprintf(out, size, "%s", line);
            found = 1;
        }
    }
    return found;
}

/* finit_module's errors, in words that point at the usual cause. */
static const char *load_error_str(int err)
{
    static char buf[160];
    struct utsname u;
    switch (err) {
    case ENOEXEC:
        if (uname(&u) == 0) {
            snprintf(buf, sizeof buf,
                     "invalid module format (built for another kernel? the guest runs %s)",
                     u.release);
            return buf;
        }
        return "invalid module format (built for another kernel?)";
    case ENOENT:
        return "unknown symbol or parameter (is a module it needs loaded first?)";
    case EKEYREJECTED:
        return "signature rejected";
    default:
        return strerror(err);
    }
}

/* A module the kernel must decompress itself (CONFIG_MODULE_DECOMPRESS). */
static int compressed(const char *path)
{
    size_t n = strlen(path);
    return (n > 3 && strcmp(path + n - 3, ".xz") == 0) ||
           (n > 4 && strcmp(path + n - 4, ".zst") == 0) ||
           (n > 3 && strcmp(path + n - 3, ".gz") == 0);
}

int modules_load_file(const char *path, const char *shown, const char *detail,
                      const char *params, int mode)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (!(mode & MODULES_QUIET))
            say("vmrun-init: cannot load ", shown, ": ", strerror(errno), NULL);
        return -1;
    }
    if (mode & MODULES_TEST) {
        close(fd);
        say("vmrun-init: test mode: would load ", shown, detail, *params ? " " : "", params,
            NULL);
        return 0;
    }
    int flags = compressed(path) ? MODULE_INIT_COMPRESSED_FILE : 0;
    long r = syscall(SYS_finit_module, fd, params, flags);
    int err = errno;
    close(fd);
    if (r == 0 || err == EEXIST)
        return 0;
    if (mode & MODULES_QUIET)
        return -1;

    char name[NAME_MAX + 1], reason[256];
    const char *why = flags != 0 && err == EOPNOTSUPP
                          ? "compressed, and the guest kernel cannot decompress modules"
                          : load_error_str(err);
    module_name(path, name, sizeof name);
    if (kernel_reason(name, reason, sizeof reason))
        say("vmrun-init: cannot load ", shown, ": ", why, " [kernel: ", reason, "]", NULL);
    else
        say("vmrun-init: cannot load ", shown, ": ", why, NULL);
    return -1;
}

void modules_load_boot(void)
{
    struct utsname u;
    char list[PATH_MAX];
    char *text;

    if (uname(&u) != 0)
        return;
    snprintf(list, sizeof list, "/lib/modules/%s/load-order", u.release);
    int err = read_file_alloc(list, MODULE_LIST_MAX, &text);
    if (err == ENOENT)
        return;
    if (err != 0) {
        say("vmrun-init: cannot read ", list, ": ", strerror(err), NULL);
        return;
    }
    char *cursor = text, *line;
    while ((line = next_line(&cursor)) != NULL) {
        line = skip_blanks(line);
        if (*line != '\0' && *line != '#')
            modules_load_file(line, line, "", "", 0);
    }
    free(text);
}

/* Cuts trailing blanks off s. */
static void trim_end(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

int modules_load_job(const char *dir, int test)
{
    char list[PATH_MAX + 16], path[PATH_MAX];
    char *text;

    snprintf(list, sizeof list, "%s/modules", dir);
    int err = read_file_alloc(list, MODULE_LIST_MAX, &text);
    if (err == ENOENT)
        return 0;
    if (err != 0) {
        say("vmrun-init: cannot read ", list, ": ", strerror(err), NULL);
        return -1;
    }
    int status = 0;
    char *cursor = text, *line;
    while (status == 0 && (line = next_line(&cursor)) != NULL) {
        line = skip_blanks(line);
        if (*line == '\0' || *line == '#')
            continue;
        trim_end(line);
        char *params = line + strcspn(line, " \t");
        if (*params != '\0')
            *params++ = '\0';
        params = skip_blanks(params);
        if (modprobe_is_name(line)) {
            status = modprobe_load(line, params, test);
        } else if (line[0] == '/') {
            say("vmrun-init: ", list, ": ", line, ": paths are relative to the job directory",
                NULL);
            status = -1;
        } else if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, line) >= sizeof path) {
            say("vmrun-init: ", list, ": path too long: ", line, NULL);
            status = -1;
        } else {
            status = modules_load_file(path, line, "", params, test ? MODULES_TEST : 0);
        }
    }
    free(text);
    return status;
}
