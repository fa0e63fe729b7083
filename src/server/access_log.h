/* Access log lines in Combined Log Format, batched per worker. */
#ifndef TERN_SERVER_ACCESS_LOG_H
#define TERN_SERVER_ACCESS_LOG_H

#include "http/request.h"
#include "http/response.h"

struct worker;

/* Formats one Combined Log Format line for a finished exchange and queues it:
 * peer - user [time] "METHOD target HTTP/x.y" status bytes "referer" "user-agent".
 * Untrusted strings are escaped (", \, and non-printable bytes as \xHH). */
void access_log_request(struct worker *wk, const struct http_request *req,
                        const struct http_response *resp);

#endif
