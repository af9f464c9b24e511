/* The job's userland settings for vmrun-init; see rootcfg.h. */
#define _GNU_SOURCE
#include "rootcfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A raw (encoded) value: every byte may take 3. */
#define RAW_MAX (3 * ROOTCFG_ENV_MAX + 64)

/* One line; a long value is cut so that the reason still shows. */
static int bad(const char *name, const char *value, const char *why)
{
    char shown[80];
    size_t n = strlen(value);
    snprintf(shown, sizeof shown, "%.*s%s", n > 64 ? 60 : (int)n, value, n > 64 ? "..." : "");
    say("vmrun-init: bad ", name, "=", shown, ": ", why, NULL);
    return -1;
}

/* vmrun.X=1 or a bare vmrun.X: on; =0 or absent: off. */
static int flag(const char *cmdline, const char *name)
{
    char v[8];
    return cmdline_get(cmdline, name, v, sizeof v) != 0 && strcmp(v, "0") != 0;
}

/*
 * The last `name` token, decoded into out. Returns 1 (found), 0 (absent)
 * or -1 after a line.
 */
static char raw[RAW_MAX]; /* get_decoded's last value, as given: for messages */

static int get_decoded(const char *cmdline, const char *name, char *out, size_t outlen)
{
    int have = cmdline_get(cmdline, name, raw, sizeof raw);
    if (have == 0)
        return 0;
    enum vmrun_cmd_result r =
        have < 0 ? VMRUN_CMD_TOO_LONG : vmrun_value_decode(raw, out, outlen);
    if (r == VMRUN_CMD_TOO_MANY_ARGS)
        return bad(name, raw, "one %-encoded value expected (',' is %2C)");
    return r == VMRUN_CMD_FOUND ? 1 : bad(name, raw, vmrun_cmd_result_str(r));
}

static int parse_rootfs(const char *cmdline, const char *share_dir, struct rootcfg *cfg)
{
    static char value[128], spec[sizeof value + VMRUN_SHARE_PATH_MAX];
    int have = cmdline_get(cmdline, "vmrun.rootfs", value, sizeof value);
    if (have == 0)
        return 0;
    cfg->active = 1;
    if (have < 0)
        return bad("vmrun.rootfs", "...", "too long");
    if (strncmp(value, "9p:", 3) == 0) {
        /* Checked and decoded like a vmrun.9p share's tag. */
        if (strchr(value + 3, ',') != NULL)
            return bad("vmrun.rootfs", value, vmrun_share_result_str(VMRUN_SHARE_BAD_TAG));
        snprintf(spec, sizeof spec, "%s,%s,ro", value + 3, share_dir);
        enum vmrun_share_result r = vmrun_share_parse(spec, &cfg->share);
        if (r != VMRUN_SHARE_OK)
            return bad("vmrun.rootfs", value, vmrun_share_result_str(r));
        cfg->is_9p = 1;
        return 0;
    }
    if (!valid_device_name(value) || strlen(value) >= sizeof cfg->dev)
        return bad("vmrun.rootfs", value, "expected a device name such as vdb, or 9p:TAG");
    strcpy(cfg->dev, value);
    cfg->rw = flag(cmdline, "vmrun.rootfs_rw");
    return 0;
}

/*
 * Decodes one vmrun.env value into out and splits it: returns the VALUE
 * (after the '=', now a NUL), or NULL after a line.
 */
static char *decode_env(const char *raw, char *out, size_t outlen)
{
    enum vmrun_cmd_result r = vmrun_value_decode(raw, out, outlen);
    if (r == VMRUN_CMD_TOO_MANY_ARGS) {
        bad("vmrun.env", raw, "one %-encoded KEY=VALUE expected (',' is %2C)");
        return NULL;
    }
    if (r != VMRUN_CMD_FOUND) {
        bad("vmrun.env", raw, vmrun_cmd_result_str(r));
        return NULL;
    }
    char *eq = strchr(out, '=');
    if (eq == NULL || eq == out) {
        bad("vmrun.env", raw, "expected KEY=VALUE");
        return NULL;
    }
    *eq = '\0';
    return eq + 1;
}

/* Goes through every vmrun.env token; with apply set, sets them. */
static int each_env(const char *cmdline, int apply, int *sets_home)
{
    static char text[ROOTCFG_ENV_MAX + 1];
    const char *cursor = cmdline;
    int have, count = 0;
    while ((have = cmdline_next(&cursor, "vmrun.env", raw, sizeof raw)) != 0) {
        char *value;
        if (++count > ROOTCFG_ENV_COUNT)
            return bad("vmrun.env", "...", "too many variables");
        if (have < 0)
            return bad("vmrun.env", "...", "too long");
        if ((value = decode_env(raw, text, sizeof text)) == NULL)
            return -1;
        if (!apply)
            continue;
        if (setenv(text, value, 1) != 0) {
            say("vmrun-init: setenv ", text, ": ", strerror(errno), NULL);
            return -1;
        }
        if (strcmp(text, "HOME") == 0)
            *sets_home = 1;
    }
    return 0;
}

int rootcfg_apply_env(const char *cmdline, int *sets_home)
{
    *sets_home = 0;
    return each_env(cmdline, 1, sets_home);
}

int rootcfg_parse(const char *cmdline, const char *share_dir, struct rootcfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    if (parse_rootfs(cmdline, share_dir, cfg) != 0)
        return -1;
    cfg->init = cfg->active && flag(cmdline, "vmrun.rootfs_init");
    int have = get_decoded(cmdline, "vmrun.cwd", cfg->cwd, sizeof cfg->cwd);
    if (have < 0)
        return -1;
    if (have && cfg->cwd[0] != '/')
        return bad("vmrun.cwd", raw, "the path must be absolute");
    cfg->have_cwd = have;
    have = get_decoded(cmdline, "vmrun.user", cfg->user, sizeof cfg->user);
    if (have < 0)
        return -1;
    if (have && !user_spec_valid(cfg->user))
        return bad("vmrun.user", raw,
                   "expected USER or USER:GROUP (names or numbers, 1-255 bytes each)");
    cfg->have_user = have;
    return each_env(cmdline, 0, NULL);
}
