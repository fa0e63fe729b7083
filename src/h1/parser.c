/* HTTP/1.x request-head parser (RFC 9112). The request line is parsed as soon as its LF is
 * there. For the fields, a one-pass fast path handles the usual case of a whole, valid head in
 * one read; otherwise two steps: an incremental scan with memchr for the line ends (resumable,
 * enforces the limits as soon as they are crossed), then one validating pass over the field
 * lines once the empty line that ends the head has arrived. Verdicts depend only on the bytes
 * in order, never on how they were split across calls. */
#include "h1/parser.h"

#include <arpa/inet.h>
#include <string.h>

#include "h1/chars.h"

#define CLS(c) (h1_char_class[(unsigned char)(c)])

static int fail(struct h1_error *err, int status, const char *reason)
{
    err->status = status;
    err->reason = reason;
    return -1;
}

void h1_parser_reset(struct h1_parser *p)
{
    memset(p, 0, sizeof(*p));
}

/* ASCII case-insensitive compare of s[0..n) with a lower-case literal made of letters, digits
 * and '-' (OR-ing 0x20 maps no other octet allowed in a field onto those). */
static bool eq_lower(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((char)(s[i] | 0x20) != lit[i]) return false;
    return true;
}

static bool str_is(str_t s, const char *lit, size_t n)
{
    return s.len == n && eq_lower(s.p, lit, n);
}

#define STR_IS(s, lit) str_is((s), lit, sizeof(lit) - 1)

static bool is_token(str_t s)
{
    if (s.len == 0) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!(CLS(s.p[i]) & H1_C_TCHAR)) return false;
    return true;
}

/* Next element of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed, empty ones skipped. */
static bool list_next(str_t v, size_t *pos, str_t *elem)
{
    while (*pos < v.len) {
        const char *comma = memchr(v.p + *pos, ',', v.len - *pos);
        size_t end = comma ? (size_t)(comma - v.p) : v.len;
        str_t e = str_trim_ows(str_make(v.p + *pos, end - *pos));
        *pos = comma ? end + 1 : v.len;
        if (e.len) {
            *elem = e;
            return true;
        }
    }
    return false;
}

/* ---- authority / Host (RFC 3986 §3.2.2, §3.2.3) ---- */

static bool ip_literal_is_valid(const char *s, size_t n)
{
    if (n >= 2 && (s[0] == 'v' || s[0] == 'V')) { /* IPvFuture */
        size_t i = 1;
        while (i < n && (CLS(s[i]) & H1_C_HEX))
            i++;
        if (i == 1 || i >= n || s[i] != '.' || i + 1 == n) return false;
        for (i++; i < n; i++)
            if (!(CLS(s[i]) & H1_C_HOST) && s[i] != ':') return false;
        return true;
    }
    char tmp[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    if (n == 0 || n >= sizeof(tmp)) return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, addr) == 1;
}

/* host [":" port]; port must be present and non-empty when need_port (authority-form). */
static bool authority_is_valid(str_t h, bool need_port)
{
    size_t i = 0;
    if (h.len == 0) return false;
    if (h.p[0] == '[') {
        const char *rb = memchr(h.p, ']', h.len);
        if (!rb || !ip_literal_is_valid(h.p + 1, (size_t)(rb - h.p) - 1)) return false;
        i = (size_t)(rb - h.p) + 1;
    } else {
        while (i < h.len && h.p[i] != ':') {
            if (h.p[i] == '%') {
                if (i + 2 >= h.len || !(CLS(h.p[i + 1]) & H1_C_HEX) ||
                    !(CLS(h.p[i + 2]) & H1_C_HEX))
                    return false;
                i += 3;
            } else if (CLS(h.p[i]) & H1_C_HOST) {
                i++;
            } else {
                return false;
            }
        }
        if (i == 0) return false; /* empty reg-name: rejected (see h1_host_is_valid) */
    }
    if (i == h.len) return !need_port;
    if (h.p[i] != ':') return false;
    i++;
    if (i == h.len) return !need_port; /* "host:" - port = *DIGIT may be empty */
    if (h.len - i > 5) return false;
    unsigned port = 0;
    for (; i < h.len; i++) {
        if (h.p[i] < '0' || h.p[i] > '9') return false;
        port = port * 10 + (unsigned)(h.p[i] - '0');
    }
    return port <= 65535;
}

bool h1_host_is_valid(str_t host)
{
    return authority_is_valid(host, false);
}

/* ---- fast skipping, eight octets at a time (SWAR) ---- */

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Non-zero when some octet of x is below n (n <= 128). */
static inline uint64_t any_below(uint64_t x, uint64_t n)
{
    return (x - ONES * n) & ~x & HIGHS;
}

/* Non-zero when some octet of x is DEL. */
static inline uint64_t any_del(uint64_t x)
{
    uint64_t y = x ^ (ONES * 0x7f);
    return (y - ONES) & ~y & HIGHS;
}

/* Skips field-value octets (SP, HTAB, VCHAR, obs-text) from i, never reading at or past limit. */
static size_t skip_value(const char *buf, size_t i, size_t limit)
{
    while (i + 8 <= limit) {
        uint64_t x;
        memcpy(&x, buf + i, 8);
        if (any_below(x, 0x20) | any_del(x)) break;
        i += 8;
    }
    while (i < limit && (CLS(buf[i]) & H1_C_VALUE))
        i++;
    return i;
}

/* Skips request-target octets (VCHAR, and obs-text when obs) in [i, end). */
static size_t skip_target(const char *buf, size_t i, size_t end, bool obs)
{
    uint64_t high = obs ? 0 : HIGHS;
    while (i + 8 <= end) {
        uint64_t x;
        memcpy(&x, buf + i, 8);
        if (any_below(x, 0x21) | any_del(x) | (x & high)) break;
        i += 8;
    }
    uint8_t mask = H1_C_VCHAR | (obs ? H1_C_OBS : 0);
    while (i < end && (CLS(buf[i]) & mask))
        i++;
    return i;
}

/* ---- request line (RFC 9112 §3) ---- */

static bool is_absolute_form(str_t t)
{
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://" */
    size_t i = 0;
    char c0 = (char)(t.p[0] | 0x20);
    if (c0 < 'a' || c0 > 'z') return false;
    for (i = 1; i < t.len; i++) {
        char c = t.p[i];
        char l = (char)(c | 0x20);
        if (!((l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
            break;
    }
    return t.len - i > 3 && memcmp(t.p + i, "://", 3) == 0;
}

/* Parses buf[p->start..end) (the line without its line end) into p. */
static int parse_request_line(struct h1_parser *p, const char *buf, size_t end,
                              const struct h1_parse_options *o, struct h1_error *err)
{
    size_t i = p->start;
    while (i < end && (CLS(buf[i]) & H1_C_TCHAR))
        i++;
    size_t mlen = i - p->start;
    if (mlen == 0 || i == end || buf[i] != ' ') return fail(err, 400, "malformed method");
    size_t t = ++i;
    i = skip_target(buf, i, end, o->allow_target_obs_text);
    if (i == t) return fail(err, 400, "malformed request target");
    str_t method = str_make(buf + p->start, mlen);
    str_t target = str_make(buf + t, i - t);
    int major = 0, minor = 0;
    if (i == end) {
        if (!o->http09) return fail(err, 400, "missing HTTP version");
        if (mlen != 3 || memcmp(method.p, "GET", 3) != 0)
            return fail(err, 400, "HTTP/0.9 request without GET");
    } else {
        if (buf[i] != ' ') return fail(err, 400, "invalid character in request target");
        i++;
        /* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3) */
        if (end - i != 8 || memcmp(buf + i, "HTTP/", 5) != 0 || buf[i + 5] < '0' ||
            buf[i + 5] > '9' || buf[i + 6] != '.' || buf[i + 7] < '0' || buf[i + 7] > '9')
            return fail(err, 400, "malformed HTTP version");
        major = buf[i + 5] - '0';
        minor = buf[i + 7] - '0';
    }
    bool connect = mlen == 7 && memcmp(method.p, "CONNECT", 7) == 0;
    if (connect) {
        if (!authority_is_valid(target, true))
            return fail(err, 400, "CONNECT needs an authority-form target");
        p->target_form = H1_TARGET_AUTHORITY;
    } else if (target.p[0] == '/') {
        p->target_form = H1_TARGET_ORIGIN;
    } else if (target.len == 1 && target.p[0] == '*') {
        if (mlen != 7 || memcmp(method.p, "OPTIONS", 7) != 0)
            return fail(err, 400, "asterisk-form target without OPTIONS");
        p->target_form = H1_TARGET_ASTERISK;
    } else if (is_absolute_form(target)) {
        p->target_form = H1_TARGET_ABSOLUTE;
    } else {
        return fail(err, 400, "malformed request target");
    }
    if (i == end) {
        p->version = 9;
    } else if (major == 1) {
        /* RFC 9110 §2.5: a higher minor version is processed as the highest we implement */
        p->version = minor == 0 ? 10 : 11;
    } else {
        return fail(err, 505, "unsupported HTTP version");
    }
    p->method_len = mlen;
    p->target_off = t;
    p->target_len = target.len;
    return 0;
}

/* ---- limits, checked at every point where the answer could change ---- */

/* Limits for the request line while it ends before offset len (len is either the buffer
 * length or the offset of the line's LF). When both limits are crossed, the one crossed at the
 * smaller offset wins, so that split and whole input give the same answer. */
static int request_line_limits(const struct h1_parser *p, const char *buf, size_t len,
                               const struct h1_parse_options *o, struct h1_error *err)
{
    size_t content = len - p->start - (len > p->start && buf[len - 1] == '\r');
    bool too_long = content > o->max_request_line;
    bool too_big = len + 1 > o->max_head_size;
    if (too_long && too_big) {
        size_t at414 = p->start + o->max_request_line + 1;
        if (buf[at414 - 1] == '\r') at414++;
        too_long = at414 <= o->max_head_size;
    }
    if (too_long) return fail(err, 414, "request line too long");
    if (too_big) return fail(err, 431, "request head too large");
    return 0;
}

/* ---- fields (RFC 9112 §5, RFC 9110 §5) ---- */

struct framing {
    const struct h1_field *cl, *host;
    int n_cl, n_te, n_host;
    bool conn_close, conn_keep_alive, conn_upgrade, has_upgrade;
    bool expect_continue, expect_other;
};

static void note_field(struct framing *f, const struct h1_field *fld)
{
    str_t n = fld->name;
    size_t pos = 0;
    str_t e;
    switch (n.len) {
    case 4:
        if (eq_lower(n.p, "host", 4)) f->host = fld, f->n_host++;
        break;
    case 6:
        if (eq_lower(n.p, "expect", 6)) {
            while (list_next(fld->value, &pos, &e)) {
                if (STR_IS(e, "100-continue"))
                    f->expect_continue = true;
                else
                    f->expect_other = true;
            }
        }
        break;
    case 7:
        if (eq_lower(n.p, "upgrade", 7)) f->has_upgrade = true;
        break;
    case 10:
        if (eq_lower(n.p, "connection", 10)) {
            while (list_next(fld->value, &pos, &e)) {
                if (STR_IS(e, "close"))
                    f->conn_close = true;
                else if (STR_IS(e, "keep-alive"))
                    f->conn_keep_alive = true;
                else if (STR_IS(e, "upgrade"))
                    f->conn_upgrade = true;
            }
        }
        break;
    case 14:
        if (eq_lower(n.p, "content-length", 14)) f->cl = fld, f->n_cl++;
        break;
    case 17:
        if (eq_lower(n.p, "transfer-encoding", 17)) f->n_te++;
        break;
    default: break;
    }
}

/* Content-Length = 1*DIGIT, one field, one value (RFC 9112 §6.3 item 5; strict: no list). */
static int64_t parse_content_length(str_t v)
{
    if (v.len == 0) return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return -1;
        int d = v.p[i] - '0';
        if (n > (INT64_MAX - d) / 10) return -1;
        n = n * 10 + d;
    }
    return n;
}

struct codings {
    size_t n, n_chunked;
    bool last_chunked;
};

/* Counts the transfer codings of every Transfer-Encoding field, in order (RFC 9112 §6.1).
 * false when one is not a token. */
static bool scan_transfer_codings(const struct h1_field *fields, size_t n_fields, struct codings *c)
{
    *c = (struct codings){0};
    for (size_t k = 0; k < n_fields; k++) {
        const struct h1_field *f = &fields[k];
        if (f->name.len != 17 || !eq_lower(f->name.p, "transfer-encoding", 17)) continue;
        size_t pos = 0;
        str_t e;
        while (list_next(f->value, &pos, &e)) {
            if (!is_token(e)) return false;
            c->n++;
            c->last_chunked = STR_IS(e, "chunked");
            c->n_chunked += c->last_chunked;
        }
    }
    return true;
}

/* A request's codings (RFC 9112 §6.3): exactly one chunked, last. Returns 0 when that is all,
 * else the status. */
static int check_transfer_codings(const struct h1_field *fields, size_t n_fields)
{
    struct codings c;
    if (!scan_transfer_codings(fields, n_fields, &c)) return 400;
    if (c.n_chunked != 1 || !c.last_chunked) return 400;
    return c.n == 1 ? 0 : 501;
}

/* Ends the field line whose content ends at i: CRLF, or LF when allowed. Returns the offset
 * after the line end, or 0 on error. */
static size_t line_end(const char *buf, size_t i, const struct h1_parse_options *o,
                       struct h1_error *err)
{
    if (buf[i] == '\r') {
        if (buf[i + 1] == '\n') return i + 2;
        fail(err, 400, "bare CR");
        return 0;
    }
    if (buf[i] == '\n') {
        if (o->allow_bare_lf) return i + 1;
        fail(err, 400, "bare LF");
        return 0;
    }
    fail(err, 400, "invalid character in field value");
    return 0;
}

/* Parses the field lines from p->fields_start to the empty line; the scan guarantees that the
 * head ends with an LF, so the loops stop before the end without bounds checks. */
static int parse_fields(const struct h1_parser *p, const char *buf, size_t head_end,
                        const struct h1_parse_options *o, struct h1_field *fields, size_t *n_fields,
                        struct h1_error *err)
{
    size_t i = p->fields_start;
    size_t n = 0;
    size_t prev_end = 0; /* content end of the previous field line (obs-fold) */
    for (;;) {
        size_t ls = i;
        char c = buf[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && buf[i + 1] != '\n') return fail(err, 400, "bare CR");
            if (c == '\n' && !o->allow_bare_lf) return fail(err, 400, "bare LF");
            break;
        }
        if (c == ' ' || c == '\t') {
            /* obs-fold (RFC 9112 §5.2) */
            if (!o->allow_obs_fold) return fail(err, 400, "obs-fold");
            if (n == 0) return fail(err, 400, "whitespace before the first field");
            i = skip_value(buf, i, head_end);
            size_t ve = i;
            if (!(i = line_end(buf, i, o, err))) return -1;
            struct h1_field *f = &fields[n - 1];
            memset((char *)buf + prev_end, ' ', ls - prev_end);
            f->value = str_trim_ows(str_make(f->value.p, (size_t)(buf + ve - f->value.p)));
            prev_end = ve;
            continue;
        }
        while (CLS(buf[i]) & H1_C_TCHAR)
            i++;
        if (buf[i] != ':') {
            if (buf[i] == ' ' || buf[i] == '\t') return fail(err, 400, "whitespace before colon");
            return fail(err, 400, "invalid field name");
        }
        if (i == ls) return fail(err, 400, "empty field name");
        str_t name = str_make(buf + ls, i - ls);
        size_t vs = ++i;
        i = skip_value(buf, i, head_end);
        size_t ve = i;
        if (!(i = line_end(buf, i, o, err))) return -1;
        if (n >= o->max_fields) return fail(err, 431, "too many fields");
        fields[n].name = name;
        fields[n].value = str_trim_ows(str_make(buf + vs, ve - vs));
        n++;
        prev_end = ve;
    }
    *n_fields = n;
    return 0;
}

/* One pass over the field lines for the usual case, a whole head in one read: no obs-fold, no
 * error, within the limits. Returns the head's end, or 0 to leave the verdict to the resumable
 * scan and parse_fields (incomplete head or anything unusual). When it succeeds the result is
 * the one the resumable path would give. */
static size_t fast_fields(const struct h1_parser *p, const char *buf, size_t len,
                          const struct h1_parse_options *o, struct h1_request_head *out)
{
    size_t limit = len < o->max_head_size ? len : o->max_head_size;
    size_t i = p->fields_start, n = 0;
    for (;;) {
        size_t ls = i;
        if (i >= limit) return 0;
        if (buf[i] == '\r' || buf[i] == '\n') break;
        while (i < limit && (CLS(buf[i]) & H1_C_TCHAR))
            i++;
        if (i == ls || i >= limit || buf[i] != ':' || n >= o->max_fields) return 0;
        size_t vs = ++i;
        i = skip_value(buf, i, limit);
        if (i >= limit) return 0;
        size_t ve = i;
        if (buf[i] == '\r' && i + 1 < limit && buf[i + 1] == '\n')
            i += 2;
        else if (buf[i] == '\n' && o->allow_bare_lf)
            i++;
        else
            return 0;
        out->fields[n].name = str_make(buf + ls, vs - 1 - ls);
        out->fields[n].value = str_trim_ows(str_make(buf + vs, ve - vs));
        n++;
    }
    out->n_fields = n;
    if (buf[i] == '\n') return o->allow_bare_lf ? i + 1 : 0;
    return i + 1 < limit && buf[i + 1] == '\n' ? i + 2 : 0;
}

/* Derives and validates framing, Host and connection options (RFC 9112 §6, §9.3; RFC 9110
 * §7.2, §7.6.1, §7.8, §10.1.1). */
static int check_semantics(struct h1_request_head *out, struct h1_error *err)
{
    struct framing f = {0};
    for (size_t k = 0; k < out->n_fields; k++)
        note_field(&f, &out->fields[k]);
    if (f.n_host > 1) return fail(err, 400, "several Host fields");
    if (f.n_host == 1 && !h1_host_is_valid(f.host->value)) return fail(err, 400, "invalid Host");
    if (f.n_host == 0 && out->version == 11) return fail(err, 400, "missing Host");
    if (f.n_cl > 1) return fail(err, 400, "several Content-Length fields");
    if (f.n_cl == 1 && (out->content_length = parse_content_length(f.cl->value)) < 0)
        return fail(err, 400, "invalid Content-Length");
    if (f.n_te) {
        if (f.n_cl) return fail(err, 400, "Content-Length with Transfer-Encoding");
        if (out->version == 10) return fail(err, 400, "Transfer-Encoding in HTTP/1.0");
        int st = check_transfer_codings(out->fields, out->n_fields);
        if (st == 400) return fail(err, 400, "invalid Transfer-Encoding");
        if (st == 501) return fail(err, 501, "unsupported transfer coding");
        out->chunked = true;
    }
    out->host = f.n_host ? f.host->value : STR_NULL;
    if (out->version == 11) {
        out->keep_alive = !f.conn_close;
        out->expect_continue = f.expect_continue;
        out->upgrade = f.conn_upgrade && f.has_upgrade;
    } else {
        out->keep_alive = f.conn_keep_alive && !f.conn_close;
    }
    out->expect_unsupported = f.expect_other;
    return 0;
}

/* Finds the empty line that ends the head, from where the last call stopped, counting field
 * lines against the limits. 1 with *end set, 0 for more, -1 on error. */
static int scan_head_end(struct h1_parser *p, const char *buf, size_t len,
                         const struct h1_parse_options *o, size_t *end, struct h1_error *err)
{
    size_t pos = p->scanned;
    for (;;) {
        const char *lf = memchr(buf + pos, '\n', len - pos);
        if (!lf) {
            p->scanned = len;
            if (len + 1 > o->max_head_size) return fail(err, 431, "head too large");
            return 0;
        }
        size_t i = (size_t)(lf - buf);
        if (i + 1 > o->max_head_size) return fail(err, 431, "head too large");
        size_t ls = p->line_start;
        if (i == ls || (i == ls + 1 && buf[ls] == '\r')) {
            *end = p->scanned = i + 1;
            return 1;
        }
        if (!(o->allow_obs_fold && (buf[ls] == ' ' || buf[ls] == '\t')) &&
            ++p->n_lines > o->max_fields)
            return fail(err, 431, "too many fields");
        p->line_start = pos = i + 1;
    }
}

static void fill_line(const struct h1_parser *p, const char *buf, struct h1_request_head *out)
{
    out->method = str_make(buf + p->start, p->method_len);
    out->target = str_make(buf + p->target_off, p->target_len);
    out->version = p->version;
    out->target_form = p->target_form;
    out->n_fields = 0;
    out->chunked = false;
    out->content_length = -1;
    out->keep_alive = false;
    out->expect_continue = false;
    out->expect_unsupported = false;
    out->upgrade = false;
    out->host = STR_NULL;
}

/* Finds and parses the request line; returns 1 when it is parsed, 0 for more, -1 on error. */
static int scan_request_line(struct h1_parser *p, const char *buf, size_t len,
                             const struct h1_parse_options *o, struct h1_error *err)
{
    size_t pos = p->scanned;
    for (;;) {
        const char *lf = memchr(buf + pos, '\n', len - pos);
        if (!lf) {
            p->scanned = len;
            return request_line_limits(p, buf, len, o, err);
        }
        size_t i = (size_t)(lf - buf);
        if (request_line_limits(p, buf, i, o, err)) return -1;
        bool crlf = i > p->start && buf[i - 1] == '\r';
        if (!crlf && !o->allow_bare_lf) return fail(err, 400, "bare LF");
        size_t end = i - crlf;
        if (end == p->start) { /* empty line before the request line (RFC 9112 §2.2) */
            p->start = pos = i + 1;
            continue;
        }
        if (parse_request_line(p, buf, end, o, err)) return -1;
        p->scanned = p->fields_start = p->line_start = i + 1;
        return 1;
    }
}

int h1_parse_request_head(struct h1_parser *p, const char *buf, size_t len,
                          const struct h1_parse_options *o, struct h1_request_head *out,
                          struct h1_error *err)
{
    if (!p->fields_start) {
        int rc = scan_request_line(p, buf, len, o, err);
        if (rc <= 0) return rc;
        if (p->version == 9) { /* HTTP/0.9: the head is the request line */
            fill_line(p, buf, out);
            return (int)p->fields_start;
        }
    }
    if (p->scanned == p->fields_start) {
        fill_line(p, buf, out);
        size_t end = fast_fields(p, buf, len, o, out);
        if (end) {
            p->scanned = end;
            return check_semantics(out, err) ? -1 : (int)end;
        }
    }
    size_t end;
    int rc = scan_head_end(p, buf, len, o, &end, err);
    if (rc <= 0) return rc;
    p->scanned = end;
    fill_line(p, buf, out);
    if (parse_fields(p, buf, end, o, out->fields, &out->n_fields, err) || check_semantics(out, err))
        return -1;
    return (int)end;
}

/* ---- responses (RFC 9112 §4, §6.3) ---- */

/* status-line = HTTP-version SP status-code SP [ reason-phrase ]; a missing SP after the code
 * is accepted (servers send "HTTP/1.1 200" bare). */
static int parse_status_line(struct h1_parser *p, const char *buf, size_t end, struct h1_error *err)
{
    size_t i = 0;
    if (end < 12 || memcmp(buf, "HTTP/", 5) != 0 || buf[5] < '0' || buf[5] > '9' || buf[6] != '.' ||
        buf[7] < '0' || buf[7] > '9' || buf[8] != ' ')
        return fail(err, 502, "malformed status line");
    if (buf[5] != '1') return fail(err, 502, "unsupported HTTP version");
    p->version = buf[7] == '0' ? 10 : 11;
    int status = 0;
    for (i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9') return fail(err, 502, "malformed status code");
        status = status * 10 + (buf[i] - '0');
    }
    if (status < 100 || status > 599) return fail(err, 502, "status code out of range");
    p->status = status;
    p->target_off = p->target_len = 0;
    if (i == end) return 0;
    if (buf[i] != ' ') return fail(err, 502, "malformed status line");
    size_t r = ++i;
    if (skip_value(buf, i, end) != end) return fail(err, 502, "invalid character in reason");
    p->target_off = r;
    p->target_len = end - r;
    return 0;
}

static int check_response_semantics(struct h1_response_head *out, struct h1_error *err)
{
    struct framing f = {0};
    for (size_t k = 0; k < out->n_fields; k++)
        note_field(&f, &out->fields[k]);
    /* several lengths, even equal ones, are refused: response smuggling lives there */
    if (f.n_cl > 1) return fail(err, 502, "several Content-Length fields");
    if (f.n_cl == 1 && (out->content_length = parse_content_length(f.cl->value)) < 0)
        return fail(err, 502, "invalid Content-Length");
    if (f.n_te) {
        if (f.n_cl) return fail(err, 502, "Content-Length with Transfer-Encoding");
        if (out->version == 10) return fail(err, 502, "Transfer-Encoding in HTTP/1.0");
        struct codings c;
        if (!scan_transfer_codings(out->fields, out->n_fields, &c) || c.n == 0 || c.n_chunked > 1 ||
            (c.n_chunked && !c.last_chunked))
            return fail(err, 502, "invalid Transfer-Encoding");
        if (c.n_chunked && c.n > 1) return fail(err, 502, "unsupported transfer coding");
        out->chunked = c.n_chunked == 1;
        out->te_other = !out->chunked; /* e.g. gzip alone: the body ends at close (§6.3) */
    }
    out->keep_alive = out->version == 11 ? !f.conn_close : f.conn_keep_alive && !f.conn_close;
    if (out->te_other) out->keep_alive = false;
    return 0;
}

int h1_parse_response_head(struct h1_parser *p, const char *buf, size_t len,
                           const struct h1_parse_options *o, struct h1_response_head *out,
                           struct h1_error *err)
{
    if (!p->fields_start) {
        /* nothing new (also an empty, possibly NULL, buffer): memchr must not see it */
        const char *lf = len > p->scanned ? memchr(buf + p->scanned, '\n', len - p->scanned) : NULL;
        size_t line_end = lf ? (size_t)(lf - buf) : len;
        if (line_end > o->max_request_line + 1 || line_end + 1 > o->max_head_size)
            return fail(err, 502, "status line too long");
        if (!lf) {
            p->scanned = len;
            return 0;
        }
        bool crlf = line_end > 0 && buf[line_end - 1] == '\r';
        if (!crlf && !o->allow_bare_lf) return fail(err, 502, "bare LF");
        if (parse_status_line(p, buf, line_end - crlf, err)) return -1;
        p->scanned = p->fields_start = p->line_start = line_end + 1;
    }
    size_t end;
    int rc = scan_head_end(p, buf, len, o, &end, err);
    if (rc <= 0) return rc < 0 ? fail(err, 502, err->reason) : 0;
    out->version = p->version;
    out->status = p->status;
    out->reason = str_make(buf + p->target_off, p->target_len);
    out->n_fields = 0;
    out->chunked = out->te_other = out->keep_alive = false;
    out->content_length = -1;
    if (parse_fields(p, buf, end, o, out->fields, &out->n_fields, err)) {
        err->status = 502;
        return -1;
    }
    return check_response_semantics(out, err) ? -1 : (int)end;
}

enum h1_body_kind h1_response_body(const struct h1_response_head *h, bool head_request,
                                   bool connect_request)
{
    if (head_request || h->status < 200 || h->status == 204 || h->status == 304)
        return H1_BODY_NONE;
    if (connect_request && h->status < 300) return H1_BODY_NONE; /* a tunnel follows */
    if (h->chunked) return H1_BODY_CHUNKED;
    if (h->te_other) return H1_BODY_CLOSE;
    return h->content_length >= 0 ? H1_BODY_LENGTH : H1_BODY_CLOSE;
}
