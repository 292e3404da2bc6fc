/* fit.h -- the statistics behind attribution, pure: Student t quantiles,
 * least squares with HC3 standard errors and its Bell-McCaffrey degrees of
 * freedom, the robust cut for outlying rows, the lag-1 autocorrelation of
 * residuals and its variance inflation, the residuals' excess kurtosis.
 *
 * No engine, no series, no allocation: every function works on arrays the
 * caller owns, so each is unit-tested on small hand-computed inputs
 * (tests/unit/test_fit.c) and attrib.c composes them into attrib_fit().
 * docs/attribution.md says why each method was chosen. */
#ifndef LEAKPROXY_FIT_H
#define LEAKPROXY_FIT_H
#include <stddef.h>
#include <stdint.h>

/* Two-sided 95 % Student t quantile for <df> degrees of freedom (a table to
 * 30, a Cornish-Fisher expansion above); INFINITY below 1. */
double fit_t975(int df);
/* The <q> quantile (0.5 < q < 1) of Student's t with real <df> > 0;
 * INFINITY outside that domain. */
double fit_t_quantile(double q, double df);

/* Least squares on a dense n x p design. The caller lays X out and binds
 * one work buffer of FIT_LS_DOUBLES(n, p) doubles and p unsigned with
 * fit_ls_bind(); nothing is allocated per solve. */
struct fit_ls {
    unsigned n, p;                    /* rows, columns */
    const double *X;                  /* n x p, row-major */
    const double *y;                  /* n: the response */
    double *A, *L, *C, *tmp;          /* p x p: X'X, its Cholesky factor, (X'X)^-1, scratch */
    double *G, *P;                    /* p x p: fit_bm_df()'s scratch */
    double *A0;                       /* p: the diagonal of X'X (for variance inflation) */
    double *b, *beta, *z, *var;       /* p: X'y, the coefficients, C x_i, HC3 variances */
    double *e;                        /* n: residuals, every row (used or not) */
    double *h;                        /* n: leverages of the rows used */
    unsigned *nzi;                    /* p: the nonzero columns of one row */
};
#define FIT_LS_DOUBLES(n, p) (6 * (size_t)(p) * (p) + 5 * (size_t)(p) + 2 * (size_t)(n))

void fit_ls_bind(struct fit_ls *w, unsigned n, unsigned p, const double *X, const double *y,
                 double *buf, unsigned *nzi);
/* Fits the rows with use[i] set: beta, C = (X'X + vanishing ridge)^-1, the
 * residuals of all rows, the HC3 variances (each residual scaled by
 * 1/(1 - leverage)). <used> gets the rows used, <sse> their squared
 * residuals. -1 when fewer than p + FIT_MIN_DF rows are used, or X'X stays
 * singular with the largest ridge. */
#define FIT_MIN_DF 3                  /* residual degrees of freedom below which nothing is fitted */
int fit_ls_solve(struct fit_ls *w, const uint8_t *use, unsigned *used, double *sse);
/* Variance inflation of coefficient <c> from the last solve: C_cc * (X'X)_cc. */
double fit_ls_vif(const struct fit_ls *w, unsigned c);

/* Bell-McCaffrey (Satterthwaite) degrees of freedom of coefficient <c>'s
 * HC3 variance after fit_ls_solve(), lowered further for residuals with
 * excess kurtosis <kurt>. O(rows x nnz^2 + p^3): for coefficients that may
 * be named leaks only. */
double fit_bm_df(const struct fit_ls *w, const uint8_t *use, unsigned c, double kurt);

/* The robust cut: residuals farther out than this are outliers.
 * FIT_OUTLIER_SDS robust standard deviations, the standard deviation read
 * as FIT_MAD_TO_SD x the median of the <m> absolute residuals in
 * <abs_resid> (sorted in place). 0 when m is 0 or the median is 0. */
#define FIT_MAD_TO_SD   1.4826        /* 1 / Phi^-1(3/4): the median absolute deviation of normal
                                       * data times this estimates sigma consistently */
#define FIT_OUTLIER_SDS 8.0           /* only gross departures (a worker's warm-up, a cache flushed
                                       * at once): ordinary heavy-tailed RSS noise stays in */
double fit_outlier_cut(double *abs_resid, unsigned m);

/* Lag-1 autocorrelation of the residuals <e> of the rows with use[i] set,
 * each row paired with the previous used row of its own group (worker;
 * <group> NULL: one group), looking back at most FIT_LAG_LOOKBACK rows;
 * capped at FIT_RHO_MAX. */
#define FIT_LAG_LOOKBACK 64           /* as far back as a worker's previous row is searched */
double fit_lag1_rho(const double *e, const uint8_t *use, const int64_t *group, unsigned n);
/* The variance inflation (1 + rho) / (1 - rho) for positive <rho>, else 1. */
#define FIT_RHO_MAX 0.9               /* caps the inflation at 19 (x4.4 on the interval): near 1 it
                                       * would grow without bound on a short, trending window */
double fit_ar1_inflation(double rho);

/* Excess kurtosis (>= 0: a light tail does not earn narrower intervals) of
 * the residuals <e> of the rows with sel[i] set. */
double fit_excess_kurtosis(const double *e, const uint8_t *sel, unsigned n);
#endif
