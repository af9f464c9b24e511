/*
 * blkbench DEV [MIB]: sequential write and read in 1 MiB blocks over the
 * first MIB MiB (default 128) of DEV, then 4 KiB random reads for 5 s at
 * queue depth 1. O_DIRECT where DEV allows it (a block device), buffered
 * otherwise (a file on tmpfs). Prints one line of key=value results.
 * Built static so it runs in the guest from a job image.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_dev(const char *path, int *direct)
{
    int fd = open(path, O_RDWR | O_DIRECT);
    *direct = fd >= 0;
    if (fd < 0)
        fd = open(path, O_RDWR);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: blkbench DEV [MIB]\n");
        return 2;
    }
    const long mib = argc > 2 ? atol(argv[2]) : 128;
    const size_t block = 1 << 20;
    int direct;
    int fd = open_dev(argv[1], &direct);
    if (fd < 0 || mib <= 0) {
        perror(argv[1]);
        return 1;
    }
    void *buf;
    if (posix_memalign(&buf, 4096, block) != 0)
        return 1;
    memset(buf, 0x5a, block);

    double t0 = now();
    for (long i = 0; i < mib; i++)
        if (pwrite(fd, buf, block, (off_t)i * (off_t)block) != (ssize_t)block) {
            perror("write");
            return 1;
        }
    fdatasync(fd);
    double write_s = now() - t0;

    t0 = now();
    for (long i = 0; i < mib; i++)
        if (pread(fd, buf, block, (off_t)i * (off_t)block) != (ssize_t)block) {
            perror("read");
            return 1;
        }
    double read_s = now() - t0;

    unsigned long long ios = 0;
    uint64_t x = 88172645463325252ull;  /* xorshift: reproducible offsets */
    const uint64_t pages = (uint64_t)mib * 256;
    t0 = now();
    double end = t0 + 5.0;
    while (now() < end) {
        for (int k = 0; k < 64; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            if (pread(fd, buf, 4096, (off_t)((x % pages) * 4096)) != 4096) {
                perror("random read");
                return 1;
            }
            ios++;
        }
    }
    double rand_s = now() - t0;
    printf("blkbench direct=%d seq_write_MBps=%.1f seq_read_MBps=%.1f rand_read_iops=%.0f\n",
           direct, (double)mib / write_s, (double)mib / read_s, (double)ios / rand_s);
    return 0;
}
