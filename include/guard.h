/* guard.h -- switch SSR off automatically before the upstream runs out of
 * memory (config "guard"; README "The guard").
 *
 * A timer reads every worker's latest memory (the heap floor for heap_used,
 * so the V8 saw-tooth does not count) against the high threshold (bytes, or
 * a fraction of the worker's limit) and the projected minutes to the limit.
 * GUARD_CONFIRM fresh readings in a row above it trip the guard; it then
 * switches routes to csr as "action" says, one action at a time, capped by
 * max_switches_per_hour; it recovers after hold_seconds below the low
 * threshold and then, with "restore": "on_recovery", renders its routes
 * again one at a time, hold_seconds apart. It never changes a mode set by
 * hand and never touches never_csr routes. Every decision is an event
 * (events.h), posted to the webhook when one is set. */
#ifndef LEAKPROXY_GUARD_H
#define LEAKPROXY_GUARD_H

#define GUARD_CONFIRM        3        /* fresh readings above high before a trip */
#define GUARD_SETTLE_MS      10000    /* least time to judge a switch's effect */
#define GUARD_WEBHOOK_QUEUE  64       /* pending webhook posts; the oldest goes first */
#define GUARD_WEBHOOK_TRIES  5        /* attempts per post: 1, 2, 4, 8 s apart */
#define GUARD_WEBHOOK_HEAD_MAX 16384  /* the answer's head; its body is never kept (only the status counts) */

struct app;
struct event_rec;
struct evbuffer;
struct json_t;

/* Starts (or, on reload, re-reads the config of) the guard. The guard's
 * state -- tripped, the hour's actions, the webhook queue -- survives
 * reloads. 0 or -1. */
int guard_start(struct app *app);
void guard_free(struct app *app);
/* events.c: an event was committed (queued for the webhook if it is the
 * guard's). */
void guard_event(struct app *app, const struct event_rec *ev);
/* Runs one check now (tests). */
void guard_check(struct app *app);
/* State for /api/status (new reference). */
struct json_t *guard_json(const struct app *app);
/* Prometheus series. */
void guard_metrics(const struct app *app, struct evbuffer *o);
#endif
