#include "http/request_id.h"

#include <string.h>

#include "http/header.h"

bool request_id_acceptable(str_t v)
{
    if (v.len == 0 || v.len > REQUEST_ID_MAX) return false;
    for (size_t i = 0; i < v.len; i++)
        if (!http_is_tchar((unsigned char)v.p[i])) return false;
    return true;
}

static void put_hex64(char *out, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
}

size_t request_id_format(const struct http_request *req, char *out)
{
    if (req->id_given.len) {
        size_t n = req->id_given.len > REQUEST_ID_MAX ? REQUEST_ID_MAX : req->id_given.len;
        memcpy(out, req->id_given.p, n);
        out[n] = 0;
        return n;
    }
    if (!req->id_seq) {
        out[0] = 0;
        return 0;
    }
    return request_id_make(req->id_prefix, req->id_seq, out);
}

size_t request_id_make(uint64_t prefix, uint64_t seq, char *out)
{
    put_hex64(out, prefix);
    put_hex64(out + 16, seq);
    out[32] = 0;
    return 32;
}
