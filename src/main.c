/* main.c -- command line, start-up, signals, reload and shutdown.
 *
 * main owns the one struct app. Signals arrive through libevent (evsignal),
 * so their handlers run in the loop like everything else: SIGHUP reloads
 * (a bad new config is reported and the old one stays), SIGTERM/SIGINT stop
 * accepting and let in-flight exchanges finish within timeouts.drain_ms,
 * SIGUSR1 reopens the logs at their configured paths (log rotation, as
 * nginx does: rename, signal, and new lines go to a new file). */
#include "admin.h"
#include "app.h"
#include "config.h"
#include "ctl.h"
#include "attrib.h"
#include "bisect.h"
#include "events.h"
#include "gate.h"
#include "guard.h"
#include "log.h"
#include "memsrc.h"
#include "mode.h"
#include "probe.h"
#include "proxy.h"
#include "route.h"
#include "upstream.h"
#include "version.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: leakproxy -c FILE                     run the proxy\n"
        "       leakproxy --check-config|-t -c FILE   validate FILE, exit 0 (ok) or 1\n"
        "       leakproxy --version|-v                the version and git revision\n"
        "       leakproxy --help|-h                   this text\n"
        "       leakproxy ctl [--admin HOST:PORT] [--token TOKEN] [-c FILE] [--json] [--markdown] COMMAND\n"
        "         (also --admin=HOST:PORT, --token=TOKEN; see leakproxy ctl --help)\n"
        "           routes | mode NAME csr|ssr | report | memory | bisect ... | probe ... | events | status\n"
        "\n"
        "leakproxy sits in front of a server-side-rendering server, tags every\n"
        "request with its route and records per-route counts, status, bytes and\n"
        "latency. Admin API: GET /api/routes, /api/routes/NAME, /api/status,\n"
        "/metrics, /healthz on the \"admin\" address. See leakproxy(1), README.md.\n"
        "Signals: HUP reloads the config, TERM/INT drain and exit, USR1 reopens the logs.\n"
        "Exit status: 0 ok, 1 invalid config or start-up failure, 2 usage.\n");
}

static void print_config_error(const char *file, const struct config_err *err)
{
    char buf[CONFIG_PATH_MAX + CONFIG_TEXT_MAX + 600];
    config_err_format(file, err, buf, sizeof buf);
    fprintf(stderr, "leakproxy: %s\n", buf);
}

static int open_logs(const struct config *c)
{
    if (log_open(c->log_file) < 0) {
        fprintf(stderr, "leakproxy: log_file %s: %s\n", c->log_file, strerror(errno));
        return -1;
    }
    if (log_access_open(c->access_log) < 0) {
        log_at(LOG_ERROR, "access_log %s: %s", c->access_log, strerror(errno));
        return -1;
    }
    log_level_min = (enum log_level)c->log_level;
    return 0;
}

/* The admission gate calls up into the proxy (release a held request) and
 * the sampler (a quiesce or a designed row is done) through these: the gate
 * itself knows neither. */
static void gate_release_cb(void *arg, struct gate_waiter *w)
{
    proxy_gate_release(arg, w);
}

static void gate_quiesced_cb(void *arg, int timed_out)
{
    memsrc_gate_quiesced(arg, timed_out);
}

static void gate_row_full_cb(void *arg)
{
    memsrc_row_full(arg);
}

/* The sampler's designed rows ask how far the attribution got with each
 * route (memsrc.h); the answer comes from attrib.h, wired here so that the
 * sampler does not call up into the engine that reads it. */
static void rows_route_state(const struct app *app, unsigned route, struct memsrc_route_state *st)
{
    const struct attrib_route *ar = attrib_route_get(app, route);

    st->verdict = ar ? (unsigned)ar->verdict + 1 : 0;
    st->need = ar == NULL || ar->verdict == V_SUSPECT ? MEMSRC_NEED_FLOORS
             : ar->verdict == V_UNKNOWN ? MEMSRC_NEED_UNSURE : MEMSRC_NEED_NONE;
}

static void reload(struct app *app)
{
    struct config_err err;
    struct config *nc = config_load(app->config_file, &err);
    char buf[CONFIG_PATH_MAX + CONFIG_TEXT_MAX + 600];

    if (nc == NULL) {
        config_err_format(app->config_file, &err, buf, sizeof buf);
        log_at(LOG_ERROR, "reload failed, keeping the running config: %s", buf);
        app->reload_failures++;
        return;
    }
    unsigned *map = stats_sync(&app->stats, nc->routes);
    if (map == NULL) {
        log_at(LOG_ERROR, "reload failed: out of memory; keeping the running config");
        app->reload_failures++;
        config_free(nc);
        return;
    }
    struct config *old = app->cfg;
    if (strcmp(old->listen.text, nc->listen.text) != 0)
        log_at(LOG_WARN, "reload: \"listen\" changed to %s; this takes a restart", nc->listen.text);
    if (strcmp(old->admin.text, nc->admin.text) != 0)
        log_at(LOG_WARN, "reload: \"admin\" changed to %s; this takes a restart", nc->admin.text);
    int upstream_changed = old->ntargets != nc->ntargets;
    for (unsigned i = 0; !upstream_changed && i < nc->ntargets; i++)
        upstream_changed = strcmp(old->targets[i].text, nc->targets[i].text) != 0 ||
                           old->targets[i].salen != nc->targets[i].salen ||
                           memcmp(&old->targets[i].sa, &nc->targets[i].sa, nc->targets[i].salen) != 0;
    free(app->route_slot);
    app->route_slot = map;
    if (gate_resize(app->gate, app->stats.n) < 0)
        log_at(LOG_WARN, "reload: out of memory widening the admission gate");
    memsrc_stop(app);                 /* it points into the old config */
    app->cfg = nc;
    mode_apply_config(app);
    if (series_resize(&app->series, app->stats.n) < 0)
        log_at(LOG_WARN, "reload: out of memory widening the memory series");
    if (memsrc_start(app, rows_route_state) < 0)
        log_at(LOG_ERROR, "reload: the memory source did not start; no memory readings");
    app_apply_limits(app);
    if (upstream_changed)
        upstream_pool_clear(app);
    if (open_logs(nc) < 0)
        log_at(LOG_WARN, "reload: could not reopen the logs");
    if (events_open_log(&app->events, nc->event_log) < 0)
        log_at(LOG_WARN, "reload: could not open event_log %s: %s", nc->event_log, strerror(errno));
    if (guard_start(app) < 0)
        log_at(LOG_ERROR, "reload: out of memory starting the guard");
    config_free(old);
    app->reloads++;
    log_at(LOG_INFO, "reloaded %s: %u routes", app->config_file, route_count(nc->routes) - 1);
    struct event_rec *ev = events_begin(app, EVT_RELOAD, "config");
    snprintf(ev->reason, sizeof ev->reason, "reloaded %s: %u routes", app->config_file,
             route_count(nc->routes) - 1);
    events_commit(app, ev);
}

/* SIGUSR1. Each log is flushed, and the new file opened before the old one
 * is closed, so no line is lost; one that cannot be reopened keeps its old
 * file (and says so). The config is not re-read. */
static void reopen_logs(struct app *app)
{
    const struct config *c = app->cfg;

    log_flush();
    if (log_open(c->log_file) < 0)
        log_at(LOG_ERROR, "SIGUSR1: log_file %s: %s; still writing to the old one", c->log_file,
               strerror(errno));
    if (log_access_open(c->access_log) < 0)
        log_at(LOG_ERROR, "SIGUSR1: access_log %s: %s; still writing to the old one", c->access_log,
               strerror(errno));
    if (events_open_log(&app->events, c->event_log) < 0)
        log_at(LOG_ERROR, "SIGUSR1: event_log %s: %s; still writing to the old one", c->event_log,
               strerror(errno));
    log_at(LOG_INFO, "SIGUSR1: logs reopened");
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct app *app = arg;
    (void)what;

    if (sig == SIGHUP) {
        reload(app);
        return;
    }
    if (sig == SIGUSR1) {
        reopen_logs(app);
        return;
    }
    if (app->draining) {
        log_at(LOG_WARN, "second signal: exiting now");
        event_base_loopbreak(app->base);
        return;
    }
    log_at(LOG_INFO, "signal %d: draining %u connections (at most %d ms)", (int)sig,
           app->nclients, app->cfg->timeouts.drain_ms);
    proxy_drain(app);
    struct timeval tv = { app->cfg->timeouts.drain_ms / 1000,
                          (app->cfg->timeouts.drain_ms % 1000) * 1000 };
    event_base_loopexit(app->base, &tv);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    log_flush();
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    int check = 0;
    struct config_err err;
    struct app app;

    if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
        return ctl_main(argc - 2, argv + 2);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0 || strcmp(argv[i], "-t") == 0) {
            check = 1;
        } else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-v") == 0) {
            printf("leakproxy %s (revision %s)\n", LEAKPROXY_VERSION, LEAKPROXY_REVISION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "leakproxy: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (file == NULL) {
        fprintf(stderr, "leakproxy: no config file (-c FILE)\n");
        usage(stderr);
        return 2;
    }

    memset(&app, 0, sizeof app);
    app.config_file = file;
    if ((app.cfg = config_load(file, &err)) == NULL) {
        print_config_error(file, &err);
        return 1;
    }
    if (check) {
        printf("%s: ok (%u routes)\n", file, route_count(app.cfg->routes) - 1);
        config_free(app.cfg);
        return 0;
    }
    if (open_logs(app.cfg) < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    app.start_us = app_now_us();
    stats_init(&app.stats);
    if ((app.base = event_base_new()) == NULL ||
        (app.route_slot = stats_sync(&app.stats, app.cfg->routes)) == NULL) {
        log_at(LOG_ERROR, "out of memory at start-up");
        return 1;
    }
    app_apply_limits(&app);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    app.start_wall_ms = (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000;
    mode_apply_config(&app);
    if (series_init(&app.series, app.stats.n,
                    (uint64_t)(app.cfg->memory.floor_window_ms ? app.cfg->memory.floor_window_ms : 30000) * 1000) < 0) {
        log_at(LOG_ERROR, "out of memory at start-up");
        return 1;
    }
    struct gate_ops gops = { &app, gate_release_cb, gate_quiesced_cb, gate_row_full_cb };
    if ((app.gate = gate_new(app.base, app.stats.n, &gops)) == NULL) {
        log_at(LOG_ERROR, "out of memory at start-up");
        return 1;
    }
    events_init(&app.events);
    if (events_open_log(&app.events, app.cfg->event_log) < 0) {
        log_at(LOG_ERROR, "event_log %s: %s", app.cfg->event_log, strerror(errno));
        return 1;
    }
    if (proxy_start(&app) < 0 || admin_start(&app) < 0 || memsrc_start(&app, rows_route_state) < 0 ||
        attrib_start(&app) < 0 || guard_start(&app) < 0 || probe_auto_start(&app) < 0)
        return 1;

    struct event *sigs[4];
    const int signo[4] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };
    for (int i = 0; i < 4; i++) {
        sigs[i] = evsignal_new(app.base, signo[i], signal_cb, &app);
        evsignal_add(sigs[i], NULL);
    }
    app.ev_flush = event_new(app.base, -1, EV_PERSIST, flush_cb, &app);
    struct timeval sec = { 1, 0 };
    event_add(app.ev_flush, &sec);

    event_base_dispatch(app.base);

    log_at(LOG_INFO, "exiting");
    bisect_free(&app);               /* restores the modes it changed */
    guard_free(&app);
    probe_free(&app);
    probe_release(&app);
    attrib_stop(&app);
    memsrc_stop(&app);
    proxy_stop(&app);
    gate_free(app.gate);
    app.gate = NULL;
    admin_stop(&app);
    series_fini(&app.series);
    for (int i = 0; i < 4; i++)
        event_free(sigs[i]);
    event_free(app.ev_flush);
    log_flush();
    events_close(&app.events);
    stats_fini(&app.stats);
    free(app.route_slot);
    config_free(app.cfg);
    event_base_free(app.base);
    log_close();
    return 0;
}
