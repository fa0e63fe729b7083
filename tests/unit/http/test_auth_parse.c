/* http/auth_parse: credentials (RFC 9110 §11.4), token68 and auth-params with quoted-strings,
 * strict base64 (RFC 4648), with the examples of RFC 7617 §2 and RFC 7616 §3.9.1. */
#include <string.h>

#include "check.h"
#include "http/auth_parse.h"

static char scratch[AUTH_MAX_VALUE];

static int parse(const char *s, struct auth_credentials *c)
{
    return auth_credentials_parse(str_cstr(s), scratch, sizeof(scratch), c);
}

static const char *get(const struct auth_credentials *c, const char *name)
{
    static char out[256];
    const str_t *v = auth_param_get(c, name);
    if (!v) return "(none)";
    snprintf(out, sizeof(out), "%.*s", (int)v->len, v->p);
    return out;
}

static void test_basic(void)
{
    struct auth_credentials c;
    /* RFC 7617 §2 */
    CHECK_INT(parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", &c), 0);
    CHECK_STRN(c.scheme.p, c.scheme.len, "Basic");
    CHECK_STRN(c.token68.p, c.token68.len, "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    CHECK_INT(c.n_params, 0);
    char out[64];
    long n = auth_base64_decode(c.token68, out, sizeof(out));
    CHECK_STRN(out, n, "Aladdin:open sesame");
    CHECK_INT(parse("basic   QWxh  ", &c), 0); /* 1*SP, trailing OWS */
    CHECK_STRN(c.token68.p, c.token68.len, "QWxh");
    CHECK_INT(parse("Basic", &c), 0); /* a scheme alone */
    CHECK_INT(c.token68.len, 0);
    CHECK_INT(parse("Basic\tQWxh", &c), -1); /* 1*SP, not HTAB */
    CHECK_INT(parse("Basic QW xh", &c), -1);
    CHECK_INT(parse("", &c), -1);
    CHECK_INT(parse(" ", &c), -1);
    CHECK_INT(parse("Bas@ic QWxh", &c), -1);
}

static void test_base64(void)
{
    char out[16];
    CHECK_INT(auth_base64_decode(STR_LIT(""), out, sizeof(out)), 0);
    CHECK_INT(auth_base64_decode(STR_LIT("Zg=="), out, sizeof(out)), 1);
    CHECK_INT(auth_base64_decode(STR_LIT("Zm8="), out, sizeof(out)), 2);
    CHECK_INT(auth_base64_decode(STR_LIT("Zm9v"), out, sizeof(out)), 3);
    CHECK(memcmp(out, "foo", 3) == 0);
    CHECK_INT(auth_base64_decode(STR_LIT("Zh=="), out, sizeof(out)), -1); /* bits left over */
    CHECK_INT(auth_base64_decode(STR_LIT("Zm9=="), out, sizeof(out)), -1);
    CHECK_INT(auth_base64_decode(STR_LIT("Zm9"), out, sizeof(out)), -1);
    CHECK_INT(auth_base64_decode(STR_LIT("Z==="), out, sizeof(out)), -1);
    CHECK_INT(auth_base64_decode(STR_LIT("Zm 9"), out, sizeof(out)), -1);
    CHECK_INT(auth_base64_decode(STR_LIT("Zm-v"), out, sizeof(out)), -1); /* base64url */
    CHECK_INT(auth_base64_decode(STR_LIT("Zm9vZm9v"), out, 5), -1);       /* too small */
}

static void test_digest(void)
{
    struct auth_credentials c;
    /* RFC 7616 §3.9.1, the SHA-256 request */
    const char *v = "Digest username=\"Mufasa\",\r\n"
                    "    realm=\"http-auth@example.org\"";
    CHECK_INT(parse(v, &c), -1); /* CR LF: not in a field value */
    v = "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", "
        "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
        "nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
        "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", "
        "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    CHECK_INT(parse(v, &c), 0);
    CHECK_STRN(c.scheme.p, c.scheme.len, "Digest");
    CHECK_INT(c.n_params, 10);
    CHECK_STR(get(&c, "username"), "Mufasa");
    CHECK_STR(get(&c, "URI"), "/dir/index.html");
    CHECK_STR(get(&c, "algorithm"), "SHA-256");
    CHECK_STR(get(&c, "nc"), "00000001");
    CHECK_STR(get(&c, "qop"), "auth");
    CHECK_STR(get(&c, "opaque"), "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
    CHECK_STR(get(&c, "userhash"), "(none)");
    /* quoted-pairs, BWS around "=", empty list elements (RFC 9110 §5.6.1) */
    CHECK_INT(parse("Digest a = \"x\\\"y\\\\z\" ,, b=tok,", &c), 0);
    CHECK_STR(get(&c, "a"), "x\"y\\z");
    CHECK_STR(get(&c, "b"), "tok");
    CHECK_INT(parse("Digest a=\"\"", &c), 0);
    CHECK_STR(get(&c, "a"), "");
    CHECK_INT(parse("Digest a=b, A=c", &c), -1); /* a name twice (§11.2) */
    CHECK_INT(parse("Digest a=", &c), 0);        /* a token68, by the grammar */
    CHECK_STRN(c.token68.p, c.token68.len, "a=");
    CHECK_INT(parse("Digest a=, b=c", &c), -1);
    CHECK_INT(parse("Digest a=\"open", &c), -1);
    CHECK_INT(parse("Digest a=\"x\" b=y", &c), -1); /* no comma */
    CHECK_INT(parse("Digest =x", &c), -1);
    CHECK_INT(parse("Digest a=x y", &c), -1);
    CHECK_INT(parse("Digest a=\"\x01\"", &c), -1);
    CHECK_INT(parse("Digest a=\"\\\x7f\"", &c), -1);
    CHECK_INT(parse("Digest a=\"\xc3\xa4\"", &c), 0); /* obs-text */
    /* bounded: AUTH_MAX_PARAMS parameters, AUTH_MAX_VALUE bytes */
    char many[512] = "Digest ";
    for (int i = 0; i < AUTH_MAX_PARAMS; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "p%d=1,", i);
    CHECK_INT(parse(many, &c), 0);
    CHECK_INT(c.n_params, AUTH_MAX_PARAMS);
    strcat(many, "q=1");
    CHECK_INT(parse(many, &c), -1);
    static char big[AUTH_MAX_VALUE + 16];
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "Basic ", 6);
    CHECK_INT(parse(big, &c), -1);
    /* a scratch buffer shorter than the value */
    CHECK_INT(auth_credentials_parse(STR_LIT("Digest a=\"b\""), scratch, 4, &c), -1);
}

int main(void)
{
    test_basic();
    test_base64();
    test_digest();
    return check_done("http/auth_parse");
}
