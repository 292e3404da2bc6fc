/* report.c -- the leak report. See report.h. The text is meant to be pasted
 * into a ticket: fixed columns, sizes in KB/MB, a curve anyone can read
 * without a dashboard. */
#include "report.h"
#include "fmt.h"
#include "app.h"
#include "attrib.h"
#include "config.h"
#include "events.h"
#include "memsrc.h"
#include "probe.h"
#include "series.h"
#include "stats.h"
#include "version.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int verdict_rank(const struct app *app, unsigned slot, double *est)
{
    const struct attrib_route *ar = attrib_route_get(app, slot);
    *est = 0;
    if (ar == NULL)
        return 0;
    for (int m = 0; m < ATTRIB_NMETRIC; m++)
        if (ar->est[m].ok && ar->est[m].beta > *est)
            *est = ar->est[m].beta;
    static const int rank[5] = { 1, 0, 2, 3, 4 };  /* unknown above clean in a report */
    return rank[ar->verdict];
}

static int cmp_ranked(const void *a, const void *b)
{
    const struct report_row *x = a, *y = b;
    if (x->rank != y->rank)
        return y->rank - x->rank;
    return y->est > x->est ? 1 : y->est < x->est ? -1 : 0;
}

struct report_row *report_rank(const struct app *app, unsigned *n)
{
    *n = route_count(app->cfg->routes);
    struct report_row *rk = calloc(*n, sizeof *rk);

    if (rk == NULL)
        return NULL;
    for (unsigned id = 0; id < *n; id++) {
        rk[id].slot = app->route_slot[id];
        rk[id].id = (int)id;
        rk[id].rank = verdict_rank(app, rk[id].slot, &rk[id].est);
    }
    qsort(rk, *n, sizeof *rk, cmp_ranked);
    return rk;
}

/* ---- the curve ----------------------------------------------------------- */

/* Each column's lowest value (-1: no data), a floor being a lower envelope;
 * sets s->span_s. 0 when the ring has fewer than two readings. */
static int spark_columns(const struct series_worker *w, int floors, double col[REPORT_SPARK_COLS],
                         struct report_spark *s)
{
    unsigned n = series_npoints(w, 1);

    if (n < 2)
        return 0;
    uint64_t t0 = series_point(w, 1, 0)->t_us, t1 = series_point(w, 1, n - 1)->t_us;
    s->span_s = (double)(t1 - t0) / 1e6;
    for (unsigned c = 0; c < REPORT_SPARK_COLS; c++)
        col[c] = -1;
    for (unsigned i = 0; i < n; i++) {
        const struct series_point *p = series_point(w, 1, i);
        double v;
        if (floors && (p->flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV)))
            v = (double)p->floor;
        else if (!floors && (p->flags & MEM_HAS_RSS))
            v = (double)p->rss;
        else
            continue;
        unsigned c = t1 > t0 ? (unsigned)((double)(p->t_us - t0) / (double)(t1 - t0) * (REPORT_SPARK_COLS - 1)) : 0;
        if (col[c] < 0 || v < col[c])
            col[c] = v;
    }
    return 1;
}

int report_spark(const struct series_worker *w, struct report_spark *s)
{
    static const char *const blocks[8] = { "\u2581", "\u2582", "\u2583", "\u2584",
                                           "\u2585", "\u2586", "\u2587", "\u2588" };
    double col[REPORT_SPARK_COLS];
    unsigned n = series_npoints(w, 1), used = 0;
    int floors = 0;

    for (unsigned i = 0; i < n && !floors; i++)
        floors = (series_point(w, 1, i)->flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV)) != 0;
    s->metric = floors ? "heap floor" : "rss";
    s->line[0] = '\0';
    s->low = s->high = s->span_s = 0;
    if (!spark_columns(w, floors, col, s))
        return 0;
    s->low = INFINITY;
    s->high = -INFINITY;
    for (unsigned c = 0; c < REPORT_SPARK_COLS; c++)
        if (col[c] >= 0) {
            s->low = col[c] < s->low ? col[c] : s->low;
            s->high = col[c] > s->high ? col[c] : s->high;
        }
    size_t o = 0;
    for (unsigned c = 0; c < REPORT_SPARK_COLS && o + 3 < sizeof s->line; c++) {
        if (col[c] < 0) {
            s->line[o++] = ' ';
            continue;
        }
        int k = s->high > s->low ? (int)((col[c] - s->low) / (s->high - s->low) * 7.999) : 0;
        memcpy(s->line + o, blocks[k], 3);
        o += 3;
        used++;
    }
    s->line[o] = '\0';
    return used > 0;
}

/* ---- the text ------------------------------------------------------------ */

/* One line of the table: the verdict and the estimate of the metric that
 * decided it. */
static void text_route(struct evbuffer *b, struct app *app, const struct report_row *row)
{
    const struct stats_route *r = stats_at(&app->stats, row->slot);
    const struct attrib_route *ar = attrib_route_get(app, row->slot);
    char est[32] = "-", iv[80] = "-";
    const char *metric = "-", *verdict = "unknown", *reason = "no evaluation yet";

    if (ar) {
        verdict = attrib_verdict_names[ar->verdict];
        reason = ar->reason;
        int m = -1;
        for (int k = 0; k < ATTRIB_NMETRIC; k++)
            if (ar->metric[0] && strcmp(ar->metric, attrib_metric_names[k]) == 0)
                m = k;
        if (m >= 0 && ar->est[m].ok) {
            char lo[32], hi[32];
            metric = attrib_metric_names[m];
            fmt_bytes(est, sizeof est, ar->est[m].beta);
            fmt_bytes(lo, sizeof lo, ar->est[m].low);
            fmt_bytes(hi, sizeof hi, ar->est[m].high);
            snprintf(iv, sizeof iv, "%s .. %s", lo, hi);
        }
    }
    evbuffer_add_printf(b, "%-16s %-8s %-10s %12s %25s %9llu  %s\n", r->name, verdict, metric, est, iv,
                        (unsigned long long)r->rendered, reason);
}

/* "unknown" leads somewhere: the experiment that would settle each route
 * the engine cannot call yet */
static void text_next_steps(struct evbuffer *b, const struct app *app, const struct report_row *rk, unsigned n)
{
    unsigned nsteps = 0;
    for (unsigned i = 0; i < n; i++) {
        char how[400];
        enum attrib_next nx = attrib_next_step(app, rk[i].slot, probe_captured(app, rk[i].slot), how, sizeof how);
        if (nx == NEXT_NONE || !app->stats.slot[rk[i].slot]->active)
            continue;
        if (nsteps++ == 0)
            evbuffer_add_printf(b, "\nnot settled yet, and what would settle them:\n");
        evbuffer_add_printf(b, "  %-16s %-14s %s\n", app->stats.slot[rk[i].slot]->name, attrib_next_names[nx], how);
    }
}

/* render latency against memory: the routes whose median latency rises
 * with the heap floor (a real React SSR incident: 200 ms to 3.7 s before
 * the crash) */
static void text_latency_trends(struct evbuffer *b, struct app *app, const struct report_row *rk, unsigned n)
{
    unsigned rising = 0, trends = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct attrib_route *ar = attrib_route_get(app, rk[i].slot);
        if (ar == NULL || !ar->trend_ok)
            continue;
        trends++;
        if (ar->trend_low <= 0)
            continue;
        const struct stats_route *r = stats_at(&app->stats, rk[i].slot);
        evbuffer_add_printf(b, "%s  %-16s %+.4f ms per MB of heap floor (95%%: %+.4f .. %+.4f), "
                            "median %.1f ms lately, %.1f ms since start\n",
                            rising++ ? "" : "\nmedian latency rises with memory:\n", r->name, ar->trend,
                            ar->trend_low, ar->trend_high, ar->lat_y[(ar->lat_head + ar->lat_n - 1) % ATTRIB_LAT_POINTS],
                            hist_quantile(&r->latency, 0.5) / 1000.0);
    }
    if (trends && !rising)
        evbuffer_add_printf(b, "\nmedian latency: no route's rises with memory (%u with a trend)\n", trends);
}

/* Where memory is heading, and how much data the estimates stand on. */
static void text_projection(struct evbuffer *b, const struct attrib *at)
{
    if (at == NULL)
        return;
    if (at->proj_ok) {
        char g[32], c[32], l[32];
        fmt_bytes(g, sizeof g, at->growth_bytes_per_s * 60);
        fmt_bytes(c, sizeof c, at->current_bytes);
        fmt_bytes(l, sizeof l, at->limit_bytes);
        evbuffer_add_printf(b, "\nmemory (%s): %s now, growing %s per minute", at->proj_metric, c, g);
        if (at->limit_bytes > 0 && at->minutes_to_limit >= 0)
            evbuffer_add_printf(b, "; limit %s (%s) reached in about %.0f minutes\n", l, at->limit_source,
                                at->minutes_to_limit);
        else
            evbuffer_add_printf(b, "%s\n", at->limit_bytes > 0 ? "; not approaching the limit"
                                                                : "; no known limit (set memory.limit_bytes)");
    }
    const struct attrib_fit_info *fi = &at->info[ATTRIB_HEAP];
    evbuffer_add_printf(b, "window: %u memory intervals (heap fit: %u rows, %u parameters, residual sd %.1f KB)\n",
                        at->window_rows_used, fi->n, fi->p, fi->resid_sd / 1024);
}

/* Each live worker's curve, so a report pasted in a ticket shows it. */
static void text_workers(struct evbuffer *b, const struct series *se)
{
    unsigned shown = 0;
    for (unsigned i = 0; i < se->nw; i++) {
        const struct series_worker *w = se->w[i];
        struct report_spark s;
        char lo[32], hi[32];
        if (!w->alive || !report_spark(w, &s))
            continue;
        fmt_bytes(lo, sizeof lo, s.low);
        fmt_bytes(hi, sizeof hi, s.high);
        evbuffer_add_printf(b, "%sworker %lld %s, last %.0f s: %s .. %s\n  %s\n", shown++ ? "" : "\n",
                            (long long)w->pid, s.metric, s.span_s, lo, hi, s.line);
    }
}

static void text_events(struct evbuffer *b, const struct events *events)
{
    const struct event_rec *ev;
    for (unsigned e = 0; e < 10 && (ev = events_newest(events, e)); e++) {
        time_t ts = (time_t)(ev->time_ms / 1000);
        struct tm tm;
        char when[32];
        gmtime_r(&ts, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ", &tm);
        evbuffer_add_printf(b, "%s%s  %-9s %s%s\n", e ? "" : "\nrecent events (newest first):\n", when,
                            events_type_names[ev->type], ev->dry_run ? "[dry run] " : "", ev->reason);
    }
}

int report_text(struct app *app, struct evbuffer *b)
{
    unsigned n;
    struct report_row *rk = report_rank(app, &n);

    if (rk == NULL)
        return -1;
    evbuffer_add_printf(b, "leakproxy %s report: upstream %s, memory source %s\n\n", LEAKPROXY_VERSION,
                        app->cfg->upstream.text, memsrc_kind_name(app->cfg->memory.source));
    evbuffer_add_printf(b, "%-16s %-8s %-10s %12s %25s %9s  %s\n", "route", "verdict", "metric",
                        "bytes/req", "95% interval", "requests", "reason");
    for (unsigned i = 0; i < n; i++)
        text_route(b, app, &rk[i]);
    text_next_steps(b, app, rk, n);
    text_latency_trends(b, app, rk, n);
    text_projection(b, app->attrib);
    text_workers(b, &app->series);
    text_events(b, &app->events);
    free(rk);
    return 0;
}
