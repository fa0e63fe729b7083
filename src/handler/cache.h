/* The caching layer of a `proxy` location with `cache` (RFC 9111, shared cache): a fresh stored
 * response is answered from the location's store (http/cache_store.h: in memory, or one file
 * per response) without the upstream; anything else goes through the proxy, which hands each
 * upstream response head to cache_on_head. That decides whether to store it
 * (http/cache_rules.h) and then copies the body as the client pulls it, inserting the entry
 * once the body is complete. A stale entry with validators is revalidated (If-None-Match /
 * If-Modified-Since); a 304 refreshes it. Concurrent misses (and revalidations) of one key,
 * on any worker thread, are collapsed into one upstream request; stale-if-error and
 * stale-while-revalidate (RFC 5861, with a background revalidation) apply. Every response of
 * such a location carries Cache-Status (RFC 9211). */
#ifndef TERN_HANDLER_CACHE_H
#define TERN_HANDLER_CACHE_H

#include "h1/parser.h"
#include "http/request.h"
#include "http/response.h"
#include "server/dispatch.h"

struct cache_req;

/* Answers req from dc->loc->cache, or sets dc->cache and passes it on to proxy_handle. */
void cache_handle(struct dispatch_ctx *dc, struct http_request *req, struct http_response *resp,
                  str_t url_path);

/* The proxy's hook once resp holds the upstream's final head (status, fields, content_length,
 * and body: the proxy's own source, or NULL when none follows); head is the upstream's raw head
 * (for its Date), or NULL when no upstream answered and resp is tern's own 502/503/504. May
 * replace resp->body with a source that stores what passes through it, turn a 304 to a
 * revalidation into the refreshed stored response, or an origin error into a stale one
 * (stale-if-error); adds Cache-Status. */
void cache_on_head(struct cache_req *cr, struct http_request *req, struct http_response *resp,
                   const struct h1_response_head *head);

#endif
