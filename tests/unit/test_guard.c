/* test_guard.c -- the guard's pure parts: the trough trigger, the trough
 * slope, and narrowing down under pressure (which routes are csr after each
 * verdict); then its decisions: when it trips and recovers, what the hour's
 * cap allows, when a narrowing starts, how a step is judged and when the
 * next test may start after a growing one. The narrowing is driven by a
 * simulated app: memory grows while any guilty candidate renders. */
#include "cm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "app.h"
#include "attrib.h"
#include "config.h"
#include "events.h"
#include "guard.h"
#include "log.h"
#include "memsrc.h"
#include "mode.h"
#include "series.h"
#include "stats.h"

#define MB (1024.0 * 1024.0)

/* a saw-tooth: every <period> readings a collection drops the heap to
 * <floor>(t), in between it climbs by <step> per reading */
static unsigned sawtooth(struct guard_sample *s, unsigned n, uint64_t dt_us, double floor0,
                         double floor_per_s, double step, unsigned period)
{
    for (unsigned i = 0; i < n; i++) {
        double t = (double)(i * dt_us) / 1e6;
        s[i].t_us = 1000000 + i * dt_us;
        s[i].v = floor0 + floor_per_s * t + step * (double)(i % period);
    }
    return n;
}

static void trough_sees_the_floor_through_collections(void **state)
{
    (void)state;
    struct guard_sample s[100];
    double tr = 0;
    /* readings every 200 ms, a collection every 4th: floor 100 MB, climbs 20 MB between */
    unsigned n = sawtooth(s, 100, 200000, 100 * MB, 0, 5 * MB, 4);
    assert_int_equal(guard_trough(s, n, s[n - 1].t_us, 2000000, 1, &tr), 1);
    assert_true(tr == 100 * MB);
}

static void trough_needs_enough_readings_over_a_second(void **state)
{
    (void)state;
    struct guard_sample s[3] = { { 1000000, 5 }, { 1400000, 3 }, { 1800000, 4 } };
    double tr = 0;
    /* three readings but spanning 0.8 s: not a trough */
    assert_int_equal(guard_trough(s, 3, 1800000, 2000000, 0, &tr), 0);
    s[2].t_us = 2000000;
    assert_int_equal(guard_trough(s, 3, 2000000, 2000000, 0, &tr), 1);
    assert_true(tr == 3);
    /* two readings: not enough */
    assert_int_equal(guard_trough(s + 1, 2, 2000000, 2000000, 0, &tr), 0);
    /* the window ends at <to>: a reading older than the window does not count */
    assert_int_equal(guard_trough(s, 3, 3000000, 1500000, 0, &tr), 0);
}

static void trough_for_the_heap_needs_a_collection_in_the_window(void **state)
{
    (void)state;
    /* a heap that only climbs: its lowest reading is where the window begins,
     * not a floor */
    struct guard_sample s[20];
    for (unsigned i = 0; i < 20; i++)
        s[i] = (struct guard_sample){ 1000000 + i * 200000ull, 100 * MB + i * MB };
    double tr = 0;
    assert_int_equal(guard_trough(s, 20, s[19].t_us, 2000000, 1, &tr), 0);
    assert_int_equal(guard_trough(s, 20, s[19].t_us, 2000000, 0, &tr), 1);   /* rss: no such need */
    s[17].v = 50 * MB;                /* a collection */
    assert_int_equal(guard_trough(s, 20, s[19].t_us, 2000000, 1, &tr), 1);
    assert_true(tr == 50 * MB);
}

static void trough_slope_follows_the_floor_not_the_sawtooth(void **state)
{
    (void)state;
    struct guard_sample s[60];
    double sl = 0, last = 0;
    /* floor +8 MB/s under a 20 MB saw-tooth, readings every 100 ms, a
     * collection every 5th reading (every 0.5 s) */
    unsigned n = sawtooth(s, 60, 100000, 100 * MB, 8 * MB, 4 * MB, 5);
    assert_int_equal(guard_trough_slope(s, n, s[0].t_us, s[n - 1].t_us, 500000, &sl, &last), 1);
    assert_true(sl > 7.5 * MB && sl < 8.5 * MB);
    /* the lower of the newest two buckets: the one starting at 5.0 s (the
     * newest, 5.5 s, has a collection at 5.5 s too: 100 + 8 x 5.5 MB) */
    assert_true(last >= 100 * MB + 8 * MB * 4.9 && last <= 100 * MB + 8 * MB * 5.1);
    /* a flat floor under the same saw-tooth: no growth */
    n = sawtooth(s, 60, 100000, 100 * MB, 0, 4 * MB, 5);
    assert_int_equal(guard_trough_slope(s, n, s[0].t_us, s[n - 1].t_us, 500000, &sl, &last), 1);
    assert_true(sl > -0.1 * MB && sl < 0.1 * MB);
    /* fewer than 3 buckets: no slope */
    assert_int_equal(guard_trough_slope(s, n, s[0].t_us, s[0].t_us + 900000, 500000, &sl, &last), 0);
}

/* ---- narrowing ------------------------------------------------------------ */

/* Runs a narrowing to its end against <guilty> (per candidate); returns the
 * final state; <*steps> the verdicts taken. Checks the invariant at each
 * step: a candidate proven innocent renders. */
static enum guard_narrow_state simulate(const double *w, const int *guilty, unsigned n,
                                        struct guard_narrow *nw, unsigned *steps)
{
    assert_int_equal(guard_narrow_init(nw, w, n), 0);
    enum guard_narrow_state st = nw->state;
    while (st == GN_FIRST || st == GN_SECOND || st == GN_TEST) {
        int growing = 0;
        for (unsigned i = 0; i < n; i++)
            growing |= guilty[i] && !nw->off[i];
        st = guard_narrow_next(nw, growing);
        for (unsigned i = 0; i < n; i++)
            if (nw->fate[i] == GF_INNOCENT)
                assert_int_equal(nw->off[i], 0);
        assert_true(nw->steps < 4 * n + 4);
    }
    *steps = nw->steps;
    return st;
}

static void narrowing_first_group_is_half_the_traffic(void **state)
{
    (void)state;
    struct guard_narrow nw;
    double w[4] = { 50, 25, 15, 10 };
    assert_int_equal(guard_narrow_init(&nw, w, 4), 0);
    assert_int_equal(nw.state, GN_FIRST);
    assert_int_equal(nw.first, 1);    /* 50 % in the first */
    assert_int_equal(nw.off[0], 1);
    assert_int_equal(nw.off[1] + nw.off[2] + nw.off[3], 0);
    guard_narrow_fini(&nw);
    double v[4] = { 10, 10, 10, 10 };
    assert_int_equal(guard_narrow_init(&nw, v, 4), 0);
    assert_int_equal(nw.first, 2);
    guard_narrow_fini(&nw);
    double z[3] = { 0, 0, 0 };        /* no traffic known: half the candidates */
    assert_int_equal(guard_narrow_init(&nw, z, 3), 0);
    assert_int_equal(nw.first, 1);
    guard_narrow_fini(&nw);
    assert_int_equal(guard_narrow_init(&nw, w, 0), -1);
}

static void narrowing_split_leaves_both_parts_non_empty(void **state)
{
    (void)state;
    double w[5] = { 1000, 1, 1, 1, 1 };
    assert_int_equal(guard_narrow_split(w, 0, 5), 1);
    assert_int_equal(guard_narrow_split(w, 1, 5), 3);
    assert_int_equal(guard_narrow_split(w, 3, 5), 4);
    double l[2] = { 0, 1000 };
    assert_int_equal(guard_narrow_split(l, 0, 2), 1);
}

static void narrowing_when_the_first_group_stops_it(void **state)
{
    (void)state;
    /* home 50 %, news 30 % (leaks), about 20 %: ranked news first as the suspect */
    double w[3] = { 30, 50, 20 };
    struct guard_narrow nw;
    assert_int_equal(guard_narrow_init(&nw, w, 3), 0);
    assert_int_equal(nw.first, 2);    /* news + home: 80 % >= half */
    /* news off with home: growth stops; about renders, innocent */
    assert_int_equal(guard_narrow_next(&nw, 0), GN_TEST);
    assert_int_equal(nw.fate[2], GF_INNOCENT);
    /* the test: the less suspect half of [news, home] renders again, news
     * (the suspect) stays off */
    assert_int_equal(nw.off[0], 1);
    assert_int_equal(nw.off[1], 0);
    /* home does not grow it: news is guilty without rendering again */
    assert_int_equal(guard_narrow_next(&nw, 0), GN_DONE);
    assert_int_equal(nw.fate[0], GF_GUILTY);
    assert_int_equal(nw.fate[1], GF_INNOCENT);
    assert_int_equal(nw.off[0] + nw.off[1] + nw.off[2], 1);
    guard_narrow_fini(&nw);
}

static void narrowing_when_the_leak_is_in_the_second_group(void **state)
{
    (void)state;
    /* nothing known: ranked by traffic, the leak is the third */
    double w[3] = { 50, 25, 25 };
    int guilty[3] = { 0, 0, 1 };
    struct guard_narrow nw;
    assert_int_equal(guard_narrow_init(&nw, w, 3), 0);
    assert_int_equal(guard_narrow_next(&nw, 1), GN_SECOND);       /* home off, still growing */
    assert_int_equal(nw.off[0] & nw.off[1] & nw.off[2], 1);       /* everything off */
    assert_int_equal(guard_narrow_next(&nw, 0), GN_TEST);         /* stopped: home renders first */
    assert_int_equal(nw.off[0], 0);
    assert_int_equal(nw.off[1] + nw.off[2], 2);
    /* home innocent: the second group holds the leak, only its less
     * suspect half renders (the last candidate), never the whole group */
    assert_int_equal(guard_narrow_next(&nw, 0), GN_TEST);
    assert_int_equal(nw.fate[0], GF_INNOCENT);
    assert_int_equal(nw.off[1], 1);
    assert_int_equal(nw.off[2], 0);
    /* it grows: it goes back off, the other half is tested */
    assert_int_equal(guard_narrow_next(&nw, 1), GN_TEST);
    assert_int_equal(nw.off[1], 0);
    assert_int_equal(nw.off[2], 1);
    assert_int_equal(guard_narrow_next(&nw, 0), GN_DONE);
    assert_int_equal(nw.fate[1], GF_INNOCENT);
    assert_int_equal(nw.fate[2], GF_GUILTY);
    unsigned steps;
    guard_narrow_fini(&nw);
    assert_int_equal(simulate(w, guilty, 3, &nw, &steps), GN_DONE);
    assert_int_equal(nw.off[0], 0);
    assert_int_equal(nw.off[1], 0);
    assert_int_equal(nw.off[2], 1);
    assert_int_equal(nw.fate[2], GF_GUILTY);
    assert_true(steps <= 6);
    guard_narrow_fini(&nw);
}

static void narrowing_finds_every_leak_among_many(void **state)
{
    (void)state;
    enum { N = 16 };
    double w[N];
    for (unsigned i = 0; i < N; i++)
        w[i] = 100.0 / (i + 1);       /* Zipf-like traffic */
    for (unsigned mask = 1; mask < (1u << 4); mask++) {
        /* leaks at some of candidates 1, 6, 11, 15 */
        int guilty[N] = { 0 };
        const unsigned at[4] = { 1, 6, 11, 15 };
        unsigned k = 0;
        for (unsigned b = 0; b < 4; b++)
            if (mask & (1u << b)) {
                guilty[at[b]] = 1;
                k++;
            }
        struct guard_narrow nw;
        unsigned steps;
        assert_int_equal(simulate(w, guilty, N, &nw, &steps), GN_DONE);
        for (unsigned i = 0; i < N; i++) {
            assert_int_equal(nw.off[i], guilty[i]);
            assert_int_equal(nw.fate[i], guilty[i] ? GF_GUILTY : GF_INNOCENT);
        }
        /* adaptive group testing: about 2-3 k log2(N) verdicts, far fewer than N */
        /* the less suspect part of a guilty range renders first (no
         * leaking render when the ranking is right); a leak ranked last
         * costs up to one more step per level */
        assert_true(steps <= 2 + 3 * k * 4 + k);
        guard_narrow_fini(&nw);
    }
}

static void narrowing_survives_a_lagging_first_verdict(void **state)
{
    (void)state;
    /* the leak (news) is in the first group, but memory lagged the switch
     * and the first verdict said "still growing": the second group (about)
     * is switched too, then tested, not condemned */
    double w[3] = { 30, 45, 25 };     /* news (suspect), home, about */
    struct guard_narrow nw;
    assert_int_equal(guard_narrow_init(&nw, w, 3), 0);
    assert_int_equal(nw.first, 2);
    assert_int_equal(guard_narrow_next(&nw, 1), GN_SECOND);    /* the lagging verdict */
    assert_int_equal(guard_narrow_next(&nw, 0), GN_TEST);      /* stopped: news + home render */
    assert_int_equal(nw.off[0] + nw.off[1], 0);
    assert_int_equal(guard_narrow_next(&nw, 1), GN_TEST);      /* they leak: split, home (less suspect) renders */
    assert_int_equal(nw.off[0], 1);
    assert_int_equal(nw.off[1], 0);
    assert_int_equal(guard_narrow_next(&nw, 0), GN_TEST);      /* home innocent, news guilty: about tested */
    assert_int_equal(nw.off[2], 0);
    assert_int_equal(guard_narrow_next(&nw, 0), GN_DONE);      /* about innocent */
    assert_int_equal(nw.off[0], 1);
    assert_int_equal(nw.off[1] + nw.off[2], 0);
    assert_int_equal(nw.fate[2], GF_INNOCENT);
    guard_narrow_fini(&nw);
}

static void narrowing_single_candidate(void **state)
{
    (void)state;
    double w[1] = { 5 };
    struct guard_narrow nw;
    assert_int_equal(guard_narrow_init(&nw, w, 1), 0);
    assert_int_equal(nw.off[0], 1);
    assert_int_equal(guard_narrow_next(&nw, 0), GN_DONE);
    assert_int_equal(nw.fate[0], GF_GUILTY);
    guard_narrow_fini(&nw);
    assert_int_equal(guard_narrow_init(&nw, w, 1), 0);
    assert_int_equal(guard_narrow_next(&nw, 1), GN_STUCK);   /* not this route's doing */
    guard_narrow_fini(&nw);
}

static void narrowing_stuck_when_growth_is_not_in_the_routes(void **state)
{
    (void)state;
    double w[4] = { 4, 3, 2, 1 };
    struct guard_narrow nw;
    assert_int_equal(guard_narrow_init(&nw, w, 4), 0);
    assert_int_equal(guard_narrow_next(&nw, 1), GN_SECOND);
    assert_int_equal(guard_narrow_next(&nw, 1), GN_STUCK);
    assert_int_equal(guard_narrow_next(&nw, 0), GN_STUCK);   /* stays there */
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(nw.off[i], 1);
    guard_narrow_fini(&nw);
    guard_narrow_fini(&nw);           /* twice is fine */
}

/* ---- the guard's decisions ------------------------------------------------ */

static void tripping_needs_each_signal_confirmed(void **state)
{
    (void)state;
    struct guard_counts c = { 0 };
    assert_int_equal(guard_trigger(&c), GT_NONE);
    /* one high floor is not a trip: GUARD_CONFIRM fresh readings in a row are */
    c.over = GUARD_CONFIRM - 1;
    assert_int_equal(guard_trigger(&c), GT_NONE);
    c.over = GUARD_CONFIRM;
    assert_int_equal(guard_trigger(&c), GT_FLOOR);
    c = (struct guard_counts){ .trough_over = GUARD_TROUGH_CONFIRM - 1 };
    assert_int_equal(guard_trigger(&c), GT_NONE);
    c.trough_over = GUARD_TROUGH_CONFIRM;
    assert_int_equal(guard_trigger(&c), GT_TROUGH);
    c = (struct guard_counts){ .fast_over = GUARD_FAST_CONFIRM - 1 };
    assert_int_equal(guard_trigger(&c), GT_NONE);
    c.fast_over = GUARD_FAST_CONFIRM;
    assert_int_equal(guard_trigger(&c), GT_FAST);
    c = (struct guard_counts){ .proj_over = GUARD_PROJ_CONFIRM - 1 };
    assert_int_equal(guard_trigger(&c), GT_NONE);
    c.proj_over = GUARD_PROJ_CONFIRM;
    assert_int_equal(guard_trigger(&c), GT_PROJ);
    /* no signal waits for another; unconfirmed signals do not add up */
    c = (struct guard_counts){ GUARD_CONFIRM - 1, GUARD_TROUGH_CONFIRM - 1, GUARD_FAST_CONFIRM - 1,
                               GUARD_PROJ_CONFIRM - 1 };
    assert_int_equal(guard_trigger(&c), GT_NONE);
    /* several confirmed: the floor names the trigger, then the trough */
    c = (struct guard_counts){ GUARD_CONFIRM, GUARD_TROUGH_CONFIRM, GUARD_FAST_CONFIRM, GUARD_PROJ_CONFIRM };
    assert_int_equal(guard_trigger(&c), GT_FLOOR);
    c.over = 0;
    assert_int_equal(guard_trigger(&c), GT_TROUGH);
    c.trough_over = 0;
    assert_int_equal(guard_trigger(&c), GT_FAST);
}

static void recovery_needs_every_worker_below_low(void **state)
{
    (void)state;
    assert_int_equal(guard_calm(1, 1, 0, 0), 1);
    assert_int_equal(guard_calm(1, 0, 0, 0), 0);   /* a worker still at or above low */
    assert_int_equal(guard_calm(1, 1, 1, 1), 0);   /* the projection still short */
    /* no threshold known: cannot say it recovered, unless the guard is on
     * the projection alone and the projection is no longer short */
    assert_int_equal(guard_calm(0, 1, 0, 0), 0);
    assert_int_equal(guard_calm(0, 1, 0, 1), 1);
    assert_int_equal(guard_calm(0, 1, 1, 1), 0);
}

static void the_hours_cap_refuses_and_keeps_one_action_for_a_switch_off(void **state)
{
    (void)state;
    /* switches: up to max_switches_per_hour, then refused */
    assert_int_equal(guard_cap_allows(0, 3, 0), 1);
    assert_int_equal(guard_cap_allows(2, 3, 0), 1);
    assert_int_equal(guard_cap_allows(3, 3, 0), 0);
    assert_int_equal(guard_cap_allows(0, 0, 0), 0);
    /* restores never take the last action of the hour */
    assert_int_equal(guard_cap_allows(1, 3, 1), 1);
    assert_int_equal(guard_cap_allows(2, 3, 1), 0);
    assert_int_equal(guard_cap_allows(0, 1, 1), 0);
}

static void thresholds_of_the_narrowing(void **state)
{
    (void)state;
    /* "growing": a share of the growth at the start, never below the floor */
    assert_true(guard_growth_threshold(0) == GUARD_GROWTH_MIN_BPS);
    assert_true(guard_growth_threshold(GUARD_GROWTH_MIN_BPS) == GUARD_GROWTH_MIN_BPS);
    assert_true(fabs(guard_growth_threshold(20 * MB) - GUARD_GROWTH_SHARE * 20 * MB) < 1);
    /* a step's budget: a share of high, at least 1 MB */
    assert_true(guard_step_budget(0) == 1 * MB);
    assert_true(fabs(guard_step_budget(1000 * MB) - GUARD_RISE_SHARE * 1000 * MB) < 1);
}

static void narrowing_never_starts_on_growth_below_the_threshold(void **state)
{
    (void)state;
    /* the first narrowing of a trip: flat memory is refused ("not_growing"),
     * no route switched */
    struct guard_start_in in = { .have_slope = 1, .slope = 0.5 * GUARD_GROWTH_MIN_BPS, .level = 900 * MB };
    assert_int_equal(guard_narrow_start(&in), GS_FLAT);
    in.slope = 0;
    assert_int_equal(guard_narrow_start(&in), GS_FLAT);
    in.slope = 2 * GUARD_GROWTH_MIN_BPS;
    assert_int_equal(guard_narrow_start(&in), GS_START);
    /* memory is above high and its growth not measured yet: start */
    in.have_slope = 0;
    in.slope = 0;
    assert_int_equal(guard_narrow_start(&in), GS_START);
}

static void a_later_narrowing_needs_real_growth_since_the_last_change(void **state)
{
    (void)state;
    /* tripped at 10 MB/s; a switch already this trip, memory then at 800 MB */
    struct guard_start_in in = {
        .later = 1, .have_slope = 1, .slope = 5 * MB, .level = 900 * MB,
        .end_level = 800 * MB, .budget = 10 * MB, .secs_since = 20, .trip_growth = 10 * MB,
    };
    assert_int_equal(guard_narrow_start(&in), GS_START);
    /* growth below a share of the growth at the trip: not yet, and no
     * refusal (only the first of a trip says "not growing") */
    in.slope = 2 * MB;
    assert_int_equal(guard_narrow_start(&in), GS_NOT_YET);
    in.slope = 5 * MB;
    /* memory has not risen past the step budget since */
    in.level = 805 * MB;
    assert_int_equal(guard_narrow_start(&in), GS_NOT_YET);
    /* risen, but slower on average than the threshold (drift) */
    in.level = 820 * MB;
    in.secs_since = 60;
    assert_int_equal(guard_narrow_start(&in), GS_NOT_YET);
    /* a later one needs measured growth */
    in.level = 900 * MB;
    in.secs_since = 20;
    in.have_slope = 0;
    assert_int_equal(guard_narrow_start(&in), GS_NOT_YET);
}

static struct guard_step watched(double slope_mbs)
{
    return (struct guard_step){
        .elapsed_us = 8000000, .watch_us = 8000000, .settled = 1, .have_slope = 1,
        .slope = slope_mbs * MB, .threshold = 1 * MB, .level = 500 * MB, .step_level = 500 * MB,
        .budget = 10 * MB,
    };
}

static void a_step_is_judged_after_its_watch(void **state)
{
    (void)state;
    struct guard_step s = watched(0.5);
    assert_int_equal(guard_step_verdict(&s), GV_FLAT);       /* below the threshold: innocent */
    s = watched(3);
    assert_int_equal(guard_step_verdict(&s), GV_GROWING);    /* twice the threshold or more */
    /* before the watch is over: nothing is judged */
    s.elapsed_us = s.watch_us - 1;
    assert_int_equal(guard_step_verdict(&s), GV_WAIT);
    s = watched(0.5);
    s.elapsed_us = s.watch_us - 1;
    assert_int_equal(guard_step_verdict(&s), GV_WAIT);
}

static void a_step_rising_past_its_budget_is_growing_at_once(void **state)
{
    (void)state;
    struct guard_step s = watched(0);
    s.elapsed_us = 1000000;                                  /* long before the watch ends */
    s.level = s.step_level + s.budget + 1 * MB;
    assert_int_equal(guard_step_verdict(&s), GV_ROSE);
    s.have_slope = 0;
    assert_int_equal(guard_step_verdict(&s), GV_ROSE);
    /* not before the step settled (the previous step's lag) */
    s.settled = 0;
    assert_int_equal(guard_step_verdict(&s), GV_WAIT);
    /* within the budget: waits for the watch */
    s = watched(0);
    s.elapsed_us = 1000000;
    s.level = s.step_level + s.budget;
    assert_int_equal(guard_step_verdict(&s), GV_WAIT);
}

static void ambiguous_growth_is_watched_once_more(void **state)
{
    (void)state;
    struct guard_step s = watched(1.5);                      /* above, under twice the threshold */
    assert_int_equal(guard_step_verdict(&s), GV_REWATCH);
    s.rewatched = 1;
    assert_int_equal(guard_step_verdict(&s), GV_GROWING);
}

static void without_a_slope_a_step_counts_as_growing_after_three_watches(void **state)
{
    (void)state;
    struct guard_step s = watched(0);
    s.have_slope = 0;
    assert_int_equal(guard_step_verdict(&s), GV_WAIT);
    s.elapsed_us = 3 * s.watch_us - 1;
    assert_int_equal(guard_step_verdict(&s), GV_WAIT);
    /* the side that keeps routes csr */
    s.elapsed_us = 3 * s.watch_us;
    assert_int_equal(guard_step_verdict(&s), GV_GROWING);
}

static void after_a_growing_step_the_next_test_waits_for_flat_memory(void **state)
{
    (void)state;
    const uint64_t w = 8000000;
    const double thr = 1 * MB;
    assert_int_equal(guard_settle(w - 1, w, 1, 0, thr), GSE_WAIT);        /* a watch first */
    assert_int_equal(guard_settle(w, w, 1, 0.5 * MB, thr), GSE_FLAT);
    assert_int_equal(guard_settle(w, w, 1, thr, thr), GSE_FLAT);
    assert_int_equal(guard_settle(w, w, 1, 2 * MB, thr), GSE_WAIT);        /* still growing */
    assert_int_equal(guard_settle(w, w, 0, 0, thr), GSE_WAIT);             /* no slope yet */
    /* but not for ever */
    assert_int_equal(guard_settle(GUARD_SETTLE_WATCHES * w - 1, w, 1, 2 * MB, thr), GSE_WAIT);
    assert_int_equal(guard_settle(GUARD_SETTLE_WATCHES * w, w, 1, 2 * MB, thr), GSE_GAVE_UP);
    assert_int_equal(guard_settle(GUARD_SETTLE_WATCHES * w, w, 0, 0, thr), GSE_GAVE_UP);
}

static void what_a_tripped_guard_does_as_action_says(void **state)
{
    (void)state;
    /* "all" and "list": every route it may switch, in one action */
    assert_int_equal(guard_choose(GUARD_ALL, 3, 0, 0, 0), GC_SWITCH_ALL);
    assert_int_equal(guard_choose(GUARD_LIST, 2, 0, 0, 0), GC_SWITCH_LISTED);
    /* "leaking": the routes judged leaking, even while narrowing */
    assert_int_equal(guard_choose(GUARD_LEAKING, 3, 1, 0, 0), GC_SWITCH_LEAKING);
    assert_int_equal(guard_choose(GUARD_LEAKING, 3, 1, 1, 1), GC_SWITCH_LEAKING);
    /* none judged leaking: the live narrowing goes on, else one starts */
    assert_int_equal(guard_choose(GUARD_LEAKING, 3, 0, 1, 1), GC_NARROW_STEP);
    assert_int_equal(guard_choose(GUARD_LEAKING, 0, 0, 1, 1), GC_NARROW_STEP);
    assert_int_equal(guard_choose(GUARD_LEAKING, 3, 0, 0, 0), GC_NARROW_START);
    /* nothing it may switch: refused once, unless it already acted this trip */
    assert_int_equal(guard_choose(GUARD_ALL, 0, 0, 0, 0), GC_REFUSE_NOTHING);
    assert_int_equal(guard_choose(GUARD_LIST, 0, 0, 0, 0), GC_REFUSE_NOTHING);
    assert_int_equal(guard_choose(GUARD_LEAKING, 0, 0, 0, 0), GC_REFUSE_NOTHING);
    assert_int_equal(guard_choose(GUARD_ALL, 0, 0, 0, 1), GC_NONE);
}

static int rank_cmp_switch(const void *a, const void *b)
{
    return guard_switch_order(a, b);
}

static int rank_cmp_narrow(const void *a, const void *b)
{
    return guard_narrow_order(a, b);
}

static void leaking_routes_go_first_the_largest_first(void **state)
{
    (void)state;
    struct guard_rank r[4] = {
        { V_SUSPECT, 900, 10 }, { V_LEAKING, 100, 1 }, { V_UNKNOWN, 0, 1000 }, { V_LEAKING, 500, 5 },
    };
    qsort(r, 4, sizeof *r, rank_cmp_switch);
    assert_int_equal(r[0].verdict, V_LEAKING);
    assert_true(r[0].est == 500);
    assert_int_equal(r[1].verdict, V_LEAKING);
    assert_true(r[1].est == 100);
    assert_int_equal(r[2].verdict, V_SUSPECT);
    assert_int_equal(r[3].verdict, V_UNKNOWN);
}

static void narrowing_ranks_suspects_first_then_by_traffic(void **state)
{
    (void)state;
    struct guard_rank r[5] = {
        { V_CLEAN, 0, 50 }, { V_SUSPECT, 100, 2 }, { V_UNKNOWN, 0, 80 }, { V_SUSPECT, 300, 1 },
        { V_WARMING, 900, 20 },
    };
    qsort(r, 5, sizeof *r, rank_cmp_narrow);
    /* suspects, the largest estimate first, whatever their traffic */
    assert_int_equal(r[0].verdict, V_SUSPECT);
    assert_true(r[0].est == 300);
    assert_int_equal(r[1].verdict, V_SUSPECT);
    assert_true(r[1].est == 100);
    /* then the busiest (an estimate that is not a suspicion does not count) */
    assert_true(r[2].weight == 80);
    assert_true(r[3].weight == 50);
    assert_true(r[4].weight == 20);
}

/* ---- the guard on a small app: the rules a user sees in /api/events -------
 * A real config and route table, readings fed into the series by hand, and
 * guard_check() called as the guard's timer would. */

static struct app app;

static const char *const cfg_fmt =
    "{\"listen\": \"127.0.0.1:0\", \"upstream\": \"http://127.0.0.1:9\","
    " \"fallback\": {\"header\": \"X-SSR-Off: 1\"},"
    " \"routes\": [{\"name\": \"home\", \"match\": \"/\"}, {\"name\": \"about\", \"match\": \"/about\"},"
    "  {\"name\": \"news\", \"match\": \"/news/:id\"}, {\"name\": \"api\", \"match\": \"/api/*\", \"never_csr\": true}],"
    " \"memory\": {\"source\": \"http\", \"url\": \"http://127.0.0.1:9/mem\", \"interval_ms\": 100},"
    " \"guard\": {\"metric\": \"rss\", \"high_bytes\": 200000000, \"low_bytes\": 150000000, \"action\": \"all\","
    "  \"hold_seconds\": 1, \"max_switches_per_hour\": %d, \"dry_run\": %s, \"restore\": \"%s\"}}";

static uint64_t feed_us = 1000000;

static void app_up_restoring(int max_per_hour, int dry_run, const char *restore)
{
    char text[2048];
    struct config_err err;
    log_level_min = LOG_ERROR;
    memset(&app, 0, sizeof app);
    snprintf(text, sizeof text, cfg_fmt, max_per_hour, dry_run ? "true" : "false", restore);
    app.cfg = config_parse(text, strlen(text), "test", &err);
    assert_non_null(app.cfg);
    stats_init(&app.stats);
    assert_non_null(app.base = event_base_new());
    assert_non_null(app.route_slot = stats_sync(&app.stats, app.cfg->routes));
    mode_apply_config(&app);
    assert_int_equal(series_init(&app.series, app.stats.n, 300000), 0);
    events_init(&app.events);
    assert_int_equal(guard_start(&app), 0);
}

static void app_up(int max_per_hour, int dry_run)
{
    app_up_restoring(max_per_hour, dry_run, "manual");
}

static void app_down(void)
{
    guard_free(&app);
    series_fini(&app.series);
    stats_fini(&app.stats);
    free(app.route_slot);
    config_free(app.cfg);
    event_base_free(app.base);
}

static struct stats_route *route(const char *name)
{
    for (unsigned i = 0; i < app.stats.n; i++)
        if (strcmp(stats_at(&app.stats, i)->name, name) == 0)
            return stats_at(&app.stats, i);
    fail_msg("no route %s", name);
    return NULL;
}

/* One fresh reading of worker 1's rss, then one guard check. */
static void reading(double rss)
{
    struct mem_sample m = { .t_us = feed_us, .pid = 1, .flags = MEM_HAS_RSS, .rss = (uint64_t)rss };
    feed_us += 100000;
    series_batch(&app.series, &m, 1, NULL, 0);
    guard_check(&app);
}

/* The newest event of <type> from the guard, or NULL. */
static const struct event_rec *guard_ev(enum event_type type)
{
    const struct event_rec *e;
    for (unsigned i = 0; (e = events_newest(&app.events, i)) != NULL; i++)
        if (e->type == type && e->source && strcmp(e->source, "guard") == 0)
            return e;
    return NULL;
}

static void the_guard_never_switches_a_route_set_by_hand_or_never_csr(void **state)
{
    (void)state;
    app_up(6, 0);
    stats_set_mode(route("about"), MODE_SSR, BY_MANUAL, 1);
    for (int i = 0; i < GUARD_CONFIRM - 1; i++)
        reading(250e6);
    assert_null(guard_ev(EVT_TRIP));                /* not confirmed yet */
    assert_int_equal(route("home")->mode, MODE_SSR);
    reading(250e6);
    assert_non_null(guard_ev(EVT_TRIP));
    const struct event_rec *sw = guard_ev(EVT_SWITCH);
    assert_non_null(sw);
    assert_int_equal(route("home")->mode, MODE_CSR);
    assert_int_equal(route("home")->mode_by, BY_GUARD);
    assert_int_equal(route("news")->mode, MODE_CSR);
    assert_int_equal(route("about")->mode, MODE_SSR);   /* set by hand */
    assert_int_equal(route("about")->mode_by, BY_MANUAL);
    assert_int_equal(route("api")->mode, MODE_SSR);     /* never_csr */
    assert_null(strstr(sw->routes, "about"));
    assert_null(strstr(sw->routes, "api"));
    app_down();
}

static void below_the_threshold_nothing_is_switched(void **state)
{
    (void)state;
    app_up(6, 0);
    for (int i = 0; i < 10; i++)
        reading(190e6);
    assert_null(guard_ev(EVT_TRIP));
    assert_null(guard_ev(EVT_SWITCH));
    assert_int_equal(route("home")->mode, MODE_SSR);
    assert_int_equal(route("news")->mode, MODE_SSR);
    app_down();
}

static void a_max_switches_per_hour_refusal_writes_a_refused_event(void **state)
{
    (void)state;
    app_up(1, 0);
    for (int i = 0; i < GUARD_CONFIRM; i++)
        reading(250e6);
    assert_non_null(guard_ev(EVT_SWITCH));
    assert_int_equal(route("home")->mode, MODE_CSR);
    /* home renders again (not by the guard, not by hand): the guard would
     * switch it, but the hour's one action is spent */
    stats_set_mode(route("home"), MODE_SSR, BY_CONFIG, 2);
    reading(250e6);
    const struct event_rec *r = guard_ev(EVT_REFUSED);
    assert_non_null(r);
    assert_non_null(strstr(r->reason, "max_switches_per_hour (1) reached"));
    assert_int_equal(route("home")->mode, MODE_SSR);
    assert_int_equal(app.events.count[EVT_SWITCH], 1);
    /* said once per trip: no event storm */
    reading(250e6);
    assert_int_equal(app.events.count[EVT_REFUSED], 1);
    app_down();
}

static void a_dry_run_changes_no_mode_and_says_what_it_would_do(void **state)
{
    (void)state;
    app_up(6, 1);
    for (int i = 0; i < GUARD_CONFIRM; i++)
        reading(250e6);
    const struct event_rec *sw = guard_ev(EVT_SWITCH);
    assert_non_null(sw);
    assert_int_equal(sw->dry_run, 1);
    assert_non_null(strstr(sw->reason, "would switch to csr"));
    assert_non_null(strstr(sw->routes, "home"));
    assert_int_equal(route("home")->mode, MODE_SSR);
    assert_int_equal(route("news")->mode, MODE_SSR);
    /* switched on paper: not switched again on the next check */
    reading(250e6);
    assert_int_equal(app.events.count[EVT_SWITCH], 1);
    app_down();
}

/* How many of the routes the guard switched (home, about, news) render. */
static int rendering(void)
{
    return (route("home")->mode == MODE_SSR) + (route("about")->mode == MODE_SSR) +
           (route("news")->mode == MODE_SSR);
}

static void recovery_restores_one_route_at_a_time_after_hold_seconds(void **state)
{
    (void)state;
    app_up_restoring(6, 0, "on_recovery");
    for (int i = 0; i < GUARD_CONFIRM; i++)
        reading(250e6);
    assert_int_equal(rendering(), 0);
    /* below low, but not yet for hold_seconds (1 s): still tripped */
    reading(100e6);
    reading(100e6);
    assert_null(guard_ev(EVT_RECOVERED));
    /* above low (between the thresholds) restarts the hold */
    reading(170e6);
    struct timespec hold = { 1, 100000000 };
    nanosleep(&hold, NULL);
    reading(100e6);
    assert_null(guard_ev(EVT_RECOVERED));
    nanosleep(&hold, NULL);
    reading(100e6);
    assert_non_null(guard_ev(EVT_RECOVERED));
    assert_null(guard_ev(EVT_RESTORE));
    /* then one route renders again, the next only after hold_seconds */
    reading(100e6);
    assert_int_equal(app.events.count[EVT_RESTORE], 1);
    assert_int_equal(rendering(), 1);
    reading(100e6);
    assert_int_equal(app.events.count[EVT_RESTORE], 1);
    nanosleep(&hold, NULL);
    reading(100e6);
    assert_int_equal(app.events.count[EVT_RESTORE], 2);
    assert_int_equal(rendering(), 2);
    app_down();
}

static void restore_manual_leaves_the_routes_csr(void **state)
{
    (void)state;
    app_up(6, 0);
    for (int i = 0; i < GUARD_CONFIRM; i++)
        reading(250e6);
    reading(100e6);
    struct timespec hold = { 1, 100000000 };
    nanosleep(&hold, NULL);
    reading(100e6);
    assert_non_null(guard_ev(EVT_RECOVERED));
    reading(100e6);
    nanosleep(&hold, NULL);
    reading(100e6);
    assert_null(guard_ev(EVT_RESTORE));
    assert_int_equal(route("home")->mode, MODE_CSR);
    app_down();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trough_sees_the_floor_through_collections),
        cmocka_unit_test(trough_needs_enough_readings_over_a_second),
        cmocka_unit_test(trough_for_the_heap_needs_a_collection_in_the_window),
        cmocka_unit_test(trough_slope_follows_the_floor_not_the_sawtooth),
        cmocka_unit_test(narrowing_first_group_is_half_the_traffic),
        cmocka_unit_test(narrowing_split_leaves_both_parts_non_empty),
        cmocka_unit_test(narrowing_when_the_first_group_stops_it),
        cmocka_unit_test(narrowing_when_the_leak_is_in_the_second_group),
        cmocka_unit_test(narrowing_finds_every_leak_among_many),
        cmocka_unit_test(narrowing_survives_a_lagging_first_verdict),
        cmocka_unit_test(narrowing_single_candidate),
        cmocka_unit_test(narrowing_stuck_when_growth_is_not_in_the_routes),
        cmocka_unit_test(tripping_needs_each_signal_confirmed),
        cmocka_unit_test(recovery_needs_every_worker_below_low),
        cmocka_unit_test(the_hours_cap_refuses_and_keeps_one_action_for_a_switch_off),
        cmocka_unit_test(thresholds_of_the_narrowing),
        cmocka_unit_test(narrowing_never_starts_on_growth_below_the_threshold),
        cmocka_unit_test(a_later_narrowing_needs_real_growth_since_the_last_change),
        cmocka_unit_test(a_step_is_judged_after_its_watch),
        cmocka_unit_test(a_step_rising_past_its_budget_is_growing_at_once),
        cmocka_unit_test(ambiguous_growth_is_watched_once_more),
        cmocka_unit_test(without_a_slope_a_step_counts_as_growing_after_three_watches),
        cmocka_unit_test(after_a_growing_step_the_next_test_waits_for_flat_memory),
        cmocka_unit_test(what_a_tripped_guard_does_as_action_says),
        cmocka_unit_test(leaking_routes_go_first_the_largest_first),
        cmocka_unit_test(narrowing_ranks_suspects_first_then_by_traffic),
        cmocka_unit_test(the_guard_never_switches_a_route_set_by_hand_or_never_csr),
        cmocka_unit_test(below_the_threshold_nothing_is_switched),
        cmocka_unit_test(a_max_switches_per_hour_refusal_writes_a_refused_event),
        cmocka_unit_test(a_dry_run_changes_no_mode_and_says_what_it_would_do),
        cmocka_unit_test(recovery_restores_one_route_at_a_time_after_hold_seconds),
        cmocka_unit_test(restore_manual_leaves_the_routes_csr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
