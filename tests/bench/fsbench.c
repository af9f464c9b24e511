/*
 * fsbench DIR [MIB] [FILES]: in directory DIR (a shared directory), writes
 * one MIB MiB file (default 64) in 1 MiB blocks and fsyncs it, reads it
 * back, then creates FILES small files (default 500, 4 KiB each), stats
 * them all and deletes them. Prints one line of key=value results:
 * MB/s for the big file, files per second for the small-file phases.
 * Built static so it runs in the guest from a job image.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fsbench DIR [MIB] [FILES]\n");
        return 2;
    }
    const char *dir = argv[1];
    const long mib = argc > 2 ? atol(argv[2]) : 64;
    const long files = argc > 3 ? atol(argv[3]) : 500;
    const size_t block = 1 << 20;
    char *buf = malloc(block);
    char path[4096];
    if (buf == NULL)
        die("malloc");
    memset(buf, 0x5a, block);

    snprintf(path, sizeof path, "%s/fsbench.big", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        die("open big");
    double t = now();
    for (long i = 0; i < mib; i++)
        if (write(fd, buf, block) != (ssize_t)block)
            die("write");
    if (fsync(fd) < 0)
        die("fsync");
    const double write_s = now() - t;
    close(fd);

    fd = open(path, O_RDONLY);
    if (fd < 0)
        die("open big for reading");
    t = now();
    long total = 0;
    for (ssize_t n; (n = read(fd, buf, block)) > 0;)
        total += n;
    const double read_s = now() - t;
    close(fd);
    unlink(path);
    if (total != mib * (long)block) {
        fprintf(stderr, "fsbench: read %ld bytes, wrote %ld\n", total, mib * (long)block);
        return 1;
    }

    t = now();
    for (long i = 0; i < files; i++) {
        snprintf(path, sizeof path, "%s/fsbench.%ld", dir, i);
        fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        if (fd < 0 || write(fd, buf, 4096) != 4096 || close(fd) < 0)
            die("small file");
    }
    const double create_s = now() - t;
    t = now();
    struct stat st;
    for (long i = 0; i < files; i++) {
        snprintf(path, sizeof path, "%s/fsbench.%ld", dir, i);
        if (stat(path, &st) < 0)
            die("stat");
    }
    const double stat_s = now() - t;
    t = now();
    for (long i = 0; i < files; i++) {
        snprintf(path, sizeof path, "%s/fsbench.%ld", dir, i);
        if (unlink(path) < 0)
            die("unlink");
    }
    const double delete_s = now() - t;

    printf("fsbench seq_write_MBps=%.1f seq_read_MBps=%.1f create_per_s=%.0f "
           "stat_per_s=%.0f delete_per_s=%.0f\n",
           mib * 1.048576 / write_s, mib * 1.048576 / read_s, files / create_s,
           files / stat_s, files / delete_s);
    return 0;
}
