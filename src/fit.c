/* fit.c -- the statistics behind attribution. See fit.h; docs/attribution.md
 * says why each method was chosen. Pure functions on caller-owned arrays. */
#include "fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A vanishing ridge keeps the Cholesky factorisation defined when columns
 * are collinear (the variance inflation then reports them): 1e-7 of each
 * diagonal entry, grown a hundredfold per failed attempt, five attempts
 * (up to 1e1 of the diagonal) before the design is called singular. The
 * absolute floor covers all-zero columns. */
#define RIDGE_FIRST    1e-7
#define RIDGE_GROWTH   100.0
#define RIDGE_ATTEMPTS 5
#define RIDGE_FLOOR    1e-12
/* HC3 divides each residual by 1 - leverage: a row that alone carries a
 * column (leverage 1) would divide by zero; capped, its weight is x100. */
#define LEVERAGE_MAX   0.99

/* ---- Student t --------------------------------------------------------------- */

double fit_t975(int df)
{
    static const double t[31] = {
        0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042
    };
    if (df < 1)
        return INFINITY;
    if (df <= 30)
        return t[df];
    /* Cornish-Fisher expansion around the normal quantile */
    double z = 1.959964, d = (double)df;   /* z = Phi^-1(0.975) */
    return z + (z * z * z + z) / (4 * d) + (5 * pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d);
}

/* Regularised incomplete beta I_x(a, b) by its continued fraction
 * (modified Lentz), for the t distribution below. */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 300; m++) {
        double m2 = 2.0 * m, aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
        d = 1 + aa * d;
        d = fabs(d) < tiny ? 1 / tiny : 1 / d;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        h *= d * c;
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
        d = 1 + aa * d;
        d = fabs(d) < tiny ? 1 / tiny : 1 / d;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-14)
            break;
    }
    return h;
}

static double ibeta(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lb = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2))
        return exp(lb) * betacf(a, b, x) / a;
    return 1 - exp(lb) * betacf(b, a, 1 - x) / b;
}

double fit_t_quantile(double q, double df)
{
    if (!(df > 0) || !(q > 0.5) || !(q < 1))
        return INFINITY;
    /* upper tail P(T > t) = I_{df/(df+t^2)}(df/2, 1/2) / 2, decreasing in t:
     * bisection on log t is exact enough and never diverges */
    double tail = 1 - q, lo = 1e-9, hi = 1e7;
    for (int i = 0; i < 200 && hi - lo > 1e-10 * hi; i++) {
        double t = sqrt(lo * hi);
        if (0.5 * ibeta(df / 2, 0.5, df / (df + t * t)) > tail)
            lo = t;
        else
            hi = t;
    }
    return sqrt(lo * hi);
}

/* ---- least squares ------------------------------------------------------------ */

/* In-place Cholesky of the p x p matrix <a> (lower triangle). -1 if not
 * positive definite. */
static int cholesky(double *a, unsigned p)
{
    for (unsigned j = 0; j < p; j++) {
        double d = a[j * p + j];
        for (unsigned k = 0; k < j; k++)
            d -= a[j * p + k] * a[j * p + k];
        if (!(d > 0))
            return -1;
        d = sqrt(d);
        a[j * p + j] = d;
        for (unsigned i = j + 1; i < p; i++) {
            double s = a[i * p + j];
            for (unsigned k = 0; k < j; k++)
                s -= a[i * p + k] * a[j * p + k];
            a[i * p + j] = s / d;
        }
    }
    return 0;
}

/* <inv> = (L L')^-1 from the Cholesky factor <l>. Row-major throughout:
 * tmp holds (L^-1)' by rows (row j = L^-1 e_j), so every inner loop walks
 * memory in order. */
static void chol_inverse(const double *l, double *inv, double *tmp, unsigned p)
{
    memset(tmp, 0, (size_t)p * p * sizeof *tmp);
    for (unsigned j = 0; j < p; j++) {
        double *t = tmp + (size_t)j * p;      /* solve L t = e_j; t[i] = 0 for i < j */
        for (unsigned i = j; i < p; i++) {
            const double *li = l + (size_t)i * p;
            double s = i == j ? 1.0 : 0.0;
            for (unsigned k = j; k < i; k++)
                s -= li[k] * t[k];
            t[i] = s / li[i];
        }
    }
    /* inv[i][j] = sum_k L^-1[k][i] L^-1[k][j] = sum_k t_i[k] t_j[k] */
    for (unsigned i = 0; i < p; i++) {
        const double *ti = tmp + (size_t)i * p;
        for (unsigned j = 0; j <= i; j++) {
            const double *tj = tmp + (size_t)j * p;
            double s = 0;
            for (unsigned k = i; k < p; k++)
                s += ti[k] * tj[k];
            inv[(size_t)i * p + j] = inv[(size_t)j * p + i] = s;
        }
    }
}

void fit_ls_bind(struct fit_ls *w, unsigned n, unsigned p, const double *X, const double *y,
                 double *buf, unsigned *nzi)
{
    size_t pp = (size_t)p * p;
    w->n = n;
    w->p = p;
    w->X = X;
    w->y = y;
    w->A = buf;
    w->L = w->A + pp;
    w->C = w->L + pp;
    w->tmp = w->C + pp;
    w->G = w->tmp + pp;
    w->P = w->G + pp;
    w->A0 = w->P + pp;
    w->b = w->A0 + p;
    w->beta = w->b + p;
    w->z = w->beta + p;
    w->var = w->z + p;
    w->e = w->var + p;
    w->h = w->e + n;
    w->nzi = nzi;
}

double fit_ls_vif(const struct fit_ls *w, unsigned c)
{
    return w->C[(size_t)c * w->p + c] * w->A0[c];
}

/* The nonzero columns of row <xi> into <nzi> (returns how many), and the
 * row's dot product with <v> into <dot>: rows are sparse (a few routes per
 * interval), so every pass over them walks only these. */
static unsigned row_nonzeros(const double *xi, unsigned p, unsigned *nzi, const double *v, double *dot)
{
    unsigned nz = 0;
    double d = 0;
    for (unsigned a = 0; a < p; a++)
        if (xi[a] != 0) {
            nzi[nz++] = a;
            d += xi[a] * v[a];
        }
    *dot = d;
    return nz;
}

/* X'X (A, symmetric, its diagonal in A0) and X'y (b) over the rows used;
 * returns how many. */
static unsigned normal_equations(struct fit_ls *w, const uint8_t *use)
{
    unsigned n = w->n, p = w->p, m = 0;
    memset(w->A, 0, (size_t)p * p * sizeof *w->A);
    memset(w->b, 0, p * sizeof *w->b);
    for (unsigned i = 0; i < n; i++) {
        if (!use[i])
            continue;
        m++;
        const double *xi = w->X + (size_t)i * p;
        unsigned nz = 0;
        for (unsigned a = 0; a < p; a++)
            if (xi[a] != 0)
                w->nzi[nz++] = a;
        for (unsigned u = 0; u < nz; u++) {
            unsigned a = w->nzi[u];
            w->b[a] += xi[a] * w->y[i];
            for (unsigned v = 0; v <= u; v++)
                w->A[a * p + w->nzi[v]] += xi[a] * xi[w->nzi[v]];
        }
    }
    for (unsigned a = 0; a < p; a++)
        for (unsigned c = 0; c < a; c++)
            w->A[c * p + a] = w->A[a * p + c];
    for (unsigned a = 0; a < p; a++)
        w->A0[a] = w->A[a * p + a];
    return m;
}

/* C = (A + ridge)^-1 and beta = C b, the ridge as small as factorises;
 * -1 when even the largest fails. */
static int ridged_inverse(struct fit_ls *w)
{
    unsigned p = w->p;
    double ridge = RIDGE_FIRST;
    for (int attempt = 0;; attempt++) {
        memcpy(w->L, w->A, (size_t)p * p * sizeof *w->L);
        for (unsigned a = 0; a < p; a++)
            w->L[a * p + a] += ridge * (w->A0[a] > 0 ? w->A0[a] : 1.0) + RIDGE_FLOOR;
        if (cholesky(w->L, p) == 0)
            break;
        if (attempt == RIDGE_ATTEMPTS - 1)
            return -1;
        ridge *= RIDGE_GROWTH;
    }
    chol_inverse(w->L, w->C, w->tmp, p);
    for (unsigned a = 0; a < p; a++) {
        double sum = 0;
        for (unsigned c = 0; c < p; c++)
            sum += w->C[a * p + c] * w->b[c];
        w->beta[a] = sum;
    }
    return 0;
}

/* Residuals of every row; leverages and the HC3 variances, sum of
 * (e_i / (1 - h_ii))^2 (C x_i)(C x_i)', over the rows used. Returns their
 * sum of squared residuals. */
static double residuals_hc3(struct fit_ls *w, const uint8_t *use)
{
    unsigned n = w->n, p = w->p;
    double sse = 0;
    memset(w->var, 0, p * sizeof *w->var);
    for (unsigned i = 0; i < n; i++) {
        const double *xi = w->X + (size_t)i * p;
        double f;
        unsigned nz = row_nonzeros(xi, p, w->nzi, w->beta, &f);
        w->e[i] = w->y[i] - f;
        if (!use[i])
            continue;
        sse += w->e[i] * w->e[i];
        double h = 0;
        for (unsigned a = 0; a < p; a++) {
            double sum = 0;
            const double *ca = w->C + (size_t)a * p;
            for (unsigned u = 0; u < nz; u++)      /* rows are sparse */
                sum += ca[w->nzi[u]] * xi[w->nzi[u]];
            w->z[a] = sum;
            h += xi[a] * sum;
        }
        if (h > LEVERAGE_MAX)
            h = LEVERAGE_MAX;
        w->h[i] = h;
        double q = w->e[i] / (1 - h);
        q *= q;
        for (unsigned a = 0; a < p; a++)
            w->var[a] += q * w->z[a] * w->z[a];
    }
    return sse;
}

int fit_ls_solve(struct fit_ls *w, const uint8_t *use, unsigned *used, double *sse)
{
    *used = normal_equations(w, use);
    if (*used < w->p + FIT_MIN_DF || ridged_inverse(w) < 0)
        return -1;
    *sse = residuals_hc3(w, use);
    return 0;
}

/* Bell-McCaffrey degrees of freedom of coefficient <c>'s HC3 variance
 * V = sum_i D_i e_i^2, D_i = a_i^2 / (1 - h_i)^2, a_i = (C x_i)_c. Under
 * normal homoskedastic errors e = M eps (M = I - H) and V is the quadratic
 * form eps' M D M eps; Satterthwaite's approximation gives it
 *     df = tr(DM)^2 / tr(DMDM),
 *     tr(DM) = sum D_i (1 - h_i),
 *     tr(DMDM) = sum D_i^2 - 2 sum D_i^2 h_i + tr((C G)^2), G = X' D X.
 * Few rows, or a few rows carrying most of a route's requests (high
 * leverage), make it small: the t quantile then widens the interval where
 * HC3 alone is too optimistic (Imbens & Kolesar 2016). Heavy-tailed noise
 * (RSS moves in steps of megabytes) makes V vary more than the normal
 * reference says: Var(eps' A eps) gains kurt * sum A_ii^2 (excess kurtosis
 * <kurt> of the residuals; A_ii taken as D_i (1 - h_i)^2, its leading term),
 * which lowers df further. Cost: rows x nnz^2 + p^3, so it is computed only
 * for coefficients that may be named leaks. */
double fit_bm_df(const struct fit_ls *w, const uint8_t *use, unsigned c, double kurt)
{
    double *G = w->G, *P = w->P;
    unsigned n = w->n, p = w->p;
    double tr1 = 0, d2 = 0, d2h = 0, a2 = 0;

    memset(G, 0, (size_t)p * p * sizeof *G);
    for (unsigned i = 0; i < n; i++) {
        if (!use[i])
            continue;
        const double *xi = w->X + (size_t)i * p;
        double a;
        unsigned nz = row_nonzeros(xi, p, w->nzi, w->C + (size_t)c * p, &a);
        double h = w->h[i], D = a * a / ((1 - h) * (1 - h));
        if (D == 0)
            continue;
        tr1 += D * (1 - h);
        d2 += D * D;
        a2 += D * D * (1 - h) * (1 - h) * (1 - h) * (1 - h);
        d2h += D * D * h;
        for (unsigned u = 0; u < nz; u++)
            for (unsigned v = 0; v < nz; v++)
                G[(size_t)w->nzi[u] * p + w->nzi[v]] += D * xi[w->nzi[u]] * xi[w->nzi[v]];
    }
    for (unsigned r = 0; r < p; r++)
        for (unsigned s = 0; s < p; s++) {
            double sum = 0;
            for (unsigned t = 0; t < p; t++)
                sum += w->C[(size_t)r * p + t] * G[(size_t)t * p + s];
            P[(size_t)r * p + s] = sum;
        }
    double trp2 = 0;
    for (unsigned r = 0; r < p; r++)
        for (unsigned s = 0; s < p; s++)
            trp2 += P[(size_t)r * p + s] * P[(size_t)s * p + r];
    double tr2 = d2 - 2 * d2h + trp2 + kurt / 2 * a2;
    return tr2 > 0 ? tr1 * tr1 / tr2 : 0;
}

/* ---- the residuals ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double fit_outlier_cut(double *abs_resid, unsigned m)
{
    qsort(abs_resid, m, sizeof *abs_resid, cmp_double);
    double mad = m ? abs_resid[m / 2] : 0;
    return FIT_OUTLIER_SDS * FIT_MAD_TO_SD * mad;
}

double fit_lag1_rho(const double *e, const uint8_t *use, const int64_t *group, unsigned n)
{
    double num = 0, den = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!use[i])
            continue;
        den += e[i] * e[i];
        for (unsigned j = i; j-- > 0;) {
            if (i - j > FIT_LAG_LOOKBACK)
                break;
            if (use[j] && (!group || group[j] == group[i])) {
                num += e[i] * e[j];
                break;
            }
        }
    }
    double rho = den > 0 ? num / den : 0;
    return rho > FIT_RHO_MAX ? FIT_RHO_MAX : rho;
}

double fit_ar1_inflation(double rho)
{
    return rho > 0 ? (1 + rho) / (1 - rho) : 1;
}

double fit_excess_kurtosis(const double *e, const uint8_t *sel, unsigned n)
{
    double m2 = 0, m4 = 0, kurt = 0;
    unsigned m = 0;
    for (unsigned i = 0; i < n; i++)
        if (sel[i]) {
            double e2 = e[i] * e[i];
            m2 += e2;
            m4 += e2 * e2;
            m++;
        }
    if (m2 > 0)
        kurt = (double)m * m4 / (m2 * m2) - 3;
    return kurt > 0 ? kurt : 0;
}
