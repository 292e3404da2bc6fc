/* test_hist.c -- histogram quantiles stay within the documented 1.6 %. */
#include "cm.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>

#include "hist.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_quantiles_within_relative_error(void **state)
{
    (void)state;
    enum { N = 200000 };
    static struct hist h;
    uint64_t *v = malloc(N * sizeof *v);
    hist_init(&h);
    srand(7);
    for (int i = 0; i < N; i++) {
        /* log-uniform from 1 us to ~100 s: every octave is exercised */
        double e = (double)rand() / RAND_MAX * 26.5;
        v[i] = (uint64_t)pow(2.0, e);
        hist_add(&h, v[i]);
    }
    qsort(v, N, sizeof *v, cmp_u64);
    const double qs[] = { 0.5, 0.9, 0.99, 0.999 };
    for (int k = 0; k < 4; k++) {
        size_t rank = (size_t)ceil(qs[k] * N);
        double truth = (double)v[rank - 1];
        double got = hist_quantile(&h, qs[k]);
        assert_true(fabs(got - truth) / truth <= 1.0 / 64 + 1e-9);
    }
    assert_int_equal(h.max_us, v[N - 1]);
    assert_true(hist_quantile(&h, 1.0) == (double)v[N - 1]);
    free(v);
}

static void test_small_values_are_exact_and_empty_is_zero(void **state)
{
    (void)state;
    static struct hist h;
    hist_init(&h);
    assert_true(hist_quantile(&h, 0.5) == 0);
    for (uint64_t i = 1; i <= 31; i++)
        hist_add(&h, i);
    assert_true(hist_quantile(&h, 0.5) == 16);
    assert_int_equal(hist_count_le(&h, 10), 10);
}

static void test_bucket_bounds_tile_the_range(void **state)
{
    (void)state;
    uint64_t prev_hi = 0;
    for (unsigned i = 1; i < HIST_BUCKETS; i++) {
        uint64_t lo, hi;
        hist_bounds(i, &lo, &hi);
        assert_int_equal(lo, prev_hi + 1);
        assert_int_equal(hist_index(lo), i);
        assert_int_equal(hist_index(hi), i);
        assert_true((double)(hi - lo + 1) <= (double)lo / 32 + 1);
        prev_hi = hi;
    }
    assert_int_equal(prev_hi, HIST_MAX_US);
    /* beyond the range: clamped to the last bucket, max still exact */
    static struct hist h;
    hist_init(&h);
    hist_add(&h, HIST_MAX_US * 4);
    assert_int_equal(h.bucket[HIST_BUCKETS - 1], 1);
    assert_int_equal(h.max_us, HIST_MAX_US * 4);
}

static void test_count_le_and_merge(void **state)
{
    (void)state;
    static struct hist a, b;
    hist_init(&a);
    hist_init(&b);
    for (int i = 0; i < 100; i++)
        hist_add(&a, 1000);      /* 1 ms */
    for (int i = 0; i < 50; i++)
        hist_add(&b, 100000);    /* 100 ms */
    hist_merge(&a, &b);
    assert_int_equal(a.count, 150);
    assert_int_equal(hist_count_le(&a, 5000), 100);
    assert_int_equal(hist_count_le(&a, 500), 0);
    assert_int_equal(hist_count_le(&a, 1000000), 150);
    assert_int_equal(a.sum_us, 100 * 1000 + 50 * 100000);
}

/* The median of the values added since a snapshot: what the latency trend
 * reads per evaluation (the route's p50 in that interval, not since start). */
static void test_delta_quantile_reads_only_new_values(void **state)
{
    (void)state;
    static struct hist h;
    static uint64_t prev[HIST_BUCKETS];
    hist_init(&h);
    for (int i = 0; i < 1000; i++)
        hist_add(&h, 10000);                   /* 10 ms, long ago */
    memcpy(prev, h.bucket, sizeof prev);
    assert_true(hist_delta_quantile(&h, prev, 0.5) == 0);
    for (int i = 0; i < 9; i++)
        hist_add(&h, 200000 + 1000 * (uint64_t)i);   /* 200..208 ms since */
    double p50 = hist_delta_quantile(&h, prev, 0.5);
    assert_true(fabs(p50 - 204000) < 204000 / 64.0 + 1);
    assert_true(hist_quantile(&h, 0.5) < 11000);     /* the whole history still says 10 ms */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantiles_within_relative_error),
        cmocka_unit_test(test_small_values_are_exact_and_empty_is_zero),
        cmocka_unit_test(test_bucket_bounds_tile_the_range),
        cmocka_unit_test(test_count_le_and_merge),
        cmocka_unit_test(test_delta_quantile_reads_only_new_values),
    };
    return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
