/* metrics.h -- the Prometheus text exposition (format 0.0.4) of /metrics:
 * per-route counters and histograms, the upstream's memory readings, the
 * attribution engine's estimates and verdicts, the listeners, the upstream
 * pool, the guard (guard_metrics), leakproxy's own process and build.
 *
 * Only reads: rendering changes no state, so it may run at any time. The
 * metric names, labels and help texts are an interface (dashboards and
 * alerts query them): a rename is a breaking change, a deprecated family
 * stays until its users have moved. Sits above the modules it reads and
 * below admin, which serves it: it calls nothing in admin. */
#ifndef LEAKPROXY_METRICS_H
#define LEAKPROXY_METRICS_H

struct app;
struct evbuffer;

/* Appends the exposition of <app> to <out>. <admin_conns> is the number of
 * open admin connections, or -1 when there is no admin listener (the family
 * is then left out). */
void metrics_render(struct app *app, int admin_conns, struct evbuffer *out);
#endif
