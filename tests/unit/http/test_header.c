#include "check.h"
#include "http/header.h"

int main(void)
{
    /* every interned name is found, in any case, and maps back to itself */
    for (int t = 1; t < HTTP_TOKEN__COUNT; t++) {
        const struct http_token_info *ti = http_token_info((enum http_token)t);
        CHECK_INT(http_token_lookup(ti->name.p, ti->name.len), t);
        char upper[64];
        for (size_t i = 0; i < ti->name.len; i++)
            upper[i] = (char)(ti->name.p[i] >= 'a' && ti->name.p[i] <= 'z' ? ti->name.p[i] - 32
                                                                           : ti->name.p[i]);
        CHECK_INT(http_token_lookup(upper, ti->name.len), t);
    }
    CHECK_INT(http_token_lookup("Content-Type", 12), HTTP_TOKEN_CONTENT_TYPE);
    CHECK_INT(http_token_lookup("content-typf", 12), HTTP_TOKEN_NONE);
    CHECK_INT(http_token_lookup("x-custom", 8), HTTP_TOKEN_NONE);
    CHECK_INT(http_token_lookup("", 0), HTTP_TOKEN_NONE);
    CHECK_INT(http_token_lookup("1host", 5), HTTP_TOKEN_NONE);
    CHECK_INT(http_token_info(HTTP_TOKEN_DATE)->hpack_index, 33);
    CHECK_INT(http_token_info(HTTP_TOKEN_WWW_AUTHENTICATE)->hpack_index, 61);
    CHECK(http_token_info(HTTP_TOKEN_CONNECTION)->flags & HTTP_TOKEN_HOP_BY_HOP);
    CHECK(!(http_token_info(HTTP_TOKEN_HOST)->flags & HTTP_TOKEN_HOP_BY_HOP));

    struct pool *pool = pool_create(1024);
    struct http_fields f = {0};
    for (int i = 0; i < 40; i++) /* grows past the first allocation */
        CHECK_INT(http_fields_add(&f, pool, STR_LIT("X-Many"), STR_LIT("v")), 0);
    http_fields_add(&f, pool, STR_LIT("connection"), STR_LIT("keep-alive, Upgrade"));
    http_fields_add(&f, pool, STR_LIT("Connection"), STR_LIT("\"a,b\" , close"));
    http_fields_add_token(&f, pool, HTTP_TOKEN_VARY, STR_LIT("Accept-Encoding"));
    CHECK_INT(f.count, 43);
    CHECK_INT(http_fields_count_token(&f, HTTP_TOKEN_CONNECTION), 2);
    CHECK(http_fields_find(&f, HTTP_TOKEN_VARY) != NULL);
    CHECK_STRN(http_fields_find(&f, HTTP_TOKEN_VARY)->name.p,
               http_fields_find(&f, HTTP_TOKEN_VARY)->name.len, "vary");
    CHECK(http_fields_find_name(&f, STR_LIT("x-many")) != NULL);
    CHECK(http_fields_has_word(&f, HTTP_TOKEN_CONNECTION, STR_LIT("upgrade")));
    CHECK(http_fields_has_word(&f, HTTP_TOKEN_CONNECTION, STR_LIT("CLOSE")));
    CHECK(!http_fields_has_word(&f, HTTP_TOKEN_CONNECTION, STR_LIT("b")));
    http_fields_remove(&f, HTTP_TOKEN_CONNECTION);
    CHECK_INT(f.count, 41);
    CHECK(http_fields_find(&f, HTTP_TOKEN_CONNECTION) == NULL);

    /* list elements: empty ones skipped, OWS trimmed, commas inside quotes kept */
    str_t v = STR_LIT(" , a ,\t\"x, y\" ,, b,");
    size_t pos = 0;
    str_t e;
    CHECK(http_list_next(v, &pos, &e));
    CHECK_STRN(e.p, e.len, "a");
    CHECK(http_list_next(v, &pos, &e));
    CHECK_STRN(e.p, e.len, "\"x, y\"");
    CHECK(http_list_next(v, &pos, &e));
    CHECK_STRN(e.p, e.len, "b");
    CHECK(!http_list_next(v, &pos, &e));
    CHECK(!http_list_next(v, &pos, &e));

    /* split parts: empty ones kept, the separator inside quotes kept */
    v = STR_LIT("a ; \"b;c\" ;;");
    pos = 0;
    CHECK(http_split_next(v, &pos, ';', &e));
    CHECK_STRN(e.p, e.len, "a");
    CHECK(http_split_next(v, &pos, ';', &e));
    CHECK_STRN(e.p, e.len, "\"b;c\"");
    CHECK(http_split_next(v, &pos, ';', &e));
    CHECK_STRN(e.p, e.len, "");
    CHECK(http_split_next(v, &pos, ';', &e));
    CHECK_STRN(e.p, e.len, "");
    CHECK(!http_split_next(v, &pos, ';', &e));
    pos = 0;
    CHECK(http_split_next(STR_LIT(""), &pos, ';', &e) && e.len == 0);
    CHECK(!http_split_next(STR_LIT(""), &pos, ';', &e));

    CHECK(http_is_token(STR_LIT("GET")));
    CHECK(http_is_token(STR_LIT("x-y_z!#$%&'*+.^`|~")));
    CHECK(!http_is_token(STR_LIT("a b")));
    CHECK(!http_is_token(STR_LIT("a:b")));
    CHECK(!http_is_token(STR_LIT("")));
    CHECK(http_is_field_vchar(0x80));
    CHECK(http_is_field_vchar('\t'));
    CHECK(!http_is_field_vchar(0x7f));
    CHECK(!http_is_field_vchar('\r'));
    pool_destroy(pool);
    return check_done("http/header");
}
