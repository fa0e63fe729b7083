/* Header fields, protocol-neutral. Names that matter are interned as tokens (src/http/tokens.def)
 * so wire modules map them in O(1) and semantics compare them as integers. */
#ifndef TERN_HTTP_HEADER_H
#define TERN_HTTP_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/pool.h"
#include "core/str.h"

enum http_token_flags {
    HTTP_TOKEN_HOP_BY_HOP = 1, /* connection-specific: never forwarded, forbidden in h2/h3 */
};

enum http_token {
    HTTP_TOKEN_NONE = 0,
#define X(id, name, hpack, flags) HTTP_TOKEN_##id,
#include "http/tokens.def"
#undef X
    HTTP_TOKEN__COUNT
};

struct http_token_info {
    str_t name;      /* lower case */
    int hpack_index; /* RFC 7541 Appendix A index of the name, or 0 */
    unsigned flags;
};

/* Token for a header name, ASCII case-insensitively; HTTP_TOKEN_NONE if not interned. */
enum http_token http_token_lookup(const char *name, size_t len);
const struct http_token_info *http_token_info(enum http_token token);

struct http_field {
    str_t name; /* as received or set; compare with token when token != NONE */
    str_t value;
    enum http_token token;
};

/* An ordered list of fields; storage comes from a pool. */
struct http_fields {
    struct http_field *items;
    size_t count;
    size_t cap;
};

/* Appends a field (name/value are referenced, not copied). Looks the token up. 0 or -1 on OOM. */
int http_fields_add(struct http_fields *f, struct pool *pool, str_t name, str_t value);
/* Appends with a known token; name is taken from the token table. */
int http_fields_add_token(struct http_fields *f, struct pool *pool, enum http_token token,
                          str_t value);
/* First field with this token, or NULL. */
const struct http_field *http_fields_find(const struct http_fields *f, enum http_token token);
/* Number of fields with this token. */
size_t http_fields_count_token(const struct http_fields *f, enum http_token token);
/* First field by name (case-insensitive), or NULL. */
const struct http_field *http_fields_find_name(const struct http_fields *f, str_t name);
/* Removes every field with this token. */
void http_fields_remove(struct http_fields *f, enum http_token token);
/* Removes every field named name (any case). */
void http_fields_remove_name(struct http_fields *f, str_t name);

/* Splits value at sep outside quoted strings: call with *pos = 0 first; returns true and the
 * next part, OWS-trimmed and possibly empty, in *part, until value is used up. */
bool http_split_next(str_t value, size_t *pos, char sep, str_t *part);
/* Iterates the comma-separated list elements of a field value (RFC 9110 §5.6.1): call with
 * *pos = 0 first; returns true and the trimmed element in *elem (empty elements skipped). */
bool http_list_next(str_t value, size_t *pos, str_t *elem);
/* True when any element of every field with this token equals word case-insensitively
 * (e.g. Connection: close). */
bool http_fields_has_word(const struct http_fields *f, enum http_token token, str_t word);

/* RFC 9110 §5.6.2 tchar / token. */
bool http_is_tchar(unsigned char c);
bool http_is_token(str_t s);
/* RFC 9110 §5.5 field-value characters (VCHAR, obs-text, SP, HTAB). */
bool http_is_field_vchar(unsigned char c);

#endif
