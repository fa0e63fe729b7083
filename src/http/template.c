#include "http/template.h"

#include <string.h>

enum placeholder {
    P_NONE = -1,
    P_SCHEME,
    P_HOST,
    P_PORT,
    P_PATH,
    P_QUERY,
    P_URI,
    P_REQUEST_ID,
    P_STATUS,
    P_REASON,
    P_CAPTURE
};

/* The placeholder named by name[0..len), and its capture number for {N}. */
static enum placeholder lookup(const char *name, size_t len, int *capture)
{
    static const char *const names[] = {"scheme", "host",       "port",   "path",  "query",
                                        "uri",    "request_id", "status", "reason"};
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strlen(names[i]) == len && !memcmp(names[i], name, len)) return (enum placeholder)i;
    if (len == 1 && name[0] >= '1' && name[0] <= '9') {
        *capture = name[0] - '0';
        return P_CAPTURE;
    }
    return P_NONE;
}

int template_check(const char *tpl, int max_capture, const char **why)
{
    for (const char *p = tpl; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f) return *why = "a control character", -1;
        if (ch == '}') return *why = "'}' without its '{'", -1;
        if (ch != '{') continue;
        const char *end = strchr(p + 1, '}');
        if (!end) return *why = "'{' without its '}'", -1;
        int cap = 0;
        enum placeholder ph = lookup(p + 1, (size_t)(end - p - 1), &cap);
        if (ph == P_NONE) return *why = "an unknown placeholder", -1;
        if (ph == P_STATUS || ph == P_REASON)
            return *why = "a placeholder of error pages only ({status}, {reason})", -1;
        if (ph == P_CAPTURE && cap > max_capture)
            return *why = max_capture ? "a capture the regex does not have"
                                      : "a capture without a regex",
                   -1;
        p = end;
    }
    return 0;
}

static bool put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
    if (*n + len >= cap) return false;
    if (len) memcpy(out + *n, s, len);
    *n += len;
    return true;
}

/* A value: as it is, or HTML-escaped for an error page's body */
static bool put_value(const struct template_vars *v, char *out, size_t cap, size_t *n, str_t s)
{
    if (!v->html) return put(out, cap, n, s.p, s.len);
    for (size_t i = 0; i < s.len; i++) {
        const char *e;
        switch (s.p[i]) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        default:
            if (!put(out, cap, n, s.p + i, 1)) return false;
            continue;
        }
        if (!put(out, cap, n, e, strlen(e))) return false;
    }
    return true;
}

long template_expand(const char *tpl, const struct template_vars *v, char *out, size_t cap)
{
    size_t n = 0;
    if (!cap) return -1;
    for (const char *p = tpl; *p; p++) {
        const char *end = *p == '{' ? strchr(p + 1, '}') : NULL;
        int capn = 0;
        enum placeholder ph = end ? lookup(p + 1, (size_t)(end - p - 1), &capn) : P_NONE;
        bool ok = true;
        switch (ph) {
        case P_NONE: ok = put(out, cap, &n, p, 1); break;
        case P_SCHEME: ok = put_value(v, out, cap, &n, v->scheme); break;
        case P_HOST: ok = put_value(v, out, cap, &n, v->host); break;
        case P_PORT: ok = put_value(v, out, cap, &n, v->port); break;
        case P_PATH: ok = put_value(v, out, cap, &n, v->path); break;
        case P_QUERY: ok = put_value(v, out, cap, &n, v->query); break;
        case P_URI:
            ok = put_value(v, out, cap, &n, v->path) &&
                 (!v->query.len ||
                  (put(out, cap, &n, "?", 1) && put_value(v, out, cap, &n, v->query)));
            break;
        case P_REQUEST_ID: ok = put_value(v, out, cap, &n, v->request_id); break;
        case P_STATUS: ok = put_value(v, out, cap, &n, v->status); break;
        case P_REASON: ok = put_value(v, out, cap, &n, v->reason); break;
        case P_CAPTURE:
            if (capn <= v->n_caps) ok = put_value(v, out, cap, &n, v->caps[capn]);
            break;
        }
        if (!ok) return -1;
        if (ph != P_NONE) p = end;
    }
    out[n] = 0;
    return (long)n;
}
