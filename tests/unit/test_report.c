/* test_report.c -- the report's memory curve (report_spark): which figure it
 * draws, its range and span, one block character per column. */
#include "cm.h"

#include <string.h>

#include "report.h"
#include "series.h"

static void feed(struct series *s, uint64_t t_ms, uint64_t heap, unsigned flags)
{
    uint64_t counts[1] = { 0 };
    struct mem_sample m;
    memset(&m, 0, sizeof m);
    m.pid = 42;
    m.t_us = t_ms * 1000;
    m.heap_used = heap;
    m.heap_total = heap * 2;
    m.rss = heap * 3;
    m.flags = flags;
    series_batch(s, &m, 1, counts, (flags & MEM_GC) != 0);
}

static void test_one_reading_is_no_curve(void **state)
{
    (void)state;
    struct series s;
    struct report_spark sp;
    assert_int_equal(series_init(&s, 1, 5000000), 0);
    feed(&s, 1000, 1000000, MEM_HAS_RSS);
    assert_int_equal(report_spark(s.w[0], &sp), 0);
    assert_string_equal(sp.line, "");
    series_fini(&s);
}

/* RSS only (no floors): one reading per column, rising, so the blocks rise
 * from the lowest to the highest. */
static void test_rss_rising_fills_every_column(void **state)
{
    (void)state;
    struct series s;
    struct report_spark sp;
    assert_int_equal(series_init(&s, 1, 5000000), 0);
    for (uint64_t i = 0; i < REPORT_SPARK_COLS; i++)
        feed(&s, 1000 * i, 1000000 + 1000 * i, MEM_HAS_RSS);
    assert_int_equal(report_spark(s.w[0], &sp), 1);
    assert_string_equal(sp.metric, "rss");
    assert_true(sp.low == 3000000.0);
    assert_true(sp.high == 3000000.0 + 3000.0 * (REPORT_SPARK_COLS - 1));
    assert_true(sp.span_s == REPORT_SPARK_COLS - 1);
    /* every column holds a block, the last one too (the report printed 59
     * of 60 when all had data) */
    assert_int_equal(strlen(sp.line), 3 * REPORT_SPARK_COLS);
    assert_memory_equal(sp.line, "\u2581", 3);
    assert_memory_equal(sp.line + 3 * (REPORT_SPARK_COLS - 1), "\u2588", 3);
    series_fini(&s);
}

/* Forced-GC floors: the curve is the heap floor; a flat one is all lowest
 * blocks, and columns without a reading are blanks. */
static void test_flat_floors_with_gaps(void **state)
{
    (void)state;
    struct series s;
    struct report_spark sp;
    assert_int_equal(series_init(&s, 1, 5000000), 0);
    feed(&s, 0, 2000000, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_GC);
    feed(&s, 59000, 2000000, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_GC);
    assert_int_equal(report_spark(s.w[0], &sp), 1);
    assert_string_equal(sp.metric, "heap floor");
    assert_true(sp.low == 2000000.0 && sp.high == 2000000.0);
    assert_true(sp.span_s == 59.0);
    char want[3 * REPORT_SPARK_COLS + 1];
    memcpy(want, "\u2581", 3);
    memset(want + 3, ' ', REPORT_SPARK_COLS - 2);
    memcpy(want + 3 + REPORT_SPARK_COLS - 2, "\u2581", 4);   /* with its NUL */
    assert_string_equal(sp.line, want);
    series_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_reading_is_no_curve),
        cmocka_unit_test(test_rss_rising_fills_every_column),
        cmocka_unit_test(test_flat_floors_with_gaps),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
