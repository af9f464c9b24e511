/* Modules given by name, found like modprobe finds them; see modprobe.h. */
#define _GNU_SOURCE
#include "modprobe.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modindex.h"
#include "modtree.h"
#include "modules.h"
#include "util.h"

#define NAME_LEN MODINDEX_NAME_LEN
#define WORD_MAX MODINDEX_WORD_MAX
#define REL_MAX 1024            /* a module's path in modules.dep */
#define DIR_MAX (PATH_MAX - 64) /* room for "/modules.builtin.modinfo" */

/* What one modprobe_load() works with. */
struct probe {
    const char *dir, *word, *release;
    char top[NAME_LEN]; /* word as a module name, "" if it is not one */
    int test, count, names, paths; /* modules visited, lookups, dependency visits */
    struct modindex dep, softdep, alias, builtin, modinfo;
    char seen[MODPROBE_MODULES_MAX][NAME_LEN];
};

/* modules.dep's line for a module name or for a path, or NULL. */
static const char *dep_by_name(const struct probe *p, const char *name)
{
    char n[NAME_LEN];
    MODINDEX_EACH(rec, &p->dep) {
        const char *colon = strchr(rec, ':');
        if (colon != NULL && modindex_path_name(rec, (size_t)(colon - rec), n) == 0 &&
            strcmp(n, name) == 0)
            return rec;
    }
    return NULL;
}

static const char *dep_by_path(const struct probe *p, const char *path, size_t len)
{
    MODINDEX_EACH(rec, &p->dep) {
        const char *colon = strchr(rec, ':');
        if (colon != NULL && (size_t)(colon - rec) == len && memcmp(rec, path, len) == 0)
            return rec;
    }
    return NULL;
}

/* Counts one more step of kind what against max: 0, or -1 after a line. */
static int step(const struct probe *p, int *done, int max, const char *what)
{
    if (++*done <= max)
        return 0;
    say("vmrun-init: cannot load ", p->word, ": too many ", what, " to follow", NULL);
    return -1;
}

/* Records a module as visited: 1 if it was already, -1 if too many. */
static int visit(struct probe *p, const char *name)
{
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->seen[i], name) == 0)
            return 1;
    if (p->count == MODPROBE_MODULES_MAX) {
        say("vmrun-init: cannot load ", p->word, ": too many modules to load for it", NULL);
        return -1;
    }
    strcpy(p->seen[p->count++], name);
    return 0;
}

/* Loaded already (in the guest: its /sys/module entry is a live module). */
static int loaded(const struct probe *p, const char *name)
{
    char path[NAME_LEN + 32];
    snprintf(path, sizeof path, "/sys/module/%s/initstate", name);
    return !p->test && access(path, F_OK) == 0;
}

/*
 * The loaders below return 0 (loaded, or nothing to load), 1 (soft: it
 * failed or is unknown, silently) or -1 (after a line: the job fails).
 *
 * Loads the file itself, named in messages by NAME and what it is for. A
 * soft dependency's failure is silent and ignored, as with kmod: say a
 * crypto-crc32c provider for a CPU feature the guest's CPU lacks.
 */
static int load_self(const struct probe *p, const char *path, size_t len, const char *name,
                     const char *params, int soft)
{
    static char rel[REL_MAX], file[PATH_MAX + REL_MAX], shown[NAME_LEN + WORD_MAX + 8],
        detail[REL_MAX + 8];
    if (len >= sizeof rel) {
        say("vmrun-init: cannot load ", p->word, ": a path in modules.dep is too long", NULL);
        return -1;
    }
    memcpy(rel, path, len);
    rel[len] = '\0';
    snprintf(file, sizeof file, "%s%s%s", rel[0] == '/' ? "" : p->dir, rel[0] == '/' ? "" : "/",
             rel);
    if (strcmp(name, p->top) == 0)
        snprintf(shown, sizeof shown, "%s", p->word);
    else
        snprintf(shown, sizeof shown, "%s (for %s)", name, p->word);
    snprintf(detail, sizeof detail, " from %s", rel);
    int mode = (p->test ? MODULES_TEST : 0) | (soft ? MODULES_QUIET : 0);
    return modules_load_file(file, shown, detail, params, mode) == 0 ? 0 : soft ? 1 : -1;
}

static int load_name(struct probe *p, const char *word, const char *params, int depth, int soft);

/*
 * Loads the modules.softdep `pre:` (post 0) or `post:` (1) modules of NAME,
 * from every line for it (kmod takes only the first; btrfs has four).
 */
static int softdeps(struct probe *p, const char *name, int post, int depth)
{
    char m[NAME_LEN], word[WORD_MAX];
    size_t n = 0;
    if (modindex_get(&p->softdep, p->dir, "modules.softdep") != 0)
        return -1;
    MODINDEX_EACH(rec, &p->softdep) {
        const char *s = rec, *w = modindex_word(&s, &n);
        if (!modindex_is(w, n, "softdep") || (w = modindex_word(&s, &n)) == NULL ||
            modindex_name(w, n, m) != 0 || strcmp(m, name) != 0)
            continue;
        for (int part = -1; (w = modindex_word(&s, &n)) != NULL;) {
            if (modindex_is(w, n, "pre:")) {
                part = 0;
            } else if (modindex_is(w, n, "post:")) {
                part = 1;
            } else if (part == post && n < sizeof word) {
                memcpy(word, w, n);
                word[n] = '\0';
                if (load_name(p, word, "", depth + 1, 1) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

/*
 * Loads the module file PATH (len bytes, as modules.dep names it) after its
 * dependencies and then its pre soft dependencies, then its post ones, in
 * kmod's order. soft: it is (needed by) a soft dependency, so optional.
 */
static int load_path(struct probe *p, const char *path, size_t len, const char *params,
                     int depth, int soft)
{
    char name[NAME_LEN];
    if (step(p, &p->paths, MODPROBE_PATHS_MAX, "dependencies") != 0)
        return -1;
    if (depth > MODPROBE_DEPTH_MAX) {
        say("vmrun-init: cannot load ", p->word, ": its dependencies nest too deep", NULL);
        return -1;
    }
    if (modindex_path_name(path, len, name) != 0) {
        say("vmrun-init: cannot load ", p->word, ": a bad module path in modules.dep", NULL);
        return -1;
    }
    int v = visit(p, name);
    if (v != 0 || loaded(p, name))
        return v < 0 ? -1 : 0;
    const char *rec = dep_by_path(p, path, len);
    if (rec != NULL) {
        /* depmod orders them so that each needs only those after it: last first. */
        const char *start = strchr(rec, ':') + 1, *e = start + strlen(start);
        while (e > start) {
            while (e > start && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            const char *b = e;
            while (b > start && b[-1] != ' ' && b[-1] != '\t')
                b--;
            if (b < e && load_path(p, b, (size_t)(e - b), "", depth + 1, soft) < 0)
                return -1;
            e = b;
        }
    }
    int r = softdeps(p, name, 0, depth) != 0 ? -1 : load_self(p, path, len, name, params, soft);
    return r < 0 || softdeps(p, name, 1, depth) != 0 ? -1 : r;
}

/*
 * Loads the modules that modules.alias maps WORD to (*matches: how many
 * are in modules.dep).
 * One is loaded like a name; of several (crypto-crc32c: the generic one and
 * one per CPU feature) each is optional, but one at least must load.
 */
static int load_aliases(struct probe *p, const char *word, const char *params, int depth,
                        int soft, int *matches)
{
    char query[WORD_MAX], target[NAME_LEN];
    int ok = 0;
    *matches = 0;
    if (modindex_get(&p->alias, p->dir, "modules.alias") != 0)
        return -1;
    if (modindex_alias(word, strlen(word), query) != 0)
        return 0;
    MODINDEX_EACH(rec, &p->alias)
        *matches += modindex_alias_match(rec, query, target) != NULL;
    if (*matches > MODPROBE_ALIAS_MAX) {
        say("vmrun-init: cannot load ", p->word, ": an alias for too many modules", NULL);
        return -1;
    }
    int several = *matches > 1, found = 0;
    MODINDEX_EACH(rec, &p->alias) {
        const char *t = modindex_alias_match(rec, query, target) ? dep_by_name(p, target) : NULL;
        if (t == NULL)
            continue; /* no such module: as if the line were not there */
        int r = load_path(p, t, (size_t)(strchr(t, ':') - t), params, depth + 1, soft || several);
        if (r < 0)
            return -1;
        ok |= r == 0;
        found++;
    }
    *matches = found;
    return ok || found == 0 ? 0 : 1;
}

/* Loads WORD: a module name, else an alias, else built in; soft: optional. */
static int load_name(struct probe *p, const char *word, const char *params, int depth, int soft)
{
    char name[NAME_LEN], count[16];
    const char *rec;
    int matches;
    if (step(p, &p->names, MODPROBE_NAMES_MAX, "soft dependencies") != 0)
        return -1;
    if (modindex_name(word, strlen(word), name) == 0 && (rec = dep_by_name(p, name)) != NULL)
        return load_path(p, rec, (size_t)(strchr(rec, ':') - rec), params, depth, soft);
    int r = load_aliases(p, word, params, depth, soft, &matches);
    if (r <= 0 && (r < 0 || matches > 0))
        return r;
    /* Unknown, or none of its modules loaded: the kernel may have it built in. */
    int b = modindex_get(&p->builtin, p->dir, "modules.builtin") != 0 ||
                    modindex_get(&p->modinfo, p->dir, "modules.builtin.modinfo") != 0
                ? -1
                : modindex_builtin(&p->builtin, &p->modinfo, word);
    if (b < 0 || (b > 0 && (soft || *params == '\0')))
        return b < 0 ? -1 : 0;
    if (soft)
        return 1;
    snprintf(count, sizeof count, "%d", matches);
    if (b > 0)
        say("vmrun-init: cannot load ", word, ": it is built into the guest kernel ", p->release,
            "; set its parameters on the kernel command line (vmrun -p ", word, ".PARAM=VALUE)",
            NULL);
    else if (matches > 0)
        say("vmrun-init: cannot load ", word, ": none of the ", count,
            " modules for this alias loaded (load one by name to see why)", NULL);
    else
        say("vmrun-init: cannot load ", word, ": no such module in the guest kernel ",
            p->release, " or the job's modules", NULL);
    return -1;
}

int modprobe_is_name(const char *word)
{
    static const char *const ends[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};
    size_t n = strlen(word);
    if (strchr(word, '/') != NULL)
        return 0;
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        if (n >= strlen(ends[i]) && strcmp(word + n - strlen(ends[i]), ends[i]) == 0)
            return 0;
    return 1;
}

int modprobe_load(const char *word, const char *params, int test)
{
    static struct probe p; /* static: keep PID 1's stack small */
    memset(&p, 0, sizeof p);
    p.dir = modtree_dir(test);
    p.release = modtree_release(test);
    p.word = word;
    p.test = test;
    if (p.dir == NULL || strlen(p.dir) >= DIR_MAX) {
        say("vmrun-init: test mode: module names need VMRUN_INIT_MODULES_DIR",
            p.dir != NULL ? " (shorter)" : "", NULL);
        return -1;
    }
    if (strlen(word) >= WORD_MAX) {
        say("vmrun-init: cannot load ", word, ": the name is too long", NULL);
        return -1;
    }
    if (modindex_name(word, strlen(word), p.top) != 0)
        p.top[0] = '\0';
    int r = modindex_get(&p.dep, p.dir, "modules.dep") != 0
                ? -1
                : load_name(&p, word, params, 0, 0);
    struct modindex *all[] = {&p.dep, &p.softdep, &p.alias, &p.builtin, &p.modinfo};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        modindex_free(all[i]);
    return r < 0 ? -1 : 0;
}
