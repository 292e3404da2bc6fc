/* probe.h -- captured requests per route, and the probe: replay one route's
 * requests between forced-GC readings and divide (see probe.c). A replay's
 * answer costs the proxy one head (at most limits.max_header_bytes) and no
 * body: bodies are dropped as they arrive, whatever their size. */
#ifndef LEAKPROXY_PROBE_H
#define LEAKPROXY_PROBE_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "http1.h"

#define PROBE_RING       32           /* captured requests kept per route */
#define PROBE_ENTRY_MAX  768          /* longer requests are not captured */
#define PROBE_MAX_SLOTS  1024         /* routes beyond this are not captured */

struct app;
struct capture_ring;
struct probe_run;

struct probe_state {                  /* lives in struct app */
    struct capture_ring *rings[PROBE_MAX_SLOTS];
    struct probe_run *run;            /* the current or last probe */
    uint64_t captured;
    struct event *auto_timer;         /* attribution.auto_probe */
    uint64_t auto_last_ms[PROBE_MAX_SLOTS];   /* when each route was last probed by it */
    uint64_t auto_started;
};

/* Hot path: copies a GET/HEAD request (head at <p>) into its route's ring,
 * as the upstream gets it: only the headers for which <forwarded>(<ctx>, i)
 * says 1 (the proxy's forwarding rules), never cookies or credentials.
 * Called once the request passed every rule that could refuse it. */
void probe_capture(struct app *app, unsigned slot, const char *p, const struct http1_head *h,
                   int (*forwarded)(const void *ctx, unsigned i), const void *ctx);
unsigned probe_captured(const struct app *app, unsigned slot);

/* Starts a probe of <route>: <requests> replayed in blocks of <block>, at
 * <concurrency>, optionally split by "param:NAME", "query:KEY" or
 * "header:NAME". Returns an HTTP status (200 started, 404 no route, 409 not
 * possible now, 400 bad split) with <err> filled when not 200. */
int probe_start(struct app *app, const char *route, unsigned requests, unsigned concurrency,
                unsigned block, const char *split, char *err, size_t errlen);
void probe_abort(struct app *app, const char *why);
/* State and results for GET /api/probe (new reference). */
json_t *probe_json(const struct app *app);
void probe_release(struct app *app);
/* attribution.auto_probe: every few seconds, when no probe runs, probes the
 * suspect route with the largest estimate (else an unknown route whose next
 * step is a probe), each route at most once a minute. 0 or -1 (OOM). */
int probe_auto_start(struct app *app);  /* frees the last result */
void probe_free(struct app *app);     /* shutdown: abort, free the rings */
#endif
