/* attrib.c -- the attribution engine. See attrib.h for the model and
 * docs/attribution.md for why each choice was made.
 *
 * Two layers. attrib_fit() is pure maths on a dense problem: ordinary least
 * squares with a vanishing ridge for numerical safety, HC3 standard errors,
 * an inflation for positive lag-1 autocorrelation of the residuals, t
 * quantiles. The engine around it builds the problem from the series rows
 * every interval, runs it on each metric (heap floor, RSS, external) over the
 * whole window and over its newest half, and turns estimates into verdicts
 * with their reasons. The honesty rule lives in both layers: a route whose
 * requests cannot be separated from others' (too few, or in fixed
 * proportion: a large variance inflation) gets no estimate, and no estimate
 * means "unknown", never a guess. */
#include "attrib.h"
#include "app.h"
#include "config.h"
#include "log.h"
#include "memsrc.h"
#include "series.h"
#include "stats.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const attrib_metric_names[ATTRIB_NMETRIC] = { "heap_used", "rss", "external" };
const char *const attrib_verdict_names[5] = { "unknown", "clean", "warming", "suspect", "leaking" };

/* ---- maths ----------------------------------------------------------------- */

double attrib_t975(int df)
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
    double z = 1.959964, d = (double)df;
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

double attrib_t_quantile(double q, double df)
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

/* Least squares on the rows with use[i] set: fills beta, the inverse C of
 * X'X (ridged), residuals e (all rows) and HC3 variances. -1 if singular
 * even with the ridge, or too few rows. */
struct ls {
    unsigned n, p;
    const double *X, *y;
    double *A, *A0, *L, *C, *tmp, *b, *beta, *z, *var, *e, *h;
    unsigned *nzi;                    /* nonzero columns of one row */
};

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

static int ls_solve(struct ls *w, const uint8_t *use, unsigned *used, double *sse_out)
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
    *used = m;
    if (m < p + 3)
        return -1;
    for (unsigned a = 0; a < p; a++)
        for (unsigned c = 0; c < a; c++)
            w->A[c * p + a] = w->A[a * p + c];
    for (unsigned a = 0; a < p; a++)
        w->A0[a] = w->A[a * p + a];
    /* a vanishing ridge keeps the factorisation defined when columns are
     * collinear; the variance inflation then reports them */
    double ridge = 1e-7;
    for (int attempt = 0;; attempt++) {
        memcpy(w->L, w->A, (size_t)p * p * sizeof *w->L);
        for (unsigned a = 0; a < p; a++)
            w->L[a * p + a] += ridge * (w->A0[a] > 0 ? w->A0[a] : 1.0) + 1e-12;
        if (cholesky(w->L, p) == 0)
            break;
        if (attempt == 4)
            return -1;
        ridge *= 100;
    }
    chol_inverse(w->L, w->C, w->tmp, p);
    for (unsigned a = 0; a < p; a++) {
        double sum = 0;
        for (unsigned c = 0; c < p; c++)
            sum += w->C[a * p + c] * w->b[c];
        w->beta[a] = sum;
    }
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
        /* HC3: sum of (e_i / (1 - h_ii))^2 (C x_i)(C x_i)'; rows are sparse */
        double h = 0;
        for (unsigned a = 0; a < p; a++) {
            double sum = 0;
            const double *ca = w->C + (size_t)a * p;
            for (unsigned u = 0; u < nz; u++)
                sum += ca[w->nzi[u]] * xi[w->nzi[u]];
            w->z[a] = sum;
            h += xi[a] * sum;
        }
        if (h > 0.99)
            h = 0.99;
        w->h[i] = h;
        double q = w->e[i] / (1 - h);
        q *= q;
        for (unsigned a = 0; a < p; a++)
            w->var[a] += q * w->z[a] * w->z[a];
    }
    *sse_out = sse;
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
static double bm_df(const struct ls *w, const uint8_t *use, unsigned c, double kurt, double *G, double *P)
{
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

/* Row <i> of <pr> served requests (an idle row only moves with time). */
static int row_busy(const struct attrib_problem *pr, unsigned i)
{
    for (unsigned j = 0; j < pr->k; j++)
        if (pr->x[(size_t)i * pr->k + j] > 0)
            return 1;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int attrib_fit(const struct attrib_problem *pr, double min_requests,
               struct attrib_coef *out, struct attrib_fit_info *info)
{
    unsigned n = pr->n, k = pr->k;
    int rc = -1;
    struct ls w;

    memset(&w, 0, sizeof w);
    memset(info, 0, sizeof *info);
    memset(out, 0, (size_t)k * sizeof *out);
    int *bcol = malloc((k ? k : 1) * sizeof *bcol);
    double *tot = calloc(k ? k : 1, sizeof *tot);
    unsigned *rows = calloc(k ? k : 1, sizeof *rows);
    uint8_t *use = malloc(n ? n : 1);
    double *X = NULL, *scratch = NULL;
    if (!bcol || !tot || !rows || !use)
        goto out;
    /* Rows holding a route's first request carry its one-time cost (module
     * loading, tens of MB): they are left out of the fit, and the cost is
     * read off them afterwards. */
    for (unsigned i = 0; i < n; i++) {
        use[i] = 1;
        for (unsigned j = 0; pr->first && j < k; j++)
            if (pr->first[(size_t)i * k + j])
                use[i] = 0;
    }
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < k; j++) {
            double v = pr->x[(size_t)i * k + j];
            if (!use[i])
                continue;
            tot[j] += v;
            rows[j] += v > 0;
        }
    unsigned p = 0;
    int other = -1, drift = -1, any_other = 0;
    for (unsigned j = 0; j < k; j++) {
        out[j].n = tot[j];
        out[j].rows = rows[j];
        bcol[j] = -1;
        if (tot[j] <= 0) {
            out[j].why = "no requests in the window";
            continue;
        }
        if (tot[j] < min_requests) {
            out[j].why = "too few requests in the window";
            any_other = 1;
            continue;
        }
        if (rows[j] < ATTRIB_MIN_ROWS_PER_ROUTE) {
            out[j].why = "requests in too few intervals";
            any_other = 1;
            continue;
        }
        bcol[j] = (int)p++;
    }
    /* bounded cost: only the <max_cols> busiest routes get a column of their
     * own (the fit is O(p^3)); the others are pooled */
    if (pr->max_cols && p > pr->max_cols) {
        double *sorted = malloc(p * sizeof *sorted);
        if (sorted == NULL)
            goto out;
        unsigned q = 0;
        for (unsigned j = 0; j < k; j++)
            if (bcol[j] >= 0)
                sorted[q++] = -tot[j];
        qsort(sorted, q, sizeof *sorted, cmp_double);
        double cut = -sorted[pr->max_cols - 1];
        free(sorted);
        p = 0;
        for (unsigned j = 0; j < k; j++) {
            if (bcol[j] < 0)
                continue;
            if (tot[j] < cut || p == pr->max_cols) {
                bcol[j] = -1;
                out[j].why = "not among the busiest routes the engine estimates (attribution.max_routes)";
                any_other = 1;
            } else {
                bcol[j] = (int)p++;
            }
        }
    }
    if (any_other)
        other = (int)p++;             /* the small routes together: their memory is not noise */
    int zcol = -1;
    if (pr->z && pr->kz) {
        zcol = (int)p;
        p += pr->kz;
    }
    unsigned p_routes = p;
    if (pr->dt)
        drift = (int)p++;
    info->n = n;
    unsigned used;
    double sse;
    for (int attempt = 0;; attempt++) {
        info->p = p;
        free(X);
        free(scratch);
        free(w.nzi);
        X = malloc(((size_t)n * p + 1) * sizeof *X);
        scratch = malloc(((size_t)p * p * 6 + (size_t)p * 6 + 2 * (size_t)n + 8) * sizeof *scratch);
        w.nzi = malloc((p + 1) * sizeof *w.nzi);
        if (!X || !scratch || !w.nzi)
            goto out;
        for (unsigned i = 0; i < n; i++) {
            double *xi = X + (size_t)i * p;
            memset(xi, 0, p * sizeof *xi);
            for (unsigned j = 0; j < k; j++) {
                double v = pr->x[(size_t)i * k + j];
                if (bcol[j] >= 0)
                    xi[bcol[j]] = v;
                else if (other >= 0 && v > 0)
                    xi[other] += v;
            }
            for (unsigned t = 0; zcol >= 0 && t < pr->kz; t++)
                xi[zcol + (int)t] = pr->z[(size_t)i * pr->kz + t];
            if (drift >= 0)
                xi[drift] = pr->dt[i];
        }
        w.n = n;
        w.p = p;
        w.X = X;
        w.y = pr->y;
        w.A = scratch;
        w.L = w.A + (size_t)p * p;
        w.C = w.L + (size_t)p * p;
        w.tmp = w.C + (size_t)p * p;
        w.A0 = w.tmp + (size_t)p * p;
        w.b = w.A0 + p;
        w.beta = w.b + p;
        w.z = w.beta + p;
        w.var = w.z + p;
        w.e = w.var + p;
        w.h = w.e + n;
        if (p == 0 || ls_solve(&w, use, &used, &sse) < 0) {
            for (unsigned j = 0; j < k; j++)
                if (bcol[j] >= 0) {
                    bcol[j] = -1;
                    out[j].why = "too few memory intervals in the window for the number of routes";
                }
            goto out;
        }
        /* Under steady traffic the total request count tracks time, and
         * growth per second cannot be told from growth per request: then
         * the drift term goes, on the assumption that memory grows with
         * requests, not with time (reported as drift_dropped). */
        if (attempt == 0 && drift >= 0 && w.C[drift * p + drift] * w.A0[drift] > ATTRIB_DRIFT_MAX_VIF) {
            drift = -1;
            p = p_routes;
            info->drift_dropped = 1;
            continue;
        }
        break;
    }
    /* One robust pass: a row far outside the residual spread (a worker's
     * own warm-up, a cache flushed at once) is dropped and the fit redone.
     * The spread is read on rows that served requests: idle rows (a pause
     * in the load) move the floor by almost nothing, and counted in they
     * would shrink the spread until ordinary busy rows looked like outliers. */
    {
        double *ae = malloc((used + 1) * sizeof *ae);
        unsigned m = 0, dropped = 0;
        if (ae) {
            for (unsigned i = 0; i < n; i++)
                if (use[i] && row_busy(pr, i))
                    ae[m++] = fabs(w.e[i]);
            qsort(ae, m, sizeof *ae, cmp_double);
            double mad = m ? ae[m / 2] : 0, cut = 8 * 1.4826 * mad;
            free(ae);
            for (unsigned i = 0; cut > 0 && i < n; i++)
                if (use[i] && fabs(w.e[i]) > cut && used - dropped > p + 3) {
                    use[i] = 0;
                    dropped++;
                }
            if (dropped && ls_solve(&w, use, &used, &sse) < 0)
                goto out;
            info->outliers = dropped;
        }
    }
    /* lag-1 autocorrelation of residuals within each worker's sequence */
    double num = 0, den = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!use[i])
            continue;
        den += w.e[i] * w.e[i];
        for (unsigned j = i; j-- > 0;) {
            if (i - j > 64)
                break;
            if (use[j] && (!pr->group || pr->group[j] == pr->group[i])) {
                num += w.e[i] * w.e[j];
                break;
            }
        }
    }
    double rho = den > 0 ? num / den : 0, infl = 1;
    if (rho > 0) {
        if (rho > 0.9)
            rho = 0.9;
        infl = (1 + rho) / (1 - rho);
    }
    int moved = 0;
    for (unsigned i = 0; i < n && !moved; i++)
        moved = use[i] && pr->y[i] != 0;
    if (!moved) {
        for (unsigned j = 0; j < k; j++)
            if (bcol[j] >= 0) {
                bcol[j] = -1;
                out[j].why = "the memory floor did not move at all in the window (an envelope still filling?)";
            }
        goto out;
    }
    info->n = used;
    info->rho = rho;
    info->df = (int)used - (int)p;
    info->tq = attrib_t975(info->df);
    info->resid_sd = info->df > 0 ? sqrt(sse / info->df) : 0;
    /* excess kurtosis of the residuals, for the small-sample df (>= 0: a
     * light tail does not earn narrower intervals); on busy rows, as the
     * spread above: idle rows' near-zero residuals are another distribution,
     * and mixed in they would fake a heavy tail */
    double m2 = 0, m4 = 0, kurt = 0;
    unsigned nbusy = 0;
    for (unsigned i = 0; i < n; i++)
        if (use[i] && row_busy(pr, i)) {
            double e2 = w.e[i] * w.e[i];
            m2 += e2;
            m4 += e2 * e2;
            nbusy++;
        }
    if (m2 > 0)
        kurt = (double)nbusy * m4 / (m2 * m2) - 3;
    if (!(kurt > 0))
        kurt = 0;
    info->kurtosis = kurt;
    for (unsigned j = 0; j < k; j++) {
        if (bcol[j] < 0)
            continue;
        int c = bcol[j];
        struct attrib_coef *o = &out[j];
        o->beta = w.beta[c];
        o->se = sqrt(w.var[c] * infl);
        o->low = o->beta - info->tq * o->se;
        o->high = o->beta + info->tq * o->se;
        o->vif = w.C[c * p + c] * w.A0[c];
        o->df = info->df;
        o->df_small = info->df;
        if (info->df > 0 && o->beta - 2.576 * o->se > pr->small_df_above) {
            double *G = w.h + n, *P = G + (size_t)p * p;
            o->df_small = bm_df(&w, use, (unsigned)c, kurt, G, P);
            if (o->df_small > info->df)
                o->df_small = info->df;
        }
        if (o->vif > ATTRIB_MAX_VIF)
            o->why = "not identifiable: its traffic moves in step with other routes";
        else
            o->ok = 1;
    }
    /* one-time costs: what a first-request row holds beyond the fit */
    for (unsigned i = 0; pr->first && i < n; i++) {
        unsigned firsts = 0;
        for (unsigned j = 0; j < k; j++)
            firsts += pr->first[(size_t)i * k + j] != 0;
        if (firsts == 0)
            continue;
        double excess = w.e[i] / firsts;
        for (unsigned j = 0; j < k; j++)
            if (pr->first[(size_t)i * k + j]) {
                out[j].has_gamma = 1;
                out[j].gamma = excess;
                out[j].gamma_se = info->resid_sd;
                out[j].gamma_shared = firsts;
            }
    }
    if (drift >= 0) {
        info->drift = w.beta[drift];
        info->drift_se = sqrt(w.var[drift] * infl);
    }
    rc = 0;
out:
    free(bcol);
    free(tot);
    free(rows);
    free(use);
    free(X);
    free(scratch);
    free(w.nzi);
    return rc;
}

/* ---- the engine ------------------------------------------------------------- */

static void fmt_bytes(char *buf, size_t len, double v)
{
    double a = fabs(v);
    if (a >= 1024.0 * 1024 * 1024)
        snprintf(buf, len, "%.2f GB", v / (1024.0 * 1024 * 1024));
    else if (a >= 1024.0 * 1024)
        snprintf(buf, len, "%.1f MB", v / (1024.0 * 1024));
    else if (a >= 1024)
        snprintf(buf, len, "%.1f KB", v / 1024);
    else
        snprintf(buf, len, "%.0f B", v);
}

/* Which rows carry metric <m>, and its value in row <r>. */
static int row_has(const struct series_row *r, enum attrib_metric m)
{
    switch (m) {
    case ATTRIB_HEAP:
        return (r->flags & MEM_HAS_HEAP) && (r->flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV));
    case ATTRIB_RSS:
        return (r->flags & MEM_HAS_RSS) != 0;
    default:
        return (r->flags & MEM_HAS_EXT) != 0;
    }
}

static double row_y(const struct series_row *r, enum attrib_metric m)
{
    return m == ATTRIB_HEAP ? (double)r->d_floor : m == ATTRIB_RSS ? (double)r->d_rss : (double)r->d_ext;
}

struct fitbuf {
    double *y, *x, *dt, *z;
    uint8_t *first;
    int64_t *group;
    struct attrib_coef *coef;
};

/* The counts of the row before row <i> of the same worker, or NULL. */
static const uint32_t *prev_counts(const struct series *s, unsigned i, int64_t pid)
{
    for (unsigned back = 1; back <= 64 && back <= i; back++) {
        const uint32_t *c;
        const struct series_row *r = series_row(s, i - back, &c);
        if (r && r->pid == pid)
            return c;
    }
    return NULL;
}

/* Fits metric <m> on rows [from, to) of the window.
 *
 * RSS and external read right after a forced GC still hold some memory the
 * GC freed but has not yet handed back (array buffer backing stores are
 * released by a concurrent sweeper; freed pages leave RSS later): a reading
 * carries garbage of the requests just before it, which the next reading
 * no longer has. When rows differ in composition (designed rows), that
 * garbage follows each row's own routes and would read as a leak of every
 * route that allocates Buffers. So for those metrics each route also gets a
 * nuisance column, the change of its count from the row before: with
 * garbage g = c * x_k, d_k = b * x_k + c * (x_k - x_{k-1}), and the route
 * column keeps the retained bytes b. The heap floor after a full GC is
 * exact and needs none. */
static int fit_rows(struct app *app, enum attrib_metric m, unsigned from, unsigned to,
                    struct fitbuf *fb, struct attrib_fit_info *info, int small_df)
{
    const struct series *s = &app->series;
    const struct config_attrib *ac = &app->cfg->attrib;
    unsigned k = s->ncols, n = 0;
    int lag = m != ATTRIB_HEAP && fb->z != NULL;

    for (unsigned i = from; i < to; i++) {
        const uint32_t *c;
        const struct series_row *r = series_row(s, i, &c);
        if (r == NULL || !row_has(r, m))
            continue;
        fb->y[n] = row_y(r, m);
        fb->dt[n] = (double)(r->t1 - r->t0) / 1e6;
        fb->group[n] = r->pid;
        const uint64_t *first = series_first_rows(s, r->pid);
        const uint32_t *pc = lag ? prev_counts(s, i, r->pid) : NULL;
        for (unsigned j = 0; j < k; j++) {
            fb->x[(size_t)n * k + j] = c[j];
            fb->first[(size_t)n * k + j] = first && first[j] == r->seq + 1;
            if (lag)
                fb->z[(size_t)n * k + j] = (double)c[j] - (pc ? (double)pc[j] : (double)c[j]);
        }
        n++;
    }
    unsigned kz = 0;
    if (lag) {
        /* only routes that moved: an all-zero column is not a regressor */
        for (unsigned j = 0; j < k; j++) {
            int any = 0;
            for (unsigned i = 0; i < n && !any; i++)
                any = fb->z[(size_t)i * k + j] != 0;
            if (!any)
                continue;
            for (unsigned i = 0; i < n; i++)
                fb->z[(size_t)i * k + kz] = fb->z[(size_t)i * k + j];
            kz++;
        }
        /* a nuisance column per route costs degrees of freedom: only when
         * the rows can carry them */
        if (n < 3 * (k + kz) + 12)
            kz = 0;
    }
    /* z is n x k in memory with kz used columns: repack to n x kz */
    for (unsigned i = 0; lag && kz && i < n; i++)
        memmove(fb->z + (size_t)i * kz, fb->z + (size_t)i * k, kz * sizeof *fb->z);
    struct attrib_problem pr = {
        .n = n, .k = k, .y = fb->y, .x = fb->x, .first = fb->first, .dt = fb->dt, .group = fb->group,
        .max_cols = (unsigned)ac->max_routes,
        .small_df_above = small_df ? (double)ac->min_leak_bytes : INFINITY,
        .z = kz ? fb->z : NULL, .kz = kz,
    };
    return attrib_fit(&pr, ac->min_requests, fb->coef, info);
}

static void route_reason(struct attrib_route *ar, const struct config_attrib *ac, int heap_source)
{
    char a[32], b[32], c[32], d[32];
    static const enum attrib_metric order[3] = { ATTRIB_HEAP, ATTRIB_RSS, ATTRIB_EXT };
    enum attrib_verdict best = V_UNKNOWN;
    int bm = -1;

    /* leaking and suspect on any metric count (a leak can show in RSS and not
     * in the heap); clean, warming and unknown are read on the primary
     * metric: the heap floor when the source has one, else RSS */
    enum attrib_metric primary = heap_source ? ATTRIB_HEAP : ATTRIB_RSS;
    for (int i = 0; i < 3; i++) {
        enum attrib_metric m = order[i];
        if (ar->est[m].verdict >= V_SUSPECT && ar->est[m].verdict > best) {
            best = ar->est[m].verdict;
            bm = (int)m;
        }
    }
    if (bm < 0 && ar->est[primary].verdict != V_UNKNOWN) {
        best = ar->est[primary].verdict;
        bm = (int)primary;
    }
    ar->verdict = best;
    ar->metric[0] = '\0';
    if (bm < 0) {
        if (!ar->reason[0])
            snprintf(ar->reason, sizeof ar->reason, "no estimate yet");
        return;
    }
    snprintf(ar->metric, sizeof ar->metric, "%s", attrib_metric_names[bm]);
    const struct attrib_est *e = &ar->est[bm];
    fmt_bytes(a, sizeof a, e->beta);
    fmt_bytes(b, sizeof b, e->low);
    fmt_bytes(c, sizeof c, e->high);
    fmt_bytes(d, sizeof d, (double)ac->min_leak_bytes);
    switch (best) {
    case V_LEAKING: {
        char r[32], x[96] = "";
        fmt_bytes(r, sizeof r, e->recent);
        const struct attrib_est *ext = &ar->est[ATTRIB_EXT];
        if (bm == ATTRIB_RSS && ext->ok && ext->verdict >= V_SUSPECT) {
            char xe[32];
            fmt_bytes(xe, sizeof xe, ext->beta);
            snprintf(x, sizeof x, "; of it, %s per request on external (Buffers)", xe);
        }
        snprintf(ar->reason, sizeof ar->reason,
                 "retains %s per request on %s (95%%: %s to %s) over %.0f requests, and still %s/request "
                 "in the newest half of the window%s%s",
                 a, ar->metric, b, c, e->n, r,
                 bm != ATTRIB_HEAP && ar->est[ATTRIB_HEAP].verdict == V_CLEAN
                     ? "; the V8 heap is clean: native memory (Buffers, addons)" : "", x);
        break;
    }
    case V_SUSPECT:
        if (bm == ATTRIB_RSS && ar->rss_held[0])
            snprintf(ar->reason, sizeof ar->reason,
                     "retains %s per request on rss (95%%: %s to %s) but not on the heap, while route \"%s\" "
                     "leaks on the heap: RSS follows a heap leak late and in steps that land in any route's "
                     "intervals, so this is not named a leak while that one runs (switch it to csr, or see "
                     "external for Buffers)", a, b, c, ar->rss_held);
        else if (e->low > ac->min_leak_bytes)
            snprintf(ar->reason, sizeof ar->reason,
                     "retains %s per request on %s (95%%: %s to %s); confirming: a leak is named after "
                     "growth persists over %d requests of the route and two evaluations (has %.0f)",
                     a, ar->metric, b, c, ac->confirm_requests, e->n);
        else
            snprintf(ar->reason, sizeof ar->reason,
                     "memory grows with its requests on %s (%s per request, 95%%: %s to %s) but not yet "
                     "provably above the %s threshold", ar->metric, a, b, c, d);
        break;
    case V_WARMING:
        if (ar->has_first && ar->first_request_bytes > 1024 * 1024 && e->verdict == V_WARMING &&
            e->high < ac->min_leak_bytes) {
            fmt_bytes(a, sizeof a, ar->first_request_bytes);
            snprintf(ar->reason, sizeof ar->reason,
                     "one-time growth of %s at its first request (module loading, a cache filled once); "
                     "nothing retained per request since", a);
        } else {
            char r[32];
            fmt_bytes(r, sizeof r, e->recent);
            snprintf(ar->reason, sizeof ar->reason,
                     "grew %s per request on %s over the window, but only %s per request in its newest "
                     "half: a cache filling up or a warm-up, levelling off", a, ar->metric, r);
        }
        break;
    case V_CLEAN:
        snprintf(ar->reason, sizeof ar->reason,
                 "retains at most %s per request on %s (95%% upper bound) over %.0f requests: under the %s threshold",
                 c, ar->metric, e->n, d);
        break;
    default:
        break;
    }
}

void attrib_metric_verdict(struct attrib_est *e, const struct attrib_coef *full,
                           const struct attrib_coef *recent, const struct config_attrib *ac,
                           uint64_t rows_now, char *why, size_t whylen)
{
    double thr = (double)ac->min_leak_bytes;

    e->prev_verdict = e->verdict;
    e->ok = full->ok;
    e->n = full->n;
    e->beta = full->beta;
    e->low = full->low;
    e->high = full->high;
    e->recent_ok = recent && recent->ok;
    if (e->recent_ok) {
        e->recent = recent->beta;
        e->recent_low = recent->low;
        e->recent_high = recent->high;
    }
    if (!full->ok) {
        e->verdict = V_UNKNOWN;
        e->streak = 0;
        if (why && full->why)
            snprintf(why, whylen, "%s (%.0f requests)", full->why, full->n);
        return;
    }
    /* A leak is proven on the whole window (whose interval is the one
     * published) and still present in the newest rows. The proof uses a
     * stricter quantile (99 % instead of 95 %) because many routes and
     * metrics are tested at every evaluation, on the coefficient's own
     * small-sample (Bell-McCaffrey) degrees of freedom: with few memory
     * intervals, or a route whose requests sit in a few of them, HC3 errors
     * are optimistic and the t quantile has to make up for it. */
    double low99 = full->beta - attrib_t_quantile(0.995, full->df_small) * full->se;
    e->test_low = low99;
    e->test_df = full->df_small;
    /* the newest rows must prove growth above the threshold on their own,
     * at the same 99 % and small-sample df as the whole window (the same
     * many tests at every evaluation), not just lean that way: a cache
     * filling retains less and less per request, and with designed rows
     * the whole-window proof can come while it fills or soon after, when
     * the newest half still holds the end of the filling (the Vue demo's
     * 200-entry cache, named on a 95 % newest-half test at ~290 of its
     * requests in 2 of 10 seeds at full speed); a leak keeps its rate in
     * the newest rows */
    double recent_low99 = e->recent_ok ? recent->beta - attrib_t_quantile(0.995, recent->df_small) * recent->se : 0;
    int candidate = e->recent_ok && low99 > thr && recent->beta > thr && recent_low99 > thr;
    if (candidate) {
        if (rows_now != e->streak_rows)
            e->streak++;             /* persistence counts new memory readings only */
        e->streak_rows = rows_now;
    } else {
        e->streak = 0;
    }
    /* Once named, a leak stays named while the published interval still
     * clears the threshold and the newest rows, when they can say, do not
     * show it stopped: a verdict changes on evidence against it, not on a
     * pause in the evidence (a few idle rows after the load ends widen the
     * small-sample quantile for a moment). */
    int holds = e->verdict == V_LEAKING && full->low > thr && !(e->recent_ok && recent->beta < thr);
    if ((candidate && e->streak >= 2 && full->n >= ac->confirm_requests) || holds)
        e->verdict = V_LEAKING;
    else if (full->low > thr && e->recent_ok && recent->low <= 0 && recent->beta < thr)
        e->verdict = V_WARMING;       /* it grew, and it stopped */
    else if (full->high < thr)
        e->verdict = V_CLEAN;
    else if (full->beta > thr && full->low > 0)
        e->verdict = V_SUSPECT;
    else {
        e->verdict = V_UNKNOWN;
        if (why) {
            char a[32], b[32];
            fmt_bytes(a, sizeof a, full->low);
            fmt_bytes(b, sizeof b, full->high);
            snprintf(why, whylen, "not enough evidence yet: between %s and %s per request", a, b);
        }
    }
}

/* The route's median latency over the requests since the last evaluation
 * against the upstream's heap floor then: one point per evaluation, the
 * newest ATTRIB_LAT_POINTS kept, and the least-squares slope with its 95 % interval. The
 * median rather than the mean, and of at least ATTRIB_LAT_MIN_REQUESTS
 * requests (a rare route's point spans several evaluations): one slow
 * request (a cold cache, a GC pause) should not make a point. */
static void latency_trend(struct attrib_route *ar, const struct stats_route *rs, double floor_mb)
{
    uint64_t cnt = rs->latency.count;
    if (ar->lat_prev == NULL) {
        ar->lat_prev = calloc(HIST_BUCKETS, sizeof *ar->lat_prev);
        if (ar->lat_prev == NULL)
            return;
        memcpy(ar->lat_prev, rs->latency.bucket, sizeof rs->latency.bucket);
        ar->lat_prev_count = cnt;
        return;
    }
    if (cnt - ar->lat_prev_count < ATTRIB_LAT_MIN_REQUESTS)
        return;                       /* too few for a median yet: keep counting */
    if (floor_mb > 0) {
        double p50_ms = hist_delta_quantile(&rs->latency, ar->lat_prev, 0.5) / 1000.0;
        unsigned i = (ar->lat_head + ar->lat_n) % ATTRIB_LAT_POINTS;
        if (ar->lat_n == ATTRIB_LAT_POINTS)
            ar->lat_head = (ar->lat_head + 1) % ATTRIB_LAT_POINTS;
        else
            ar->lat_n++;
        ar->lat_x[i] = floor_mb;
        ar->lat_y[i] = p50_ms;
    }
    memcpy(ar->lat_prev, rs->latency.bucket, sizeof rs->latency.bucket);
    ar->lat_prev_count = cnt;
    ar->trend_ok = 0;
    if (ar->lat_n < 8)
        return;
    double mx = 0, my = 0;
    for (unsigned i = 0; i < ar->lat_n; i++) {
        mx += ar->lat_x[i];
        my += ar->lat_y[i];
    }
    mx /= ar->lat_n;
    my /= ar->lat_n;
    double sxx = 0, sxy = 0;
    for (unsigned i = 0; i < ar->lat_n; i++) {
        sxx += (ar->lat_x[i] - mx) * (ar->lat_x[i] - mx);
        sxy += (ar->lat_x[i] - mx) * (ar->lat_y[i] - my);
    }
    if (sxx < 1.0)                    /* the floor moved less than ~1 MB: no lever */
        return;
    double slope = sxy / sxx, sse = 0;
    for (unsigned i = 0; i < ar->lat_n; i++) {
        double r = ar->lat_y[i] - my - slope * (ar->lat_x[i] - mx);
        sse += r * r;
    }
    int df = (int)ar->lat_n - 2;
    double se = sqrt(sse / df / sxx), tq = attrib_t975(df);
    ar->trend_ok = 1;
    ar->trend = slope;
    ar->trend_low = slope - tq * se;
    ar->trend_high = slope + tq * se;
}

/* Time until a worker reaches its limit: the growth rate of the summed
 * floor (or RSS) over the window, shared evenly among the live workers,
 * against each worker's own limit (its V8 heap limit, cgroup memory.max, or
 * memory.limit_bytes); the soonest worker is reported. */
static void projection(struct app *app)
{
    struct attrib *at = app->attrib;
    const struct series *s = &app->series;
    unsigned alive = 0;
    int heap = 0;

    at->proj_ok = 0;
    for (unsigned i = 0; i < s->nw; i++) {
        const struct series_worker *w = s->w[i];
        if (!w->alive)
            continue;
        alive++;
        if (w->last.flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV))
            heap = 1;
    }
    /* growth: least-squares slope of the summed row deltas against time */
    double sx = 0, sy = 0, sxx = 0, sxy = 0, acc = 0, t0 = -1;
    unsigned n = 0;
    /* memory.limit_bytes is a process or container limit: RSS is what it caps */
    if (app->cfg->memory.limit_bytes)
        heap = 0;
    enum attrib_metric m = heap ? ATTRIB_HEAP : ATTRIB_RSS;
    unsigned from = s->row_n > at->window_rows_used ? s->row_n - at->window_rows_used : 0;
    for (unsigned i = from; i < s->row_n; i++) {
        const struct series_row *r = series_row(s, i, NULL);
        if (!row_has(r, m))
            continue;
        acc += row_y(r, m);
        if (t0 < 0)
            t0 = (double)r->t0 / 1e6;
        double t = (double)r->t1 / 1e6 - t0;
        sx += t;
        sy += acc;
        sxx += t * t;
        sxy += t * acc;
        n++;
    }
    at->proj_metric = attrib_metric_names[m];
    at->limit_source = app->cfg->memory.limit_bytes ? "memory.limit_bytes" : "source";
    at->current_bytes = 0;
    at->limit_bytes = 0;
    at->minutes_to_limit = -1;
    if (n < 8 || alive == 0)
        return;
    double den = n * sxx - sx * sx;
    if (den <= 0)
        return;
    at->growth_bytes_per_s = (n * sxy - sx * sy) / den;
    at->proj_ok = 1;
    /* report the soonest worker; failing that one with a limit, else any */
    double share = at->growth_bytes_per_s / alive, best = -1;
    int rank_best = -1;
    for (unsigned i = 0; i < s->nw; i++) {
        const struct series_worker *w = s->w[i];
        if (!w->alive)
            continue;
        double cur = heap && (w->last.flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV)) ? (double)w->last.floor
                                                                                  : (double)w->last.rss;
        uint64_t lim = app->cfg->memory.limit_bytes ? (uint64_t)app->cfg->memory.limit_bytes : w->limit;
        double limit = lim && lim != UINT64_MAX ? (double)lim : 0;
        double mins = limit > cur && share > 0 ? (limit - cur) / share / 60.0 : -1;
        int rank = mins >= 0 ? 2 : limit > 0 ? 1 : 0;
        if (rank > rank_best || (rank == 2 && mins < best)) {
            rank_best = rank;
            best = mins;
            at->current_bytes = cur;
            at->limit_bytes = limit;
        }
    }
    at->minutes_to_limit = best;
}

static int attrib_resize(struct attrib *at, unsigned n)
{
    if (n <= at->nr)
        return 0;
    struct attrib_route *r = realloc(at->r, n * sizeof *r);
    if (r == NULL)
        return -1;
    memset(r + at->nr, 0, (n - at->nr) * sizeof *r);
    at->r = r;
    at->nr = n;
    return 0;
}

unsigned attrib_recent_start(const struct series *s, unsigned from, unsigned to)
{
    double total = 0, acc = 0;
    for (unsigned i = from; i < to; i++)
        total += series_row(s, i, NULL)->total;
    if (total <= 0)
        return from + (to - from) / 2;
    for (unsigned i = to; i-- > from;) {
        acc += series_row(s, i, NULL)->total;
        if (acc >= total / 2)
            return i;
    }
    return from;
}

/* RSS-only leaks while another route leaks on the heap. A heap leak grows
 * RSS too, but late and in steps (the heap commits pages when it next needs
 * them, young-generation resizing, fragmentation), and the steps land in
 * whichever rows come next: part of one route's heap leak is smeared over
 * every route's RSS estimate (measured: healthy routes at +10..+60 KB per
 * request on RSS beside a 103 KB heap leak, 3 of 10 seeds naming one).
 * So with heap figures, a route that leaks on RSS but neither on the heap
 * nor on external is held at suspect while another route's heap estimate is
 * suspect or leaking; <rss_held> names that route for the reason. */
static void rss_hold(struct app *app, struct attrib_route *r, unsigned k)
{
    int heap_leak = -1;
    double worst = 0;
    for (unsigned j = 0; j < k; j++) {
        r[j].rss_held[0] = '\0';
        const struct attrib_est *h = &r[j].est[ATTRIB_HEAP];
        if (h->verdict >= V_SUSPECT && h->beta * h->n > worst) {
            worst = h->beta * h->n;
            heap_leak = (int)j;
        }
    }
    if (heap_leak < 0 || app->cfg->memory.source < MEMSRC_HTTP)
        return;
    for (unsigned j = 0; j < k; j++) {
        struct attrib_est *e = r[j].est;
        if (e[ATTRIB_RSS].verdict != V_LEAKING || e[ATTRIB_HEAP].verdict >= V_SUSPECT ||
            e[ATTRIB_EXT].verdict == V_LEAKING || (int)j == heap_leak || j >= app->stats.n)
            continue;
        e[ATTRIB_RSS].verdict = V_SUSPECT;
        snprintf(r[j].rss_held, sizeof r[j].rss_held, "%s", stats_at(&app->stats, (unsigned)heap_leak)->name);
    }
}

/* A leak seen on RSS or external and not on the heap claims native memory
 * (Buffers, an addon's malloc). Those readings lag and jump (pages handed
 * back late, buffers freed by a concurrent sweeper: a healthy route read
 * 37 KB/request on external for a moment, another ~1 MB/request on RSS for
 * one evaluation, on synthetic apps under designed rows), so such a verdict
 * needs more: external memory lives inside RSS, so an external leak needs
 * RSS's 95 % lower end above zero too; an RSS leak without external needs
 * one more evaluation in a row (3) than a heap leak. A leak already named
 * stays named (the hysteresis of attrib_metric_verdict). */
static void native_corroborate(struct attrib_route *r, unsigned k)
{
    for (unsigned j = 0; j < k; j++) {
        struct attrib_est *e = r[j].est;
        struct attrib_est *x = &e[ATTRIB_EXT], *rs = &e[ATTRIB_RSS];
        if (e[ATTRIB_HEAP].verdict == V_LEAKING)
            continue;
        if (x->verdict == V_LEAKING && x->prev_verdict != V_LEAKING && !(rs->ok && rs->low > 0))
            x->verdict = V_SUSPECT;
        if (rs->verdict == V_LEAKING && rs->prev_verdict != V_LEAKING && x->verdict != V_LEAKING &&
            rs->streak < 3)
            rs->verdict = V_SUSPECT;
    }
}

void attrib_evaluate(struct app *app)
{
    struct attrib *at = app->attrib;
    const struct series *s = &app->series;
    const struct config_attrib *ac = &app->cfg->attrib;
    uint64_t t0 = app_now_us();
    unsigned k = s->ncols;

    if (at == NULL || attrib_resize(at, k) < 0)
        return;
    unsigned w = s->row_n < (unsigned)ac->window_rows ? s->row_n : (unsigned)ac->window_rows;
    unsigned from = s->row_n - w, half = attrib_recent_start(s, from, s->row_n);
    /* the newest half, but enough rows to fit every route it may hold */
    unsigned need = k + 12;
    if (s->row_n - half < need)
        half = s->row_n > need ? s->row_n - need : 0;
    if (half < from)
        half = from;
    at->window_rows_used = w;
    struct fitbuf fb = {
        .y = malloc((w + 1) * sizeof(double)), .x = malloc(((size_t)w * k + 1) * sizeof(double)),
        .dt = malloc((w + 1) * sizeof(double)), .z = malloc(((size_t)w * k + 1) * sizeof(double)),
        .first = malloc((size_t)w * k + 1), .group = malloc((w + 1) * sizeof(int64_t)),
        .coef = calloc(k + 1, sizeof(struct attrib_coef)),
    };
    struct attrib_coef *full = calloc(k + 1, sizeof *full);
    char (*why)[160] = calloc(k + 1, sizeof *why);
    if (!fb.y || !fb.x || !fb.dt || !fb.first || !fb.group || !fb.coef || !fb.z || !full || !why)
        goto out;

    for (unsigned j = 0; j < k; j++)
        at->r[j].reason[0] = '\0';
    for (int m = 0; m < ATTRIB_NMETRIC; m++) {
        struct attrib_fit_info info;
        int rc = fit_rows(app, (enum attrib_metric)m, from, s->row_n, &fb, &at->info[m], 1);
        memcpy(full, fb.coef, k * sizeof *full);
        int rrc = rc == 0 ? fit_rows(app, (enum attrib_metric)m, half, s->row_n, &fb, &info, 0) : -1;
        for (unsigned j = 0; j < k; j++) {
            struct attrib_route *ar = &at->r[j];
            if (rc < 0 && at->info[m].n == 0) {
                ar->est[m].verdict = V_UNKNOWN;
                ar->est[m].ok = 0;
                ar->est[m].streak = 0;
                continue;
            }
            attrib_metric_verdict(&ar->est[m], &full[j], rrc == 0 ? &fb.coef[j] : NULL, ac,
                                  s->rows_total, why[j], sizeof why[j]);
            /* a first-request cost is this route's only when no other route
             * started in the same interval */
            if (m == ATTRIB_HEAP && full[j].has_gamma && full[j].gamma_shared == 1) {
                ar->has_first = 1;
                ar->first_request_bytes = full[j].gamma;
            }
            if (ar->est[m].verdict == V_UNKNOWN && ar->reason[0] == '\0' && why[j][0])
                snprintf(ar->reason, sizeof ar->reason, "%s: %s", attrib_metric_names[m], why[j]);
        }
    }
    rss_hold(app, at->r, k);
    native_corroborate(at->r, k);
    /* one-time growth with nothing per request: warming */
    for (unsigned j = 0; j < k; j++) {
        struct attrib_route *ar = &at->r[j];
        struct attrib_est *h = &ar->est[ATTRIB_HEAP];
        if (ar->has_first && ar->first_request_bytes > 1024 * 1024 && h->ok && h->verdict == V_CLEAN &&
            full[j].has_gamma)
            h->verdict = V_WARMING;
        char keep[sizeof ar->reason];
        snprintf(keep, sizeof keep, "%s", ar->reason);
        route_reason(ar, ac, app->cfg->memory.source >= MEMSRC_HTTP);
        if (ar->verdict == V_UNKNOWN) {
            if (keep[0])
                snprintf(ar->reason, sizeof ar->reason, "%s", keep);
            else if (s->row_n == 0)
                snprintf(ar->reason, sizeof ar->reason, "no memory readings yet%s",
                         app->cfg->memory.source == MEMSRC_NONE ? ": configure a \"memory\" source" : "");
            else
                snprintf(ar->reason, sizeof ar->reason, "no requests in the window");
        }
    }
    /* latency against the heap floor */
    double floor_mb = 0;
    for (unsigned i = 0; i < s->nw; i++)
        if (s->w[i]->alive)
            floor_mb += (double)(s->w[i]->last.floor ? s->w[i]->last.floor : s->w[i]->last.rss) / 1048576.0;
    for (unsigned j = 0; j < k && j < app->stats.n; j++)
        latency_trend(&at->r[j], stats_at(&app->stats, j), floor_mb);
    projection(app);
out:
    free(fb.y);
    free(fb.x);
    free(fb.dt);
    free(fb.first);
    free(fb.group);
    free(fb.coef);
    free(fb.z);
    free(full);
    free(why);
    at->evaluations++;
    at->last_eval_us = app_now_us();
    at->last_cost_us = at->last_eval_us - t0;
    if (at->last_cost_us > at->max_cost_us)
        at->max_cost_us = at->last_cost_us;
}

/* New memory rows that make an evaluation due before attribution.interval_ms:
 * at full speed with designed rows, dozens of rows arrive per second, and a
 * verdict needs two evaluations that saw new rows; waiting the whole
 * interval would spend thousands of requests on nothing. */
#define ATTRIB_ROWS_PER_EVAL 20
#define ATTRIB_POLL_MS       250

static void attrib_tick(evutil_socket_t fd, short what, void *arg)
{
    struct app *app = arg;
    struct attrib *at = app->attrib;
    (void)fd;
    (void)what;
    uint64_t now = app_now_us();
    uint64_t interval_us = (uint64_t)app->cfg->attrib.interval_ms * 1000;
    /* keep the engine under ~2 % of one core however many routes there are */
    uint64_t min_gap_us = at->last_cost_us * 50;
    uint64_t since = now - at->last_eval_us;
    int rows_due = app->series.rows_total - at->rows_at_eval >= ATTRIB_ROWS_PER_EVAL;
    if (at->evaluations == 0 || since >= interval_us || (rows_due && since >= min_gap_us)) {
        at->rows_at_eval = app->series.rows_total;
        attrib_evaluate(app);
    }
    uint64_t next_us = (uint64_t)ATTRIB_POLL_MS * 1000;
    if (next_us > interval_us)
        next_us = interval_us;
    if (next_us < min_gap_us)
        next_us = min_gap_us;
    struct timeval tv = { (time_t)(next_us / 1000000), (suseconds_t)(next_us % 1000000) };
    event_add(at->timer, &tv);
}

int attrib_start(struct app *app)
{
    struct attrib *at = calloc(1, sizeof *at);
    if (at == NULL)
        return -1;
    at->timer = evtimer_new(app->base, attrib_tick, app);
    if (at->timer == NULL) {
        free(at);
        return -1;
    }
    app->attrib = at;
    struct timeval tv = { app->cfg->attrib.interval_ms / 1000, (app->cfg->attrib.interval_ms % 1000) * 1000 };
    event_add(at->timer, &tv);
    return 0;
}

void attrib_stop(struct app *app)
{
    struct attrib *at = app->attrib;
    if (at == NULL)
        return;
    event_free(at->timer);
    for (unsigned j = 0; j < at->nr; j++)
        free(at->r[j].lat_prev);
    free(at->r);
    free(at);
    app->attrib = NULL;
}

const char *const attrib_next_names[6] = { "none", "designed_rows", "probe", "bisect", "gc_url", "traffic" };

enum attrib_next attrib_next_step(const struct app *app, unsigned slot, unsigned captured,
                                  char *how, size_t len)
{
    const struct config_memory *mc = &app->cfg->memory;
    const struct attrib_route *ar = attrib_route_get(app, slot);
    const struct stats_route *r = slot < app->stats.n ? app->stats.slot[slot] : NULL;
    const char *name = r ? r->name : "?";

    how[0] = '\0';
    if (ar && ar->verdict != V_UNKNOWN && ar->verdict != V_SUSPECT)
        return NEXT_NONE;
    if (r == NULL || r->rendered == 0) {
        snprintf(how, len, "no rendered requests of %s yet: send some through the proxy", name);
        return NEXT_TRAFFIC;
    }
    int can_gc = mc->source == MEMSRC_HTTP && mc->gc_url;
    if (!can_gc) {
        if (mc->source == MEMSRC_NONE || mc->source == MEMSRC_HTTP) {
            snprintf(how, len, "add a forced-GC URL (memory.gc_url): exact floors, designed measurement rows "
                     "that separate routes under any load, and probes; without one, a bisection "
                     "(POST /api/bisect) can still tell which routes the growth follows");
            return NEXT_GC_URL;
        }
        snprintf(how, len, "the %s source has no forced GC: a bisection (POST /api/bisect) switches halves "
                 "of the routes to csr and follows the growth; or use an http source with a gc_url",
                 memsrc_kind_name(mc->source));
        return NEXT_BISECT;
    }
    /* a suspect has the evidence pointing at it: its own measurement
     * settles it fastest; an unknown one with captures too, when the
     * designed rows have not separated it */
    if (captured > 0 && (ar == NULL || ar->verdict == V_SUSPECT || !mc->design)) {
        snprintf(how, len, "probe it alone: POST /api/probe {\"route\": \"%s\"} replays %u captured "
                 "requests between forced GCs with live traffic held (seconds)%s", name, captured,
                 app->cfg->attrib.auto_probe ? "; attribution.auto_probe starts it" : "");
        return NEXT_PROBE;
    }
    if (mc->design) {
        snprintf(how, len, "designed measurement rows are running: each row admits a random half of the "
                 "routes, so %s's share varies and the interval narrows as rows arrive%s", name,
                 captured ? "; or probe it alone (POST /api/probe)" : "");
        return NEXT_ROWS;
    }
    snprintf(how, len, "turn on designed measurement rows (memory.rows.design), or send GET requests of %s "
             "so a probe has something to replay", name);
    return NEXT_ROWS;
}

const struct attrib_route *attrib_route_get(const struct app *app, unsigned slot)
{
    const struct attrib *at = app->attrib;
    if (at == NULL || slot >= at->nr || at->evaluations == 0)
        return NULL;
    return &at->r[slot];
}
