/* A module directory's index files for vmrun-init; see modindex.h. */
#define _GNU_SOURCE
#include "modindex.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int modindex_get(struct modindex *ix, const char *dir, const char *file)
{
    char path[PATH_MAX];
    size_t len;
    if (ix->tried)
        return 0;
    ix->tried = 1;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int err = read_file_alloc_len(path, MODINDEX_FILE_MAX, &ix->text, &len);
    if (err == ENOENT || err == ENOTDIR)
        return 0;
    if (err != 0) {
        say("vmrun-init: cannot read ", path, ": ", strerror(err), NULL);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if (ix->text[i] == '\n')
            ix->text[i] = '\0';
    ix->end = ix->text + len;
    return 0;
}

void modindex_free(struct modindex *ix)
{
    free(ix->text);
    ix->text = NULL;
}

const char *modindex_first(const struct modindex *ix)
{
    return ix->text != NULL && ix->text < ix->end ? ix->text : NULL;
}

const char *modindex_next(const struct modindex *ix, const char *rec)
{
    rec += strlen(rec) + 1; /* text[len] is a NUL: never runs past */
    return rec < ix->end ? rec : NULL;
}

const char *modindex_word(const char **s, size_t *n)
{
    const char *w = *s + strspn(*s, " \t");
    if (*w == '\0')
        return NULL;
    *n = strcspn(w, " \t");
    *s = w + *n;
    return w;
}

int modindex_name(const char *s, size_t n, char *out)
{
    if (n == 0 || n >= MODINDEX_NAME_LEN)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = s[i] == '-' ? '_' : s[i];
    out[n] = '\0';
    return 0;
}

int modindex_path_name(const char *path, size_t n, char *out)
{
    const char *base = path;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/')
            base = path + i + 1;
    size_t len = (size_t)(path + n - base);
    const char *ko = memmem(base, len, ".ko", 3);
    return modindex_name(base, ko != NULL ? (size_t)(ko - base) : len, out);
}

int modindex_alias(const char *s, size_t n, char *out)
{
    int in_set = 0;
    if (n == 0 || n >= MODINDEX_WORD_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        in_set = s[i] == '[' ? 1 : s[i] == ']' ? 0 : in_set;
        out[i] = s[i] == '-' && !in_set ? '_' : s[i];
    }
    out[n] = '\0';
    return 0;
}

int modindex_is(const char *w, size_t n, const char *lit)
{
    return w != NULL && n == strlen(lit) && memcmp(w, lit, n) == 0;
}

const char *modindex_alias_match(const char *rec, const char *query, char *target)
{
    char pattern[MODINDEX_WORD_MAX];
    size_t n = 0, tn = 0;
    const char *s = rec, *w = modindex_word(&s, &n), *t;
    if (!modindex_is(w, n, "alias") || (w = modindex_word(&s, &n)) == NULL ||
        (t = modindex_word(&s, &tn)) == NULL || modindex_alias(w, n, pattern) != 0 ||
        fnmatch(pattern, query, 0) != 0 || modindex_name(t, tn, target) != 0)
        return NULL;
    return target;
}

int modindex_builtin(const struct modindex *builtin, const struct modindex *modinfo,
                     const char *word)
{
    char name[MODINDEX_NAME_LEN], n[MODINDEX_NAME_LEN], query[MODINDEX_WORD_MAX],
        pattern[MODINDEX_WORD_MAX];
    if (modindex_name(word, strlen(word), name) == 0)
        MODINDEX_EACH(r, builtin)
            if (modindex_path_name(r, strlen(r), n) == 0 && strcmp(n, name) == 0)
                return 1;
    if (modindex_alias(word, strlen(word), query) != 0)
        return 0;
    /* Records "MODULE.alias=PATTERN" for the aliases of built-in modules. */
    MODINDEX_EACH(r, modinfo) {
        const char *dot = strchr(r, '.');
        if (dot != NULL && strncmp(dot, ".alias=", 7) == 0 &&
            modindex_alias(dot + 7, strlen(dot + 7), pattern) == 0 &&
            fnmatch(pattern, query, 0) == 0)
            return 1;
    }
    return 0;
}
