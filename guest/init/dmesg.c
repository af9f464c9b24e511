#define _GNU_SOURCE
#include "dmesg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <termios.h>
#include <unistd.h>

#include "cmd_decode.h"
#include "util.h"

/*
 * Every byte through the emulated UART is a VM exit: the tail is what
 * explains a failure, and this keeps the cost near a second in the nested
 * lab, a few ms on hardware.
 */
#define DMESG_TAIL (24 * 1024)
#define SYSLOG_ACTION_READ_ALL 3
#define SYSLOG_ACTION_SIZE_BUFFER 10

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void dmesg_to_log_port(const char *cmdline, const char *status)
{
    const char *cursor = cmdline;
    char port[16];
    if (cmdline_next(&cursor, "vmrun.dmesg", port, sizeof port) != 1)
        return;
    /* Only a serial port of ours: the value names a device node. */
    if (strcmp(port, "ttyS1") != 0) {
        say("vmrun-init: vmrun.dmesg: unknown port ", port, NULL);
        return;
    }
    int size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0);
    if (size <= 0)
        size = 1 << 20;
    char *buf = malloc((size_t)size);
    if (buf == NULL)
        return;
    int len = klogctl(SYSLOG_ACTION_READ_ALL, buf, size);
    int fd = open("/dev/ttyS1", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (len < 0 || fd < 0) {
        say("vmrun-init: guest kernel log to ttyS1: ", strerror(errno), NULL);
        free(buf);
        if (fd >= 0)
            close(fd);
        return;
    }
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t); /* the log file gets the log's bytes as they are */
        tcsetattr(fd, TCSANOW, &t);
    }
    const char *start = buf;
    if (len > DMESG_TAIL) {
        start = buf + len - DMESG_TAIL;
        const char *nl = memchr(start, '\n', (size_t)DMESG_TAIL);
        if (nl != NULL)
            start = nl + 1; /* whole lines only */
    }
    const char *head = "\n--- guest kernel log (dmesg), the job ended with ";
    const char *end = buf + len;
    if (write_all(fd, head, strlen(head)) == 0 && write_all(fd, status, strlen(status)) == 0 &&
        write_all(fd, " ---\n", 5) == 0 && write_all(fd, start, (size_t)(end - start)) == 0)
        write_all(fd, "--- end of guest kernel log ---\n", 32);
    tcdrain(fd);
    close(fd);
    free(buf);
}
