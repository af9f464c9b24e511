/*
 * Who runs the job: `vmrun.user=SPEC` (the OCI image config's User), as
 * `name`, `uid`, `name:group`, `uid:gid`, `name:gid` or `uid:group`,
 * resolved in the root's own /etc/passwd and /etc/group (the image's, not
 * init's), read by hand: a static init has no NSS, and the files are the
 * image's, so every line and field is bounded.
 */
#ifndef VMRUN_GUEST_USER_H
#define VMRUN_GUEST_USER_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#define USER_SPEC_MAX 512            /* decoded vmrun.user, with its NUL */
#define USER_NAME_MAX 255            /* a user or group name */
#define USER_GROUPS_MAX 256          /* supplementary groups, the primary one too */
#define USER_FILE_MAX (4 * 1024 * 1024) /* /etc/passwd, /etc/group */

struct run_user {
    uid_t uid;
    gid_t gid;
    size_t ngroups;                  /* for setgroups(2): gid first */
    gid_t groups[USER_GROUPS_MAX];
    char home[PATH_MAX];             /* passwd's home; "/" without an entry */
};

/*
 * Checks a decoded SPEC's shape: 1-255 bytes of user, optionally ':' and
 * 1-255 bytes of group, no control characters. Returns 1 if usable.
 */
int user_spec_valid(const char *spec);

/*
 * Resolves SPEC against ROOT/etc/passwd and ROOT/etc/group (rootfd: the
 * root, paths resolved inside it; `where` names the root in messages, e.g.
 * "the image's"). A user name must have a passwd entry; a numeric uid need
 * not (then gid 0 and home "/", as Docker does). Without a group: the
 * passwd entry's gid. Supplementary groups as initgroups(3) makes them:
 * the gid, then every group listing the user's name. Returns 0, or -1
 * after one line (`vmrun-init: user 'x' not found in the image's
 * /etc/passwd`, `... group 'x' not found in the image's /etc/group`, an
 * unreadable or oversized file, too many groups).
 */
int user_resolve(int rootfd, const char *where, const char *spec, struct run_user *out);

#endif /* VMRUN_GUEST_USER_H */
