/* The loader's typed accessors for YAML nodes: each checks the node's kind and value and reports
 * "file:line: message" on the first thing wrong. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "server/config_internal.h"

int cfg_fail(struct loader *L, const struct cnode *n, const char *fmt, ...)
{
    if (!L->errlen) return -1;
    const char *file = n && n->file ? n->file : L->name;
    int n0 = snprintf(L->err, L->errlen, "%s:%d: ", file, n ? n->line : 1);
    if (n0 >= 0 && (size_t)n0 < L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + n0, L->errlen - (size_t)n0, fmt, ap);
        va_end(ap);
    }
    return -1;
}

const char *cfg_show(const struct cnode *n, char *buf, size_t size)
{
    size_t o = 0;
    if (!size) return "";
    if (n->kind != CNODE_SCALAR) {
        snprintf(buf, size, "%s", cfg_kind_name(n));
        return buf;
    }
    for (size_t i = 0; i < n->len && o + 4 < size; i++) {
        unsigned char c = (unsigned char)n->str[i];
        buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (o < n->len && o + 4 >= size && size > 4) memcpy(buf + o, "...", 3), o += 3;
    buf[o] = '\0';
    return buf;
}

const char *cfg_kind_name(const struct cnode *n)
{
    switch (n->kind) {
    case CNODE_MAP: return "a mapping";
    case CNODE_SEQ: return "a list";
    default: return cfg_is_null(n) ? "nothing" : "a value";
    }
}

bool cfg_is_null(const struct cnode *n)
{
    if (n->kind != CNODE_SCALAR || !n->plain) return false;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

int cfg_key(struct loader *L, const struct cnode *k, const char *const *keys, const char *where,
            uint64_t *seen)
{
    char buf[80];
    if (k->kind != CNODE_SCALAR)
        return cfg_fail(L, k, "a key in %s must be a name, not %s", where, cfg_kind_name(k));
    for (int i = 0; keys[i]; i++) {
        if (strlen(keys[i]) != k->len || memcmp(keys[i], k->str, k->len) != 0) continue;
        if (*seen & (UINT64_C(1) << i))
            return cfg_fail(L, k, "duplicate key '%s' in %s", keys[i], where);
        *seen |= UINT64_C(1) << i;
        return i;
    }
    return cfg_fail(L, k, "unknown key '%s' in %s", cfg_show(k, buf, sizeof(buf)), where);
}

int cfg_want_map(struct loader *L, const struct cnode *v, const char *key)
{
    if (v->kind != CNODE_MAP)
        return cfg_fail(L, v, "'%s' must be a mapping, not %s", key, cfg_kind_name(v));
    return 0;
}

int cfg_text(struct loader *L, const struct cnode *v, const char *key, const char **out)
{
    if (v->kind != CNODE_SCALAR)
        return cfg_fail(L, v, "'%s' must be a single value, not %s", key, cfg_kind_name(v));
    if (cfg_is_null(v)) return cfg_fail(L, v, "'%s' has no value", key);
    if (strlen(v->str) != v->len) return cfg_fail(L, v, "'%s' contains a NUL byte", key);
    *out = v->str;
    return 0;
}

int cfg_string(struct loader *L, const struct cnode *v, const char *key, char **dst)
{
    const char *s;
    if (cfg_text(L, v, key, &s) < 0) return -1;
    if (!*s) return cfg_fail(L, v, "'%s' must not be empty", key);
    char *copy = strdup(s);
    if (!copy) return cfg_fail(L, v, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

int cfg_bool(struct loader *L, const struct cnode *v, const char *key, bool *dst)
{
    const char *s;
    char buf[80];
    if (cfg_text(L, v, key, &s) < 0) return -1;
    if (config_parse_bool(s, dst) < 0)
        return cfg_fail(L, v, "'%s' must be true or false, not '%s'", key,
                        cfg_show(v, buf, sizeof(buf)));
    return 0;
}

int cfg_uint(struct loader *L, const struct cnode *v, const char *key, bool sizes, uint64_t min,
             uint64_t max, uint64_t *dst)
{
    const char *s;
    char buf[80];
    uint64_t x = 0;
    if (cfg_text(L, v, key, &s) < 0) return -1;
    int rc = config_parse_uint(s, sizes, &x);
    if (rc == -1)
        return cfg_fail(L, v, "'%s' must be %s, not '%s'", key,
                        sizes ? "a byte size (like 4096, 64k or 1m)" : "a whole number",
                        cfg_show(v, buf, sizeof(buf)));
    if (rc == -2 || x < min || x > max)
        return cfg_fail(L, v, "'%s' must be between %llu and %llu, not '%s'", key,
                        (unsigned long long)min, (unsigned long long)max,
                        cfg_show(v, buf, sizeof(buf)));
    *dst = x;
    return 0;
}

int cfg_duration(struct loader *L, const struct cnode *v, const char *key, double min,
                 bool min_inclusive, double max, double *dst)
{
    const char *s;
    char buf[80];
    double x = 0;
    if (cfg_text(L, v, key, &s) < 0) return -1;
    int rc = config_parse_duration(s, &x);
    if (rc == -1)
        return cfg_fail(L, v,
                        "'%s' must be a duration in seconds (like 10, 2.5, 500ms or 10s), "
                        "not '%s'",
                        key, cfg_show(v, buf, sizeof(buf)));
    if (rc == -2 || x > max || x < min || (!min_inclusive && x == min))
        return cfg_fail(L, v, "'%s' must be %s %g and at most %g seconds, not '%s'", key,
                        min_inclusive ? "at least" : "more than", min, max,
                        cfg_show(v, buf, sizeof(buf)));
    *dst = x;
    return 0;
}

/* base_dir + "/" + s into out, or s alone when it is absolute or there is no base. */
static int join_path(const char *base, const char *s, char *out, size_t size)
{
    int n;
    if (s[0] == '/' || !base)
        n = snprintf(out, size, "%s", s);
    else
        n = snprintf(out, size, "%s/%s", base, s);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int cfg_root(struct loader *L, const struct cnode *v, const char *key, char **dst)
{
    const char *s;
    char joined[PATH_MAX], resolved[PATH_MAX], buf[80];
    if (cfg_text(L, v, key, &s) < 0) return -1;
    if (!*s) return cfg_fail(L, v, "'%s' must not be empty", key);
    if (join_path(L->base_dir, s, joined, sizeof(joined)) < 0)
        return cfg_fail(L, v, "%s '%s' is too long", key, cfg_show(v, buf, sizeof(buf)));
    if (!realpath(joined, resolved)) {
        if (errno == ENOENT || errno == ENOTDIR)
            return cfg_fail(L, v, "%s '%s' does not exist", key, cfg_show(v, buf, sizeof(buf)));
        return cfg_fail(L, v, "%s '%s': %s", key, cfg_show(v, buf, sizeof(buf)), strerror(errno));
    }
    struct stat st;
    if (stat(resolved, &st) < 0 || !S_ISDIR(st.st_mode))
        return cfg_fail(L, v, "%s '%s' is not a directory", key, cfg_show(v, buf, sizeof(buf)));
    int why = config_root_usable(resolved);
    if (why)
        return cfg_fail(L, v, "%s '%s': %s", key, cfg_show(v, buf, sizeof(buf)), strerror(why));
    char *copy = strdup(resolved);
    if (!copy) return cfg_fail(L, v, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

int cfg_path(struct loader *L, const struct cnode *v, const char *key, char **dst)
{
    const char *s;
    char joined[PATH_MAX];
    if (cfg_text(L, v, key, &s) < 0) return -1;
    if (!*s) return cfg_fail(L, v, "'%s' must not be empty", key);
    if (join_path(L->base_dir, s, joined, sizeof(joined)) < 0)
        return cfg_fail(L, v, "'%s' is too long", key);
    char *copy = strdup(joined);
    if (!copy) return cfg_fail(L, v, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}
