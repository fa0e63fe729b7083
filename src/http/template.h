/* Templates for redirects, rewrites, try_files and error pages: text with placeholders that a
 * request fills in. {scheme} {host} {port} {path} {query} {uri} (path and "?query" when there
 * is one), {request_id} (http/request_id.h), and {1}..{9} for a regular expression's captures;
 * error pages also have {status} and {reason}. The request's path and query go in as they came
 * (still percent-encoded), so an expanded target needs no encoding pass of its own. */
#ifndef TERN_HTTP_TEMPLATE_H
#define TERN_HTTP_TEMPLATE_H

#include <stddef.h>

#include "core/str.h"

#define TEMPLATE_MAX_CAPTURES 9

struct template_vars {
    str_t scheme, host, port, path, query, request_id;
    str_t status, reason;                  /* error pages only */
    str_t caps[TEMPLATE_MAX_CAPTURES + 1]; /* caps[1..n_caps] */
    int n_caps;
    /* Every value goes in HTML-escaped (& < > " '), for a page's body: an error page */
    bool html;
};

/* Checks a template when the configuration is loaded: 0, or -1 with *why set (an unknown
 * placeholder, {status} or {reason} (error pages only), a capture above max_capture, a brace
 * without its pair, a control character). Error pages are not checked: a placeholder unknown
 * there stays as it is written. */
int template_check(const char *tpl, int max_capture, const char **why);
/* Expands tpl into out (NUL-terminated): its length, or -1 when it does not fit in cap. A
 * capture that did not take part in the match expands to nothing. */
long template_expand(const char *tpl, const struct template_vars *v, char *out, size_t cap);

#endif
