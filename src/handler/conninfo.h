/* The connection_info location: answers GET and HEAD with JSON that tells the client how its
 * request came (HTTP version, TLS version, cipher, ALPN, SNI and early data, client address
 * and port). */
#ifndef TERN_HANDLER_CONNINFO_H
#define TERN_HANDLER_CONNINFO_H

#include <stdbool.h>

#include "core/buf.h"
#include "http/request.h"
#include "http/response.h"

/* What the JSON says; a NULL string is written as null. */
struct conninfo {
    const char *http_version; /* "HTTP/1.1", "HTTP/2" */
    bool tls;                 /* false: "tls": null and the four below are ignored */
    const char *tls_version;  /* "TLSv1.3" */
    const char *cipher;       /* "TLS_AES_128_GCM_SHA256" */
    const char *alpn;         /* "h2", "http/1.1" or NULL */
    const char *sni;          /* server name the client sent, or NULL */
    bool early_data;          /* the request came (partly) in TLS early data (0-RTT) */
    const char *address;      /* client address as text, or NULL */
    int port;                 /* client port, or -1 when unknown (null) */
};

/* Fills info from req (and its connection, see http_request_set_conn). The strings point
 * into req or the TLS session: valid while the request is. */
void conninfo_from_request(const struct http_request *req, struct conninfo *info);
/* Appends info as one JSON object and a newline:
 * {"http_version":...,"tls":null|{"version","cipher","alpn","sni","early_data"},
 *  "client":{"address","port"}}
 * Every string is escaped (core/json.h). Returns 0 or -1 (out of memory). */
int conninfo_json(struct buf *b, const struct conninfo *info);
/* Answers a GET or HEAD: 200, Content-Type application/json, Cache-Control no-store (the
 * answer differs per connection). Returns 0, or -1 on an internal error (the caller answers
 * 500). */
int conninfo_handle(const struct http_request *req, struct http_response *resp);

#endif
