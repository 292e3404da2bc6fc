/* webhook.h -- posts the guard's decisions to "guard.webhook": every event
 * whose source is the guard, as JSON ({"text", "event"}) or, with
 * "webhook_format": "alertmanager", as an Alertmanager alert list. Owns a
 * bounded queue (WEBHOOK_QUEUE posts: when full the oldest waiting one is
 * dropped and counted), one connection to the URL (remade when a reload
 * changes it), retries with back-off (WEBHOOK_TRIES, 1, 2, 4, 8 s apart),
 * and its counters. It hears events by subscribing to the event log
 * (events_subscribe), so the event log knows nothing of it; the guard
 * creates it and shows its counters. Never blocks the caller: a post is
 * queued and sent from the event loop. */
#ifndef LEAKPROXY_WEBHOOK_H
#define LEAKPROXY_WEBHOOK_H
#include <stdint.h>

#define WEBHOOK_QUEUE     64         /* pending posts; the oldest goes first */
#define WEBHOOK_TRIES     5          /* attempts per post */
#define WEBHOOK_HEAD_MAX  16384      /* the answer's head; its body is never kept (only the status counts) */

struct app;
struct webhook;

struct webhook_stats {
    uint64_t delivered, failed, dropped;
    unsigned queued;
};

/* A webhook reading app->cfg->guard.webhook at each post (none set: events
 * are ignored), subscribed to app->events. NULL on OOM. */
struct webhook *webhook_new(struct app *app);
/* Unsubscribes, closes the connection, drops what is queued. NULL is fine. */
void webhook_free(struct webhook *w);
void webhook_get_stats(const struct webhook *w, struct webhook_stats *out);
#endif
