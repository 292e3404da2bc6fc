/* bisect.c -- find the leaking routes under live traffic by switching sets
 * of routes to csr and watching the memory slope (FIELD lesson 8, done the
 * way seeds 001 and 003 did it by hand, but per route and at runtime).
 *
 * Adaptive group testing. A baseline round measures the growth rate of the
 * summed floor (bytes per second) with every candidate rendering. Then a
 * queue of groups, starting with the two halves of the candidates: a round
 * switches one group to csr and measures the rate again. If switching the
 * group off lowered the rate by a statistically significant amount, the
 * group holds a leak: a single route is reported, a larger group is split in
 * two and both halves are queued; otherwise the group is cleared. Several
 * leaking routes are found in one run; the rounds grow like log2(routes) per
 * leaking route. The baseline is measured again every BISECT_REBASE test
 * rounds, because traffic drifts.
 *
 * A leak found is kept switched off for the rest of the run: a big leak's
 * arrival noise would otherwise hide a small one (measured: news at 240 KB
 * per request hid live's 9 KB in every round). A find forces a new baseline
 * (with the found leaks off) and queues once more, as one group, every route
 * cleared while that leak was rendering: if nothing else leaks that costs
 * one round, else that group is split like any other.
 *
 * The rate of a round comes from the series rows that started after the
 * round's switch (rows holding requests from before are skipped): the mean
 * of the rows' growth weighted by their length, with a standard error from
 * their spread and a Student t quantile.
 *
 * Modes: bisect only touches routes in ssr mode that are not never_csr, sets
 * them with "bisect" as the author, and restores every mode it changed when
 * it finishes, is aborted, or the proxy stops. */
#include "bisect.h"
#include "events.h"
#include "app.h"
#include "attrib.h"
#include "log.h"
#include "memsrc.h"
#include "route.h"
#include "series.h"
#include "stats.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BISECT_MAX_ROUTES 256
#define BISECT_MAX_ROUNDS 128
#define BISECT_REBASE     3

struct bgroup {
    unsigned n;
    unsigned slot[BISECT_MAX_ROUTES];
};

struct bround {
    int baseline;
    struct bgroup g;
    uint64_t start_ms, end_ms;
    unsigned rows;
    double rate, se, ssr_requests, per_request;
    double base_rate, contribution, low;
    char decision[160];
};

struct bisect_run {
    struct app *app;
    int metric;                       /* ATTRIB_HEAP or ATTRIB_RSS */
    unsigned round_seconds;
    struct bgroup cand;
    struct bgroup queue[2 * BISECT_MAX_ROUTES];
    unsigned qhead, qn;
    struct bround rounds[BISECT_MAX_ROUNDS];
    unsigned nrounds;
    unsigned found[BISECT_MAX_ROUTES], nfound;  /* kept off once found */
    struct bgroup cleared;            /* cleared since the last find: re-tested after it */
    double base_rate, base_se;
    int base_df;
    unsigned since_base;
    struct event *timer;
    uint64_t round_start_us;
    unsigned extended;                /* times the current round was lengthened */
    uint64_t *counts0;
    unsigned ncounts;
    /* what bisect changed, to restore */
    unsigned changed[BISECT_MAX_ROUTES], nchanged;
    char state[16], message[200];
    uint64_t started_ms, finished_ms;
};

static void restore_modes(struct bisect_run *b)
{
    struct app *app = b->app;
    for (unsigned i = 0; i < b->nchanged; i++) {
        struct stats_route *r = stats_at(&app->stats, b->changed[i]);
        if (r->mode_by == BY_BISECT)
            stats_set_mode(r, MODE_SSR, BY_CONFIG, app_wall_ms(app));
    }
    b->nchanged = 0;
}

static void set_group(struct bisect_run *b, const struct bgroup *g, int off)
{
    struct app *app = b->app;
    for (unsigned i = 0; i < g->n; i++) {
        struct stats_route *r = stats_at(&app->stats, g->slot[i]);
        if (off) {
            if (r->mode == MODE_SSR && !r->never_csr) {
                stats_set_mode(r, MODE_CSR, BY_BISECT, app_wall_ms(app));
                unsigned k;
                for (k = 0; k < b->nchanged; k++)
                    if (b->changed[k] == g->slot[i])
                        break;
                if (k == b->nchanged && b->nchanged < BISECT_MAX_ROUTES)
                    b->changed[b->nchanged++] = g->slot[i];
            }
        } else if (r->mode_by == BY_BISECT) {
            stats_set_mode(r, MODE_SSR, BY_CONFIG, app_wall_ms(app));
        }
    }
}

static void finish(struct bisect_run *b, const char *state, const char *msg)
{
    if (b->timer)
        event_del(b->timer);
    restore_modes(b);
    snprintf(b->state, sizeof b->state, "%s", state);
    snprintf(b->message, sizeof b->message, "%s", msg ? msg : "");
    b->finished_ms = app_wall_ms(b->app);
    log_at(LOG_INFO, "bisect: %s after %u rounds, %u leaking route(s)%s%s", state, b->nrounds, b->nfound,
           msg ? ": " : "", msg ? msg : "");
    struct event_rec *ev = events_begin(b->app, EV_BISECT, "bisect");
    for (unsigned i = 0; i < b->nfound && i < BISECT_MAX_ROUTES; i++)
        events_add_route(ev, stats_at(&b->app->stats, b->found[i])->name);
    snprintf(ev->reason, sizeof ev->reason, "bisection %s after %u rounds, %u leaking route(s)%s%s; modes restored",
             state, b->nrounds, b->nfound, msg && *msg ? ": " : "", msg ? msg : "");
    events_commit(b->app, ev);
}

/* Growth rate over the rows that started after <since_us>. */
static int round_rate(struct bisect_run *b, uint64_t since_us, double *rate, double *se, int *df,
                      unsigned *rows)
{
    const struct series *s = &b->app->series;
    double sw = 0, swx = 0, swxx = 0;
    unsigned n = 0;
    for (unsigned i = 0; i < s->row_n; i++) {
        const struct series_row *r = series_row(s, i, NULL);
        if (r->t0 < since_us)
            continue;
        int ok = b->metric == ATTRIB_HEAP ? (r->flags & MEM_HAS_HEAP) && (r->flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV))
                                          : (r->flags & MEM_HAS_RSS) != 0;
        if (!ok)
            continue;
        double dt = (double)(r->t1 - r->t0) / 1e6;
        double y = b->metric == ATTRIB_HEAP ? (double)r->d_floor : (double)r->d_rss;
        if (dt <= 0)
            continue;
        double x = y / dt;
        sw += dt;
        swx += dt * x;
        swxx += dt * x * x;
        n++;
    }
    *rows = n;
    if (n < 3 || sw <= 0)
        return -1;
    double mean = swx / sw;
    double var = swxx / sw - mean * mean;
    if (var < 0)
        var = 0;
    *rate = mean;
    *se = sqrt(var * n / (n - 1) / n);
    *df = (int)n - 1;
    return 0;
}

static void start_round(struct bisect_run *b);

static void split_push(struct bisect_run *b, const struct bgroup *g)
{
    struct bgroup h1 = { 0 }, h2 = { 0 };
    for (unsigned i = 0; i < g->n; i++) {
        if (i < g->n / 2)
            h1.slot[h1.n++] = g->slot[i];
        else
            h2.slot[h2.n++] = g->slot[i];
    }
    if (b->qn + 2 <= sizeof b->queue / sizeof b->queue[0]) {
        b->queue[(b->qhead + b->qn++) % (sizeof b->queue / sizeof b->queue[0])] = h1;
        b->queue[(b->qhead + b->qn++) % (sizeof b->queue / sizeof b->queue[0])] = h2;
    }
}

static void end_round(evutil_socket_t fd, short what, void *arg)
{
    struct bisect_run *b = arg;
    struct app *app = b->app;
    struct bround *r = &b->rounds[b->nrounds];
    (void)fd;
    (void)what;

    double rate = 0, se = 0;
    int df = 0;
    unsigned rows = 0;
    r->end_ms = app_wall_ms(app);
    if (round_rate(b, b->round_start_us, &rate, &se, &df, &rows) < 0 && b->extended < 3) {
        /* forced GCs got slower (the heap grew): give the round more time */
        b->extended++;
        struct timeval tv = { (time_t)b->round_seconds, 0 };
        event_add(b->timer, &tv);
        return;
    }
    b->extended = 0;
    if (rows < 3) {
        r->rows = rows;
        b->nrounds++;
        finish(b, "failed", "too few memory readings in a round: lengthen round_seconds or shorten memory.interval_ms");
        return;
    }
    r->rows = rows;
    r->rate = rate;
    r->se = se;
    double ssr = 0;
    for (unsigned i = 0; i < app->stats.n && i < b->ncounts; i++)
        ssr += (double)(stats_at(&app->stats, i)->rendered - b->counts0[i]);
    r->ssr_requests = ssr;
    double secs = (double)(r->end_ms - r->start_ms) / 1000.0;
    r->per_request = ssr > 0 ? rate * secs / ssr : 0;
    set_group(b, &r->g, 0);
    if (r->baseline) {
        b->base_rate = rate;
        b->base_se = se;
        b->base_df = df;
        b->since_base = 0;
        if (b->nfound)
            snprintf(r->decision, sizeof r->decision, "baseline: %.1f KB/s with every candidate rendering but the "
                     "%u leaking route(s) found", rate / 1024, b->nfound);
        else
            snprintf(r->decision, sizeof r->decision, "baseline: %.1f KB/s with every candidate rendering", rate / 1024);
    } else {
        double contrib = b->base_rate - rate, cse = sqrt(se * se + b->base_se * b->base_se);
        int cdf = df < b->base_df ? df : b->base_df;
        double low = contrib - attrib_t975(cdf) * cse;
        r->base_rate = b->base_rate;
        r->contribution = contrib;
        r->low = low;
        b->since_base++;
        if (low > 0) {
            if (r->g.n == 1) {
                if (b->nfound < BISECT_MAX_ROUTES)
                    b->found[b->nfound++] = r->g.slot[0];
                set_group(b, &r->g, 1);          /* kept off from now on */
                b->since_base = BISECT_REBASE;   /* a new baseline without it */
                if (b->cleared.n && b->qn < sizeof b->queue / sizeof b->queue[0]) {
                    b->queue[(b->qhead + b->qn++) % (sizeof b->queue / sizeof b->queue[0])] = b->cleared;
                    b->cleared.n = 0;
                }
                snprintf(r->decision, sizeof r->decision, "leaking: switching it off lowered growth by %.1f KB/s "
                         "(95%% low %.1f); kept off, routes cleared so far tested again", contrib / 1024, low / 1024);
            } else {
                split_push(b, &r->g);
                snprintf(r->decision, sizeof r->decision, "holds a leak (-%.1f KB/s, 95%% low %.1f): split in two",
                         contrib / 1024, low / 1024);
            }
        } else {
            for (unsigned i = 0; i < r->g.n && b->cleared.n < BISECT_MAX_ROUTES; i++)
                b->cleared.slot[b->cleared.n++] = r->g.slot[i];
            snprintf(r->decision, sizeof r->decision, "cleared: growth changed by %.1f KB/s, not significantly",
                     -contrib / 1024);
        }
    }
    b->nrounds++;
    if (b->qn == 0) {
        finish(b, "done", NULL);
        return;
    }
    if (b->nrounds >= BISECT_MAX_ROUNDS) {
        finish(b, "failed", "too many rounds");
        return;
    }
    start_round(b);
}

static void start_round(struct bisect_run *b)
{
    struct app *app = b->app;
    struct bround *r = &b->rounds[b->nrounds];
    memset(r, 0, sizeof *r);
    if (b->nrounds == 0 || b->since_base >= BISECT_REBASE) {
        r->baseline = 1;
    } else {
        r->g = b->queue[b->qhead];
        b->qhead = (b->qhead + 1) % (sizeof b->queue / sizeof b->queue[0]);
        b->qn--;
        set_group(b, &r->g, 1);
    }
    r->start_ms = app_wall_ms(app);
    b->round_start_us = app_now_us();
    struct event_rec *ev = events_begin(app, EV_BISECT, "bisect");
    if (!r->baseline) {
        ev->action = EA_CSR;
        for (unsigned i = 0; i < r->g.n; i++)
            events_add_route(ev, stats_at(&app->stats, r->g.slot[i])->name);
    }
    snprintf(ev->reason, sizeof ev->reason, "bisection round %u started: %s", b->nrounds + 1,
             r->baseline ? (b->nfound ? "baseline, the leaks found kept off" : "baseline, every candidate rendering")
                         : "these routes switched to csr");
    events_commit(app, ev);
    if (app->stats.n > b->ncounts) {
        uint64_t *c = realloc(b->counts0, app->stats.n * sizeof *c);
        if (c) {
            b->counts0 = c;
            b->ncounts = app->stats.n;
        }
    }
    for (unsigned i = 0; i < app->stats.n && i < b->ncounts; i++)
        b->counts0[i] = stats_at(&app->stats, i)->rendered;
    struct timeval tv = { (time_t)b->round_seconds, 0 };
    event_add(b->timer, &tv);
}

int bisect_start(struct app *app, const char *const *routes, unsigned nroutes, unsigned round_seconds,
                 const char *metric, char *err, size_t errlen)
{
    struct bisect_run *b = app->bisect;
    if (b && strcmp(b->state, "running") == 0) {
        snprintf(err, errlen, "a bisection is running (DELETE /api/bisect aborts it)");
        return 409;
    }
    if (app->cfg->memory.source == MEMSRC_NONE) {
        snprintf(err, errlen, "bisection needs a \"memory\" source");
        return 409;
    }
    int m = metric == NULL || strcmp(metric, "heap_used") == 0 ? ATTRIB_HEAP :
            strcmp(metric, "rss") == 0 ? ATTRIB_RSS : -1;
    if (m < 0) {
        snprintf(err, errlen, "metric must be \"heap_used\" or \"rss\"");
        return 400;
    }
    if (m == ATTRIB_HEAP && app->cfg->memory.source < MEMSRC_HTTP) {
        snprintf(err, errlen, "the %s source has no heap figures: use \"metric\": \"rss\"",
                 memsrc_kind_name(app->cfg->memory.source));
        return 409;
    }
    int has_fb = app->cfg->fallback.kind != FB_NONE;
    struct bgroup cand = { 0 };
    const struct route_table *t = app->cfg->routes;
    for (unsigned id = 1; id < route_count(t); id++) {
        const char *name = route_name(t, id);
        int want = routes == NULL;
        for (unsigned k = 0; routes && k < nroutes; k++)
            want |= strcmp(routes[k], name) == 0;
        if (!want)
            continue;
        struct stats_route *r = stats_at(&app->stats, app->route_slot[id]);
        if (r->never_csr || r->mode != MODE_SSR)
            continue;
        if (!has_fb && (id >= app->cfg->nroute_fb || app->cfg->route_fb[id].kind == FB_NONE))
            continue;                 /* no fallback: it cannot be switched off */
        if (cand.n < BISECT_MAX_ROUTES)
            cand.slot[cand.n++] = app->route_slot[id];
    }
    for (unsigned k = 0; routes && k < nroutes; k++)
        if (route_find(t, routes[k]) < 0) {
            snprintf(err, errlen, "no route named '%s'", routes[k]);
            return 404;
        }
    if (cand.n == 0) {
        snprintf(err, errlen, "no candidate routes: they must be in ssr mode, not never_csr, and have a fallback");
        return 409;
    }
    if (b) {
        free(b->counts0);
        if (b->timer)
            event_free(b->timer);
        free(b);
    }
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    b->app = app;
    b->metric = m;
    b->round_seconds = round_seconds ? round_seconds : 60;
    b->cand = cand;
    b->timer = evtimer_new(app->base, end_round, b);
    snprintf(b->state, sizeof b->state, "running");
    b->started_ms = app_wall_ms(app);
    app->bisect = b;
    split_push(b, &cand);
    if (cand.n == 1) {                /* one candidate: test it alone */
        b->qn = 0;
        b->queue[0] = cand;
        b->qhead = 0;
        b->qn = 1;
    }
    log_at(LOG_INFO, "bisect: %u candidate routes, rounds of %u s on %s", cand.n, b->round_seconds,
           attrib_metric_names[m]);
    start_round(b);
    return 200;
}

void bisect_abort(struct app *app, const char *why)
{
    struct bisect_run *b = app->bisect;
    if (b && strcmp(b->state, "running") == 0)
        finish(b, "aborted", why);
}

void bisect_free(struct app *app)
{
    struct bisect_run *b = app->bisect;
    if (b == NULL)
        return;
    bisect_abort(app, "leakproxy is stopping");
    if (b->timer)
        event_free(b->timer);
    free(b->counts0);
    free(b);
    app->bisect = NULL;
}

static json_t *group_json(const struct app *app, const struct bgroup *g)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < g->n; i++)
        json_array_append_new(a, json_string(stats_at((struct stats *)&app->stats, g->slot[i])->name));
    return a;
}

json_t *bisect_json(const struct app *app)
{
    const struct bisect_run *b = app->bisect;
    if (b == NULL)
        return json_pack("{s:s}", "state", "idle");
    json_t *rounds = json_array();
    for (unsigned i = 0; i < b->nrounds || (i == b->nrounds && strcmp(b->state, "running") == 0 && i < BISECT_MAX_ROUNDS); i++) {
        const struct bround *r = &b->rounds[i];
        int current = i == b->nrounds;
        json_t *rj = json_pack("{s:i,s:s,s:o,s:I}", "round", (int)i + 1,
                               "kind", r->baseline ? "baseline" : "test", "off", group_json(app, &r->g),
                               "start_ms", (json_int_t)r->start_ms);
        if (current) {
            json_object_set_new(rj, "state", json_string("running"));
        } else {
            json_object_set_new(rj, "end_ms", json_integer((json_int_t)r->end_ms));
            json_object_set_new(rj, "rows", json_integer(r->rows));
            json_object_set_new(rj, "growth_bytes_per_s", json_real(round(r->rate)));
            json_object_set_new(rj, "growth_se", json_real(round(r->se)));
            json_object_set_new(rj, "ssr_requests", json_real(r->ssr_requests));
            json_object_set_new(rj, "growth_bytes_per_ssr_request", json_real(round(r->per_request)));
            if (!r->baseline) {
                json_object_set_new(rj, "baseline_bytes_per_s", json_real(round(r->base_rate)));
                json_object_set_new(rj, "lowered_by_bytes_per_s", json_real(round(r->contribution)));
                json_object_set_new(rj, "lowered_by_low", json_real(round(r->low)));
            }
            json_object_set_new(rj, "decision", json_string(r->decision));
        }
        json_array_append_new(rounds, rj);
    }
    json_t *found = json_array();
    for (unsigned i = 0; i < b->nfound; i++)
        json_array_append_new(found, json_string(stats_at((struct stats *)&app->stats, b->found[i])->name));
    json_t *j = json_pack("{s:s,s:s,s:s,s:i,s:o,s:o,s:o,s:i,s:I}",
        "state", b->state, "message", b->message, "metric", attrib_metric_names[b->metric],
        "round_seconds", (int)b->round_seconds, "candidates", group_json(app, &b->cand),
        "leaking", found, "rounds", rounds, "pending_groups", (int)b->qn,
        "started_ms", (json_int_t)b->started_ms);
    if (b->finished_ms)
        json_object_set_new(j, "finished_ms", json_integer((json_int_t)b->finished_ms));
    return j;
}
