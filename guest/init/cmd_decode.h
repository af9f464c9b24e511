/*
 * Parsing of the guest kernel command line for vmrun's init.
 *
 * See docs/guest-protocol.md: vmrun appends `vmrun.cmd=ARGS`, where ARGS is
 * the job's argv, each argument percent-encoded, joined by `,`, one
 * `vmrun.9p=TAG,PATH[,ro]` per shared directory and one `vmrun.net=MAC...`
 * per network interface, encoded the same way.
 *
 * Tokens are split the way the kernel splits them (lib/cmdline.c next_arg):
 * whitespace separates tokens except inside double quotes, a token may be
 * wrapped in quotes ("name=v a l"), and a value may be quoted (name="v a l").
 * So text inside someone else's quoted value never starts a token.
 * When a name appears several times, the LAST occurrence wins.
 *
 * Pure functions: no globals, no allocation, bounded output.
 * Compiled into vmrun-init (C) and into the host's unit tests (C++).
 */
#ifndef VMRUN_GUEST_CMD_DECODE_H
#define VMRUN_GUEST_CMD_DECODE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Hard limits: decoded bytes (not counting terminators) and argument count. */
#define VMRUN_CMD_MAX_DATA 4096
#define VMRUN_CMD_MAX_ARGS 256

enum vmrun_cmd_result {
    VMRUN_CMD_FOUND = 0,         /* decoded into the struct */
    VMRUN_CMD_NOT_FOUND = 1,     /* no vmrun.cmd token: run /bin/sh */
    VMRUN_CMD_BAD_ESCAPE = 2,    /* '%' not followed by two hex digits */
    VMRUN_CMD_NUL_BYTE = 3,      /* %00: cannot be part of an argv string */
    VMRUN_CMD_TOO_LONG = 4,      /* more than VMRUN_CMD_MAX_DATA bytes */
    VMRUN_CMD_TOO_MANY_ARGS = 5, /* more than VMRUN_CMD_MAX_ARGS arguments */
};

/*
 * The decoded command. argv[0..argc-1] point into data; argv[argc] is NULL.
 * argv points into the struct itself, so do not copy it by value after
 * decoding (pass it by pointer).
 */
struct vmrun_cmd {
    int argc;
    char *argv[VMRUN_CMD_MAX_ARGS + 1];
    char data[VMRUN_CMD_MAX_DATA + VMRUN_CMD_MAX_ARGS]; /* bytes + one NUL per arg */
};

/*
 * Finds the last `vmrun.cmd=` token in cmdline (the text of /proc/cmdline,
 * NUL-terminated, may end in a newline) and decodes it into *out.
 * `vmrun.cmd=` with an empty value gives one empty argument.
 * On any result other than VMRUN_CMD_FOUND, out->argc is 0 and argv[0] NULL.
 */
enum vmrun_cmd_result vmrun_cmd_decode(const char *cmdline, struct vmrun_cmd *out);

/* A short English reason for a result, e.g. "bad % escape". Never NULL. */
const char *vmrun_cmd_result_str(enum vmrun_cmd_result r);

/*
 * Decodes one %-encoded value that is a single field (vmrun.env, vmrun.cwd,
 * vmrun.user: the encoder writes a ',' in the value as %2C, so a raw ','
 * means a malformed token) into out, NUL-terminated. Returns
 * VMRUN_CMD_FOUND, VMRUN_CMD_BAD_ESCAPE, VMRUN_CMD_NUL_BYTE,
 * VMRUN_CMD_TOO_LONG (does not fit in outlen - 1 bytes) or
 * VMRUN_CMD_TOO_MANY_ARGS (a raw ','); on failure out is "".
 */
enum vmrun_cmd_result vmrun_value_decode(const char *value, char *out, size_t outlen);

/*
 * Generic lookup of a `name=value` setting (e.g. "vmrun.name"); the last
 * occurrence wins. The value is copied raw (no percent-decoding), with the
 * kernel's quote stripping applied, and NUL-terminated. A bare `name` token
 * (no '=') counts as found with an empty value.
 * Returns 1 if found and copied, 0 if not found, -1 if found but the value
 * does not fit in outlen bytes (then out is "" if outlen > 0).
 */
int cmdline_get(const char *cmdline, const char *name, char *out, size_t outlen);

/*
 * For a setting that may appear several times (vmrun.9p): every occurrence,
 * in command line order. *cursor starts at the command line; each call
 * copies the next value like cmdline_get() and moves *cursor past it.
 * Returns 1 (copied), 0 (no more), or -1 (does not fit; out is "" and the
 * cursor still moves on, so the caller can report it and stop or go on).
 */
int cmdline_next(const char **cursor, const char *name, char *out, size_t outlen);

/*
 * One shared directory, `vmrun.9p=TAG,PATH[,ro]` (docs/guest-protocol.md):
 * TAG and PATH %-encoded like vmrun.cmd's arguments; the third field, if
 * any, is literally `ro`. TAG: 1-31 bytes of A-Z a-z 0-9 _ . - (the virtio
 * 9p tag, and safe to print). PATH: absolute, no `..` component, not the
 * root itself.
 */
#define VMRUN_SHARE_TAG_MAX 31
#define VMRUN_SHARE_PATH_MAX 4096 /* with its NUL, like PATH_MAX */

enum vmrun_share_result {
    VMRUN_SHARE_OK = 0,
    VMRUN_SHARE_BAD_ESCAPE = 1, /* '%' not followed by two hex digits */
    VMRUN_SHARE_NUL_BYTE = 2,   /* %00 */
    VMRUN_SHARE_TOO_LONG = 3,   /* PATH does not fit VMRUN_SHARE_PATH_MAX */
    VMRUN_SHARE_BAD_FIELDS = 4, /* not TAG,PATH or TAG,PATH,ro */
    VMRUN_SHARE_BAD_TAG = 5,
    VMRUN_SHARE_BAD_PATH = 6,
};

struct vmrun_share {
    char tag[VMRUN_SHARE_TAG_MAX + 1];
    char path[VMRUN_SHARE_PATH_MAX];
    int read_only;
};

/*
 * Decodes and checks one vmrun.9p value (the text after `=`, raw, as
 * cmdline_next() gives it). On any result but VMRUN_SHARE_OK, *out is
 * zeroed. Uses about 7 KiB of stack (a struct vmrun_cmd).
 */
enum vmrun_share_result vmrun_share_parse(const char *value, struct vmrun_share *out);

/* A short English reason for a result, e.g. "bad % escape". Never NULL. */
const char *vmrun_share_result_str(enum vmrun_share_result r);

/*
 * One network interface (docs/guest-protocol.md), %-decoded like vmrun.9p:
 *   vmrun.net=MAC                          link up only
 *   vmrun.net=MAC,ADDR/PREFIX[,GATEWAY]    static IPv4
 *   vmrun.net=MAC,dhcp                     DHCP
 * MAC: six two-digit hex bytes joined by ':' (stored in lower case, as
 * sysfs shows it). ADDR, GATEWAY: dotted decimal IPv4, no leading zeros
 * (other parsers read 010 as octal). PREFIX: 0-32.
 */
#define VMRUN_NET_MAC_LEN 17 /* "aa:bb:cc:dd:ee:ff" */

enum vmrun_net_mode {
    VMRUN_NET_LINK_ONLY = 0,
    VMRUN_NET_STATIC = 1,
    VMRUN_NET_DHCP = 2,
};

enum vmrun_net_result {
    VMRUN_NET_OK = 0,
    VMRUN_NET_BAD_ESCAPE = 1, /* '%' not followed by two hex digits */
    VMRUN_NET_NUL_BYTE = 2,   /* %00 */
    VMRUN_NET_TOO_LONG = 3,   /* cannot be a valid value */
    VMRUN_NET_BAD_FIELDS = 4, /* none, an empty one, too many, dhcp,X */
    VMRUN_NET_BAD_MAC = 5,
    VMRUN_NET_BAD_ADDR = 6, /* second field: neither ADDR/PREFIX nor dhcp */
    VMRUN_NET_BAD_PREFIX = 7,
    VMRUN_NET_BAD_GATEWAY = 8,
};

struct vmrun_net {
    char mac[VMRUN_NET_MAC_LEN + 1];
    enum vmrun_net_mode mode;
    unsigned char addr[4]; /* VMRUN_NET_STATIC: address, in network order */
    int prefix;            /* VMRUN_NET_STATIC: 0-32 */
    int has_gateway;
    unsigned char gateway[4];
};

/*
 * Decodes and checks one vmrun.net value (raw, as cmdline_next() gives
 * it). On any result but VMRUN_NET_OK, *out is zeroed. Uses about 7 KiB of
 * stack, like vmrun_share_parse().
 */
enum vmrun_net_result vmrun_net_parse(const char *value, struct vmrun_net *out);

/* A short English reason for a result, e.g. "PREFIX must be 0-32". */
const char *vmrun_net_result_str(enum vmrun_net_result r);

#ifdef __cplusplus
}
#endif

#endif /* VMRUN_GUEST_CMD_DECODE_H */
