/* Small helpers shared by vmrun-init's files. */
#ifndef VMRUN_GUEST_UTIL_H
#define VMRUN_GUEST_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Writes the given strings plus a newline to stderr in one write(2), so a
 * message is not interleaved with the job's output on the slow UART.
 * The argument list ends with NULL. Long messages are cut at 511 bytes.
 */
void say(const char *first, ...);

/* mkdir that accepts an existing directory; reports other failures. */
void ensure_dir(const char *path, mode_t mode);

/*
 * Reads a whole file into buf as a NUL-terminated string. Returns 0, an
 * errno value, or EFBIG if it does not fit in size - 1 bytes.
 */
int read_file(const char *path, char *buf, size_t size);

/*
 * Reads a whole file of at most max bytes into a new malloc'd string
 * (*out, to free). Returns 0 or an errno value (EFBIG if larger).
 */
int read_file_alloc(const char *path, size_t max, char **out);

/* read_file_alloc that also gives the length, for text with NUL bytes. */
int read_file_alloc_len(const char *path, size_t max, char **out, size_t *len);

/*
 * Splits text into lines in place: returns the next line (without its
 * '\n' or a trailing '\r'), advancing *cursor, or NULL at the end.
 */
char *next_line(char **cursor);

/* Skips leading blanks (spaces and tabs). */
char *skip_blanks(char *s);

/* Sleeps ms milliseconds (resuming after signals); for polling loops. */
void sleep_ms(long ms);

/* A monotonic clock in milliseconds, for deadlines. */
long now_ms(void);

/* A device name such as "vda": letters, digits, '_' and '-' only. */
int valid_device_name(const char *name);

/*
 * Waits up to wait_ms for the block device node dev (devtmpfs adds it when
 * the driver probes), looking every 10 ms. Returns 0, or -1 after a line
 * naming it as `what` (e.g. "job disk").
 */
int wait_for_block_device(const char *dev, const char *what, int wait_ms);

/*
 * Kills every process but init (SIGKILL) and reaps them, waiting at most
 * ~2 s: what the job left behind, before its file systems are unmounted.
 * Only for PID 1 in the guest.
 */
void kill_leftovers(void);

#endif /* VMRUN_GUEST_UTIL_H */
