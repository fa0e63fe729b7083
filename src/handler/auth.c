/* Basic and Digest authentication of a location, see auth.h. */
#include "handler/auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "handler/auth_nonce.h"
#include "http/auth_parse.h"
#include "http/digest.h"
#include "server/dispatch.h"

/* Whose credentials: the origin's (401) or a proxy's (407), RFC 9110 §11.6 and §11.7. */
struct auth_role {
    enum http_token credentials, challenge;
    int status;
    str_t info;
};
static const struct auth_role origin_role = {HTTP_TOKEN_AUTHORIZATION, HTTP_TOKEN_WWW_AUTHENTICATE,
                                             401, STR_LIT("authentication-info")};
static const struct auth_role proxy_role = {HTTP_TOKEN_PROXY_AUTHORIZATION,
                                            HTTP_TOKEN_PROXY_AUTHENTICATE, 407,
                                            STR_LIT("proxy-authentication-info")};

/* Why credentials failed, for the log line. */
enum auth_result {
    AUTH_OK,
    AUTH_MALFORMED,  /* not credentials of the location's scheme */
    AUTH_NO_USER,    /* no such user */
    AUTH_WRONG,      /* wrong password or response */
    AUTH_BAD_NONCE,  /* a nonce we did not make, or an opaque, realm or algorithm we did not send */
    AUTH_WRONG_URI,  /* digest-uri is not the request-target (RFC 7616 §3.4.6) */
    AUTH_REPLAY,     /* a nonce-count not above the last one (RFC 7616 §3.4) */
    AUTH_STALE,      /* a good response with an old nonce: no log line, stale=true */
    AUTH_UNAVAILABLE /* crypt or the nonce key failed */
};

static const char *const result_text[] = {
    [AUTH_MALFORMED] = "malformed credentials",
    [AUTH_NO_USER] = "unknown user",
    [AUTH_WRONG] = "wrong password",
    [AUTH_BAD_NONCE] = "a nonce, opaque, realm or algorithm not of ours",
    [AUTH_WRONG_URI] = "uri not the request-target",
    [AUTH_REPLAY] = "replayed nonce count",
    [AUTH_UNAVAILABLE] = "verification failed",
};

/* Nonces carry the monotonic clock: shared by the worker threads, blind to clock changes, and
 * the same for every wire (a request's own time is not set alike by all of them). */
static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static const struct config_auth_user *find_user(const struct config_auth *a, const char *name)
{
    size_t lo = 0, hi = a->n_users;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, a->users[mid].name);
        if (c == 0) return &a->users[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return true;
    return false;
}

/* RFC 7617 §2: base64(user-id ":" password), neither with a control character. */
static enum auth_result check_basic(const struct config_auth *a, const struct auth_credentials *c,
                                    struct http_request *req, const char **user)
{
    if (!str_eq_nocase(c->scheme, STR_LIT("Basic")) || !c->token68.len) return AUTH_MALFORMED;
    char *plain = pool_alloc(req->pool, c->token68.len);
    long n = plain ? auth_base64_decode(c->token68, plain, c->token68.len) : -1;
    if (n < 0) return plain ? AUTH_MALFORMED : AUTH_UNAVAILABLE;
    char *colon = memchr(plain, ':', (size_t)n);
    if (!colon || has_ctl(plain, (size_t)n)) return AUTH_MALFORMED;
    *colon = 0;
    plain[n] = 0; /* the decoded text is shorter than the token68 it came from */
    *user = plain;
    const struct config_auth_user *u = find_user(a, plain);
    /* an unknown user costs a hash too, so that timing does not tell which users exist */
    const char *hash = u ? u->hash : a->users[0].hash;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    const char *out = cd ? crypt_rn(colon + 1, hash, cd, sizeof(*cd)) : NULL;
    enum auth_result r =
        !out ? AUTH_UNAVAILABLE
        : !u ? AUTH_NO_USER
        : strlen(out) != strlen(hash) || CRYPTO_memcmp(out, hash, strlen(hash)) != 0 ? AUTH_WRONG
                                                                                     : AUTH_OK;
    if (cd) OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    OPENSSL_cleanse(colon + 1, (size_t)(plain + n - colon - 1)); /* the password */
    if (r == AUTH_OK) *user = u->name;
    return r;
}

static const char *param(const struct auth_credentials *c, const char *name, struct pool *pool)
{
    const str_t *v = auth_param_get(c, name);
    return v ? pool_strndup(pool, v->p, v->len) : NULL;
}

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

/* The algorithm named (absent: MD5, RFC 7616 §3.3), if the location offers it; else -1. */
static int offered_alg(const struct config_auth *a, const char *name)
{
    int alg = !name || !strcasecmp(name, "MD5") ? DIGEST_MD5
              : !strcasecmp(name, "SHA-256")    ? DIGEST_SHA256
                                                : -1;
    for (size_t i = 0; i < a->n_algorithms; i++)
        if ((int)a->algorithms[i] == alg) return alg;
    return -1;
}

/* The user a Digest username names: with userhash=true, H(user:realm) (RFC 7616 §3.4.4). */
static const struct config_auth_user *digest_user(const struct config_auth *a, const char *name,
                                                  bool userhash, int alg)
{
    if (!userhash) return find_user(a, name);
    size_t n = alg == DIGEST_MD5 ? 32 : 64;
    if (!is_hex(name, n)) return NULL;
    for (size_t i = 0; i < a->n_users; i++)
        if (strncasecmp(a->users[i].userhash[alg], name, n) == 0) return &a->users[i];
    return NULL;
}

/* RFC 7616 §3.5: Authentication-Info with rspauth, the response digest over ":" uri, so that the
 * client can tell the server knew its password. Left out when cnonce would need escaping. */
static void add_auth_info(const struct auth_role *role, struct http_request *req,
                          struct http_response *resp, int alg, const char *ha1, const char *nonce,
                          const char *nc, const char *cnonce, const char *uri)
{
    char rspauth[130];
    if (strpbrk(cnonce, "\"\\") ||
        digest_response(alg, ha1, nonce, nc, cnonce, true, "", uri, rspauth) < 0)
        return;
    size_t n;
    char *v = pool_printf(req->pool, &n, "rspauth=\"%s\", qop=auth, nc=%s, cnonce=\"%s\"", rspauth,
                          nc, cnonce);
    if (v) http_fields_add(&resp->headers, req->pool, role->info, str_make(v, n));
}

/* RFC 7616 §3.4.6: digest-uri is the request-target; for an absolute-form one (a request to
 * a proxy) clients such as curl send its origin-form part, which names the same resource. */
static bool uri_matches(const char *uri, const struct http_request *req)
{
    size_t n = strlen(uri);
    if (n == req->target.len && memcmp(uri, req->target.p, n) == 0) return true;
    if (!req->target.len || req->target.p[0] == '/') return false;
    size_t plen = req->path.len + (req->has_query ? 1 + req->query.len : 0);
    return n == plen && memcmp(uri, req->path.p, req->path.len) == 0 &&
           (!req->has_query ||
            (uri[req->path.len] == '?' &&
             memcmp(uri + req->path.len + 1, req->query.p, req->query.len) == 0));
}

/* RFC 7616 §3.4: the Authorization of a Digest request, qop=auth. */
static enum auth_result check_digest(const struct auth_role *role, const struct config_auth *a,
                                     const struct auth_credentials *c, struct http_request *req,
                                     struct http_response *resp, const char **user)
{
    struct pool *p = req->pool;
    if (!str_eq_nocase(c->scheme, STR_LIT("Digest")) || c->token68.len) return AUTH_MALFORMED;
    const char *username = param(c, "username", p), *realm = param(c, "realm", p),
               *nonce = param(c, "nonce", p), *uri = param(c, "uri", p),
               *response = param(c, "response", p), *qop = param(c, "qop", p),
               *nc = param(c, "nc", p), *cnonce = param(c, "cnonce", p),
               *opaque = param(c, "opaque", p), *algorithm = param(c, "algorithm", p),
               *userhash = param(c, "userhash", p);
    /* username* (RFC 8187) is not taken: user names here are what the user file holds */
    if (!username || !realm || !nonce || !uri || !response || !qop || !nc || !cnonce || !opaque ||
        strcasecmp(qop, "auth") != 0 || !is_hex(nc, 8) || !strcmp(nc, "00000000") || !*cnonce ||
        (userhash && strcasecmp(userhash, "true") && strcasecmp(userhash, "false")))
        return AUTH_MALFORMED;
    *user = username;
    int alg = offered_alg(a, algorithm);
    char want_opaque[AUTH_OPAQUE_LEN + 1];
    if (alg < 0 || strcmp(realm, a->realm) != 0 || auth_opaque(a->realm, want_opaque) < 0 ||
        strcmp(opaque, want_opaque) != 0)
        return AUTH_BAD_NONCE;
    enum auth_nonce_verdict age =
        auth_nonce_check(str_cstr(nonce), a->realm, now_s(), a->nonce_lifetime);
    if (age == AUTH_NONCE_BAD) return AUTH_BAD_NONCE;
    if (!uri_matches(uri, req)) return AUTH_WRONG_URI;
    const struct config_auth_user *u =
        digest_user(a, username, userhash && !strcasecmp(userhash, "true"), alg);
    bool known = u && u->ha1[alg][0];
    char want[130], method[32];
    snprintf(method, sizeof(method), "%.*s", (int)req->method_name.len, req->method_name.p);
    size_t rlen = alg == DIGEST_MD5 ? 32 : 64;
    /* an unknown user costs the same hashing (with a stand-in HA1 of the right length) */
    if (digest_response(alg, known ? u->ha1[alg] : a->users[0].userhash[alg], nonce, nc, cnonce,
                        true, method, uri, want) < 0)
        return AUTH_MALFORMED;
    if (!known) return AUTH_NO_USER;
    *user = u->name;
    if (!is_hex(response, rlen)) return AUTH_WRONG;
    char got[65];
    for (size_t i = 0; i <= rlen; i++)
        got[i] =
            response[i] >= 'A' && response[i] <= 'F' ? (char)(response[i] | 0x20) : response[i];
    if (CRYPTO_memcmp(got, want, rlen) != 0) return AUTH_WRONG;
    /* RFC 7616 §3.3: stale only for a good response with an old nonce */
    if (age == AUTH_NONCE_STALE) return AUTH_STALE;
    switch (auth_nonce_use(str_cstr(nonce), (uint32_t)strtoul(nc, NULL, 16), now_s(),
                           a->nonce_lifetime)) {
    case AUTH_NONCE_OK:
        add_auth_info(role, req, resp, alg, u->ha1[alg], nonce, nc, cnonce, uri);
        return AUTH_OK;
    case AUTH_NONCE_STALE: return AUTH_STALE;
    case AUTH_NONCE_REPLAY: return AUTH_REPLAY;
    default: return AUTH_BAD_NONCE;
    }
}

static enum auth_result check_credentials(const struct auth_role *role, const struct config_auth *a,
                                          struct http_request *req, struct http_response *resp,
                                          const char **user)
{
    const struct http_field *f = http_fields_find(&req->headers, role->credentials);
    if (http_fields_count_token(&req->headers, role->credentials) > 1) return AUTH_MALFORMED;
    char *scratch = pool_alloc(req->pool, f->value.len + 1);
    if (!scratch) return AUTH_UNAVAILABLE;
    struct auth_credentials c;
    if (auth_credentials_parse(f->value, scratch, f->value.len + 1, &c) < 0) return AUTH_MALFORMED;
    return a->scheme == CONFIG_AUTH_BASIC ? check_basic(a, &c, req, user)
                                          : check_digest(role, a, &c, req, resp, user);
}

static int add_challenge(const struct auth_role *role, struct http_request *req,
                         struct http_response *resp, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int add_challenge(const struct auth_role *role, struct http_request *req,
                         struct http_response *resp, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char *v = n > 0 && (size_t)n < sizeof(buf) ? pool_strndup(req->pool, buf, (size_t)n) : NULL;
    if (!v) return -1;
    return http_fields_add_token(&resp->headers, req->pool, role->challenge,
                                 str_make(v, (size_t)n));
}

/* RFC 9110 §11.6.1: a 401 carries a challenge for the resource; Digest makes one per
 * algorithm, in the order of preference (RFC 7616 §3.7). */
static int challenge(const struct auth_role *role, const struct config_auth *a,
                     struct http_request *req, struct http_response *resp, bool stale)
{
    dispatch_error(req, resp, role->status);
    if (a->scheme == CONFIG_AUTH_BASIC) /* RFC 7617 §2.1: the charset we expect */
        return add_challenge(role, req, resp, "Basic realm=\"%s\", charset=\"UTF-8\"", a->realm);
    char nonce[AUTH_NONCE_LEN + 1], opaque[AUTH_OPAQUE_LEN + 1];
    if (auth_nonce_make(a->realm, now_s(), nonce) < 0 || auth_opaque(a->realm, opaque) < 0)
        return -1;
    for (size_t i = 0; i < a->n_algorithms; i++)
        if (add_challenge(role, req, resp,
                          "Digest realm=\"%s\", qop=\"auth\", algorithm=%s, nonce=\"%s\", "
                          "opaque=\"%s\", userhash=true%s",
                          a->realm, a->algorithms[i] == DIGEST_MD5 ? "MD5" : "SHA-256", nonce,
                          opaque, stale ? ", stale=true" : "") < 0)
            return -1;
    return 0;
}

/* A client-sent name fit for a log line: printable ASCII, cut short. */
static const char *loggable(const char *s, char *buf, size_t size)
{
    if (!s) return "-";
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
    buf[i] = 0;
    return buf;
}

static bool check(const struct auth_role *role, const struct config_auth *a, const char *where,
                  struct http_request *req, struct http_response *resp)
{
    if (!a) return false;
    enum auth_result r = AUTH_MALFORMED;
    const char *user = NULL;
    bool sent = http_fields_find(&req->headers, role->credentials) != NULL;
    if (sent) {
        r = check_credentials(role, a, req, resp, &user);
        if (r == AUTH_OK) {
            req->remote_user = user;
            return false;
        }
        if (r != AUTH_STALE) {
            char name[64];
            log_info("%s: %d %.*s: %s for user '%s' in realm '%s' of %s", req->peer, role->status,
                     (int)(req->target.len > 200 ? 200 : req->target.len), req->target.p,
                     result_text[r], loggable(user, name, sizeof(name)), a->realm, where);
        }
    }
    if (challenge(role, a, req, resp, r == AUTH_STALE) < 0) {
        memset(resp, 0, sizeof(*resp));
        dispatch_error(req, resp, 500);
    }
    return true;
}

bool auth_check(const struct config_location *loc, struct http_request *req,
                struct http_response *resp)
{
    if (!loc->auth) return false;
    char where[300];
    snprintf(where, sizeof(where), "location %s", loc->path);
    return check(&origin_role, loc->auth, where, req, resp);
}

bool auth_check_proxy(const struct config_auth *a, struct http_request *req,
                      struct http_response *resp)
{
    return check(&proxy_role, a, "the forward proxy", req, resp);
}
