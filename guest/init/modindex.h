/*
 * The text files of a module directory (modules.dep, modules.alias,
 * modules.softdep, modules.builtin, modules.builtin.modinfo), read whole
 * and walked as records, the name rules modprobe compares them by, and
 * the lookups that need no more than one file. For modprobe.c; everything
 * in them is untrusted input.
 */
#ifndef VMRUN_GUEST_MODINDEX_H
#define VMRUN_GUEST_MODINDEX_H

#include <stddef.h>

#define MODINDEX_FILE_MAX (4 * 1024 * 1024) /* Debian's largest is < 2 MiB */
#define MODINDEX_NAME_LEN 64  /* a module name, NUL included (the kernel: 56) */
#define MODINDEX_WORD_MAX 256 /* an alias or pattern, NUL included */

/* One file, its lines (or NUL-separated records) each NUL-terminated. */
struct modindex {
    int tried; /* read already (text NULL: the file is absent) */
    char *text;
    const char *end;
};

/*
 * Reads DIR/FILE into ix unless it was read already (dir + file must fit
 * in PATH_MAX). An absent file is an empty index. Returns 0, or -1 after
 * printing `vmrun-init: cannot read PATH: reason` (EFBIG beyond the max).
 */
int modindex_get(struct modindex *ix, const char *dir, const char *file);

/* Frees what modindex_get() read. */
void modindex_free(struct modindex *ix);

/* The first record, or NULL; then the one after rec, or NULL at the end. */
const char *modindex_first(const struct modindex *ix);
const char *modindex_next(const struct modindex *ix, const char *rec);

/* for (each record rec of *ix) */
#define MODINDEX_EACH(rec, ix) \
    for (const char *rec = modindex_first(ix); rec != NULL; rec = modindex_next(ix, rec))

/* The next blank-separated word after *s (its length in *n), or NULL. */
const char *modindex_word(const char **s, size_t *n);

/*
 * s[0..n) as a module name, '-' as '_', into out[MODINDEX_NAME_LEN];
 * a module file's path as its module name (its base name up to ".ko");
 * an alias or an alias pattern with '-' as '_' outside [...] (as kmod
 * compares them) into out[MODINDEX_WORD_MAX]. Each returns 0, or -1 if
 * s is empty or too long.
 */
int modindex_name(const char *s, size_t n, char *out);
int modindex_path_name(const char *path, size_t n, char *out);
int modindex_alias(const char *s, size_t n, char *out);

/* Whether the word w (n bytes; NULL: none) is lit. */
int modindex_is(const char *w, size_t n, const char *lit);

/*
 * For a modules.alias line `alias PATTERN NAME` whose PATTERN matches
 * query (an alias as modindex_alias() gives it): NAME as a module name,
 * copied to target[MODINDEX_NAME_LEN] and returned. Otherwise NULL.
 */
const char *modindex_alias_match(const char *rec, const char *query, char *target);

/*
 * Whether word names a module built into the kernel: in modules.builtin,
 * or an alias of one in modules.builtin.modinfo. 1 or 0.
 */
int modindex_builtin(const struct modindex *builtin, const struct modindex *modinfo,
                     const char *word);

#endif /* VMRUN_GUEST_MODINDEX_H */
