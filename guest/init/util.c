/* Small helpers shared by vmrun-init's files; see util.h. */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void say(const char *first, ...)
{
    char buf[512];
    size_t len = 0;
    va_list ap;

    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
        size_t n = strlen(s);
        if (n > sizeof buf - 1 - len)
            n = sizeof buf - 1 - len; /* keep it short: truncate */
        memcpy(buf + len, s, n);
        len += n;
    }
    va_end(ap);
    buf[len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, buf, len);
    (void)ignored; /* nowhere left to report a failed write */
}

void ensure_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        say("vmrun-init: mkdir ", path, ": ", strerror(errno), NULL);
}

/* Reads fd to its end into buf (size > 0); same results as read_file. */
static int read_all(int fd, char *buf, size_t size, size_t *len_out)
{
    size_t len = 0;
    for (;;) {
        if (len == size - 1) {
            char extra;
            ssize_t n = read(fd, &extra, 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n != 0)
                return n < 0 ? errno : EFBIG; /* cut-off text could mislead */
            break;
        }
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *len_out = len;
    return 0;
}

int read_file(const char *path, char *buf, size_t size)
{
    size_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = read_all(fd, buf, size, &len);
    close(fd);
    return err;
}

int read_file_alloc(const char *path, size_t max, char **out)
{
    size_t len;
    return read_file_alloc_len(path, max, out, &len);
}

int read_file_alloc_len(const char *path, size_t max, char **out, size_t *len)
{
    struct stat st;
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (err != 0) {
        close(fd);
        return err;
    }
    char *buf = malloc(max + 1);
    if (buf == NULL) {
        close(fd);
        return ENOMEM;
    }
    err = read_all(fd, buf, max + 1, len);
    close(fd);
    if (err != 0) {
        free(buf);
        return err;
    }
    *out = buf;
    return 0;
}

char *next_line(char **cursor)
{
    char *line = *cursor;
    if (line == NULL || *line == '\0')
        return NULL;
    char *nl = strchr(line, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = line + strlen(line);
    }
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\r')
        line[n - 1] = '\0';
    return line;
}

char *skip_blanks(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int valid_device_name(const char *name)
{
    if (*name == '\0')
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

int wait_for_block_device(const char *dev, const char *what, int wait_ms)
{
    long deadline = now_ms() + wait_ms;
    struct stat st;
    for (;;) {
        if (stat(dev, &st) == 0) {
            if (S_ISBLK(st.st_mode))
                return 0;
            say("vmrun-init: ", what, " ", dev, " is not a block device", NULL);
            return -1;
        }
        if (now_ms() >= deadline)
            break;
        sleep_ms(10);
    }
    char secs[16];
    snprintf(secs, sizeof secs, "%d", wait_ms / 1000);
    say("vmrun-init: ", what, " ", dev, " did not appear within ", secs,
        " s (no virtio-blk disk, or its driver is missing)", NULL);
    return -1;
}

void kill_leftovers(void)
{
    kill(-1, SIGKILL);
    for (int i = 0; i < 200; i++) {
        pid_t w;
        while ((w = waitpid(-1, NULL, WNOHANG)) > 0) {
        }
        if (w < 0 && errno == ECHILD)
            return;
        sleep_ms(10);
    }
}
