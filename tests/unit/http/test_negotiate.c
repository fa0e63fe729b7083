/* http/negotiate: Accept-Encoding (RFC 9110 §12.5.3) with qvalues (§12.4.2). */
#include "check.h"
#include "http/negotiate.h"

#define ALL (HTTP_CODING_GZIP | HTTP_CODING_BR | HTTP_CODING_ZSTD)

static int pick(const char *v, unsigned avail)
{
    return http_negotiate_coding(str_cstr(v), 1, avail);
}

static void test_names(void)
{
    CHECK_STR(http_coding_name(HTTP_CODING_GZIP), "gzip");
    CHECK_STR(http_coding_name(HTTP_CODING_BR), "br");
    CHECK_STR(http_coding_name(HTTP_CODING_ZSTD), "zstd");
    CHECK_STR(http_coding_name(HTTP_CODING_IDENTITY), "");
    CHECK_STR(http_coding_suffix(HTTP_CODING_GZIP), ".gz");
    CHECK_STR(http_coding_suffix(HTTP_CODING_BR), ".br");
    CHECK_STR(http_coding_suffix(HTTP_CODING_ZSTD), ".zst");
    CHECK_STR(http_coding_suffix(HTTP_CODING_IDENTITY), "");
}

static void test_basic(void)
{
    CHECK_INT(http_negotiate_coding(STR_NULL, 0, ALL), HTTP_CODING_IDENTITY); /* no header */
    CHECK_INT(pick("", ALL), HTTP_CODING_IDENTITY); /* empty: no coding wanted */
    CHECK_INT(pick("gzip", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("GZIP", ALL), HTTP_CODING_GZIP); /* case-insensitive */
    CHECK_INT(pick("x-gzip", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("gzip", HTTP_CODING_BR), HTTP_CODING_IDENTITY);   /* not available */
    CHECK_INT(pick("gzip, deflate, br, zstd", ALL), HTTP_CODING_BR); /* ties: br first */
    CHECK_INT(pick("gzip, deflate, br, zstd", HTTP_CODING_GZIP | HTTP_CODING_ZSTD),
              HTTP_CODING_ZSTD);
    CHECK_INT(pick("gzip, deflate, br", HTTP_CODING_GZIP | HTTP_CODING_ZSTD), HTTP_CODING_GZIP);
    CHECK_INT(pick("compress, deflate", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip, identity", ALL), HTTP_CODING_GZIP); /* tie: coding before identity */
}

static void test_qvalues(void)
{
    /* RFC 9110 §12.5.3 examples */
    CHECK_INT(pick("compress, gzip", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("*", ALL), HTTP_CODING_BR);
    CHECK_INT(pick("compress;q=0.5, gzip;q=1.0", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("gzip;q=1.0, identity; q=0.5, *;q=0", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("gzip;q=1.0, identity; q=0.5, *;q=0", HTTP_CODING_BR), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;q=0.4, identity; q=0.5", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;q=0.5, br;q=0.4", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("br;q=0.001, gzip;q=0.002", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("gzip;q=0.001", ALL), HTTP_CODING_GZIP); /* beats default identity (tie) */
    CHECK_INT(pick("br;q=0, *", ALL), HTTP_CODING_ZSTD);
    CHECK_INT(pick("br;q=0, *", HTTP_CODING_BR), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("*;q=0.5, gzip;q=0.6", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("*;q=0.7, gzip;q=0.6", ALL), HTTP_CODING_BR);
    CHECK_INT(pick("gzip;Q=0.5", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("gzip ; q=0.5", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("gzip;q=0.", ALL), HTTP_CODING_IDENTITY); /* "0." is q=0 */
    CHECK_INT(pick("gzip;q=1.", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("gzip;q=1.000", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("gzip;q=0, gzip;q=1", ALL), HTTP_CODING_GZIP); /* duplicates: highest */
}

static void test_refusals(void)
{
    CHECK_INT(pick("identity;q=0", ALL), -1);
    CHECK_INT(pick("identity;q=0, gzip", ALL), HTTP_CODING_GZIP);
    CHECK_INT(pick("identity;q=0, gzip", 0), -1);
    CHECK_INT(pick("*;q=0", ALL), -1);
    CHECK_INT(pick("*;q=0", 0), -1);
    CHECK_INT(pick("*;q=0, identity", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("*;q=0, identity;q=0.1", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("*;q=0, br", ALL), HTTP_CODING_BR);
    CHECK_INT(pick("gzip;q=0", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;q=0.000", ALL), HTTP_CODING_IDENTITY);
}

static void test_malformed(void)
{
    /* a malformed element is treated as not present */
    CHECK_INT(pick("gzip;q=1.001", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;q=2", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;q=0.1234", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;q=", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;q=.5", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;q = 0.5", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;level=1", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip q=1", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("\"gzip\"", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("identity;q=x", ALL), HTTP_CODING_IDENTITY); /* ignored: identity default */
    CHECK_INT(pick("*;q=-1", ALL), HTTP_CODING_IDENTITY);
    CHECK_INT(pick("gzip;q=1.001, br", ALL), HTTP_CODING_BR);
    CHECK_INT(pick(",, ,gzip,,", ALL), HTTP_CODING_GZIP);
}

int main(void)
{
    test_names();
    test_basic();
    test_qvalues();
    test_refusals();
    test_malformed();
    return check_done("http/negotiate");
}
