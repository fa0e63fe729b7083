/* libFuzzer target: an access log format string compiled; on success every piece lies inside
 * the compiled text and names a known variable, and the literals put back together (with each
 * variable as $name) compile again to the same pieces; on failure the result is empty and the
 * message says where. Else abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    struct log_format f;
    char err[160];
    if (log_format_parse((const char *)data, size, &f, err, sizeof(err)) < 0) {
        if (f.text || f.items || f.n_items || !strstr(err, "offset")) {
            if (strcmp(err, "out of memory") != 0) abort();
        }
        return 0;
    }
    size_t at = 0; /* the literals lie one after the other in the text, within the input */
    static char again[8192 * 2 + 64];
    size_t n = 0;
    for (size_t i = 0; i < f.n_items; i++) {
        const struct log_format_item *it = &f.items[i];
        if (it->var < 0) {
            if (it->off != at || it->len == 0 || (size_t)it->off + it->len > size) abort();
            at += it->len;
            for (uint32_t k = 0; k < it->len; k++) { /* '$' written back as "$$" */
                char c = f.text[it->off + k];
                if (c == '$') again[n++] = '$';
                again[n++] = c;
            }
        } else {
            if (it->var >= LOG_VAR_COUNT) abort();
            n += (size_t)snprintf(again + n, sizeof(again) - n, "${%s}",
                                  log_var_name((enum log_var)it->var));
        }
        if (n >= sizeof(again) - 64) break;
    }
    struct log_format g;
    if (n < sizeof(again) - 64) {
        if (log_format_parse(again, n, &g, err, sizeof(err)) < 0) abort();
        if (g.n_items != f.n_items) abort();
        for (size_t i = 0; i < f.n_items; i++)
            if (g.items[i].var != f.items[i].var || g.items[i].len != f.items[i].len) abort();
        log_format_free(&g);
    }
    log_format_free(&f);
    return 0;
}
