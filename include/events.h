/* events.h -- what leakproxy decided, in order: the guard's trips, switches,
 * restores and refusals, mode changes by hand, bisections and probes,
 * worker restarts, reloads. A fixed ring (the newest EVENTS_MAX), served newest
 * first by GET /api/events, written as JSON lines to "event_log" when set,
 * counted in /metrics, and handed to its subscribers (the guard's webhook:
 * webhook.h). No
 * allocation in the ring: an event is copied into its slot. */
#ifndef LEAKPROXY_EVENTS_H
#define LEAKPROXY_EVENTS_H
#include <stdint.h>
#include <stdio.h>

#define EVENTS_MAX        256
#define EVENT_ROUTES_MAX  480        /* route names, '\n'-separated */
#define EVENT_REASON_MAX  400

/* EVT_*, not EV_*: libevent owns EV_READ, EV_PERSIST, ... */
enum event_type { EVT_TRIP, EVT_SWITCH, EVT_RESTORE, EVT_REFUSED, EVT_RECOVERED,
                  EVT_MODE, EVT_BISECT, EVT_PROBE, EVT_RESTART, EVT_RELOAD,
                  EVT_NARROW,          /* the guard's narrowing: a verdict that changed no mode */
                  EVT_NTYPES };
extern const char *const events_type_names[EVT_NTYPES];

enum event_action { EVT_ACT_NONE, EVT_ACT_CSR, EVT_ACT_SSR };

struct event_rec {
    uint64_t id;                      /* 1, 2, ... */
    uint64_t time_ms;                 /* Unix ms */
    enum event_type type;
    const char *source;               /* static string: "guard", "manual", ... */
    enum event_action action;
    int dry_run;
    int64_t worker;                   /* pid, 0 if none */
    const char *metric;               /* static string (attrib_metric_names), NULL if none */
    uint64_t bytes, threshold;        /* 0 if none */
    unsigned nroutes;                 /* names added (some may not fit in <routes>) */
    int full;                         /* a name did not fit: the list stops there */
    char routes[EVENT_ROUTES_MAX];
    char reason[EVENT_REASON_MAX];
};

/* A subscriber hears every committed event, after it is logged; it must not
 * commit events itself (the guard's webhook is one: webhook.h). */
typedef void events_fn(void *ctx, const struct event_rec *ev);
#define EVENTS_SUBSCRIBERS_MAX 4

struct events {
    struct event_rec ring[EVENTS_MAX];
    struct { events_fn *fn; void *ctx; } sub[EVENTS_SUBSCRIBERS_MAX];
    unsigned nsub;
    uint64_t next_id;                 /* id of the next event (starts at 1) */
    uint64_t count[EVT_NTYPES];
    FILE *log;                        /* "event_log", NULL when off */
};

struct app;

void events_init(struct events *e);
/* (Re)opens the event log at <path> (NULL: off, "-": stdout). 0 or -1. */
int events_open_log(struct events *e, const char *path);
void events_close(struct events *e);

/* Adds <fn>(<ctx>, event) to what events_commit() calls: 0, or -1 when
 * EVENTS_SUBSCRIBERS_MAX are there. Removing one that is not there is a no-op. */
int events_subscribe(struct events *e, events_fn *fn, void *ctx);
void events_unsubscribe(struct events *e, events_fn *fn, void *ctx);

/* Starts an event (time, id, type, source filled, the rest zero) and returns
 * it for the caller to fill; events_commit() logs it and hands it on. */
struct event_rec *events_begin(struct app *app, enum event_type t, const char *source);
void events_add_route(struct event_rec *ev, const char *name);
void events_commit(struct app *app, struct event_rec *ev);

/* The <i>-th newest event (0 = newest), NULL past the end. */
const struct event_rec *events_newest(const struct events *e, unsigned i);

/* <ev> as a JSON object (the API's, the log's and the webhook's shape):
 * a new reference, NULL on OOM. */
struct json_t;
struct json_t *events_json(const struct event_rec *ev);
#endif
