/* server/config_auth: a location's `auth`, its user file read at load, and the errors, with
 * file:line in the configuration or in the user file. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "server/config.h"

static char dir[] = "/tmp/tern-config-auth-XXXXXX";
static char path[256];

static const char *user_file(const char *text)
{
    snprintf(path, sizeof(path), "%s/users", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

/* Loads a location /p/ with `auth: {AUTH}`; NULL with err set on error. */
static struct config *load(const char *auth, char *err, size_t errlen)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "servers:\n  - root: /\n    locations:\n      - path: /p/\n        auth: {%s}\n",
             auth);
    return config_load_buffer("t.yaml", yaml, strlen(yaml), err, errlen);
}

static void expect_error(const char *auth, const char *want)
{
    char err[512] = "";
    struct config *c = load(auth, err, sizeof(err));
    CHECK(c == NULL);
    config_free(c);
    CHECK_STR(err, want);
}

#define SHA6                                                                                       \
    "$6$saltsalt$fSqbiGJsZ9c4PUdsTXpRYdBfcbq5uXLYdWqkY7Go0wwOHbqzu0ZhEZ."                          \
    "M2d1qaA7ZfnE9j4sQxS5g3u4DhmMz8/"
#define BCRYPT "$2y$05$mCZQJO/f01rTNBSJFybFHeJjJEp74/0N63sqi/b22DOFfcSjXK0Qa"
#define MD5HA1 "939e7578ed9e3c518a452acee763bce9"
#define SHAHA1 "3ba6cd94ea2b2cd6a7b9d1c0b8f5d4e7a1c2b3d4e5f60718293a4b5c6d7e8f90"

static void test_ok(void)
{
    char err[512] = "", auth[512];
    user_file("# users\nalice:" SHA6 "\nbob:" BCRYPT "\ncarol:$y$j9T$F5Jx5fExrKuJp1Uf\n");
    snprintf(auth, sizeof(auth), "scheme: basic, realm: Staff, user_file: %s", path);
    struct config *c = load(auth, err, sizeof(err));
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    const struct config_auth *a = c->servers[0].locations[0].auth;
    CHECK(a && a->scheme == CONFIG_AUTH_BASIC && !strcmp(a->realm, "Staff"));
    CHECK_INT(a->n_users, 3);
    CHECK_STR(a->users[1].name, "bob"); /* sorted */
    CHECK(c->servers[0].locations[1].auth == NULL);
    config_free(c);

    /* digest: algorithms default to those the file has, SHA-256 first */
    user_file("u:R:" MD5HA1 "\nv:R:" SHAHA1 "\nu:R:" SHAHA1 "\nw:other:" MD5HA1 "\n");
    snprintf(auth, sizeof(auth), "scheme: digest, realm: R, user_file: %s", path);
    c = load(auth, err, sizeof(err));
    CHECK(c != NULL);
    if (!c) return;
    a = c->servers[0].locations[0].auth;
    CHECK_INT(a->n_users, 2);
    CHECK_INT(a->n_algorithms, 2);
    CHECK(a->algorithms[0] == DIGEST_SHA256 && a->algorithms[1] == DIGEST_MD5);
    CHECK(a->nonce_lifetime == 300);
    CHECK_STR(a->users[0].ha1[DIGEST_MD5], MD5HA1);
    CHECK_STR(a->users[1].ha1[DIGEST_MD5], "");
    config_free(c);
    user_file("u:R:" MD5HA1 "\n");
    snprintf(auth, sizeof(auth),
             "scheme: digest, realm: R, user_file: %s, algorithm: MD5, nonce_lifetime: 30", path);
    c = load(auth, err, sizeof(err));
    CHECK(c != NULL);
    if (!c) return;
    a = c->servers[0].locations[0].auth;
    CHECK(a->n_algorithms == 1 && a->algorithms[0] == DIGEST_MD5 && a->nonce_lifetime == 30);
    config_free(c);
}

static void test_errors(void)
{
    char auth[512], want[512];
    expect_error("scheme: basic, realm: R", "t.yaml:5: 'auth' has no 'user_file'");
    expect_error("scheme: ntlm, realm: R, user_file: /x",
                 "t.yaml:5: 'scheme' must be basic or digest, not 'ntlm'");
    expect_error("scheme: basic, realm: R, user_file: /nonexistent/users",
                 "t.yaml:5: cannot open user file '/nonexistent/users': No such file or directory");
    user_file("alice:" SHA6 "\nbob:secret\n");
    snprintf(auth, sizeof(auth), "scheme: basic, realm: R, user_file: %s", path);
    snprintf(want, sizeof(want),
             "%s:2: the password must be a crypt(3) hash such as bcrypt ($2y$), sha-crypt ($5$, "
             "$6$) or yescrypt ($y$), not plain text, {SHA} or $apr1$",
             path);
    expect_error(auth, want);
    user_file("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n");
    snprintf(want, sizeof(want), "%s:1: the password must", path);
    char err[512] = "";
    CHECK(load(auth, err, sizeof(err)) == NULL);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    user_file("bob:$apr1$/2K05fwQ$YPzjsFTl214MnUsN8IabV0\n");
    CHECK(load(auth, err, sizeof(err)) == NULL);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    user_file("bob:$9$abc\n");
    snprintf(want, sizeof(want), "%s:1: the hash's method is not one libxcrypt supports", path);
    expect_error(auth, want);
    user_file("a:" SHA6 "\na:" SHA6 "\n");
    snprintf(want, sizeof(want), "t.yaml:5: user file '%s' names user 'a' twice", path);
    expect_error(auth, want);
    user_file("# nobody\n");
    snprintf(want, sizeof(want), "t.yaml:5: user file '%s' has no user", path);
    expect_error(auth, want);
    snprintf(auth, sizeof(auth), "scheme: basic, realm: R, user_file: %s, nonce_lifetime: 3", path);
    expect_error(auth, "t.yaml:5: 'nonce_lifetime' is for scheme digest only");

    user_file("u:R:" MD5HA1 "\nv:R:123\n");
    snprintf(auth, sizeof(auth), "scheme: digest, realm: R, user_file: %s", path);
    snprintf(want, sizeof(want),
             "%s:2: HA1 must be 32 hex digits (MD5) or 64 (SHA-256) of user:realm:password", path);
    expect_error(auth, want);
    user_file("u:R:" MD5HA1 "\n");
    snprintf(auth, sizeof(auth), "scheme: digest, realm: R, user_file: %s, algorithm: SHA-256",
             path);
    snprintf(want, sizeof(want),
             "t.yaml:5: 'algorithm' SHA-256, but user file '%s' has no SHA-256 HA1", path);
    expect_error(auth, want);
    snprintf(auth, sizeof(auth), "scheme: digest, realm: \"a\\\"b\", user_file: %s", path);
    expect_error(auth, "t.yaml:5: 'realm' must be at most 200 printable characters without '\"' or "
                       "'\\'");
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    test_ok();
    test_errors();
    unlink(path);
    rmdir(dir);
    return check_done("server/config_auth");
}
