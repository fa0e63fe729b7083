/* Templates: each placeholder, {uri} with and without a query, captures, the load-time check,
 * the size bound, and error pages' {status}, {reason} and HTML escaping. */
#include <string.h>

#include "check.h"
#include "http/template.h"

static struct template_vars vars(void)
{
    struct template_vars v = {.scheme = STR_LIT("https"),
                              .host = STR_LIT("example.test"),
                              .port = STR_LIT("8443"),
                              .path = STR_LIT("/a%20b/c"),
                              .query = STR_LIT("x=1&y=%2F")};
    v.caps[1] = STR_LIT("one");
    v.caps[2] = STR_LIT("");
    v.n_caps = 2;
    return v;
}

static void expect(const char *tpl, const struct template_vars *v, const char *want)
{
    char out[256];
    long n = template_expand(tpl, v, out, sizeof(out));
    CHECK_INT(n, (long)strlen(want));
    CHECK_STRN(out, n < 0 ? 0 : (size_t)n, want);
}

int main(void)
{
    struct template_vars v = vars();
    expect("{scheme}://{host}:{port}{uri}", &v, "https://example.test:8443/a%20b/c?x=1&y=%2F");
    expect("/new{path}?{query}", &v, "/new/a%20b/c?x=1&y=%2F");
    expect("/x/{1}/{2}/{3}", &v, "/x/one//"); /* captures that did not match are empty */
    expect("plain", &v, "plain");
    expect("", &v, "");
    v.query = STR_NULL;
    expect("{uri}", &v, "/a%20b/c"); /* no '?' without a query */
    char small[8];
    CHECK_INT(template_expand("{scheme}://{host}", &v, small, sizeof(small)), -1);
    CHECK_INT(template_expand("1234567", &v, small, sizeof(small)), 7);
    CHECK_INT(template_expand("12345678", &v, small, sizeof(small)), -1);
    const char *why;
    CHECK_INT(template_check("https://{host}{uri}", 0, &why), 0);
    CHECK_INT(template_check("/{nope}", 0, &why), -1);
    CHECK_INT(template_check("/{host", 0, &why), -1);
    CHECK_INT(template_check("/host}", 0, &why), -1);
    CHECK_INT(template_check("/{1}", 0, &why), -1);
    CHECK_INT(template_check("/{1}", 1, &why), 0);
    CHECK_INT(template_check("/{2}", 1, &why), -1);
    CHECK_INT(template_check("/a\r\nb", 0, &why), -1);
    CHECK_INT(template_check("/{}", 0, &why), -1);
    /* the request id anywhere; status and reason only in error pages (never checked) */
    CHECK_INT(template_check("/x?id={request_id}", 0, &why), 0);
    CHECK_INT(template_check("/{status}", 0, &why), -1);
    CHECK_INT(template_check("/{reason}", 0, &why), -1);

    /* an error page: values HTML-escaped, literal text and unknown placeholders as written */
    struct template_vars e = {.path = STR_LIT("/<a href=\"x\">&'"),
                              .request_id = STR_LIT("abc"),
                              .status = STR_LIT("404"),
                              .reason = STR_LIT("Not Found"),
                              .html = true};
    expect("<p>{status} {reason}</p>{path} {request_id} {other} <b>", &e,
           "<p>404 Not Found</p>/&lt;a href=&quot;x&quot;&gt;&amp;&#39; abc {other} <b>");
    char tiny[12];
    CHECK_INT(template_expand("{path}", &e, tiny, sizeof(tiny)), -1); /* escaped, it is longer */
    e.html = false;
    expect("{path}", &e, "/<a href=\"x\">&'");
    return check_done("http/template");
}
