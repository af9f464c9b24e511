/* The job's user for vmrun-init; see user.h. */
#define _GNU_SOURCE
#include "user.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inroot.h"
#include "util.h"

#define ID_MAX 4294967294UL /* (uid_t)-1 means "no change" to setuid */

/* One passwd or group entry; the fields point into the file's text. */
struct entry {
    const char *name;
    unsigned long id;    /* uid, or the group's gid */
    unsigned long gid;   /* passwd: the primary gid */
    const char *home;    /* passwd */
    const char *members; /* group: "a,b,c" */
};

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n > USER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

int user_spec_valid(const char *spec)
{
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    return name_ok(spec, n) && (colon == NULL || name_ok(colon + 1, strlen(colon + 1)));
}

/* 1-10 decimal digits up to ID_MAX; returns 1 and sets *out if s is one. */
static int parse_id(const char *s, unsigned long *out)
{
    unsigned long v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 10)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > ID_MAX)
        return 0;
    *out = v;
    return 1;
}

/*
 * Splits line at ':' into at most max fields in place (the last keeps any
 * further ':'); returns how many. Fields beyond the count are "".
 */
static int split(char *line, char **f, int max)
{
    int n = 1;
    f[0] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ':') {
            *p = '\0';
            f[n++] = p + 1;
        }
    for (int i = n; i < max; i++)
        f[i] = "";
    return n;
}

/*
 * The next usable entry of a passwd (is_group 0: name:pw:uid:gid:gecos:
 * home:shell, at least the first four) or group file (name:pw:gid[:members]).
 * Malformed lines (too few fields, a bad number, a bad name, NIS's +/-
 * lines) are skipped, as glibc's parser skips them.
 */
static int next_entry(char **cursor, int is_group, struct entry *e)
{
    char *line, *f[7];
    while ((line = next_line(cursor)) != NULL) {
        int n = split(line, f, is_group ? 4 : 7);
        memset(e, 0, sizeof *e);
        if (n < (is_group ? 3 : 4) || !name_ok(f[0], strlen(f[0])) || f[0][0] == '+' ||
            f[0][0] == '-' || !parse_id(f[2], &e->id) || (!is_group && !parse_id(f[3], &e->gid)))
            continue;
        e->name = f[0];
        e->home = is_group ? "" : f[5];
        e->members = is_group ? f[3] : "";
        return 1;
    }
    return 0;
}

/* Reads ROOT/etc/NAME; a missing file reads as empty. */
static int read_db(int rootfd, const char *where, const char *path, char **text)
{
    int err = inroot_read(rootfd, path, USER_FILE_MAX, text);
    if (err == ENOENT) {
        *text = strdup("");
        return *text ? 0 : -1;
    }
    if (err != 0)
        say("vmrun-init: cannot read ", where, " ", path, ": ",
            err == EINVAL ? "not a regular file" : strerror(err), NULL);
    return err == 0 ? 0 : -1;
}

/* 1 if the comma-separated list has name. */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/*
 * Adds gid to the memberships (groups[1...]) unless it is there; -1 if the
 * list is full. groups[0] is the primary gid, settled after the scan.
 */
static int add_group(struct run_user *u, unsigned long gid)
{
    for (size_t i = 1; i < u->ngroups; i++)
        if (u->groups[i] == (gid_t)gid)
            return 0;
    if (u->ngroups == USER_GROUPS_MAX)
        return -1;
    u->groups[u->ngroups++] = (gid_t)gid;
    return 0;
}

/* The user part: fills uid, gid, home and *name (NULL: no passwd entry). */
static int find_user(char *passwd, const char *where, const char *spec_user,
                     struct run_user *out, char *name)
{
    unsigned long uid;
    int numeric = parse_id(spec_user, &uid);
    struct entry e;
    char *cursor = passwd;
    while (next_entry(&cursor, 0, &e))
        if (numeric ? e.id == uid : strcmp(e.name, spec_user) == 0) {
            out->uid = (uid_t)e.id;
            out->gid = (gid_t)e.gid;
            snprintf(out->home, sizeof out->home, "%s", *e.home ? e.home : "/");
            strcpy(name, e.name); /* name_ok: at most USER_NAME_MAX */
            return 0;
        }
    if (!numeric) {
        say("vmrun-init: user '", spec_user, "' not found in ", where, " /etc/passwd", NULL);
        return -1;
    }
    out->uid = (uid_t)uid; /* a uid without an entry, as Docker allows */
    out->gid = 0;
    strcpy(out->home, "/");
    name[0] = '\0';
    return 0;
}

/*
 * One pass over /etc/group: the named group's gid (spec_group, if a name)
 * and the groups listing the user's name. Returns 0 or -1 after a line.
 */
static int scan_groups(char *group, const char *where, const char *spec_group,
                       const char *name, struct run_user *out)
{
    unsigned long gid;
    int by_name = spec_group != NULL && !parse_id(spec_group, &gid), found = 0;
    struct entry e;
    char *cursor = group;
    if (spec_group != NULL && !by_name)
        out->gid = (gid_t)gid;
    out->groups[0] = out->gid; /* for now; the named group's gid replaces it */
    out->ngroups = 1;
    while (next_entry(&cursor, 1, &e)) {
        if (by_name && !found && strcmp(e.name, spec_group) == 0) {
            found = 1;
            out->gid = out->groups[0] = (gid_t)e.id;
        }
        if (name[0] && listed(e.members, name) && add_group(out, e.id) != 0) {
            say("vmrun-init: user '", name, "' is in too many groups in ", where,
                " /etc/group", NULL);
            return -1;
        }
    }
    if (by_name && !found) {
        say("vmrun-init: group '", spec_group, "' not found in ", where, " /etc/group", NULL);
        return -1;
    }
    /* The primary gid once, first: drop it from the memberships. */
    size_t kept = 1;
    for (size_t i = 1; i < out->ngroups; i++)
        if (out->groups[i] != out->gid)
            out->groups[kept++] = out->groups[i];
    out->ngroups = kept;
    return 0;
}

int user_resolve(int rootfd, const char *where, const char *spec, struct run_user *out)
{
    char user[USER_SPEC_MAX], name[USER_NAME_MAX + 1], *passwd = NULL, *group = NULL;
    const char *spec_group = NULL;

    memset(out, 0, sizeof *out);
    snprintf(user, sizeof user, "%s", spec);
    char *colon = strchr(user, ':');
    if (colon != NULL) {
        *colon = '\0';
        spec_group = colon + 1;
    }
    int status = read_db(rootfd, where, "/etc/passwd", &passwd) != 0 ||
                         find_user(passwd, where, user, out, name) != 0 ||
                         read_db(rootfd, where, "/etc/group", &group) != 0 ||
                         scan_groups(group, where, spec_group, name, out) != 0
                     ? -1
                     : 0;
    free(passwd);
    free(group);
    return status;
}
