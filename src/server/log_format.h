/* Access log formats written as text with variables: `$remote_addr "$request" $status`. A
 * variable is '$' and a name of lower-case letters, digits and '_' (the longest such run), or
 * `${name}` where letters follow it; `$$` is one '$'. Every other byte is copied as it is. The
 * names are the fields of the JSON format (docs/config.md, "access_log"). I/O-free. */
#ifndef TERN_SERVER_LOG_FORMAT_H
#define TERN_SERVER_LOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

enum log_var {
    LOG_VAR_TIME,        /* 2026-12-08T00:18:15.123Z */
    LOG_VAR_TIME_LOCAL,  /* [08/Dec/2026:00:18:15 +0000], as Combined */
    LOG_VAR_REMOTE_ADDR, /* client address */
    LOG_VAR_REMOTE_USER, /* the user authentication admitted, or - */
    LOG_VAR_REQUEST,     /* METHOD target HTTP/x.y, as Combined */
    LOG_VAR_METHOD,
    LOG_VAR_TARGET,
    LOG_VAR_VERSION, /* HTTP/1.1, HTTP/2.0, HTTP/3.0 */
    LOG_VAR_STATUS,
    LOG_VAR_BYTES,       /* body bytes sent */
    LOG_VAR_DURATION_US, /* from dispatch to the end of the exchange */
    LOG_VAR_REQUEST_ID,
    LOG_VAR_TLS_VERSION,
    LOG_VAR_TLS_CIPHER,
    LOG_VAR_SNI,
    LOG_VAR_ALPN,
    LOG_VAR_USER_AGENT,
    LOG_VAR_REFERER,
    LOG_VAR_HOST,
    LOG_VAR_CACHE_STATUS,      /* the response's Cache-Status (a caching location) */
    LOG_VAR_JA4,               /* the TLS client's JA4 fingerprint (tls/ja4.h) */
    LOG_VAR_HTTP2_FINGERPRINT, /* the HTTP/2 client's Akamai fingerprint (h2/fingerprint.h) */
    LOG_VAR_COUNT
};

/* One piece of a format: a literal run of the text, or a variable. */
struct log_format_item {
    int var;           /* enum log_var, or -1 for a literal */
    uint32_t off, len; /* literal: its bytes in the format's text */
};

struct log_format {
    char *text; /* the literals, with '$$' already made one '$' */
    struct log_format_item *items;
    size_t n_items;
};

/* The name of a variable ("remote_addr"). */
const char *log_var_name(enum log_var v);

/* Compiles s into *out (malloc'ed; log_format_free it). 0, or -1 with a message naming the
 * offending offset in err (an unknown variable, a '$' with no name, '${' without '}'), or
 * "out of memory". */
int log_format_parse(const char *s, size_t len, struct log_format *out, char *err, size_t errlen);

void log_format_free(struct log_format *f);

#endif
