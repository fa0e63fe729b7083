#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/privileges.h"
#include "cli/quic_process.h"
#include "cli/sd_notify.h"
#include "cli/upgrade.h"
#include "core/log.h"
#include "core/stats.h"
#include "h1/conn.h"
#include "h1/serialize.h"
#include "h2/h2c.h"
#include "h3/conn.h"
#include "server/config.h"
#include "server/listen_inherit.h"
#include "server/server.h"
#include "tls/tls.h"

/* Command-line settings; they override the configuration file, also after a reload. */
struct serve_args {
    const char *dir;
    const char *config_file;
    const char *listens[64];
    int n_listens;
    const char *tls_listens[64];
    int n_tls_listens;
    const char *quic_listens[64];
    int n_quic_listens;
    const char *cert;
    const char *key;
    int workers; /* -1: not given */
    const char *access_log;
    const char *error_log;
};

static int parse_args(int argc, char **argv, struct serve_args *a)
{
    memset(a, 0, sizeof(*a));
    a->workers = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--listen") == 0 || strcmp(arg, "-l") == 0) {
            if (!val || a->n_listens >= 64) goto missing;
            a->listens[a->n_listens++] = val;
            i++;
        } else if (strcmp(arg, "--quic-listen") == 0) {
            if (!val || a->n_quic_listens >= 64) goto missing;
            a->quic_listens[a->n_quic_listens++] = val;
            i++;
        } else if (strcmp(arg, "--tls-listen") == 0) {
            if (!val || a->n_tls_listens >= 64) goto missing;
            a->tls_listens[a->n_tls_listens++] = val;
            i++;
        } else if (strcmp(arg, "--cert") == 0) {
            if (!val) goto missing;
            a->cert = val;
            i++;
        } else if (strcmp(arg, "--key") == 0) {
            if (!val) goto missing;
            a->key = val;
            i++;
        } else if (strcmp(arg, "--workers") == 0 || strcmp(arg, "-w") == 0) {
            char *end;
            if (!val) goto missing;
            long n = strtol(val, &end, 10);
            if (*end || n < 0 || n > 1024) {
                fprintf(stderr, "tern serve: bad --workers '%s'\n", val);
                return -1;
            }
            a->workers = (int)n;
            i++;
        } else if (strcmp(arg, "--access-log") == 0) {
            if (!val) goto missing;
            a->access_log = val;
            i++;
        } else if (strcmp(arg, "--error-log") == 0) {
            if (!val) goto missing;
            a->error_log = val;
            i++;
        } else if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) {
            if (!val) goto missing;
            a->config_file = val;
            i++;
        } else if (arg[0] == '-') {
            fprintf(stderr, "tern serve: unknown option '%s'\n", arg);
            return -1;
        } else if (!a->dir) {
            a->dir = arg;
        } else {
            fprintf(stderr, "tern serve: unexpected argument '%s'\n", arg);
            return -1;
        }
        continue;
    missing:
        fprintf(stderr, "tern serve: %s needs a value\n", arg);
        return -1;
    }
    return 0;
}

static char *dup_or_die(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "tern: out of memory\n");
        exit(1);
    }
    return d;
}

/* Loads the configuration the arguments describe. NULL with a message in err on failure. */
static struct config *load_config(const struct serve_args *a, char *err, size_t errlen)
{
    struct config *cfg;
    if (a->config_file) {
        cfg = config_load_file(a->config_file, err, errlen);
        if (!cfg) return NULL;
        if (a->dir) {
            /* DIR on the command line replaces the default server's root */
            snprintf(err, errlen,
                     "give the document root in the configuration file or on "
                     "the command line, not both");
            config_free(cfg);
            return NULL;
        }
    } else {
        const char *dir = a->dir ? a->dir : ".";
        int why = config_root_usable(dir);
        if (why) { /* refuse to start rather than answer every request with an error */
            snprintf(err, errlen, "root %s: %s", dir, strerror(why));
            return NULL;
        }
        cfg = config_default(a->dir ? a->dir : ".");
        if (!cfg) {
            snprintf(err, errlen, "cannot use document root '%s'", a->dir ? a->dir : ".");
            return NULL;
        }
    }
    if (a->n_listens || a->n_tls_listens || a->n_quic_listens) {
        /* --listen replaces the cleartext listeners, --tls-listen the TLS ones, --quic-listen
         * the UDP-only ones */
        size_t max = cfg->n_listens + (size_t)a->n_listens + (size_t)a->n_tls_listens +
                     (size_t)a->n_quic_listens;
        struct config_listen *ls = calloc(max, sizeof(*ls));
        size_t n = 0;
        if (!ls) {
            config_free(cfg);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        static const char *const flags[] = {"--listen", "--tls-listen", "--quic-listen"};
        for (int pass = 0; pass < 3; pass++) {
            bool tls = pass == 1, quic = pass == 2;
            int given = quic ? a->n_quic_listens : tls ? a->n_tls_listens : a->n_listens;
            const char *const *list = quic ? a->quic_listens : tls ? a->tls_listens : a->listens;
            for (int i = 0; i < given; i++) {
                if (config_parse_listen(list[i], &ls[n]) < 0) {
                    snprintf(err, errlen, "bad %s '%s' (want ADDR:PORT or [V6]:PORT)", flags[pass],
                             list[i]);
                    for (size_t j = 0; j < n; j++)
                        free(ls[j].host);
                    free(ls);
                    config_free(cfg);
                    return NULL;
                }
                ls[n].tls = tls;
                ls[n++].quic_only = quic;
            }
            for (size_t i = 0; given == 0 && i < cfg->n_listens; i++) {
                if (cfg->listens[i].tls != tls || cfg->listens[i].quic_only != quic) continue;
                ls[n] = cfg->listens[i];
                cfg->listens[i].host = NULL;
                n++;
            }
        }
        for (size_t i = 0; i < cfg->n_listens; i++)
            free(cfg->listens[i].host);
        free(cfg->listens);
        cfg->listens = ls;
        cfg->n_listens = n;
    }
    if (a->cert || a->key) {
        if (!a->cert || !a->key) {
            snprintf(err, errlen, "--cert and --key go together");
            config_free(cfg);
            return NULL;
        }
        free(cfg->tls.cert.cert_file);
        free(cfg->tls.cert.key_file);
        cfg->tls.cert.cert_file = dup_or_die(a->cert);
        cfg->tls.cert.key_file = dup_or_die(a->key);
    }
    if (server_config_has_tls(cfg) && !cfg->tls.cert.cert_file) {
        bool any = false;
        for (size_t i = 0; i < cfg->n_servers; i++)
            any |= cfg->servers[i].cert.cert_file != NULL;
        if (!any) {
            snprintf(err, errlen, "TLS listeners need a certificate: --cert FILE --key FILE");
            config_free(cfg);
            return NULL;
        }
    }
    if (a->workers >= 0) cfg->workers = a->workers;
    if (a->access_log) {
        free(cfg->access_log);
        cfg->access_log = dup_or_die(a->access_log);
    }
    if (a->error_log) {
        free(cfg->error_log);
        cfg->error_log = dup_or_die(a->error_log);
    }
    return cfg;
}

/* Opens the servers' own access logs (their slots go into cfg before workers see it) */
static int open_server_logs(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_servers; i++) {
        struct config_access_log *a = cfg->servers[i].access;
        if (!a) continue;
        a->slot = log_open_access_slot(a->path);
        if (a->slot < -1) {
            log_error("cannot open access log %s: %s", a->path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int apply_logs(struct config *cfg)
{
    log_set_level((enum log_level)cfg->log_level);
    if (log_open_error(cfg->error_log) < 0) {
        fprintf(stderr, "tern: cannot open error log %s: %s\n", cfg->error_log, strerror(errno));
        return -1;
    }
    if (log_open_access(cfg->access_log) < 0) {
        log_error("cannot open access log %s: %s", cfg->access_log, strerror(errno));
        return -1;
    }
    return open_server_logs(cfg);
}

static bool same_listens(const struct config *a, const struct config *b)
{
    if (a->n_listens != b->n_listens) return false;
    for (size_t i = 0; i < a->n_listens; i++)
        if (a->listens[i].port != b->listens[i].port ||
            strcmp(a->listens[i].host, b->listens[i].host) != 0)
            return false;
    return true;
}

/* The "listening on" lines for the listeners this process serves. */
static void log_listeners(const struct server *srv, const struct config *cfg)
{
    bool udp = srv->n_workers > 0 && srv->workers[0].n_udp;
    for (size_t i = 0; i < cfg->n_listens; i++) {
        const struct config_listen *l = &cfg->listens[i];
        bool v6 = strchr(l->host, ':') != NULL;
        if (!l->quic_only && srv->part != SERVER_PART_UDP)
            log_info("listening on %s://%s%s%s:%d", l->tls ? "https" : "http", v6 ? "[" : "",
                     l->host, v6 ? "]" : "", l->port);
        if (udp && (l->quic_only || (l->tls && cfg->quic)))
            log_info("listening on udp %s%s%s:%d (HTTP/3)", v6 ? "[" : "", l->host, v6 ? "]" : "",
                     l->port);
    }
    const struct config_listen *m = &cfg->metrics.listen;
    if (cfg->metrics.enabled && srv->part != SERVER_PART_UDP) {
        bool v6 = strchr(m->host, ':') != NULL;
        log_info("metrics on http://%s%s%s:%d/metrics%s", v6 ? "[" : "", m->host, v6 ? "]" : "",
                 m->port, cfg->metrics.status ? " and /status" : "");
    }
}

/* Waits for the next signal; with a restart of the HTTP/3 process pending, no longer than
 * until it is due (then -1). */
static int next_signal(const sigset_t *set, const struct quic_process *qp)
{
    int64_t ms = qp ? quic_process_wait_ms(qp) : -1;
    if (ms < 0) return sigwaitinfo(set, NULL);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    return sigtimedwait(set, NULL, &ts);
}

/* After a binary upgrade that failed: this process's HTTP/3 process, stopped for it, again. */
static void restart_http3(struct quic_process *qp, int argc, char **argv)
{
    char err[256];
    quic_process_free(qp);
    if (quic_process_start(qp, argc, argv, err, sizeof(err)) < 0)
        log_error("HTTP/3 process: cannot start it again: %s", err);
}

int cli_serve(int argc, char **argv)
{
    int ready_fd = -1;
    bool quic_child = quic_process_is_child(&ready_fd);
    if (quic_child) log_set_process_tag("http3");
    upgrade_remember_binary();
    sd_notify_init(); /* before the HTTP/3 child starts: it must not notify */
    const char *from = getenv("TERN_UPGRADE_FROM");
    long upgraded_from = from ? strtol(from, NULL, 10) : 0;
    unsetenv("TERN_UPGRADE_FROM");
    struct serve_args args;
    if (parse_args(argc, argv, &args) < 0) return 2;
    char err[1024];
    struct config *cfg = load_config(&args, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "tern: %s\n", err);
        return 1;
    }
    if (apply_logs(cfg) < 0) {
        config_free(cfg);
        return 1;
    }
    h1_canonical_name(HTTP_TOKEN_NONE); /* build the shared table before threads start */
    size_t inherited = quic_child ? 0 : listen_inherit_collect();
    if (inherited) log_info("%zu listening sockets inherited", inherited);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* workers inherit the mask; main waits below */
    signal(SIGPIPE, SIG_IGN);

    struct tls_server *tls = NULL;
    if (server_config_has_tls(cfg) && !(tls = tls_server_create(cfg, err, sizeof(err)))) {
        log_error("TLS: %s", err);
        config_free(cfg);
        return 1;
    }
    static struct server srv;
    h1_register();
    h2c_register(); /* answers only while http2 and h2c are on in the configuration */
    h3_register();  /* QUIC beside each TLS listener, unless `quic: false` */
    /* HTTP/3 in a process of its own: a crash in the QUIC library leaves TCP serving */
    enum server_part part = quic_child ? SERVER_PART_UDP : SERVER_PART_ALL;
    static struct quic_process qproc;
    struct quic_process *qp = NULL;
    if (!quic_child && cfg->http3.isolate && server_config_has_udp(cfg)) {
        /* the counters' mapping first: the HTTP/3 process counts in it too */
        if (stats_region_create() < 0)
            log_warn("metrics: no shared memory for the counters: %s", strerror(errno));
        if (quic_process_start(&qproc, argc, argv, err, sizeof(err)) < 0) {
            log_error("cannot start: %s", err);
            quic_process_free(&qproc);
            if (tls) tls_server_free(tls);
            config_free(cfg);
            return 1;
        }
        qp = &qproc;
        part = SERVER_PART_TCP;
    }
    if (server_start(&srv, cfg, tls, part) < 0) {
        log_error("cannot start: see the messages above");
        server_free(&srv);
        if (qp) quic_process_stop(qp, SIGTERM, 5000), quic_process_free(qp);
        return 1;
    }
    log_listeners(&srv, cfg);
    if (cfg->user && privileges_drop(cfg->user) < 0) {
        server_stop(&srv, false);
        server_free(&srv);
        if (qp) quic_process_stop(qp, SIGTERM, 5000), quic_process_free(qp);
        return 1;
    }
    if (quic_child) {
        log_info("HTTP/3 process %ld serving with %d workers", (long)getpid(), srv.n_workers);
        quic_process_ready(ready_fd);
    } else if (upgraded_from) {
        log_info("tern %s started with %d workers (binary upgrade from pid %ld)", TERN_VERSION,
                 srv.n_workers, upgraded_from);
    } else {
        log_info("tern %s started with %d workers", TERN_VERSION, srv.n_workers);
    }
    sd_notify_send("READY=1\nSTATUS=serving");
    pid_t upgrade_pid = 0;

    bool graceful = false;
    for (;;) {
        int sig = next_signal(&set, qp);
        if (sig < 0 || sig == SIGCHLD) {
            if (sig == SIGCHLD && upgrade_reap(&upgrade_pid) && qp)
                restart_http3(qp, argc, argv); /* the upgrade failed: serve HTTP/3 again */
            if (qp && sig == SIGCHLD) quic_process_reap(qp);
            if (qp) quic_process_restart_due(qp);
            continue;
        }
        if (sig == SIGUSR2) { /* binary upgrade; the HTTP/3 process is not told */
            if (quic_child) continue;
            if (upgrade_pid > 0) {
                log_warn("binary upgrade: pid %ld is already running", (long)upgrade_pid);
                continue;
            }
            int fds[4096];
            size_t n = server_listen_fds(&srv, fds, sizeof(fds) / sizeof(fds[0]));
            if (qp && qp->pid) {
                /* HTTP/3's UDP sockets are not handed over: a program on their group steers
                 * each packet to a worker of the HTTP/3 process, and a group shared with the
                 * new one's would send packets astray. This HTTP/3 process ends gracefully
                 * first (its clients get GOAWAY and come back), then the new one binds. */
                log_info("binary upgrade: stopping HTTP/3 here first so the new binary's "
                         "HTTP/3 process can take the UDP port");
                int grace_ms = (int)(atomic_load(&srv.cfg)->timeouts.graceful * 1000);
                quic_process_stop(qp, SIGQUIT, grace_ms + 1000);
            }
            upgrade_pid = upgrade_start(argc, argv, fds, n);
            if (upgrade_pid < 0 && qp) restart_http3(qp, argc, argv);
            continue;
        }
        if (qp && sig != SIGCHLD) quic_process_signal(qp, sig); /* it reloads, reopens, stops */
        if (sig == SIGHUP) {
            sd_notify_reloading();
            struct config *next = load_config(&args, err, sizeof(err));
            if (!next) {
                log_error("reload failed, keeping the running configuration: %s", err);
                sd_notify_send("READY=1");
                continue;
            }
            struct config *cur = atomic_load(&srv.cfg);
            if (!same_listens(cur, next))
                log_warn("reload: listen addresses changed; they apply after a restart");
            struct tls_server *next_tls = NULL;
            if (server_config_has_tls(next) &&
                !(next_tls = tls_server_create(next, err, sizeof(err)))) {
                log_error("reload failed, keeping the running configuration: TLS: %s", err);
                config_free(next);
                sd_notify_send("READY=1");
                continue;
            }
            struct tls_server *old_tls = atomic_load(&srv.tls);
            if (next_tls && old_tls) /* tickets issued before the reload keep working */
                tls_server_inherit_tickets(next_tls, old_tls);
            if (apply_logs(next) < 0) {
                log_error("reload failed: logs");
                apply_logs(cur);
                config_free(next);
                if (next_tls) tls_server_free(next_tls);
                sd_notify_send("READY=1");
                continue;
            }
            server_reload(&srv, next, next_tls);
            log_info("configuration reloaded");
            sd_notify_send("READY=1");
        } else if (sig == SIGUSR1) {
            log_reopen();
            log_info("log files reopened");
        } else {
            graceful = sig == SIGQUIT;
            log_info("%s stop on signal %d", graceful ? "graceful" : "fast", sig);
            sd_notify_send("STOPPING=1");
            break;
        }
    }
    server_stop(&srv, graceful);
    if (qp) { /* it got the signal too; it ends no later than its own graceful timeout */
        int grace_ms = graceful ? (int)(atomic_load(&srv.cfg)->timeouts.graceful * 1000) : 0;
        quic_process_stop(qp, 0, grace_ms + 5000);
        quic_process_free(qp);
    }
    server_free(&srv);
    log_info(quic_child ? "HTTP/3 process stopped" : "stopped");
    return 0;
}
