/* Accept-Encoding negotiation (RFC 9110 §12.5.3, qvalues §12.4.2). */
#include "http/negotiate.h"

#include "http/header.h"

const char *http_coding_name(enum http_coding c)
{
    switch (c) {
    case HTTP_CODING_GZIP: return "gzip";
    case HTTP_CODING_BR: return "br";
    case HTTP_CODING_ZSTD: return "zstd";
    default: return "";
    }
}

const char *http_coding_suffix(enum http_coding c)
{
    switch (c) {
    case HTTP_CODING_GZIP: return ".gz";
    case HTTP_CODING_BR: return ".br";
    case HTTP_CODING_ZSTD: return ".zst";
    default: return "";
    }
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths, or -1. */
static int parse_qvalue(str_t s)
{
    if (s.len == 0 || s.len > 5 || (s.p[0] != '0' && s.p[0] != '1')) return -1;
    int q = (s.p[0] - '0') * 1000;
    if (s.len == 1) return q;
    if (s.p[1] != '.') return -1;
    int scale = 100;
    for (size_t i = 2; i < s.len; i++, scale /= 10) {
        if (s.p[i] < '0' || s.p[i] > '9') return -1;
        q += (s.p[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* codings [ weight ]; weight = OWS ";" OWS "q=" qvalue. False when malformed. */
static bool parse_element(str_t e, str_t *name, int *q)
{
    size_t i = 0;
    while (i < e.len && http_is_tchar((unsigned char)e.p[i]))
        i++;
    *name = str_make(e.p, i);
    *q = 1000;
    if (i == 0) return false;
    if (i == e.len) return true;
    str_t rest = str_trim_ows(str_make(e.p + i, e.len - i));
    if (rest.len < 3 || rest.p[0] != ';') return false;
    rest = str_trim_ows(str_make(rest.p + 1, rest.len - 1));
    if (rest.len < 2 || (rest.p[0] != 'q' && rest.p[0] != 'Q') || rest.p[1] != '=') return false;
    *q = parse_qvalue(str_make(rest.p + 2, rest.len - 2));
    return *q >= 0;
}

enum { IDX_BR, IDX_ZSTD, IDX_GZIP, IDX_IDENTITY, IDX_N };

int http_negotiate_coding(str_t accept_encoding, int present, unsigned available)
{
    if (!present) return HTTP_CODING_IDENTITY;
    int q[IDX_N] = {-1, -1, -1, -1}; /* -1: not listed */
    int star = -1;
    size_t pos = 0;
    str_t e, name;
    while (http_list_next(accept_encoding, &pos, &e)) {
        int eq;
        if (!parse_element(e, &name, &eq)) continue; /* a malformed element counts as not present */
        int *slot;
        if (str_eq_nocase(name, STR_LIT("br")))
            slot = &q[IDX_BR];
        else if (str_eq_nocase(name, STR_LIT("zstd")))
            slot = &q[IDX_ZSTD];
        else if (str_eq_nocase(name, STR_LIT("gzip")) || str_eq_nocase(name, STR_LIT("x-gzip")))
            slot = &q[IDX_GZIP];
        else if (str_eq_nocase(name, STR_LIT("identity")))
            slot = &q[IDX_IDENTITY];
        else if (name.len == 1 && name.p[0] == '*')
            slot = &star;
        else
            continue;
        if (eq > *slot) /* a coding listed twice keeps its highest weight */
            *slot = eq;
    }

    static const int codings[IDX_N] = {HTTP_CODING_BR, HTTP_CODING_ZSTD, HTTP_CODING_GZIP,
                                       HTTP_CODING_IDENTITY};
    int best = -1, best_q = 0;
    for (int i = 0; i < IDX_N; i++) {
        int w = q[i];
        if (i == IDX_IDENTITY) {
            /* acceptable by default (at the lowest weight) unless identity;q=0, or *;q=0
             * without an identity entry */
            if (w < 0) w = star == 0 ? 0 : 1;
        } else {
            if (!(available & (unsigned)codings[i])) continue;
            if (w < 0) w = star < 0 ? 0 : star;
        }
        if (w > best_q) {
            best_q = w;
            best = codings[i];
        }
    }
    return best;
}
