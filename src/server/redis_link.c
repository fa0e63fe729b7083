/* A worker's hiredis async connection on tern's event loop, see redis_link.h. */
#include "server/redis_link.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "core/log.h"
#include "server/redis_rate.h"

#define MAX_CALLS_OUT       1024 /* beyond: decide without Redis rather than queue more */
#define DROP_AFTER_TIMEOUTS 8    /* calls in a row without an answer: the connection is dropped */
#define CONNECT_TIMEOUT_MS  1000
#define BACKOFF_MIN_MS      100
#define BACKOFF_MAX_MS      5000

enum link_state { LINK_CONNECTING, LINK_UP, LINK_DOWN };

struct redis_link {
    struct loop *loop;
    struct config_redis cfg; /* address, host, path owned copies */
    redisAsyncContext *ac;   /* NULL while down */
    struct io_watch watch;
    uint32_t events; /* EPOLLIN / EPOLLOUT hiredis wants */
    bool watching;
    bool freeing;
    enum link_state state;
    struct timer timer; /* connecting: its deadline; down: the next attempt */
    int backoff_ms;
    char sha[41]; /* the script's SHA1 once SCRIPT LOAD answered, else "" */
    unsigned calls_out;
    unsigned timeouts_in_row;
    struct loop_task drop; /* drops a connection that stopped answering, outside its callbacks */
    int64_t refusal_logged_ms;
};

struct redis_call {
    struct redis_link *link;
    redis_rate_done done; /* NULL once abandoned */
    void *arg;
    bool retried; /* sent again with EVAL after NOSCRIPT */
    char args[4][12];
    char key[]; /* NUL-terminated */
};

/* What the process last said about Redis, so that N workers seeing one change log it once. */
enum reported { REPORTED_NONE, REPORTED_UP, REPORTED_DOWN, REPORTED_SLOW };
static _Atomic int reported = REPORTED_NONE;

static bool report(enum reported what)
{
    return atomic_exchange(&reported, what) != (int)what;
}

static void link_connect(struct redis_link *l);

/* --- the adapter: hiredis's event hooks onto an io_watch (level-triggered) --- */

static void watch_update(struct redis_link *l)
{
    if (!l->ac) return;
    if (!l->watching) {
        l->watch.fd = l->ac->c.fd;
        if (loop_add(l->loop, &l->watch, l->events) == 0) l->watching = true;
        return;
    }
    loop_modify(l->loop, &l->watch, l->events);
}

static void ev_add_read(void *p)
{
    struct redis_link *l = p;
    l->events |= EPOLLIN;
    watch_update(l);
}

static void ev_del_read(void *p)
{
    struct redis_link *l = p;
    l->events &= ~(uint32_t)EPOLLIN;
    watch_update(l);
}

static void ev_add_write(void *p)
{
    struct redis_link *l = p;
    l->events |= EPOLLOUT;
    watch_update(l);
}

static void ev_del_write(void *p)
{
    struct redis_link *l = p;
    l->events &= ~(uint32_t)EPOLLOUT;
    watch_update(l);
}

/* hiredis is freeing the context (its fd about to close): forget it and plan the next try. */
static void ev_cleanup(void *p)
{
    struct redis_link *l = p;
    if (l->watching) loop_remove(l->loop, &l->watch);
    l->watching = false;
    l->events = 0;
    l->ac = NULL;
    l->sha[0] = '\0';
    loop_task_cancel(&l->drop);
    if (l->freeing) return;
    l->state = LINK_DOWN;
    timer_arm(l->loop, &l->timer, loop_now_ms(l->loop) + l->backoff_ms);
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static void on_io(struct io_watch *w, uint32_t events)
{
    struct redis_link *l = (struct redis_link *)((char *)w - offsetof(struct redis_link, watch));
    /* an error or hang-up is read as such (EOF, the connect's failure) */
    if (l->ac && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) redisAsyncHandleRead(l->ac);
    if (l->ac && (events & EPOLLOUT) && (l->events & EPOLLOUT)) redisAsyncHandleWrite(l->ac);
}

/* --- connection state --- */

static void went_down(struct redis_link *l, const char *why)
{
    if (report(REPORTED_DOWN))
        log_warn("redis %s: unreachable (%s), shared rate limits fall back to their on_error",
                 l->cfg.address, why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_link *l = ac->data;
    if (status != REDIS_OK) {
        went_down(l, ac->errstr ? ac->errstr : "connect failed");
        return; /* hiredis frees ac: ev_cleanup */
    }
    timer_cancel(&l->timer);
    l->state = LINK_UP; /* reported up, and the back-off reset, at its first sound answer: a
                         * server that accepts and then talks nonsense is not "back" */
    l->timeouts_in_row = 0;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_link *l = ac->data;
    if (l->freeing) return;
    went_down(l, status == REDIS_OK ? "closed" : ac->errstr ? ac->errstr : "connection lost");
}

static void on_script_loaded(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    struct redis_link *l = ac->data;
    const redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 40) {
        memcpy(l->sha, reply->str, 40);
        l->sha[40] = '\0';
    }
}

static void connect_expired(struct timer *t)
{
    struct redis_link *l = (struct redis_link *)((char *)t - offsetof(struct redis_link, timer));
    if (l->state == LINK_DOWN) {
        link_connect(l);
        return;
    }
    if (l->state == LINK_CONNECTING && l->ac) {
        went_down(l, "connect timed out");
        redisAsyncFree(l->ac); /* ev_cleanup plans the next try */
    }
}

static void drop_hung(struct loop_task *t)
{
    struct redis_link *l = (struct redis_link *)((char *)t - offsetof(struct redis_link, drop));
    if (!l->ac) return;
    redisAsyncFree(l->ac); /* the calls out get done(NULL); ev_cleanup plans the next try */
}

static void link_connect(struct redis_link *l)
{
    redisAsyncContext *ac = l->cfg.path ? redisAsyncConnectUnix(l->cfg.path)
                                        : redisAsyncConnect(l->cfg.host, l->cfg.port);
    l->state = LINK_CONNECTING;
    if (!ac || ac->err) {
        went_down(l, ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac); /* no hooks attached yet: no cleanup call */
        l->state = LINK_DOWN;
        timer_arm(l->loop, &l->timer, loop_now_ms(l->loop) + l->backoff_ms);
        l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
        return;
    }
    ac->data = l;
    ac->ev.data = l;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    l->ac = ac;
    l->events = 0;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ev_add_write(l); /* the connect's completion */
    /* queued until connected; the rate calls go with EVAL until its SHA1 is known */
    redisAsyncCommand(ac, on_script_loaded, NULL, "SCRIPT LOAD %s", redis_rate_script);
    timer_arm(l->loop, &l->timer, loop_now_ms(l->loop) + CONNECT_TIMEOUT_MS);
}

static char *dup_or_null(const char *s, bool *ok)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *ok = false;
    return d;
}

struct redis_link *redis_link_new(struct loop *loop, const struct config_redis *cfg)
{
    struct redis_link *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    bool ok = true;
    l->loop = loop;
    l->cfg.address = dup_or_null(cfg->address, &ok);
    l->cfg.host = dup_or_null(cfg->host, &ok);
    l->cfg.path = dup_or_null(cfg->path, &ok);
    l->cfg.port = cfg->port;
    l->watch.cb = on_io;
    l->timer.cb = connect_expired;
    l->drop.cb = drop_hung;
    l->backoff_ms = BACKOFF_MIN_MS;
    if (!ok || !l->cfg.address) {
        redis_link_free(l);
        return NULL;
    }
    link_connect(l);
    return l;
}

void redis_link_free(struct redis_link *l)
{
    if (!l) return;
    l->freeing = true;
    timer_cancel(&l->timer);
    loop_task_cancel(&l->drop);
    if (l->ac) redisAsyncFree(l->ac);
    free(l->cfg.address);
    free(l->cfg.host);
    free(l->cfg.path);
    free(l);
}

bool redis_link_matches(const struct redis_link *l, const struct config_redis *cfg)
{
    return cfg->address && strcmp(l->cfg.address, cfg->address) == 0;
}

/* --- the rate calls --- */

static void on_rate_reply(redisAsyncContext *ac, void *r, void *priv);

static int send_call(struct redis_link *l, struct redis_call *c)
{
    const char *argv[8];
    size_t argvlen[8];
    int n = 0;
    bool sha = l->sha[0] && !c->retried;
    argv[n++] = sha ? "EVALSHA" : "EVAL";
    argv[n++] = sha ? l->sha : redis_rate_script;
    argv[n++] = "1";
    argv[n++] = c->key;
    for (int i = 0; i < 4; i++)
        argv[n++] = c->args[i];
    for (int i = 0; i < n; i++)
        argvlen[i] = strlen(argv[i]);
    return redisAsyncCommandArgv(l->ac, on_rate_reply, c, n, argv, argvlen) == REDIS_OK ? 0 : -1;
}

static void on_rate_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct redis_call *c = priv;
    struct redis_link *l = ac->data;
    const redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        !c->retried && !(ac->c.flags & (REDIS_FREEING | REDIS_DISCONNECTING))) {
        c->retried = true; /* the script was flushed: send it whole, and load it again */
        if (l->sha[0]) {   /* once: the calls in flight that meet NOSCRIPT too need no more */
            l->sha[0] = '\0';
            redisAsyncCommand(l->ac, on_script_loaded, NULL, "SCRIPT LOAD %s", redis_rate_script);
        }
        if (send_call(l, c) == 0) return;
    }
    l->calls_out--;
    struct rate_verdict v;
    int rc = redis_rate_parse(reply, &v);
    if (reply) {
        l->timeouts_in_row = 0;
        if (rc < 0 && report(REPORTED_SLOW))
            log_warn("redis %s: unexpected answer to the rate script (%s), shared rate limits "
                     "fall back to their on_error",
                     l->cfg.address,
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "not two integers");
        else if (rc == 0) {
            l->backoff_ms = BACKOFF_MIN_MS;
            if (report(REPORTED_UP))
                log_info("redis %s: answering, shared rate limits use it", l->cfg.address);
        }
    }
    if (c->done) c->done(c->arg, rc == 0 ? &v : NULL);
    free(c);
}

struct redis_call *redis_link_rate(struct redis_link *l, const char *key, const struct rate_spec *s,
                                   redis_rate_done done, void *arg)
{
    /* a context being freed (its calls ending with done(NULL), whose requests may come back
     * here) or disconnected takes no more */
    if (!l->ac || l->state == LINK_DOWN || l->calls_out >= MAX_CALLS_OUT ||
        (l->ac->c.flags & (REDIS_FREEING | REDIS_DISCONNECTING)))
        return NULL;
    size_t klen = strlen(key);
    struct redis_call *c = malloc(sizeof(*c) + klen + 1);
    if (!c) return NULL;
    c->link = l;
    c->done = done;
    c->arg = arg;
    c->retried = false;
    memcpy(c->key, key, klen + 1);
    snprintf(c->args[0], sizeof(c->args[0]), "%u", s->count);
    snprintf(c->args[1], sizeof(c->args[1]), "%u", s->period_ms);
    snprintf(c->args[2], sizeof(c->args[2]), "%u", s->burst);
    snprintf(c->args[3], sizeof(c->args[3]), "%u", s->queue);
    if (send_call(l, c) < 0) {
        free(c);
        return NULL;
    }
    l->calls_out++;
    return c;
}

void redis_call_abandon(struct redis_call *c, bool timed_out)
{
    c->done = NULL;
    c->arg = NULL;
    if (!timed_out) return;
    struct redis_link *l = c->link;
    if (report(REPORTED_SLOW))
        log_warn("redis %s: no answer within the timeout, shared rate limits fall back to their "
                 "on_error",
                 l->cfg.address);
    if (++l->timeouts_in_row >= DROP_AFTER_TIMEOUTS && l->ac) loop_defer(l->loop, &l->drop);
}

bool redis_link_log_refusal(struct redis_link *l)
{
    if (!l) return true;
    int64_t now = loop_now_ms(l->loop);
    if (now - l->refusal_logged_ms < 1000) return false;
    l->refusal_logged_ms = now;
    return true;
}
