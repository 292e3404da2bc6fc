/* test_events.c -- the decision log: ids in order, newest first, a fixed
 * ring that forgets the oldest, route lists bounded, counts per type, and
 * the JSON shape the API, the event log and the webhook share; subscribers
 * (how the webhook hears events without the log knowing it) hear every
 * committed event, in order, until they unsubscribe. */
#include "cm.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "events.h"
#include "log.h"

static struct app app;

static void add(enum event_type t, const char *reason)
{
    struct event_rec *ev = events_begin(&app, t, "guard");
    snprintf(ev->reason, sizeof ev->reason, "%s", reason);
    events_commit(&app, ev);
}

static void test_ring_newest_first_and_bounded(void **state)
{
    (void)state;
    log_level_min = LOG_ERROR;               /* events log at warn */
    memset(&app, 0, sizeof app);
    events_init(&app.events);
    assert_null(events_newest(&app.events, 0));
    for (int i = 1; i <= EVENTS_MAX + 10; i++) {
        char r[32];
        snprintf(r, sizeof r, "event %d", i);
        add(i % 2 ? EVT_TRIP : EVT_SWITCH, r);
    }
    const struct event_rec *e = events_newest(&app.events, 0);
    assert_non_null(e);
    assert_int_equal(e->id, EVENTS_MAX + 10);
    assert_string_equal(e->reason, "event 266");
    e = events_newest(&app.events, EVENTS_MAX - 1);         /* the oldest kept */
    assert_non_null(e);
    assert_int_equal(e->id, 11);
    assert_null(events_newest(&app.events, EVENTS_MAX));    /* forgotten */
    assert_int_equal(app.events.count[EVT_TRIP] + app.events.count[EVT_SWITCH], EVENTS_MAX + 10);
}

static void test_routes_bounded_and_json(void **state)
{
    (void)state;
    memset(&app, 0, sizeof app);
    events_init(&app.events);
    struct event_rec *ev = events_begin(&app, EVT_SWITCH, "guard");
    ev->action = EVT_ACT_CSR;
    ev->worker = 4123;
    ev->metric = "heap_used";
    ev->bytes = 1300000000;
    ev->threshold = 1200000000;
    char name[70];
    for (int i = 0; i < 40; i++) {           /* 40 names of 60 bytes: more than fits */
        snprintf(name, sizeof name, "route-%054d", i);
        events_add_route(ev, name);
    }
    snprintf(ev->reason, sizeof ev->reason, "switched");
    events_commit(&app, ev);
    const struct event_rec *e = events_newest(&app.events, 0);
    assert_int_equal(e->nroutes, 40);
    assert_true(strlen(e->routes) < EVENT_ROUTES_MAX);

    json_t *j = events_json(e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "switch");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "guard");
    assert_string_equal(json_string_value(json_object_get(j, "action")), "csr");
    assert_string_equal(json_string_value(json_object_get(j, "metric")), "heap_used");
    assert_int_equal(json_integer_value(json_object_get(j, "worker")), 4123);
    assert_int_equal(json_integer_value(json_object_get(j, "threshold")), 1200000000);
    json_t *routes = json_object_get(j, "routes");
    assert_true(json_array_size(routes) > 0 && json_array_size(routes) < 40);
    assert_string_equal(json_string_value(json_array_get(routes, 0)), "route-000000000000000000000000000000000000000000000000000000");
    assert_int_equal(json_integer_value(json_object_get(j, "routes_total")), 40);
    assert_null(json_object_get(j, "dry_run"));
    json_decref(j);
}

struct heard { unsigned n; uint64_t last_id; char last_reason[32]; };

static void hear(void *ctx, const struct event_rec *ev)
{
    struct heard *h = ctx;
    h->n++;
    h->last_id = ev->id;
    snprintf(h->last_reason, sizeof h->last_reason, "%.31s", ev->reason);
}

static void test_subscribers_hear_committed_events(void **state)
{
    (void)state;
    struct heard a = { 0 }, b = { 0 };
    memset(&app, 0, sizeof app);
    events_init(&app.events);
    assert_int_equal(events_subscribe(&app.events, hear, &a), 0);
    assert_int_equal(events_subscribe(&app.events, hear, &b), 0);
    struct event_rec *ev = events_begin(&app, EVT_TRIP, "guard");
    snprintf(ev->reason, sizeof ev->reason, "begun, not committed");
    assert_int_equal(a.n, 0);                /* nothing is heard before the commit */
    events_commit(&app, ev);
    add(EVT_SWITCH, "second");
    assert_int_equal(a.n, 2);
    assert_int_equal(b.n, 2);
    assert_int_equal(a.last_id, 2);
    assert_string_equal(b.last_reason, "second");
    events_unsubscribe(&app.events, hear, &a);
    events_unsubscribe(&app.events, hear, &a);   /* twice: a no-op */
    add(EVT_RESTORE, "third");
    assert_int_equal(a.n, 2);
    assert_int_equal(b.n, 3);
    /* bounded: a fixed table, a clear refusal when it is full */
    struct heard more[EVENTS_SUBSCRIBERS_MAX];
    unsigned added = 0;
    for (unsigned i = 0; i < EVENTS_SUBSCRIBERS_MAX; i++)
        added += events_subscribe(&app.events, hear, &more[i]) == 0;
    assert_int_equal(added, EVENTS_SUBSCRIBERS_MAX - 1);   /* b holds one slot */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_newest_first_and_bounded),
        cmocka_unit_test(test_routes_bounded_and_json),
        cmocka_unit_test(test_subscribers_hear_committed_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
