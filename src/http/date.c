/* HTTP-date formatting and parsing (RFC 9110 §5.6.7), without locale or TZ dependence: civil
 * dates are converted with our own days-from-civil arithmetic (proleptic Gregorian calendar). */
#include "http/date.h"

#include <stdint.h>
#include <string.h>

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const day_names_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

#define SECS_PER_DAY 86400

/* Days since 1970-01-01 of y-m-d (m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static inline void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

void http_date_format(time_t t, char out[HTTP_DATE_LEN + 1])
{
    /* IMF-fixdate has a 4-digit year: clamp to 0000-01-01T00:00:00 .. 9999-12-31T23:59:59. */
    const int64_t min_t = -62167219200LL, max_t = 253402300799LL;
    int64_t s = (int64_t)t;
    if (s < min_t) s = min_t;
    if (s > max_t) s = max_t;
    int64_t days = s / SECS_PER_DAY, rem = s % SECS_PER_DAY;
    if (rem < 0) rem += SECS_PER_DAY, days--;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int hh = (int)(rem / 3600), mm = (int)(rem / 60 % 60), ss = (int)(rem % 60);

    memcpy(out, day_names[wday], 3);
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, d);
    out[7] = ' ';
    memcpy(out + 8, month_names[m - 1], 3);
    out[11] = ' ';
    put2(out + 12, (int)(y / 100));
    put2(out + 14, (int)(y % 100));
    out[16] = ' ';
    put2(out + 17, hh);
    out[19] = ':';
    put2(out + 20, mm);
    out[22] = ':';
    put2(out + 23, ss);
    memcpy(out + 25, " GMT", 5); /* with the NUL */
}

/* n ASCII digits at p, or -1. */
static int digits(const char *p, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static int month_from(const char *p)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(p, month_names[i], 3) == 0) return i + 1;
    return 0;
}

static bool short_day_name(const char *p)
{
    for (int i = 0; i < 7; i++)
        if (memcmp(p, day_names[i], 3) == 0) return true;
    return false;
}

/* "HH:MM:SS" at p; second 60 is allowed (leap second, RFC 9110 §5.6.7) and read as 59, since
 * time_t has no leap seconds (and 59 errs on the side of "modified" in comparisons). */
static bool parse_time(const char *p, int *secs)
{
    if (p[2] != ':' || p[5] != ':') return false;
    int h = digits(p, 2), m = digits(p + 3, 2), s = digits(p + 6, 2);
    if (h < 0 || m < 0 || s < 0 || h > 23 || m > 59 || s > 60) return false;
    *secs = h * 3600 + m * 60 + (s == 60 ? 59 : s);
    return true;
}

static bool finish(int64_t y, int m, int d, int secs, time_t *out)
{
    if (m < 1 || d < 1 || d > days_in_month(y, m)) return false;
    *out = (time_t)(days_from_civil(y, m, d) * SECS_PER_DAY + secs);
    return true;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static bool parse_imf(const char *s, time_t *out)
{
    if (!short_day_name(s) || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || memcmp(s + 25, " GMT", 4) != 0)
        return false;
    int d = digits(s + 5, 2), m = month_from(s + 8), y = digits(s + 12, 4), secs;
    if (d < 0 || y < 0 || !parse_time(s + 17, &secs)) return false;
    return finish(y, m, d, secs, out);
}

/* Two-digit year of RFC 850: the year with these last digits in (now-50, now+50]. */
static int64_t full_year(int yy)
{
    int64_t cur, y;
    int m, d;
    time_t now = time(NULL);
    int64_t days = (int64_t)now / SECS_PER_DAY;
    civil_from_days(days, &cur, &m, &d);
    y = cur - cur % 100 + yy;
    if (y > cur + 50)
        y -= 100;
    else if (y <= cur - 50)
        y += 100;
    return y;
}

/* "Sunday, 06-Nov-94 08:49:37 GMT" */
static bool parse_rfc850(const char *s, size_t len, time_t *out)
{
    size_t n = 0;
    while (n < len && s[n] != ',')
        n++;
    bool named = false;
    for (int i = 0; i < 7 && !named; i++)
        named = strlen(day_names_long[i]) == n && memcmp(s, day_names_long[i], n) == 0;
    /* after the name: ", DD-Mon-YY HH:MM:SS GMT" is 24 bytes */
    if (!named || len - n != 24) return false;
    const char *p = s + n;
    if (p[1] != ' ' || p[4] != '-' || p[8] != '-' || p[11] != ' ' || memcmp(p + 20, " GMT", 4) != 0)
        return false;
    int d = digits(p + 2, 2), m = month_from(p + 5), yy = digits(p + 9, 2), secs;
    if (d < 0 || yy < 0 || !parse_time(p + 12, &secs)) return false;
    return finish(full_year(yy), m, d, secs, out);
}

/* "Sun Nov  6 08:49:37 1994" (the day is 2DIGIT or SP DIGIT) */
static bool parse_asctime(const char *s, time_t *out)
{
    if (!short_day_name(s) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
        return false;
    int d = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);
    int m = month_from(s + 4), y = digits(s + 20, 4), secs;
    if (d < 0 || y < 0 || !parse_time(s + 11, &secs)) return false;
    return finish(y, m, d, secs, out);
}

bool http_date_parse(const char *s, size_t len, time_t *out)
{
    /* Surrounding OWS is not part of a field value; everything else is strict. */
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == HTTP_DATE_LEN && s[3] == ',') return parse_imf(s, out);
    if (len == 24 && s[3] == ' ') return parse_asctime(s, out);
    if (len >= 30 && len <= 33) return parse_rfc850(s, len, out);
    return false;
}
