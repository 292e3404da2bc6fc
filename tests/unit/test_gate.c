/* test_gate.c -- the admission gate: who starts, who waits, for how long,
 * and when a row is full or a quiesce done. Runs a real event loop for the
 * timers. */
#include "cm.h"

#include <event2/event.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "gate.h"

struct rec {
    struct gate *g;
    struct gate_waiter *released[16];
    unsigned nreleased;
    unsigned row_full, quiesced, quiesced_timed_out;
};

static void on_release(void *arg, struct gate_waiter *w)
{
    struct rec *r = arg;
    r->released[r->nreleased++] = w;
    gate_started(r->g, w->slot);
}

static void on_quiesced(void *arg, int timed_out)
{
    struct rec *r = arg;
    r->quiesced++;
    r->quiesced_timed_out += timed_out != 0;
}

static void on_row_full(void *arg)
{
    struct rec *r = arg;
    r->row_full++;
}

static struct gate *mk(struct event_base *b, struct rec *r)
{
    memset(r, 0, sizeof *r);
    struct gate_ops ops = { r, on_release, on_quiesced, on_row_full };
    r->g = gate_new(b, 4, &ops);
    assert_non_null(r->g);
    return r->g;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void run_ms(struct event_base *b, int ms)
{
    struct timeval tv = { 0, ms * 1000 };
    event_base_loopexit(b, &tv);
    event_base_dispatch(b);
}

static void test_open_and_row(void **state)
{
    (void)state;
    struct event_base *b = event_base_new();
    struct rec r;
    struct gate *g = mk(b, &r);
    struct gate_waiter w1 = { 0 }, w2 = { 0 }, w3 = { 0 };

    assert_int_equal(gate_admit(g, 1, &w1, 0), 1);          /* open: everyone */
    const uint8_t admit1[4] = { 0, 1, 0, 0 };
    gate_row(g, admit1, 4, 3, 10000);
    assert_int_equal(gate_state(g), GATE_ROW);
    assert_int_equal(gate_admit(g, 1, &w1, 0), 1);
    gate_started(g, 1);
    assert_int_equal(gate_admit(g, 2, &w2, 0), 0);          /* not in the row: waits */
    assert_int_equal(gate_admit(g, 3, &w3, 0), 0);
    assert_int_equal(r.nreleased, 0);
    /* the next row admits route 3: its waiter starts, route 2's keeps waiting */
    const uint8_t admit3[4] = { 0, 0, 0, 1 };
    gate_row(g, admit3, 4, 3, 10000);
    assert_int_equal(r.nreleased, 1);
    assert_ptr_equal(r.released[0], &w3);
    gate_cancel(g, &w2);                                     /* its client went away */
    struct gate_stats st;
    gate_get_stats(g, &st);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.held, 1);
    gate_open(g);
    assert_int_equal(r.nreleased, 1);
    gate_free(g);
    event_base_free(b);
}

static void test_row_full_and_stall(void **state)
{
    (void)state;
    struct event_base *b = event_base_new();
    struct rec r;
    struct gate *g = mk(b, &r);
    struct gate_waiter w = { 0 };
    const uint8_t admit[4] = { 0, 1, 0, 0 };

    gate_row(g, admit, 4, 3, 10000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gate_admit(g, 1, &w, 0), 1);
        gate_started(g, 1);
    }
    gate_finished(g, 1, 1);
    gate_finished(g, 1, 1);
    assert_int_equal(r.row_full, 0);
    gate_finished(g, 1, 1);
    assert_int_equal(r.row_full, 1);                         /* 3 completed: full, once */
    gate_finished(g, 2, 1);
    assert_int_equal(r.row_full, 1);

    /* a stall: one admitted request done, none in flight, someone waits */
    gate_row(g, admit, 4, 50, 10000);
    gate_admit(g, 1, &w, 0);
    gate_started(g, 1);
    gate_finished(g, 1, 1);
    assert_int_equal(r.row_full, 1);
    struct gate_waiter w2 = { 0 };
    assert_int_equal(gate_admit(g, 2, &w2, mono_us()), 0);
    assert_int_equal(r.row_full, 1);                         /* a grace for the next request */
    run_ms(b, 20);
    assert_int_equal(r.row_full, 2);
    struct gate_stats st;
    gate_get_stats(g, &st);
    assert_int_equal(st.rows_stalled, 1);
    /* the next admitted request arrives within the grace: no stall */
    gate_row(g, admit, 4, 50, 10000);
    gate_admit(g, 1, &w, 0);
    gate_started(g, 1);
    gate_finished(g, 1, 1);
    struct gate_waiter w3 = { 0 };
    assert_int_equal(gate_admit(g, 3, &w3, mono_us()), 0);
    assert_int_equal(gate_admit(g, 1, &w, 0), 1);
    gate_started(g, 1);
    run_ms(b, 20);
    assert_int_equal(r.row_full, 2);
    gate_open(g);
    assert_int_equal(r.nreleased, 2);
    gate_free(g);
    event_base_free(b);
}

/* A full row waiting for its reading: a stall lets everyone go instead of
 * idling the upstream; a new row ends that. */
static void test_overflow(void **state)
{
    (void)state;
    struct event_base *b = event_base_new();
    struct rec r;
    struct gate *g = mk(b, &r);
    struct gate_waiter w = { 0 }, w2 = { 0 }, w3 = { 0 };
    const uint8_t admit[4] = { 0, 1, 0, 0 };

    gate_row(g, admit, 4, 1, 10000);
    assert_int_equal(gate_admit(g, 1, &w, 0), 1);
    gate_started(g, 1);
    gate_finished(g, 1, 1);
    assert_int_equal(r.row_full, 1);                         /* full */
    assert_int_equal(gate_admit(g, 2, &w2, mono_us()), 0);   /* waits: no overflow yet */
    run_ms(b, 20);
    assert_int_equal(r.nreleased, 0);
    gate_overflow(g, 1);                                      /* the reading is not due yet */
    run_ms(b, 20);
    assert_int_equal(r.nreleased, 1);
    struct gate_stats st;
    gate_get_stats(g, &st);
    assert_int_equal(st.overflowed, 1);
    gate_row(g, admit, 4, 5, 10000);                          /* the next row holds again */
    assert_int_equal(gate_admit(g, 3, &w3, mono_us()), 0);
    run_ms(b, 20);
    assert_int_equal(r.nreleased, 1);
    gate_open(g);
    gate_free(g);
    event_base_free(b);
}

static void test_hold_expires(void **state)
{
    (void)state;
    struct event_base *b = event_base_new();
    struct rec r;
    struct gate *g = mk(b, &r);
    struct gate_waiter w = { 0 };
    const uint8_t admit[4] = { 0, 1, 0, 0 };

    gate_row(g, admit, 4, 100, 30);
    assert_int_equal(gate_admit(g, 2, &w, 0), 0);
    /* since_us 0 is long past: the hold is over at the first timer run */
    run_ms(b, 60);
    assert_int_equal(r.nreleased, 1);
    struct gate_stats st;
    gate_get_stats(g, &st);
    assert_int_equal(st.hold_expired, 1);
    gate_free(g);
    event_base_free(b);
}

static void test_quiesce(void **state)
{
    (void)state;
    struct event_base *b = event_base_new();
    struct rec r;
    struct gate *g = mk(b, &r);
    struct gate_waiter w = { 0 };

    gate_started(g, 1);
    gate_started(g, 2);
    gate_quiesce(g, 10000, 20000);
    assert_int_equal(r.quiesced, 0);
    assert_int_equal(gate_admit(g, 1, &w, 0), 0);             /* nothing new starts */
    gate_finished(g, 1, 1);
    assert_int_equal(r.quiesced, 0);
    gate_finished(g, 2, 1);
    assert_int_equal(r.quiesced, 1);                          /* in flight ended */
    assert_int_equal(r.quiesced_timed_out, 0);
    gate_open(g);                                             /* the floor was read */
    assert_int_equal(r.nreleased, 1);

    /* an exchange that never ends, and a floor read that never answers:
     * the hold still ends quiesce_ms after it began */
    struct gate_waiter w2 = { 0 };
    gate_quiesce(g, 30, 60);
    assert_int_equal(r.quiesced, 1);                          /* w's exchange is in flight */
    assert_int_equal(gate_admit(g, 3, &w2, 0), 0);
    uint8_t mask[4];
    assert_int_equal(gate_waiting(g, mask, 4), 1);
    assert_int_equal(mask[3], 1);
    run_ms(b, 45);                                            /* drain_ms passed: read anyway */
    assert_int_equal(r.quiesced, 2);
    assert_int_equal(r.quiesced_timed_out, 1);
    assert_int_equal(r.nreleased, 1);                         /* still held: the read is on */
    run_ms(b, 60);                                            /* hold_ms passed */
    assert_int_equal(r.nreleased, 2);
    assert_int_equal(gate_state(g), GATE_OPEN);
    gate_free(g);
    event_base_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_row),
        cmocka_unit_test(test_row_full_and_stall),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_hold_expires),
        cmocka_unit_test(test_quiesce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
