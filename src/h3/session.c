#include "h3/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/stats.h"
#include "h3/varint.h"
#include "http/reqcheck.h"

/* An encoded field section may exceed the decoded limit by this much (QPACK can expand as
 * well as compress) before the HEADERS frame is a flood rather than a 431. */
#define SECTION_SLACK(max) ((max) / 2 + 1024)
/* Longest payload of the control frames that carry one varint. */
#define ID_FRAME_MAX 8
/* A PRIORITY_UPDATE: an id and a Priority field value (RFC 9218 §7.2); longer is refused. */
#define PRIORITY_UPDATE_MAX 1024

static void stream_close(struct h3_session *s, struct h3_stream *st);
static void respond(struct h3_session *s, struct h3_stream *st);
static bool start_streaming(struct h3_session *s, struct h3_stream *st);
static bool on_response_headers(struct h3_session *s, struct h3_stream *st, const uint8_t *p,
                                size_t len);
static void on_response_content(struct h3_session *s, struct h3_stream *st, const uint8_t *p,
                                size_t n);
static void response_end(struct h3_session *s, struct h3_stream *st);
static void client_fail(struct h3_session *s, struct h3_stream *st, uint64_t code, const char *why);
static void on_server_control_frame(struct h3_session *s, uint64_t type, const uint8_t *p,
                                    size_t len);

/* ---- errors ---- */

/* A connection error (§8): the transport closes the connection with the code. */
/* A limit against abusive peers was crossed (for metrics; a client session does not count). */
static void defence_counted(const struct h3_session *s, enum stats_h3_defence kind)
{
    if (!s->p.client) STATS_INC(h3_defence[kind]);
}

static void conn_error(struct h3_session *s, uint64_t code, const char *reason)
{
    if (s->dead) return;
    log_info("%s: HTTP/3 connection error %s: %s", s->peer, h3_error_name(code), reason);
    s->error_code = code;
    s->error_why = reason;
    s->dead = true;
}

/* Counts a request stream the client cancelled or broke (the HTTP/3 form of Rapid Reset). */
static void count_reset(struct h3_session *s)
{
    if (h2_budget_spend(&s->resets, s->now_ms, 1, s->p.max_resets_per_10s)) {
        defence_counted(s, SH3_RESETS);
        conn_error(s, H3_EXCESSIVE_LOAD, "too many request streams cancelled");
    }
}

/* A stream error (§8): both directions of the request stream are aborted with code. */
static void stream_error(struct h3_session *s, struct h3_stream *st, uint64_t code,
                         bool client_fault)
{
    if (!st->fin_sent && s->cb->reset_stream) s->cb->reset_stream(s->ud, st->id, code);
    if (!st->fin_in && s->cb->stop_sending) s->cb->stop_sending(s->ud, st->id, code);
    stream_close(s, st);
    if (client_fault) count_reset(s);
}

/* ---- streams ---- */

static struct h3_stream *stream_find(const struct h3_session *s, int64_t id)
{
    for (struct h3_stream *st = s->streams; st && st->id <= id; st = st->next)
        if (st->id == id) return st;
    return NULL;
}

static void stream_link(struct h3_session *s, struct h3_stream *st)
{
    struct h3_stream **pp = &s->streams;
    while (*pp && (*pp)->id < st->id)
        pp = &(*pp)->next;
    st->next = *pp;
    *pp = st;
}

static int send_interim(struct http_request *req, int status, const struct http_fields *fields);

static struct h3_stream *stream_new(struct h3_session *s, int64_t id, enum h3_stream_kind kind)
{
    struct h3_stream *st = calloc(1, sizeof(*st));
    if (!st) return NULL;
    st->id = id;
    st->kind = kind;
    st->session = s;
    st->content_length = -1;
    st->end_code = H3_REQUEST_CANCELLED;
    st->end_why = "the request was cancelled";
    if (kind == H3_KIND_REQUEST) {
        st->pool = s->cb->take_pool ? s->cb->take_pool(s->ud) : pool_create(4096);
        if (!st->pool) {
            free(st);
            return NULL;
        }
        struct http_request *req = &st->req;
        req->pool = st->pool;
        req->version = 30;
        req->is_tls = true; /* QUIC is always TLS 1.3 */
        req->scheme = STR_LIT("https");
        req->now_ms = s->now_ms;
        req->now = (time_t)(s->now_ms / 1000);
        st->opened_ms = s->now_ms;
        _Static_assert(sizeof(req->peer) >= sizeof(s->peer), "peer fits");
        memcpy(req->peer, s->peer, s->peer_len + 1);
        req->send_interim = send_interim;
        req->wire = st;
        st->resp.content_length = -1;
        s->n_requests++;
    }
    stream_link(s, st);
    return st;
}

static void resume_unlink(struct h3_session *s, struct h3_stream *st);

static void stream_close(struct h3_session *s, struct h3_stream *st)
{
    resume_unlink(s, st);
    struct h3_stream **pp = &s->streams;
    while (*pp != st)
        pp = &(*pp)->next;
    *pp = st->next;
    if (st->kind == H3_KIND_REQUEST) {
        if (s->p.client && !st->ended) {
            st->ended = true;
            if (s->cb->on_response_end) s->cb->on_response_end(s, st, st->end_code, st->end_why);
        }
        /* §4.4.2 of RFC 9204: a section never decoded still holds table references */
        if (!st->request_done) qpack_decoder_cancel_stream(&s->dec, (uint64_t)st->id);
        s->n_requests--;
        if (st->dispatched && s->cb->on_stream_close) s->cb->on_stream_close(s, st);
        if (st->resp.body && st->resp.body->close) st->resp.body->close(st->resp.body);
        if (s->cb->give_pool)
            s->cb->give_pool(s->ud, st->pool);
        else
            pool_destroy(st->pool);
    }
    buf_free(&st->body);
    buf_free(&st->in);
    buf_free(&st->out);
    free(st);
}

/* Our QPACK decoder-stream bytes (acknowledgments) go out after each section decoded. */
static void flush_qpack(struct h3_session *s)
{
    if (s->dead) return;
    if (qpack_decoder_take_decoder_stream(&s->dec, &s->own_decoder->out) < 0 ||
        qpack_encoder_take_encoder_stream(&s->enc, &s->own_encoder->out) < 0)
        conn_error(s, H3_INTERNAL_ERROR, "out of memory");
}

/* ---- requests ---- */

static void dispatch(struct h3_session *s, struct h3_stream *st)
{
    st->dispatched = true;
    st->req.body = st->body.data && !st->streaming ? buf_ptr(&st->body) : ""; /* no NULL + 0 */
    st->req.body_len = st->streaming ? 0 : buf_size(&st->body);
    st->req.early_data = st->early;
    s->cb->on_request(s, st);
    if (!st->resp.pending) respond(s, st); /* else h3_session_resume, once it is ready */
}

/* Safe methods (RFC 9110 §9.2.1) that early data may carry; TRACE is left out. */
static bool method_safe(enum http_method m)
{
    return m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD || m == HTTP_METHOD_OPTIONS;
}

static int on_field(void *ctx, str_t name, str_t value, enum http_token token, bool never_index)
{
    (void)never_index;
    return http_reqcheck_field(ctx, name, value, token);
}

static int on_field_discard(void *ctx, str_t name, str_t value, enum http_token token,
                            bool never_index)
{
    (void)ctx, (void)name, (void)value, (void)token, (void)never_index;
    return 1;
}

/* Tells the transport a request stream's priority (RFC 9218 §4, §8). */
static void apply_priority(struct h3_session *s, struct h3_stream *st, str_t value)
{
    struct http_priority prio = {HTTP_URGENCY_DEFAULT, false};
    http_priority_parse(value, &prio);
    if (s->cb->set_priority) s->cb->set_priority(s->ud, st->id, prio);
}

/* Decodes the HEADERS frame payload p (a header or trailer section). false when the stream
 * must wait for QPACK inserts or is gone. */
static bool on_headers(struct h3_session *s, struct h3_stream *st, const uint8_t *p, size_t len)
{
    const int64_t id = st->id; /* st may be freed by dispatch() below */
    bool trailers = st->headers_in;
    struct http_reqcheck c;
    http_reqcheck_init(&c, &st->req, s->p.header_count, trailers);
    c.content_length = st->content_length;
    enum qpack_result r;
    if (st->reject_status) { /* answered already: decode only to keep QPACK in step */
        if (!s->scratch && !(s->scratch = pool_create(4096))) {
            conn_error(s, H3_INTERNAL_ERROR, "out of memory");
            return false;
        }
        r = qpack_decode_section(&s->dec, (uint64_t)st->id, p, len, s->p.max_field_section_size,
                                 s->scratch, on_field_discard, NULL);
        pool_reset(s->scratch);
    } else {
        r = qpack_decode_section(&s->dec, (uint64_t)st->id, p, len, s->p.max_field_section_size,
                                 st->pool, on_field, &c);
    }
    if (r == QPACK_BLOCKED) {
        st->qpack_blocked = true;
        return false;
    }
    st->qpack_blocked = false;
    if (r < 0) {
        conn_error(s, qpack_result_h3_error(r), "QPACK decoding failed");
        return false;
    }
    flush_qpack(s);
    if (trailers) st->trailers_in = true;
    st->headers_in = true;
    if (st->reject_status) return true;
    if (!trailers) st->content_length = c.content_length;
    if (!trailers && !st->prio_updated) {
        for (size_t i = 0; i < st->req.headers.count; i++)
            if (st->req.headers.items[i].token == HTTP_TOKEN_PRIORITY) {
                apply_priority(s, st, st->req.headers.items[i].value);
                break;
            }
    }
    if (!c.malformed && !trailers && r != QPACK_TOO_LARGE && !c.too_many) http_reqcheck_finish(&c);
    if (c.malformed) {
        /* §4.1.2: a malformed request is a stream error of type H3_MESSAGE_ERROR */
        log_debug("%s: HTTP/3 stream %lld malformed: %s", s->peer, (long long)st->id, c.why);
        stream_error(s, st, H3_MESSAGE_ERROR, true);
        return false;
    }
    if (r == QPACK_TOO_LARGE || c.too_many) {
        if (trailers) {
            stream_error(s, st, H3_EXCESSIVE_LOAD, true);
            return false;
        }
        log_info("%s: HTTP/3 stream %lld: header section over limits.header_size or "
                 "header_count, 431",
                 s->peer, (long long)st->id);
        st->reject_status = 431;
    } else if (st->content_length >= 0 && (uint64_t)st->content_length > s->p.body_size) {
        log_info("%s: HTTP/3 stream %lld: Content-Length over limits.body_size, 413", s->peer,
                 (long long)st->id);
        st->reject_status = 413;
    } else if (st->early && !trailers && !method_safe(st->req.method)) {
        /* RFC 9114 §10.9 applies RFC 8470 to HTTP/3: an unsafe request that a replay could
         * repeat is not acted on; 425 (§5.2) makes the client send it again after the
         * handshake */
        log_info("%s: HTTP/3 stream %lld: %.*s in early data (0-RTT), 425", s->peer,
                 (long long)st->id, (int)st->req.method_name.len, st->req.method_name.p);
        st->reject_status = 425;
    }
    if (st->reject_status)
        dispatch(s, st);
    else if (!trailers)
        start_streaming(s, st);
    return !s->dead && stream_find(s, id) != NULL;
}

/* req.body_in of a streamed request: the DATA received so far, as the handler pulls it; what
 * it took is credited to the peer then (the handler's pace is the client's). */
static enum body_next_result body_in_next(struct body_source *src, struct body_chunk *out,
                                          size_t max)
{
    struct h3_stream *st = (struct h3_stream *)((char *)src - offsetof(struct h3_stream, body_src));
    struct h3_session *s = st->session;
    if (st->body_handed) {
        buf_consume(&st->body, st->body_handed);
        if (s->cb->consumed && !s->dead) s->cb->consumed(s->ud, st->id, st->body_handed);
        st->body_handed = 0;
    }
    if (st->req.body_in_status || s->dead) return BODY_ERROR;
    size_t n = buf_size(&st->body);
    if (n == 0) {
        if (st->request_done) return BODY_END;
        st->body_in_waiting = true;
        return BODY_WAIT;
    }
    if (n > max) n = max;
    *out = (struct body_chunk){.kind = BODY_CHUNK_MEM, .data = buf_ptr(&st->body), .len = n};
    st->body_handed = n;
    return BODY_CHUNK;
}

/* Wakes a handler waiting for more of a streamed body (its wake only queues its work). */
static void body_in_wake(struct h3_stream *st)
{
    if (!st->streaming || !st->body_in_waiting) return;
    st->body_in_waiting = false;
    if (st->req.body_in_wake) st->req.body_in_wake(st->req.body_in_ctx);
}

size_t h3_session_take_withheld(struct h3_session *s)
{
    size_t n = s->withheld;
    s->withheld = 0;
    return n;
}

/* A request that may have a body goes to a handler that streams it: dispatch now. A GET and
 * the like without Content-Length is taken to have none (read whole, as usual). */
static bool start_streaming(struct h3_session *s, struct h3_stream *st)
{
    enum http_method m = st->req.method;
    bool bodyless = m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD || m == HTTP_METHOD_OPTIONS ||
                    m == HTTP_METHOD_DELETE || m == HTTP_METHOD_TRACE;
    if (st->request_done || st->content_length == 0 || (st->content_length < 0 && bodyless) ||
        !s->cb->streams_body || !s->cb->streams_body(s, st))
        return false;
    st->streaming = true;
    st->body_src.next = body_in_next;
    st->req.body_in = &st->body_src;
    st->req.body_in_length = st->content_length;
    dispatch(s, st);
    return true;
}

static void on_data(struct h3_session *s, struct h3_stream *st, const uint8_t *p, size_t n)
{
    st->body_received += n;
    if (st->content_length >= 0 && st->body_received > (uint64_t)st->content_length) {
        stream_error(s, st, H3_MESSAGE_ERROR, true); /* §4.1.2: more DATA than Content-Length */
        return;
    }
    if (st->streaming) {
        /* a CONNECT stream's DATA is a tunnel's, not a request body: no size limit */
        if (st->body_received > s->p.body_size && st->req.method != HTTP_METHOD_CONNECT) {
            if (!st->req.body_in_status)
                log_info("%s: HTTP/3 stream %lld: request body over limits.body_size, 413", s->peer,
                         (long long)st->id);
            st->req.body_in_status = 413;
        } else if (buf_append(&st->body, p, n) < 0) {
            conn_error(s, H3_INTERNAL_ERROR, "out of memory");
            return;
        } else {
            s->withheld += n; /* credited as the handler takes it */
        }
        body_in_wake(st);
        return;
    }
    if (st->reject_status) return;
    if (st->body_received > s->p.body_size) {
        log_info("%s: HTTP/3 stream %lld: request body over limits.body_size, 413", s->peer,
                 (long long)st->id);
        st->reject_status = 413;
        buf_free(&st->body);
        dispatch(s, st);
    } else if (buf_append(&st->body, p, n) < 0) {
        conn_error(s, H3_INTERNAL_ERROR, "out of memory");
    }
}

/* The request stream's FIN was reached at a frame boundary. */
static void request_end(struct h3_session *s, struct h3_stream *st)
{
    st->request_done = true;
    if (!st->headers_in) {
        /* §4.1.2: the stream ended before a complete request */
        stream_error(s, st, H3_REQUEST_INCOMPLETE, true);
        return;
    }
    if (!st->reject_status && st->content_length >= 0 &&
        st->body_received != (uint64_t)st->content_length) {
        stream_error(s, st, H3_MESSAGE_ERROR, true);
        return;
    }
    if (!st->dispatched)
        dispatch(s, st);
    else if (st->fin_sent)
        stream_close(s, st);
    else
        body_in_wake(st); /* a streamed body has its end */
}

/* Frames of a message on a request stream (§4.1), in either role: HEADERS (a response's interim
 * ones first), DATA*, optional trailing HEADERS; unknown and reserved types are skipped (§9).
 * The roles differ in what a frame leads to and in two answers: a server's oversized HEADERS
 * is the client's fault (a connection error), a client fails only the stream it asked on; and
 * PUSH_PROMISE is an ID error for a client that allowed no push (§7.2.5). Stops when the
 * stream waits or is gone. */
static void message_input(struct h3_session *s, struct h3_stream *st)
{
    const bool client = s->p.client;
    const int64_t id = st->id; /* the handlers may free st */
    while (!s->dead) {
        const uint8_t *p = (const uint8_t *)buf_ptr(&st->in);
        size_t avail = buf_size(&st->in);
        if (!st->in_frame) {
            struct h3_frame_header hd;
            size_t n = avail ? h3_frame_header_parse(p, avail, &hd) : 0;
            if (n == 0) break;
            if (hd.type == H3_FRAME_DATA) {
                if (!st->headers_in || st->trailers_in) {
                    conn_error(s, H3_FRAME_UNEXPECTED, "DATA before HEADERS or after trailers");
                    return;
                }
            } else if (hd.type == H3_FRAME_HEADERS) {
                if (st->trailers_in) {
                    conn_error(s, H3_FRAME_UNEXPECTED, "HEADERS after the trailers");
                    return;
                }
                if (hd.length >
                    s->p.max_field_section_size + SECTION_SLACK(s->p.max_field_section_size)) {
                    if (client)
                        client_fail(s, st, H3_EXCESSIVE_LOAD,
                                    "the response HEADERS frame is over the size limit");
                    else {
                        defence_counted(s, SH3_HEADER_SIZE);
                        conn_error(s, H3_EXCESSIVE_LOAD, "HEADERS frame too large");
                    }
                    return;
                }
            } else if (client && hd.type == H3_FRAME_PUSH_PROMISE) {
                conn_error(s, H3_ID_ERROR, "PUSH_PROMISE, but no push was allowed");
                return;
            } else if (h3_frame_type_is_known(hd.type) || h3_frame_type_is_h2_only(hd.type)) {
                /* §7.2: control frames, PUSH_PROMISE from a client, HTTP/2 types */
                conn_error(s, H3_FRAME_UNEXPECTED, "frame not allowed on a request stream");
                return;
            }
            buf_consume(&st->in, n);
            st->in_frame = true;
            st->ftype = hd.type;
            st->fleft = hd.length;
            continue;
        }
        if (st->ftype == H3_FRAME_HEADERS) {
            if (avail < st->fleft) break;
            if (client) s->header_bytes_in += st->fleft;
            bool ok = client ? on_response_headers(s, st, p, (size_t)st->fleft)
                             : on_headers(s, st, p, (size_t)st->fleft);
            if (!ok) return;
            buf_consume(&st->in, (size_t)st->fleft);
            st->in_frame = false;
            continue;
        }
        size_t n = avail < st->fleft ? avail : (size_t)st->fleft;
        if (n == 0 && st->fleft) break;
        st->fleft -= n;
        if (st->fleft == 0) st->in_frame = false;
        if (st->ftype == H3_FRAME_DATA) {
            if (client)
                on_response_content(s, st, p, n);
            else
                on_data(s, st, p, n);
            if (s->dead || !stream_find(s, id)) return;
        }
        buf_consume(&st->in, n);
    }
    if (s->dead || st->qpack_blocked || !st->fin_in || st->request_done) return;
    if (st->in_frame || buf_size(&st->in)) {
        conn_error(s, H3_FRAME_ERROR, "stream ended inside a frame"); /* §7.1 */
        return;
    }
    if (client)
        response_end(s, st);
    else
        request_end(s, st);
}

/* ---- control and QPACK streams ---- */

/* RFC 9218 §7.2: PRIORITY_UPDATE names a request stream (or a push) and carries a Priority
 * field value, which replaces what the request's own field said. */
static void on_priority_update(struct h3_session *s, uint64_t type, const uint8_t *p, size_t len)
{
    uint64_t id;
    size_t n = h3_varint_decode(p, len, &id);
    if (n == 0) {
        conn_error(s, H3_FRAME_ERROR, "malformed PRIORITY_UPDATE");
        return;
    }
    if (type == H3_FRAME_PRIORITY_UPDATE_PUSH) { /* we push nothing; the id must be allowed */
        if (!s->has_max_push_id || id > s->peer_max_push_id)
            conn_error(s, H3_ID_ERROR, "PRIORITY_UPDATE for a push beyond MAX_PUSH_ID");
        return;
    }
    if ((id & 3) != 0) {
        conn_error(s, H3_ID_ERROR, "PRIORITY_UPDATE for a stream that is not a request");
        return;
    }
    struct h3_stream *st = stream_find(s, (int64_t)id);
    if (!st || st->kind != H3_KIND_REQUEST) return; /* not open (yet) or gone: nothing to do */
    st->prio_updated = true;
    apply_priority(s, st, str_make((const char *)p + n, len - n));
}

static void on_control_frame(struct h3_session *s, uint64_t type, const uint8_t *p, size_t len)
{
    if (!s->settings_in) {
        if (type != H3_FRAME_SETTINGS) {
            conn_error(s, H3_MISSING_SETTINGS, "control stream does not start with SETTINGS");
            return;
        }
        uint64_t err = h3_settings_parse(p, len, &s->peer_settings);
        if (err) {
            conn_error(s, err, "invalid SETTINGS");
            return;
        }
        s->settings_in = true;
        if (qpack_encoder_set_peer_settings(&s->enc, s->peer_settings.qpack_max_table_capacity,
                                            s->peer_settings.qpack_blocked_streams) < 0)
            conn_error(s, H3_INTERNAL_ERROR, "out of memory");
        flush_qpack(s);
        return;
    }
    if (s->p.client) {
        on_server_control_frame(s, type, p, len);
        return;
    }
    uint64_t id;
    switch (type) {
    case H3_FRAME_SETTINGS: conn_error(s, H3_FRAME_UNEXPECTED, "second SETTINGS"); return;
    case H3_FRAME_PRIORITY_UPDATE_REQUEST:
    case H3_FRAME_PRIORITY_UPDATE_PUSH: on_priority_update(s, type, p, len); return;
    case H3_FRAME_CANCEL_PUSH:
    case H3_FRAME_GOAWAY:
    case H3_FRAME_MAX_PUSH_ID:
        if (h3_frame_parse_id(p, len, &id)) {
            conn_error(s, H3_FRAME_ERROR, "malformed control frame");
            return;
        }
        break;
    default: conn_error(s, H3_FRAME_UNEXPECTED, "frame not allowed on the control stream"); return;
    }
    if (type == H3_FRAME_CANCEL_PUSH) {
        /* §7.2.3: a push id we were never allowed to use is an error; we push nothing */
        if (!s->has_max_push_id || id > s->peer_max_push_id)
            conn_error(s, H3_ID_ERROR, "CANCEL_PUSH beyond MAX_PUSH_ID");
    } else if (type == H3_FRAME_MAX_PUSH_ID) {
        if (s->has_max_push_id && id < s->peer_max_push_id) {
            conn_error(s, H3_ID_ERROR, "MAX_PUSH_ID reduced"); /* §7.2.7 */
            return;
        }
        s->peer_max_push_id = id;
        s->has_max_push_id = true;
    } else {
        if (s->peer_goaway_id != UINT64_MAX && id > s->peer_goaway_id) {
            conn_error(s, H3_ID_ERROR, "GOAWAY id increased"); /* §5.2 */
            return;
        }
        s->peer_goaway_id = id;
    }
}

static void control_input(struct h3_session *s, struct h3_stream *st)
{
    while (!s->dead) {
        const uint8_t *p = (const uint8_t *)buf_ptr(&st->in);
        size_t avail = buf_size(&st->in);
        if (!st->in_frame) {
            struct h3_frame_header hd;
            size_t n = avail ? h3_frame_header_parse(p, avail, &hd) : 0;
            if (n == 0) break;
            bool known = h3_frame_type_is_known(hd.type) || h3_frame_type_is_h2_only(hd.type);
            bool prio = hd.type == H3_FRAME_PRIORITY_UPDATE_REQUEST ||
                        hd.type == H3_FRAME_PRIORITY_UPDATE_PUSH;
            if (known && (hd.type == H3_FRAME_SETTINGS ? hd.length > H3_SETTINGS_MAX_PAYLOAD
                          : prio                       ? hd.length > PRIORITY_UPDATE_MAX
                                                       : hd.length > ID_FRAME_MAX)) {
                if (hd.type == H3_FRAME_SETTINGS) defence_counted(s, SH3_SETTINGS);
                conn_error(s, hd.type == H3_FRAME_SETTINGS ? H3_EXCESSIVE_LOAD : H3_FRAME_ERROR,
                           "control frame too long");
                return;
            }
            if (!known && !s->settings_in) {
                conn_error(s, H3_MISSING_SETTINGS, "control stream does not start with SETTINGS");
                return;
            }
            buf_consume(&st->in, n);
            st->in_frame = true;
            st->ftype = hd.type;
            st->fleft = hd.length;
            continue;
        }
        bool known = h3_frame_type_is_known(st->ftype) || h3_frame_type_is_h2_only(st->ftype);
        if (known) {
            if (avail < st->fleft) break;
            on_control_frame(s, st->ftype, p, (size_t)st->fleft);
            buf_consume(&st->in, (size_t)st->fleft);
            st->in_frame = false;
            continue;
        }
        size_t n = avail < st->fleft ? avail : (size_t)st->fleft;
        if (n == 0 && st->fleft) break;
        buf_consume(&st->in, n);
        st->fleft -= n;
        if (st->fleft == 0) st->in_frame = false;
    }
    if (!s->dead && st->fin_in)
        conn_error(s, H3_CLOSED_CRITICAL_STREAM, "control stream closed"); /* §6.2.1 */
}

static void decode_unblocked(struct h3_session *s)
{
    uint64_t ids[16];
    size_t n;
    do {
        n = qpack_decoder_take_unblocked(&s->dec, ids, 16);
        for (size_t i = 0; i < n && !s->dead; i++) {
            struct h3_stream *st = stream_find(s, (int64_t)ids[i]);
            if (st && st->kind == H3_KIND_REQUEST && st->qpack_blocked) {
                st->qpack_blocked = false;
                message_input(s, st);
            }
        }
    } while (n == 16 && !s->dead);
}

static void qpack_input(struct h3_session *s, struct h3_stream *st)
{
    const uint8_t *p = (const uint8_t *)buf_ptr(&st->in);
    size_t len = buf_size(&st->in);
    enum qpack_result r = QPACK_OK;
    if (len) {
        r = st->kind == H3_KIND_QPACK_ENC ? qpack_decoder_encoder_stream(&s->dec, p, len)
                                          : qpack_encoder_decoder_stream(&s->enc, p, len);
    }
    buf_clear(&st->in);
    if (r < 0) {
        conn_error(s, qpack_result_h3_error(r), "QPACK stream error");
        return;
    }
    if (st->fin_in) {
        conn_error(s, H3_CLOSED_CRITICAL_STREAM, "QPACK stream closed"); /* RFC 9204 §4.2 */
        return;
    }
    if (st->kind == H3_KIND_QPACK_ENC) decode_unblocked(s);
    flush_qpack(s);
}

/* The first varint of a client uni stream says what it is (§6.2). false: the stream is gone. */
static bool uni_type(struct h3_session *s, struct h3_stream *st)
{
    uint64_t type;
    size_t n = h3_varint_decode((const uint8_t *)buf_ptr(&st->in), buf_size(&st->in), &type);
    if (n == 0) {
        if (st->fin_in) stream_close(s, st); /* ended before its type: nothing to do */
        return false;
    }
    buf_consume(&st->in, n);
    bool *have = NULL;
    switch (type) {
    case H3_STREAM_CONTROL:
        have = &s->have_control;
        st->kind = H3_KIND_CONTROL;
        break;
    case H3_STREAM_QPACK_ENCODER:
        have = &s->have_qpack_enc;
        st->kind = H3_KIND_QPACK_ENC;
        break;
    case H3_STREAM_QPACK_DECODER:
        have = &s->have_qpack_dec;
        st->kind = H3_KIND_QPACK_DEC;
        break;
    case H3_STREAM_PUSH:
        if (s->p.client) /* §4.6: we never sent MAX_PUSH_ID, so every push id is too large */
            conn_error(s, H3_ID_ERROR, "push stream, but no push was allowed");
        else
            conn_error(s, H3_STREAM_CREATION_ERROR, "push stream from a client"); /* §6.2.2 */
        return false;
    default:
        /* §6.2: unknown types (and reserved ones, §6.2.3) are read no further */
        if (s->cb->stop_sending && !st->fin_in)
            s->cb->stop_sending(s->ud, st->id, H3_STREAM_CREATION_ERROR);
        stream_close(s, st);
        return false;
    }
    if (*have) {
        conn_error(s, H3_STREAM_CREATION_ERROR, "second control or QPACK stream"); /* §6.2.1 */
        return false;
    }
    *have = true;
    return true;
}

static void stream_input(struct h3_session *s, struct h3_stream *st)
{
    if (st->kind == H3_KIND_UNI_PENDING && !uni_type(s, st)) return;
    switch (st->kind) {
    case H3_KIND_REQUEST: message_input(s, st); break;
    case H3_KIND_CONTROL: control_input(s, st); break;
    case H3_KIND_QPACK_ENC:
    case H3_KIND_QPACK_DEC: qpack_input(s, st); break;
    default: break;
    }
}

static int recv_stream(struct h3_session *s, int64_t stream_id, const uint8_t *data, size_t len,
                       bool fin, bool early, int64_t now_ms)
{
    s->now_ms = now_ms;
    if (s->dead) return -1;
    bool bidi = (stream_id & 2) == 0;
    if (s->p.client) {
        /* ours: request streams and our uni streams; the server's: uni streams only (§6.1) */
        if (stream_id < 0 || (bidi && (stream_id & 1)) || (!bidi && !(stream_id & 1))) {
            conn_error(s, H3_STREAM_CREATION_ERROR, "data on a stream the server cannot send on");
            return -1;
        }
    } else if (stream_id < 0 || (stream_id & 1)) {
        conn_error(s, H3_STREAM_CREATION_ERROR, "data on a server-initiated stream");
        return -1;
    }
    struct h3_stream *st = stream_find(s, stream_id);
    if (!st && s->p.client && bidi) {
        if (stream_id >= s->next_bidi) {
            conn_error(s, H3_STREAM_CREATION_ERROR, "data on a request stream never opened");
            return -1;
        }
        return 0; /* a request that is over: late bytes are dropped */
    }
    if (st && s->p.client && st->kind == H3_KIND_OWN) {
        conn_error(s, H3_STREAM_CREATION_ERROR, "data on our own unidirectional stream");
        return -1;
    }
    if (!st) {
        switch (h3_stream_ids_see(bidi ? &s->request_ids : &s->uni_ids, stream_id)) {
        case H3_ID_NEW: break;
        case H3_ID_OLD: return 0; /* closed, reset or ignored: late bytes are dropped */
        case H3_ID_TOO_MANY:
            defence_counted(s, SH3_SKIPPED_IDS);
            conn_error(s, H3_EXCESSIVE_LOAD, "too many skipped stream ids");
            return -1;
        }
        if (bidi && s->draining && stream_id >= s->goaway_id) {
            /* §5.2: after our GOAWAY, later requests are rejected, never processed */
            if (s->cb->reset_stream) s->cb->reset_stream(s->ud, stream_id, H3_REQUEST_REJECTED);
            if (!fin && s->cb->stop_sending)
                s->cb->stop_sending(s->ud, stream_id, H3_REQUEST_REJECTED);
            return 0;
        }
        st = stream_new(s, stream_id, bidi ? H3_KIND_REQUEST : H3_KIND_UNI_PENDING);
        if (!st) {
            conn_error(s, H3_INTERNAL_ERROR, "out of memory");
            return -1;
        }
    }
    if (st->fin_in) return s->dead ? -1 : 0; /* nothing may follow a FIN */
    if (st->request_done || (st->kind == H3_KIND_REQUEST && st->reject_status && st->fin_sent))
        return 0;
    if (early && !st->dispatched) st->early = true;
    if (len && buf_append(&st->in, data, len) < 0) {
        conn_error(s, H3_INTERNAL_ERROR, "out of memory");
        return -1;
    }
    st->fin_in = fin;
    stream_input(s, st);
    return s->dead ? -1 : 0;
}

int h3_session_recv_stream(struct h3_session *s, int64_t stream_id, const uint8_t *data, size_t len,
                           bool fin, int64_t now_ms)
{
    return recv_stream(s, stream_id, data, len, fin, false, now_ms);
}

int h3_session_recv_early(struct h3_session *s, int64_t stream_id, const uint8_t *data, size_t len,
                          bool fin, int64_t now_ms)
{
    return recv_stream(s, stream_id, data, len, fin, true, now_ms);
}

void h3_session_stream_reset(struct h3_session *s, int64_t stream_id, uint64_t app_error,
                             int64_t now_ms)
{
    s->now_ms = now_ms;
    if (s->dead) return;
    struct h3_stream *st = stream_find(s, stream_id);
    if (!st) return;
    if (s->p.client && st->kind == H3_KIND_REQUEST) {
        log_debug("%s: HTTP/3 stream %lld reset by the server: %s", s->peer, (long long)stream_id,
                  h3_error_name(app_error));
        st->end_code = app_error == H3_NO_ERROR ? H3_REQUEST_CANCELLED : app_error;
        st->end_why = app_error == H3_REQUEST_REJECTED ? "the server rejected the request"
                                                       : "the server reset the stream";
        if (!st->fin_in && s->cb->stop_sending)
            s->cb->stop_sending(s->ud, stream_id, H3_REQUEST_CANCELLED);
        stream_close(s, st);
        return;
    }
    switch (st->kind) {
    case H3_KIND_REQUEST: {
        log_debug("%s: HTTP/3 stream %lld reset by the client: %s", s->peer, (long long)stream_id,
                  h3_error_name(app_error));
        bool answered = st->fin_sent || (st->fin_out && !buf_size(&st->out));
        if (!answered && s->cb->reset_stream)
            s->cb->reset_stream(s->ud, stream_id, H3_REQUEST_CANCELLED);
        if (!st->fin_in && s->cb->stop_sending)
            s->cb->stop_sending(s->ud, stream_id, H3_REQUEST_CANCELLED);
        stream_close(s, st);
        if (!answered) count_reset(s);
        break;
    }
    case H3_KIND_CONTROL:
    case H3_KIND_QPACK_ENC:
    case H3_KIND_QPACK_DEC:
    case H3_KIND_OWN:
        conn_error(s, H3_CLOSED_CRITICAL_STREAM, "critical stream reset"); /* §6.2.1 */
        break;
    default: stream_close(s, st); break;
    }
}

/* ---- responses ---- */

/* Adds a field to the list being encoded (fields: pool array of cap entries). */
static int add_out(struct http_field *f, size_t *n, size_t cap, str_t name, str_t value,
                   enum http_token token)
{
    if (*n >= cap) return -1;
    f[(*n)++] = (struct http_field){name, value, token};
    return 0;
}

/* Encodes status and fields as a HEADERS frame on st. extra: add Content-Length, Date, Server. */
static int write_head(struct h3_session *s, struct h3_stream *st, int status,
                      const struct http_fields *fields, bool final)
{
    size_t cap = (fields ? fields->count : 0) + 4, n = 0;
    struct http_field *f = pool_alloc(st->pool, cap * sizeof(*f));
    char *num = pool_alloc(st->pool, 48);
    if (!f || !num) return -1;
    snprintf(num, 4, "%03d", status);
    add_out(f, &n, cap, STR_LIT(":status"), str_make(num, 3), HTTP_TOKEN_NONE);
    for (size_t i = 0; fields && i < fields->count; i++) {
        const struct http_field *fl = &fields->items[i];
        if (fl->token != HTTP_TOKEN_NONE) {
            /* §4.2: connection-specific fields are never sent */
            if (http_token_info(fl->token)->flags & HTTP_TOKEN_HOP_BY_HOP) continue;
            if (fl->token == HTTP_TOKEN_CONTENT_LENGTH || fl->token == HTTP_TOKEN_DATE) continue;
        }
        add_out(f, &n, cap, fl->name, fl->value, fl->token);
    }
    if (final) {
        const struct http_response *resp = &st->resp;
        if (resp->content_length >= 0 && status != 204 && status != 304) {
            int k = snprintf(num + 4, 24, "%lld", (long long)resp->content_length);
            add_out(f, &n, cap, STR_LIT("content-length"), str_make(num + 4, (size_t)k),
                    HTTP_TOKEN_CONTENT_LENGTH);
        }
        const char *date = s->cb->date ? s->cb->date(s->ud) : NULL;
        if (date) add_out(f, &n, cap, STR_LIT("date"), str_cstr(date), HTTP_TOKEN_DATE);
        if (!resp->no_server && !http_fields_find(&resp->headers, HTTP_TOKEN_SERVER))
            add_out(f, &n, cap, STR_LIT("server"), STR_LIT("tern"), HTTP_TOKEN_SERVER);
    }
    buf_clear(&s->hbuf);
    if (qpack_encode_section(&s->enc, (uint64_t)st->id, f, n, &s->hbuf) != QPACK_OK) return -1;
    if (h3_write_headers(&st->out, buf_ptr(&s->hbuf), buf_size(&s->hbuf)) < 0) return -1;
    flush_qpack(s);
    return 0;
}

static int send_interim(struct http_request *req, int status, const struct http_fields *fields)
{
    struct h3_stream *st = req->wire;
    struct h3_session *s = st->session;
    if (st->headers_out || status < 100 || status >= 200 || s->dead) return -1;
    return write_head(s, st, status, fields, false);
}

static void respond(struct h3_session *s, struct h3_stream *st)
{
    struct http_response *resp = &st->resp;
    int status = resp->status ? resp->status : 500;
    if (status < 200 || status > 999) status = 500;
    bool no_body = st->req.method == HTTP_METHOD_HEAD || status == 204 || status == 304;
    if (write_head(s, st, status, &resp->headers, true) < 0) {
        conn_error(s, H3_INTERNAL_ERROR, "out of memory");
        return;
    }
    st->headers_out = true;
    if (no_body || !resp->body || resp->content_length == 0) {
        if (resp->body && resp->body->close) resp->body->close(resp->body);
        resp->body = NULL;
        st->body_rd.eof = true;
        st->fin_out = true;
    }
}

static bool body_done(const struct h3_stream *st)
{
    return st->body_rd.eof ||
           (st->resp.content_length >= 0 && st->resp.bytes_sent >= st->resp.content_length);
}

/* Copies up to max bytes of the response body into dst. Returns bytes, or -1 on a body
 * error. */
static ssize_t pull_body(struct h3_stream *st, char *dst, size_t max)
{
    int64_t left =
        st->resp.content_length >= 0 ? st->resp.content_length - st->resp.bytes_sent : -1;
    return body_reader_pull(&st->body_rd, st->resp.body, left, dst, max);
}

/* Pulls the response body into DATA frames until H3_STREAM_HIGH_WATER bytes wait. */
/* Pulls the response body into DATA frames up to the high-water mark. Returns false when the
 * stream is gone (a body error reset and freed it). */
static bool produce(struct h3_session *s, struct h3_stream *st)
{
    while (!st->fin_out && buf_size(&st->out) < H3_STREAM_HIGH_WATER) {
        size_t max = H3_STREAM_HIGH_WATER - buf_size(&st->out);
        if (max > H3_DATA_FRAME_MAX) max = H3_DATA_FRAME_MAX;
        int64_t left = st->resp.content_length - st->resp.bytes_sent;
        if (st->resp.content_length >= 0 && (uint64_t)left < max) max = (size_t)left;
        /* the payload goes 3 bytes in (type + a 2-byte length) and moves if its length is 1 byte */
        if (buf_reserve(&st->out, 3 + max) < 0) {
            conn_error(s, H3_INTERNAL_ERROR, "out of memory");
            return true;
        }
        uint8_t *hdr = (uint8_t *)buf_tail(&st->out);
        ssize_t got = max && !body_done(st) ? pull_body(st, (char *)hdr + 3, max) : 0;
        if (got < 0) {
            log_error("%s: response body failed on HTTP/3 stream %lld", s->peer, (long long)st->id);
            stream_error(s, st, H3_INTERNAL_ERROR, false);
            return false;
        }
        st->resp.bytes_sent += got;
        if (got > 0) {
            size_t hl = 1 + h3_varint_len((uint64_t)got);
            hdr[0] = H3_FRAME_DATA;
            h3_varint_encode(hdr + 1, 2, (uint64_t)got);
            if (hl == 2) memmove(hdr + 2, hdr + 3, (size_t)got);
            buf_commit(&st->out, hl + (size_t)got);
        }
        if (body_done(st) && !st->body_rd.has_chunk) {
            if (st->resp.body->close) st->resp.body->close(st->resp.body);
            st->resp.body = NULL;
            st->fin_out = true;
        } else if (got == 0) {
            return true; /* a source with nothing now: wait for the next round */
        }
    }
    return true;
}

bool h3_session_next_output(struct h3_session *s, int64_t *stream_id, const uint8_t **data,
                            size_t *len, bool *fin)
{
    if (s->dead) return false;
    for (struct h3_stream *st = s->streams, *next; st; st = next) {
        next = st->next;
        if (st->id <= *stream_id || st->fin_sent) continue;
        if (st->kind == H3_KIND_REQUEST && st->headers_out && st->resp.body && !produce(s, st))
            continue; /* reset and freed */
        if (s->dead) return false;
        if (buf_size(&st->out) == 0 && !st->fin_out) continue;
        if (st->kind == H3_KIND_REQUEST && !st->stalled_ms) st->stalled_ms = s->now_ms;
        *stream_id = st->id;
        *data = (const uint8_t *)buf_ptr(&st->out);
        *len = buf_size(&st->out);
        *fin = st->fin_out;
        return true;
    }
    return false;
}

void h3_session_output_consumed(struct h3_session *s, int64_t stream_id, size_t n)
{
    struct h3_stream *st = stream_find(s, stream_id);
    if (!st) return;
    if (n > buf_size(&st->out)) n = buf_size(&st->out);
    buf_consume(&st->out, n);
    if (n) st->stalled_ms = 0; /* progress: the next round starts the clock again */
    if (buf_size(&st->out) || !st->fin_out) return;
    st->fin_sent = true;
    if (st->kind != H3_KIND_REQUEST || s->p.client) return; /* client: the response ends it */
    if (!st->request_done) {
        /* §4.1.1: the response is complete before the request. STOP_SENDING (H3_NO_ERROR)
         * would end the upload, but sent now, with the response still in src/quic's buffer,
         * the response never leaves (ngtcp2 0.12 via src/quic): the rest of the request is
         * read and dropped instead, within QUIC flow control and the connection's bounds. */
        st->request_done = true;
        qpack_decoder_cancel_stream(&s->dec, (uint64_t)st->id);
    }
    stream_close(s, st);
}

/* ---- life cycle ---- */

void h3_session_params_from_config(struct h3_session_params *p, const struct config *cfg,
                                   const char *peer)
{
    *p = (struct h3_session_params){
        .max_field_section_size = cfg->limits.header_size,
        .header_count = cfg->limits.header_count,
        .body_size = cfg->limits.body_size,
        .max_resets_per_10s = cfg->http2.max_resets_per_10s,
        .qpack_max_table_capacity = 4096,
        .qpack_blocked_streams = 16,
        .header_timeout_ms = (int64_t)(cfg->timeouts.header * 1000),
        .send_timeout_ms = (int64_t)(cfg->timeouts.send * 1000),
        .peer = peer,
    };
}

static struct h3_stream *open_own(struct h3_session *s, uint64_t type)
{
    int64_t id = s->cb->open_uni ? s->cb->open_uni(s->ud) : (s->next_own_uni += 4) - 4;
    if (id < 0) return NULL;
    struct h3_stream *st = stream_new(s, id, H3_KIND_OWN);
    if (st && h3_varint_append(&st->out, type) < 0) return NULL; /* freed with the session */
    return st;
}

struct h3_session *h3_session_new(const struct h3_session_params *p,
                                  const struct h3_session_callbacks *cb, void *ud, int64_t now_ms)
{
    struct h3_session *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->cb = cb;
    s->ud = ud;
    s->p = *p;
    snprintf(s->peer, sizeof(s->peer), "%s", p->peer ? p->peer : "-");
    s->peer_len = strlen(s->peer);
    s->now_ms = now_ms;
    s->next_own_uni = p->client ? 2 : 3;
    h3_stream_ids_init(&s->request_ids, 0);
    h3_stream_ids_init(&s->uni_ids, p->client ? 3 : 2);
    s->peer_goaway_id = UINT64_MAX;
    s->error_code = UINT64_MAX;
    h3_settings_init(&s->peer_settings);
    bool ok =
        qpack_decoder_init(&s->dec, p->qpack_max_table_capacity, p->qpack_blocked_streams) == 0;
    ok = qpack_encoder_init(&s->enc) == 0 && ok;
    /* §6.2.1: our control stream starts with SETTINGS; RFC 9204 §4.2: one encoder and one
     * decoder stream */
    ok = ok && (s->own_control = open_own(s, H3_STREAM_CONTROL)) &&
         (s->own_encoder = open_own(s, H3_STREAM_QPACK_ENCODER)) &&
         (s->own_decoder = open_own(s, H3_STREAM_QPACK_DECODER));
    if (ok) {
        struct h3_setting set[] = {
            {H3_SETTING_MAX_FIELD_SECTION_SIZE, p->max_field_section_size},
            {H3_SETTING_QPACK_MAX_TABLE_CAPACITY, p->qpack_max_table_capacity},
            {H3_SETTING_QPACK_BLOCKED_STREAMS, p->qpack_blocked_streams},
        };
        ok = h3_write_settings(&s->own_control->out, set, 3) == 0;
    }
    if (!ok) {
        h3_session_free(s);
        return NULL;
    }
    return s;
}

void h3_session_free(struct h3_session *s)
{
    if (!s) return;
    for (struct h3_stream *st = s->streams; st; st = st->next)
        if (s->p.client && s->dead && s->error_code != H3_NO_ERROR) {
            st->end_code = s->error_code;
            st->end_why = s->error_why ? s->error_why : "HTTP/3 connection error";
        }
    while (s->streams)
        stream_close(s, s->streams);
    qpack_decoder_free(&s->dec);
    qpack_encoder_free(&s->enc);
    if (s->scratch) pool_destroy(s->scratch);
    buf_free(&s->hbuf);
    free(s);
}

/* Queues GOAWAY with id on our control stream. */
static void write_goaway(struct h3_session *s, int64_t id)
{
    if (h3_write_goaway(&s->own_control->out, (uint64_t)id) < 0)
        conn_error(s, H3_INTERNAL_ERROR, "out of memory");
}

/* The final GOAWAY: the first client-initiated bidirectional stream id not yet processed
 * (§5.2); requests from there on are rejected. */
static void send_final_goaway(struct h3_session *s)
{
    if (s->draining) return;
    s->goaway_id = s->request_ids.next; /* every id below it is opened, maybe implicitly */
    s->draining = true;
    s->goaway_notice = false;
    s->goaway_deadline_ms = 0;
    write_goaway(s, s->goaway_id);
}

void h3_session_shutdown(struct h3_session *s, bool graceful)
{
    if (s->dead) return;
    if (!graceful) {
        send_final_goaway(s);
        s->error_code = H3_NO_ERROR;
        s->dead = true;
        return;
    }
    if (s->draining || s->goaway_notice) return;
    if (!s->settings_in) {
        send_final_goaway(s); /* a client that has not started HTTP/3 has nothing in flight */
        return;
    }
    /* §5.2: requests the client sends before it sees our GOAWAY may be on their way; announce
     * the stop refusing nothing, and only later draw the line where the requests stopped */
    write_goaway(s, H3_MAX_CLIENT_BIDI_ID);
    s->goaway_notice = true;
    s->goaway_deadline_ms = s->now_ms + H3_GOAWAY_GRACE_MS;
}

void h3_session_set_time(struct h3_session *s, int64_t now_ms)
{
    s->now_ms = now_ms;
}

static int64_t earliest(int64_t d, int64_t t)
{
    return t && (!d || t < d) ? t : d;
}

int64_t h3_session_next_deadline(const struct h3_session *s)
{
    if (s->dead) return 0;
    int64_t d = s->goaway_deadline_ms;
    for (const struct h3_stream *st = s->streams; st; st = st->next) {
        if (st->kind != H3_KIND_REQUEST) continue;
        if (!st->headers_in && s->p.header_timeout_ms)
            d = earliest(d, st->opened_ms + s->p.header_timeout_ms);
        if (st->stalled_ms && s->p.send_timeout_ms)
            d = earliest(d, st->stalled_ms + s->p.send_timeout_ms);
    }
    return d;
}

void h3_session_timeout(struct h3_session *s, int64_t now_ms)
{
    s->now_ms = now_ms;
    if (s->dead) return;
    if (s->goaway_deadline_ms && now_ms >= s->goaway_deadline_ms) send_final_goaway(s);
    struct h3_stream *next;
    for (struct h3_stream *st = s->streams; st && !s->dead; st = next) {
        next = st->next;
        if (st->kind != H3_KIND_REQUEST) continue;
        if (!st->headers_in && s->p.header_timeout_ms &&
            now_ms >= st->opened_ms + s->p.header_timeout_ms) {
            /* §4.1.2: the request is not complete; the stream is dropped, as an HTTP/2 header
             * block that does not end in time (an answer would need the request's fields) */
            log_info("%s: HTTP/3 stream %lld: header section not complete in time", s->peer,
                     (long long)st->id);
            stream_error(s, st, H3_REQUEST_INCOMPLETE, false);
        } else if (st->stalled_ms && s->p.send_timeout_ms &&
                   now_ms >= st->stalled_ms + s->p.send_timeout_ms) {
            log_info("%s: HTTP/3 stream %lld: client not reading the response, cancelled", s->peer,
                     (long long)st->id);
            stream_error(s, st, H3_REQUEST_CANCELLED, false);
        }
    }
}

void h3_session_want_resume(struct h3_session *s, struct h3_stream *st)
{
    if (st->resume_queued) return;
    st->resume_queued = true;
    st->resume_next = s->resume_head;
    s->resume_head = st;
}

static void resume_unlink(struct h3_session *s, struct h3_stream *st)
{
    if (!st->resume_queued) return;
    for (struct h3_stream **p = &s->resume_head; *p; p = &(*p)->resume_next)
        if (*p == st) {
            *p = st->resume_next;
            break;
        }
    st->resume_queued = false;
}

void h3_session_resume_queued(struct h3_session *s)
{
    while (s->resume_head) {
        struct h3_stream *st = s->resume_head;
        s->resume_head = st->resume_next;
        st->resume_queued = false;
        /* a body that has more is pulled at the next output round anyway */
        if (!s->dead && st->dispatched && !st->headers_out && !st->resp.pending && !s->p.client)
            respond(s, st);
    }
}

bool h3_session_done(const struct h3_session *s)
{
    return s->dead || (s->draining && s->n_requests == 0);
}

uint64_t h3_session_error_code(const struct h3_session *s)
{
    return s->error_code;
}

const char *h3_session_error_reason(const struct h3_session *s)
{
    return s->error_why ? s->error_why : "";
}

/* ---- client role (RFC 9114 §4.1, §5.2, §6.2, §7.2) ---- */

/* A stream error on a request we submitted: the exchange fails with code and why. */
static void client_fail(struct h3_session *s, struct h3_stream *st, uint64_t code, const char *why)
{
    log_debug("%s: HTTP/3 stream %lld: %s", s->peer, (long long)st->id, why);
    st->end_code = code;
    st->end_why = why;
    stream_error(s, st, code, false);
}

/* The server's GOAWAY (§5.2): a client-initiated bidirectional stream id; requests from it on
 * were not and will not be processed. */
static void on_server_goaway(struct h3_session *s, uint64_t id)
{
    if (id % 4 != 0) {
        conn_error(s, H3_ID_ERROR, "GOAWAY with an id that is not a request stream's");
        return;
    }
    if (s->peer_goaway_id != UINT64_MAX && id > s->peer_goaway_id) {
        conn_error(s, H3_ID_ERROR, "GOAWAY id increased");
        return;
    }
    s->peer_goaway_id = id;
    struct h3_stream *next;
    for (struct h3_stream *st = s->streams; st && !s->dead; st = next) {
        next = st->next;
        if (st->kind == H3_KIND_REQUEST && (uint64_t)st->id >= id)
            client_fail(s, st, H3_REQUEST_REJECTED,
                        "the server is going away (GOAWAY) and did not process the request");
    }
}

static void on_server_control_frame(struct h3_session *s, uint64_t type, const uint8_t *p,
                                    size_t len)
{
    uint64_t id;
    switch (type) {
    case H3_FRAME_SETTINGS: conn_error(s, H3_FRAME_UNEXPECTED, "second SETTINGS"); return;
    case H3_FRAME_GOAWAY:
        if (h3_frame_parse_id(p, len, &id))
            conn_error(s, H3_FRAME_ERROR, "malformed GOAWAY");
        else
            on_server_goaway(s, id);
        return;
    case H3_FRAME_CANCEL_PUSH: /* §7.2.3: we allowed no push id */
        conn_error(s, H3_ID_ERROR, "CANCEL_PUSH, but no push was allowed");
        return;
    default:
        /* MAX_PUSH_ID (§7.2.7) and PRIORITY_UPDATE (RFC 9218 §7) only come from clients */
        conn_error(s, H3_FRAME_UNEXPECTED, "frame not allowed on the server's control stream");
        return;
    }
}

/* A HEADERS frame on a request stream we submitted: an interim or final head, or trailers,
 * checked by the rules HTTP/2 shares (src/http/reqcheck.c, response mode). false when the
 * stream waits for QPACK inserts or is gone. */
static bool on_response_headers(struct h3_session *s, struct h3_stream *st, const uint8_t *p,
                                size_t len)
{
    bool trailers = st->headers_in;
    size_t cap = s->p.header_count ? s->p.header_count : 100;
    struct http_fields fields = {0};
    struct http_reqcheck c;
    http_reqcheck_init_response(&c, &fields, st->pool, cap, trailers);
    enum qpack_result r = qpack_decode_section(&s->dec, (uint64_t)st->id, p, len,
                                               s->p.max_field_section_size, st->pool, on_field, &c);
    if (r == QPACK_BLOCKED) {
        st->qpack_blocked = true;
        return false;
    }
    st->qpack_blocked = false;
    if (r < 0) {
        conn_error(s, qpack_result_h3_error(r), "QPACK decoding failed");
        return false;
    }
    flush_qpack(s);
    if (r == QPACK_TOO_LARGE || c.too_many) {
        client_fail(s, st, H3_EXCESSIVE_LOAD,
                    "the response header section is over the size or field count limit");
        return false;
    }
    if (!trailers && !c.malformed) http_reqcheck_finish_response(&c);
    if (!c.malformed && !trailers && c.status == 101)
        c.malformed = true, c.why = "101 is not allowed in HTTP/3"; /* §4.5 */
    if (c.malformed) { /* §4.1.2: malformed is a stream error of type H3_MESSAGE_ERROR */
        client_fail(s, st, H3_MESSAGE_ERROR, c.why ? c.why : "malformed response");
        return false;
    }
    const int64_t id = st->id;
    if (trailers) {
        st->trailers_in = true;
        pool_reset(st->pool);
        return true;
    }
    bool interim = c.status < 200;
    if (interim && ++st->n_interim > H3_MAX_INTERIM) {
        client_fail(s, st, H3_EXCESSIVE_LOAD, "too many interim responses");
        return false;
    }
    if (!interim) {
        st->headers_in = true;
        st->status = c.status;
        st->content_length = c.content_length;
    }
    str_t *names = pool_alloc(st->pool, (fields.count + 1) * sizeof(str_t));
    str_t *values = pool_alloc(st->pool, (fields.count + 1) * sizeof(str_t));
    if (!names || !values) {
        conn_error(s, H3_INTERNAL_ERROR, "out of memory");
        return false;
    }
    for (size_t i = 0; i < fields.count; i++) {
        names[i] = fields.items[i].name;
        values[i] = fields.items[i].value;
    }
    if (s->cb->on_response_head &&
        s->cb->on_response_head(s, st, c.status, names, values, fields.count) < 0) {
        client_fail(s, st, H3_REQUEST_CANCELLED, "the response was refused by its reader");
        return false;
    }
    pool_reset(st->pool); /* the head was used: what an interim series holds stays bounded */
    return !s->dead && stream_find(s, id) != NULL;
}

/* The response may carry content: not for HEAD, 204 or 304 (RFC 9110 §6.4.1). */
static bool response_has_content(const struct h3_stream *st)
{
    return !st->head_request && st->status != 204 && st->status != 304;
}

static void on_response_content(struct h3_session *s, struct h3_stream *st, const uint8_t *p,
                                size_t n)
{
    st->body_received += n;
    if (n && !response_has_content(st)) {
        client_fail(s, st, H3_MESSAGE_ERROR, "content in a response that has none");
        return;
    }
    if (st->content_length >= 0 && st->body_received > (uint64_t)st->content_length) {
        client_fail(s, st, H3_MESSAGE_ERROR, "more content than the content-length");
        return;
    }
    if (n && s->cb->on_response_data && s->cb->on_response_data(s, st, p, n) < 0)
        client_fail(s, st, H3_REQUEST_CANCELLED, "the response was refused by its reader");
}

/* The response's FIN at a frame boundary. */
static void response_end(struct h3_session *s, struct h3_stream *st)
{
    st->request_done = true;
    if (!st->headers_in) {
        client_fail(s, st, H3_MESSAGE_ERROR, "the stream ended before the response head");
        return;
    }
    if (response_has_content(st) && st->content_length >= 0 &&
        st->body_received != (uint64_t)st->content_length) {
        client_fail(s, st, H3_MESSAGE_ERROR, "less content than the content-length");
        return;
    }
    st->end_code = H3_NO_ERROR;
    st->end_why = "complete";
    /* §4.1.1: a complete response ends the exchange; what is left of the upload is not
     * needed any more */
    if (!st->fin_sent && s->cb->reset_stream) s->cb->reset_stream(s->ud, st->id, H3_NO_ERROR);
    stream_close(s, st);
}

struct h3_stream *h3_session_submit(struct h3_session *s, const struct h3_request_head *h,
                                    struct body_source *body, int64_t body_len, void *user)
{
    struct h3_stream *st = NULL;
    struct http_field *f = NULL;
    size_t n = 0, cap = h->n + 4;
    if (!s->p.client || s->dead || s->peer_goaway_id != UINT64_MAX) goto fail;
    int64_t id = s->cb->open_bidi ? s->cb->open_bidi(s->ud) : s->next_bidi;
    if (id < 0 || (id & 3) != 0) goto fail;
    if (id >= s->next_bidi) s->next_bidi = id + 4;
    st = stream_new(s, id, H3_KIND_REQUEST);
    if (!st) goto fail;
    st->user = user;
    st->head_request = str_eq(h->method, STR_LIT("HEAD"));
    /* §4.3.1: the pseudo-header fields first */
    if (!(f = pool_alloc(st->pool, cap * sizeof(*f)))) goto fail_stream;
    add_out(f, &n, cap, STR_LIT(":method"), h->method, HTTP_TOKEN_NONE);
    add_out(f, &n, cap, STR_LIT(":scheme"), h->scheme, HTTP_TOKEN_NONE);
    add_out(f, &n, cap, STR_LIT(":authority"), h->authority, HTTP_TOKEN_NONE);
    add_out(f, &n, cap, STR_LIT(":path"), h->path, HTTP_TOKEN_NONE);
    for (size_t i = 0; i < h->n; i++)
        add_out(f, &n, cap, h->names[i], h->values[i],
                http_token_lookup(h->names[i].p, h->names[i].len));
    buf_clear(&s->hbuf);
    if (qpack_encode_section(&s->enc, (uint64_t)st->id, f, n, &s->hbuf) != QPACK_OK ||
        h3_write_headers(&st->out, buf_ptr(&s->hbuf), buf_size(&s->hbuf)) < 0)
        goto fail_stream;
    flush_qpack(s);
    st->headers_out = true;
    st->resp.content_length = body_len;
    if (body && body_len != 0) {
        st->resp.body = body;
    } else {
        if (body && body->close) body->close(body);
        st->body_rd.eof = true;
        st->fin_out = true;
    }
    return st;
fail_stream:
    st->ended = true; /* the caller learns from the NULL */
    if (s->cb->reset_stream) s->cb->reset_stream(s->ud, st->id, H3_INTERNAL_ERROR);
    stream_close(s, st); /* body was not attached to it yet: closed below */
fail:
    if (body && body->close) body->close(body);
    return NULL;
}
