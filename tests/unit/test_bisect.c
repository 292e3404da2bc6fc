/* test_bisect.c -- the round decision of a bisection: slopes from troughs
 * of a saw-tooth, the autocorrelation widening, the signal picked, the
 * verdicts (guilty, cleared, unsure), extending and repeating rounds, what
 * a decided round does with its group (split, confirm, name, clear) and when
 * the run ends. */
#include "cm.h"

#include <math.h>
#include <string.h>

#include "attrib.h"
#include "fit.h"
#include "bisect.h"

/* heap_used of a leaking app read every 0.1 s: growth <rate> bytes/s plus
 * young-generation garbage that climbs and drops every 0.7 s */
static void sawtooth(double *t, double *y, unsigned n, double rate)
{
    for (unsigned i = 0; i < n; i++) {
        t[i] = i * 0.1;
        y[i] = 100e6 + rate * t[i] + (double)(i % 7) * 2e6;
    }
}

static void test_troughs_are_window_minima(void **state)
{
    (void)state;
    double t[12], y[12], tt[12], ty[12];
    sawtooth(t, y, 12, 0);
    /* windows of 5: [0..4], [5..9]; the tail of 2 is under half a window */
    unsigned k = bisect_troughs(t, y, 12, 5, tt, ty);
    assert_int_equal(k, 2);
    assert_true(ty[0] == 100e6 && tt[0] == 0);
    assert_true(ty[1] == 100e6 && fabs(tt[1] - 0.7) < 1e-9);   /* i = 7 starts a tooth */
    /* a tail of 3 of 5 counts */
    assert_int_equal(bisect_troughs(t, y, 8, 5, tt, ty), 2);
    assert_int_equal(bisect_trough_win(40), 5);
    assert_int_equal(bisect_trough_win(16), 2);
    assert_int_equal(bisect_trough_win(3), 1);
}

static void test_trough_slope_finds_fast_growth_the_raw_samples_blur(void **state)
{
    (void)state;
    double t[40], y[40], tt[40], ty[40];
    struct bisect_est e;
    sawtooth(t, y, 40, 27e6);                /* the user's 27 MB/s */
    unsigned k = bisect_troughs(t, y, 40, bisect_trough_win(40), tt, ty);
    assert_int_equal(k, 8);
    assert_int_equal(bisect_slope(tt, ty, k, &e), 0);
    assert_true(fabs(e.rate - 27e6) < 3e6);
    assert_true(e.df >= 1 && e.n == 8);
    assert_true(e.rate - fit_t975(e.df) * e.se > 20e6);   /* clearly above zero */
}

static void test_slope_needs_four_points_and_spread(void **state)
{
    (void)state;
    double t[4] = { 0, 1, 2, 3 }, y[4] = { 0, 1, 2, 3 }, same[4] = { 1, 1, 1, 1 };
    struct bisect_est e;
    assert_int_equal(bisect_slope(t, y, 3, &e), -1);
    assert_int_equal(e.df, 0);
    assert_int_equal(bisect_slope(same, y, 4, &e), -1);
    assert_int_equal(bisect_slope(t, y, 4, &e), 0);
    assert_true(fabs(e.rate - 1) < 1e-9 && e.se < 1e-9 && e.df == 2);
}

static void test_autocorrelated_residuals_widen_the_interval(void **state)
{
    (void)state;
    /* flat, with a slow wave: neighbours alike */
    double t[32], wave[32], noise[32];
    unsigned s = 1;
    for (unsigned i = 0; i < 32; i++) {
        t[i] = i;
        wave[i] = 1e6 * sin(i / 3.0);
        s = s * 1103515245u + 12345u;
        noise[i] = 1e6 * (((s >> 16) & 0x7fff) / 32768.0 - 0.5) * 3.4;   /* about the same sd, independent */
    }
    struct bisect_est ew, en;
    assert_int_equal(bisect_slope(t, wave, 32, &ew), 0);
    assert_int_equal(bisect_slope(t, noise, 32, &en), 0);
    /* the same residual spread, but alike neighbours: a wider interval */
    assert_int_equal(ew.df, 30);
    assert_true(ew.se / sqrt(32.0) > 0 && ew.se > en.se * 1.2);
}

static void test_estimates_of_workers_add(void **state)
{
    (void)state;
    struct bisect_est sum = { 0 }, a = { 100, 3, 5, 7 }, b = { 50, 4, 9, 11 };
    bisect_est_add(&sum, &a);
    bisect_est_add(&sum, &b);
    assert_true(sum.rate == 150 && fabs(sum.se - 5) < 1e-9);
    assert_int_equal(sum.df, 5);
    assert_int_equal(sum.n, 18);
}

static void test_pick_prefers_floors_common_to_both_rounds(void **state)
{
    (void)state;
    struct bisect_est a[BISECT_NSIG], b[BISECT_NSIG];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    assert_int_equal(bisect_pick(ATTRIB_HEAP, a, NULL), -1);
    a[BISECT_SIG_TROUGH] = (struct bisect_est){ 1, 1, 6, 8 };
    b[BISECT_SIG_TROUGH] = a[BISECT_SIG_TROUGH];
    assert_int_equal(bisect_pick(ATTRIB_HEAP, a, NULL), BISECT_SIG_TROUGH);
    a[BISECT_SIG_FLOOR] = (struct bisect_est){ 1, 1, 3, 5 };
    assert_int_equal(bisect_pick(ATTRIB_HEAP, a, NULL), BISECT_SIG_FLOOR);
    /* the test round has too few floors: both compare on troughs */
    assert_int_equal(bisect_pick(ATTRIB_HEAP, a, b), BISECT_SIG_TROUGH);
    b[BISECT_SIG_FLOOR] = (struct bisect_est){ 1, 1, 2, 4 };
    assert_int_equal(bisect_pick(ATTRIB_HEAP, a, b), BISECT_SIG_FLOOR);
    /* rss and external are their own metrics */
    assert_int_equal(bisect_pick(ATTRIB_RSS, a, b), -1);
    a[BISECT_SIG_EXT] = b[BISECT_SIG_EXT] = (struct bisect_est){ 1, 1, 6, 8 };
    assert_int_equal(bisect_pick(ATTRIB_EXT, a, b), BISECT_SIG_EXT);
}

static void test_decide_guilty_cleared_unsure(void **state)
{
    (void)state;
    struct bisect_cmp c;
    struct bisect_est base = { 27e6, 1e6, 8, 10 }, off = { 0.1e6, 0.1e6, 8, 10 }, same = { 26.5e6, 1e6, 8, 10 };
    assert_int_equal(bisect_decide(&base, &off, 1, 1e6, &c), BISECT_GUILTY);
    assert_true(c.low > 20e6);
    /* cleared only when even the interval's top is below the threshold */
    struct bisect_est quiet = { 100e3, 2e3, 20, 22 }, quiet2 = { 99e3, 2e3, 20, 22 };
    assert_int_equal(bisect_decide(&quiet, &quiet2, 1, 50e3, &c), BISECT_CLEARED);
    assert_true(c.high < 50e3);
    /* significant but surely below the threshold: not a leak worth naming */
    struct bisect_est q3 = { 90e3, 2e3, 20, 22 };
    assert_int_equal(bisect_decide(&quiet, &q3, 1, 50e3, &c), BISECT_CLEARED);
    assert_true(c.low > 0);
    /* a big leak's noise: the interval straddles a small threshold */
    assert_int_equal(bisect_decide(&base, &same, 1, 100e3, &c), BISECT_UNSURE);
    assert_true(c.low < 0 && c.high > 100e3);
    assert_false(c.resolvable);              /* the baseline's own noise is too wide */
    /* the test round's noise is what straddles: a longer round could tell */
    struct bisect_est b2 = { 1000e3, 5e3, 20, 22 }, t2 = { 1000e3, 20e3, 3, 5 };
    assert_int_equal(bisect_decide(&b2, &t2, 1, 40e3, &c), BISECT_UNSURE);
    assert_true(c.resolvable);
}

static void test_decide_scales_the_test_round_to_the_baseline_traffic(void **state)
{
    (void)state;
    struct bisect_cmp c;
    /* the group is clean, but forced GCs halved the throughput since the
     * baseline: raw rates would blame it, scaled ones do not */
    struct bisect_est base = { 4e6, 0.1e6, 10, 12 }, test = { 2e6, 0.1e6, 10, 12 };
    assert_int_equal(bisect_decide(&base, &test, 1, 0.1e6, &c), BISECT_GUILTY);
    assert_int_not_equal(bisect_decide(&base, &test, 2, 0.1e6, &c), BISECT_GUILTY);
    assert_true(fabs(c.contrib) < 1);
    /* clamped to [0.25, 4]; 0 or NaN means unknown (1) */
    bisect_decide(&base, &test, 100, 0.1e6, &c);
    assert_true(fabs(c.contrib - (4e6 - 8e6)) < 1);
    bisect_decide(&base, &test, 0, 0.1e6, &c);
    assert_true(fabs(c.contrib - 2e6) < 1);
    bisect_decide(&base, &test, NAN, 0.1e6, &c);
    assert_true(fabs(c.contrib - 2e6) < 1);
}

static void test_rounds_extend_then_repeat_never_fail(void **state)
{
    (void)state;
    /* too few readings: extended BISECT_MAX_EXTEND times, then repeated */
    for (unsigned k = 0; k < BISECT_MAX_EXTEND; k++)
        assert_int_equal(bisect_next_step(0, BISECT_CLEARED, 0, k), BISECT_EXTEND);
    assert_int_equal(bisect_next_step(0, BISECT_CLEARED, 0, BISECT_MAX_EXTEND), BISECT_REPEAT);
    /* straddling: extended once when more data could tell */
    assert_int_equal(bisect_next_step(1, BISECT_UNSURE, 1, 0), BISECT_EXTEND);
    assert_int_equal(bisect_next_step(1, BISECT_UNSURE, 1, 1), BISECT_DECIDE);
    assert_int_equal(bisect_next_step(1, BISECT_UNSURE, 0, 0), BISECT_DECIDE);
    assert_int_equal(bisect_next_step(1, BISECT_GUILTY, 0, 0), BISECT_DECIDE);
    assert_int_equal(bisect_next_step(1, BISECT_CLEARED, 0, 0), BISECT_DECIDE);
}

static void test_a_route_is_named_only_on_its_second_guilty_round(void **state)
{
    (void)state;
    /* a group holding a leak is split, never named */
    assert_int_equal(bisect_verdict(BISECT_GUILTY, 1, 5, 0), BISECT_V_SPLIT);
    assert_int_equal(bisect_verdict(BISECT_GUILTY, 1, 2, 1), BISECT_V_SPLIT);
    /* one route guilty once: tested alone again, not named yet */
    assert_int_equal(bisect_verdict(BISECT_GUILTY, 1, 1, 0), BISECT_V_CONFIRM);
    /* guilty again on its confirming round: named */
    assert_int_equal(bisect_verdict(BISECT_GUILTY, 1, 1, 1), BISECT_V_FOUND);
}

static void test_cleared_and_unsure_groups_are_never_split_or_named(void **state)
{
    (void)state;
    for (unsigned n = 1; n <= 4; n++)
        for (int confirm = 0; confirm <= 1; confirm++) {
            assert_int_equal(bisect_verdict(BISECT_CLEARED, 1, n, confirm), BISECT_V_CLEARED);
            assert_int_equal(bisect_verdict(BISECT_UNSURE, 1, n, confirm), BISECT_V_UNSURE);
            /* no traffic in the baseline: nothing to leak, cleared outright */
            assert_int_equal(bisect_verdict(BISECT_UNSURE, 0, n, confirm), BISECT_V_CLEARED);
        }
    /* no traffic does not overrule a significant drop */
    assert_int_equal(bisect_verdict(BISECT_GUILTY, 0, 2, 0), BISECT_V_SPLIT);
}

static void test_the_time_limit_stops_extensions(void **state)
{
    (void)state;
    /* an extension that fits before the deadline is taken */
    assert_int_equal(bisect_step_in_time(BISECT_EXTEND, 0, 100000, 30, 130000), BISECT_EXTEND);
    /* one that would end after it: decided on what the round has ... */
    assert_int_equal(bisect_step_in_time(BISECT_EXTEND, 1, 100001, 30, 130000), BISECT_DECIDE);
    /* ... or, without a signal, the run ends */
    assert_int_equal(bisect_step_in_time(BISECT_EXTEND, 0, 100001, 30, 130000), BISECT_OUT_OF_TIME);
    /* other steps are not the time limit's business */
    assert_int_equal(bisect_step_in_time(BISECT_REPEAT, 0, 200000, 30, 130000), BISECT_REPEAT);
    assert_int_equal(bisect_step_in_time(BISECT_DECIDE, 1, 200000, 30, 130000), BISECT_DECIDE);
}

static void test_undecided_routes_are_retested_when_nothing_else_is_left(void **state)
{
    (void)state;
    /* nothing queued, 2 undecided, time for a baseline and their round */
    assert_int_equal(bisect_retest_due(0, 2, 0, 0, 30, 60000), 1);
    assert_int_equal(bisect_retest_due(0, 2, BISECT_MAX_RETEST - 1, 0, 30, 60000), 1);
    /* not while other groups wait, not without undecided routes */
    assert_int_equal(bisect_retest_due(1, 2, 0, 0, 30, 60000), 0);
    assert_int_equal(bisect_retest_due(0, 0, 0, 0, 30, 60000), 0);
    /* at most BISECT_MAX_RETEST times */
    assert_int_equal(bisect_retest_due(0, 2, BISECT_MAX_RETEST, 0, 30, 60000), 0);
    /* not without time for two rounds */
    assert_int_equal(bisect_retest_due(0, 2, 0, 1, 30, 60000), 0);
}

static void test_the_run_ends_done_undecided_or_out_of_rounds_or_time(void **state)
{
    (void)state;
    assert_int_equal(bisect_end_after(0, 0, 5, 0, 30, 600000), BISECT_END_DONE);
    assert_int_equal(bisect_end_after(0, 3, 5, 0, 30, 600000), BISECT_END_UNSURE);
    assert_int_equal(bisect_end_after(2, 0, 5, 0, 30, 600000), BISECT_GO_ON);
    assert_int_equal(bisect_end_after(2, 0, BISECT_MAX_ROUNDS, 0, 30, 600000), BISECT_END_ROUNDS);
    /* another round must end by the deadline */
    assert_int_equal(bisect_end_after(2, 0, 5, 570000, 30, 600000), BISECT_GO_ON);
    assert_int_equal(bisect_end_after(2, 0, 5, 570001, 30, 600000), BISECT_END_TIME);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_troughs_are_window_minima),
        cmocka_unit_test(test_trough_slope_finds_fast_growth_the_raw_samples_blur),
        cmocka_unit_test(test_slope_needs_four_points_and_spread),
        cmocka_unit_test(test_autocorrelated_residuals_widen_the_interval),
        cmocka_unit_test(test_estimates_of_workers_add),
        cmocka_unit_test(test_pick_prefers_floors_common_to_both_rounds),
        cmocka_unit_test(test_decide_guilty_cleared_unsure),
        cmocka_unit_test(test_decide_scales_the_test_round_to_the_baseline_traffic),
        cmocka_unit_test(test_rounds_extend_then_repeat_never_fail),
        cmocka_unit_test(test_a_route_is_named_only_on_its_second_guilty_round),
        cmocka_unit_test(test_cleared_and_unsure_groups_are_never_split_or_named),
        cmocka_unit_test(test_the_time_limit_stops_extensions),
        cmocka_unit_test(test_undecided_routes_are_retested_when_nothing_else_is_left),
        cmocka_unit_test(test_the_run_ends_done_undecided_or_out_of_rounds_or_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
