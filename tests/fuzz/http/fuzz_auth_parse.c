/* Fuzzes auth_credentials_parse and auth_base64_decode: no crash or read beyond the input on
 * any bytes; what is accepted is bounded, every parameter name is a token found once, and every
 * string points into the input or the scratch buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/auth_parse.h"
#include "http/header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(str_t s, const char *base, size_t len)
{
    return s.len == 0 || (s.p >= base && s.p + s.len <= base + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so that ASan sees any read past the end */
    char *in = malloc(size ? size : 1), *scratch = malloc(size ? size : 1);
    if (!in || !scratch) abort();
    memcpy(in, data, size);
    struct auth_credentials c;
    if (auth_credentials_parse(str_make(in, size), scratch, size, &c) == 0) {
        if (size > AUTH_MAX_VALUE || c.n_params > AUTH_MAX_PARAMS) abort();
        if (!http_is_token(c.scheme) || !inside(c.scheme, in, size)) abort();
        if (c.token68.len && (c.n_params || !inside(c.token68, in, size))) abort();
        for (size_t i = 0; i < c.n_params; i++) {
            str_t n = c.params[i].name, v = c.params[i].value;
            if (!http_is_token(n) || !inside(n, in, size)) abort();
            if (!inside(v, in, size) && !inside(v, scratch, size)) abort();
            for (size_t j = 0; j < i; j++)
                if (str_eq_nocase(n, c.params[j].name)) abort();
        }
        if (c.token68.len) {
            char out[AUTH_MAX_VALUE];
            long n = auth_base64_decode(c.token68, out, sizeof(out));
            if (n > (long)(c.token68.len / 4 * 3)) abort();
        }
    }
    char out[64];
    long n = auth_base64_decode(str_make(in, size), out, sizeof(out));
    if (n > (long)sizeof(out)) abort();
    free(in);
    free(scratch);
    return 0;
}
