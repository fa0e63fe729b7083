/* http/date: RFC 9110 §5.6.7 formats, strictness, and format/parse round trips. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "http/date.h"

static bool parse(const char *s, time_t *t)
{
    return http_date_parse(s, strlen(s), t);
}

static void test_rfc_examples(void)
{
    time_t t = 0;
    /* RFC 9110 §5.6.7: the same instant in the three formats */
    CHECK(parse("Sun, 06 Nov 1994 08:49:37 GMT", &t));
    CHECK_INT(t, 784111777);
    t = 0;
    CHECK(parse("Sunday, 06-Nov-94 08:49:37 GMT", &t));
    CHECK_INT(t, 784111777);
    t = 0;
    CHECK(parse("Sun Nov  6 08:49:37 1994", &t));
    CHECK_INT(t, 784111777);
    CHECK(parse("Sun Nov 06 08:49:37 1994", &t)); /* 2DIGIT day in asctime */
    CHECK_INT(t, 784111777);

    char buf[HTTP_DATE_LEN + 1];
    http_date_format(784111777, buf);
    CHECK_STR(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK_INT(strlen(buf), HTTP_DATE_LEN);
    http_date_format(0, buf);
    CHECK_STR(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
    http_date_format(951782400, buf); /* leap day 2000 */
    CHECK_STR(buf, "Tue, 29 Feb 2000 00:00:00 GMT");
    http_date_format(-1, buf);
    CHECK_STR(buf, "Wed, 31 Dec 1969 23:59:59 GMT");
    http_date_format(253402300799LL, buf);
    CHECK_STR(buf, "Fri, 31 Dec 9999 23:59:59 GMT");
    http_date_format((time_t)INT64_MAX, buf); /* clamped to a 4-digit year */
    CHECK_STR(buf, "Fri, 31 Dec 9999 23:59:59 GMT");
}

static void test_other_valid(void)
{
    time_t t;
    CHECK(parse("Thu, 01 Jan 1970 00:00:00 GMT", &t) && t == 0);
    CHECK(parse("Tue, 29 Feb 2000 00:00:00 GMT", &t) && t == 951782400);
    CHECK(parse("Wed, 31 Dec 1969 23:59:59 GMT", &t) && t == -1);
    CHECK(parse("  Sun, 06 Nov 1994 08:49:37 GMT\t", &t) && t == 784111777); /* OWS */
    /* the weekday is not checked against the date (documented leniency) */
    CHECK(parse("Mon, 06 Nov 1994 08:49:37 GMT", &t) && t == 784111777);
    /* leap second: read as :59 (time_t has none) */
    CHECK(parse("Sat, 31 Dec 2016 23:59:60 GMT", &t) && t == 1483228799);
    CHECK(parse("Fri, 31 Dec 9999 23:59:60 GMT", &t) && t == 253402300799LL);
    CHECK(parse("Wednesday, 09-Nov-99 23:12:40 GMT", &t) && t == 942189160);
    CHECK(parse("Thu Jan  1 00:00:00 1970", &t) && t == 0);
}

static void test_invalid(void)
{
    static const char *const bad[] = {
        "",
        "Sun, 06 Nov 1994 08:49:37",        /* no GMT */
        "Sun, 06 Nov 1994 08:49:37 UTC",    /* not GMT */
        "Sun, 06 Nov 1994 08:49:37 gmt",    /* case-sensitive */
        "sun, 06 Nov 1994 08:49:37 GMT",    /* case-sensitive day name */
        "Sun, 06 nov 1994 08:49:37 GMT",    /* case-sensitive month */
        "Sun, 6 Nov 1994 08:49:37 GMT",     /* 2DIGIT day */
        "Sun,  6 Nov 1994 08:49:37 GMT",    /* not asctime-style in IMF */
        "Sun, 06 Nov 94 08:49:37 GMT",      /* 4DIGIT year */
        "Sun, 30 Feb 1994 08:49:37 GMT",    /* Feb 30 */
        "Tue, 29 Feb 1900 00:00:00 GMT",    /* 1900 is not leap */
        "Sun, 31 Apr 1994 08:49:37 GMT",    /* April has 30 days */
        "Sun, 00 Nov 1994 08:49:37 GMT",    /* day 0 */
        "Sun, 06 Nov 1994 24:00:00 GMT",    /* hour 24 */
        "Sun, 06 Nov 1994 08:60:00 GMT",    /* minute 60 */
        "Sun, 06 Nov 1994 08:49:61 GMT",    /* second 61 */
        "Sun, 06 Nov 1994 8:49:37 GMT",     /* 2DIGIT hour */
        "Sun, 06 Nov 1994 08-49-37 GMT",    /* separators */
        "Xyz, 06 Nov 1994 08:49:37 GMT",    /* unknown day name */
        "Sun, 06 Xyz 1994 08:49:37 GMT",    /* unknown month */
        "Sun, 06 Nov 1994 08:49:37 GMTX",   /* trailing junk */
        "Sun, 06 Nov +994 08:49:37 GMT",    /* sign in a number */
        "Sun 06 Nov 1994 08:49:37 GMT",     /* missing comma */
        "Sunday, 06-Nov-1994 08:49:37 GMT", /* 2DIGIT year in RFC 850 */
        "Sun, 06-Nov-94 08:49:37 GMT",      /* short day name in RFC 850 */
        "Sundae, 06-Nov-94 08:49:37 GMT",   /* bad long name */
        "Sunday, 06 Nov 94 08:49:37 GMT",   /* separators */
        "Sunday, 31-Sep-94 08:49:37 GMT",   /* Sep 31 */
        "Sun Nov 6 08:49:37 1994",          /* asctime needs SP DIGIT */
        "Sun Nov  6 08:49:37 94",           /* asctime 4DIGIT year */
        "Sun Nov  6 08:49:37 1994 GMT",     /* asctime has no zone */
        "Sun Feb 30 08:49:37 1994",
        "Sun Nov  6 24:49:37 1994",
        "1994-11-06T08:49:37Z", /* ISO 8601 is not an HTTP-date */
        "784111777",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        time_t t;
        bool ok = parse(bad[i], &t);
        if (ok) fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
        CHECK(!ok);
    }
    /* embedded NUL */
    time_t t;
    CHECK(!http_date_parse("Sun, 06 Nov 1994 08:49:37 G\0T", 29, &t));
    CHECK(!http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 28, &t)); /* length respected */
}

static void test_rfc850_years(void)
{
    /* two-digit years: more than 50 years in the future means the previous century */
    time_t now = time(NULL), t;
    struct tm tm;
    gmtime_r(&now, &tm);
    int year = tm.tm_year + 1900;
    char buf[64];
    for (int ahead = -49; ahead <= 50; ahead++) {
        int y = year + ahead;
        snprintf(buf, sizeof buf, "Monday, 01-Jan-%02d 00:00:00 GMT", y % 100);
        CHECK(parse(buf, &t));
        gmtime_r(&t, &tm);
        CHECK_INT(tm.tm_year + 1900, y);
    }
}

static void test_round_trip(void)
{
    /* format -> parse gives the same instant; components agree with gmtime_r */
    uint64_t x = 88172645463325252ULL;
    int fails = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* 0000-01-01 .. 9999-12-31 */
        int64_t t = -62167219200LL + (int64_t)(x % (253402300799ULL + 62167219200ULL + 1));
        if (i < 1000) t = (int64_t)i * 86399 * 37 - 3000000000LL;
        char buf[HTTP_DATE_LEN + 1];
        http_date_format((time_t)t, buf);
        time_t back;
        if (!http_date_parse(buf, strlen(buf), &back) || back != t) fails++;
        struct tm tm;
        time_t tt = (time_t)t;
        gmtime_r(&tt, &tm);
        char ref[64];
        static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        snprintf(ref, sizeof ref, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday], tm.tm_mday,
                 mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (strcmp(ref, buf) != 0) {
            if (fails < 5) fprintf(stderr, "%lld: %s vs %s\n", (long long)t, buf, ref);
            fails++;
        }
    }
    CHECK_INT(fails, 0);
}

int main(void)
{
    test_rfc_examples();
    test_other_valid();
    test_invalid();
    test_rfc850_years();
    test_round_trip();
    return check_done("http/date");
}
