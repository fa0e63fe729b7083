#include "server/log_format.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_FORMAT_MAX_ITEMS 256

static const char *const var_names[LOG_VAR_COUNT] = {
    "time",        "time_local",       "remote_addr", "remote_user", "request",
    "method",      "target",           "version",     "status",      "bytes",
    "duration_us", "request_id",       "tls_version", "tls_cipher",  "sni",
    "alpn",        "user_agent",       "referer",     "host",        "cache_status",
    "ja4",         "http2_fingerprint"};

const char *log_var_name(enum log_var v)
{
    return v >= 0 && v < LOG_VAR_COUNT ? var_names[v] : "?";
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int lookup(const char *name, size_t len)
{
    for (int i = 0; i < LOG_VAR_COUNT; i++)
        if (strlen(var_names[i]) == len && !memcmp(var_names[i], name, len)) return i;
    return -1;
}

static int fail(struct log_format *f, char *err, size_t errlen, const char *msg, size_t at,
                const char *name, size_t name_len)
{
    snprintf(err, errlen, "%s%s%.*s%s at offset %zu", msg, name ? " '" : "",
             (int)(name_len > 40 ? 40 : name_len), name ? name : "", name ? "'" : "", at);
    log_format_free(f);
    return -1;
}

/* Appends an item, joining literals that follow one another. */
static bool add_item(struct log_format *f, int var, uint32_t off, uint32_t len)
{
    if (var < 0 && f->n_items && f->items[f->n_items - 1].var < 0) {
        f->items[f->n_items - 1].len += len;
        return true;
    }
    if (f->n_items == LOG_FORMAT_MAX_ITEMS) return false;
    f->items[f->n_items++] = (struct log_format_item){var, off, len};
    return true;
}

int log_format_parse(const char *s, size_t len, struct log_format *out, char *err, size_t errlen)
{
    *out = (struct log_format){0};
    out->text = malloc(len + 1);
    out->items = calloc(LOG_FORMAT_MAX_ITEMS, sizeof(*out->items));
    if (!out->text || !out->items) return fail(out, err, errlen, "out of memory", 0, NULL, 0);
    uint32_t tlen = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] != '$') {
            size_t run = i;
            while (run < len && s[run] != '$')
                run++;
            memcpy(out->text + tlen, s + i, run - i);
            if (!add_item(out, -1, tlen, (uint32_t)(run - i)))
                return fail(out, err, errlen, "more than 256 pieces", i, NULL, 0);
            tlen += (uint32_t)(run - i);
            i = run;
            continue;
        }
        if (i + 1 < len && s[i + 1] == '$') { /* "$$": a literal '$' */
            out->text[tlen] = '$';
            if (!add_item(out, -1, tlen, 1))
                return fail(out, err, errlen, "more than 256 pieces", i, NULL, 0);
            tlen++;
            i += 2;
            continue;
        }
        size_t start = i + 1, end;
        size_t next;
        if (start < len && s[start] == '{') {
            start++;
            end = start;
            while (end < len && s[end] != '}')
                end++;
            if (end == len) return fail(out, err, errlen, "'${' without its '}'", i, NULL, 0);
            next = end + 1;
        } else {
            end = start;
            while (end < len && name_char(s[end]))
                end++;
            next = end;
        }
        if (end == start)
            return fail(out, err, errlen, "a '$' without a variable name", i, NULL, 0);
        int var = lookup(s + start, end - start);
        if (var < 0)
            return fail(out, err, errlen, "an unknown variable", i, s + start, end - start);
        if (!add_item(out, var, 0, 0))
            return fail(out, err, errlen, "more than 256 pieces", i, NULL, 0);
        i = next;
    }
    out->text[tlen] = 0;
    return 0;
}

void log_format_free(struct log_format *f)
{
    free(f->text);
    free(f->items);
    *f = (struct log_format){0};
}
