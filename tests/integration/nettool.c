/*
 * nettool: the TCP ends of the networking tests, the same static binary on
 * the host side (in a network namespace) and in the guest.
 *   nettool send HOST PORT FILE     connect, send FILE, half-close, wait for
 *                                   the peer to close (so every byte landed)
 *   nettool recv PORT FILE          accept one connection, write what
 *                                   arrives to FILE until the sender closes
 *   nettool scpi-server PORT N      answer N SCPI queries: "*IDN?" with an
 *                                   identification line, anything else with
 *                                   an error line
 *   nettool scpi HOST PORT QUERY    send QUERY, print the one-line answer
 *   nettool sendn HOST PORT MIB     send MIB MiB of zeros, print sent_MBps=
 *   nettool sink PORT               accept one connection, discard what
 *                                   arrives, print recv_MBps= (benchmarks)
 * Exits 0 on success, 1 with a message on failure. Retries connecting for
 * 120 s (the other side may still be booting).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
    perror(what);
    return 1;
}

static int connect_to(const char *host, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -1;
    for (int i = 0; i < 1200; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        usleep(100000);
    }
    return -1;
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0)
        return -1;
    return fd;
}

static int copy(int from, int to)
{
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = read(from, buf, sizeof buf);
        if (n == 0)
            return 0;
        if (n < 0)
            return -1;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(to, buf + off, (size_t)(n - off));
            if (w <= 0)
                return -1;
            off += w;
        }
    }
}

static int read_line(int fd, char *line, size_t size)
{
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, line + len, 1);
        if (n <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    return (int)len;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "send") == 0) {
        FILE *f = fopen(argv[4], "rb");
        int fd = connect_to(argv[2], atoi(argv[3]));
        if (f == NULL || fd < 0)
            return die("send");
        if (copy(fileno(f), fd) < 0 || shutdown(fd, SHUT_WR) < 0)
            return die("send");
        char c;
        while (read(fd, &c, 1) > 0) {
        }
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "recv") == 0) {
        int l = listen_on(atoi(argv[2]));
        FILE *f = fopen(argv[3], "wb");
        if (l < 0 || f == NULL)
            return die("recv");
        int fd = accept(l, NULL, NULL);
        if (fd < 0 || copy(fd, fileno(f)) < 0 || fclose(f) != 0)
            return die("recv");
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "scpi-server") == 0) {
        int l = listen_on(atoi(argv[2]));
        if (l < 0)
            return die("scpi-server");
        for (int i = 0; i < atoi(argv[3]); i++) {
            int fd = accept(l, NULL, NULL);
            char line[256];
            if (fd < 0)
                return die("accept");
            read_line(fd, line, sizeof line);
            const char *answer = strcmp(line, "*IDN?") == 0
                                     ? "vmrun-lab,Fake Instrument,SN0001,1.0\n"
                                     : "-113,\"Undefined header\"\n";
            if (write(fd, answer, strlen(answer)) < 0)
                return die("write");
            close(fd);
        }
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "scpi") == 0) {
        int fd = connect_to(argv[2], atoi(argv[3]));
        char line[256];
        if (fd < 0)
            return die("scpi");
        dprintf(fd, "%s\n", argv[4]);
        read_line(fd, line, sizeof line);
        printf("%s\n", line);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "sendn") == 0) {
        static char zeros[1 << 16];
        const long total = atol(argv[4]) << 20;
        int fd = connect_to(argv[2], atoi(argv[3]));
        if (fd < 0)
            return die("sendn");
        const double t = now();
        for (long sent = 0; sent < total;) {
            ssize_t w = write(fd, zeros, sizeof zeros);
            if (w <= 0)
                return die("sendn write");
            sent += w;
        }
        shutdown(fd, SHUT_WR);
        char c;
        while (read(fd, &c, 1) > 0) {
        }
        printf("sent_MBps=%.1f\n", (double)total / 1e6 / (now() - t));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "sink") == 0) {
        static char buf[1 << 16];
        int l = listen_on(atoi(argv[2]));
        if (l < 0)
            return die("sink");
        int fd = accept(l, NULL, NULL);
        if (fd < 0)
            return die("accept");
        const double t = now();
        long total = 0;
        for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
            total += n;
        printf("recv_MBps=%.1f\n", (double)total / 1e6 / (now() - t));
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of nettool.c\n");
    return 2;
}
