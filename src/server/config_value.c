/* Parsers for the configuration's scalar values: booleans, counts, byte sizes, durations. */
#include <string.h>
#include <strings.h>

#include "server/config_internal.h"

int config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int config_parse_uint(const char *s, bool sizes, uint64_t *out)
{
    uint64_t v = 0;
    bool overflow = false;
    const char *p = s;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    unsigned shift = 0;
    if (*p && sizes) {
        switch (*p) {
        case 'k':
        case 'K': shift = 10; break;
        case 'm':
        case 'M': shift = 20; break;
        case 'g':
        case 'G': shift = 30; break;
        default: return -1;
        }
        p++;
    }
    if (*p) return -1;
    if (overflow || (shift && v > (UINT64_MAX >> shift))) return -2;
    *out = v << shift;
    return 0;
}

int config_parse_duration(const char *s, double *out)
{
    const char *p = s;
    size_t int_digits = 0, frac_digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, int_digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, frac_digits++;
    }
    if (int_digits == 0 && frac_digits == 0) return -1;
    if (int_digits > 15) /* far beyond any sensible timeout; the range check reports it */
        return -2;
    double scale;
    if (strcmp(p, "") == 0 || strcmp(p, "s") == 0)
        scale = 1;
    else if (strcmp(p, "ms") == 0)
        scale = 0.001;
    else if (strcmp(p, "m") == 0)
        scale = 60;
    else if (strcmp(p, "h") == 0)
        scale = 3600;
    else
        return -1;
    /* computed by hand: strtod would follow the locale's decimal point */
    double v = 0, step = 0.1;
    for (p = s; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, step /= 10)
            v += (*p - '0') * step;
    *out = v * scale;
    return 0;
}
