/* attrib.h -- the attribution engine: retained bytes per request per route,
 * with a 95 % interval and a verdict that says "unknown" rather than guess.
 *
 * Model (docs/attribution.md has the assumptions and the measurements):
 * each row of the series is one interval between two floor readings of one
 * worker (or of all workers together), and
 *     d_floor = sum_r beta_r * n_r  +  alpha * dt  +  e
 * where n_r counts the requests of route r the upstream answered in the
 * interval and alpha is growth not tied to requests. One-time costs (module
 * loading at a route's first request) are kept out: the interval holding a
 * route's first request is left out of the fit and its excess over the fit
 * is that route's first-request cost; one robust pass drops other rows far
 * outside the residual spread (another worker's warm-up).
 * Fitted by least squares over a sliding window of rows; intervals from HC3
 * (heteroskedasticity-consistent, small-sample) errors inflated for positive
 * residual autocorrelation, with Student t quantiles on the residual degrees
 * of freedom. The same fit on the newest half of the window says whether the
 * growth is still scaling with requests. Everything runs on a timer, off the
 * request path, on fixed-size inputs. */
#ifndef LEAKPROXY_ATTRIB_H
#define LEAKPROXY_ATTRIB_H
#include <stddef.h>
#include <stdint.h>

#include "route.h"

enum attrib_metric { ATTRIB_HEAP, ATTRIB_RSS, ATTRIB_EXT, ATTRIB_NMETRIC };
extern const char *const attrib_metric_names[ATTRIB_NMETRIC];   /* "heap_used", "rss", "external" */

enum attrib_verdict { V_UNKNOWN, V_CLEAN, V_WARMING, V_SUSPECT, V_LEAKING };
extern const char *const attrib_verdict_names[5];

/* ---- the fit (pure: no engine; its statistics are fit.h's) --------------- */

struct attrib_problem {
    unsigned n;                       /* rows */
    unsigned k;                       /* route columns */
    const double *y;                  /* n: the response (bytes) */
    const double *x;                  /* n * k, row-major: requests per route */
    const uint8_t *first;             /* n * k or NULL: 1 where the route's first request is */
    const double *dt;                 /* n: interval length, seconds (NULL: no drift term) */
    const int64_t *group;             /* n or NULL: rows of one worker share a group */
    unsigned max_cols;                /* 0: no cap; else only the busiest routes get a column */
    double small_df_above;            /* small-sample df only for coefficients whose 99 % lower
                                       * end clears this (they may be named leaks) */
    const double *z;                  /* n * kz or NULL: nuisance regressors, always in the fit,
                                       * never reported (fit_rows: floor readings that lag) */
    unsigned kz;
};

struct attrib_coef {
    int ok;                           /* estimated (else see why) */
    const char *why;                  /* when !ok: why not */
    double beta, se, low, high;       /* bytes per request; 95 % interval */
    double vif;                       /* variance inflation (collinearity) */
    int df;                           /* residual degrees of freedom of the fit */
    double df_small;                  /* Bell-McCaffrey degrees of freedom of this coefficient's
                                       * HC3 variance (== df when not computed) */
    double n;                         /* requests of this route in the rows */
    unsigned rows;                    /* rows where this route had requests */
    int has_gamma;
    double gamma, gamma_se;           /* one-time cost at the first request */
    unsigned gamma_shared;            /* routes whose first request shared that interval */
};

struct attrib_fit_info {
    unsigned n, p;                    /* rows and parameters */
    int df;
    double tq;                        /* t quantile used */
    double rho;                       /* lag-1 residual autocorrelation */
    double resid_sd;
    double kurtosis;                  /* excess kurtosis of the residuals (>= 0) */
    double drift, drift_se;           /* alpha: bytes per second not tied to requests */
    unsigned outliers;                /* rows the robust pass left out */
    int drift_dropped;                /* steady traffic: no separate growth per second */
};

#define ATTRIB_MIN_ROWS_PER_ROUTE 4
#define ATTRIB_MAX_VIF            1000.0   /* near-exact collinearity: the SE means nothing */
#define ATTRIB_LAT_MIN_REQUESTS   5        /* requests behind one latency-trend point */
#define ATTRIB_LAT_POINTS         64       /* latency-trend points kept */
#define ATTRIB_DRIFT_MAX_VIF      1000.0   /* growth per second dropped only when inseparable */

/* Fits <pr>; fills out[k] and <info>. Columns with fewer than <min_requests>
 * requests or ATTRIB_MIN_ROWS_PER_ROUTE rows are left out (ok = 0). Returns 0,
 * or -1 when nothing can be estimated (too few rows; out[].why says so). */
int attrib_fit(const struct attrib_problem *pr, double min_requests,
               struct attrib_coef *out, struct attrib_fit_info *info);


/* ---- the engine ----------------------------------------------------------- */

struct app;
struct config_attrib;

struct attrib_est {                   /* one route, one metric */
    int ok;
    double beta, low, high;
    double recent, recent_low, recent_high;
    int recent_ok;
    double n;                         /* requests in the window */
    double test_low, test_df;         /* the leak test: 99 % lower end on its small-sample df */
    enum attrib_verdict verdict;
    enum attrib_verdict prev_verdict; /* before this evaluation */
    unsigned streak;                  /* consecutive evaluations as a leak candidate */
    uint64_t streak_rows;             /* rows seen at the last counted evaluation */
};

struct attrib_route {
    enum attrib_verdict verdict;
    char reason[512];
    char metric[16];                  /* the metric that decided, "" if none */
    char rss_held[ROUTE_NAME_MAX + 1]; /* RSS leak held back: the route leaking on the heap */
    struct attrib_est est[ATTRIB_NMETRIC];
    int has_first;
    double first_request_bytes;       /* one-time cost at the route's first request */
    /* latency against memory: (heap floor, median latency of the requests
     * since the previous evaluation) per evaluation */
    double lat_x[ATTRIB_LAT_POINTS], lat_y[ATTRIB_LAT_POINTS];
    unsigned lat_n, lat_head;
    uint64_t *lat_prev;               /* the latency histogram's buckets then (HIST_BUCKETS) */
    uint64_t lat_prev_count;
    int trend_ok;
    double trend, trend_low, trend_high;   /* ms of latency per MB of heap floor */
};

struct attrib {
    struct attrib_route *r;           /* per stats slot */
    unsigned nr;
    struct event *timer;
    uint64_t evaluations, last_cost_us, max_cost_us;
    uint64_t last_eval_us;
    uint64_t rows_at_eval;            /* series rows_total at the last timed evaluation */
    unsigned window_rows_used;
    struct attrib_fit_info info[ATTRIB_NMETRIC];
    /* projection */
    int proj_ok;
    double growth_bytes_per_s, current_bytes, limit_bytes, minutes_to_limit;
    const char *proj_metric, *limit_source;
};

/* The verdict of one metric of one route from its whole-window fit <full>
 * and its newest-rows fit <recent> (NULL if none); updates e->streak, the
 * count of consecutive evaluations that looked like a leak. A leak needs two
 * such evaluations and confirm_requests requests; growth that stopped in the
 * newest rows is "warming". <why> gets the reason when the verdict is
 * unknown. <rows_now> (rows emitted so far) makes persistence count only
 * evaluations that saw new memory readings. */
void attrib_metric_verdict(struct attrib_est *e, const struct attrib_coef *full,
                           const struct attrib_coef *recent, const struct config_attrib *ac,
                           uint64_t rows_now, char *why, size_t whylen);

struct series;
/* Where the "newest half" of series rows [from, to) starts: the newest rows
 * that hold half of the window's requests (half the rows if none). Counting
 * requests rather than rows keeps the recent fit on traffic when the load
 * pauses: idle rows after the load ends would otherwise fill the newest
 * half, leave every route without a recent estimate and demote a proven
 * leak for want of evidence. */
unsigned attrib_recent_start(const struct series *s, unsigned from, unsigned to);

/* What would separate a route the engine cannot call yet ("unknown leads
 * somewhere"): the experiment, and in <how> what to do or what runs. */
enum attrib_next {
    NEXT_NONE,                        /* the verdict is settled */
    NEXT_ROWS,                        /* designed rows are running: more rows will say */
    NEXT_PROBE,                       /* a probe of the route alone (POST /api/probe) */
    NEXT_BISECT,                      /* no forced GC: switch halves of the routes (POST /api/bisect) */
    NEXT_GC_URL,                      /* configure forced GC: floors, designed rows, probes */
    NEXT_TRAFFIC                      /* the route needs requests first */
};
extern const char *const attrib_next_names[6];
/* The admin API's views. attrib_route_json adds route <slot>'s fields
 * (estimate per metric, verdict, verdict_metric, reason, next_step,
 * first_request_bytes, latency_trend) to the object <j>; <captured> is how
 * many of its requests the probe holds (probe_captured), which decides the
 * next step. attrib_engine_json: each metric's fit, the engine's cost and the
 * projection to the memory limit (a new reference; an empty object before the
 * engine runs). */
struct json_t;
void attrib_route_json(const struct app *app, unsigned slot, unsigned captured, struct json_t *j);
struct json_t *attrib_engine_json(const struct app *app);

enum attrib_next attrib_next_step(const struct app *app, unsigned slot, unsigned captured,
                                  char *how, size_t len);

int attrib_start(struct app *app);
void attrib_stop(struct app *app);
/* Runs one evaluation now (tests, the report endpoint). */
void attrib_evaluate(struct app *app);
/* Per stats slot; NULL when no evaluation covered it yet. */
const struct attrib_route *attrib_route_get(const struct app *app, unsigned slot);
#endif
