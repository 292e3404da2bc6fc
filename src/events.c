/* events.c -- the decision log, see events.h. */
#include "events.h"
#include "app.h"
#include "log.h"

#include <jansson.h>
#include <string.h>

const char *const events_type_names[EVT_NTYPES] = {
    "trip", "switch", "restore", "refused", "recovered",
    "mode", "bisect", "probe", "restart", "reload", "narrow"
};

void events_init(struct events *e)
{
    memset(e, 0, sizeof *e);
    e->next_id = 1;
}

int events_open_log(struct events *e, const char *path)
{
    FILE *f = NULL;

    if (path && strcmp(path, "-") == 0)
        f = stdout;
    else if (path && (f = fopen(path, "a")) == NULL)
        return -1;
    if (f && f != stdout)
        setvbuf(f, NULL, _IOLBF, 0);
    events_close(e);
    e->log = f;
    return 0;
}

void events_close(struct events *e)
{
    if (e->log && e->log != stdout)
        fclose(e->log);
    e->log = NULL;
}

struct event_rec *events_begin(struct app *app, enum event_type t, const char *source)
{
    struct events *e = &app->events;
    struct event_rec *ev = &e->ring[(e->next_id - 1) % EVENTS_MAX];

    memset(ev, 0, sizeof *ev);
    ev->id = e->next_id;              /* claimed at commit */
    ev->time_ms = app_wall_ms(app);
    ev->type = t;
    ev->source = source;
    return ev;
}

void events_add_route(struct event_rec *ev, const char *name)
{
    size_t used = strlen(ev->routes), n = strlen(name);

    ev->nroutes++;                    /* the count says how many, even past the text */
    if (used + n + 2 > sizeof ev->routes || ev->full) {
        ev->full = 1;                 /* keep the list a prefix, in order */
        return;
    }
    if (used)
        ev->routes[used++] = '\n';
    memcpy(ev->routes + used, name, n + 1);
}

void events_commit(struct app *app, struct event_rec *ev)
{
    struct events *e = &app->events;

    e->next_id++;
    e->count[ev->type]++;
    /* mode changes, bisection and probes log their own lines */
    enum log_level lvl = ev->type == EVT_MODE || ev->type == EVT_BISECT || ev->type == EVT_PROBE ? LOG_DEBUG
                       : ev->type == EVT_TRIP || ev->type == EVT_SWITCH ? LOG_WARN : LOG_INFO;
    log_at(lvl, "event %s (%s)%s: %s", events_type_names[ev->type], ev->source,
           ev->dry_run ? " [dry run]" : "", ev->reason);
    if (e->log) {
        json_t *j = events_json(ev);
        if (j) {
            json_dumpf(j, e->log, JSON_COMPACT);
            fputc('\n', e->log);
            json_decref(j);
        }
    }
    for (unsigned i = 0; i < e->nsub; i++)
        e->sub[i].fn(e->sub[i].ctx, ev);
}

int events_subscribe(struct events *e, events_fn *fn, void *ctx)
{
    if (e->nsub == EVENTS_SUBSCRIBERS_MAX)
        return -1;
    e->sub[e->nsub].fn = fn;
    e->sub[e->nsub++].ctx = ctx;
    return 0;
}

void events_unsubscribe(struct events *e, events_fn *fn, void *ctx)
{
    for (unsigned i = 0; i < e->nsub; i++)
        if (e->sub[i].fn == fn && e->sub[i].ctx == ctx) {
            memmove(&e->sub[i], &e->sub[i + 1], (e->nsub - i - 1) * sizeof e->sub[0]);
            e->nsub--;
            return;
        }
}

const struct event_rec *events_newest(const struct events *e, unsigned i)
{
    uint64_t have = e->next_id - 1;

    if (i >= have || i >= EVENTS_MAX)
        return NULL;
    return &e->ring[(have - 1 - i) % EVENTS_MAX];
}

json_t *events_json(const struct event_rec *ev)
{
    static const char *const actions[] = { NULL, "csr", "ssr" };
    json_t *j = json_pack("{s:I,s:I,s:s,s:s,s:s}", "id", (json_int_t)ev->id,
                          "time_ms", (json_int_t)ev->time_ms, "type", events_type_names[ev->type],
                          "source", ev->source ? ev->source : "", "reason", ev->reason);
    if (j == NULL)
        return NULL;
    if (ev->action != EVT_ACT_NONE)
        json_object_set_new(j, "action", json_string(actions[ev->action]));
    if (ev->dry_run)
        json_object_set_new(j, "dry_run", json_true());
    if (ev->worker)
        json_object_set_new(j, "worker", json_integer((json_int_t)ev->worker));
    if (ev->metric)
        json_object_set_new(j, "metric", json_string(ev->metric));
    if (ev->bytes)
        json_object_set_new(j, "bytes", json_integer((json_int_t)ev->bytes));
    if (ev->threshold)
        json_object_set_new(j, "threshold", json_integer((json_int_t)ev->threshold));
    if (ev->nroutes) {
        json_t *a = json_array();
        for (const char *p = ev->routes; *p;) {
            size_t n = strcspn(p, "\n");
            json_array_append_new(a, json_stringn(p, n));
            p += n + (p[n] == '\n');
        }
        json_object_set_new(j, "routes", a);
        if (json_array_size(a) < ev->nroutes)
            json_object_set_new(j, "routes_total", json_integer(ev->nroutes));
    }
    return j;
}
