/* attrib.c -- the attribution engine. See attrib.h for the model and
 * docs/attribution.md for why each choice was made.
 *
 * Two layers. attrib_fit() turns a dense problem into route estimates in
 * steps (rows and columns chosen, the least-squares fit with the drift term
 * dropped when inseparable, one robust pass, the residuals' shape, the
 * coefficients and their small-sample df, the first-request costs), each a
 * static function over one work area; the statistics themselves (least
 * squares with a vanishing ridge, HC3 errors, the lag-1 inflation, t
 * quantiles) are fit.c's. The engine around it builds the problem from the
 * series rows every interval, runs it on each metric (heap floor, RSS,
 * external) over the whole window and over its newest half, and turns
 * estimates into verdicts with their reasons. The honesty rule lives in
 * both layers: a route whose requests cannot be separated from others' (too
 * few, or in fixed proportion: a large variance inflation) gets no
 * estimate, and no estimate means "unknown", never a guess. */
#include "attrib.h"
#include "fmt.h"
#include "app.h"
#include "config.h"
#include "fit.h"
#include "log.h"
#include "memsrc.h"
#include "series.h"
#include "stats.h"

#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const attrib_metric_names[ATTRIB_NMETRIC] = { "heap_used", "rss", "external" };
const char *const attrib_verdict_names[5] = { "unknown", "clean", "warming", "suspect", "leaking" };

/* ---- the fit ---------------------------------------------------------------- */

/* Small-sample degrees of freedom are worth their O(rows x nnz^2 + p^3)
 * only for coefficients that may be named leaks: those whose 99 % lower end
 * on the normal approximation (Phi^-1(0.995), two-sided 99 %) clears the
 * caller's threshold. */
#define Z995 2.576

/* Everything one attrib_fit() works in, carved from one allocation whose
 * size the problem fixes before anything is fitted: per route, per row, and
 * the design with its least-squares work at the most columns the fit can
 * have (P_MAX below; dropping the drift term only narrows it). */
struct fit_work {
    const struct attrib_problem *pr;
    unsigned n, k;                    /* rows, routes */
    /* per route: k */
    int *col;                         /* the route's design column, -1: none of its own */
    double *tot;                      /* its requests in the rows fitted */
    unsigned *rows;                   /* rows of the fit where it had requests */
    double *busiest;                  /* k: minus the requests of the routes with a column */
    /* per row: n */
    uint8_t *use;                     /* in the fit (not a first-request row, not an outlier) */
    uint8_t *busy;                    /* served requests (an idle row only moves with time) */
    uint8_t *sel;                     /* used and busy: where the spread is read */
    double *ae;                       /* |residual| of the busy rows, for the robust cut */
    /* the design: n x p, p <= p_max */
    unsigned p, p_max, p_routes;      /* columns; at most; without the drift term */
    int other, zcol, drift;           /* pooled small routes, first nuisance, drift: -1 if none */
    int any_other;                    /* some route with requests has no column of its own */
    double *X;                        /* n x p_max */
    struct fit_ls ls;                 /* FIT_LS_DOUBLES(n, p_max) doubles, p_max unsigned */
    void *block;
};

/* The most columns a fit can have: one per route, or the cap and the
 * pooled column, never more routes and pool than routes (the pool exists
 * only when some route has no column), the nuisance columns and the
 * drift. */
static unsigned p_max(const struct attrib_problem *pr)
{
    unsigned routes = pr->k;
    if (pr->max_cols && pr->max_cols + 1 < routes)
        routes = pr->max_cols + 1;
    return routes + (pr->z ? pr->kz : 0) + (pr->dt != NULL);
}

static int work_alloc(struct fit_work *w, const struct attrib_problem *pr)
{
    unsigned n = pr->n, k = pr->k, pm = p_max(pr);
    size_t nd = 2 * (size_t)k + (size_t)n + (size_t)n * pm + FIT_LS_DOUBLES(n, pm);
    size_t nu = 2 * (size_t)k + pm;   /* col, rows, nzi: int and unsigned */
    size_t nb = 3 * (size_t)n;
    char *b = calloc(1, nd * sizeof(double) + nu * sizeof(unsigned) + nb + 1);

    memset(w, 0, sizeof *w);
    if (b == NULL)
        return -1;
    w->block = b;
    w->pr = pr;
    w->n = n;
    w->k = k;
    w->p_max = pm;
    w->tot = (double *)b;
    w->busiest = w->tot + k;
    w->ae = w->busiest + k;
    w->X = w->ae + n;
    double *lsbuf = w->X + (size_t)n * pm;
    unsigned *u = (unsigned *)(lsbuf + FIT_LS_DOUBLES(n, pm));
    w->col = (int *)u;
    w->rows = u + k;
    unsigned *nzi = w->rows + k;
    w->use = (uint8_t *)(nzi + pm);
    w->busy = w->use + n;
    w->sel = w->busy + n;
    fit_ls_bind(&w->ls, n, pm, w->X, pr->y, lsbuf, nzi);
    return 0;
}

/* Step 1. Rows holding a route's first request carry its one-time cost
 * (module loading, tens of MB): they are left out of the fit, and the cost
 * is read off them afterwards. Counts each route's requests and rows in the
 * rest. */
static void count_rows(struct fit_work *w)
{
    const struct attrib_problem *pr = w->pr;
    unsigned n = w->n, k = w->k;

    for (unsigned i = 0; i < n; i++) {
        w->use[i] = 1;
        for (unsigned j = 0; pr->first && j < k; j++)
            if (pr->first[(size_t)i * k + j])
                w->use[i] = 0;
        for (unsigned j = 0; j < k && !w->busy[i]; j++)
            w->busy[i] = pr->x[(size_t)i * k + j] > 0;
    }
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < k; j++) {
            double v = pr->x[(size_t)i * k + j];
            if (!w->use[i])
                continue;
            w->tot[j] += v;
            w->rows[j] += v > 0;
        }
}

/* Step 2. Which routes get a column: enough requests, in enough rows. */
static void choose_columns(struct fit_work *w, double min_requests, struct attrib_coef *out)
{
    w->p = 0;
    for (unsigned j = 0; j < w->k; j++) {
        out[j].n = w->tot[j];
        out[j].rows = w->rows[j];
        w->col[j] = -1;
        if (w->tot[j] <= 0) {
            out[j].why = "no requests in the window";
            continue;
        }
        if (w->tot[j] < min_requests) {
            out[j].why = "too few requests in the window";
            w->any_other = 1;
            continue;
        }
        if (w->rows[j] < ATTRIB_MIN_ROWS_PER_ROUTE) {
            out[j].why = "requests in too few intervals";
            w->any_other = 1;
            continue;
        }
        w->col[j] = (int)w->p++;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Step 3. Bounded cost: only the <max_cols> busiest routes get a column of
 * their own (the fit is O(p^3)); the others are pooled. */
static void keep_busiest(struct fit_work *w, struct attrib_coef *out)
{
    unsigned cap = w->pr->max_cols, q = 0;

    if (!cap || w->p <= cap)
        return;
    for (unsigned j = 0; j < w->k; j++)
        if (w->col[j] >= 0)
            w->busiest[q++] = -w->tot[j];
    qsort(w->busiest, q, sizeof *w->busiest, cmp_double);
    double cut = -w->busiest[cap - 1];
    w->p = 0;
    for (unsigned j = 0; j < w->k; j++) {
        if (w->col[j] < 0)
            continue;
        if (w->tot[j] < cut || w->p == cap) {
            w->col[j] = -1;
            out[j].why = "not among the busiest routes the engine estimates (attribution.max_routes)";
            w->any_other = 1;
        } else {
            w->col[j] = (int)w->p++;
        }
    }
}

/* Step 4. The columns after the routes': the small routes together (their
 * memory is not noise), the nuisance regressors, the drift. */
static void add_columns(struct fit_work *w)
{
    const struct attrib_problem *pr = w->pr;

    w->other = w->zcol = w->drift = -1;
    if (w->any_other)
        w->other = (int)w->p++;
    if (pr->z && pr->kz) {
        w->zcol = (int)w->p;
        w->p += pr->kz;
    }
    w->p_routes = w->p;
    if (pr->dt)
        w->drift = (int)w->p++;
}

/* Step 5. The design matrix X (n x p) for the columns chosen. */
static void lay_out(struct fit_work *w)
{
    const struct attrib_problem *pr = w->pr;
    unsigned n = w->n, k = w->k, p = w->p;

    for (unsigned i = 0; i < n; i++) {
        double *xi = w->X + (size_t)i * p;
        memset(xi, 0, p * sizeof *xi);
        for (unsigned j = 0; j < k; j++) {
            double v = pr->x[(size_t)i * k + j];
            if (w->col[j] >= 0)
                xi[w->col[j]] = v;
            else if (w->other >= 0 && v > 0)
                xi[w->other] += v;
        }
        for (unsigned t = 0; w->zcol >= 0 && t < pr->kz; t++)
            xi[w->zcol + (int)t] = pr->z[(size_t)i * pr->kz + t];
        if (w->drift >= 0)
            xi[w->drift] = pr->dt[i];
    }
    w->ls.p = p;
}

/* Every route that had a column gets <why> and loses it. */
static void give_up(struct fit_work *w, struct attrib_coef *out, const char *why)
{
    for (unsigned j = 0; j < w->k; j++)
        if (w->col[j] >= 0) {
            w->col[j] = -1;
            out[j].why = why;
        }
}

/* Step 6. The least-squares fit. Under steady traffic the total request
 * count tracks time, and growth per second cannot be told from growth per
 * request: then the drift term goes, on the assumption that memory grows
 * with requests, not with time (reported as drift_dropped). */
static int solve(struct fit_work *w, struct attrib_coef *out, struct attrib_fit_info *info,
                 unsigned *used, double *sse)
{
    for (int attempt = 0;; attempt++) {
        info->p = w->p;
        lay_out(w);
        if (w->p == 0 || fit_ls_solve(&w->ls, w->use, used, sse) < 0) {
            give_up(w, out, "too few memory intervals in the window for the number of routes");
            return -1;
        }
        if (attempt == 0 && w->drift >= 0 && fit_ls_vif(&w->ls, (unsigned)w->drift) > ATTRIB_DRIFT_MAX_VIF) {
            w->drift = -1;
            w->p = w->p_routes;
            info->drift_dropped = 1;
            continue;
        }
        return 0;
    }
}

/* Step 7. One robust pass: a row far outside the residual spread (a
 * worker's own warm-up, a cache flushed at once) is dropped and the fit
 * redone. The spread is read on rows that served requests: idle rows (a
 * pause in the load) move the floor by almost nothing, and counted in they
 * would shrink the spread until ordinary busy rows looked like outliers. */
static int robust_pass(struct fit_work *w, struct attrib_fit_info *info, unsigned *used, double *sse)
{
    unsigned m = 0, dropped = 0;
    const double *e = w->ls.e;

    for (unsigned i = 0; i < w->n; i++)
        if (w->use[i] && w->busy[i])
            w->ae[m++] = fabs(e[i]);
    double cut = fit_outlier_cut(w->ae, m);
    for (unsigned i = 0; cut > 0 && i < w->n; i++)
        if (w->use[i] && fabs(e[i]) > cut && *used - dropped > w->p + FIT_MIN_DF) {
            w->use[i] = 0;
            dropped++;
        }
    if (dropped && fit_ls_solve(&w->ls, w->use, used, sse) < 0)
        return -1;
    info->outliers = dropped;
    return 0;
}

/* Step 8. The residuals' shape: the autocorrelation inflation (returned),
 * their spread and excess kurtosis into <info>. The kurtosis is read on
 * busy rows, as the spread above: idle rows' near-zero residuals are
 * another distribution, and mixed in they would fake a heavy tail. */
static double residual_shape(struct fit_work *w, struct attrib_fit_info *info, unsigned used, double sse)
{
    double rho = fit_lag1_rho(w->ls.e, w->use, w->pr->group, w->n);

    info->n = used;
    info->rho = rho;
    info->df = (int)used - (int)w->p;
    info->tq = fit_t975(info->df);
    info->resid_sd = info->df > 0 ? sqrt(sse / info->df) : 0;
    for (unsigned i = 0; i < w->n; i++)
        w->sel[i] = w->use[i] && w->busy[i];
    info->kurtosis = fit_excess_kurtosis(w->ls.e, w->sel, w->n);
    return fit_ar1_inflation(rho);
}

/* A fit is empty when the memory never moved in the rows used. */
static int floor_moved(const struct fit_work *w)
{
    for (unsigned i = 0; i < w->n; i++)
        if (w->use[i] && w->pr->y[i] != 0)
            return 1;
    return 0;
}

/* Step 9. Each route's estimate and 95 % interval; the small-sample df for
 * those that may be named leaks. */
static void coefficients(struct fit_work *w, struct attrib_coef *out, const struct attrib_fit_info *info,
                         double infl)
{
    const struct fit_ls *ls = &w->ls;

    for (unsigned j = 0; j < w->k; j++) {
        if (w->col[j] < 0)
            continue;
        unsigned c = (unsigned)w->col[j];
        struct attrib_coef *o = &out[j];
        o->beta = ls->beta[c];
        o->se = sqrt(ls->var[c] * infl);
        o->low = o->beta - info->tq * o->se;
        o->high = o->beta + info->tq * o->se;
        o->vif = fit_ls_vif(ls, c);
        o->df = info->df;
        o->df_small = info->df;
        if (info->df > 0 && o->beta - Z995 * o->se > w->pr->small_df_above) {
            o->df_small = fit_bm_df(ls, w->use, c, info->kurtosis);
            if (o->df_small > info->df)
                o->df_small = info->df;
        }
        if (o->vif > ATTRIB_MAX_VIF)
            o->why = "not identifiable: its traffic moves in step with other routes";
        else
            o->ok = 1;
    }
}

/* Step 10. One-time costs: what a first-request row holds beyond the fit,
 * shared evenly by the routes that started in it. */
static void first_request_costs(const struct fit_work *w, struct attrib_coef *out,
                                const struct attrib_fit_info *info)
{
    const struct attrib_problem *pr = w->pr;
    unsigned k = w->k;

    for (unsigned i = 0; pr->first && i < w->n; i++) {
        unsigned firsts = 0;
        for (unsigned j = 0; j < k; j++)
            firsts += pr->first[(size_t)i * k + j] != 0;
        if (firsts == 0)
            continue;
        double excess = w->ls.e[i] / firsts;
        for (unsigned j = 0; j < k; j++)
            if (pr->first[(size_t)i * k + j]) {
                out[j].has_gamma = 1;
                out[j].gamma = excess;
                out[j].gamma_se = info->resid_sd;
                out[j].gamma_shared = firsts;
            }
    }
}

int attrib_fit(const struct attrib_problem *pr, double min_requests,
               struct attrib_coef *out, struct attrib_fit_info *info)
{
    struct fit_work w;
    unsigned used;
    double sse;
    int rc = -1;

    memset(info, 0, sizeof *info);
    memset(out, 0, (size_t)pr->k * sizeof *out);
    if (work_alloc(&w, pr) < 0)
        return -1;
    count_rows(&w);
    choose_columns(&w, min_requests, out);
    keep_busiest(&w, out);
    add_columns(&w);
    info->n = w.n;
    if (solve(&w, out, info, &used, &sse) < 0 || robust_pass(&w, info, &used, &sse) < 0)
        goto out;
    if (!floor_moved(&w)) {
        give_up(&w, out, "the memory floor did not move at all in the window (an envelope still filling?)");
        goto out;
    }
    double infl = residual_shape(&w, info, used, sse);
    coefficients(&w, out, info, infl);
    first_request_costs(&w, out, info);
    if (w.drift >= 0) {
        info->drift = w.ls.beta[w.drift];
        info->drift_se = sqrt(w.ls.var[w.drift] * infl);
    }
    rc = 0;
out:
    free(w.block);
    return rc;
}

/* ---- the engine ------------------------------------------------------------- */

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
    double low99 = full->beta - fit_t_quantile(0.995, full->df_small) * full->se;
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
    double recent_low99 = e->recent_ok ? recent->beta - fit_t_quantile(0.995, recent->df_small) * recent->se : 0;
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
    double se = sqrt(sse / df / sxx), tq = fit_t975(df);
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
    if (heap_leak < 0 || !memsrc_has_heap(app->cfg->memory.source))
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

/* Where the recent fit starts in window [from, row_n): the newest half,
 * but enough rows to fit every route it may hold (<k> routes). */
static unsigned recent_from(const struct series *s, unsigned from, unsigned k)
{
    unsigned half = attrib_recent_start(s, from, s->row_n), need = k + 12;
    if (s->row_n - half < need)
        half = s->row_n > need ? s->row_n - need : 0;
    return half < from ? from : half;
}

/* Metric <m>: the whole-window fit (kept in <full>), the newest rows' fit,
 * each route's verdict on it; <why> collects the reasons for unknown. */
static void metric_verdicts(struct app *app, enum attrib_metric m, unsigned from, unsigned half,
                            struct fitbuf *fb, struct attrib_coef *full, char (*why)[160])
{
    struct attrib *at = app->attrib;
    const struct series *s = &app->series;
    unsigned k = s->ncols;
    struct attrib_fit_info info;
    int rc = fit_rows(app, m, from, s->row_n, fb, &at->info[m], 1);

    memcpy(full, fb->coef, k * sizeof *full);
    int rrc = rc == 0 ? fit_rows(app, m, half, s->row_n, fb, &info, 0) : -1;
    for (unsigned j = 0; j < k; j++) {
        struct attrib_route *ar = &at->r[j];
        if (rc < 0 && at->info[m].n == 0) {
            ar->est[m].verdict = V_UNKNOWN;
            ar->est[m].ok = 0;
            ar->est[m].streak = 0;
            continue;
        }
        attrib_metric_verdict(&ar->est[m], &full[j], rrc == 0 ? &fb->coef[j] : NULL, &app->cfg->attrib,
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

/* Each route's verdict across the metrics and its reason; one-time growth
 * with nothing per request is warming. <full> is the whole-window fit of
 * the metric fitted last (external): its has_gamma says a first-request row
 * of the route is still in that metric's window. */
static void route_verdicts(struct app *app, const struct attrib_coef *full)
{
    struct attrib *at = app->attrib;
    const struct series *s = &app->series;

    for (unsigned j = 0; j < s->ncols; j++) {
        struct attrib_route *ar = &at->r[j];
        struct attrib_est *h = &ar->est[ATTRIB_HEAP];
        if (ar->has_first && ar->first_request_bytes > 1024 * 1024 && h->ok && h->verdict == V_CLEAN &&
            full[j].has_gamma)
            h->verdict = V_WARMING;
        char keep[sizeof ar->reason];
        snprintf(keep, sizeof keep, "%s", ar->reason);
        route_reason(ar, &app->cfg->attrib, memsrc_has_heap(app->cfg->memory.source));
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
}

/* Latency against the heap floor (RSS where a worker has none), summed
 * over the live workers. */
static void latency_trends(struct app *app)
{
    const struct series *s = &app->series;
    double floor_mb = 0;
    for (unsigned i = 0; i < s->nw; i++)
        if (s->w[i]->alive)
            floor_mb += (double)(s->w[i]->last.floor ? s->w[i]->last.floor : s->w[i]->last.rss) / 1048576.0;
    for (unsigned j = 0; j < s->ncols && j < app->stats.n; j++)
        latency_trend(&app->attrib->r[j], stats_at(&app->stats, j), floor_mb);
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
    unsigned from = s->row_n - w, half = recent_from(s, from, k);
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
    for (int m = 0; m < ATTRIB_NMETRIC; m++)
        metric_verdicts(app, (enum attrib_metric)m, from, half, &fb, full, why);
    rss_hold(app, at->r, k);
    native_corroborate(at->r, k);
    route_verdicts(app, full);
    latency_trends(app);
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

/* ---- JSON views (the admin API's, see attrib.h) ----------------------------- */

static json_t *est_json(const struct attrib_est *e)
{
    if (!e->ok)
        return json_null();
    json_t *j = json_pack("{s:f,s:f,s:f,s:I,s:s}",
                          "bytes_per_request", round(e->beta), "low", round(e->low),
                          "high", round(e->high), "requests", (json_int_t)e->n,
                          "verdict", attrib_verdict_names[e->verdict]);
    if (e->recent_ok)
        json_object_set_new(j, "recent", json_pack("{s:f,s:f,s:f}", "bytes_per_request", round(e->recent),
                                                   "low", round(e->recent_low), "high", round(e->recent_high)));
    /* what the leak test saw: its 99 % lower end and degrees of freedom */
    if (isfinite(e->test_low))
        json_object_set_new(j, "leak_test", json_pack("{s:f,s:f}", "low99", round(e->test_low),
                                                      "df", round(e->test_df * 10) / 10));
    return j;
}

/* What would settle the route: null when its verdict is settled. */
static json_t *next_step_json(const struct app *app, unsigned slot, unsigned captured)
{
    char how[400];
    enum attrib_next n = attrib_next_step(app, slot, captured, how, sizeof how);
    if (n == NEXT_NONE)
        return json_null();
    return json_pack("{s:s,s:s}", "experiment", attrib_next_names[n], "how", how);
}

void attrib_route_json(const struct app *app, unsigned slot, unsigned captured, json_t *j)
{
    const struct attrib_route *ar = attrib_route_get(app, slot);
    json_object_set_new(j, "next_step", next_step_json(app, slot, captured));
    if (ar == NULL) {
        json_object_set_new(j, "estimate", json_object());
        json_object_set_new(j, "verdict", json_string("unknown"));
        json_object_set_new(j, "reason", json_string(app->cfg->memory.source == MEMSRC_NONE
            ? "no memory source configured (\"memory\" in the config)" : "no evaluation yet"));
        json_object_set_new(j, "first_request_bytes", json_null());
        json_object_set_new(j, "latency_trend", json_null());
        return;
    }
    json_t *est = json_object();
    for (int m = 0; m < ATTRIB_NMETRIC; m++)
        if (ar->est[m].ok)
            json_object_set_new(est, attrib_metric_names[m], est_json(&ar->est[m]));
    json_object_set_new(j, "estimate", est);
    json_object_set_new(j, "verdict", json_string(attrib_verdict_names[ar->verdict]));
    json_object_set_new(j, "verdict_metric", ar->metric[0] ? json_string(ar->metric) : json_null());
    json_object_set_new(j, "reason", json_string(ar->reason));
    json_object_set_new(j, "first_request_bytes",
                        ar->has_first ? json_real(round(ar->first_request_bytes)) : json_null());
    json_object_set_new(j, "latency_trend", ar->trend_ok
        ? json_pack("{s:f,s:f,s:f,s:s}", "ms_per_mb", ar->trend, "low", ar->trend_low,
                    "high", ar->trend_high, "rises_with_memory",
                    ar->trend_low > 0 ? "yes" : ar->trend_high < 0 ? "no" : "unclear")
        : json_null());
}

json_t *attrib_engine_json(const struct app *app)
{
    const struct attrib *at = app->attrib;
    json_t *engine = json_object();
    if (at == NULL)
        return engine;
    json_t *fits = json_object();
    for (int m = 0; m < ATTRIB_NMETRIC; m++) {
        const struct attrib_fit_info *fi = &at->info[m];
        json_object_set_new(fits, attrib_metric_names[m],
            json_pack("{s:i,s:i,s:i,s:f,s:f,s:f,s:f,s:i,s:b}", "rows", (int)fi->n, "parameters", (int)fi->p,
                      "df", fi->df, "residual_sd_bytes", fi->resid_sd, "lag1_autocorrelation", fi->rho,
                      "residual_excess_kurtosis", fi->kurtosis,
                      "drift_bytes_per_s", fi->drift, "outliers", (int)fi->outliers,
                      "drift_dropped", fi->drift_dropped));
    }
    json_object_set_new(engine, "fits", fits);
    json_object_set_new(engine, "evaluations", json_integer((json_int_t)at->evaluations));
    json_object_set_new(engine, "last_cost_ms", json_real((double)at->last_cost_us / 1000.0));
    json_object_set_new(engine, "max_cost_ms", json_real((double)at->max_cost_us / 1000.0));
    json_object_set_new(engine, "window_rows", json_integer(at->window_rows_used));
    if (at->proj_ok)
        json_object_set_new(engine, "projection", json_pack("{s:s,s:f,s:f,s:o,s:o,s:s}",
            "metric", at->proj_metric, "growth_bytes_per_s", at->growth_bytes_per_s,
            "current_bytes", at->current_bytes,
            "limit_bytes", at->limit_bytes > 0 ? json_real(at->limit_bytes) : json_null(),
            "minutes_to_limit", at->minutes_to_limit >= 0 && at->limit_bytes > 0
                                    ? json_real(at->minutes_to_limit) : json_null(),
            "limit_source", at->limit_bytes > 0 ? at->limit_source : "unknown"));
    return engine;
}
