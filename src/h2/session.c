#include "h2/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/stats.h"
#include "h2/fingerprint.h"
#include "h2/flow.h"
#include "http/reqcheck.h"

#define SETTINGS_ACK_TIMEOUT_MS 10000
/* a header block may exceed max_header_list_size by this much (compression overhead) before
 * it is a flood; within it, a decoded list over the limit is answered 431 */
#define BLOCK_SLACK(max) ((size_t)(max) / 2 + 1024)
#define URGENCY_PUSH     (HTTP_URGENCY_DEFAULT + 1)
#define TRIM_AFTER_MS    1000

/* Interim (1xx) responses a client takes on one stream before it gives up on it. */
#define MAX_INTERIM 16

enum block_kind {
    BLOCK_REQUEST,
    BLOCK_RESPONSE,
    BLOCK_TRAILERS,
    BLOCK_DISCARD,
    BLOCK_REFUSE,
    BLOCK_CLOSED
};

static void stream_close(struct h2_session *s, struct h2_stream *st);
static void respond(struct h2_session *s, struct h2_stream *st);

/* ---- errors ---- */

/* A connection error (§5.4.1): GOAWAY with the code, then the connection closes. */
/* The second step of a graceful stop: the streams taken so far are the last ones. */
static void send_final_goaway(struct h2_session *s)
{
    if (s->draining) return;
    h2_write_goaway(&s->out, s->last_client_id, H2_NO_ERROR, NULL);
    s->draining = true;
    s->goaway_notice = false;
    s->goaway_deadline_ms = 0;
    s->goaway_last_id = s->last_client_id;
}

/* A limit against abusive peers was crossed (for metrics; a client session does not count). */
static void defence_counted(const struct h2_session *s, enum stats_h2_defence kind)
{
    if (!s->p.client) STATS_INC(h2_defence[kind]);
}

static void conn_error(struct h2_session *s, uint32_t code, const char *reason)
{
    if (s->dead) return;
    log_info("%s: HTTP/2 connection error %s: %s", s->peer, h2_error_name(code), reason);
    h2_write_goaway(&s->out, s->last_client_id, code, reason);
    s->error_code = code;
    s->error_reason = reason;
    s->dead = true;
}

/* A stream id the peer cannot have used yet (§5.1.1): a server's idle ids are the client ids
 * above the last one and push ids not promised yet; a client that disabled push sees every
 * even id as idle, and its own ids from the next one it would open. */
static bool idle_id(const struct h2_session *s, uint32_t id)
{
    if (s->p.client) return (id & 1) == 0 || id >= s->next_stream_id;
    return (id & 1) ? id > s->last_client_id : id >= s->next_push_id;
}

static void remember_reset(struct h2_session *s, uint32_t id)
{
    s->recent_resets[s->recent_reset_pos++ % 32] = id;
}

static bool recently_reset(const struct h2_session *s, uint32_t id)
{
    for (unsigned i = 0; i < 32; i++)
        if (s->recent_resets[i] == id) return true;
    return false;
}

/* Counts a reset the client caused (its RST_STREAM or a stream error); Rapid Reset defence. */
static void count_reset(struct h2_session *s)
{
    if (s->p.client) return; /* a server resets only streams the client opened */
    if (h2_budget_spend(&s->resets, s->now_ms, 1, s->p.h2.max_resets_per_10s)) {
        defence_counted(s, SH2_RESETS);
        conn_error(s, H2_ENHANCE_YOUR_CALM, "too many stream resets");
    }
}

/* A frame that did no useful work (flood defence). */
static void count_idle(struct h2_session *s)
{
    if (h2_budget_spend(&s->idle_frames, s->now_ms, 1, s->p.h2.max_idle_frames_per_10s)) {
        defence_counted(s, SH2_IDLE_FRAMES);
        conn_error(s, H2_ENHANCE_YOUR_CALM, "too many frames doing no work");
    }
}

/* A stream error (§5.4.2): RST_STREAM, the stream is closed. */
static void stream_error(struct h2_session *s, uint32_t id, uint32_t code, bool client_fault)
{
    h2_write_rst_stream(&s->out, id, code);
    remember_reset(s, id);
    struct h2_stream *st = h2_stream_find(&s->streams, id);
    if (st) {
        st->error_code = code;
        if (!st->error) st->error = h2_error_name(code);
        stream_close(s, st);
    }
    if (client_fault) count_reset(s);
}

/* Client role: the response on st is unusable; reset the stream and say why. */
static void response_error(struct h2_session *s, struct h2_stream *st, uint32_t code,
                           const char *why)
{
    log_debug("%s: stream %u: %s", s->peer, st->id, why);
    st->error = why;
    stream_error(s, st->id, code, false);
}

/* ---- streams ---- */

static struct pool *take_pool(struct h2_session *s)
{
    if (s->n_spare_pools) return s->spare_pools[--s->n_spare_pools];
    return s->cb->take_pool ? s->cb->take_pool(s->ud) : pool_create(4096);
}

static void release_pool(struct h2_session *s, struct pool *p)
{
    if (s->cb->give_pool)
        s->cb->give_pool(s->ud, p);
    else
        pool_destroy(p);
}

/* Streams come and go in bursts as large as the client's concurrency: while other streams are
 * open the session keeps the pools (reset) for its next burst, until it has been quiet for
 * TRIM_AFTER_MS. The last stream's pool goes back to the worker at once, so many connections
 * with a request each share the worker's pools. */
static void give_pool(struct h2_session *s, struct pool *p)
{
    if (s->streams.count > 0 && s->n_spare_pools < H2_SPARE_POOLS) {
        pool_reset(p);
        s->spare_pools[s->n_spare_pools++] = p;
    } else {
        release_pool(s, p);
    }
}

static int send_interim(struct http_request *req, int status, const struct http_fields *fields);

static struct h2_stream *stream_new(struct h2_session *s, uint32_t id)
{
    struct pool *pool = take_pool(s);
    if (!pool) return NULL;
    struct h2_stream *st = pool_calloc(pool, sizeof(*st));
    if (!st) {
        give_pool(s, pool);
        return NULL;
    }
    st->id = id;
    st->sched.id = id;
    st->sched.prio.urgency = HTTP_URGENCY_DEFAULT;
    st->session = s;
    st->pool = pool;
    st->content_length = -1;
    st->send_window = s->peer_initial_window;
    st->recv_window = s->local_initial_window;
    st->req.pool = pool;
    st->req.version = 20;
    st->req.is_tls = s->p.is_tls;
    st->req.scheme = s->p.is_tls ? STR_LIT("https") : STR_LIT("http");
    st->req.now_ms = s->now_ms;
    st->req.now = (time_t)(s->now_ms / 1000);
    _Static_assert(sizeof(st->req.peer) >= sizeof(s->peer), "peer fits");
    memcpy(st->req.peer, s->peer, s->peer_len + 1);
    st->req.send_interim = send_interim;
    st->req.wire = st;
    st->resp.content_length = -1;
    st->error_code = UINT32_MAX;
    h2_stream_insert(&s->streams, st);
    s->idle_deadline_ms = 0;
    return st;
}

static void resume_unlink(struct h2_session *s, struct h2_stream *st);

static void stream_close(struct h2_session *s, struct h2_stream *st)
{
    resume_unlink(s, st);
    http_sched_remove(&s->sched, &st->sched);
    h2_stream_remove(&s->streams, st);
    if (st->pushed)
        s->n_pushed--;
    else
        s->n_client_streams--;
    if (st->dispatched && s->cb->on_stream_close) s->cb->on_stream_close(s, st);
    if (st->resp.body && st->resp.body->close) st->resp.body->close(st->resp.body);
    st->resp.body = NULL;
    if (st->upload && st->upload->close) st->upload->close(st->upload);
    st->upload = NULL;
    buf_free(&st->body);
    give_pool(s, st->pool);
    if (s->streams.count == 0 && !s->dead && !s->p.client) {
        s->idle_deadline_ms = s->now_ms + (int64_t)(s->p.h2.idle_timeout * 1000);
        s->trim_deadline_ms = s->now_ms + TRIM_AFTER_MS;
    }
}

/* ---- header blocks ---- */

/* The field rules are HTTP/3's too: src/http/reqcheck.c checks them. */
static int on_field(void *ctx, str_t name, str_t value, enum http_token token)
{
    return http_reqcheck_field(ctx, name, value, token);
}

/* The same, while the first request's fields also make the client's fingerprint. */
struct fingerprint_ctx {
    struct http_reqcheck *check;
    struct h2_fingerprint *fp;
};

static int on_field_fingerprint(void *ctx, str_t name, str_t value, enum http_token token)
{
    struct fingerprint_ctx *x = ctx;
    h2_fingerprint_field(x->fp, name);
    return http_reqcheck_field(x->check, name, value, token);
}

static int on_field_discard(void *ctx, str_t name, str_t value, enum http_token token)
{
    (void)ctx;
    (void)name;
    (void)value;
    (void)token;
    return 1;
}

/* Runs a complete request through on_request and answers it. */
static void dispatch(struct h2_session *s, struct h2_stream *st)
{
    st->dispatched = true;
    if (s->fp && s->fp->done) st->req.h2_fingerprint = s->fp->text;
    st->req.body = st->body.data && !st->streaming ? buf_ptr(&st->body) : ""; /* no NULL + 0 */
    st->req.body_len = st->streaming ? 0 : buf_size(&st->body);
    s->cb->on_request(s, st);
    if (!st->resp.pending) respond(s, st); /* else h2_session_resume, once it is ready */
}

/* Client role: the response on st ended (END_STREAM). */
static void response_end(struct h2_session *s, struct h2_stream *st)
{
    if (st->content_length >= 0 && st->body_received != (uint64_t)st->content_length) {
        response_error(s, st, H2_PROTOCOL_ERROR, "content-length does not match the DATA");
        return;
    }
    st->response_done = true;
    if (h2_stream_on_end_stream_in(st)) {
        stream_close(s, st);
    } else {
        /* §8.1: a complete response before the whole request: the rest is not wanted */
        h2_write_rst_stream(&s->out, st->id, H2_CANCEL);
        remember_reset(s, st->id);
        stream_close(s, st);
    }
}

/* Client role: a decoded response header or trailer section (§8.1, §8.3.2). */
static void response_block(struct h2_session *s, struct h2_stream *st, const uint8_t *blk,
                           size_t len, bool end_stream, bool trailers)
{
    struct http_reqcheck c;
    struct http_fields trailer_fields = {0};
    if (!trailers) st->resp.headers.count = 0;
    http_reqcheck_init_response(&c, trailers ? &trailer_fields : &st->resp.headers, st->pool,
                                s->p.header_count, trailers);
    enum hpack_result r =
        hpack_decode(&s->dec, blk, len, s->p.h2.max_header_list_size, st->pool, on_field, &c);
    if (r == HPACK_ERR_COMPRESSION) {
        conn_error(s, H2_COMPRESSION_ERROR, "HPACK decoding failed");
        return;
    }
    if (r == HPACK_ERR_TOO_LARGE || c.too_many) {
        response_error(s, st, H2_CANCEL, "response header section over the limit");
        return;
    }
    if (trailers && !end_stream) c.malformed = true, c.why = "trailers without END_STREAM";
    if (!trailers) http_reqcheck_finish_response(&c);
    if (!c.malformed && !trailers) {
        if (c.status == 101) c.malformed = true, c.why = "101 in HTTP/2"; /* §8.6 */
        if (c.status < 200 && end_stream) c.malformed = true, c.why = "1xx with END_STREAM";
    }
    if (c.malformed) {
        response_error(s, st, H2_PROTOCOL_ERROR, c.why);
        return;
    }
    if (trailers) {
        response_end(s, st);
        return;
    }
    st->resp.status = c.status;
    if (c.status < 200) {
        if (++st->n_interim > MAX_INTERIM) {
            response_error(s, st, H2_CANCEL, "too many interim responses");
            return;
        }
        if (s->cb->on_response) s->cb->on_response(s, st, true);
        st->resp.headers.count = 0;
        return;
    }
    st->final_head = true;
    st->resp.content_length = c.content_length;
    /* §8.1.1: no content after HEAD, 204 or 304 whatever content-length says */
    bool no_body = st->head_request || c.status == 204 || c.status == 304;
    st->content_length = no_body ? 0 : c.content_length;
    if (s->cb->on_response) s->cb->on_response(s, st, false);
    if (end_stream) response_end(s, st);
}

/* Decodes a complete field block for stream id. */
static void consume_stream(struct h2_session *s, struct h2_stream *st, uint32_t n);

/* req.body_in of a streamed request: the DATA received so far, as the handler pulls it; what
 * it took reopens the stream window (the handler's pace is the client's). */
static enum body_next_result body_in_next(struct body_source *src, struct body_chunk *out,
                                          size_t max)
{
    struct h2_stream *st = (struct h2_stream *)((char *)src - offsetof(struct h2_stream, body_src));
    struct h2_session *s = st->session;
    if (st->body_handed) {
        buf_consume(&st->body, st->body_handed);
        if (!st->end_stream_in && !s->dead) {
            consume_stream(s, st, (uint32_t)st->body_handed);
            if (buf_size(&s->out) && s->cb->want_write) s->cb->want_write(s->ud);
        }
        st->body_handed = 0;
    }
    if (st->req.body_in_status || s->dead) return BODY_ERROR;
    size_t n = buf_size(&st->body);
    if (n == 0) {
        if (st->end_stream_in) return BODY_END;
        st->body_in_waiting = true;
        return BODY_WAIT;
    }
    if (n > max) n = max;
    *out = (struct body_chunk){.kind = BODY_CHUNK_MEM, .data = buf_ptr(&st->body), .len = n};
    st->body_handed = n;
    return BODY_CHUNK;
}

/* Wakes a handler waiting for more of a streamed body (its wake only queues its work). */
static void body_in_wake(struct h2_stream *st)
{
    if (!st->streaming || !st->body_in_waiting) return;
    st->body_in_waiting = false;
    if (st->req.body_in_wake) st->req.body_in_wake(st->req.body_in_ctx);
}

/* The request head is in, its body to come, and its handler takes the body as it arrives. */
static void start_streaming(struct h2_session *s, struct h2_stream *st)
{
    st->streaming = true;
    st->body_src.next = body_in_next;
    st->req.body_in = &st->body_src;
    st->req.body_in_length = st->content_length;
    dispatch(s, st);
}

static void process_block(struct h2_session *s, uint32_t id, int kind, const uint8_t *blk,
                          size_t len, bool end_stream)
{
    struct h2_stream *st = h2_stream_find(&s->streams, id);
    if (kind == BLOCK_REQUEST || kind == BLOCK_RESPONSE || kind == BLOCK_TRAILERS) {
        if (!st) kind = BLOCK_DISCARD; /* reset while its block was arriving */
    }
    size_t max_list = s->p.h2.max_header_list_size;
    if (kind != BLOCK_REQUEST && kind != BLOCK_RESPONSE && kind != BLOCK_TRAILERS) {
        if (!s->scratch && !(s->scratch = take_pool(s))) {
            conn_error(s, H2_INTERNAL_ERROR, "out of memory");
            return;
        }
        enum hpack_result r =
            hpack_decode(&s->dec, blk, len, max_list, s->scratch, on_field_discard, NULL);
        pool_reset(s->scratch);
        if (r == HPACK_ERR_COMPRESSION) {
            conn_error(s, H2_COMPRESSION_ERROR, "HPACK decoding failed");
            return;
        }
        if (kind == BLOCK_REFUSE) {
            h2_write_rst_stream(&s->out, id, H2_REFUSED_STREAM);
            remember_reset(s, id);
        } else if (kind == BLOCK_CLOSED) {
            conn_error(s, H2_STREAM_CLOSED, "HEADERS on a closed stream");
        } else {
            count_idle(s);
        }
        return;
    }
    if (s->p.client) {
        response_block(s, st, blk, len, end_stream, kind == BLOCK_TRAILERS);
        return;
    }
    struct http_reqcheck c;
    http_reqcheck_init(&c, &st->req, s->p.header_count, kind == BLOCK_TRAILERS);
    c.allow_http2_settings = true;
    c.allow_protocol = s->p.extended_connect;
    c.content_length = st->content_length;
    struct fingerprint_ctx fx = {&c, s->fp};
    bool first = s->fp && !s->fp->done && kind == BLOCK_REQUEST;
    enum hpack_result r =
        hpack_decode(&s->dec, blk, len, max_list, st->pool, first ? on_field_fingerprint : on_field,
                     first ? (void *)&fx : (void *)&c);
    if (first) h2_fingerprint_finish(s->fp);
    if (r == HPACK_ERR_COMPRESSION) {
        conn_error(s, H2_COMPRESSION_ERROR, "HPACK decoding failed");
        return;
    }
    if (kind != BLOCK_TRAILERS) st->content_length = c.content_length;
    if (kind == BLOCK_TRAILERS) {
        if (!end_stream) c.malformed = true, c.why = "trailers without END_STREAM";
    } else if (!c.malformed && r != HPACK_ERR_TOO_LARGE && !c.too_many) {
        http_reqcheck_finish(&c);
        for (size_t i = 0; i < st->req.headers.count; i++)
            if (st->req.headers.items[i].token == HTTP_TOKEN_PRIORITY)
                http_priority_parse(st->req.headers.items[i].value, &st->sched.prio);
    }
    if (c.malformed) {
        log_debug("%s: stream %u malformed: %s", s->peer, id, c.why);
        stream_error(s, id, H2_PROTOCOL_ERROR, true);
        return;
    }
    if (r == HPACK_ERR_TOO_LARGE || c.too_many) {
        if (kind == BLOCK_TRAILERS) {
            stream_error(s, id, H2_PROTOCOL_ERROR, true);
            return;
        }
        st->reject_status = 431;
    }
    if (end_stream) {
        h2_stream_on_end_stream_in(st);
        if (st->content_length >= 0 && (uint64_t)st->content_length != st->body_received &&
            !st->reject_status) {
            stream_error(s, id, H2_PROTOCOL_ERROR, true);
            return;
        }
    } else if (st->content_length >= 0 && (uint64_t)st->content_length > s->p.body_size) {
        st->reject_status = 413;
    }
    if (kind == BLOCK_TRAILERS && st->reject_status) {
        /* already answered; the request is now complete */
        if (st->end_stream_out) stream_close(s, st);
        return;
    }
    if (!st->reject_status && !end_stream && s->cb->streams_body && s->cb->streams_body(s, st)) {
        start_streaming(s, st);
        return;
    }
    if (st->reject_status || end_stream) dispatch(s, st);
}

/* ---- frames ---- */

static void begin_block(struct h2_session *s, const struct h2_frame *f, int kind);

/* Client role: HEADERS carry a response head or its trailers. */
static void on_response_headers(struct h2_session *s, const struct h2_frame *f)
{
    uint32_t id = f->hd.stream_id;
    int kind;
    struct h2_stream *st = h2_stream_find(&s->streams, id);
    if (!st) {
        if (idle_id(s, id)) {
            conn_error(s, H2_PROTOCOL_ERROR, "HEADERS on an idle stream");
            return;
        }
        kind = recently_reset(s, id) ? BLOCK_DISCARD : BLOCK_CLOSED;
    } else if (st->end_stream_in) {
        kind = BLOCK_DISCARD; /* decoded to keep HPACK in sync */
        response_error(s, st, H2_STREAM_CLOSED, "HEADERS after the end of the response");
    } else {
        kind = st->final_head ? BLOCK_TRAILERS : BLOCK_RESPONSE;
    }
    begin_block(s, f, kind);
}

static void on_headers(struct h2_session *s, const struct h2_frame *f)
{
    s->header_bytes_in += f->data_len;
    if (s->p.client) {
        on_response_headers(s, f);
        return;
    }
    uint32_t id = f->hd.stream_id;
    int kind;
    if ((id & 1) == 0) {
        conn_error(s, H2_PROTOCOL_ERROR, "HEADERS on an even stream id");
        return;
    }
    struct h2_stream *st = h2_stream_find(&s->streams, id);
    if (st) {
        if (st->pushed || st->end_stream_in) {
            /* §5.1: half-closed (remote): STREAM_CLOSED; decode to keep HPACK in sync */
            kind = BLOCK_DISCARD;
            h2_write_rst_stream(&s->out, id, H2_STREAM_CLOSED);
            remember_reset(s, id);
            stream_close(s, st);
            count_reset(s);
        } else {
            kind = BLOCK_TRAILERS;
        }
    } else if (id <= s->last_client_id) {
        kind = recently_reset(s, id) ? BLOCK_DISCARD : BLOCK_CLOSED;
    } else {
        s->last_client_id = id;
        if (s->draining || s->peer_goaway) {
            kind = BLOCK_DISCARD; /* §6.8: streams after GOAWAY are ignored */
        } else if (s->n_client_streams >= s->p.h2.max_concurrent_streams) {
            kind = BLOCK_REFUSE; /* §5.1.2 */
        } else {
            st = stream_new(s, id);
            if (!st) {
                kind = BLOCK_REFUSE;
            } else {
                s->n_client_streams++;
                kind = BLOCK_REQUEST;
            }
        }
    }
    begin_block(s, f, kind);
}

/* Processes a HEADERS frame's block, or starts reassembling it from CONTINUATION frames. */
static void begin_block(struct h2_session *s, const struct h2_frame *f, int kind)
{
    uint32_t id = f->hd.stream_id;
    if (f->hd.flags & H2_FLAG_END_HEADERS) {
        process_block(s, id, kind, f->data, f->data_len, f->hd.flags & H2_FLAG_END_STREAM);
        return;
    }
    buf_clear(&s->hbuf);
    if (buf_append(&s->hbuf, f->data, f->data_len) < 0) {
        conn_error(s, H2_INTERNAL_ERROR, "out of memory");
        return;
    }
    s->hb_stream = id;
    s->hb_flags = f->hd.flags;
    s->hb_continuations = 0;
    s->hb_kind = kind;
    s->block_deadline_ms = s->now_ms + (int64_t)(s->p.h2.preface_timeout * 1000);
}

static void on_continuation(struct h2_session *s, const struct h2_frame *f)
{
    s->header_bytes_in += f->data_len;
    if (++s->hb_continuations > s->p.h2.max_continuations) {
        defence_counted(s, SH2_CONTINUATION);
        conn_error(s, H2_ENHANCE_YOUR_CALM, "too many CONTINUATION frames");
        return;
    }
    if (buf_size(&s->hbuf) + f->data_len >
        (size_t)s->p.h2.max_header_list_size + BLOCK_SLACK(s->p.h2.max_header_list_size)) {
        defence_counted(s, SH2_HEADER_SIZE);
        conn_error(s, H2_ENHANCE_YOUR_CALM, "header block too large");
        return;
    }
    if (buf_append(&s->hbuf, f->data, f->data_len) < 0) {
        conn_error(s, H2_INTERNAL_ERROR, "out of memory");
        return;
    }
    if (!(f->hd.flags & H2_FLAG_END_HEADERS)) return;
    uint32_t id = s->hb_stream;
    s->hb_stream = 0;
    s->block_deadline_ms = 0;
    process_block(s, id, s->hb_kind, (const uint8_t *)buf_ptr(&s->hbuf), buf_size(&s->hbuf),
                  s->hb_flags & H2_FLAG_END_STREAM);
    buf_clear(&s->hbuf);
}

/* Returns consumed receive window, sending WINDOW_UPDATEs at half the window. */
static void consume_conn(struct h2_session *s, uint32_t n)
{
    s->recv_unacked += n;
    if (h2_window_should_update(s->recv_unacked, s->p.h2.connection_window)) {
        h2_write_window_update(&s->out, 0, s->recv_unacked);
        s->recv_window += s->recv_unacked;
        s->recv_unacked = 0;
    }
}

/* Returns consumed stream window, sending WINDOW_UPDATEs at half the window. */
static void consume_stream(struct h2_session *s, struct h2_stream *st, uint32_t n)
{
    st->recv_unacked += n;
    if (h2_window_should_update(st->recv_unacked, s->local_initial_window)) {
        h2_write_window_update(&s->out, st->id, st->recv_unacked);
        st->recv_window += st->recv_unacked;
        st->recv_unacked = 0;
    }
}

/* Client role: response body bytes, handed on as they come; the windows reopen at once. */
static void response_data(struct h2_session *s, struct h2_stream *st, const struct h2_frame *f,
                          uint32_t flow)
{
    if (flow > st->recv_window) {
        conn_error(s, H2_FLOW_CONTROL_ERROR, "DATA beyond the stream window");
        return;
    }
    st->recv_window -= flow;
    consume_conn(s, flow);
    bool end = f->hd.flags & H2_FLAG_END_STREAM;
    if (!st->final_head) {
        response_error(s, st, H2_PROTOCOL_ERROR, "DATA before the response head");
        return;
    }
    if (f->data_len == 0 && !end) count_idle(s);
    st->body_received += f->data_len;
    if (st->content_length >= 0 && st->body_received > (uint64_t)st->content_length) {
        response_error(s, st, H2_PROTOCOL_ERROR, "more DATA than content-length");
        return;
    }
    if (f->data_len && s->cb->on_data && s->cb->on_data(s, st, f->data, f->data_len) < 0) {
        h2_session_cancel(s, st);
        return;
    }
    if (end)
        response_end(s, st);
    else if (!s->p.hold_window)
        consume_stream(s, st, flow);
    else if (flow > f->data_len)
        consume_stream(s, st, flow - (uint32_t)f->data_len); /* padding: nobody takes it */
}

static void on_data(struct h2_session *s, const struct h2_frame *f)
{
    uint32_t id = f->hd.stream_id;
    uint32_t flow = f->hd.length;
    if (flow > s->recv_window) {
        conn_error(s, H2_FLOW_CONTROL_ERROR, "DATA beyond the connection window");
        return;
    }
    s->recv_window -= flow;
    struct h2_stream *st = h2_stream_find(&s->streams, id);
    if (!st) {
        if (s->p.client ? idle_id(s, id) : id > s->last_client_id || (id & 1) == 0) {
            conn_error(s, H2_PROTOCOL_ERROR, "DATA on an idle stream");
            return;
        }
        consume_conn(s, flow);
        if (!recently_reset(s, id)) {
            h2_write_rst_stream(&s->out, id, H2_STREAM_CLOSED);
            remember_reset(s, id);
        }
        count_idle(s);
        return;
    }
    if (st->pushed || st->end_stream_in) {
        consume_conn(s, flow);
        stream_error(s, id, H2_STREAM_CLOSED, true);
        return;
    }
    if (s->p.client) {
        response_data(s, st, f, flow);
        return;
    }
    if (flow > st->recv_window) {
        conn_error(s, H2_FLOW_CONTROL_ERROR, "DATA beyond the stream window");
        return;
    }
    st->recv_window -= flow;
    bool end = f->hd.flags & H2_FLAG_END_STREAM;
    if (f->data_len == 0 && !end) count_idle(s);
    st->body_received += f->data_len;
    if (st->content_length >= 0 && st->body_received > (uint64_t)st->content_length) {
        consume_conn(s, flow);
        stream_error(s, id, H2_PROTOCOL_ERROR, true);
        return;
    }
    if (st->streaming) {
        /* the window bounds what waits here; it reopens as the handler takes the bytes. A
         * CONNECT stream's DATA is a tunnel's, not a request body: no size limit */
        if (st->body_received > s->p.body_size && st->req.method != HTTP_METHOD_CONNECT) {
            if (!st->req.body_in_status)
                log_info("%s: 413 request body larger than the limit", s->peer);
            st->req.body_in_status = 413;
        } else if (f->data_len && buf_append(&st->body, f->data, f->data_len) < 0) {
            conn_error(s, H2_INTERNAL_ERROR, "out of memory");
            return;
        }
        consume_conn(s, flow);
        if (f->data_len < flow) consume_stream(s, st, flow - f->data_len); /* padding */
        if (end && st->content_length >= 0 && st->body_received != (uint64_t)st->content_length) {
            stream_error(s, id, H2_PROTOCOL_ERROR, true);
            return;
        }
        if (end && h2_stream_on_end_stream_in(st)) { /* answered already: nothing waits */
            stream_close(s, st);
            return;
        }
        body_in_wake(st);
        return;
    }
    if (!st->reject_status) {
        if (st->body_received > s->p.body_size) {
            st->reject_status = 413;
            buf_free(&st->body);
        } else if (f->data_len && buf_append(&st->body, f->data, f->data_len) < 0) {
            conn_error(s, H2_INTERNAL_ERROR, "out of memory");
            return;
        }
    }
    consume_conn(s, flow);
    if (!end) consume_stream(s, st, flow);
    if (end) {
        bool closed = h2_stream_on_end_stream_in(st);
        if (st->content_length >= 0 && st->body_received != (uint64_t)st->content_length &&
            !st->reject_status) {
            stream_error(s, id, H2_PROTOCOL_ERROR, true);
            return;
        }
        if (closed) {
            stream_close(s, st);
            return;
        }
    }
    if (st->reject_status && !st->dispatched)
        dispatch(s, st);
    else if (end && !st->dispatched)
        dispatch(s, st);
}

static void apply_peer_settings(struct h2_session *s, const struct h2_frame *f)
{
    for (size_t i = 0; i < f->n_settings; i++) {
        uint16_t id;
        uint32_t v;
        h2_settings_get(f, i, &id, &v);
        switch (id) {
        case H2_SETTINGS_HEADER_TABLE_SIZE: hpack_encoder_set_max_table_size(&s->enc, v); break;
        case H2_SETTINGS_ENABLE_PUSH:
            if (s->p.client && v != 0) { /* §6.5.2 */
                conn_error(s, H2_PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH from a server");
                return;
            }
            s->peer_push = v == 1;
            break;
        case H2_SETTINGS_MAX_CONCURRENT_STREAMS: s->peer_max_streams = v; break;
        case H2_SETTINGS_INITIAL_WINDOW_SIZE: {
            int64_t delta = (int64_t)v - (int64_t)s->peer_initial_window;
            for (struct h2_stream *st = s->streams.all; st; st = st->next) {
                if (h2_window_add(&st->send_window, delta) < 0) {
                    conn_error(s, H2_FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE overflow");
                    return;
                }
            }
            s->peer_initial_window = v;
            break;
        }
        case H2_SETTINGS_MAX_FRAME_SIZE: s->peer_max_frame = v; break;
        case H2_SETTINGS_ENABLE_CONNECT_PROTOCOL:
            /* RFC 8441 §3: 0 or 1, and never back to 0 once 1 */
            if (v > 1 || (s->peer_extended_connect && v == 0)) {
                conn_error(s, H2_PROTOCOL_ERROR, "invalid SETTINGS_ENABLE_CONNECT_PROTOCOL");
                return;
            }
            s->peer_extended_connect = v == 1;
            break;
        default: break;
        }
    }
}

static void on_settings(struct h2_session *s, const struct h2_frame *f)
{
    if (f->hd.flags & H2_FLAG_ACK) {
        if (!s->settings_acked) {
            s->settings_acked = true;
            s->settings_deadline_ms = 0;
            /* our INITIAL_WINDOW_SIZE now holds instead of the default (§6.9.2) */
            int64_t delta = (int64_t)s->p.h2.initial_window_size - (int64_t)s->local_initial_window;
            if (delta) {
                for (struct h2_stream *st = s->streams.all; st; st = st->next)
                    st->recv_window += delta;
                s->local_initial_window = s->p.h2.initial_window_size;
            }
        } else {
            count_idle(s);
        }
        return;
    }
    if (s->settings_in) count_idle(s);
    s->settings_in = true;
    apply_peer_settings(s, f);
    if (s->dead) return;
    h2_write_settings_ack(&s->out);
    s->control_queued += H2_FRAME_HEADER_LEN;
}

static struct body_source **out_body(struct h2_stream *st);

/* True while st has a body still to send, between pulls of its source (a streamed upload or a
 * proxied response waiting for its next bytes): the peer's WINDOW_UPDATEs acknowledge what it
 * got, and a peer that sends one per DATA frame is doing nothing wrong. */
static bool body_in_progress(struct h2_stream *st)
{
    return st->headers_out && !st->end_stream_out && *out_body(st);
}

static bool any_body_in_progress(struct h2_session *s)
{
    for (struct h2_stream *st = s->streams.all; st; st = st->next)
        if (body_in_progress(st)) return true;
    return false;
}

static void on_window_update(struct h2_session *s, const struct h2_frame *f)
{
    uint32_t id = f->hd.stream_id;
    if (id == 0) {
        if (h2_window_add(&s->send_window, f->increment) < 0) {
            conn_error(s, H2_FLOW_CONTROL_ERROR, "connection window above 2^31-1");
            return;
        }
        if (s->sched.count == 0 && !any_body_in_progress(s)) count_idle(s);
        return;
    }
    struct h2_stream *st = h2_stream_find(&s->streams, id);
    if (!st) {
        if (s->p.client ? idle_id(s, id) : (id & 1) && id > s->last_client_id) {
            conn_error(s, H2_PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
            return;
        }
        count_idle(s);
        return;
    }
    if (h2_window_add(&st->send_window, f->increment) < 0) {
        stream_error(s, id, H2_FLOW_CONTROL_ERROR, true);
        return;
    }
    if (!st->sched.queued && !body_in_progress(st)) count_idle(s);
}

static void on_rst_stream(struct h2_session *s, const struct h2_frame *f)
{
    uint32_t id = f->hd.stream_id;
    struct h2_stream *st = h2_stream_find(&s->streams, id);
    if (!st) {
        if (idle_id(s, id)) {
            conn_error(s, H2_PROTOCOL_ERROR, "RST_STREAM on an idle stream");
            return;
        }
        count_idle(s);
        return;
    }
    st->error_code = f->error_code;
    if (!st->error) st->error = "the stream was reset by the peer";
    /* Rapid Reset: the stream stops costing anything now */
    stream_close(s, st);
    count_reset(s);
}

static void on_priority_update(struct h2_session *s, const struct h2_frame *f)
{
    if (s->p.client) { /* RFC 9218 §7.1 */
        conn_error(s, H2_PROTOCOL_ERROR, "PRIORITY_UPDATE from a server");
        return;
    }
    if ((f->prioritized_id & 1) == 0) {
        conn_error(s, H2_PROTOCOL_ERROR, "PRIORITY_UPDATE for a push stream");
        return;
    }
    count_idle(s);
    struct h2_stream *st = h2_stream_find(&s->streams, f->prioritized_id);
    if (st) {
        http_priority_parse(str_make((const char *)f->data, f->data_len), &st->sched.prio);
        http_sched_update(&s->sched, &st->sched);
    }
}

/* Client role, §6.8: streams above the server's last stream id were not processed and may be
 * retried elsewhere; those up to it go on. */
static void on_server_goaway(struct h2_session *s, const struct h2_frame *f)
{
    s->peer_goaway_id = f->last_stream_id;
    s->peer_error_code = f->error_code;
    struct h2_stream *st = s->streams.all;
    while (st) {
        struct h2_stream *next = st->next;
        if (st->id > f->last_stream_id) {
            st->error = "refused by the server's GOAWAY (not processed)";
            st->error_code = H2_REFUSED_STREAM;
            stream_close(s, st);
        }
        st = next;
    }
}

static void on_frame(struct h2_session *s, const struct h2_frame_header *hd, const uint8_t *payload)
{
    struct h2_frame f;
    struct h2_frame_error err;
    if (s->hb_stream && (hd->type != H2_CONTINUATION || hd->stream_id != s->hb_stream)) {
        conn_error(s, H2_PROTOCOL_ERROR, "frame interleaved in a header block");
        return;
    }
    if (!s->settings_in && hd->type != H2_SETTINGS) {
        conn_error(s, H2_PROTOCOL_ERROR, "first frame is not SETTINGS");
        return;
    }
    if (h2_frame_parse(hd, payload, &f, &err) < 0) {
        if (err.stream) {
            if (hd->type == H2_HEADERS) {
                /* the block must still be decoded: treat the stream as refused/reset */
                conn_error(s, err.code, err.reason);
                return;
            }
            stream_error(s, hd->stream_id, err.code, true);
        } else {
            conn_error(s, err.code, err.reason);
        }
        return;
    }
    if (!s->settings_in && (hd->flags & H2_FLAG_ACK)) {
        conn_error(s, H2_PROTOCOL_ERROR, "first SETTINGS is an ACK");
        return;
    }
    if (s->p.fingerprint && (!s->fp || !s->fp->done)) { /* before the first request only */
        if (!s->fp && !(s->fp = calloc(1, sizeof(*s->fp))))
            s->p.fingerprint = false; /* out of memory: the log shows none */
        else
            h2_fingerprint_frame(s->fp, hd->type, hd->flags, hd->stream_id, payload, hd->length);
    }
    switch (hd->type) {
    case H2_DATA: on_data(s, &f); break;
    case H2_HEADERS: on_headers(s, &f); break;
    case H2_PRIORITY: count_idle(s); break; /* RFC 9218: RFC 7540 priorities are ignored */
    case H2_RST_STREAM: on_rst_stream(s, &f); break;
    case H2_SETTINGS: on_settings(s, &f); break;
    case H2_PUSH_PROMISE: /* §8.4: a client says ENABLE_PUSH 0 */
        conn_error(s, H2_PROTOCOL_ERROR,
                   s->p.client ? "PUSH_PROMISE with push disabled" : "PUSH_PROMISE from a client");
        break;
    case H2_PING:
        if (!(hd->flags & H2_FLAG_ACK)) {
            h2_write_ping(&s->out, f.opaque, true);
            s->control_queued += H2_FRAME_HEADER_LEN + 8;
        } else if (s->goaway_notice && memcmp(f.opaque, H2_GOAWAY_PING, 8) == 0) {
            send_final_goaway(s);
        }
        count_idle(s);
        break;
    case H2_GOAWAY:
        s->peer_goaway = true;
        if (f.error_code != H2_NO_ERROR)
            log_info("%s: HTTP/2 GOAWAY from the %s: %s", s->peer,
                     s->p.client ? "server" : "client", h2_error_name(f.error_code));
        if (s->p.client) on_server_goaway(s, &f);
        break;
    case H2_WINDOW_UPDATE: on_window_update(s, &f); break;
    case H2_CONTINUATION:
        if (!s->hb_stream)
            conn_error(s, H2_PROTOCOL_ERROR, "CONTINUATION without a header block");
        else
            on_continuation(s, &f);
        break;
    case H2_PRIORITY_UPDATE: on_priority_update(s, &f); break;
    default: count_idle(s); break; /* §5.5 */
    }
    if (s->control_queued > s->p.h2.max_control_queue &&
        buf_size(&s->out) > s->p.h2.max_control_queue) {
        defence_counted(s, SH2_UNREAD_REPLIES);
        conn_error(s, H2_ENHANCE_YOUR_CALM, "peer does not read control replies");
    }
}

size_t h2_session_recv(struct h2_session *s, const uint8_t *data, size_t len, int64_t now_ms)
{
    s->now_ms = now_ms;
    size_t off = 0;
    if (s->dead) return len;
    if (!s->preface_done) { /* a client's preface: only servers receive it */
        size_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
        if (memcmp(data, H2_PREFACE, n) != 0) {
            log_info("%s: invalid HTTP/2 connection preface", s->peer);
            s->dead = true;
            return len;
        }
        if (len < H2_PREFACE_LEN) return 0;
        s->preface_done = true;
        off = H2_PREFACE_LEN;
    }
    if (buf_size(&s->out) == 0) s->control_queued = 0;
    while (!s->dead && len - off >= H2_FRAME_HEADER_LEN) {
        struct h2_frame_header hd;
        h2_frame_header_parse(data + off, &hd);
        if (hd.length > s->p.h2.max_frame_size) {
            conn_error(s, H2_FRAME_SIZE_ERROR, "frame larger than SETTINGS_MAX_FRAME_SIZE");
            break;
        }
        if (len - off - H2_FRAME_HEADER_LEN < hd.length) break;
        on_frame(s, &hd, data + off + H2_FRAME_HEADER_LEN);
        off += H2_FRAME_HEADER_LEN + hd.length;
        if (s->settings_in && s->block_deadline_ms && !s->hb_stream) s->block_deadline_ms = 0;
    }
    if (s->dead) return len;
    return off;
}

/* ---- responses ---- */

/* Encodes fields (skipping connection-specific ones, §8.2.2) into the block in s->hbuf. */
static int encode_fields(struct h2_session *s, const struct http_fields *fields)
{
    for (size_t i = 0; i < fields->count; i++) {
        const struct http_field *fl = &fields->items[i];
        if (fl->token != HTTP_TOKEN_NONE) {
            if (http_token_info(fl->token)->flags & HTTP_TOKEN_HOP_BY_HOP) continue;
            if (fl->token == HTTP_TOKEN_CONTENT_LENGTH || fl->token == HTTP_TOKEN_DATE) continue;
        }
        if (hpack_encode_field(&s->enc, &s->hbuf, fl->name, fl->value, fl->token, false) < 0)
            return -1;
    }
    return 0;
}

static int send_interim(struct http_request *req, int status, const struct http_fields *fields)
{
    struct h2_stream *st = req->wire;
    struct h2_session *s = st->session;
    if (st->headers_out || status < 100 || status >= 200 || s->dead) return -1;
    buf_clear(&s->hbuf);
    if (hpack_encode_begin(&s->enc, &s->hbuf) < 0 ||
        hpack_encode_status(&s->enc, &s->hbuf, status) < 0 ||
        (fields && encode_fields(s, fields) < 0))
        return -1;
    return h2_write_headers(&s->out, st->id, 0, (const uint8_t *)buf_ptr(&s->hbuf),
                            buf_size(&s->hbuf), false, s->peer_max_frame);
}

/* The body this side sends on st: a server's response, a client's request. */
static struct body_source **out_body(struct h2_stream *st)
{
    return st->session->p.client ? &st->upload : &st->resp.body;
}

static int64_t out_length(const struct h2_stream *st)
{
    return st->session->p.client ? st->upload_length : st->resp.content_length;
}

static int64_t *out_sent(struct h2_stream *st)
{
    return st->session->p.client ? &st->upload_sent : &st->resp.bytes_sent;
}

static void end_stream_sent(struct h2_session *s, struct h2_stream *st)
{
    http_sched_remove(&s->sched, &st->sched);
    struct body_source **src = out_body(st);
    if (*src && (*src)->close) (*src)->close(*src);
    *src = NULL;
    if (h2_stream_on_end_stream_out(st)) {
        if (!st->end_stream_in && !s->p.client) {
            /* §8.1: the response is complete before the request: stop the upload */
            h2_write_rst_stream(&s->out, st->id, H2_NO_ERROR);
            remember_reset(s, st->id);
        }
        stream_close(s, st);
    }
}

static void dispatch_pushes(struct h2_session *s);

static void respond(struct h2_session *s, struct h2_stream *st)
{
    struct http_response *resp = &st->resp;
    int status = resp->status ? resp->status : 500;
    bool head_only = st->req.method == HTTP_METHOD_HEAD || status == 204 || status == 304;
    bool end = head_only || !resp->body || resp->content_length == 0;
    buf_clear(&s->hbuf);
    int rc = hpack_encode_begin(&s->enc, &s->hbuf);
    rc |= hpack_encode_status(&s->enc, &s->hbuf, status);
    rc |= encode_fields(s, &resp->headers);
    if (resp->content_length >= 0 && status != 204 && status != 304 && status >= 200) {
        char num[24];
        char *d = num + sizeof(num);
        uint64_t v = (uint64_t)resp->content_length;
        do
            *--d = (char)('0' + v % 10);
        while (v /= 10);
        rc |= hpack_encode_field(&s->enc, &s->hbuf, STR_LIT("content-length"),
                                 str_make(d, (size_t)(num + sizeof(num) - d)),
                                 HTTP_TOKEN_CONTENT_LENGTH, false);
    }
    const char *date = s->cb->date ? s->cb->date(s->ud) : NULL;
    if (date)
        rc |= hpack_encode_field(&s->enc, &s->hbuf, STR_LIT("date"), str_cstr(date),
                                 HTTP_TOKEN_DATE, false);
    if (!resp->no_server && !http_fields_find(&resp->headers, HTTP_TOKEN_SERVER))
        rc |= hpack_encode_field(&s->enc, &s->hbuf, STR_LIT("server"), STR_LIT("tern"),
                                 HTTP_TOKEN_SERVER, false);
    if (rc < 0 || h2_write_headers(&s->out, st->id, 0, (const uint8_t *)buf_ptr(&s->hbuf),
                                   buf_size(&s->hbuf), end, s->peer_max_frame) < 0) {
        conn_error(s, H2_INTERNAL_ERROR, "out of memory");
        return;
    }
    st->headers_out = true;
    if (st->state == H2_STREAM_RESERVED_LOCAL) st->state = H2_STREAM_HALF_CLOSED_REMOTE;
    if (end)
        end_stream_sent(s, st);
    else
        http_sched_add(&s->sched, &st->sched);
    dispatch_pushes(s);
}

static bool stream_at_eof(const struct h2_stream *st)
{
    int64_t len = out_length(st);
    return st->body_rd.eof || (len >= 0 && *out_sent((struct h2_stream *)st) >= len);
}

static bool sched_ready(struct http_sched_node *n, void *ctx)
{
    struct h2_session *s = ctx;
    struct h2_stream *st = (struct h2_stream *)n;
    if (stream_at_eof(st)) return true;
    if (st->send_window <= 0 || s->send_window <= 0) {
        if (!st->stalled_since_ms) st->stalled_since_ms = s->now_ms;
        return false;
    }
    return true;
}

/* Copies up to max bytes of the response body into dst. Returns bytes, or -1 on a body
 * error. */
static ssize_t pull_body(struct h2_stream *st, char *dst, size_t max)
{
    int64_t len = out_length(st);
    int64_t left = len >= 0 ? len - *out_sent(st) : -1;
    return body_reader_pull(&st->body_rd, *out_body(st), left, dst, max);
}

void h2_session_produce(struct h2_session *s, size_t high_water)
{
    if (buf_size(&s->out) == 0) s->control_queued = 0;
    /* after an h2c Upgrade, wait for the client's preface before sending DATA: some clients
     * (curl 7.88) cannot buffer much that arrives right behind the 101 */
    if (!s->settings_in && !s->p.client) return;
    while (!s->dead && buf_size(&s->out) < high_water) {
        struct http_sched_node *n = http_sched_pick(&s->sched, sched_ready, s);
        if (!n) break;
        struct h2_stream *st = (struct h2_stream *)n;
        st->stalled_since_ms = 0;
        int64_t max = s->peer_max_frame;
        if (st->send_window < max) max = st->send_window;
        if (s->send_window < max) max = s->send_window;
        int64_t len = out_length(st);
        if (len >= 0 && len - *out_sent(st) < max) max = len - *out_sent(st); /* what is left */
        if (max < 0) max = 0;
        if (buf_reserve(&s->out, H2_FRAME_HEADER_LEN + (size_t)max) < 0) {
            conn_error(s, H2_INTERNAL_ERROR, "out of memory");
            return;
        }
        uint8_t *hdr = (uint8_t *)buf_tail(&s->out);
        ssize_t got = max > 0 && !stream_at_eof(st)
                          ? pull_body(st, (char *)hdr + H2_FRAME_HEADER_LEN, (size_t)max)
                          : 0;
        if (got < 0) {
            log_error("%s: %s body failed on stream %u", s->peer,
                      s->p.client ? "request" : "response", st->id);
            st->error = "the request body could not be read";
            stream_error(s, st->id, H2_INTERNAL_ERROR, false);
            continue;
        }
        *out_sent(st) += got;
        bool eof = stream_at_eof(st) && !st->body_rd.has_chunk;
        if (got == 0 && !eof) {
            /* a source with nothing now cannot happen with static bodies; avoid spinning */
            http_sched_remove(&s->sched, &st->sched);
            continue;
        }
        h2_frame_header_write(hdr, (uint32_t)got, H2_DATA, eof ? H2_FLAG_END_STREAM : 0, st->id);
        buf_commit(&s->out, H2_FRAME_HEADER_LEN + (size_t)got);
        st->send_window -= got;
        s->send_window -= got;
        http_sched_sent(&s->sched, n);
        if (eof) end_stream_sent(s, st);
    }
}

/* ---- client role ---- */

void h2_session_client_params(struct h2_session_params *p, bool is_tls, const char *peer)
{
    *p = (struct h2_session_params){
        .h2 = {.enabled = true,
               .max_concurrent_streams = 100,
               /* windows big enough that one download is not held to a window per RTT */
               .initial_window_size = 16u << 20,
               .connection_window = 64u << 20,
               .max_frame_size = H2_MIN_FRAME_SIZE,
               .header_table_size = 4096,
               .max_header_list_size = 65536,
               .max_resets_per_10s = 1000,
               .max_continuations = 32,
               .max_idle_frames_per_10s = 1000,
               .max_control_queue = 65536,
               .preface_timeout = 10,
               .idle_timeout = 0,
               .stalled_stream_timeout = 30},
        .header_count = 100,
        .body_size = 0,
        .is_tls = is_tls,
        .peer = peer,
        .client = true};
}

bool h2_session_can_submit(const struct h2_session *s)
{
    /* until the server's SETTINGS tell its limit, 100 (the least §6.5.2 recommends) */
    uint32_t limit = s->settings_in ? s->peer_max_streams : 100;
    return s->p.client && !s->dead && !s->peer_goaway && !s->draining &&
           s->next_stream_id <= H2_MAX_STREAM_ID && s->n_client_streams < limit;
}

static int encode_request_field(struct h2_session *s, str_t name, str_t value)
{
    enum http_token token = http_token_lookup(name.p, name.len);
    /* credentials never enter either side's dynamic table (RFC 7541 §7.1.3) */
    bool never = token == HTTP_TOKEN_AUTHORIZATION || token == HTTP_TOKEN_PROXY_AUTHORIZATION;
    return hpack_encode_field(&s->enc, &s->hbuf, name, value, token, never);
}

struct h2_stream *h2_session_submit(struct h2_session *s, const struct h2_request_out *rq)
{
    if (!h2_session_can_submit(s) || (rq->protocol.len && !s->peer_extended_connect)) return NULL;
    struct h2_stream *st = stream_new(s, s->next_stream_id);
    if (!st) return NULL;
    s->next_stream_id += 2;
    s->n_client_streams++;
    st->dispatched = true; /* on_stream_close tells the caller how it ended */
    st->user = rq->user;
    st->head_request = str_eq(rq->method, STR_LIT("HEAD"));
    st->upload = rq->body;
    st->upload_length = rq->body ? rq->body_length : 0;
    buf_clear(&s->hbuf);
    /* §8.3: the pseudo-header fields first */
    int rc = hpack_encode_begin(&s->enc, &s->hbuf);
    rc |= encode_request_field(s, STR_LIT(":method"), rq->method);
    if (rq->protocol.len) rc |= encode_request_field(s, STR_LIT(":protocol"), rq->protocol);
    rc |= encode_request_field(s, STR_LIT(":scheme"), rq->scheme);
    rc |= encode_request_field(s, STR_LIT(":authority"), rq->authority);
    rc |= encode_request_field(s, STR_LIT(":path"), rq->path);
    for (size_t i = 0; i < rq->n_fields; i++)
        rc |= encode_request_field(s, rq->names[i], rq->values[i]);
    bool end = rq->body == NULL;
    if (rc < 0 || h2_write_headers(&s->out, st->id, 0, (const uint8_t *)buf_ptr(&s->hbuf),
                                   buf_size(&s->hbuf), end, s->peer_max_frame) < 0) {
        st->upload = NULL; /* the caller still owns it */
        st->dispatched = false;
        stream_close(s, st);
        conn_error(s, H2_INTERNAL_ERROR, "out of memory");
        return NULL;
    }
    st->headers_out = true;
    if (end)
        end_stream_sent(s, st);
    else
        http_sched_add(&s->sched, &st->sched);
    return st;
}

size_t h2_session_settings_payload(const struct h2_session *s, const uint8_t **p)
{
    /* the output starts with the preface, then our SETTINGS frame */
    const uint8_t *f = (const uint8_t *)buf_ptr(&s->out) + H2_PREFACE_LEN;
    if (!s->p.client || buf_size(&s->out) < H2_PREFACE_LEN + H2_FRAME_HEADER_LEN) return 0;
    struct h2_frame_header hd;
    h2_frame_header_parse(f, &hd);
    *p = f + H2_FRAME_HEADER_LEN;
    return hd.type == H2_SETTINGS ? hd.length : 0;
}

struct h2_stream *h2_session_client_upgraded(struct h2_session *s, void *user, bool head_request)
{
    if (!s->p.client || s->next_stream_id != 1) return NULL;
    struct h2_stream *st = stream_new(s, 1);
    if (!st) return NULL;
    s->next_stream_id = 3;
    s->n_client_streams++;
    st->dispatched = true;
    st->user = user;
    st->head_request = head_request;
    st->headers_out = true;
    end_stream_sent(s, st); /* the request is complete: half-closed (local) */
    return st;
}

void h2_session_consumed(struct h2_session *s, struct h2_stream *st, size_t n)
{
    if (!s->p.client || s->dead || st->end_stream_in || n == 0) return;
    consume_stream(s, st, (uint32_t)n);
}

void h2_session_resume_upload(struct h2_session *s, struct h2_stream *st)
{
    if (!s->p.client || s->dead || !st->upload || st->end_stream_out) return;
    http_sched_add(&s->sched, &st->sched);
}

void h2_session_cancel(struct h2_session *s, struct h2_stream *st)
{
    st->error = "cancelled";
    stream_error(s, st->id, H2_CANCEL, false);
}

/* ---- push ---- */

static uint64_t path_hash(str_t p)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < p.len; i++)
        h = (h ^ (unsigned char)p.p[i]) * 1099511628211ull;
    return h;
}

int h2_session_push(struct h2_session *s, struct h2_stream *parent, str_t path)
{
    if (!s->peer_push || parent->pushed || s->draining || s->peer_goaway || s->dead) return -1;
    if (s->n_pushed >= s->peer_max_streams || s->n_push_ids >= 32) return -1;
    if (s->next_push_id > H2_MAX_STREAM_ID || path.len == 0 || path.p[0] != '/') return -1;
    if (parent->headers_out) return -1; /* promises precede the parent's response */
    uint64_t h = path_hash(path);
    for (unsigned i = 0; i < s->n_pushed_paths; i++)
        if (s->pushed_paths[i] == h) return -1;
    if (s->n_pushed_paths >= sizeof(s->pushed_paths) / sizeof(s->pushed_paths[0])) return -1;
    struct h2_stream *st = stream_new(s, s->next_push_id);
    if (!st) return -1;
    s->next_push_id += 2;
    s->n_pushed++;
    s->pushed_paths[s->n_pushed_paths++] = h;
    st->pushed = true;
    st->state = H2_STREAM_RESERVED_LOCAL;
    st->end_stream_in = true;
    st->sched.prio.urgency = URGENCY_PUSH;
    struct http_request *req = &st->req;
    char *p = pool_strndup(st->pool, path.p, path.len);
    char *a = pool_strndup(st->pool, parent->req.authority.p, parent->req.authority.len);
    if (!p || !a) {
        stream_close(s, st);
        return -1;
    }
    req->method = HTTP_METHOD_GET;
    req->method_name = STR_LIT("GET");
    req->target = str_make(p, path.len);
    const char *q = memchr(p, '?', path.len);
    req->path = str_make(p, q ? (size_t)(q - p) : path.len);
    if (q) {
        req->query = str_make(q + 1, path.len - (size_t)(q - p) - 1);
        req->has_query = true;
    }
    req->authority = str_make(a, parent->req.authority.len);
    req->scheme = parent->req.scheme;
    http_request_derive_host(req);
    const struct http_field *ae =
        http_fields_find(&parent->req.headers, HTTP_TOKEN_ACCEPT_ENCODING);
    if (ae) http_fields_add_token(&req->headers, st->pool, HTTP_TOKEN_ACCEPT_ENCODING, ae->value);
    buf_clear(&s->hbuf);
    int rc = hpack_encode_begin(&s->enc, &s->hbuf);
    rc |= hpack_encode_field(&s->enc, &s->hbuf, STR_LIT(":method"), STR_LIT("GET"), HTTP_TOKEN_NONE,
                             false);
    rc |= hpack_encode_field(&s->enc, &s->hbuf, STR_LIT(":scheme"), req->scheme, HTTP_TOKEN_NONE,
                             false);
    rc |= hpack_encode_field(&s->enc, &s->hbuf, STR_LIT(":authority"), req->authority,
                             HTTP_TOKEN_NONE, false);
    rc |= hpack_encode_field(&s->enc, &s->hbuf, STR_LIT(":path"), req->target, HTTP_TOKEN_NONE,
                             false);
    if (ae)
        rc |= hpack_encode_field(&s->enc, &s->hbuf, STR_LIT("accept-encoding"), ae->value,
                                 HTTP_TOKEN_ACCEPT_ENCODING, false);
    if (rc < 0 || h2_write_headers(&s->out, parent->id, st->id, (const uint8_t *)buf_ptr(&s->hbuf),
                                   buf_size(&s->hbuf), false, s->peer_max_frame) < 0) {
        conn_error(s, H2_INTERNAL_ERROR, "out of memory");
        return -1;
    }
    st->push_pending = true;
    s->push_ids[s->n_push_ids++] = st->id;
    return 0;
}

static void dispatch_pushes(struct h2_session *s)
{
    while (s->n_push_ids && !s->dead) {
        uint32_t id = s->push_ids[0];
        memmove(s->push_ids, s->push_ids + 1, (--s->n_push_ids) * sizeof(s->push_ids[0]));
        struct h2_stream *st = h2_stream_find(&s->streams, id);
        if (!st || !st->push_pending) continue;
        st->push_pending = false;
        dispatch(s, st);
    }
}

/* ---- life cycle ---- */

void h2_session_params_from_config(struct h2_session_params *p, const struct config *cfg,
                                   bool is_tls, const char *peer)
{
    p->h2 = cfg->http2;
    if (p->h2.max_frame_size < H2_MIN_FRAME_SIZE) p->h2.max_frame_size = H2_MIN_FRAME_SIZE;
    if (p->h2.max_frame_size > H2_MAX_FRAME_SIZE) p->h2.max_frame_size = H2_MAX_FRAME_SIZE;
    if (p->h2.initial_window_size > H2_MAX_WINDOW) p->h2.initial_window_size = H2_MAX_WINDOW;
    if (p->h2.connection_window > H2_MAX_WINDOW) p->h2.connection_window = H2_MAX_WINDOW;
    if (p->h2.connection_window < H2_DEFAULT_WINDOW) p->h2.connection_window = H2_DEFAULT_WINDOW;
    if (p->h2.max_header_list_size == 0)
        p->h2.max_header_list_size = (uint32_t)cfg->limits.header_size;
    p->header_count = cfg->limits.header_count;
    p->body_size = cfg->limits.body_size;
    /* WebSocket over HTTP/2 (RFC 8441) goes to an upstream: offered where some location proxies */
    p->extended_connect = cfg->n_proxies > 0;
    p->fingerprint = cfg->log_h2_fingerprint;
    p->is_tls = is_tls;
    p->peer = peer;
    p->client = false;
}

struct h2_session *h2_session_new(const struct h2_session_params *p,
                                  const struct h2_session_callbacks *cb, void *ud, int64_t now_ms)
{
    struct h2_session *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->cb = cb;
    s->ud = ud;
    s->p = *p;
    snprintf(s->peer, sizeof(s->peer), "%s", p->peer ? p->peer : "-");
    s->peer_len = strlen(s->peer);
    s->now_ms = now_ms;
    hpack_decoder_init(&s->dec, p->h2.header_table_size);
    hpack_encoder_init(&s->enc);
    s->peer_max_frame = H2_MIN_FRAME_SIZE;
    s->peer_max_streams = UINT32_MAX;
    s->peer_initial_window = H2_DEFAULT_WINDOW;
    s->peer_push = true;
    s->send_window = H2_DEFAULT_WINDOW;
    s->recv_window = H2_DEFAULT_WINDOW;
    /* until our SETTINGS is acknowledged the peer may use the default window (§6.9.2) */
    s->local_initial_window = p->h2.initial_window_size > H2_DEFAULT_WINDOW
                                  ? p->h2.initial_window_size
                                  : H2_DEFAULT_WINDOW;
    s->next_push_id = 2;
    s->next_stream_id = 1;
    s->error_code = UINT32_MAX;
    s->peer_error_code = UINT32_MAX;
    /* §3.4: a server's preface is a SETTINGS frame and never says ENABLE_PUSH; a client's is
     * the magic string, then SETTINGS turning push off (tern takes no pushed responses) */
    uint16_t ids[8];
    uint32_t vals[8];
    size_t n = 0;
    int rc = 0;
    if (p->client) {
        s->preface_done = true;
        rc |= buf_append(&s->out, H2_PREFACE, H2_PREFACE_LEN);
        ids[n] = H2_SETTINGS_ENABLE_PUSH, vals[n++] = 0;
    } else {
        ids[n] = H2_SETTINGS_MAX_CONCURRENT_STREAMS, vals[n++] = p->h2.max_concurrent_streams;
        if (p->extended_connect) ids[n] = H2_SETTINGS_ENABLE_CONNECT_PROTOCOL, vals[n++] = 1;
    }
    if (p->h2.initial_window_size != H2_DEFAULT_WINDOW)
        ids[n] = H2_SETTINGS_INITIAL_WINDOW_SIZE, vals[n++] = p->h2.initial_window_size;
    if (p->h2.max_frame_size != H2_MIN_FRAME_SIZE)
        ids[n] = H2_SETTINGS_MAX_FRAME_SIZE, vals[n++] = p->h2.max_frame_size;
    if (p->h2.header_table_size != 4096)
        ids[n] = H2_SETTINGS_HEADER_TABLE_SIZE, vals[n++] = p->h2.header_table_size;
    ids[n] = H2_SETTINGS_MAX_HEADER_LIST_SIZE, vals[n++] = p->h2.max_header_list_size;
    ids[n] = H2_SETTINGS_NO_RFC7540_PRIORITIES, vals[n++] = 1;
    rc |= h2_write_settings(&s->out, ids, vals, n);
    if (p->h2.connection_window > H2_DEFAULT_WINDOW) {
        rc |= h2_write_window_update(&s->out, 0, p->h2.connection_window - H2_DEFAULT_WINDOW);
        s->recv_window = p->h2.connection_window;
    }
    if (rc < 0) { /* a session without its whole preface would stall the peer: none */
        h2_session_free(s);
        return NULL;
    }
    s->settings_deadline_ms = now_ms + SETTINGS_ACK_TIMEOUT_MS;
    if (!p->client) s->idle_deadline_ms = now_ms + (int64_t)(p->h2.idle_timeout * 1000);
    s->block_deadline_ms = now_ms + (int64_t)(p->h2.preface_timeout * 1000);
    return s;
}

void h2_session_free(struct h2_session *s)
{
    if (!s) return;
    while (s->streams.all)
        stream_close(s, s->streams.all);
    hpack_decoder_free(&s->dec);
    hpack_encoder_free(&s->enc);
    free(s->fp);
    h2_session_trim(s);
    buf_free(&s->hbuf);
    buf_free(&s->out);
    free(s);
}

int h2_session_upgrade(struct h2_session *s, const struct http_request *req,
                       const uint8_t *settings, size_t len)
{
    struct h2_frame_header hd = {(uint32_t)len, H2_SETTINGS, 0, 0};
    struct h2_frame f;
    struct h2_frame_error err;
    if (h2_frame_parse(&hd, settings, &f, &err) < 0) return -1;
    apply_peer_settings(s, &f);
    if (s->dead) return -1;
    struct h2_stream *st = stream_new(s, 1);
    if (!st) return -1;
    s->n_client_streams++;
    s->last_client_id = 1;
    st->state = H2_STREAM_HALF_CLOSED_REMOTE;
    st->end_stream_in = true;
    struct pool *pool = st->pool;
    struct http_request *r = &st->req;
#define COPY(field)                                                                                \
    r->field = req->field.p                                                                        \
                   ? str_make(pool_strndup(pool, req->field.p, req->field.len), req->field.len)    \
                   : STR_NULL
    r->method = req->method;
    COPY(method_name);
    COPY(target);
    COPY(path);
    COPY(query);
    COPY(authority);
    COPY(host);
#undef COPY
    r->has_query = req->has_query;
    for (size_t i = 0; i < req->headers.count; i++) {
        const struct http_field *fl = &req->headers.items[i];
        if (fl->token != HTTP_TOKEN_NONE &&
            (http_token_info(fl->token)->flags & HTTP_TOKEN_HOP_BY_HOP))
            continue;
        char *n = pool_strndup(pool, fl->name.p, fl->name.len);
        char *v = pool_strndup(pool, fl->value.p, fl->value.len);
        if (!n || !v) return -1;
        http_fields_add(&r->headers, pool, str_make(n, fl->name.len), str_make(v, fl->value.len));
        if (fl->token == HTTP_TOKEN_PRIORITY) http_priority_parse(fl->value, &st->sched.prio);
    }
    dispatch(s, st);
    return 0;
}

void h2_session_want_resume(struct h2_session *s, struct h2_stream *st)
{
    if (st->resume_queued) return;
    st->resume_queued = true;
    st->resume_next = s->resume_head;
    s->resume_head = st;
}

static void resume_unlink(struct h2_session *s, struct h2_stream *st)
{
    if (!st->resume_queued) return;
    for (struct h2_stream **p = &s->resume_head; *p; p = &(*p)->resume_next)
        if (*p == st) {
            *p = st->resume_next;
            break;
        }
    st->resume_queued = false;
}

static void resume_stream(struct h2_session *s, struct h2_stream *st)
{
    if (s->dead || !st->dispatched || s->p.client) return;
    if (!st->headers_out) {
        if (!st->resp.pending) respond(s, st);
    } else if (st->resp.body && !st->body_rd.eof) {
        http_sched_add(&s->sched, &st->sched); /* its body has more */
    }
}

void h2_session_resume_queued(struct h2_session *s)
{
    /* one at a time from the head: resuming one may queue another (a push dispatched) */
    while (s->resume_head) {
        struct h2_stream *st = s->resume_head;
        s->resume_head = st->resume_next;
        st->resume_queued = false;
        resume_stream(s, st);
    }
}

bool h2_session_done(const struct h2_session *s)
{
    if (s->dead) return true;
    return (s->draining || s->peer_goaway) && s->streams.count == 0 && !s->hb_stream;
}

bool h2_session_has_pending(const struct h2_session *s)
{
    return buf_size(&s->out) > 0 || s->sched.count > 0;
}

int64_t h2_session_next_deadline(const struct h2_session *s)
{
    int64_t d = 0;
    int64_t c[5] = {s->block_deadline_ms, s->settings_deadline_ms, s->idle_deadline_ms,
                    s->trim_deadline_ms, s->goaway_deadline_ms};
    for (int i = 0; i < 5; i++)
        if (c[i] && (!d || c[i] < d)) d = c[i];
    int64_t stall = (int64_t)(s->p.h2.stalled_stream_timeout * 1000);
    for (struct http_sched_node *n = s->sched.head; n; n = n->next) {
        const struct h2_stream *st = (const struct h2_stream *)n;
        if (st->stalled_since_ms && (!d || st->stalled_since_ms + stall < d))
            d = st->stalled_since_ms + stall;
    }
    return d;
}

void h2_session_trim(struct h2_session *s)
{
    s->trim_deadline_ms = 0;
    while (s->n_spare_pools)
        release_pool(s, s->spare_pools[--s->n_spare_pools]);
    if (s->scratch) release_pool(s, s->scratch);
    s->scratch = NULL;
    if (buf_size(&s->out) == 0) buf_free(&s->out);
    if (!s->hb_stream) buf_free(&s->hbuf);
}

void h2_session_timeout(struct h2_session *s, int64_t now_ms)
{
    s->now_ms = now_ms;
    if (s->trim_deadline_ms && now_ms >= s->trim_deadline_ms) {
        if (s->streams.count == 0)
            h2_session_trim(s);
        else
            s->trim_deadline_ms = 0; /* busy again: set anew when the last stream ends */
    }
    if (s->dead) return;
    if (s->goaway_deadline_ms && now_ms >= s->goaway_deadline_ms) send_final_goaway(s);
    if (s->block_deadline_ms && now_ms >= s->block_deadline_ms) {
        if (!s->settings_in) {
            log_info("%s: HTTP/2 preface not received in time", s->peer);
            if (s->preface_done)
                conn_error(s, H2_PROTOCOL_ERROR, "the peer's SETTINGS not received in time");
            s->dead = true;
        } else {
            defence_counted(s, SH2_HEADER_TIMEOUT);
            conn_error(s, H2_ENHANCE_YOUR_CALM, "header block not complete in time");
        }
        return;
    }
    if (s->settings_deadline_ms && now_ms >= s->settings_deadline_ms) {
        conn_error(s, H2_SETTINGS_TIMEOUT, "SETTINGS not acknowledged in time");
        return;
    }
    if (s->idle_deadline_ms && now_ms >= s->idle_deadline_ms && s->streams.count == 0) {
        log_debug("%s: HTTP/2 connection idle, closing", s->peer);
        h2_write_goaway(&s->out, s->last_client_id, H2_NO_ERROR, NULL);
        s->error_code = H2_NO_ERROR;
        s->dead = true;
        return;
    }
    int64_t stall = (int64_t)(s->p.h2.stalled_stream_timeout * 1000);
    struct http_sched_node *n = s->sched.head;
    while (n) {
        struct http_sched_node *next = n->next;
        struct h2_stream *st = (struct h2_stream *)n;
        if (st->stalled_since_ms && now_ms >= st->stalled_since_ms + stall) {
            log_info("%s: HTTP/2 stream %u stalled on a zero window, cancelled", s->peer, st->id);
            stream_error(s, st->id, H2_CANCEL, false);
        }
        n = next;
    }
}

void h2_session_shutdown(struct h2_session *s, bool graceful, int64_t now_ms)
{
    if (s->dead) return;
    s->now_ms = now_ms;
    if (graceful) {
        if (s->draining || s->goaway_notice) return;
        if (!s->settings_in || s->peer_goaway) {
            send_final_goaway(s); /* nothing in flight from a client that has not started */
            return;
        }
        /* §6.8: a client may be opening streams right now; announce the stop without a limit,
         * and let a PING round trip tell when everything it sent before has arrived */
        h2_write_goaway(&s->out, H2_MAX_STREAM_ID, H2_NO_ERROR, NULL);
        h2_write_ping(&s->out, (const uint8_t *)H2_GOAWAY_PING, false);
        s->goaway_notice = true;
        s->goaway_deadline_ms = now_ms + H2_GOAWAY_GRACE_MS;
        return;
    }
    h2_write_goaway(&s->out, s->last_client_id, H2_NO_ERROR, NULL);
    s->error_code = H2_NO_ERROR;
    s->dead = true;
}
