/* libFuzzer target: a template (before the first NUL of the input) checked, then expanded with
 * request values taken from the rest, into buffers of every size up to the full one: the
 * result fits, is NUL-terminated and the same whatever room it had, else abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nul = memchr(in, 0, size);
    if (!nul || size > 4096) return 0;
    const char *tpl = in;
    const char *rest = nul + 1;
    size_t rlen = size - (size_t)(rest - in);
    struct template_vars v = {
        .scheme = STR_LIT("http"), .host = STR_LIT("h"), .port = STR_LIT("80")};
    v.path = str_make(rest, rlen / 2);
    v.query = str_make(rest + rlen / 2, rlen - rlen / 2);
    v.caps[1] = v.path;
    v.n_caps = 1;
    /* an error page's placeholders, and its HTML escaping on every other input */
    v.request_id = v.query;
    v.status = STR_LIT("404");
    v.reason = STR_LIT("Not Found");
    v.html = size & 1;
    const char *why;
    (void)template_check(tpl, 1, &why);
    static char full[65536], part[65536];
    long n = template_expand(tpl, &v, full, sizeof(full));
    if (n < 0 || full[n] != 0 || (size_t)n >= sizeof(full)) abort();
    for (size_t cap = 0; cap <= (size_t)n + 1 && cap < 300; cap++) {
        long m = template_expand(tpl, &v, part, cap);
        if (cap > (size_t)n ? m != n || memcmp(part, full, (size_t)n + 1) : m != -1) abort();
    }
    return 0;
}
