/* Digest authentication against RFC 7616 §3.9.1's example (MD5 and SHA-256), userhash,
 * -sess, and challenge parsing. */
#include "check.h"
#include "http/digest.h"

static const char CHALLENGE_MD5[] =
    "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, "
    "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
static const char CNONCE[] = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

static bool contains(const char *s, const char *part)
{
    return strstr(s, part) != NULL;
}

int main(void)
{
    struct digest_challenge c;
    char out[1024];
    CHECK_INT(digest_challenge_parse(str_cstr(CHALLENGE_MD5), &c), 0);
    CHECK_STR(c.realm, "http-auth@example.org");
    CHECK(c.qop_auth && c.alg == DIGEST_MD5 && !c.sess && !c.userhash);
    int n = digest_authorization(&c, "Mufasa", "Circle of Life", "GET", "/dir/index.html", CNONCE,
                                 1, out, sizeof(out));
    CHECK(n > 0);
    CHECK(contains(out, "response=\"8ca523f5e9506fed4657c9700eebdbec\""));
    CHECK(contains(out, "nc=00000001") && contains(out, "qop=auth"));
    CHECK(contains(out, "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
    CHECK(contains(out, "username=\"Mufasa\""));

    /* the same with SHA-256 (RFC 7616 §3.9.1), offered after a Basic challenge */
    char sha[sizeof(CHALLENGE_MD5) + 64];
    snprintf(sha, sizeof(sha), "Basic realm=\"x\", %s", CHALLENGE_MD5);
    snprintf(sha, sizeof(sha),
             "Basic realm=\"x\", Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
             "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
             "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"");
    CHECK_INT(digest_challenge_parse(str_cstr(sha), &c), 0);
    CHECK(c.alg == DIGEST_SHA256);
    n = digest_authorization(&c, "Mufasa", "Circle of Life", "GET", "/dir/index.html", CNONCE, 1,
                             out, sizeof(out));
    CHECK(n > 0);
    CHECK(contains(
        out, "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""));
    CHECK(contains(out, "algorithm=SHA-256,"));

    /* userhash: the username is H(user ":" realm) */
    CHECK_INT(digest_challenge_parse(str_cstr("Digest realm=\"r\", nonce=\"n\", qop=auth, "
                                              "algorithm=SHA-256-sess, userhash=true"),
                                     &c),
              0);
    CHECK(c.userhash && c.sess && c.alg == DIGEST_SHA256);
    n = digest_authorization(&c, "u", "p", "GET", "/", "c", 2, out, sizeof(out));
    CHECK(n > 0 && contains(out, "userhash=true") && contains(out, "algorithm=SHA-256-sess") &&
          contains(out, "nc=00000002") && !contains(out, "username=\"u\""));

    /* refusals: no Digest, no nonce, unknown algorithm, auth-int only, bad quoting */
    CHECK_INT(digest_challenge_parse(str_cstr("Basic realm=\"x\""), &c), -1);
    CHECK_INT(digest_challenge_parse(str_cstr("Digest realm=\"x\""), &c), -1);
    CHECK_INT(digest_challenge_parse(str_cstr("Digest nonce=\"n\", algorithm=SHA-1"), &c), -1);
    CHECK_INT(digest_challenge_parse(str_cstr("Digest nonce=\"n\", qop=\"auth-int\""), &c), -1);
    CHECK_INT(digest_challenge_parse(str_cstr("Digest nonce=\"n"), &c), -1);
    /* no qop (RFC 2069 form): response = H(HA1:nonce:HA2) */
    CHECK_INT(digest_challenge_parse(str_cstr("Digest realm=\"r\", nonce=\"n\""), &c), 0);
    CHECK(!c.qop_auth);
    n = digest_authorization(&c, "u", "p", "GET", "/", "c", 1, out, sizeof(out));
    CHECK(n > 0 && !contains(out, "qop=") && !contains(out, "cnonce"));
    CHECK_INT(digest_authorization(&c, "u", "p", "GET", "/", "c", 1, out, 40), -1);
    return check_done("http/digest");
}
