/* handler/auth: Basic with RFC 7617 §2's Aladdin, and Digest round trips answered by the
 * client's own code (http/digest.h): SHA-256 and MD5 challenges, userhash, replays, a wrong
 * uri, stale nonces, wrong passwords and unknown users. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "handler/auth.h"
#include "http/digest.h"

static char dir[] = "/tmp/tern-auth-XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static struct config *load(const char *scheme, const char *file, const char *extra)
{
    char yaml[1024], err[512] = "";
    snprintf(yaml, sizeof(yaml),
             "servers:\n  - root: /\n    locations:\n      - path: /p/\n"
             "        auth: {scheme: %s, realm: \"%s\", user_file: %s/%s%s}\n",
             scheme, strcmp(scheme, "basic") ? "http-auth@example.org" : "WallyWorld", dir, file,
             extra);
    struct config *cfg = config_load_buffer("t.yaml", yaml, strlen(yaml), err, sizeof(err));
    if (!cfg) fprintf(stderr, "%s\n", err);
    return cfg;
}

struct exchange {
    struct pool *pool;
    struct http_request req;
    struct http_response resp;
};

/* Runs auth_check for GET target with an Authorization value (or none): true when answered. */
static bool run(struct exchange *x, const struct config *cfg, const char *target, const char *auth)
{
    if (x->pool) pool_destroy(x->pool);
    memset(x, 0, sizeof(*x));
    x->pool = pool_create(4096);
    x->req.pool = x->pool;
    x->req.method = HTTP_METHOD_GET;
    x->req.method_name = STR_LIT("GET");
    x->req.target = x->req.path = str_cstr(target);
    strcpy(x->req.peer, "192.0.2.1");
    if (auth)
        http_fields_add_token(&x->req.headers, x->pool, HTTP_TOKEN_AUTHORIZATION, str_cstr(auth));
    const struct config_location *loc = config_find_location(&cfg->servers[0], "/p/x", 4);
    return auth_check(loc, &x->req, &x->resp);
}

/* The n-th WWW-Authenticate value as a C string, or "". */
static const char *challenge(const struct exchange *x, size_t n)
{
    static char out[512];
    out[0] = 0;
    for (size_t i = 0; i < x->resp.headers.count; i++) {
        const struct http_field *f = &x->resp.headers.items[i];
        if (f->token == HTTP_TOKEN_WWW_AUTHENTICATE && n-- == 0)
            snprintf(out, sizeof(out), "%.*s", (int)f->value.len, f->value.p);
    }
    return out;
}

static void test_basic(void)
{
    static struct crypt_data cd1, cd2;
    char file[512];
    snprintf(file, sizeof(file), "# comment\n\nAladdin:%s\r\nbob:%s\n",
             crypt_r("open sesame", "$6$saltsaltsalt$", &cd1),
             crypt_r("pw", "$5$othersalt$", &cd2));
    write_file("basic", file);
    struct config *cfg = load("basic", "basic", "");
    CHECK(cfg != NULL);
    if (!cfg) return;
    struct exchange x = {0};
    CHECK(run(&x, cfg, "/p/x", NULL));
    CHECK_INT(x.resp.status, 401);
    CHECK_STR(challenge(&x, 0), "Basic realm=\"WallyWorld\", charset=\"UTF-8\"");
    /* RFC 7617 §2 */
    CHECK(!run(&x, cfg, "/p/x", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
    CHECK(x.req.remote_user && !strcmp(x.req.remote_user, "Aladdin"));
    CHECK(!run(&x, cfg, "/p/x", "basic Ym9iOnB3")); /* bob:pw, $5$ */
    CHECK(run(&x, cfg, "/p/x", "Basic Ym9iOnB4"));  /* bob:px */
    CHECK_INT(x.resp.status, 401);
    CHECK(run(&x, cfg, "/p/x", "Basic ZXZlOnB3"));  /* eve:pw */
    CHECK(run(&x, cfg, "/p/x", "Basic Ym9i"));      /* no colon */
    CHECK(run(&x, cfg, "/p/x", "Basic Ym9iOnB3=")); /* not base64 */
    CHECK(run(&x, cfg, "/p/x", "Digest username=\"bob\""));
    CHECK(x.req.remote_user == NULL);
    pool_destroy(x.pool);
    config_free(cfg);
}

/* Answers the n-th challenge of x for user/password at target with nc. */
static const char *answer(const struct exchange *x, size_t n, const char *user, const char *pass,
                          const char *target, unsigned nc)
{
    static char out[1200];
    struct digest_challenge c;
    CHECK_INT(digest_challenge_parse(str_cstr(challenge(x, n)), &c), 0);
    CHECK(c.userhash && c.qop_auth);
    CHECK(digest_authorization(&c, user, pass, "GET", target, "0a4f113b", nc, out, sizeof(out)) >
          0);
    return out;
}

static void test_digest(void)
{
    char md5[130], sha[130], file[512];
    const char *in = "Mufasa:http-auth@example.org:Circle of Life";
    digest_hash_hex(DIGEST_MD5, in, strlen(in), md5);
    digest_hash_hex(DIGEST_SHA256, in, strlen(in), sha);
    snprintf(file, sizeof(file),
             "Mufasa:http-auth@example.org:%s\nMufasa:http-auth@example.org:%s\n"
             "other:another realm:%s\n",
             md5, sha, md5);
    write_file("digest", file);
    struct config *cfg = load("digest", "digest", ", nonce_lifetime: 1");
    CHECK(cfg != NULL);
    if (!cfg) return;
    CHECK_INT(cfg->servers[0].locations[0].auth->n_users, 1); /* the other realm's is skipped */
    struct exchange x = {0};
    CHECK(run(&x, cfg, "/p/x", NULL));
    CHECK_INT(x.resp.status, 401);
    CHECK(strstr(challenge(&x, 0), "algorithm=SHA-256,") != NULL); /* RFC 7616 §3.7 */
    CHECK(strstr(challenge(&x, 1), "algorithm=MD5,") != NULL);
    CHECK(strstr(challenge(&x, 0), "qop=\"auth\"") && !strstr(challenge(&x, 0), "stale"));
    struct exchange first = x;
    x.pool = NULL;
    char auth[1200];
    snprintf(auth, sizeof(auth), "%s", answer(&first, 0, "Mufasa", "Circle of Life", "/p/x?q", 1));
    CHECK(!run(&x, cfg, "/p/x?q", auth));
    CHECK(x.req.remote_user && !strcmp(x.req.remote_user, "Mufasa"));
    const struct http_field *info =
        http_fields_find_name(&x.resp.headers, STR_LIT("authentication-info"));
    CHECK(info && info->value.len > 20 && !memcmp(info->value.p, "rspauth=\"", 9));
    CHECK(run(&x, cfg, "/p/x?q", auth)); /* the same nc again: a replay */
    CHECK(run(&x, cfg, "/p/x", answer(&first, 0, "Mufasa", "Circle of Life", "/p/x", 0)));
    CHECK(!strstr(challenge(&x, 0), "stale"));
    CHECK(!run(&x, cfg, "/p/x?q", answer(&first, 0, "Mufasa", "Circle of Life", "/p/x?q", 2)));
    CHECK(run(&x, cfg, "/p/y",
              answer(&first, 0, "Mufasa", "Circle of Life", "/p/x?q",
                     3))); /* uri is not the request-target */
    CHECK(run(&x, cfg, "/p/x", answer(&first, 0, "Mufasa", "Circle of Lies", "/p/x", 4)));
    CHECK(run(&x, cfg, "/p/x", answer(&first, 0, "Scar", "Circle of Life", "/p/x", 5)));
    /* MD5, from the second challenge */
    CHECK(!run(&x, cfg, "/p/x", answer(&first, 1, "Mufasa", "Circle of Life", "/p/x", 6)));
    /* too old: 401 with stale=true, and only for a good response */
    sleep(2);
    CHECK(run(&x, cfg, "/p/x", answer(&first, 0, "Mufasa", "Circle of Life", "/p/x", 7)));
    CHECK(strstr(challenge(&x, 0), "stale=true") != NULL);
    CHECK(run(&x, cfg, "/p/x", answer(&first, 0, "Mufasa", "wrong", "/p/x", 8)));
    CHECK(!strstr(challenge(&x, 0), "stale"));
    /* a nonce not of ours (its MAC changed) */
    snprintf(auth, sizeof(auth), "%s", answer(&first, 0, "Mufasa", "Circle of Life", "/p/x", 9));
    char *nonce = strstr(auth, "nonce=\"");
    nonce[20] = nonce[20] == '0' ? '1' : '0';
    CHECK(run(&x, cfg, "/p/x", auth));
    pool_destroy(first.pool);
    pool_destroy(x.pool);
    config_free(cfg);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    test_basic();
    test_digest();
    unlink(strcat(strcpy((char[300]){0}, dir), "/basic"));
    unlink(strcat(strcpy((char[300]){0}, dir), "/digest"));
    rmdir(dir);
    return check_done("handler/auth");
}
