/* webhook.c -- the guard's events posted to an HTTP endpoint, see webhook.h.
 *
 * Posts go one at a time on one evhttp connection: the queue keeps their
 * order, and an endpoint that is down costs one connection attempt per
 * back-off step, not one per event. */
#include "webhook.h"
#include "app.h"
#include "events.h"
#include "log.h"
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct webhook {
    struct app *app;
    struct evhttp_connection *conn;
    char url[512];                    /* the URL conn was made for */
    char *queue[WEBHOOK_QUEUE];       /* JSON bodies, oldest at qhead */
    unsigned qhead, qn, attempt;
    int inflight;
    struct event *kick;               /* sends from the event loop, never the caller's stack */
    uint64_t delivered, failed, dropped;
};

static void post_next(struct webhook *w);

static void post_done(struct evhttp_request *req, void *arg)
{
    struct webhook *w = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;

    w->inflight = 0;
    if (code >= 200 && code < 300) {
        w->delivered++;
        free(w->queue[w->qhead]);
        w->qhead = (w->qhead + 1) % WEBHOOK_QUEUE;
        w->qn--;
        w->attempt = 0;
        struct timeval now = { 0, 0 };
        evtimer_add(w->kick, &now);
        return;
    }
    if (++w->attempt >= WEBHOOK_TRIES) {
        log_at(LOG_WARN, "guard webhook %s: giving up on an event after %d tries (last: %s)",
               w->url, WEBHOOK_TRIES, code ? "an HTTP error status" : "no response");
        w->failed++;
        free(w->queue[w->qhead]);
        w->qhead = (w->qhead + 1) % WEBHOOK_QUEUE;
        w->qn--;
        w->attempt = 0;
    }
    struct timeval tv = { w->attempt ? 1 << (w->attempt - 1) : 0, 0 };   /* 1, 2, 4, 8 s */
    evtimer_add(w->kick, &tv);
}

/* The webhook's answer: only its status counts, the body is dropped as it
 * arrives (libevent drains it after this call), never buffered. */
static void drop_body(struct evhttp_request *req, void *arg)
{
    (void)req;
    (void)arg;
}

static void kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    post_next(arg);
}

static void post_next(struct webhook *w)
{
    struct app *app = w->app;
    const char *url = app->cfg->guard.webhook;

    if (w->inflight || w->qn == 0)
        return;
    if (url == NULL || strcmp(url, w->url) != 0) {   /* changed by a reload */
        if (w->conn)
            evhttp_connection_free(w->conn);
        w->conn = NULL;
        w->url[0] = '\0';
        if (url == NULL) {
            while (w->qn) {
                free(w->queue[w->qhead]);
                w->qhead = (w->qhead + 1) % WEBHOOK_QUEUE;
                w->qn--;
            }
            return;
        }
    }
    struct evhttp_uri *u = evhttp_uri_parse(url);
    if (u == NULL || evhttp_uri_get_host(u) == NULL) {
        if (u)
            evhttp_uri_free(u);
        return;
    }
    const char *host = evhttp_uri_get_host(u), *path = evhttp_uri_get_path(u);
    int port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
    if (w->conn == NULL) {
        w->conn = evhttp_connection_base_new(app->base, NULL, host, (unsigned short)port);
        if (w->conn == NULL) {
            evhttp_uri_free(u);
            return;
        }
        evhttp_connection_set_timeout(w->conn, 5);
        evhttp_connection_set_max_headers_size(w->conn, WEBHOOK_HEAD_MAX);
        snprintf(w->url, sizeof w->url, "%s", url);
    }
    struct evhttp_request *req = evhttp_request_new(post_done, w);
    if (req == NULL) {
        evhttp_uri_free(u);
        return;
    }
    evhttp_request_set_chunked_cb(req, drop_body);
    char hostport[300], target[1024];
    snprintf(hostport, sizeof hostport, "%s:%d", host, port);
    const char *q = evhttp_uri_get_query(u);
    snprintf(target, sizeof target, "%s%s%s", path && *path ? path : "/", q ? "?" : "", q ? q : "");
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "User-Agent", "leakproxy-guard");
    const char *body = w->queue[w->qhead];
    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    evhttp_uri_free(u);
    if (evhttp_make_request(w->conn, req, EVHTTP_REQ_POST, target) == 0)
        w->inflight = 1;              /* on failure evhttp freed req: retried by the kick */
    else {
        struct timeval tv = { 1, 0 };
        evtimer_add(w->kick, &tv);
    }
}

static void rfc3339(char *buf, size_t len, uint64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The post's body for <ev>, a string to free(), NULL on OOM. */
static char *post_body(const struct app *app, const struct event_rec *ev)
{
    json_t *e = events_json(ev), *body;
    if (e == NULL)
        return NULL;
    char text[600];
    snprintf(text, sizeof text, "leakproxy guard %s%s: %s", events_type_names[ev->type],
             ev->dry_run ? " (dry run)" : "", ev->reason);
    if (app->cfg->guard.webhook_alertmanager) {
        /* Alertmanager's POST /api/v2/alerts: a list of alerts */
        char start[32], end[32], routes[EVENT_ROUTES_MAX];
        rfc3339(start, sizeof start, ev->time_ms);
        rfc3339(end, sizeof end, ev->time_ms + 3600000);
        snprintf(routes, sizeof routes, "%s", ev->routes);
        for (char *p = routes; *p; p++)
            if (*p == '\n')
                *p = ',';
        body = json_pack("[{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s},s:s,s:s}]",
                         "labels", "alertname", "LeakproxyGuard", "type", events_type_names[ev->type],
                         "routes", routes, "severity", ev->type == EVT_TRIP || ev->type == EVT_SWITCH
                                                       ? "critical" : "warning",
                         "annotations", "summary", text, "description", ev->reason,
                         "startsAt", start, "endsAt", end);
        json_decref(e);
    } else {
        body = json_pack("{s:s,s:o}", "text", text, "event", e);
    }
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return s;
}

/* Queues <s> (taken), dropping the oldest waiting post when full: the
 * newest events say the most about the state now. */
static void enqueue(struct webhook *w, char *s)
{
    if (w->qn == WEBHOOK_QUEUE) {
        unsigned drop = w->inflight ? (w->qhead + 1) % WEBHOOK_QUEUE : w->qhead;
        free(w->queue[drop]);
        if (drop == w->qhead) {
            w->qhead = (w->qhead + 1) % WEBHOOK_QUEUE;
        } else {                      /* close the gap after the one in flight */
            for (unsigned i = 1; i + 1 < w->qn; i++)
                w->queue[(w->qhead + i) % WEBHOOK_QUEUE] = w->queue[(w->qhead + i + 1) % WEBHOOK_QUEUE];
        }
        w->qn--;
        w->dropped++;
    }
    w->queue[(w->qhead + w->qn++) % WEBHOOK_QUEUE] = s;
    if (!w->inflight && w->attempt == 0) {
        struct timeval now = { 0, 0 };
        evtimer_add(w->kick, &now);   /* never from inside the caller's stack */
    }
}

/* The subscriber: only the guard's own events are posted. */
static void on_event(void *ctx, const struct event_rec *ev)
{
    struct webhook *w = ctx;
    char *s;

    if (w->app->cfg->guard.webhook == NULL || ev->source == NULL || strcmp(ev->source, "guard") != 0)
        return;
    if ((s = post_body(w->app, ev)) != NULL)
        enqueue(w, s);
}

struct webhook *webhook_new(struct app *app)
{
    struct webhook *w = calloc(1, sizeof *w);

    if (w == NULL)
        return NULL;
    w->app = app;
    w->kick = evtimer_new(app->base, kick, w);
    if (w->kick == NULL || events_subscribe(&app->events, on_event, w) < 0) {
        if (w->kick)
            event_free(w->kick);
        free(w);
        return NULL;
    }
    return w;
}

void webhook_free(struct webhook *w)
{
    if (w == NULL)
        return;
    events_unsubscribe(&w->app->events, on_event, w);
    if (w->conn)
        evhttp_connection_free(w->conn);
    event_free(w->kick);
    while (w->qn) {
        free(w->queue[w->qhead]);
        w->qhead = (w->qhead + 1) % WEBHOOK_QUEUE;
        w->qn--;
    }
    free(w);
}

void webhook_get_stats(const struct webhook *w, struct webhook_stats *out)
{
    out->delivered = w->delivered;
    out->failed = w->failed;
    out->dropped = w->dropped;
    out->queued = w->qn;
}
