/* The loader's `auth` of a location: its scheme, realm and digest options, and the user file
 * (htpasswd lines `user:hash` for Basic, htdigest lines `user:realm:HA1` for Digest), read
 * here at load so that a reload (HUP) reads it again. */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/config_internal.h"

#define AUTH_MAX_USERS     100000
#define AUTH_MAX_LINE      4096
#define AUTH_MAX_REALM     200
#define AUTH_MAX_USER_NAME 255

/* Reading one user file: where messages point. */
struct user_file {
    struct loader *L;
    struct config_auth *auth;
    const char *path;
    int line;
};

static int file_fail(struct user_file *f, const char *fmt, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), fmt, what);
    snprintf(f->L->err, f->L->errlen, "%s:%d: %s", f->path, f->line, msg);
    return -1;
}

static bool printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

/* The crypt(3) alphabet and '$': what every libxcrypt hash is written in. */
static bool crypt_text(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '/' || *s == '$'))
            return false;
    return true;
}

static struct config_auth_user *add_user(struct user_file *f, const char *name, size_t len)
{
    struct config_auth *a = f->auth;
    if (len == 0 || len > AUTH_MAX_USER_NAME || !printable(name, len)) {
        file_fail(f, "%s", "a user name must be 1 to 255 printable characters");
        return NULL;
    }
    if (a->n_users == AUTH_MAX_USERS) {
        file_fail(f, "more than %s users", "100000");
        return NULL;
    }
    if (a->n_users % 64 == 0) {
        struct config_auth_user *u = realloc(a->users, (a->n_users + 64) * sizeof(*u));
        if (!u) {
            file_fail(f, "%s", "out of memory");
            return NULL;
        }
        a->users = u;
    }
    struct config_auth_user *u = &a->users[a->n_users];
    memset(u, 0, sizeof(*u));
    if (!(u->name = strndup(name, len))) {
        file_fail(f, "%s", "out of memory");
        return NULL;
    }
    a->n_users++;
    return u;
}

/* htpasswd: `user:hash`, hash in a format libxcrypt verifies (bcrypt $2y$/$2b$, sha-crypt
 * $5$/$6$, yescrypt $y$...). Plain text, {SHA}, $apr1$ and DES are refused. */
static int basic_line(struct user_file *f, char *s)
{
    char *colon = strchr(s, ':');
    if (!colon) return file_fail(f, "%s", "expected 'user:hash'");
    const char *hash = colon + 1;
    if (hash[0] != '$' || !crypt_text(hash) || strncmp(hash, "$apr1$", 6) == 0)
        return file_fail(f, "%s",
                         "the password must be a crypt(3) hash such as bcrypt ($2y$), sha-crypt "
                         "($5$, $6$) or yescrypt ($y$), not plain text, {SHA} or $apr1$");
    int ok = crypt_checksalt(hash);
    if (ok != CRYPT_SALT_OK && ok != CRYPT_SALT_METHOD_LEGACY && ok != CRYPT_SALT_TOO_CHEAP)
        return file_fail(f, "%s", "the hash's method is not one libxcrypt supports");
    struct config_auth_user *u = add_user(f, s, (size_t)(colon - s));
    if (!u) return -1;
    if (!(u->hash = strdup(hash))) return file_fail(f, "%s", "out of memory");
    return 0;
}

/* htdigest: `user:realm:HA1`; lines of other realms are skipped. HA1 has 32 hex digits (MD5,
 * what Apache's htdigest writes) or 64 (SHA-256). */
static int digest_line(struct user_file *f, char *s)
{
    struct config_auth *a = f->auth;
    char *first = strchr(s, ':'), *last = strrchr(s, ':');
    if (!first || first == last) return file_fail(f, "%s", "expected 'user:realm:HA1'");
    size_t rlen = (size_t)(last - first - 1);
    if (rlen != strlen(a->realm) || memcmp(first + 1, a->realm, rlen) != 0) return 0;
    const char *ha1 = last + 1;
    size_t hlen = strlen(ha1);
    enum digest_alg alg = hlen == 32 ? DIGEST_MD5 : DIGEST_SHA256;
    if ((hlen != 32 && hlen != 64) || strspn(ha1, "0123456789abcdefABCDEF") != hlen)
        return file_fail(f, "%s",
                         "HA1 must be 32 hex digits (MD5) or 64 (SHA-256) of user:realm:password");
    size_t ulen = (size_t)(first - s);
    struct config_auth_user *u = NULL;
    for (size_t i = 0; i < a->n_users && !u; i++)
        if (strlen(a->users[i].name) == ulen && memcmp(a->users[i].name, s, ulen) == 0)
            u = &a->users[i];
    if (u && u->ha1[alg][0])
        return file_fail(f, "user '%s' has two HA1s of the same algorithm", u->name);
    if (!u && !(u = add_user(f, s, ulen))) return -1;
    for (size_t i = 0; i < hlen; i++)
        u->ha1[alg][i] = (char)(ha1[i] | 0x20); /* lower case */
    return 0;
}

static int cmp_user(const void *x, const void *y)
{
    return strcmp(((const struct config_auth_user *)x)->name,
                  ((const struct config_auth_user *)y)->name);
}

static int read_users(struct loader *L, struct config_auth *a, const struct cnode *v)
{
    struct user_file f = {L, a, a->user_file, 0};
    FILE *fp = fopen(a->user_file, "re");
    if (!fp) return cfg_fail(L, v, "cannot open user file '%s': %s", a->user_file, strerror(errno));
    char line[AUTH_MAX_LINE + 2];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), fp)) {
        f.line++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = 0;
        else if (!feof(fp))
            rc = file_fail(&f, "a line longer than %s bytes", "4096");
        if (n && line[n - 1] == '\r') line[--n] = 0;
        if (rc || n == 0 || line[0] == '#') continue;
        if (strlen(line) != n || !printable(line, n))
            rc = file_fail(&f, "%s", "a control character or NUL byte");
        else
            rc = a->scheme == CONFIG_AUTH_BASIC ? basic_line(&f, line) : digest_line(&f, line);
    }
    if (rc == 0 && ferror(fp)) rc = cfg_fail(L, v, "cannot read user file '%s'", a->user_file);
    fclose(fp);
    if (rc < 0) return -1;
    if (a->n_users == 0)
        return cfg_fail(L, v, "user file '%s' has no user%s%s", a->user_file,
                        a->scheme == CONFIG_AUTH_DIGEST ? " for realm " : "",
                        a->scheme == CONFIG_AUTH_DIGEST ? a->realm : "");
    qsort(a->users, a->n_users, sizeof(*a->users), cmp_user);
    for (size_t i = 1; i < a->n_users; i++)
        if (strcmp(a->users[i - 1].name, a->users[i].name) == 0)
            return cfg_fail(L, v, "user file '%s' names user '%s' twice", a->user_file,
                            a->users[i].name);
    return 0;
}

static bool has_ha1(const struct config_auth *a, enum digest_alg alg)
{
    for (size_t i = 0; i < a->n_users; i++)
        if (a->users[i].ha1[alg][0]) return true;
    return false;
}

/* `algorithm`: SHA-256, MD5 or both, in the order of preference (RFC 7616 §3.7). Without it,
 * each algorithm the user file has HA1s for, SHA-256 first. */
static int parse_algorithms(struct loader *L, struct config_auth *a, const struct cnode *v)
{
    if (!v) {
        if (has_ha1(a, DIGEST_SHA256)) a->algorithms[a->n_algorithms++] = DIGEST_SHA256;
        if (has_ha1(a, DIGEST_MD5)) a->algorithms[a->n_algorithms++] = DIGEST_MD5;
        return 0;
    }
    if (v->kind == CNODE_MAP) return cfg_fail(L, v, "'algorithm' must be SHA-256, MD5 or a list");
    const struct cnode *item = v->kind == CNODE_SEQ ? v->first : v;
    if (!item) return cfg_fail(L, v, "'algorithm' must not be empty");
    for (; item; item = v->kind == CNODE_SEQ ? item->next : NULL) {
        const char *s;
        if (cfg_text(L, item, "algorithm", &s) < 0) return -1;
        enum digest_alg alg;
        if (strcasecmp(s, "SHA-256") == 0)
            alg = DIGEST_SHA256;
        else if (strcasecmp(s, "MD5") == 0)
            alg = DIGEST_MD5;
        else
            return cfg_fail(L, item, "'algorithm' must be SHA-256 or MD5, not '%s'", s);
        if (a->n_algorithms == 2 || (a->n_algorithms && a->algorithms[0] == alg))
            return cfg_fail(L, item, "'algorithm' names '%s' twice", s);
        if (!has_ha1(a, alg))
            return cfg_fail(L, item, "'algorithm' %s, but user file '%s' has no %s HA1", s,
                            a->user_file, s);
        a->algorithms[a->n_algorithms++] = alg;
    }
    return 0;
}

static int parse_realm(struct loader *L, struct config_auth *a, const struct cnode *v)
{
    if (cfg_string(L, v, "realm", &a->realm) < 0) return -1;
    size_t n = strlen(a->realm);
    if (n > AUTH_MAX_REALM || !printable(a->realm, n) || strpbrk(a->realm, "\"\\"))
        return cfg_fail(L, v,
                        "'realm' must be at most 200 printable characters without '\"' or '\\'");
    return 0;
}

/* RFC 7616 §3.4.4: userhash = H(user ":" realm), for each algorithm. */
static void hash_user_names(struct config_auth *a)
{
    char buf[AUTH_MAX_USER_NAME + AUTH_MAX_REALM + 2];
    for (size_t i = 0; i < a->n_users; i++) {
        struct config_auth_user *u = &a->users[i];
        int n = snprintf(buf, sizeof(buf), "%s:%s", u->name, a->realm);
        digest_hash_hex(DIGEST_MD5, buf, (size_t)n, u->userhash[DIGEST_MD5]);
        digest_hash_hex(DIGEST_SHA256, buf, (size_t)n, u->userhash[DIGEST_SHA256]);
    }
}

enum auth_key { AK_SCHEME, AK_REALM, AK_USER_FILE, AK_ALGORITHM, AK_NONCE_LIFETIME, AK_COUNT };

int cfg_location_auth(struct loader *L, struct config_location *loc, const struct cnode *v)
{
    return cfg_auth(L, &loc->auth, v);
}

int cfg_auth(struct loader *L, struct config_auth **out, const struct cnode *v)
{
    static const char *const keys[] = {"scheme",    "realm",          "user_file",
                                       "algorithm", "nonce_lifetime", NULL};
    const struct cnode *val[AK_COUNT] = {0};
    uint64_t seen = 0;
    if (cfg_want_map(L, v, "auth") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "auth", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    for (int i = AK_SCHEME; i <= AK_USER_FILE; i++)
        if (!val[i]) return cfg_fail(L, v, "'auth' has no '%s'", keys[i]);
    struct config_auth *a = calloc(1, sizeof(*a));
    if (!a) return cfg_fail(L, v, "out of memory");
    *out = a;
    a->nonce_lifetime = 300;
    const char *scheme;
    if (cfg_text(L, val[AK_SCHEME], "scheme", &scheme) < 0) return -1;
    if (strcmp(scheme, "basic") == 0)
        a->scheme = CONFIG_AUTH_BASIC;
    else if (strcmp(scheme, "digest") == 0)
        a->scheme = CONFIG_AUTH_DIGEST;
    else
        return cfg_fail(L, val[AK_SCHEME], "'scheme' must be basic or digest, not '%s'", scheme);
    if (a->scheme == CONFIG_AUTH_BASIC && (val[AK_ALGORITHM] || val[AK_NONCE_LIFETIME]))
        return cfg_fail(L, val[AK_ALGORITHM] ? val[AK_ALGORITHM] : val[AK_NONCE_LIFETIME],
                        "'%s' is for scheme digest only",
                        val[AK_ALGORITHM] ? "algorithm" : "nonce_lifetime");
    if (parse_realm(L, a, val[AK_REALM]) < 0) return -1;
    if (cfg_path(L, val[AK_USER_FILE], "user_file", &a->user_file) < 0) return -1;
    if (read_users(L, a, val[AK_USER_FILE]) < 0) return -1;
    if (a->scheme == CONFIG_AUTH_BASIC) return 0;
    if (val[AK_NONCE_LIFETIME] && cfg_duration(L, val[AK_NONCE_LIFETIME], "nonce_lifetime", 0,
                                               false, 86400, &a->nonce_lifetime) < 0)
        return -1;
    hash_user_names(a);
    return parse_algorithms(L, a, val[AK_ALGORITHM]);
}

void config_auth_free(struct config_auth *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n_users; i++) {
        free(a->users[i].name);
        free(a->users[i].hash);
    }
    free(a->users);
    free(a->realm);
    free(a->user_file);
    free(a);
}
