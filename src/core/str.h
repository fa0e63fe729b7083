/* Non-owning byte strings: a pointer and a length, never NUL-terminated by contract. */
#ifndef TERN_CORE_STR_H
#define TERN_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    const char *p;
    size_t len;
} str_t;

#define STR_LIT(s) ((str_t){(s), sizeof(s) - 1})
#define STR_NULL   ((str_t){NULL, 0})

static inline str_t str_make(const char *p, size_t len)
{
    return (str_t){p, len};
}

static inline str_t str_cstr(const char *s)
{
    return (str_t){s, s ? strlen(s) : 0};
}

static inline bool str_eq(str_t a, str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* ASCII case-insensitive equality. */
static inline bool str_eq_nocase(str_t a, str_t b)
{
    if (a.len != b.len) return false;
    for (size_t i = 0; i < a.len; i++)
        if (ascii_lower(a.p[i]) != ascii_lower(b.p[i])) return false;
    return true;
}

/* Strips optional whitespace (SP / HTAB) from both ends. */
static inline str_t str_trim_ows(str_t s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t'))
        s.p++, s.len--;
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

#endif
