/* test_fit.c -- the statistics of fit.c one function at a time, on small
 * inputs whose answers are worked out by hand in the comments: no engine,
 * no series (test_attrib.c drives attrib_fit() end to end). */
#include "cm.h"

#include <math.h>
#include <string.h>

#include "fit.h"

#include "rng.h"

enum { NMAX = 200, PMAX = 3 };
static double X[NMAX * PMAX], Y[NMAX];
static double buf[FIT_LS_DOUBLES(NMAX, PMAX)];
static unsigned nzi[PMAX];
static uint8_t use[NMAX];

static void bind(struct fit_ls *w, unsigned n, unsigned p)
{
    memset(buf, 0, sizeof buf);
    fit_ls_bind(w, n, p, X, Y, buf, nzi);
    memset(use, 1, sizeof use);
}

static void test_quantiles(void **state)
{
    (void)state;
    assert_true(fabs(fit_t975(1) - 12.706) < 1e-3);
    assert_true(fabs(fit_t975(30) - 2.042) < 1e-3);
    assert_true(fabs(fit_t975(1000) - 1.962) < 2e-3);   /* Cornish-Fisher, towards 1.960 */
    assert_true(isinf(fit_t975(0)));
    assert_true(fabs(fit_t_quantile(0.975, 5) - 2.57058) < 1e-4);
    assert_true(fabs(fit_t_quantile(0.995, 1e6) - 2.57583) < 1e-3);  /* the normal's 99 % */
    assert_true(isinf(fit_t_quantile(0.4, 5)));
}

/* One column, no intercept: beta = sum(xy) / sum(xx) = 109.7 / 55 */
static void test_ls_one_column_by_hand(void **state)
{
    (void)state;
    struct fit_ls w;
    const double x[5] = { 1, 2, 3, 4, 5 }, y[5] = { 2.1, 3.9, 6.2, 7.8, 10.0 };
    unsigned used;
    double sse;

    memcpy(X, x, sizeof x);
    memcpy(Y, y, sizeof y);
    bind(&w, 5, 1);
    assert_int_equal(fit_ls_solve(&w, use, &used, &sse), 0);
    assert_int_equal(used, 5);
    double b = 109.7 / 55, want = 0;
    assert_true(fabs(w.beta[0] - b) < 1e-6);
    for (int i = 0; i < 5; i++) {
        assert_true(fabs(w.e[i] - (y[i] - b * x[i])) < 1e-5);
        want += (y[i] - b * x[i]) * (y[i] - b * x[i]);
        assert_true(fabs(w.h[i] - x[i] * x[i] / 55) < 1e-6);   /* leverage x_i^2 / sum(xx) */
    }
    assert_true(fabs(sse - want) < 1e-6);
    assert_true(fabs(fit_ls_vif(&w, 0) - 1) < 1e-6);          /* one column: no inflation */

    /* a row left out is not fitted, but still gets its residual */
    use[4] = 0;
    Y[4] = 1000;
    assert_int_equal(fit_ls_solve(&w, use, &used, &sse), 0);
    assert_int_equal(used, 4);
    assert_true(fabs(w.beta[0] - (2.1 + 7.8 + 18.6 + 31.2) / 30) < 1e-6);
    assert_true(fabs(w.e[4] - (1000 - 5 * w.beta[0])) < 1e-6);
    /* p + FIT_MIN_DF rows at least: 4 were enough, 3 are not */
    use[3] = 0;
    assert_int_equal(fit_ls_solve(&w, use, &used, &sse), -1);
    assert_int_equal(used, 3);
}

/* Synthetic rows: two routes retaining 1000 and 200 bytes per request plus
 * 50 bytes per second, noise sd 300: the fit lands within its interval. */
static void fill_rows(unsigned n, double noise)
{
    for (unsigned i = 0; i < n; i++) {
        double *xi = X + (size_t)i * 3;
        xi[0] = (double)(int)(20 * unif());
        xi[1] = (double)(int)(50 * unif());
        xi[2] = 0.5 + unif();
        Y[i] = 1000 * xi[0] + 200 * xi[1] + 50 * xi[2] + noise * gauss();
    }
}

static void test_ls_recovers_bytes_per_request(void **state)
{
    (void)state;
    struct fit_ls w;
    unsigned used;
    double sse;
    const double truth[3] = { 1000, 200, 50 };

    fill_rows(100, 0);
    bind(&w, 100, 3);
    assert_int_equal(fit_ls_solve(&w, use, &used, &sse), 0);
    for (int c = 0; c < 3; c++)
        assert_true(fabs(w.beta[c] - truth[c]) < 1e-3 * truth[c]);   /* only the ridge */

    fill_rows(100, 300);
    assert_int_equal(fit_ls_solve(&w, use, &used, &sse), 0);
    double tq = fit_t975((int)used - 3);
    for (int c = 0; c < 3; c++) {
        double se = sqrt(w.var[c]);
        print_message("beta[%d] %.1f +- %.1f (truth %.0f)\n", c, w.beta[c], tq * se, truth[c]);
        assert_true(fabs(w.beta[c] - truth[c]) < tq * se);
    }
    assert_true(fit_ls_vif(&w, 0) < 10);     /* independent columns */
}

/* The same process with fewer rows: the 95 % half-width grows (HC3 error
 * and t quantile both). */
static void test_interval_widens_with_fewer_rows(void **state)
{
    (void)state;
    struct fit_ls w;
    unsigned used;
    double sse, half[2];
    const unsigned rows[2] = { 160, 12 };

    for (int r = 0; r < 2; r++) {
        rng = 12345;
        fill_rows(rows[r], 300);
        bind(&w, rows[r], 3);
        assert_int_equal(fit_ls_solve(&w, use, &used, &sse), 0);
        half[r] = fit_t975((int)used - 3) * sqrt(w.var[0]);
    }
    print_message("half-width: %.1f on %u rows, %.1f on %u rows\n", half[0], rows[0], half[1], rows[1]);
    assert_true(half[1] > 2 * half[0]);
}

/* |residuals| 1, 2, 3, 4, 100: the median is 3, the cut 8 x 1.4826 x 3 =
 * 35.58; the 100 is out, the rest in. */
static void test_outlier_cut_by_hand(void **state)
{
    (void)state;
    double a[5] = { 100, 4, 1, 3, 2 };
    double cut = fit_outlier_cut(a, 5);
    assert_true(fabs(cut - 8 * 1.4826 * 3) < 1e-9);
    assert_true(a[0] == 1 && a[4] == 100);              /* sorted in place */
    assert_true(fit_outlier_cut(a, 0) == 0);
}

/* The robust pass as attrib_fit runs it: one row with a 200 KB jump (a
 * worker's warm-up) pulls the fit; the cut names it, and without it the
 * fit is back on the truth. */
static void test_robust_pass_discounts_an_outlier(void **state)
{
    (void)state;
    struct fit_ls w;
    unsigned used;
    double sse, ae[NMAX];

    rng = 777;
    fill_rows(60, 300);
    Y[17] += 200000;
    bind(&w, 60, 3);
    assert_int_equal(fit_ls_solve(&w, use, &used, &sse), 0);
    double pulled = w.beta[0];
    for (unsigned i = 0; i < 60; i++)
        ae[i] = fabs(w.e[i]);
    double cut = fit_outlier_cut(ae, 60);
    unsigned out = 0;
    for (unsigned i = 0; i < 60; i++)
        if (fabs(w.e[i]) > cut) {
            use[i] = 0;
            out++;
        }
    assert_int_equal(out, 1);
    assert_int_equal(use[17], 0);
    assert_int_equal(fit_ls_solve(&w, use, &used, &sse), 0);
    print_message("beta[0]: %.1f with the outlier, %.1f without\n", pulled, w.beta[0]);
    assert_true(fabs(w.beta[0] - 1000) < fabs(pulled - 1000));
    assert_true(fabs(w.beta[0] - 1000) < fit_t975((int)used - 3) * sqrt(w.var[0]));
}

/* e = 1, 1, 1, 1 in one sequence: 3 lagged products over 4 squares = 0.75;
 * alternating groups pair each row with the one two back. */
static void test_lag1_rho_by_hand(void **state)
{
    (void)state;
    const double same[4] = { 1, 1, 1, 1 }, alt[4] = { 1, -1, 1, -1 };
    const int64_t g[4] = { 1, 2, 1, 2 };
    uint8_t u[100];
    double e[100];

    memset(u, 1, sizeof u);
    assert_true(fabs(fit_lag1_rho(same, u, NULL, 4) - 0.75) < 1e-12);
    assert_true(fabs(fit_lag1_rho(alt, u, NULL, 4) + 0.75) < 1e-12);
    assert_true(fabs(fit_lag1_rho(alt, u, g, 4) - 0.5) < 1e-12);   /* (1 + 1) / 4 */
    u[1] = 0;                                                     /* 1, ., 1, -1: (1 - 1) / 3 */
    assert_true(fabs(fit_lag1_rho(alt, u, NULL, 4)) < 1e-12);
    for (int i = 0; i < 100; i++)
        e[i] = 1, u[i] = 1;
    assert_true(fit_lag1_rho(e, u, NULL, 100) == FIT_RHO_MAX);    /* 0.99, capped */
    assert_true(fabs(fit_ar1_inflation(0.5) - 3) < 1e-12);
    assert_true(fabs(fit_ar1_inflation(FIT_RHO_MAX) - 19) < 1e-9);
    assert_true(fit_ar1_inflation(-0.3) == 1);                    /* negative: no credit */
}

/* 0, 0, 0, 10: m2 = 100, m4 = 10^4, kurtosis 4 x 10^4 / 10^4 - 3 = 1;
 * +-1 alternating: 4 x 4 / 16 - 3 = -2, floored at 0. */
static void test_excess_kurtosis_by_hand(void **state)
{
    (void)state;
    const double spike[5] = { 0, 0, 0, 10, 99 }, flat[4] = { 1, -1, 1, -1 };
    const uint8_t first4[5] = { 1, 1, 1, 1, 0 };
    assert_true(fabs(fit_excess_kurtosis(spike, first4, 5) - 1) < 1e-12);
    assert_true(fit_excess_kurtosis(flat, first4, 4) == 0);
    assert_true(fit_excess_kurtosis(spike, (const uint8_t[5]){ 0 }, 5) == 0);
}

/* Intercept only (one column of ones, n rows): h = 1/n, D = 1/(n-1)^2,
 * tr(DM) = 1/(n-1), tr(DMDM) = 1/(n-1)^3, so the Bell-McCaffrey df is
 * n - 1, the textbook value; a heavy tail lowers it. */
static void test_bm_df_by_hand(void **state)
{
    (void)state;
    struct fit_ls w;
    unsigned used;
    double sse;

    rng = 99;
    for (int i = 0; i < 10; i++) {
        X[i] = 1;
        Y[i] = 5 + gauss();
    }
    bind(&w, 10, 1);
    assert_int_equal(fit_ls_solve(&w, use, &used, &sse), 0);
    double df = fit_bm_df(&w, use, 0, 0);
    assert_true(fabs(df - 9) < 1e-4);
    assert_true(fit_bm_df(&w, use, 0, 3) < df);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_ls_one_column_by_hand),
        cmocka_unit_test(test_ls_recovers_bytes_per_request),
        cmocka_unit_test(test_interval_widens_with_fewer_rows),
        cmocka_unit_test(test_outlier_cut_by_hand),
        cmocka_unit_test(test_robust_pass_discounts_an_outlier),
        cmocka_unit_test(test_lag1_rho_by_hand),
        cmocka_unit_test(test_excess_kurtosis_by_hand),
        cmocka_unit_test(test_bm_df_by_hand),
    };
    return cmocka_run_group_tests_name("fit", tests, NULL, NULL);
}
