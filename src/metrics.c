/* metrics.c -- the Prometheus exposition. See metrics.h. One function per
 * group of families, in the order they have always been printed: scrapers
 * do not care, but people diffing two scrapes do. */
#include "metrics.h"
#include "app.h"
#include "attrib.h"
#include "config.h"
#include "gate.h"
#include "guard.h"
#include "memsrc.h"
#include "series.h"
#include "stats.h"
#include "version.h"

#include <dirent.h>
#include <event2/buffer.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static const double le_seconds[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
};

static void metric_head(struct evbuffer *o, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric_hist(struct evbuffer *o, const char *name, const char *route,
                        const struct hist *h)
{
    for (size_t i = 0; i < sizeof le_seconds / sizeof le_seconds[0]; i++)
        evbuffer_add_printf(o, "%s_bucket{route=\"%s\",le=\"%g\"} %llu\n", name, route,
                            le_seconds[i],
                            (unsigned long long)hist_count_le(h, (uint64_t)(le_seconds[i] * 1e6)));
    evbuffer_add_printf(o, "%s_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name, route,
                        (unsigned long long)h->count);
    evbuffer_add_printf(o, "%s_sum{route=\"%s\"} %.6f\n", name, route, (double)h->sum_us / 1e6);
    evbuffer_add_printf(o, "%s_count{route=\"%s\"} %llu\n", name, route,
                        (unsigned long long)h->count);
}

/* One sample per active route of the uint64 field at <off> in its slot. */
static void metric_per_route(struct evbuffer *o, const struct stats *s, const char *name,
                             const char *type, const char *help, size_t off)
{
    metric_head(o, name, type, help);
    for (unsigned i = 0; i < s->n; i++)
        if (s->slot[i]->active)
            evbuffer_add_printf(o, "%s{route=\"%s\"} %llu\n", name, s->slot[i]->name,
                                (unsigned long long)*(const uint64_t *)((const char *)s->slot[i] + off));
}

/* One sample per route and estimated metric: the estimate (<low> = 0) or
 * the lower end of its interval. */
static void metric_estimates(struct evbuffer *o, struct app *app, const char *name, const char *help,
                             int low)
{
    const struct stats *s = &app->stats;
    metric_head(o, name, "gauge", help);
    for (unsigned i = 0; i < s->n; i++) {
        const struct attrib_route *ar = attrib_route_get(app, i);
        if (!s->slot[i]->active || ar == NULL)
            continue;
        for (int m = 0; m < ATTRIB_NMETRIC; m++)
            if (ar->est[m].ok)
                evbuffer_add_printf(o, "%s{route=\"%s\",metric=\"%s\"} %.0f\n", name, s->slot[i]->name,
                                    attrib_metric_names[m], low ? ar->est[m].low : ar->est[m].beta);
    }
}

/* The live upstream workers to print: a series is skipped when a newer live
 * one has its number (a restart at the same pid until the batch marks the
 * old one dead), so no label set appears twice. */
static int worker_shown(const struct series *se, unsigned i)
{
    const struct series_worker *w = se->w[i];
    if (!w->alive || w->number == 0)
        return 0;
    for (unsigned k = i + 1; k < se->nw; k++)
        if (se->w[k]->alive && se->w[k]->number == w->number)
            return 0;
    return 1;
}

/* Each kind of reading in its own gauge, by a stable "worker" label (the
 * series' number, kept across restarts: summing over workers means
 * something, and a pm2 restart does not start a new series), the pid in
 * leakproxy_upstream_worker_info; then the deprecated
 * leakproxy_upstream_memory_bytes{pid,kind}, unchanged. */
static void metric_workers(struct evbuffer *o, const struct app *app)
{
    static const struct { const char *name, *help; } kinds[5] = {
        { "leakproxy_upstream_rss_bytes", "Resident set size of each live upstream worker." },
        { "leakproxy_upstream_heap_used_bytes", "V8 heap in use of each live upstream worker." },
        { "leakproxy_upstream_heap_total_bytes", "V8 heap reserved by each live upstream worker." },
        { "leakproxy_upstream_external_bytes", "Memory of C++ objects bound to JS objects (Buffers) of each live upstream worker." },
        { "leakproxy_upstream_heap_floor_bytes", "Heap after the last (forced or observed) GC, else its lower envelope, of each live upstream worker." },
    };
    static const char *const dep_kinds[5] = { "rss", "heap_used", "heap_total", "external", "floor" };
    const struct series *se = &app->series;

    for (int k = 0; k < 5; k++) {
        metric_head(o, kinds[k].name, "gauge", kinds[k].help);
        for (unsigned i = 0; i < se->nw; i++) {
            const struct series_point *l = &se->w[i]->last;
            const uint64_t v[5] = { l->rss, l->heap_used, l->heap_total, l->external, l->floor };
            const int ok[5] = { !!(l->flags & MEM_HAS_RSS), !!(l->flags & MEM_HAS_HEAP),
                                !!(l->flags & MEM_HAS_HEAP), !!(l->flags & MEM_HAS_EXT),
                                !!(l->flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV)) };
            if (worker_shown(se, i) && ok[k])
                evbuffer_add_printf(o, "%s{worker=\"%u\"} %llu\n", kinds[k].name, se->w[i]->number - 1,
                                    (unsigned long long)v[k]);
        }
    }
    metric_head(o, "leakproxy_upstream_worker_info", "gauge",
                "Always 1 for each live upstream worker; its pid is a label (it changes when the worker restarts).");
    for (unsigned i = 0; i < se->nw; i++)
        if (worker_shown(se, i))
            evbuffer_add_printf(o, "leakproxy_upstream_worker_info{worker=\"%u\",pid=\"%lld\"} 1\n",
                                se->w[i]->number - 1, (long long)se->w[i]->pid);
    metric_head(o, "leakproxy_upstream_memory_bytes", "gauge",
                "Deprecated (summing over kind adds unlike things, pid changes at restarts): "
                "leakproxy_upstream_{rss,heap_used,heap_total,external,heap_floor}_bytes{worker}.");
    for (unsigned i = 0; i < se->nw; i++) {
        const struct series_worker *w = se->w[i];
        const struct series_point *l = &w->last;
        const uint64_t v[5] = { l->rss, l->heap_used, l->heap_total, l->external, l->floor };
        const int ok[5] = { !!(l->flags & MEM_HAS_RSS), !!(l->flags & MEM_HAS_HEAP),
                            !!(l->flags & MEM_HAS_HEAP), !!(l->flags & MEM_HAS_EXT),
                            !!(l->flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV)) };
        if (!w->alive)
            continue;
        for (int k = 0; k < 5; k++)
            if (ok[k])
                evbuffer_add_printf(o, "leakproxy_upstream_memory_bytes{pid=\"%lld\",kind=\"%s\"} %llu\n",
                                    (long long)w->pid, dep_kinds[k], (unsigned long long)v[k]);
    }
}

/* leakproxy's own process, under the names every Prometheus exporter uses
 * (client_golang's process collector): RSS from /proc/self/statm, CPU from
 * getrusage, descriptors from /proc/self/fd and RLIMIT_NOFILE. A figure
 * that cannot be read is left out, not printed as 0. */
static void metric_process(struct evbuffer *o, const struct app *app)
{
    struct rusage ru;
    struct rlimit rl;
    unsigned long vsz, rss;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f && fscanf(f, "%lu %lu", &vsz, &rss) == 2) {
        long page = sysconf(_SC_PAGESIZE);
        metric_head(o, "process_resident_memory_bytes", "gauge", "Resident memory size of leakproxy in bytes.");
        evbuffer_add_printf(o, "process_resident_memory_bytes %llu\n", (unsigned long long)rss * (unsigned long long)page);
        metric_head(o, "process_virtual_memory_bytes", "gauge", "Virtual memory size of leakproxy in bytes.");
        evbuffer_add_printf(o, "process_virtual_memory_bytes %llu\n", (unsigned long long)vsz * (unsigned long long)page);
    }
    if (f)
        fclose(f);
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        metric_head(o, "process_cpu_seconds_total", "counter", "User and system CPU time leakproxy spent, in seconds.");
        evbuffer_add_printf(o, "process_cpu_seconds_total %.6f\n",
                            (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                            (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        unsigned n = 0;
        while (readdir(d))
            n++;
        closedir(d);
        metric_head(o, "process_open_fds", "gauge", "Open file descriptors of leakproxy.");
        evbuffer_add_printf(o, "process_open_fds %u\n", n > 3 ? n - 3 : 0);   /* ".", "..", the DIR's own */
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        metric_head(o, "process_max_fds", "gauge", "The file descriptor limit of leakproxy (RLIMIT_NOFILE).");
        if (rl.rlim_cur == RLIM_INFINITY)
            evbuffer_add_printf(o, "process_max_fds +Inf\n");
        else
            evbuffer_add_printf(o, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
    metric_head(o, "process_start_time_seconds", "gauge", "Start time of leakproxy since the Unix epoch, in seconds.");
    evbuffer_add_printf(o, "process_start_time_seconds %.3f\n", (double)app->start_wall_ms / 1000.0);
}

/* Counts of requests and responses, and the admission gate's holds. */
static void metric_route_requests(struct evbuffer *o, struct app *app)
{
    const struct stats *s = &app->stats;
    static const char *const cls[] = { "", "1xx", "2xx", "3xx", "4xx", "5xx" };

    /* route names are restricted to [A-Za-z0-9_.-] (route.c), so they need
     * no escaping as label values */
    metric_per_route(o, s, "leakproxy_requests_total", "counter", "Requests received, by route.",
                     offsetof(struct stats_route, requests));
    metric_head(o, "leakproxy_responses_total", "counter", "Responses sent, by route and status class.");
    for (unsigned i = 0; i < s->n; i++)
        if (s->slot[i]->active)
            for (int k = 1; k <= 5; k++)
                evbuffer_add_printf(o, "leakproxy_responses_total{route=\"%s\",class=\"%s\"} %llu\n",
                                    s->slot[i]->name, cls[k],
                                    (unsigned long long)s->slot[i]->status[k]);
    metric_head(o, "leakproxy_inflight_requests", "gauge", "Requests in progress, by route.");
    for (unsigned i = 0; i < s->n; i++)
        if (s->slot[i]->active)
            evbuffer_add_printf(o, "leakproxy_inflight_requests{route=\"%s\"} %lld\n",
                                s->slot[i]->name, (long long)s->slot[i]->inflight);
    metric_per_route(o, s, "leakproxy_held_requests_total", "counter",
                     "Requests held at the admission gate (a forced-GC quiesce or a designed row), by route.",
                     offsetof(struct stats_route, held));
    metric_head(o, "leakproxy_held_seconds_total", "counter",
                "Time requests spent held at the admission gate, by route.");
    for (unsigned i = 0; i < s->n; i++)
        if (s->slot[i]->active)
            evbuffer_add_printf(o, "leakproxy_held_seconds_total{route=\"%s\"} %.6f\n", s->slot[i]->name,
                                (double)s->slot[i]->held_us / 1e6);
    struct gate_stats gs;
    gate_get_stats(app->gate, &gs);
    metric_head(o, "leakproxy_held_requests", "gauge", "Requests waiting at the admission gate now.");
    evbuffer_add_printf(o, "leakproxy_held_requests %u\n", gs.waiting);
}

/* Bytes, failed exchanges and the two latency histograms, by route. */
static void metric_route_traffic(struct evbuffer *o, const struct stats *s)
{
    metric_per_route(o, s, "leakproxy_request_bytes_total", "counter", "Bytes received from clients, by route.",
                     offsetof(struct stats_route, bytes_in));
    metric_per_route(o, s, "leakproxy_response_bytes_total", "counter", "Bytes sent to clients, by route.",
                     offsetof(struct stats_route, bytes_out));
    metric_head(o, "leakproxy_client_aborts_total", "counter",
                "Clients that went away before their response ended, by route.");
    for (unsigned i = 0; i < s->n; i++)
        if (s->slot[i]->active)
            evbuffer_add_printf(o, "leakproxy_client_aborts_total{route=\"%s\"} %llu\n", s->slot[i]->name,
                                (unsigned long long)s->slot[i]->errors[STATS_ERR_CLIENT_ABORT]);
    /* kind="client_abort" is deprecated (leakproxy_client_aborts_total): it
     * stays, so that existing queries keep working */
    metric_head(o, "leakproxy_upstream_errors_total", "counter",
                "Failed exchanges, by route and kind (connect, timeout, bad_response, reset; "
                "client_abort is deprecated: see leakproxy_client_aborts_total).");
    for (unsigned i = 0; i < s->n; i++)
        if (s->slot[i]->active)
            for (int k = 0; k < STATS_ERR_N; k++)
                evbuffer_add_printf(o, "leakproxy_upstream_errors_total{route=\"%s\",kind=\"%s\"} %llu\n",
                                    s->slot[i]->name, stats_err_names[k],
                                    (unsigned long long)s->slot[i]->errors[k]);
    metric_head(o, "leakproxy_request_duration_seconds", "histogram",
                "Time from the request head to the end of the response, by route.");
    for (unsigned i = 0; i < s->n; i++)
        if (s->slot[i]->active)
            metric_hist(o, "leakproxy_request_duration_seconds", s->slot[i]->name, &s->slot[i]->latency);
    metric_head(o, "leakproxy_ttfb_seconds", "histogram",
                "Time from the request head to the first response byte from the upstream, by route.");
    for (unsigned i = 0; i < s->n; i++)
        if (s->slot[i]->active)
            metric_hist(o, "leakproxy_ttfb_seconds", s->slot[i]->name, &s->slot[i]->ttfb);
}

/* The memory source: the workers' readings, its health, forced GCs. */
static void metric_memory(struct evbuffer *o, struct app *app)
{
    struct memsrc_health mh;
    memsrc_health(app, &mh);
    if (app->cfg->memory.source == MEMSRC_NONE)
        return;
    metric_workers(o, app);
    metric_head(o, "leakproxy_memory_reads_total", "counter", "Successful memory source readings.");
    evbuffer_add_printf(o, "leakproxy_memory_reads_total %llu\n", (unsigned long long)mh.reads);
    metric_head(o, "leakproxy_memory_errors_total", "counter", "Failed memory source readings.");
    evbuffer_add_printf(o, "leakproxy_memory_errors_total %llu\n", (unsigned long long)mh.errors);
    metric_head(o, "leakproxy_memory_source_up", "gauge", "1 if the last memory reading succeeded.");
    evbuffer_add_printf(o, "leakproxy_memory_source_up %d\n", mh.reads > 0 && !mh.failing);
    metric_head(o, "leakproxy_memory_last_success_timestamp_seconds", "gauge",
                "Unix time of the last successful memory reading (0: never).");
    evbuffer_add_printf(o, "leakproxy_memory_last_success_timestamp_seconds %.3f\n",
                        mh.last_ok_us ? (double)app_wall_ms_at(app, mh.last_ok_us) / 1000.0 : 0.0);
    if (app->cfg->memory.gc_url == NULL)
        return;
    metric_head(o, "leakproxy_memory_gc_duty_ratio", "gauge",
                "Share of the upstream's time spent in GCs leakproxy forced (moving average).");
    evbuffer_add_printf(o, "leakproxy_memory_gc_duty_ratio %.6f\n", mh.gc_duty);
    metric_head(o, "leakproxy_memory_gc_duty_target_ratio", "gauge",
                "The forced-GC budget now: max_gc_duty while routes are unsettled, a tenth of it after.");
    evbuffer_add_printf(o, "leakproxy_memory_gc_duty_target_ratio %.6f\n", mh.duty_target);
    metric_head(o, "leakproxy_memory_rows_designed_total", "counter",
                "Designed measurement rows begun (memory.rows).");
    evbuffer_add_printf(o, "leakproxy_memory_rows_designed_total %llu\n",
                        (unsigned long long)mh.rows_designed);
}

/* The attribution engine's estimates, verdicts and projection, once it has
 * evaluated. */
static void metric_attribution(struct evbuffer *o, struct app *app)
{
    const struct stats *s = &app->stats;

    if (app->attrib == NULL || app->attrib->evaluations == 0)
        return;
    metric_estimates(o, app, "leakproxy_route_retained_bytes_per_request",
                     "Estimated bytes each request of the route leaves behind, by metric (heap_used, rss, external).", 0);
    metric_estimates(o, app, "leakproxy_route_retained_bytes_per_request_low",
                     "Lower end of the 95% interval of the estimate above.", 1);
    metric_head(o, "leakproxy_route_verdict", "gauge",
                "1 for the route's current verdict (leaking, suspect, warming, clean, unknown), 0 for the others.");
    for (unsigned i = 0; i < s->n; i++) {
        const struct attrib_route *ar = attrib_route_get(app, i);
        if (!s->slot[i]->active || ar == NULL)
            continue;
        for (int v = 0; v < 5; v++)
            evbuffer_add_printf(o, "leakproxy_route_verdict{route=\"%s\",verdict=\"%s\"} %d\n",
                                s->slot[i]->name, attrib_verdict_names[v], (int)ar->verdict == v);
    }
    if (app->attrib->proj_ok && app->attrib->limit_bytes > 0 && app->attrib->minutes_to_limit >= 0) {
        metric_head(o, "leakproxy_upstream_minutes_to_memory_limit", "gauge",
                    "Projected minutes until the upstream reaches its memory limit at the current growth.");
        evbuffer_add_printf(o, "leakproxy_upstream_minutes_to_memory_limit %.1f\n", app->attrib->minutes_to_limit);
    }
    metric_head(o, "leakproxy_attribution_evaluation_seconds", "gauge", "CPU time of the last attribution evaluation.");
    evbuffer_add_printf(o, "leakproxy_attribution_evaluation_seconds %.6f\n",
                        (double)app->attrib->last_cost_us / 1e6);
}

/* The client listener and the admin listener. */
static void metric_listeners(struct evbuffer *o, const struct app *app, int admin_conns)
{
    metric_head(o, "leakproxy_connections", "gauge", "Open client connections.");
    evbuffer_add_printf(o, "leakproxy_connections %u\n", app->nclients);
    metric_head(o, "leakproxy_connections_accepted_total", "counter", "Client connections accepted.");
    evbuffer_add_printf(o, "leakproxy_connections_accepted_total %llu\n",
                        (unsigned long long)app->connections_total);
    metric_head(o, "leakproxy_listener_paused", "gauge",
                "1 while the proxy accepts no new connections (max_connections reached or out of descriptors).");
    evbuffer_add_printf(o, "leakproxy_listener_paused %d\n", app->listener_paused ? 1 : 0);
    metric_head(o, "leakproxy_pipelined_bytes", "gauge",
                "Request bytes read ahead of the responses being relayed, all clients (bounded at 16 MiB).");
    evbuffer_add_printf(o, "leakproxy_pipelined_bytes %zu\n", app->pipelined);
    metric_head(o, "leakproxy_accept_fd_exhausted_total", "counter",
                "Accepts that failed for lack of file descriptors (the listener pauses until a connection closes).");
    evbuffer_add_printf(o, "leakproxy_accept_fd_exhausted_total %llu\n",
                        (unsigned long long)app->connections_rejected);
    metric_head(o, "leakproxy_idle_connections_closed_total", "counter",
                "Idle keep-alive client connections closed to free descriptors when accept ran out of them.");
    evbuffer_add_printf(o, "leakproxy_idle_connections_closed_total %llu\n", (unsigned long long)app->idle_drained);
    if (admin_conns >= 0) {
        metric_head(o, "leakproxy_admin_connections", "gauge", "Open admin connections (at most 64: ADMIN_MAX_CONNS).");
        evbuffer_add_printf(o, "leakproxy_admin_connections %u\n", (unsigned)admin_conns);
    }
}

/* The upstream pool, reloads and uptime. */
static void metric_upstream_pool(struct evbuffer *o, const struct app *app)
{
    metric_head(o, "leakproxy_upstream_connections", "gauge", "Open upstream connections, by state.");
    evbuffer_add_printf(o, "leakproxy_upstream_connections{state=\"idle\"} %u\n", app->nidle);
    evbuffer_add_printf(o, "leakproxy_upstream_connections{state=\"active\"} %u\n",
                        app->nupconns - app->nidle);
    metric_head(o, "leakproxy_upstream_connects_total", "counter", "New upstream connections opened.");
    evbuffer_add_printf(o, "leakproxy_upstream_connects_total %llu\n",
                        (unsigned long long)app->upstream_connects);
    metric_head(o, "leakproxy_upstream_reuses_total", "counter", "Requests sent on a pooled keep-alive connection.");
    evbuffer_add_printf(o, "leakproxy_upstream_reuses_total %llu\n",
                        (unsigned long long)app->upstream_reuses);
    metric_head(o, "leakproxy_config_reloads_total", "counter", "Configuration reloads, by result.");
    evbuffer_add_printf(o, "leakproxy_config_reloads_total{result=\"ok\"} %llu\n",
                        (unsigned long long)app->reloads);
    evbuffer_add_printf(o, "leakproxy_config_reloads_total{result=\"error\"} %llu\n",
                        (unsigned long long)app->reload_failures);
    metric_head(o, "leakproxy_uptime_seconds", "gauge", "Seconds since leakproxy started.");
    evbuffer_add_printf(o, "leakproxy_uptime_seconds %.3f\n",
                        (double)(app_now_us() - app->start_us) / 1e6);
}

void metrics_render(struct app *app, int admin_conns, struct evbuffer *o)
{
    metric_route_requests(o, app);
    metric_route_traffic(o, &app->stats);
    metric_memory(o, app);
    metric_attribution(o, app);
    metric_listeners(o, app, admin_conns);
    metric_upstream_pool(o, app);
    guard_metrics(app, o);
    metric_process(o, app);
    metric_head(o, "leakproxy_build_info", "gauge", "Always 1; the version and the git revision are labels.");
    evbuffer_add_printf(o, "leakproxy_build_info{version=\"%s\",revision=\"%s\"} 1\n", LEAKPROXY_VERSION,
                        LEAKPROXY_REVISION);
}
