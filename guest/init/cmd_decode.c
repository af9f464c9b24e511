/* Kernel command line parsing for vmrun-init; see cmd_decode.h. */
#include "cmd_decode.h"

#include <string.h>

/* One parsed token: name and optional value, as spans into the cmdline. */
struct param {
    const char *name;
    size_t name_len;
    const char *val; /* NULL when the token has no '=' */
    size_t val_len;
};

/* The kernel's isspace() set; no locale involved. */
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static const char *skip_spaces(const char *p)
{
    while (is_space(*p))
        p++;
    return p;
}

/*
 * Splits the token starting at p (not a space, not NUL) exactly like the
 * kernel's next_arg(), so init sees the same parameters the kernel saw.
 * Returns the position just after the token.
 */
static const char *next_param(const char *p, struct param *out)
{
    int in_quote = 0, quoted = 0, has_eq = 0;
    size_t i, eq = 0;

    if (*p == '"') {
        p++;
        in_quote = quoted = 1;
    }
    for (i = 0; p[i]; i++) {
        if (is_space(p[i]) && !in_quote)
            break;
        if (!has_eq && p[i] == '=') {
            has_eq = 1;
            eq = i;
        }
        if (p[i] == '"')
            in_quote = !in_quote;
    }

    out->name = p;
    out->name_len = has_eq ? eq : i;
    out->val = NULL;
    out->val_len = 0;
    int tail_quote = i > 0 && p[i - 1] == '"';
    if (has_eq) {
        out->val = p + eq + 1;
        out->val_len = i - eq - 1;
        /* name="value": drop the quotes around the value. */
        if (out->val_len > 0 && out->val[0] == '"') {
            out->val++;
            out->val_len--;
            if (tail_quote && out->val_len > 0) {
                out->val_len--;
                tail_quote = 0; /* the kernel strips the tail quote only once */
            } else if (tail_quote) {
                tail_quote = 0; /* the opening quote was also the last char */
            }
        }
    }
    /* "name=value": drop the quote closing the whole token. */
    if (quoted && tail_quote) {
        if (has_eq && out->val_len > 0)
            out->val_len--;
        else if (!has_eq && out->name_len > 0)
            out->name_len--;
    }
    return p + i;
}

/*
 * Finds the next token named name at or after *cursor; returns 1 and fills
 * *found if there is one. Moves *cursor past it (or to the end).
 */
static int find_next(const char **cursor, const char *name, struct param *found)
{
    size_t name_len = strlen(name);
    const char *p = skip_spaces(*cursor);

    while (*p) {
        struct param prm;
        p = skip_spaces(next_param(p, &prm));
        if (prm.name_len == name_len && memcmp(prm.name, name, name_len) == 0) {
            *found = prm;
            *cursor = p;
            return 1;
        }
    }
    *cursor = p;
    return 0;
}

/* Finds the last token named name; returns 1 and fills *found if any. */
static int find_last(const char *cmdline, const char *name, struct param *found)
{
    int have = 0;
    while (find_next(&cmdline, name, found))
        have = 1;
    return have;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10; /* lenient: the encoder writes upper case */
    return -1;
}

/* Decodes one ','-separated list of %-encoded arguments into *out. */
static enum vmrun_cmd_result decode_args(const char *s, size_t len, struct vmrun_cmd *out)
{
    size_t bytes = 0; /* decoded bytes, not counting terminators */
    size_t pos = 0;   /* write position in out->data */
    int argc = 0;

    out->argv[argc++] = out->data;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == ',') {
            if (argc == VMRUN_CMD_MAX_ARGS)
                return VMRUN_CMD_TOO_MANY_ARGS;
            out->data[pos++] = '\0';
            out->argv[argc++] = out->data + pos;
            continue;
        }
        if (c == '%') {
            int hi = i + 1 < len ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return VMRUN_CMD_BAD_ESCAPE;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return VMRUN_CMD_NUL_BYTE;
            i += 2;
        }
        /* Other bytes stand for themselves (lenient for hand-written input). */
        if (bytes == VMRUN_CMD_MAX_DATA)
            return VMRUN_CMD_TOO_LONG;
        bytes++;
        out->data[pos++] = c;
    }
    /* pos <= bytes + (argc - 1) < sizeof data, so the terminator fits. */
    out->data[pos] = '\0';
    out->argv[argc] = NULL;
    out->argc = argc;
    return VMRUN_CMD_FOUND;
}

enum vmrun_cmd_result vmrun_cmd_decode(const char *cmdline, struct vmrun_cmd *out)
{
    struct param prm;
    enum vmrun_cmd_result r;

    out->argc = 0;
    out->argv[0] = NULL;
    if (!find_last(cmdline, "vmrun.cmd", &prm) || prm.val == NULL)
        return VMRUN_CMD_NOT_FOUND;
    r = decode_args(prm.val, prm.val_len, out);
    if (r != VMRUN_CMD_FOUND) {
        out->argc = 0;
        out->argv[0] = NULL;
    }
    return r;
}

enum vmrun_cmd_result vmrun_value_decode(const char *value, char *out, size_t outlen)
{
    size_t pos = 0;
    enum vmrun_cmd_result r = VMRUN_CMD_FOUND;

    if (outlen == 0)
        return VMRUN_CMD_TOO_LONG;
    for (const char *p = value; *p && r == VMRUN_CMD_FOUND; p++) {
        char c = *p;
        if (c == ',') {
            r = VMRUN_CMD_TOO_MANY_ARGS;
            break;
        }
        if (c == '%') {
            int hi = hex_value(p[1]);
            int lo = hi < 0 ? -1 : hex_value(p[2]); /* p[2] exists if p[1] is a digit */
            if (hi < 0 || lo < 0) {
                r = VMRUN_CMD_BAD_ESCAPE;
                break;
            }
            c = (char)(hi * 16 + lo);
            p += 2;
            if (c == '\0') {
                r = VMRUN_CMD_NUL_BYTE;
                break;
            }
        }
        if (pos + 1 >= outlen)
            r = VMRUN_CMD_TOO_LONG;
        else
            out[pos++] = c;
    }
    out[r == VMRUN_CMD_FOUND ? pos : 0] = '\0';
    return r;
}

const char *vmrun_cmd_result_str(enum vmrun_cmd_result r)
{
    switch (r) {
    case VMRUN_CMD_FOUND:
        return "found";
    case VMRUN_CMD_NOT_FOUND:
        return "not found";
    case VMRUN_CMD_BAD_ESCAPE:
        return "bad % escape";
    case VMRUN_CMD_NUL_BYTE:
        return "%00 not allowed";
    case VMRUN_CMD_TOO_LONG:
        return "too long";
    case VMRUN_CMD_TOO_MANY_ARGS:
        return "too many args";
    }
    return "unknown error";
}

/* Copies a token's raw value; the results of cmdline_get(). */
static int copy_value(const struct param *prm, char *out, size_t outlen)
{
    if (prm->val_len >= outlen)
        return -1;
    if (prm->val_len > 0)
        memcpy(out, prm->val, prm->val_len);
    out[prm->val_len] = '\0';
    return 1;
}

int cmdline_get(const char *cmdline, const char *name, char *out, size_t outlen)
{
    struct param prm;

    if (outlen > 0)
        out[0] = '\0';
    if (!find_last(cmdline, name, &prm))
        return 0;
    return copy_value(&prm, out, outlen);
}

int cmdline_next(const char **cursor, const char *name, char *out, size_t outlen)
{
    struct param prm;

    if (outlen > 0)
        out[0] = '\0';
    if (!find_next(cursor, name, &prm))
        return 0;
    return copy_value(&prm, out, outlen);
}

/* The tag names the virtio device and appears in messages: keep it plain. */
static int valid_tag(const char *tag)
{
    size_t n = strlen(tag);
    if (n == 0 || n > VMRUN_SHARE_TAG_MAX)
        return 0;
    for (const char *p = tag; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
            return 0;
    return 1;
}

/*
 * Absolute, no `..` (init creates the directories, so the path must not
 * climb anywhere), and some real component: mounting over / (or "//",
 * "/.") would hide init's own file system. Extra '/' and `.` are harmless.
 */
static int valid_share_path(const char *p)
{
    int named = 0;
    if (*p != '/')
        return 0;
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - start);
        if (n == 2 && start[0] == '.' && start[1] == '.')
            return 0;
        if (n > 1 || (n == 1 && start[0] != '.'))
            named = 1;
    }
    return named;
}

/* The fields decode exactly like vmrun.cmd's arguments. */
static enum vmrun_share_result parse_share(const char *value, struct vmrun_share *out)
{
    struct vmrun_cmd f;

    switch (decode_args(value, strlen(value), &f)) {
    case VMRUN_CMD_FOUND:
        break;
    case VMRUN_CMD_BAD_ESCAPE:
        return VMRUN_SHARE_BAD_ESCAPE;
    case VMRUN_CMD_NUL_BYTE:
        return VMRUN_SHARE_NUL_BYTE;
    case VMRUN_CMD_TOO_LONG:
        return VMRUN_SHARE_TOO_LONG;
    default:
        return VMRUN_SHARE_BAD_FIELDS;
    }
    if (f.argc < 2 || f.argc > 3 || (f.argc == 3 && strcmp(f.argv[2], "ro") != 0))
        return VMRUN_SHARE_BAD_FIELDS;
    if (!valid_tag(f.argv[0]))
        return VMRUN_SHARE_BAD_TAG;
    if (strlen(f.argv[1]) >= sizeof out->path)
        return VMRUN_SHARE_TOO_LONG;
    if (!valid_share_path(f.argv[1]))
        return VMRUN_SHARE_BAD_PATH;
    strcpy(out->tag, f.argv[0]);
    strcpy(out->path, f.argv[1]);
    out->read_only = f.argc == 3;
    return VMRUN_SHARE_OK;
}

enum vmrun_share_result vmrun_share_parse(const char *value, struct vmrun_share *out)
{
    memset(out, 0, sizeof *out);
    enum vmrun_share_result r = parse_share(value, out);
    if (r != VMRUN_SHARE_OK)
        memset(out, 0, sizeof *out);
    return r;
}

const char *vmrun_share_result_str(enum vmrun_share_result r)
{
    switch (r) {
    case VMRUN_SHARE_OK:
        return "ok";
    case VMRUN_SHARE_BAD_ESCAPE:
        return "bad % escape";
    case VMRUN_SHARE_NUL_BYTE:
        return "%00 not allowed";
    case VMRUN_SHARE_TOO_LONG:
        return "too long";
    case VMRUN_SHARE_BAD_FIELDS:
        return "expected TAG,PATH or TAG,PATH,ro";
    case VMRUN_SHARE_BAD_TAG:
        return "TAG must be 1-31 of A-Z a-z 0-9 _ . -";
    case VMRUN_SHARE_BAD_PATH:
        return "PATH must be absolute, not /, without ..";
    }
    return "unknown error";
}

/*
 * A decimal number, at most max (< 1000, so 1-3 digits), without leading
 * zeros; advances *p past it. Returns 1 if there is one.
 */
static int parse_dec(const char **p, unsigned max, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0;
    int n = 0;
    while (n < 3 && s[n] >= '0' && s[n] <= '9')
        v = v * 10 + (unsigned)(s[n++] - '0');
    if (n == 0 || (n > 1 && s[0] == '0') || v > max)
        return 0;
    *p = s + n;
    *out = v;
    return 1;
}

/* Dotted decimal IPv4 at *p (advanced past it); returns 1 if there is one. */
static int parse_ipv4(const char **p, unsigned char out[4])
{
    for (int i = 0; i < 4; i++) {
        unsigned v;
        if (i > 0 && *(*p)++ != '.')
            return 0;
        if (!parse_dec(p, 255, &v))
            return 0;
        out[i] = (unsigned char)v;
    }
    return 1;
}

/* aa:bb:cc:dd:ee:ff, either case; stored in lower case like sysfs's. */
static int parse_mac(const char *s, char out[VMRUN_NET_MAC_LEN + 1])
{
    if (strlen(s) != VMRUN_NET_MAC_LEN)
        return 0;
    for (int i = 0; i < VMRUN_NET_MAC_LEN; i++) {
        if (i % 3 == 2 ? s[i] != ':' : hex_value(s[i]) < 0)
            return 0;
        out[i] = s[i] >= 'A' && s[i] <= 'F' ? (char)(s[i] - 'A' + 'a') : s[i];
    }
    out[VMRUN_NET_MAC_LEN] = '\0';
    return 1;
}

static enum vmrun_net_result parse_net(const char *value, struct vmrun_net *out)
{
    struct vmrun_cmd f;

    switch (decode_args(value, strlen(value), &f)) {
    case VMRUN_CMD_FOUND:
        break;
    case VMRUN_CMD_BAD_ESCAPE:
        return VMRUN_NET_BAD_ESCAPE;
    case VMRUN_CMD_NUL_BYTE:
        return VMRUN_NET_NUL_BYTE;
    case VMRUN_CMD_TOO_LONG:
        return VMRUN_NET_TOO_LONG;
    default:
        return VMRUN_NET_BAD_FIELDS;
    }
    for (int i = 0; i < f.argc; i++)
        if (f.argv[i][0] == '\0')
            return VMRUN_NET_BAD_FIELDS;
    if (f.argc > 3)
        return VMRUN_NET_BAD_FIELDS;
    if (!parse_mac(f.argv[0], out->mac))
        return VMRUN_NET_BAD_MAC;
    if (f.argc == 1)
        return VMRUN_NET_OK; /* VMRUN_NET_LINK_ONLY */
    if (strcmp(f.argv[1], "dhcp") == 0) {
        out->mode = VMRUN_NET_DHCP;
        return f.argc == 2 ? VMRUN_NET_OK : VMRUN_NET_BAD_FIELDS;
    }
    const char *p = f.argv[1];
    unsigned prefix;
    if (!parse_ipv4(&p, out->addr) || *p++ != '/')
        return VMRUN_NET_BAD_ADDR;
    if (!parse_dec(&p, 32, &prefix) || *p != '\0')
        return VMRUN_NET_BAD_PREFIX;
    out->mode = VMRUN_NET_STATIC;
    out->prefix = (int)prefix;
    if (f.argc == 3) {
        p = f.argv[2];
        if (!parse_ipv4(&p, out->gateway) || *p != '\0')
            return VMRUN_NET_BAD_GATEWAY;
        out->has_gateway = 1;
    }
    return VMRUN_NET_OK;
}

enum vmrun_net_result vmrun_net_parse(const char *value, struct vmrun_net *out)
{
    memset(out, 0, sizeof *out);
    enum vmrun_net_result r = parse_net(value, out);
    if (r != VMRUN_NET_OK)
        memset(out, 0, sizeof *out);
    return r;
}

const char *vmrun_net_result_str(enum vmrun_net_result r)
{
    switch (r) {
    case VMRUN_NET_OK:
        return "ok";
    case VMRUN_NET_BAD_ESCAPE:
        return "bad % escape";
    case VMRUN_NET_NUL_BYTE:
        return "%00 not allowed";
    case VMRUN_NET_TOO_LONG:
        return "too long";
    case VMRUN_NET_BAD_FIELDS:
        return "expected MAC[,ADDR/PREFIX[,GATEWAY]] or MAC,dhcp";
    case VMRUN_NET_BAD_MAC:
        return "MAC must be six hex bytes like 52:54:00:12:34:56";
    case VMRUN_NET_BAD_ADDR:
        return "expected ADDR/PREFIX (dotted IPv4) or dhcp";
    case VMRUN_NET_BAD_PREFIX:
        return "PREFIX must be 0-32";
    case VMRUN_NET_BAD_GATEWAY:
        return "GATEWAY must be a dotted IPv4 address";
    }
    return "unknown error";
}
