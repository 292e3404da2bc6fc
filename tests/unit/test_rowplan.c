/* test_rowplan.c -- the row design: random halves that separate routes,
 * varied sizes, someone held always admitted; the forced-GC budget. */
#include "cm.h"

#include <math.h>
#include <string.h>

#include "rowplan.h"

static void test_halves_and_sizes(void **state)
{
    (void)state;
    struct rowplan p;
    assert_int_equal(rowplan_init(&p, 42, 20, 100, 8), 0);
    const uint8_t active[8] = { 0, 1, 1, 1, 1, 1, 0, 1 };
    uint8_t admit[8];
    unsigned in_count[8] = { 0 }, sizes_seen_lo = 0, sizes_seen_hi = 0, both = 0;
    unsigned rows = 4000;
    for (unsigned r = 0; r < rows; r++) {
        unsigned size = rowplan_next(&p, active, NULL, admit, 8);
        assert_true(size >= 20 && size <= 100);
        sizes_seen_lo += size < 40;
        sizes_seen_hi += size > 80;
        unsigned nin = 0;
        for (unsigned i = 0; i < 8; i++) {
            if (!active[i])
                assert_int_equal(admit[i], 0);
            nin += admit[i];
            in_count[i] += admit[i];
        }
        assert_true(nin >= 1 && nin <= 5);               /* never all 6, never none */
        both += admit[1] && admit[2];
    }
    for (unsigned i = 0; i < 8; i++)
        if (active[i])        /* each route in about half the rows */
            assert_true(fabs((double)in_count[i] / rows - 0.5) < 0.05);
    /* two routes are in together about a quarter of the time: independent */
    assert_true(fabs((double)both / rows - 0.25) < 0.05);
    assert_true(sizes_seen_lo > rows / 8 && sizes_seen_hi > rows / 8);
    rowplan_fini(&p);
}

static void test_one_route_and_waiters(void **state)
{
    (void)state;
    struct rowplan p;
    rowplan_init(&p, 7, 20, 20, 4);
    const uint8_t one[4] = { 0, 0, 1, 0 };
    uint8_t admit[4];
    for (int r = 0; r < 50; r++) {
        assert_int_equal(rowplan_next(&p, one, NULL, admit, 4), 20);
        assert_int_equal(admit[2], 1);                   /* the only route is always in */
    }
    /* a held request of a route gone quiet still gets a way in */
    const uint8_t act[4] = { 1, 1, 0, 0 };
    const uint8_t wait[4] = { 0, 0, 0, 1 };
    for (int r = 0; r < 200; r++) {
        rowplan_next(&p, act, wait, admit, 4);
        assert_int_equal(admit[3], 1);
    }
    rowplan_fini(&p);
}

static void test_active(void **state)
{
    (void)state;
    struct rowplan p;
    rowplan_init(&p, 1, 1, 1, 3);
    uint64_t c[3] = { 0, 5, 0 };
    rowplan_observe(&p, c, 3, 1000000);
    uint8_t a[3];
    assert_int_equal(rowplan_active(&p, 2000000, a, 3), 1);
    assert_int_equal(a[1], 1);
    assert_int_equal(rowplan_active(&p, 1000000 + ROWPLAN_ACTIVE_US + 1, a, 3), 0);
    assert_int_equal(rowplan_resize(&p, 6), 0);
    uint64_t c6[6] = { 1, 5, 0, 0, 0, 9 };
    rowplan_observe(&p, c6, 6, 3000000);
    assert_int_equal(rowplan_active(&p, 3000001, a, 3), 2);   /* slot 1 from before, slot 0 now */
    rowplan_fini(&p);
}

static void test_budget(void **state)
{
    (void)state;
    assert_true(rowplan_duty(0.5, 2, 5) == 0.5);
    assert_true(rowplan_duty(0.5, 0, 0) == 0.5);             /* nothing known yet */
    assert_true(fabs(rowplan_duty(0.5, 0, 5) - 0.05) < 1e-12);
    /* at duty 0.5 the gap equals the GC; at 0.05 it is 19 times it */
    assert_true(fabs(rowplan_gap_ms(20, 0.5) - 20) < 1e-9);
    assert_true(fabs(rowplan_gap_ms(20, 0.05) - 380) < 1e-9);
    assert_true(rowplan_gap_ms(20, 1.0) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_halves_and_sizes),
        cmocka_unit_test(test_one_route_and_waiters),
        cmocka_unit_test(test_active),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
