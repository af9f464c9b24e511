/*
 * edu-check: tests the edu driver (edu.ko) and the device behind it through
 * /dev/edu, one line per check on stdout:
 *
 *   edu-check [--allow-intx]
 *
 * Checks, in order: the ID register, the liveness register, two factorials
 * (completion by interrupt), a 4096-byte DMA round trip, an interrupt raised
 * on request, that the interrupt count grew, and that the interrupt is an
 * MSI (unless --allow-intx: INTx is then accepted too).
 *
 * Exit status (the first failing check decides; also in ../README.md):
 *    0  all checks passed
 *    2  bad usage
 *   10  cannot open /dev/edu
 *   11  bad ID (its low byte must be 0xed)
 *   12  liveness register did not read back the inverse
 *   13  wrong factorial
 *   14  DMA round trip did not bring the data back unchanged
 *   15  an interrupt was missing or a command timed out
 *   16  the interrupt is not an MSI (and --allow-intx was not given)
 */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC under -std=c11 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "edu_ioctl.h"

enum {
	EXIT_USAGE = 2,
	EXIT_OPEN = 10,
	EXIT_ID = 11,
	EXIT_LIVENESS = 12,
	EXIT_FACT = 13,
	EXIT_DMA = 14,
	EXIT_IRQ = 15,
	EXIT_NOT_MSI = 16,
};

static int fail(int status, const char *what)
{
	printf("edu-check: %s FAILED (exit %d)\n", what, status);
	return status;
}

/*
 * An ioctl failed. A timeout means the interrupt did not come (15); any
 * other error is charged to the check that was running.
 */
static int ioctl_failed(int status, const char *what)
{
	int err = errno;

	printf("edu-check: %s: ioctl: %s\n", what, strerror(err));
	return fail(err == ETIMEDOUT ? EXIT_IRQ : status, what);
}

static int get_info(int fd, struct edu_info *info, uint32_t pattern)
{
	memset(info, 0, sizeof(*info));
	info->live_in = pattern;
	return ioctl(fd, EDU_IOC_INFO, info);
}

static int check_fact(int fd, uint32_t n, uint32_t expected)
{
	struct edu_fact fact = { .n = n };

	if (ioctl(fd, EDU_IOC_FACT, &fact) != 0)
		return ioctl_failed(EXIT_FACT, "factorial");
	if (fact.result != expected) {
		printf("edu-check: factorial %u! = %u, expected %u\n",
		       n, fact.result, expected);
		return fail(EXIT_FACT, "factorial");
	}
	printf("edu-check: factorial %u! = %u ok\n", n, fact.result);
	return 0;
}

/* xorshift32: a reproducible pattern with no runs or repeats to hide in. */
static uint32_t next_random(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

static int check_dma(int fd)
{
	static unsigned char sent[EDU_DMA_MAX], got[EDU_DMA_MAX];
	uint32_t state = 0x2545f491;
	struct edu_dma dma;

	for (size_t i = 0; i < sizeof(sent); i++)
		sent[i] = (unsigned char)next_random(&state);
	memset(got, 0, sizeof(got));

	memset(&dma, 0, sizeof(dma));
	dma.src = (uintptr_t)sent;
	dma.dst = (uintptr_t)got;
	dma.len = sizeof(sent);
	if (ioctl(fd, EDU_IOC_DMA, &dma) != 0)
		return ioctl_failed(EXIT_DMA, "dma");
	for (size_t i = 0; i < sizeof(sent); i++) {
		if (sent[i] != got[i]) {
			printf("edu-check: dma: byte %zu is 0x%02x, sent 0x%02x\n",
			       i, got[i], sent[i]);
			return fail(EXIT_DMA, "dma");
		}
	}
	printf("edu-check: dma round trip of %zu bytes ok\n", sizeof(sent));
	return 0;
}

int main(int argc, char **argv)
{
	const uint32_t pattern = 0x5aa5c33c;
	/* Clear of the bits the device raises itself (0x1, 0x100). */
	const uint32_t raise_value = 0xc0fe0000;
	int allow_intx = 0;
	struct edu_info before, after;
	struct edu_raise raise;
	int fd, status;

	/* One line per check as it happens, even into a pipe or a file. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--allow-intx") == 0) {
			allow_intx = 1;
		} else {
			fprintf(stderr, "usage: edu-check [--allow-intx]\n");
			return EXIT_USAGE;
		}
	}

	fd = open(EDU_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("edu-check: cannot open %s: %s\n", EDU_DEVICE_PATH,
		       strerror(errno));
		return fail(EXIT_OPEN, "open");
	}

	if (get_info(fd, &before, pattern) != 0)
		return ioctl_failed(EXIT_ID, "info");
	if ((before.id & 0xff) != 0xed) {
		printf("edu-check: id 0x%08x, expected 0x??????ed\n", before.id);
		return fail(EXIT_ID, "id");
	}
	printf("edu-check: id 0x%08x ok\n", before.id);
	if (before.live_out != (uint32_t)~pattern) {
		printf("edu-check: liveness wrote 0x%08x, read 0x%08x, expected 0x%08x\n",
		       pattern, before.live_out, (uint32_t)~pattern);
		return fail(EXIT_LIVENESS, "liveness");
	}
	printf("edu-check: liveness 0x%08x -> 0x%08x ok\n", pattern, before.live_out);

	status = check_fact(fd, 10, 3628800);
	if (status == 0)
		status = check_fact(fd, 12, 479001600);
	if (status == 0)
		status = check_dma(fd);
	if (status != 0)
		return status;

	memset(&raise, 0, sizeof(raise));
	raise.value = raise_value;
	if (ioctl(fd, EDU_IOC_RAISE, &raise) != 0)
		return ioctl_failed(EXIT_IRQ, "raise");
	if ((raise.status & raise_value) != raise_value) {
		printf("edu-check: raise 0x%08x, handler saw 0x%08x\n",
		       raise_value, raise.status);
		return fail(EXIT_IRQ, "raise");
	}
	printf("edu-check: raise 0x%08x -> irq status 0x%08x ok\n",
	       raise_value, raise.status);

	/* Two factorials, one raise and at least two DMAs: five interrupts or more. */
	if (get_info(fd, &after, pattern) != 0)
		return ioctl_failed(EXIT_IRQ, "info");
	if (after.irq_count < before.irq_count + 5) {
		printf("edu-check: interrupt count %llu -> %llu, expected at least 5 more\n",
		       (unsigned long long)before.irq_count,
		       (unsigned long long)after.irq_count);
		return fail(EXIT_IRQ, "interrupt count");
	}
	printf("edu-check: interrupt count %llu -> %llu ok\n",
	       (unsigned long long)before.irq_count,
	       (unsigned long long)after.irq_count);

	if (after.irq_kind == EDU_IRQ_MSI) {
		printf("edu-check: irq kind MSI ok\n");
	} else if (allow_intx) {
		printf("edu-check: irq kind INTx ok (--allow-intx)\n");
	} else {
		printf("edu-check: irq kind INTx, expected MSI (--allow-intx accepts it)\n");
		return fail(EXIT_NOT_MSI, "irq kind");
	}

	close(fd);
	printf("edu-check: all checks passed\n");
	return 0;
}
