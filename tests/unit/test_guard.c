/* test_guard.c -- the guard's pure parts: the trough trigger, the trough
 * slope, and narrowing down under pressure (which routes are csr after each
 * verdict). The narrowing is driven by a simulated app: memory grows while
 * any guilty candidate renders. */
#include "cm.h"

#include <stdlib.h>
#include <string.h>

#include "guard.h"

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
