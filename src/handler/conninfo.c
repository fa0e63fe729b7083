#include "handler/conninfo.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "core/json.h"
#include "handler/made.h"
#include "tls/tls.h"

static const char *version_name(int version)
{
    switch (version) {
    case 9: return "HTTP/0.9";
    case 10: return "HTTP/1.0";
    case 11: return "HTTP/1.1";
    case 20: return "HTTP/2";
    case 30: return "HTTP/3";
    default: return NULL;
    }
}

/* The peer's port from the socket; asked here rather than at accept so only this handler
 * pays the system call. */
static int peer_port(const struct http_request *req)
{
    if (req->peer_port) return req->peer_port;
    if (!req->has_conn || req->conn_fd < 0) return -1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(req->conn_fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

void conninfo_from_request(const struct http_request *req, struct conninfo *info)
{
    *info = (struct conninfo){.http_version = version_name(req->version), .port = -1};
    if (req->tls) {
        info->tls = true;
        info->tls_version = tls_conn_version(req->tls);
        info->cipher = tls_conn_cipher(req->tls);
        info->alpn = tls_conn_alpn(req->tls);
        info->sni = tls_conn_sni(req->tls);
    } else if (req->version == 30) {
        /* QUIC always runs TLS 1.3 (RFC 9001); its session lives in src/quic */
        info->tls = true;
        info->tls_version = "TLSv1.3";
        info->alpn = "h3";
    }
    info->early_data = req->early_data;
    info->address = req->peer[0] ? req->peer : NULL;
    info->port = peer_port(req);
}

/* "name":value, with a comma before it unless first */
static int key(struct buf *b, const char *name, bool first)
{
    if (!first && buf_append(b, ",", 1) < 0) return -1;
    return buf_appendf(b, "\"%s\":", name);
}

int conninfo_json(struct buf *b, const struct conninfo *info)
{
    if (buf_append(b, "{", 1) < 0 || key(b, "http_version", true) < 0 ||
        json_append_cstr_or_null(b, info->http_version) < 0 || key(b, "tls", false) < 0)
        return -1;
    if (!info->tls) {
        if (buf_append(b, "null", 4) < 0) return -1;
    } else if (buf_append(b, "{", 1) < 0 || key(b, "version", true) < 0 ||
               json_append_cstr_or_null(b, info->tls_version) < 0 || key(b, "cipher", false) < 0 ||
               json_append_cstr_or_null(b, info->cipher) < 0 || key(b, "alpn", false) < 0 ||
               json_append_cstr_or_null(b, info->alpn) < 0 || key(b, "sni", false) < 0 ||
               json_append_cstr_or_null(b, info->sni) < 0 || key(b, "early_data", false) < 0 ||
               buf_appendf(b, "%s}", info->early_data ? "true" : "false") < 0) {
        return -1;
    }
    if (key(b, "client", false) < 0 || buf_append(b, "{", 1) < 0 || key(b, "address", true) < 0 ||
        json_append_cstr_or_null(b, info->address) < 0 || key(b, "port", false) < 0)
        return -1;
    int r = info->port >= 0 ? buf_appendf(b, "%d", info->port) : buf_append(b, "null", 4);
    if (r < 0) return -1;
    return buf_append(b, "}}\n", 3);
}

int conninfo_handle(const struct http_request *req, struct http_response *resp)
{
    struct conninfo info;
    conninfo_from_request(req, &info);
    struct buf b = {0};
    if (conninfo_json(&b, &info) < 0) {
        buf_free(&b);
        return -1;
    }
    return respond_made(req, resp, &b, STR_LIT("application/json"));
}
