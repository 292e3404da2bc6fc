/* admin.c -- the admin listener: its connections, the dispatch table (one
 * row per path: methods, token), the JSON API and /healthz; /metrics is
 * rendered by metrics.c, the text report by report.c. See admin.h.
 * Everything here runs on demand, off the hot path: quantiles are computed
 * from the histograms when asked. */
#include "admin.h"
#include "app.h"
#include "config.h"
#include "dashboard.h"
#include "events.h"
#include "fallback.h"
#include "gate.h"
#include "guard.h"
#include "attrib.h"
#include "bisect.h"
#include "log.h"
#include "memsrc.h"
#include "metrics.h"
#include "mode.h"
#include "probe.h"
#include "report.h"
#include "series.h"
#include "route.h"
#include "version.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ADMIN_MAX_BODY 65536

/* One admin connection (see "listener and connections" below). */
struct admin_conn {
    struct admin *adm;
    struct bufferevent *bev;           /* referenced until attached, then NULL */
    struct evhttp_connection *evcon;   /* NULL until attached */
    struct event attach, deadline;
    struct admin_conn *prev, *next;
};

struct admin {
    struct app *app;
    struct evhttp *http;
    struct evconnlistener *listener;   /* owned by <http>; NULL once stopping */
    struct event *retry;               /* see admin_accept_error_cb */
    struct admin_conn *conns;
    unsigned nconns;
};

int admin_token_ok(const char *token, const char *given, size_t glen)
{
    size_t tlen = strlen(token);
    unsigned char diff = (unsigned char)(tlen != glen);
    for (size_t i = 0; i < tlen; i++)
        diff |= (unsigned char)(token[i] ^ (i < glen ? given[i] : 0));
    return diff == 0;
}

int admin_json_body(struct evbuffer *out, const json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    if (s == NULL)
        return -1;
    int rc = evbuffer_add(out, s, strlen(s)) == 0 && evbuffer_add(out, "\n", 1) == 0 ? 0 : -1;
    free(s);
    return rc;
}

/* Every JSON answer goes out here, and takes <j> (NULL: a failed json_pack).
 * An answer that cannot be encoded (NULL, a string that is not UTF-8) is a
 * 500 that says so, never a 200 with an empty body a client would take for
 * an answer. */
static void reply_json(struct evhttp_request *req, int code, json_t *j)
{
    struct evbuffer *b = evbuffer_new();
    if (b && admin_json_body(b, j) < 0) {
        static const char msg[] = "{\"error\":\"internal error: the answer could not be encoded as "
                                  "JSON (out of memory, or text that is not UTF-8)\"}\n";
        log_at(LOG_ERROR, "admin: %s %s: the %d answer could not be encoded as JSON; answering 500",
               evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET" : "request",
               evhttp_request_get_uri(req), code);
        code = 500;
        evbuffer_drain(b, evbuffer_get_length(b));
        evbuffer_add(b, msg, sizeof msg - 1);
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    evhttp_send_reply(req, code, code == 200 ? "OK" : code == 404 ? "Not Found" : code == 400 ? "Bad Request" :
                      code == 401 ? "Unauthorized" : code == 405 ? "Method Not Allowed" :
                      code == 409 ? "Conflict" : code == 500 ? "Internal Server Error" : "Error", b);
    json_decref(j);
    if (b)
        evbuffer_free(b);
}

static void reply_error(struct evhttp_request *req, int code, const char *msg)
{
    reply_json(req, code, json_pack("{s:s}", "error", msg));
}

static json_t *quantiles_ms(const struct hist *h)
{
    return json_pack("{s:f,s:f,s:f,s:f}",
                     "p50", hist_quantile(h, 0.50) / 1000.0,
                     "p90", hist_quantile(h, 0.90) / 1000.0,
                     "p99", hist_quantile(h, 0.99) / 1000.0,
                     "max", (double)h->max_us / 1000.0);
}

static json_t *route_json(const struct app *app, unsigned slot, int id)
{
    const struct stats_route *r = app->stats.slot[slot];
    json_t *errs = json_object();
    for (int k = 0; k < STATS_ERR_N; k++)
        json_object_set_new(errs, stats_err_names[k], json_integer((json_int_t)r->errors[k]));
    json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I},s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:s}",
                     "name", r->name,
                     "match", r->pattern ? r->pattern : "",
                     "requests", (json_int_t)r->requests,
                     "inflight", (json_int_t)r->inflight,
                     "status",
                     "1xx", (json_int_t)r->status[1], "2xx", (json_int_t)r->status[2],
                     "3xx", (json_int_t)r->status[3], "4xx", (json_int_t)r->status[4],
                     "5xx", (json_int_t)r->status[5],
                     "rendered", (json_int_t)r->rendered,
                     "bytes_in", (json_int_t)r->bytes_in,
                     "bytes_out", (json_int_t)r->bytes_out,
                     "upstream_errors", (json_int_t)stats_upstream_errors(r),
                     "errors", errs,
                     "latency_ms", quantiles_ms(&r->latency),
                     "ttfb_ms", quantiles_ms(&r->ttfb),
                     "mode", r->mode == MODE_CSR ? "csr" : "ssr");
    json_object_set_new(j, "mode_by", json_string(mode_by_names[r->mode_by]));
    json_object_set_new(j, "mode_since_ms", json_integer((json_int_t)r->mode_since_ms));
    json_object_set_new(j, "never_csr", json_boolean(r->never_csr));
    json_object_set_new(j, "csr_requests", json_integer((json_int_t)r->csr_requests));
    json_object_set_new(j, "held", json_pack("{s:I,s:f}", "requests", (json_int_t)r->held,
                                             "ms", (double)r->held_us / 1000.0));
    if (id < 0)
        id = route_find(app->cfg->routes, r->name);
    const struct config_fallback *fb = fallback_for(app->cfg, (unsigned)id);   /* -1: the global one */
    json_object_set_new(j, "fallback", fb->kind != FB_NONE ? json_string(fb->text) : json_null());
    attrib_route_json(app, slot, probe_captured(app, slot), j);
    return j;
}

/* The request's JSON body (new reference), or NULL if it is not JSON. The
 * size is bounded by evhttp (ADMIN_MAX_BODY). */
static json_t *request_json(struct evhttp_request *req)
{
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    json_error_t jerr;
    return json_loadb((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b), 0, &jerr);
}

/* /api/probe: POST starts, GET shows, DELETE aborts */
static void api_probe(struct app *app, struct evhttp_request *req, const char *name)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    (void)name;
    if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) {
        reply_json(req, 200, probe_json(app));
        return;
    }
    if (cmd == EVHTTP_REQ_DELETE) {
        probe_abort(app, "aborted through the admin API");
        reply_json(req, 200, probe_json(app));
        return;
    }
    json_t *body = request_json(req);
    const char *route = body ? json_string_value(json_object_get(body, "route")) : NULL;
    json_t *n = body ? json_object_get(body, "requests") : NULL, *c = body ? json_object_get(body, "concurrency") : NULL,
           *bl = body ? json_object_get(body, "block") : NULL, *sp = body ? json_object_get(body, "split") : NULL;
    if (route == NULL || (n && (!json_is_integer(n) || json_integer_value(n) < 10 || json_integer_value(n) > 100000)) ||
        (c && (!json_is_integer(c) || json_integer_value(c) < 1 || json_integer_value(c) > 16)) ||
        (bl && (!json_is_integer(bl) || json_integer_value(bl) < 1 || json_integer_value(bl) > 10000)) ||
        (sp && !json_is_string(sp))) {
        json_decref(body);
        reply_error(req, 400, "expected {\"route\": NAME, \"requests\": 10..100000, \"concurrency\": 1..16, "
                              "\"block\": 1..10000, \"split\": \"param:NAME\" | \"query:KEY\" | \"header:NAME\"}");
        return;
    }
    char err[300];
    int code = probe_start(app, route, n ? (unsigned)json_integer_value(n) : 200,
                           c ? (unsigned)json_integer_value(c) : 1, bl ? (unsigned)json_integer_value(bl) : 0,
                           sp ? json_string_value(sp) : NULL, err, sizeof err);
    json_decref(body);
    if (code != 200) {
        reply_error(req, code, err);
        return;
    }
    reply_json(req, 200, probe_json(app));
}

/* /api/bisect: POST starts, GET shows, DELETE aborts and restores */
static void api_bisect(struct app *app, struct evhttp_request *req, const char *name)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    (void)name;
    if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) {
        reply_json(req, 200, bisect_json(app));
        return;
    }
    if (cmd == EVHTTP_REQ_DELETE) {
        bisect_abort(app, "aborted through the admin API");
        reply_json(req, 200, bisect_json(app));
        return;
    }
    json_t *body = request_json(req);
    json_t *routes = body ? json_object_get(body, "routes") : NULL, *rs = body ? json_object_get(body, "round_seconds") : NULL,
           *metric = body ? json_object_get(body, "metric") : NULL, *ms = body ? json_object_get(body, "max_seconds") : NULL;
    const char *names[256];
    unsigned n = 0;
    int bad = body == NULL || !json_is_object(body) ||
              (rs && (!json_is_integer(rs) || json_integer_value(rs) < 2 || json_integer_value(rs) > 3600)) ||
              (metric && !json_is_string(metric)) ||
              (ms && (!json_is_integer(ms) || json_integer_value(ms) < 60 || json_integer_value(ms) > 86400));
    if (!bad && routes && !(json_is_string(routes) && strcmp(json_string_value(routes), "all") == 0)) {
        size_t i;
        json_t *v;
        if (!json_is_array(routes) || json_array_size(routes) == 0 || json_array_size(routes) > 256)
            bad = 1;
        else
            json_array_foreach(routes, i, v) {
                if (!json_is_string(v))
                    bad = 1;
                else
                    names[n++] = json_string_value(v);
            }
    }
    if (bad) {
        json_decref(body);
        reply_error(req, 400, "expected {\"routes\": [NAME, ...] | \"all\", \"round_seconds\": 2..3600, "
                              "\"max_seconds\": 60..86400, \"metric\": \"heap_used\" | \"rss\" | \"external\"}");
        return;
    }
    char err[300];
    int code = bisect_start(app, n ? names : NULL, n, rs ? (unsigned)json_integer_value(rs) : 60,
                            ms ? (unsigned)json_integer_value(ms) : 0, metric ? json_string_value(metric) : NULL, err, sizeof err);
    json_decref(body);
    if (code != 200) {
        reply_error(req, code, err);
        return;
    }
    reply_json(req, 200, bisect_json(app));
}

/* PUT /api/routes/NAME/mode {"mode": "csr" | "ssr"} */
static void api_route_mode(struct app *app, struct evhttp_request *req, const char *name)
{
    int id = route_find(app->cfg->routes, name);
    if (id < 0) {
        reply_error(req, 404, "no such route");
        return;
    }
    json_t *body = request_json(req);
    const char *m = body ? json_string_value(json_object_get(body, "mode")) : NULL;
    if (m == NULL || (strcmp(m, "csr") != 0 && strcmp(m, "ssr") != 0)) {
        json_decref(body);
        reply_error(req, 400, "expected a JSON body {\"mode\": \"csr\"} or {\"mode\": \"ssr\"}");
        return;
    }
    enum route_mode to = strcmp(m, "csr") == 0 ? MODE_CSR : MODE_SSR;
    json_decref(body);
    enum mode_verdict v = mode_can_switch(app, app->route_slot[id], to, BY_MANUAL);
    if (v != MODE_OK) {
        reply_error(req, 409, mode_why(v));
        return;
    }
    mode_set(app, app->route_slot[id], to, BY_MANUAL, NULL);
    reply_json(req, 200, route_json(app, app->route_slot[id], id));
}

static void api_routes(struct app *app, struct evhttp_request *req, const char *name)
{
    const struct route_table *t = app->cfg->routes;
    unsigned n = route_count(t);

    if (name) {
        int id = route_find(t, name);
        if (id < 0) {
            reply_error(req, 404, "no such route");
            return;
        }
        reply_json(req, 200, route_json(app, app->route_slot[id], id));
        return;
    }
    json_t *arr = json_array();
    for (unsigned id = 1; id <= n; id++) {
        unsigned rid = id == n ? ROUTE_OTHER : id;     /* _other last */
        json_array_append_new(arr, route_json(app, app->route_slot[rid], (int)rid));
    }
    reply_json(req, 200, json_pack("{s:o}", "routes", arr));
}

static long query_long(const char *uri, const char *key, long def, long min, long max);

/* GET /api/events?since=MS&after=ID&limit=N: newest first */
static void api_events(struct app *app, struct evhttp_request *req, const char *name)
{
    (void)name;
    const char *uri = evhttp_request_get_uri(req);
    long since = query_long(uri, "since", 0, 0, LONG_MAX);
    long after = query_long(uri, "after", 0, 0, LONG_MAX);
    long limit = query_long(uri, "limit", 100, 1, EVENTS_MAX);
    json_t *a = json_array();
    const struct event_rec *ev;

    for (unsigned i = 0; (long)json_array_size(a) < limit && (ev = events_newest(&app->events, i)); i++) {
        if ((long)ev->id <= after || (long)ev->time_ms <= since)
            break;
        json_t *j = events_json(ev);
        if (j)
            json_array_append_new(a, j);
    }
    reply_json(req, 200, json_pack("{s:o,s:I,s:i}", "events", a,
                                   "last_id", (json_int_t)(app->events.next_id - 1), "kept", EVENTS_MAX));
}

static void api_status(struct app *app, struct evhttp_request *req, const char *name)
{
    (void)name;
    uint64_t now = app_now_us();
    reply_json(req, 200, json_pack("{s:s,s:s,s:f,s:s,s:s,s:{s:I,s:I,s:I,s:I,s:b},s:{s:I,s:I,s:I,s:I},s:{s:I,s:I},s:o}",
        "version", LEAKPROXY_VERSION,
        "revision", LEAKPROXY_REVISION,
        "uptime_s", (double)(now - app->start_us) / 1e6,
        "listen", app->listen_addr,
        "upstream", app->cfg->upstream.text,
        "connections", "current", (json_int_t)app->nclients,
                       "total", (json_int_t)app->connections_total,
                       "fd_exhausted", (json_int_t)app->connections_rejected,
                       "idle_closed", (json_int_t)app->idle_drained,
                       "paused", app->listener_paused ? 1 : 0,
        "upstream_pool", "idle", (json_int_t)app->nidle,
                         "open", (json_int_t)app->nupconns,
                         "connects", (json_int_t)app->upstream_connects,
                         "reuses", (json_int_t)app->upstream_reuses,
        "reloads", "ok", (json_int_t)app->reloads,
                   "failed", (json_int_t)app->reload_failures,
        "guard", guard_json(app)));
}

/* ---- /api/memory ------------------------------------------------------- */

static json_t *point_json(const struct app *app, const struct series_point *p)
{
    /* [t_ms, rss, heap_used, heap_total, external, floor, gc] */
    json_t *a = json_array();
    json_array_append_new(a, json_integer((json_int_t)app_wall_ms_at(app, p->t_us)));
    json_array_append_new(a, p->flags & MEM_HAS_RSS ? json_integer((json_int_t)p->rss) : json_null());
    json_array_append_new(a, p->flags & MEM_HAS_HEAP ? json_integer((json_int_t)p->heap_used) : json_null());
    json_array_append_new(a, p->flags & MEM_HAS_HEAP ? json_integer((json_int_t)p->heap_total) : json_null());
    json_array_append_new(a, p->flags & MEM_HAS_EXT ? json_integer((json_int_t)p->external) : json_null());
    json_array_append_new(a, p->flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV)
                                 ? json_integer((json_int_t)p->floor) : json_null());
    json_array_append_new(a, json_integer((p->flags & MEM_GC) ? 1 : 0));
    return a;
}

static long query_long(const char *uri, const char *key, long def, long min, long max)
{
    struct evkeyvalq q;
    long v = def;
    const char *qs = strchr(uri, '?');
    if (qs == NULL || evhttp_parse_query_str(qs + 1, &q) < 0)
        return def;
    const char *s = evhttp_find_header(&q, key);
    if (s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (*s && *end == '\0')
            v = x < min ? min : x > max ? max : x;
    }
    evhttp_clear_headers(&q);
    return v;
}

/* One worker of /api/memory: its latest reading, floor, and the last
 * <points> samples after <since> of its raw (else coarse) ring. */
static json_t *worker_json(const struct app *app, const struct series_worker *w, long points, long since,
                           int coarse)
{
    json_t *samples = json_array();
    unsigned n = series_npoints(w, !coarse), from = n > (unsigned)points ? n - (unsigned)points : 0;
    for (unsigned k = from; k < n; k++) {
        const struct series_point *p = series_point(w, !coarse, k);
        if ((long)app_wall_ms_at(app, p->t_us) <= since)
            continue;
        json_array_append_new(samples, point_json(app, p));
    }
    const struct series_point *l = &w->last;
    json_t *latest = json_object();
    json_object_set_new(latest, "time_ms", json_integer((json_int_t)app_wall_ms_at(app, l->t_us)));
    if (l->flags & MEM_HAS_RSS)
        json_object_set_new(latest, "rss", json_integer((json_int_t)l->rss));
    if (l->flags & MEM_HAS_HEAP) {
        json_object_set_new(latest, "heap_used", json_integer((json_int_t)l->heap_used));
        json_object_set_new(latest, "heap_total", json_integer((json_int_t)l->heap_total));
    }
    if (l->flags & MEM_HAS_EXT)
        json_object_set_new(latest, "external", json_integer((json_int_t)l->external));
    json_object_set_new(latest, "gc", json_boolean(l->flags & MEM_GC));
    json_t *wj = json_pack("{s:I,s:i,s:b,s:b,s:I,s:I,s:o,s:o,s:s,s:o}",
        "pid", (json_int_t)w->pid, "generation", (int)w->gen,
        "alive", w->alive, "stale", w->stale,
        "first_seen_ms", (json_int_t)app_wall_ms_at(app, w->first_us),
        "last_seen_ms", (json_int_t)app_wall_ms_at(app, w->last_us),
        "latest", latest,
        "floor_bytes", l->flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV)
                           ? json_integer((json_int_t)l->floor) : json_null(),
        "floor_kind", l->flags & SERIES_FLOOR_GC ? "gc" : l->flags & SERIES_FLOOR_ENV ? "envelope" : "none",
        "samples", samples);
    if (w->limit)
        json_object_set_new(wj, "limit_bytes", json_integer((json_int_t)w->limit));
    return wj;
}

/* The forced-GC budget and the designed rows (with memory.gc_url only). */
static void memory_gc_json(const struct app *app, const struct memsrc_health *h, json_t *j)
{
    json_object_set_new(j, "gc", json_pack("{s:f,s:f,s:f,s:f,s:I,s:I}", "last_ms", h->last_gc_ms,
                                           "duty", h->gc_duty, "max_duty", app->cfg->memory.max_gc_duty,
                                           "duty_target", h->duty_target,
                                           "quiesced", (json_int_t)h->quiesced,
                                           "quiesce_timeouts", (json_int_t)h->quiesce_timeouts));
    struct gate_stats gs;
    gate_get_stats(app->gate, &gs);
    static const char *const states[] = { "open", "row", "quiesce" };
    json_object_set_new(j, "design", json_pack("{s:b,s:b,s:s,s:I,s:I,s:i,s:i,s:i,s:I,s:f,s:I}",
        "enabled", h->design, "running", h->rows_on, "gate", states[gate_state(app->gate)],
        "rows", (json_int_t)h->rows_designed, "rows_stalled", (json_int_t)gs.rows_stalled,
        "min_requests", app->cfg->memory.row_min, "max_requests", app->cfg->memory.row_max,
        "hold_ms", app->cfg->memory.hold_ms,
        "held_requests", (json_int_t)gs.held, "held_ms", (double)gs.held_us / 1000.0,
        "hold_expired", (json_int_t)gs.hold_expired));
}

static void api_memory(struct app *app, struct evhttp_request *req, const char *name)
{
    (void)name;
    const char *uri = evhttp_request_get_uri(req);
    long points = query_long(uri, "points", 300, 0, SERIES_RAW > SERIES_COARSE ? SERIES_RAW : SERIES_COARSE);
    long since = query_long(uri, "since", 0, 0, LONG_MAX);
    int coarse = query_long(uri, "coarse", 0, 0, 1) == 1;
    struct memsrc_health h;
    memsrc_health(app, &h);

    json_t *workers = json_array();
    for (unsigned i = 0; i < app->series.nw; i++)
        json_array_append_new(workers, worker_json(app, app->series.w[i], points, since, coarse));
    json_t *j = json_pack("{s:s,s:b,s:s,s:i,s:{s:I,s:I,s:b,s:s},s:o,s:I,s:o}",
        "source", h.source, "heap_figures", h.heap_figures,
        "note", h.heap_figures ? "" : "this source reports RSS only: no V8 heap figures, no floors",
        "interval_ms", app->cfg->memory.interval_ms,
        "health", "reads", (json_int_t)h.reads, "errors", (json_int_t)h.errors,
                  "failing", h.failing, "last_error", h.last_error,
        "last_success_ms", h.last_ok_us ? json_integer((json_int_t)app_wall_ms_at(app, h.last_ok_us)) : json_null(),
        "rows", (json_int_t)app->series.rows_total,
        "workers", workers);
    if (app->cfg->memory.gc_url)
        memory_gc_json(app, &h, j);
    reply_json(req, 200, j);
}

/* ---- /api/report ------------------------------------------------------- */

/* Each live worker's memory curve (report_spark). */
static json_t *sparklines_json(const struct series *se)
{
    json_t *mem = json_array();
    for (unsigned i = 0; i < se->nw; i++) {
        const struct series_worker *w = se->w[i];
        struct report_spark s;
        if (!w->alive || !report_spark(w, &s))
            continue;
        json_array_append_new(mem, json_pack("{s:I,s:s,s:s,s:f,s:f,s:f}", "pid", (json_int_t)w->pid,
                                             "metric", s.metric, "sparkline", s.line, "low_bytes", s.low,
                                             "high_bytes", s.high, "span_s", s.span_s));
    }
    return mem;
}

/* GET /api/report: the JSON form; ?format=text: the text form (report.c) */
static void api_report(struct app *app, struct evhttp_request *req, const char *name)
{
    (void)name;
    if (strstr(evhttp_request_get_uri(req), "format=text") != NULL) {
        struct evbuffer *b = evbuffer_new();
        if (b == NULL || report_text(app, b) < 0) {
            if (b)
                evbuffer_free(b);
            reply_error(req, 500, "out of memory");
            return;
        }
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; charset=utf-8");
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
        return;
    }
    unsigned n;
    struct report_row *rk = report_rank(app, &n);
    if (rk == NULL) {
        reply_error(req, 500, "out of memory");
        return;
    }
    json_t *arr = json_array();
    for (unsigned i = 0; i < n; i++)
        json_array_append_new(arr, route_json(app, rk[i].slot, rk[i].id));
    free(rk);
    reply_json(req, 200, json_pack("{s:o,s:o,s:o,s:f,s:I}", "findings", arr, "engine", attrib_engine_json(app),
                                   "memory", sparklines_json(&app->series),
                                   "min_leak_bytes", (double)app->cfg->attrib.min_leak_bytes,
                                   "generated_ms", (json_int_t)app_wall_ms_at(app, app_now_us())));
}

/* ---- dispatch ---------------------------------------------------------- */

static int admin_auth(struct app *app, struct evhttp_request *req)
{
    const char *tok = app->cfg->admin_token;
    if (tok == NULL)
        return 1;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (h && strncmp(h, "Bearer ", 7) == 0 && admin_token_ok(tok, h + 7, strlen(h + 7)))
        return 1;
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                      "Bearer realm=\"leakproxy\"");
    reply_error(req, 401, "missing or wrong bearer token");
    return 0;
}

/* The dashboard's files. They hold no data (the page reads the API, which
 * needs the token), so they are served without it: a browser cannot send a
 * bearer token when it loads a page. The policy headers keep the page from
 * running anything but its own script, being framed or sniffed. */
static int serve_asset(struct evhttp_request *req, const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (const struct dashboard_asset *a = dashboard_assets; a->path; a++) {
        if (strcmp(a->path, path) != 0)
            continue;
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "Content-Type", a->type);
        evhttp_add_header(h, "Cache-Control", "no-cache");
        evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
        evhttp_add_header(h, "X-Frame-Options", "DENY");
        evhttp_add_header(h, "Referrer-Policy", "no-referrer");
        evhttp_add_header(h, "Content-Security-Policy",
                          "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'");
        struct evbuffer *b = evbuffer_new();
        if (b == NULL) {
            reply_error(req, 500, "out of memory");
            return 1;
        }
        evbuffer_add_reference(b, a->data, a->len, NULL, NULL);
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
        return 1;
    }
    return 0;
}

/* 1 if <p> is empty or ":" and 1 to 5 digits up to 65535: the port part of
 * a Host value. */
static int host_port_ok(const char *p)
{
    if (*p == '\0')
        return 1;
    if (*p++ != ':')
        return 0;
    size_t n = strspn(p, "0123456789");
    return n >= 1 && n <= 5 && p[n] == '\0' && atol(p) <= 65535;
}

/* The host part is parsed as an address, whole, never matched by prefix:
 * wildcard DNS ("127.0.0.1.nip.io") lets a page name any address, so only
 * literals and "localhost" (which browsers resolve to loopback themselves)
 * prove the browser meant this machine. */
int admin_host_is_loopback(const char *h)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *rest;
    size_t n;

    if (h[0] == '[') {
        const char *close = strchr(h, ']');
        n = close ? (size_t)(close - h - 1) : 0;
        if (close == NULL || n == 0 || n >= sizeof host)
            return 0;
        memcpy(host, h + 1, n);
        host[n] = '\0';
        struct in6_addr a6;
        return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6) &&
               host_port_ok(close + 1);
    }
    n = strcspn(h, ":");
    rest = h + n;
    if (n == 0 || n >= sizeof host || !host_port_ok(rest))
        return 0;
    memcpy(host, h, n);
    host[n] = '\0';
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    struct in_addr a4;
    return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* Browsers on the operator's machine can be made to send requests to a
 * loopback admin (cross-site forms, DNS rebinding). Refuse what a browser
 * would send on another site's behalf: a foreign Origin, a body that is not
 * JSON (a form or text/plain POST needs no CORS preflight), and -- from a
 * browser, without a token -- a Host that is not a loopback name. */
static int admin_same_origin(const struct app *app, struct evhttp_request *req, enum evhttp_cmd_type cmd)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *host = evhttp_find_header(in, "Host"), *origin = evhttp_find_header(in, "Origin");

    const char *ua = evhttp_find_header(in, "User-Agent");
    int browser = (ua && strncmp(ua, "Mozilla/", 8) == 0) || evhttp_find_header(in, "Sec-Fetch-Site") ||
                  evhttp_find_header(in, "Sec-Fetch-Mode");
    if (browser && app->cfg->admin_token == NULL && config_addr_is_loopback(&app->cfg->admin) &&
        (host == NULL || !admin_host_is_loopback(host))) {
        reply_error(req, 403, "Host is not a loopback name: refused (DNS rebinding); use 127.0.0.1 or localhost");
        return 0;
    }
    if (origin) {
        const char *o = strstr(origin, "://");
        if (o == NULL || host == NULL || strcasecmp(o + 3, host) != 0) {
            reply_error(req, 403, "cross-origin request refused");
            return 0;
        }
    }
    if (cmd == EVHTTP_REQ_POST || cmd == EVHTTP_REQ_PUT) {
        const char *ct = evhttp_find_header(in, "Content-Type");
        if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > 0 &&
            (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)) {
            reply_error(req, 415, "send the body as Content-Type: application/json");
            return 0;
        }
    }
    return 1;
}

static void admin_conn_rearm(struct admin *adm, struct evhttp_request *req);

/* The route name in the admin path segment <seg> (percent-encoded), as a
 * string the caller frees; NULL unless it decodes to a whole route name.
 * Names are compared as C strings, so a decoded NUL ("detail%00junk")
 * would act on "detail": any byte a route name cannot hold refuses it. */
static char *path_route_name(const char *seg)
{
    size_t n = 0;
    const char *why;
    char *name = evhttp_uridecode(seg, 0, &n);

    if (name && strlen(name) == n &&
        (strcmp(name, ROUTE_OTHER_NAME) == 0 || route_name_check(name, &why) == 0))
        return name;
    free(name);
    return NULL;
}

/* health needs no token (load balancers and kubelet probes cannot send
 * one; it tells nothing but up or draining) */
static void api_healthz(struct app *app, struct evhttp_request *req, const char *name)
{
    (void)name;
    reply_json(req, app->draining ? 503 : 200,
               json_pack("{s:s}", "status", app->draining ? "draining" : "ok"));
}

static void api_metrics(struct app *app, struct evhttp_request *req, const char *name)
{
    struct evbuffer *b = evbuffer_new();
    (void)name;
    if (b == NULL) {
        reply_error(req, 500, "out of memory");
        return;
    }
    metrics_render(app, (int)app->admin->nconns, b);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* A handler gets the decoded route name of a /api/routes/NAME path, else
 * NULL; the dispatcher has checked the method, the origin and the token. */
typedef void admin_handler(struct app *app, struct evhttp_request *req, const char *name);

enum path_kind {
    P_EXACT,                          /* the whole path is <path> */
    P_ROUTE,                          /* /api/routes/NAME */
    P_ROUTE_MODE,                     /* /api/routes/NAME/mode */
};

#define M_READ (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)
#define M_JOB  (M_READ | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE)
#define USE_GET "use GET"
#define USE_JOB "use POST to start, GET to watch, DELETE to abort"

static const struct admin_path {
    const char *path;                 /* P_EXACT only */
    enum path_kind kind;
    int methods;                      /* evhttp_cmd_type bits; others get 405 */
    const char *use;                  /* the 405 message */
    int open;                         /* no token, no origin check */
    admin_handler *fn;
} admin_paths[] = {                   /* the first match wins */
    { "/healthz", P_EXACT, M_READ, USE_GET, 1, api_healthz },
    { "/metrics", P_EXACT, M_READ, USE_GET, 0, api_metrics },
    { "/api/routes", P_EXACT, M_READ, USE_GET, 0, api_routes },
    { "/api/routes/", P_EXACT, M_READ, USE_GET, 0, api_routes },
    { NULL, P_ROUTE_MODE, EVHTTP_REQ_PUT | EVHTTP_REQ_POST,
      "use PUT with {\"mode\": \"csr\"} or {\"mode\": \"ssr\"}", 0, api_route_mode },
    { NULL, P_ROUTE, M_READ, USE_GET, 0, api_routes },
    { "/api/memory", P_EXACT, M_READ, USE_GET, 0, api_memory },
    { "/api/bisect", P_EXACT, M_JOB, USE_JOB, 0, api_bisect },
    { "/api/probe", P_EXACT, M_JOB, USE_JOB, 0, api_probe },
    { "/api/report", P_EXACT, M_READ, USE_GET, 0, api_report },
    { "/api/events", P_EXACT, M_READ, USE_GET, 0, api_events },
    { "/api/status", P_EXACT, M_READ, USE_GET, 0, api_status },
};

#define ROUTES_PREFIX "/api/routes/"

static int path_matches(const struct admin_path *row, const char *path)
{
    const char *seg = path + strlen(ROUTES_PREFIX), *slash;

    if (row->kind == P_EXACT)
        return strcmp(path, row->path) == 0;
    if (strncmp(path, ROUTES_PREFIX, strlen(ROUTES_PREFIX)) != 0)
        return 0;
    slash = strchr(seg, '/');
    return row->kind == P_ROUTE ? slash == NULL : slash != NULL && strcmp(slash, "/mode") == 0;
}

static const struct admin_path *path_find(const char *path)
{
    for (size_t i = 0; i < sizeof admin_paths / sizeof admin_paths[0]; i++)
        if (path_matches(&admin_paths[i], path))
            return &admin_paths[i];
    return NULL;
}

/* Runs <row>'s handler, with the route name of the path for a
 * /api/routes/NAME row (<path> is cut at the name). */
static void path_run(struct app *app, struct evhttp_request *req, const struct admin_path *row, char *path)
{
    if (row->kind == P_EXACT) {
        row->fn(app, req, NULL);
        return;
    }
    char *seg = path + strlen(ROUTES_PREFIX);
    seg[strcspn(seg, "/")] = '\0';
    char *name = path_route_name(seg);
    if (name)
        row->fn(app, req, name);
    else
        reply_error(req, 404, "no such route");
    free(name);
}

static void admin_cb(struct evhttp_request *req, void *arg)
{
    struct app *app = arg;
    const char *uri = evhttp_request_get_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    char path[512];

    admin_conn_rearm(app->admin, req);

    size_t plen = strcspn(uri, "?");
    if (plen >= sizeof path) {
        reply_error(req, 414, "path too long");
        return;
    }
    memcpy(path, uri, plen);
    path[plen] = '\0';
    if ((cmd & M_READ) && strncmp(path, "/api/", 5) != 0 && serve_asset(req, path))
        return;
    const struct admin_path *row = path_find(path);
    /* an unknown path is refused like a known one: without the token, it
     * tells nothing of what exists */
    if ((row == NULL || !row->open) && (!admin_same_origin(app, req, cmd) || !admin_auth(app, req)))
        return;
    if (row == NULL) {
        reply_error(req, 404, "not found");
        return;
    }
    if (!(cmd & row->methods)) {
        reply_error(req, 405, row->use);
        return;
    }
    path_run(app, req, row, path);
}

/* ---- listener and connections ----------------------------------------
 *
 * evhttp (libevent 2.1) has no connection limit, and its timeout restarts at
 * every read: idle or trickling admin connections, which need no token,
 * could hold every descriptor. So each connection is counted: at
 * ADMIN_MAX_CONNS the listener stops accepting (further connections wait in
 * the kernel's backlog, as the proxy's do at max_connections), and each has
 * a deadline, ADMIN_REQUEST_SEC after it opens and after each request.
 *
 * evhttp says nothing when it accepts. Its bufferevent callback
 * (evhttp_set_bevcb) runs just before it builds the connection; its close
 * callback (evhttp_connection_set_closecb) needs the connection. So the
 * bufferevent callback counts the connection and activates <attach>, which
 * runs once evhttp has built it (in the same pass of the loop, before any
 * read on it) and finds it as the bufferevent's callback argument; a
 * reference on the bufferevent keeps that look-up safe even if evhttp gave
 * up on the connection in between. */

static const struct timeval admin_request_tv = { ADMIN_REQUEST_SEC, 0 };

/* Accepts again when below the cap. Enabling an enabled listener is a no-op. */
static void admin_resume(struct admin *adm)
{
    if (adm->listener && adm->nconns < ADMIN_MAX_CONNS)
        evconnlistener_enable(adm->listener);
}

static void conn_gone(struct admin_conn *ac)
{
    struct admin *adm = ac->adm;

    event_del(&ac->attach);
    event_del(&ac->deadline);
    if (ac->prev)
        ac->prev->next = ac->next;
    else
        adm->conns = ac->next;
    if (ac->next)
        ac->next->prev = ac->prev;
    adm->nconns--;
    free(ac);
    admin_resume(adm);
}

static void conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    conn_gone(arg);
}

/* The request did not arrive in time (or the connection sat idle): close. */
static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct admin_conn *ac = arg;
    (void)fd;
    (void)what;
    evhttp_connection_free(ac->evcon);   /* runs conn_closed_cb: <ac> is gone */
}

static void conn_attach_cb(evutil_socket_t fd, short what, void *arg)
{
    struct admin_conn *ac = arg;
    struct bufferevent *bev = ac->bev;
    bufferevent_event_cb eventcb;
    void *evcon;
    (void)fd;
    (void)what;

    ac->bev = NULL;
    bufferevent_getcb(bev, NULL, NULL, &eventcb, &evcon);
    if (eventcb == NULL || evcon == NULL) {
        conn_gone(ac);                  /* evhttp freed or reset it already */
    } else {
        ac->evcon = evcon;
        evhttp_connection_set_closecb(ac->evcon, conn_closed_cb, ac);
        evtimer_add(&ac->deadline, &admin_request_tv);
    }
    bufferevent_decref(bev);
}

static struct bufferevent *admin_bev_cb(struct event_base *base, void *arg)
{
    struct admin *adm = arg;
    struct admin_conn *ac = calloc(1, sizeof *ac);
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);   /* evhttp's own options */

    if (ac == NULL || bev == NULL) {
        free(ac);
        if (bev)
            bufferevent_free(bev);
        return NULL;                    /* evhttp makes its own; not counted */
    }
    bufferevent_incref(bev);
    ac->adm = adm;
    ac->bev = bev;
    event_assign(&ac->attach, base, -1, 0, conn_attach_cb, ac);
    evtimer_assign(&ac->deadline, base, conn_deadline_cb, ac);
    ac->next = adm->conns;
    if (adm->conns)
        adm->conns->prev = ac;
    adm->conns = ac;
    if (++adm->nconns >= ADMIN_MAX_CONNS) {
        evconnlistener_disable(adm->listener);
        log_at(LOG_WARN, "admin: %d connections open: not accepting until one closes", ADMIN_MAX_CONNS);
    }
    event_active(&ac->attach, EV_TIMEOUT, 1);
    return bev;
}

/* A request arrived complete on <req>'s connection: it has a new
 * ADMIN_REQUEST_SEC to read the answer and send the next one. */
static void admin_conn_rearm(struct admin *adm, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    for (struct admin_conn *ac = adm->conns; ac; ac = ac->next)
        if (ac->evcon == evcon) {
            evtimer_add(&ac->deadline, &admin_request_tv);
            return;
        }
}

/* accept() failed (out of descriptors, most likely). Without this callback
 * libevent logs and tries again at once, in a loop, as long as a connection
 * waits. The callback's argument is evhttp's, not ours, so the listener is
 * paused here and <adm->retry>, armed whenever the listener exists, enables
 * it again within ADMIN_RETRY_MS. */
#define ADMIN_RETRY_MS 500
static void admin_accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)arg;
    evconnlistener_disable(l);
}

static void admin_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    admin_resume(arg);
}

int admin_start(struct app *app)
{
    const struct config_addr *a = &app->cfg->admin;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    static const struct timeval retry_tv = { 0, ADMIN_RETRY_MS * 1000 };
    struct admin *adm = calloc(1, sizeof *adm);

    if (adm == NULL)
        return -1;
    adm->app = app;
    adm->http = evhttp_new(app->base);
    adm->retry = event_new(app->base, -1, EV_PERSIST, admin_retry_cb, adm);
    if (adm->http == NULL || adm->retry == NULL)
        goto err;
    adm->listener = evconnlistener_new_bind(app->base, NULL, NULL,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
        (const struct sockaddr *)&a->sa, (int)a->salen);
    if (adm->listener == NULL) {
        log_at(LOG_ERROR, "admin listen %s: %s", a->text, strerror(errno));
        goto err;
    }
    evhttp_bind_listener(adm->http, adm->listener);
    evconnlistener_set_error_cb(adm->listener, admin_accept_error_cb);
    evhttp_set_bevcb(adm->http, admin_bev_cb, adm);
    evhttp_set_max_body_size(adm->http, ADMIN_MAX_BODY);
    evhttp_set_max_headers_size(adm->http, 65536);
    evhttp_set_timeout(adm->http, ADMIN_REQUEST_SEC);
    evhttp_set_allowed_methods(adm->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(adm->http, admin_cb, app);
    evtimer_add(adm->retry, &retry_tv);
    app->admin = adm;
    if (getsockname(evconnlistener_get_fd(adm->listener), (struct sockaddr *)&ss, &sl) == 0)
        config_addr_str((struct sockaddr *)&ss, app->admin_addr, sizeof app->admin_addr);
    log_at(LOG_INFO, "admin listening on %s%s", app->admin_addr,
           app->cfg->admin_token ? " (bearer token required)" : "");
    return 0;

err:
    if (adm->http)
        evhttp_free(adm->http);
    if (adm->retry)
        event_free(adm->retry);
    free(adm);
    return -1;
}

void admin_stop(struct app *app)
{
    struct admin *adm = app->admin;

    if (adm == NULL)
        return;
    adm->listener = NULL;               /* evhttp_free frees it first */
    event_free(adm->retry);
    evhttp_free(adm->http);             /* runs conn_closed_cb for each attached one */
    while (adm->conns) {                /* accepted, not attached yet */
        struct admin_conn *ac = adm->conns;
        bufferevent_decref(ac->bev);
        conn_gone(ac);
    }
    free(adm);
    app->admin = NULL;
}
