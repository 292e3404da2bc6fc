/* app.h -- the one struct main owns and passes by pointer: configuration,
 * routes, recorder, listeners, upstream pool and the event base. Tests build
 * their own. Fields are read by several modules; each module's comments say
 * which fields it owns. */
#ifndef LEAKPROXY_APP_H
#define LEAKPROXY_APP_H
#include <stdint.h>
#include <sys/time.h>

#include "config.h"
#include "events.h"
#include "http1.h"
#include "probe.h"
#include "series.h"
#include "stats.h"

struct event_base;
struct event;
struct evconnlistener;
struct admin;
struct config;
struct client;
struct upconn;
struct attrib;
struct bisect_run;
struct guard;
struct gate;

struct app {
    struct event_base *base;
    struct config *cfg;              /* current; replaced whole on reload */
    const char *config_file;

    /* recorder: route id (of cfg->routes) -> slot in stats */
    struct stats stats;
    unsigned *route_slot;

    /* limits and common timeouts derived from cfg (see app_apply) */
    struct http1_limits lim;
    struct timeval tv_connect, tv_response, tv_idle, tv_header, tv_upidle;

    /* proxy (proxy.c) */
    struct evconnlistener *listener;
    struct client *clients;          /* all open client connections */
    unsigned nclients;
    int listener_paused;             /* at max_connections, or out of descriptors */
    int draining;                    /* SIGTERM: finish and exit */
    struct gate *gate;               /* gate.c: holds requests for forced GCs and designed rows */
    uint64_t connections_total, connections_rejected;
    uint64_t idle_drained;            /* idle keep-alive connections closed for lack of descriptors */
    struct event *ev_accept_retry;   /* re-enables a listener paused for lack of descriptors */
    uint64_t accept_warn_us;         /* last "out of descriptors" warning (one a second) */
    char listen_addr[64];
    size_t pipelined;                /* request bytes read ahead, all clients */
    char *path_buf;                  /* a target's path normalised for matching */
    size_t path_cap;

    /* upstream pools (upstream.c): [0] the upstream, then fallback upstreams */
    struct upconn *idle[CONFIG_TARGETS_MAX];  /* idle keep-alive connections */
    unsigned nidle_of[CONFIG_TARGETS_MAX];
    unsigned nidle, nupconns;        /* totals */
    unsigned pool_gen;               /* bumped when the targets change */
    uint64_t upstream_connects, upstream_reuses;

    /* admin (admin.c) */
    struct admin *admin;             /* opaque: the listener and its connections */
    char admin_addr[64];

    /* memory (memsrc.c, series.c) */
    struct memsrc *mem;
    struct series series;
    struct attrib *attrib;           /* attrib.c */
    struct probe_state probe;        /* probe.c */
    struct bisect_run *bisect;       /* bisect.c */
    struct guard *guard;             /* guard.c, NULL until a "guard" is configured */
    struct events events;            /* events.c: the decision log */

    struct event *ev_flush;          /* access log flush timer */
    uint64_t start_wall_ms;          /* Unix time at start-up, for API timestamps */
    uint64_t start_us;               /* monotonic, at start-up */
    uint64_t reloads, reload_failures;
};

/* Microseconds from a monotonic clock. */
uint64_t app_now_us(void);
/* (Re)derives limits and timeouts from app->cfg, and the descriptor
 * budget (app_fd_budget). */
void app_apply_limits(struct app *app);
/* Raises the soft RLIMIT_NOFILE towards what <max_connections> needs (two
 * descriptors each, plus a margin) and warns, with how many connections
 * fit, when the hard limit stops it. */
void app_fd_budget(int max_connections);
/* Unix time in ms: now, and at monotonic time <t_us> (app_now_us's clock). */
uint64_t app_wall_ms(const struct app *app);
uint64_t app_wall_ms_at(const struct app *app, uint64_t t_us);
#endif
