/* HTTP/1.x request-head parser (RFC 9112, RFC 1945, and the HTTP/0.9 one-line request).
 * I/O-free and zero-copy: the result points into the caller's buffer. It resumes across
 * reads: call again with the same (grown) buffer and the parser rescans only new bytes for the
 * end of the head. Strict by default; each leniency is a named option. */
#ifndef TERN_H1_PARSER_H
#define TERN_H1_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

struct h1_parse_options {
    size_t max_request_line; /* 414 beyond (bytes of the line without its CRLF) */
    size_t max_head_size;    /* 431 beyond (leading empty lines + request line + fields + CRLFs) */
    size_t max_fields;       /* 431 beyond */
    bool http09;             /* accept "GET /path" without version */
    bool allow_bare_lf;      /* leniency: accept LF line ends */
    bool allow_obs_fold;     /* leniency: obs-fold becomes SP (else 400). The parser then writes
                                the SPs over the fold's CR LF in buf, so buf must be writable. */
    bool allow_target_obs_text; /* leniency: octets 0x80-0xFF in the request-target (else 400) */
};

/* The request-target's form (RFC 9112 §3.2). */
enum h1_target_form {
    H1_TARGET_ORIGIN = 0, /* "/path?query" */
    H1_TARGET_ABSOLUTE,   /* "scheme://authority/path" */
    H1_TARGET_AUTHORITY,  /* "host:port", CONNECT only */
    H1_TARGET_ASTERISK,   /* "*", OPTIONS only */
};

struct h1_field {
    str_t name;
    str_t value; /* OWS trimmed */
};

struct h1_request_head {
    str_t method;
    str_t target;
    int version;             /* 9, 10 or 11 */
    struct h1_field *fields; /* caller-provided array of max_fields entries */
    size_t n_fields;
    /* framing, derived and validated (RFC 9112 §6) */
    bool chunked;            /* Transfer-Encoding: chunked */
    int64_t content_length;  /* -1 when absent */
    bool keep_alive;         /* persistence per version and Connection (RFC 9112 §9.3) */
    bool expect_continue;    /* Expect: 100-continue (ignored in HTTP/1.0, RFC 9110 §10.1.1) */
    bool expect_unsupported; /* an Expect value other than 100-continue: answer 417 */
    bool upgrade;            /* Connection: upgrade with an Upgrade field present (1.1 only) */
    str_t host;              /* Host field value (validated), len 0 if absent */
    enum h1_target_form target_form;
};

/* Parser state; all offsets are relative to buf, so the caller may move (realloc) the buffer
 * between calls as long as the bytes already received stay the same. Zero-initialised is the
 * same as h1_parser_reset(). */
struct h1_parser {
    size_t scanned;      /* bytes already searched for the end of the head */
    size_t start;        /* offset of the request line (after skipped empty lines) */
    size_t line_start;   /* offset of the current, unterminated field line */
    size_t fields_start; /* offset just past the request line; 0 until it has been parsed */
    size_t n_lines;      /* field lines counted so far (max_fields) */
    size_t method_len;
    size_t target_off, target_len;
    int version;
    enum h1_target_form target_form;
    int status; /* response heads: the status code */
};

struct h1_error {
    int status;         /* 400, 414, 431, 501, 505 */
    const char *reason; /* short text for the error log */
};

/* Resets the parser for the next request (required after any result other than 0). */
void h1_parser_reset(struct h1_parser *p);

/* Parses one request head from buf[0..len). Returns the head's length in bytes (> 0) when
 * complete (fields filled; out->fields must have opts->max_fields slots); 0 when more bytes are
 * needed; -1 on error with *err filled. Leading empty lines before a request are skipped
 * (RFC 9112 §2.2) and counted in the returned length.
 * Rejects with 400: malformed request line or version syntax, whitespace before a colon,
 * obs-fold (unless allowed), bare CR, control characters, invalid field names/values,
 * Content-Length with Transfer-Encoding, several or malformed Content-Length, any transfer
 * coding but a final chunked, Transfer-Encoding in HTTP/1.0, a missing/duplicate/invalid Host
 * in HTTP/1.1. 505 for a well-formed version other than 1.0/1.1 (HTTP/0.9 via `http09`).
 * 414 for a request line over the limit, 431 for too many or too large fields, 501 for an
 * unsupported Transfer-Encoding such as gzip. Errors are found in byte order, so feeding a head
 * in pieces gives the same answer as feeding it whole. */
int h1_parse_request_head(struct h1_parser *p, const char *buf, size_t len,
                          const struct h1_parse_options *opts, struct h1_request_head *out,
                          struct h1_error *err);

/* ---- responses (the client role) ---- */

struct h1_response_head {
    int version;             /* 10 or 11 */
    int status;              /* 100-599 */
    str_t reason;            /* the reason phrase (may be empty) */
    struct h1_field *fields; /* caller-provided array of max_fields entries */
    size_t n_fields;
    bool chunked;           /* Transfer-Encoding with chunked last */
    bool te_other;          /* Transfer-Encoding without chunked: the body ends at close */
    int64_t content_length; /* -1 when absent */
    bool keep_alive;        /* persistence per version and Connection (RFC 9112 §9.3) */
};

/* How the body of a response is delimited (RFC 9112 §6.3). */
enum h1_body_kind {
    H1_BODY_NONE = 0, /* 1xx, 204, 304, a response to HEAD, 2xx to CONNECT */
    H1_BODY_LENGTH,   /* Content-Length */
    H1_BODY_CHUNKED,  /* chunked transfer coding */
    H1_BODY_CLOSE,    /* until the connection closes */
};

/* Parses one response head (status line and fields) from buf[0..len), resumable as the request
 * parser. Returns the head's length, 0 for more, -1 with *err (status 502: the response cannot
 * be used) on: a malformed status line, a version other than HTTP/1.x, a status outside
 * 100-599, the field errors of requests, several or malformed Content-Length fields (also equal
 * ones: no list), Content-Length with Transfer-Encoding, Transfer-Encoding in HTTP/1.0, chunked
 * not last or twice. max_request_line bounds the status line, max_head_size and max_fields the
 * head; HTTP/0.9 and allow_target_obs_text do not apply. */
int h1_parse_response_head(struct h1_parser *p, const char *buf, size_t len,
                           const struct h1_parse_options *opts, struct h1_response_head *out,
                           struct h1_error *err);
/* The body's delimitation for a head parsed above, given the request's method. */
enum h1_body_kind h1_response_body(const struct h1_response_head *h, bool head_request,
                                   bool connect_request);

/* Validates a Host / authority value (RFC 9110 §7.2, RFC 3986 §3.2.2): reg-name, IPv4 or
 * [IPv6], optional :port. */
bool h1_host_is_valid(str_t host);

#endif
