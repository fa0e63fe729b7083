/* HTTP/1.x response heads (RFC 9112 §4, §6.3): status lines, framing and its ambiguities
 * (response smuggling), persistence, and how the body is delimited. */
#include "check.h"
#include "h1/parser.h"

static const struct h1_parse_options opts = {
    .max_request_line = 256, .max_head_size = 1024, .max_fields = 8};

static struct h1_field fields[8];
static struct h1_response_head head;
static struct h1_error err;

static int parse(const char *s)
{
    struct h1_parser p = {0};
    head.fields = fields;
    err = (struct h1_error){0};
    return h1_parse_response_head(&p, s, strlen(s), &opts, &head, &err);
}

static void bad(const char *s, const char *reason)
{
    CHECK_INT(parse(s), -1);
    CHECK_INT(err.status, 502);
    if (err.reason && strcmp(err.reason, reason) != 0)
        fprintf(stderr, "for %s: reason \"%s\", expected \"%s\"\n", s, err.reason, reason),
            check_failures++;
}

int main(void)
{
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: t\r\n\r\nhello";
    CHECK_INT(parse(ok), (int)strlen(ok) - 5);
    CHECK_INT(head.status, 200);
    CHECK_INT(head.version, 11);
    CHECK_STRN(head.reason.p, head.reason.len, "OK");
    CHECK_INT(head.content_length, 5);
    CHECK_INT(head.n_fields, 2);
    CHECK(head.keep_alive);
    CHECK_INT(h1_response_body(&head, false, false), H1_BODY_LENGTH);
    CHECK_INT(h1_response_body(&head, true, false), H1_BODY_NONE); /* HEAD */

    /* resumable: one byte at a time gives the same head */
    struct h1_parser p = {0};
    head.fields = fields;
    int rc = 0;
    for (size_t n = 1; n <= strlen(ok) && rc == 0; n++)
        rc = h1_parse_response_head(&p, ok, n, &opts, &head, &err);
    CHECK_INT(rc, (int)strlen(ok) - 5);
    CHECK_INT(head.content_length, 5);

    /* nothing yet (an empty buffer may be NULL) */
    struct h1_parser p0 = {0};
    CHECK_INT(h1_parse_response_head(&p0, NULL, 0, &opts, &head, &err), 0);

    /* no reason phrase, with and without the SP; 1xx, 204, 304 have no body */
    CHECK(parse("HTTP/1.1 204 \r\n\r\n") > 0 && head.reason.len == 0);
    CHECK_INT(h1_response_body(&head, false, false), H1_BODY_NONE);
    CHECK(parse("HTTP/1.1 304\r\nContent-Length: 10\r\n\r\n") > 0);
    CHECK_INT(h1_response_body(&head, false, false), H1_BODY_NONE);
    CHECK(parse("HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n") > 0);
    CHECK_INT(h1_response_body(&head, false, false), H1_BODY_NONE);
    /* 2xx to CONNECT: a tunnel, not a body */
    CHECK(parse("HTTP/1.1 200 Connection established\r\n\r\n") > 0);
    CHECK_INT(h1_response_body(&head, false, true), H1_BODY_NONE);
    CHECK_INT(h1_response_body(&head, false, false), H1_BODY_CLOSE);

    /* chunked; gzip alone ends at close; HTTP/1.0 persistence */
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") > 0);
    CHECK(head.chunked && head.keep_alive);
    CHECK_INT(h1_response_body(&head, false, false), H1_BODY_CHUNKED);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n") > 0);
    CHECK(head.te_other && !head.keep_alive);
    CHECK_INT(h1_response_body(&head, false, false), H1_BODY_CLOSE);
    CHECK(parse("HTTP/1.0 200 OK\r\n\r\n") > 0 && head.version == 10 && !head.keep_alive);
    CHECK(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n") > 0);
    CHECK(head.keep_alive);
    CHECK(parse("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n") > 0 && !head.keep_alive);
    CHECK(parse("HTTP/1.2 200 OK\r\n\r\n") > 0 && head.version == 11); /* RFC 9110 §2.5 */

    /* malformed status lines */
    bad("HTTP/2 200 OK\r\n\r\n", "malformed status line");
    bad("HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version");
    bad("http/1.1 200 OK\r\n\r\n", "malformed status line");
    bad("HTTP/1.1 20 OK\r\n\r\n", "malformed status code");
    bad("HTTP/1.1 2000 OK\r\n\r\n", "malformed status line");
    bad("HTTP/1.1 099 Low\r\n\r\n", "status code out of range");
    bad("HTTP/1.1 600 High\r\n\r\n", "status code out of range");
    bad("HTTP/1.1 200 O\x01K\r\n\r\n", "invalid character in reason");
    bad("HTTP/1.1 200 OK\n\r\n", "bare LF");
    bad("ICY 200 OK\r\n\r\n", "malformed status line");

    /* response smuggling: ambiguous framing is refused */
    bad("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        "several Content-Length fields");
    bad("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", "invalid Content-Length");
    bad("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length");
    bad("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "Content-Length with Transfer-Encoding");
    bad("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding in HTTP/1.0");
    bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "invalid Transfer-Encoding");
    bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "invalid Transfer-Encoding");
    bad("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", "invalid Transfer-Encoding");
    bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "unsupported transfer coding");
    bad("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "whitespace before colon");
    bad("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "bare CR");

    /* limits: fields and head size */
    char many[1024] = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 9; i++)
        strcat(many, "X-A: 1\r\n");
    strcat(many, "\r\n");
    bad(many, "too many fields");
    char big[2048] = "HTTP/1.1 200 OK\r\nX: ";
    memset(big + strlen(big), 'a', 1100);
    bad(big, "head too large");
    char longline[400] = "HTTP/1.1 200 ";
    memset(longline + strlen(longline), 'a', 300);
    bad(longline, "status line too long");
    return check_done("h1/response");
}
