/* test_series.c -- per-worker series: floors, rows between floors, worker
 * restarts, bounded memory. */
#include "cm.h"

#include <string.h>

#include "series.h"

static struct mem_sample smp(int64_t pid, uint64_t t_ms, uint64_t heap, unsigned flags)
{
    struct mem_sample m;
    memset(&m, 0, sizeof m);
    m.pid = pid;
    m.t_us = t_ms * 1000;
    m.heap_used = heap;
    m.heap_total = heap * 2;
    m.rss = heap * 3;
    m.flags = MEM_HAS_RSS | MEM_HAS_HEAP | flags;
    return m;
}

static void test_gc_batches_make_rows_with_count_deltas(void **state)
{
    (void)state;
    struct series s;
    uint64_t counts[3] = { 0, 0, 0 };
    assert_int_equal(series_init(&s, 3, 30000000), 0);
    /* floor readings every second; route 1 gets 10 requests per interval,
     * each retaining 1000 bytes */
    for (int i = 0; i < 5; i++) {
        struct mem_sample m = smp(42, 1000 * (uint64_t)i, 1000000 + 10000 * (uint64_t)i, MEM_GC);
        series_batch(&s, &m, 1, counts, 1);
        counts[1] += 10;
        counts[2] += 3;
    }
    assert_int_equal(s.row_n, 4);
    const uint32_t *c;
    const struct series_row *r = series_row(&s, 0, &c);
    assert_int_equal(r->d_floor, 10000);
    assert_int_equal(r->t1 - r->t0, 1000000);
    assert_int_equal(c[1], 10);
    assert_int_equal(c[2], 3);
    assert_int_equal(r->total, 13);
    assert_true(r->flags & SERIES_FLOOR_GC);
    /* a batch that is not a floor tick adds a point but no row */
    struct mem_sample m = smp(42, 5500, 5000000, 0);
    series_batch(&s, &m, 1, counts, 0);
    assert_int_equal(s.row_n, 4);
    assert_int_equal(series_npoints(s.w[0], 1), 6);
    /* between forced GCs, the last GC floor stands */
    assert_int_equal(s.w[0]->last.floor, 1040000);
    series_fini(&s);
}

static void test_envelope_floor_is_the_window_minimum(void **state)
{
    (void)state;
    struct series s;
    uint64_t counts[1] = { 0 };
    assert_int_equal(series_init(&s, 1, 5000000), 0);   /* 5 s window */
    const uint64_t saw[] = { 100, 180, 260, 110, 190, 270, 120 };
    for (int i = 0; i < 7; i++) {
        struct mem_sample m = smp(7, 1000 * (uint64_t)i, saw[i], 0);
        series_batch(&s, &m, 1, counts, 1);
    }
    /* at t = 6 s the window [1 s, 6 s] holds 180..120: minimum 110 */
    assert_int_equal(s.w[0]->last.floor, 110);
    assert_true(s.w[0]->last.flags & SERIES_FLOOR_ENV);
    series_fini(&s);
}

/* Without GC floors, rows go from the trough of one window to the trough of
 * the next, with the counts at those moments: a leak of 1000 bytes per
 * request under a saw-tooth shows as d_floor = 1000 x requests between the
 * troughs, although the envelope floor lags by its whole window. */
static void test_envelope_rows_go_trough_to_trough(void **state)
{
    (void)state;
    struct series s;
    uint64_t counts[2] = { 0, 0 };
    assert_int_equal(series_init(&s, 2, 6000000), 0);   /* 6 s envelope: 1 s trough windows */
    uint64_t retained = 0;
    for (int i = 0; i < 100; i++) {                      /* 100 ms samples for 10 s */
        /* requests of slot 1 retain 1000 B; the heap saw-tooths with a period
         * of 7 samples, dropping to the retained level at each trough */
        unsigned k = (unsigned)(1 + i % 3);
        counts[1] += k;
        counts[0] += 5;                                  /* slot 0: no retention */
        retained += 1000 * k;
        uint64_t garbage = (uint64_t)(i % 7) * 400000;
        struct mem_sample m = smp(9, 100 * (uint64_t)i, 50000000 + retained + garbage, 0);
        series_batch(&s, &m, 1, counts, 1);
    }
    assert_true(s.row_n >= 7 && s.row_n <= 10);
    for (unsigned i = 0; i < s.row_n; i++) {
        const uint32_t *c;
        const struct series_row *r = series_row(&s, i, &c);
        assert_true(r->flags & SERIES_FLOOR_ENV);
        /* troughs are garbage-free samples: exactly the retention in between */
        assert_int_equal(r->d_floor, (int64_t)c[1] * 1000);
        assert_true(c[0] > 0);
    }
    series_fini(&s);
}

static void test_restart_starts_a_new_series_and_no_row_across_it(void **state)
{
    (void)state;
    struct series s;
    uint64_t counts[1] = { 0 };
    assert_int_equal(series_init(&s, 1, 30000000), 0);
    struct mem_sample a = smp(0, 0, 400000000, MEM_GC), b = smp(0, 1000, 410000000, MEM_GC);
    series_batch(&s, &a, 1, counts, 1);
    series_batch(&s, &b, 1, counts, 1);
    assert_int_equal(s.row_n, 1);
    /* same (unknown) pid, memory back at a fresh-process level: a restart */
    struct mem_sample c = smp(0, 2000, 20000000, MEM_GC);
    series_batch(&s, &c, 1, counts, 1);
    assert_int_equal(s.nw, 2);
    assert_int_equal(s.restarts, 1);
    assert_false(s.w[0]->alive);
    assert_int_equal(s.w[1]->gen, 2);
    assert_int_equal(s.row_n, 1);          /* the drop is not a row */
    struct mem_sample d = smp(0, 3000, 21000000, MEM_GC);
    series_batch(&s, &d, 1, counts, 1);
    assert_int_equal(s.row_n, 2);
    assert_int_equal(series_row(&s, 1, NULL)->d_floor, 1000000);
    series_fini(&s);
}

static void test_header_workers_count_their_own_requests(void **state)
{
    (void)state;
    struct series s;
    assert_int_equal(series_init(&s, 2, 30000000), 0);
    struct mem_sample a = smp(100, 0, 5000000, MEM_HAS_FLOOR), b = smp(200, 0, 6000000, MEM_HAS_FLOOR);
    a.floor = 4000000;
    a.gc_seq = 1;
    b.floor = 5000000;
    b.gc_seq = 1;
    struct series_worker *wa = series_add(&s, &a), *wb = series_add(&s, &b);
    assert_non_null(wa);
    assert_non_null(wb);
    for (int i = 0; i < 7; i++)
        series_count(wa, 1);
    series_count(wb, 0);
    /* same gc_seq: no new floor, no row */
    a.t_us = 500000;
    series_add(&s, &a);
    assert_int_equal(s.row_n, 0);
    a.t_us = 1000000;
    a.gc_seq = 2;
    a.floor = 4070000;
    series_add(&s, &a);
    assert_int_equal(s.row_n, 1);
    const uint32_t *c;
    const struct series_row *r = series_row(&s, 0, &c);
    assert_int_equal(r->pid, 100);
    assert_int_equal(r->d_floor, 70000);
    assert_int_equal(c[1], 7);
    assert_int_equal(c[0], 0);             /* worker 200's request is not worker 100's */
    series_fini(&s);
}

static void test_bounded_workers_and_rows(void **state)
{
    (void)state;
    struct series s;
    uint64_t counts[1] = { 0 };
    assert_int_equal(series_init(&s, 1, 30000000), 0);
    /* 200 short-lived workers: at most SERIES_MAX_WORKERS are kept */
    for (int i = 0; i < 200; i++) {
        struct mem_sample m = smp(1000 + i, (uint64_t)i, 1000, MEM_GC);
        series_batch(&s, &m, 1, counts, 1);
    }
    assert_int_equal(s.nw, SERIES_MAX_WORKERS);
    assert_int_equal(s.w[s.nw - 1]->pid, 1199);
    /* many rows: the ring keeps the newest SERIES_ROWS */
    for (int i = 0; i < SERIES_ROWS + 100; i++) {
        struct mem_sample m = smp(5, 1000 + (uint64_t)i, 1000 + (uint64_t)i, MEM_GC);
        series_batch(&s, &m, 1, counts, 1);
    }
    assert_int_equal(s.row_n, SERIES_ROWS);
    assert_int_equal(series_row(&s, SERIES_ROWS - 1, NULL)->floor, 1000 + SERIES_ROWS + 99);
    assert_int_equal(series_npoints(series_find(&s, 5), 1), SERIES_RAW);
    series_fini(&s);
}

static void test_resize_keeps_counts(void **state)
{
    (void)state;
    struct series s;
    uint64_t c2[2] = { 0, 0 }, c4[4] = { 5, 5, 0, 0 };
    assert_int_equal(series_init(&s, 2, 30000000), 0);
    struct mem_sample m = smp(9, 0, 100, MEM_GC);
    series_batch(&s, &m, 1, c2, 1);
    assert_int_equal(series_resize(&s, 4), 0);
    m.t_us = 1000000;
    series_batch(&s, &m, 1, c4, 1);
    const uint32_t *c;
    series_row(&s, 0, &c);
    assert_int_equal(c[0], 5);
    assert_int_equal(c[3], 0);
    series_fini(&s);
}

/* Figures near 2^63 (a hostile source; the parsers refuse them now, series
 * must not depend on it): deltas clamp to the int64 range instead of
 * overflowing (undefined behaviour; UBSan aborts), sums saturate instead of
 * wrapping, and the sign is always right. */
static void test_extreme_figures_do_not_overflow(void **state)
{
    (void)state;
    struct series s;
    uint64_t counts[1] = { 0 };
    const uint64_t big = UINT64_C(1) << 63, huge = UINT64_MAX - 5;
    assert_int_equal(series_init(&s, 1, 30000000), 0);
    /* one worker, batches: 0 -> 2^63 -> 0 -> UINT64_MAX-5 */
    const uint64_t heaps[] = { 0, big, 0, huge, 1 };
    for (int i = 0; i < 5; i++) {
        struct mem_sample m = smp(9, 1000 * (uint64_t)i, 0, MEM_GC);
        m.heap_used = m.rss = m.external = heaps[i];
        series_batch(&s, &m, 1, counts, 1);
    }
    assert_int_equal(s.row_n, 4);
    const int64_t want[] = { INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN };
    for (unsigned i = 0; i < 4; i++) {
        const struct series_row *r = series_row(&s, i, NULL);
        assert_true(r->d_floor == want[i]);
        assert_true(r->d_rss == want[i]);
        assert_true(r->d_ext == want[i]);
    }
    series_fini(&s);

    /* two workers whose sum passes 2^64: saturates, the delta stays positive */
    assert_int_equal(series_init(&s, 1, 30000000), 0);
    struct mem_sample two[2] = { smp(1, 0, 1000, MEM_GC), smp(2, 0, 1000, MEM_GC) };
    series_batch(&s, two, 2, counts, 1);
    two[0] = smp(1, 1000, 0, MEM_GC);
    two[1] = smp(2, 1000, 0, MEM_GC);
    two[0].heap_used = two[1].heap_used = huge;
    series_batch(&s, two, 2, counts, 1);
    assert_int_equal(s.row_n, 1);
    const struct series_row *r = series_row(&s, 0, NULL);
    assert_true(r->floor == UINT64_MAX);
    assert_true(r->d_floor == INT64_MAX);
    series_fini(&s);

    /* the header source's per-worker rows */
    assert_int_equal(series_init(&s, 1, 30000000), 0);
    struct mem_sample m = smp(5, 0, 0, MEM_GC);
    assert_non_null(series_add(&s, &m));
    m = smp(5, 1000, 0, MEM_GC);
    m.heap_used = huge;
    assert_non_null(series_add(&s, &m));
    m = smp(5, 2000, 0, MEM_GC);
    assert_non_null(series_add(&s, &m));
    assert_int_equal(s.row_n, 2);
    assert_true(series_row(&s, 0, NULL)->d_floor == INT64_MAX);
    assert_true(series_row(&s, 1, NULL)->d_floor == INT64_MIN);
    series_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extreme_figures_do_not_overflow),
        cmocka_unit_test(test_gc_batches_make_rows_with_count_deltas),
        cmocka_unit_test(test_envelope_floor_is_the_window_minimum),
        cmocka_unit_test(test_envelope_rows_go_trough_to_trough),
        cmocka_unit_test(test_restart_starts_a_new_series_and_no_row_across_it),
        cmocka_unit_test(test_header_workers_count_their_own_requests),
        cmocka_unit_test(test_bounded_workers_and_rows),
        cmocka_unit_test(test_resize_keeps_counts),
    };
    return cmocka_run_group_tests_name("series", tests, NULL, NULL);
}
