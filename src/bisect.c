/* bisect.c -- find the leaking routes under live traffic by switching sets
 * of routes to csr and watching the memory slope: what teams hunting SSR
 * leaks did by hand (blanking pages, commenting code out), but per route and
 * at runtime.
 *
 * Adaptive group testing. A baseline round measures the growth rate of the
 * summed floor (bytes per second) with every candidate rendering. Then a
 * queue of groups, starting with the two halves of the candidates: a round
 * switches one group to csr and measures the rate again. If switching the
 * group off lowered the rate by a statistically significant amount, the
 * group holds a leak: a single route is reported, a larger group is split in
 * two and both halves are queued; otherwise the group is cleared. Several
 * leaking routes are found in one run; the rounds grow like log2(routes) per
 * leaking route. The baseline is measured again every BISECT_REBASE test
 * rounds, because traffic drifts.
 *
 * A single route found guilty is tested alone once more, after a new
 * baseline, before it is named: each round is a one-sided 2.5 % test, and
 * a short round's mix of requests drifts from its baseline's (designed rows
 * admit random halves of the routes). A leak found is kept switched off for
 * the rest of the run: a big leak's
 * arrival noise would otherwise hide a small one (measured: news at 240 KB
 * per request hid live's 9 KB in every round). A find forces a new baseline
 * (with the found leaks off) and queues once more, as one group, every route
 * cleared while that leak was rendering: if nothing else leaks that costs
 * one round, else that group is split like any other.
 *
 * The growth of a round is a least-squares slope over the readings taken
 * after the round's switch, per worker, summed. Heap rounds use the forced
 * (or app-reported) GC floors when the round has BISECT_MIN_POINTS of them,
 * else the troughs of heap_used: the minimum of each window of a few raw
 * samples, which drops the young garbage on top of the old generation. At
 * full speed forced GCs are rare (each pauses the app 100-600 ms at a heap
 * of 100-700 MB, and the budget spaces them), while a fast leak shows in
 * the troughs within seconds. rss and external are read as troughs too. A
 * round asks memsrc for a floor right after its switch and another when its
 * time is up, so it has floors at both ends whatever the sampler's budget.
 * A test round compares on a signal both it and the baseline have; its rate
 * is scaled by the baseline's rendered rate of the routes rendering in both
 * (closed-loop clients speed the rest up while a group is off, and forced
 * GCs slow everything down as the heap grows).
 *
 * A round that cannot decide is not a failure: without enough readings it
 * is extended, then repeated after a new baseline; when its interval
 * straddles the threshold (min_leak_bytes per request at the rate of the
 * group's least busy route)
 * and a longer round could settle it, it is extended once; otherwise the
 * group counts as cleared, is listed as undecided and is tested again after
 * the next find. The run ends "done" (every group decided), "undecided" (its
 * time limit max_seconds, BISECT_MAX_REPEAT rounds in a row without readings,
 * or groups still undecided at the end: the message says which), "aborted",
 * or "failed" (only when the memory source was removed by a reload).
 *
 * Modes: bisect only touches routes in ssr mode that are not never_csr, sets
 * them with "bisect" as the author, and restores every mode it changed when
 * it finishes, is aborted, or the proxy stops. */
#include "bisect.h"
#include "events.h"
#include "fit.h"
#include "app.h"
#include "attrib.h"
#include "log.h"
#include "memsrc.h"
#include "mode.h"
#include "route.h"
#include "series.h"
#include "stats.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BISECT_MAX_ROUTES 256
#define BISECT_REBASE     3
#define BISECT_FLOOR_WAIT_S 30        /* longest wait for the floor that closes a round */

const char *const bisect_signal_names[BISECT_NSIG] = { "floor", "trough", "rss", "external" };

struct bgroup {
    unsigned confirm;                 /* a single route found guilty once: this round confirms */
    unsigned recheck;                 /* a route found earlier, tested again with a later find off */
    unsigned n;
    unsigned slot[BISECT_MAX_ROUTES];
};

struct bround {
    int baseline;
    struct bgroup g;
    uint64_t start_ms, end_ms;
    unsigned rows;                    /* readings behind the estimate compared */
    int signal;                       /* enum bisect_signal, -1: none */
    unsigned extended;
    int unsure;                       /* decided as cleared without reaching the threshold */
    double rate, se, ssr_requests, per_request;
    double base_rate, contribution, low, high, threshold, scale;
    char decision[200];
};

struct bisect_run {
    struct app *app;
    int metric;                       /* ATTRIB_HEAP, ATTRIB_RSS or ATTRIB_EXT */
    unsigned round_seconds, max_seconds;
    struct bgroup cand;
    struct bgroup queue[2 * BISECT_MAX_ROUTES];
    unsigned qhead, qn;
    struct bround rounds[BISECT_MAX_ROUNDS];
    unsigned nrounds;
    unsigned found[BISECT_MAX_ROUTES], nfound;  /* kept off once found */
    struct bgroup cleared;            /* cleared since the last find: re-tested after it */
    struct bgroup unsure;             /* cleared without reaching the threshold, since the last find */
    struct bisect_est base_est[BISECT_NSIG];
    double *base_rps;                 /* per slot: rendered requests/s in the last baseline */
    unsigned since_base;
    unsigned repeats;                 /* rounds in a row without a usable signal */
    unsigned retests;                 /* times the undecided routes were queued again at the end */
    struct event *timer;
    uint64_t round_start_us;
    unsigned extended;                /* times the current round was lengthened */
    int closing;                      /* the round's time is up: waiting for its closing floor */
    int floor_wait;                   /* a floor asked of memsrc has not arrived */
    uint64_t *counts0;
    unsigned ncounts;
    /* what bisect changed, to restore */
    unsigned changed[BISECT_MAX_ROUTES], nchanged;
    char state[16], message[300];
    uint64_t started_ms, finished_ms;
    /* scratch for the fits: one worker's raw points, and their troughs */
    double pt[SERIES_RAW], py[SERIES_RAW], tt[SERIES_RAW], ty[SERIES_RAW];
};

/* ---- the round decision (pure) ------------------------------------------ */

unsigned bisect_trough_win(unsigned n)
{
    unsigned w = n / 8;
    return w < 1 ? 1 : w > BISECT_TROUGH_WIN ? BISECT_TROUGH_WIN : w;
}

unsigned bisect_troughs(const double *t, const double *y, unsigned n, unsigned win, double *tt, double *ty)
{
    unsigned k = 0;
    if (win == 0)
        win = 1;
    for (unsigned i = 0; i < n; i += win) {
        unsigned end = i + win < n ? i + win : n;
        if ((end - i) * 2 < win)
            break;                    /* a short tail would be a biased minimum */
        unsigned lo = i;
        for (unsigned j = i + 1; j < end; j++)
            if (y[j] < y[lo])
                lo = j;
        tt[k] = t[lo];
        ty[k] = y[lo];
        k++;
    }
    return k;
}

int bisect_slope(const double *t, const double *y, unsigned n, struct bisect_est *e)
{
    memset(e, 0, sizeof *e);
    if (n < BISECT_MIN_POINTS)
        return -1;
    double mt = 0, my = 0;
    for (unsigned i = 0; i < n; i++) {
        mt += t[i];
        my += y[i];
    }
    mt /= n;
    my /= n;
    double sxx = 0, sxy = 0;
    for (unsigned i = 0; i < n; i++) {
        sxx += (t[i] - mt) * (t[i] - mt);
        sxy += (t[i] - mt) * (y[i] - my);
    }
    if (sxx <= 0)
        return -1;
    double b = sxy / sxx, a = my - b * mt;
    double sse = 0, lag = 0, prev = 0;
    for (unsigned i = 0; i < n; i++) {
        double r = y[i] - (a + b * t[i]);
        sse += r * r;
        if (i)
            lag += r * prev;
        prev = r;
    }
    /* neighbours alike (rho > 0) carry less information than n readings:
     * the variance of the slope grows by (1 + rho) / (1 - rho), capped at
     * rho 0.5 (a factor 3): with a dozen readings rho is rough, and a
     * curved trend (throughput falling as forced GCs get longer) also looks
     * like rho. df stays n - 2: shrinking it too (to n / 3 - 2) made df 1
     * and t975 12.7 for a round of 7 floors, and nothing could be decided */
    double rho = sse > 0 ? lag / sse : 0;
    if (rho < 0)
        rho = 0;
    if (rho > 0.5)
        rho = 0.5;
    double f = (1 + rho) / (1 - rho);
    double var = sse / (n - 2) / sxx * f;
    e->rate = b;
    e->se = sqrt(var);
    e->df = (int)n - 2;
    e->n = n;
    return 0;
}

void bisect_est_add(struct bisect_est *sum, const struct bisect_est *e)
{
    sum->rate += e->rate;
    sum->se = sqrt(sum->se * sum->se + e->se * e->se);
    sum->df = sum->n == 0 || e->df < sum->df ? e->df : sum->df;
    sum->n += e->n;
}

int bisect_pick(int metric, const struct bisect_est *a, const struct bisect_est *b)
{
    static const int heap[] = { BISECT_SIG_FLOOR, BISECT_SIG_TROUGH, -1 };
    static const int rss[] = { BISECT_SIG_RSS, -1 };
    static const int ext[] = { BISECT_SIG_EXT, -1 };
    const int *order = metric == ATTRIB_RSS ? rss : metric == ATTRIB_EXT ? ext : heap;
    for (; *order >= 0; order++)
        if (a[*order].df >= 1 && a[*order].n >= BISECT_MIN_POINTS &&
            (b == NULL || (b[*order].df >= 1 && b[*order].n >= BISECT_MIN_POINTS)))
            return *order;
    return -1;
}

enum bisect_call bisect_decide(const struct bisect_est *base, const struct bisect_est *test, double scale,
                               double threshold, struct bisect_cmp *out)
{
    struct bisect_cmp c = { 0 };
    if (!(scale > 0))
        scale = 1;
    scale = scale < 0.25 ? 0.25 : scale > 4 ? 4 : scale;
    double trate = test->rate * scale, tse = test->se * scale;
    c.contrib = base->rate - trate;
    c.df = test->df < base->df ? test->df : base->df;
    double t = fit_t975(c.df);
    double h = t * sqrt(base->se * base->se + tse * tse);
    c.low = c.contrib - h;
    c.high = c.contrib + h;
    c.threshold = threshold;
    /* a growth significantly above 0 but surely below the threshold is not
     * a leak worth naming (a cache filling, floors precise to KB/s once the
     * big leaks are off) */
    enum bisect_call call = c.high < threshold ? BISECT_CLEARED : c.low > 0 ? BISECT_GUILTY : BISECT_UNSURE;
    if (call == BISECT_UNSURE) {
        /* a round twice as long halves the test's variance (and about
         * doubles its df); the baseline's stays */
        double h2 = fit_t975(2 * c.df < base->df ? 2 * c.df : base->df) *
                    sqrt(base->se * base->se + tse * tse / 2);
        c.resolvable = c.contrib - h2 > 0 || c.contrib + h2 < threshold;
    }
    *out = c;
    return call;
}

enum bisect_verdict bisect_verdict(enum bisect_call call, int traffic, unsigned n, int confirm)
{
    if (call == BISECT_UNSURE && !traffic)
        call = BISECT_CLEARED;        /* no traffic in the baseline: nothing to leak */
    if (call == BISECT_CLEARED)
        return BISECT_V_CLEARED;
    if (call == BISECT_UNSURE)
        return BISECT_V_UNSURE;
    if (n != 1)
        return BISECT_V_SPLIT;
    return confirm ? BISECT_V_FOUND : BISECT_V_CONFIRM;
}

enum bisect_step bisect_step_in_time(enum bisect_step step, int have, uint64_t now_ms, unsigned round_seconds,
                                     uint64_t deadline_ms)
{
    if (step != BISECT_EXTEND || now_ms + (uint64_t)round_seconds * 1000u <= deadline_ms)
        return step;
    return have ? BISECT_DECIDE : BISECT_OUT_OF_TIME;
}

int bisect_retest_due(unsigned queued, unsigned unsure, unsigned retests, uint64_t now_ms, unsigned round_seconds,
                      uint64_t deadline_ms)
{
    return queued == 0 && unsure && retests < BISECT_MAX_RETEST &&
           now_ms + 2ull * round_seconds * 1000u <= deadline_ms;
}

enum bisect_end bisect_end_after(unsigned queued, unsigned unsure, unsigned rounds, uint64_t now_ms,
                                 unsigned round_seconds, uint64_t deadline_ms)
{
    if (queued == 0)
        return unsure ? BISECT_END_UNSURE : BISECT_END_DONE;
    if (rounds >= BISECT_MAX_ROUNDS)
        return BISECT_END_ROUNDS;
    if (now_ms + (uint64_t)round_seconds * 1000u > deadline_ms)
        return BISECT_END_TIME;
    return BISECT_GO_ON;
}

enum bisect_step bisect_next_step(int have, enum bisect_call call, int resolvable, unsigned extended)
{
    if (!have)
        return extended < BISECT_MAX_EXTEND ? BISECT_EXTEND : BISECT_REPEAT;
    if (call == BISECT_UNSURE && resolvable && extended < 1)
        return BISECT_EXTEND;
    return BISECT_DECIDE;
}

/* ---- the run -------------------------------------------------------------- */

static void restore_modes(struct bisect_run *b)
{
    struct app *app = b->app;
    for (unsigned i = 0; i < b->nchanged; i++) {
        if (stats_at(&app->stats, b->changed[i])->mode_by == BY_BISECT)
            mode_set(app, b->changed[i], MODE_SSR, BY_CONFIG, NULL);
    }
    b->nchanged = 0;
}

static void set_group(struct bisect_run *b, const struct bgroup *g, int off)
{
    struct app *app = b->app;
    for (unsigned i = 0; i < g->n; i++) {
        if (off) {
            if (mode_can_switch(app, g->slot[i], MODE_CSR, BY_BISECT) == MODE_OK) {
                mode_set(app, g->slot[i], MODE_CSR, BY_BISECT, NULL);
                unsigned k;
                for (k = 0; k < b->nchanged; k++)
                    if (b->changed[k] == g->slot[i])
                        break;
                if (k == b->nchanged && b->nchanged < BISECT_MAX_ROUTES)
                    b->changed[b->nchanged++] = g->slot[i];
            }
        } else if (stats_at(&app->stats, g->slot[i])->mode_by == BY_BISECT) {
            mode_set(app, g->slot[i], MODE_SSR, BY_CONFIG, NULL);
        }
    }
}

static void finish(struct bisect_run *b, const char *state, const char *msg)
{
    if (b->timer)
        event_del(b->timer);
    if (b->floor_wait)
        memsrc_cancel_floor(b->app);  /* ours: memsrc holds one floor request at a time */
    b->floor_wait = 0;
    b->closing = 0;
    restore_modes(b);
    snprintf(b->state, sizeof b->state, "%s", state);
    snprintf(b->message, sizeof b->message, "%s", msg ? msg : "");
    b->finished_ms = app_wall_ms(b->app);
    log_at(LOG_INFO, "bisect: %s after %u rounds, %u leaking route(s)%s%s", state, b->nrounds, b->nfound,
           msg ? ": " : "", msg ? msg : "");
    struct event_rec *ev = events_begin(b->app, EVT_BISECT, "bisect");
    for (unsigned i = 0; i < b->nfound && i < BISECT_MAX_ROUTES; i++)
        events_add_route(ev, stats_at(&b->app->stats, b->found[i])->name);
    snprintf(ev->reason, sizeof ev->reason, "bisection %s after %u rounds, %u leaking route(s)%s%s; modes restored",
             state, b->nrounds, b->nfound, msg && *msg ? ": " : "", msg ? msg : "");
    events_commit(b->app, ev);
}

/* "news, live" into <buf>. */
static const char *names_text(const struct bisect_run *b, const struct bgroup *g, const unsigned *slots,
                              unsigned n, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    if (g) {
        slots = g->slot;
        n = g->n;
    }
    for (unsigned i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", stats_at(&b->app->stats, slots[i])->name);
    return buf;
}

/* One worker's growth on every signal over [t0, t1] (microseconds), added
 * to <est>. A worker with readings in the window but too few for a slope
 * spoils that signal for the round (the sum would miss its growth). */
static void worker_estimates(struct bisect_run *b, const struct series_worker *w, uint64_t t0, uint64_t t1,
                             struct bisect_est *est, int *spoiled)
{
    unsigned np = series_npoints(w, 1);
    for (int sig = 0; sig < BISECT_NSIG; sig++) {
        unsigned n = 0;
        uint64_t last_floor = 0;
        int have_floor = 0;
        for (unsigned i = 0; i < np; i++) {
            const struct series_point *p = series_point(w, 1, i);
            if (p->t_us < t0 || p->t_us > t1)
                continue;
            double y;
            if (sig == BISECT_SIG_FLOOR) {
                /* a forced GC's reading, or a new floor the app reported
                 * (its value repeats until the next major GC) */
                if (p->flags & MEM_GC)
                    y = (double)p->heap_used;
                else if ((p->flags & MEM_HAS_FLOOR) && (!have_floor || p->floor != last_floor))
                    y = (double)p->floor;
                else
                    continue;
                last_floor = p->floor;
                have_floor = 1;
            } else if (sig == BISECT_SIG_TROUGH) {
                if (!(p->flags & MEM_HAS_HEAP))
                    continue;
                y = (double)p->heap_used;
            } else if (sig == BISECT_SIG_RSS) {
                if (!(p->flags & MEM_HAS_RSS))
                    continue;
                y = (double)p->rss;
            } else {
                if (!(p->flags & MEM_HAS_EXT))
                    continue;
                y = (double)p->external;
            }
            b->pt[n] = (double)(p->t_us - t0) / 1e6;
            b->py[n] = y;
            n++;
        }
        if (n == 0)
            continue;                 /* nothing of this kind from this worker */
        const double *ft = b->pt, *fy = b->py;
        unsigned fn = n;
        if (sig != BISECT_SIG_FLOOR) {
            fn = bisect_troughs(b->pt, b->py, n, bisect_trough_win(n), b->tt, b->ty);
            ft = b->tt;
            fy = b->ty;
        }
        struct bisect_est e;
        if (bisect_slope(ft, fy, fn, &e) < 0)
            spoiled[sig] = 1;
        else
            bisect_est_add(&est[sig], &e);
    }
}

/* Growth over [t0, t1] on every signal, summed over the workers that have
 * readings in it; est[sig].df = 0 where there is none. */
static void round_estimates(struct bisect_run *b, uint64_t t0, uint64_t t1, struct bisect_est *est)
{
    int spoiled[BISECT_NSIG] = { 0 };
    memset(est, 0, BISECT_NSIG * sizeof *est);
    const struct series *s = &b->app->series;
    for (unsigned i = 0; i < s->nw; i++)
        worker_estimates(b, s->w[i], t0, t1, est, spoiled);
    for (int sig = 0; sig < BISECT_NSIG; sig++)
        if (spoiled[sig] || est[sig].n == 0)
            memset(&est[sig], 0, sizeof est[sig]);
}

static void start_round(struct bisect_run *b);
static void floor_arrived(void *arg, int err, uint64_t floor, unsigned workers);

static void split_push(struct bisect_run *b, const struct bgroup *g)
{
    struct bgroup h1 = { 0 }, h2 = { 0 };
    for (unsigned i = 0; i < g->n; i++) {
        if (i < g->n / 2)
            h1.slot[h1.n++] = g->slot[i];
        else
            h2.slot[h2.n++] = g->slot[i];
    }
    if (b->qn + 2 <= sizeof b->queue / sizeof b->queue[0]) {
        b->queue[(b->qhead + b->qn++) % (sizeof b->queue / sizeof b->queue[0])] = h1;
        b->queue[(b->qhead + b->qn++) % (sizeof b->queue / sizeof b->queue[0])] = h2;
    }
}

static void push_front(struct bisect_run *b, const struct bgroup *g)
{
    const unsigned qcap = sizeof b->queue / sizeof b->queue[0];
    if (b->qn >= qcap)
        return;
    b->qhead = (b->qhead + qcap - 1) % qcap;
    b->queue[b->qhead] = *g;
    b->qn++;
}

static uint64_t deadline_ms(const struct bisect_run *b)
{
    return b->started_ms + (uint64_t)b->max_seconds * 1000u;
}

/* The run's time is up (or its rounds): says what is known and what is not. */
static void finish_undecided(struct bisect_run *b, const char *why)
{
    char found[160], msg[300];
    names_text(b, NULL, b->found, b->nfound, found, sizeof found);
    snprintf(msg, sizeof msg, "%s; leaking found so far: %s; %u group(s) not tested", why,
             b->nfound ? found : "none", b->qn);
    finish(b, "undecided", msg);
}

static void arm(struct bisect_run *b, unsigned secs)
{
    struct timeval tv = { (time_t)secs, 0 };
    event_add(b->timer, &tv);
}

/* Asks memsrc for a forced-GC floor now (rounds start and end on one, so a
 * round has floors at both ends whatever the sampler's budget). 0 if asked. */
static int ask_floor(struct bisect_run *b)
{
    if (b->floor_wait || !memsrc_can_force_gc(b->app))
        return -1;
    b->floor_wait = 1;
    if (memsrc_read_floor(b->app, floor_arrived, b, 0) < 0) {
        b->floor_wait = 0;            /* a probe holds the floor reader */
        return -1;
    }
    return 0;
}

/* Where <slot> is in the routes found so far, or -1. */
static int found_at(const struct bisect_run *b, unsigned slot)
{
    for (unsigned i = 0; i < b->nfound; i++)
        if (b->found[i] == slot)
            return (int)i;
    return -1;
}

static void evaluate_round(struct bisect_run *b);

/* The round timer: the round's time is up (ask for its closing floor, then
 * evaluate), or the closing floor did not come in time (evaluate anyway). */
static void round_timer(evutil_socket_t fd, short what, void *arg)
{
    struct bisect_run *b = arg;
    (void)fd;
    (void)what;
    if (!b->closing) {
        b->closing = 1;
        if (ask_floor(b) == 0) {
            if (b->floor_wait)        /* not answered at once (a failed send answers at once) */
                arm(b, BISECT_FLOOR_WAIT_S);
            return;
        }
    }
    if (b->floor_wait) {
        memsrc_cancel_floor(b->app);
        b->floor_wait = 0;
    }
    b->closing = 0;
    evaluate_round(b);
}

/* memsrc's answer to ask_floor(): the reading is in the series already. A
 * closing floor ends the round, from the event loop rather than from inside
 * memsrc's callback. */
static void floor_arrived(void *arg, int err, uint64_t floor, unsigned workers)
{
    struct bisect_run *b = arg;
    (void)err;
    (void)floor;
    (void)workers;
    b->floor_wait = 0;
    if (b->closing) {
        event_del(b->timer);
        event_active(b->timer, EV_TIMEOUT, 0);
    }
}

/* The growth below which the group is cleared: min_leak_bytes per request
 * at the rendered rate (in the last baseline) of its least busy route with
 * traffic. One route of the group leaking that little adds at least this
 * much; the group's summed rate would let a large group hide a small leak
 * in one of its routes. <rps>: the group's summed rate (0: no traffic). */
static double group_threshold(const struct bisect_run *b, const struct bgroup *g, double *rps)
{
    double r = 0, least = 0;
    for (unsigned i = 0; i < g->n; i++) {
        if (!b->base_rps || g->slot[i] >= b->ncounts || b->base_rps[g->slot[i]] <= 0)
            continue;
        double x = b->base_rps[g->slot[i]];
        r += x;
        least = least == 0 || x < least ? x : least;
    }
    *rps = r;
    return least * (double)b->app->cfg->attrib.min_leak_bytes;
}

/* The baseline's rendered rate of the routes outside <g> over this round's
 * (<secs> long so far): bisect_decide's scale. 1 without a baseline rate. */
static double rest_scale(const struct bisect_run *b, const struct bgroup *g, double secs)
{
    const struct app *app = b->app;
    double rb = 0, rt = 0;
    for (unsigned i = 0; i < app->stats.n && i < b->ncounts; i++) {
        unsigned k;
        for (k = 0; k < g->n; k++)
            if (g->slot[k] == i)
                break;
        if (k < g->n)
            continue;
        rb += b->base_rps[i];
        rt += (double)(stats_at((struct stats *)&app->stats, i)->rendered - b->counts0[i]) / secs;
    }
    return rb >= 1 && rt >= 1 && secs > 0 ? rb / rt : 1;
}

/* What a round measured and what it calls for. */
struct round_eval {
    struct bisect_est est[BISECT_NSIG];
    int sig;                          /* the signal compared on, -1: none */
    enum bisect_call call;
    enum bisect_verdict verdict;      /* test rounds with a signal */
    struct bisect_cmp cmp;
    double thr;                       /* the group's threshold (test rounds) */
    double grp_rps;                   /* the group's rendered rate in the baseline */
    enum bisect_step step;
    unsigned most;                    /* readings of the best-read signal */
    double secs;                      /* the round's length once closed */
};

/* Reads the round's growth and compares it with the baseline's. */
static void measure_round(struct bisect_run *b, struct bround *r, uint64_t now_us, uint64_t now_ms,
                          struct round_eval *m)
{
    memset(m, 0, sizeof *m);
    round_estimates(b, b->round_start_us, now_us, m->est);
    m->sig = bisect_pick(b->metric, m->est, r->baseline ? NULL : b->base_est);
    m->call = BISECT_CLEARED;
    if (m->sig >= 0 && !r->baseline) {
        double secs_now = (double)(now_ms - r->start_ms) / 1000.0;
        m->thr = group_threshold(b, &r->g, &m->grp_rps);
        r->scale = rest_scale(b, &r->g, secs_now);
        m->call = bisect_decide(&b->base_est[m->sig], &m->est[m->sig], r->scale, m->thr, &m->cmp);
        m->verdict = bisect_verdict(m->call, m->grp_rps > 0, r->g.n, (int)r->g.confirm);
        if (m->verdict == BISECT_V_CLEARED)
            m->call = BISECT_CLEARED; /* no traffic: not worth an extension either */
    }
    m->step = bisect_next_step(m->sig >= 0, m->call, m->cmp.resolvable, b->extended);
    m->step = bisect_step_in_time(m->step, m->sig >= 0, now_ms, b->round_seconds, deadline_ms(b));
    for (int k = 0; k < BISECT_NSIG; k++)
        m->most = m->est[k].n > m->most ? m->est[k].n : m->most;
}

/* The round ends now: records what it read, renders its group again. */
static void close_round(struct bisect_run *b, struct bround *r, struct round_eval *m, uint64_t now_ms)
{
    struct app *app = b->app;
    r->end_ms = now_ms;
    r->signal = m->sig;
    r->extended = b->extended;
    b->extended = 0;
    r->rows = m->sig >= 0 ? m->est[m->sig].n : m->most;
    if (m->sig >= 0) {
        r->rate = m->est[m->sig].rate;
        r->se = m->est[m->sig].se;
    }
    double ssr = 0;
    for (unsigned i = 0; i < app->stats.n && i < b->ncounts; i++)
        ssr += (double)(stats_at(&app->stats, i)->rendered - b->counts0[i]);
    r->ssr_requests = ssr;
    m->secs = (double)(r->end_ms - r->start_ms) / 1000.0;
    r->per_request = ssr > 0 ? r->rate * m->secs / ssr : 0;
    set_group(b, &r->g, 0);
}

/* No usable readings however long the round ran: the memory source fails or
 * answers too slowly; the round is tried again after a new baseline. 0, or
 * -1 when the run ended (too many such rounds in a row). */
static int repeat_round(struct bisect_run *b, struct bround *r, const struct round_eval *m)
{
    struct memsrc_health h;
    memsrc_health(b->app, &h);
    b->repeats++;
    snprintf(r->decision, sizeof r->decision, "too few memory readings in %.0f s (%u; %u for a slope): %s%s%.80s",
             m->secs, m->most, BISECT_MIN_POINTS,
             r->baseline ? "baseline repeated" : "group queued again after a new baseline",
             h.failing ? "; the memory source fails: " : "", h.failing ? h.last_error : "");
    if (!r->baseline)
        push_front(b, &r->g);
    b->since_base = BISECT_REBASE;
    b->nrounds++;
    if (b->repeats < BISECT_MAX_REPEAT)
        return 0;
    char why[200];
    snprintf(why, sizeof why, "%u rounds in a row without enough memory readings%s%.80s", b->repeats,
             h.failing ? " (the source fails: " : "", h.failing ? h.last_error : "");
    if (h.failing)
        snprintf(why + strlen(why), sizeof why - strlen(why), ")");
    finish_undecided(b, why);
    return -1;
}

/* A baseline round: the growth test rounds are compared with, and each
 * route's rendered rate (the thresholds and scales of the next rounds). */
static void baseline_round(struct bisect_run *b, struct bround *r, const struct round_eval *m)
{
    struct app *app = b->app;
    memcpy(b->base_est, m->est, sizeof m->est);
    b->since_base = 0;
    if (b->base_rps && m->secs > 0)
        for (unsigned i = 0; i < app->stats.n && i < b->ncounts; i++)
            b->base_rps[i] = (double)(stats_at(&app->stats, i)->rendered - b->counts0[i]) / m->secs;
    snprintf(r->decision, sizeof r->decision, "baseline: %.1f KB/s (%s, %u readings) with every candidate rendering%s",
             r->rate / 1024, bisect_signal_names[m->sig], r->rows, b->nfound ? " but the leaking route(s) found" : "");
}

/* A single route guilty a second time: named and kept off. The routes found
 * before it were tested while it rendered, and its growth moves with the
 * traffic mix: it may have lent them theirs (a healthy `user` named beside
 * news under load). Each renders again and is tested alone once more with
 * this one off; a re-check found guilty does not start another round of
 * re-checks. They stay named until a re-check clears them (a run that ends
 * first reports them). */
static void name_found(struct bisect_run *b, struct bround *r)
{
    const unsigned qcap = sizeof b->queue / sizeof b->queue[0];
    if (!r->g.recheck) {
        for (unsigned i = b->nfound; i-- > 0;) {
            struct bgroup again = { .confirm = 1, .recheck = 1, .n = 1 };
            again.slot[0] = b->found[i];
            set_group(b, &again, 0);
            push_front(b, &again);
        }
    }
    if (found_at(b, r->g.slot[0]) < 0 && b->nfound < BISECT_MAX_ROUTES)
        b->found[b->nfound++] = r->g.slot[0];
    set_group(b, &r->g, 1);          /* kept off from now on */
    b->since_base = BISECT_REBASE;   /* a new baseline without it */
    if (b->cleared.n && b->qn < qcap) {
        b->queue[(b->qhead + b->qn++) % qcap] = b->cleared;
        b->cleared.n = 0;
    }
    b->unsure.n = 0;                 /* tested again with the rest */
}

/* Switching the group off lowered growth: split it, confirm it, or name it. */
static void guilty_round(struct bisect_run *b, struct bround *r, const struct round_eval *m, enum bisect_verdict v)
{
    const char *sig = bisect_signal_names[m->sig];
    double contrib = m->cmp.contrib / 1024, low = m->cmp.low / 1024;
    if (v == BISECT_V_CONFIRM) {
        /* a name is reported: one more round alone, after a new baseline */
        struct bgroup again = r->g;
        again.confirm = 1;
        push_front(b, &again);
        b->since_base = BISECT_REBASE;
        snprintf(r->decision, sizeof r->decision, "looks leaking: switching it off lowered growth by %.1f KB/s "
                 "(95%% low %.1f, %s); tested alone again after a new baseline", contrib, low, sig);
    } else if (v == BISECT_V_FOUND) {
        name_found(b, r);
        snprintf(r->decision, sizeof r->decision, "leaking: switching it off lowered growth by %.1f KB/s "
                 "(95%% low %.1f, %s); kept off, routes cleared so far tested again", contrib, low, sig);
    } else {
        split_push(b, &r->g);
        snprintf(r->decision, sizeof r->decision, "holds a leak (-%.1f KB/s, 95%% low %.1f, %s): split in two",
                 contrib, low, sig);
    }
}

/* Cleared (or undecided, counted as cleared): re-tested after the next find. */
static void cleared_round(struct bisect_run *b, struct bround *r, const struct round_eval *m, enum bisect_verdict v)
{
    const char *sig = bisect_signal_names[m->sig];
    const struct bisect_cmp *c = &m->cmp;
    int at = r->g.recheck ? found_at(b, r->g.slot[0]) : -1;
    if (at >= 0)                         /* named before, cleared now: no longer */
        b->found[at] = b->found[--b->nfound];
    for (unsigned i = 0; i < r->g.n && b->cleared.n < BISECT_MAX_ROUTES; i++)
        b->cleared.slot[b->cleared.n++] = r->g.slot[i];
    if (v == BISECT_V_UNSURE) {
        r->unsure = 1;
        for (unsigned i = 0; i < r->g.n && b->unsure.n < BISECT_MAX_ROUTES; i++)
            b->unsure.slot[b->unsure.n++] = r->g.slot[i];
        snprintf(r->decision, sizeof r->decision, "undecided, counted as cleared: growth changed by %.1f KB/s "
                 "(95%% %.1f to %.1f straddles %.1f, %s); tested again after the next find",
                 -c->contrib / 1024, c->low / 1024, c->high / 1024, m->thr / 1024, sig);
    } else {
        snprintf(r->decision, sizeof r->decision, "cleared: growth changed by %.1f KB/s, not significantly "
                 "(95%% high %.1f below %.1f, %s)", -c->contrib / 1024, c->high / 1024, m->thr / 1024, sig);
    }
}

/* A decided test round: the verdict on its group. */
static void test_round(struct bisect_run *b, struct bround *r, const struct round_eval *m)
{
    r->base_rate = b->base_est[m->sig].rate;
    r->contribution = m->cmp.contrib;
    r->low = m->cmp.low;
    r->high = m->cmp.high;
    r->threshold = m->thr;
    b->since_base++;
    if (m->verdict == BISECT_V_CLEARED || m->verdict == BISECT_V_UNSURE)
        cleared_round(b, r, m, m->verdict);
    else
        guilty_round(b, r, m, m->verdict);
}

/* Nothing left but undecided routes: they are repeated as one group after a
 * new baseline (a find would have done so anyway). */
static void retest_unsure(struct bisect_run *b)
{
    b->retests++;
    push_front(b, &b->unsure);
    for (unsigned i = 0; i < b->unsure.n; i++)
        for (unsigned k = 0; k < b->cleared.n; k++)
            if (b->cleared.slot[k] == b->unsure.slot[i])
                b->cleared.slot[k--] = b->cleared.slot[--b->cleared.n];
    b->unsure.n = 0;
    b->since_base = BISECT_REBASE;
}

/* After a round: the next one, or the end of the run. */
static void next_round(struct bisect_run *b)
{
    struct app *app = b->app;
    if (bisect_retest_due(b->qn, b->unsure.n, b->retests, app_wall_ms(app), b->round_seconds, deadline_ms(b)))
        retest_unsure(b);
    char u[200], msg[300];
    switch (bisect_end_after(b->qn, b->unsure.n, b->nrounds, app_wall_ms(app), b->round_seconds, deadline_ms(b))) {
    case BISECT_END_UNSURE:
        snprintf(msg, sizeof msg, "could not tell for %s: their growth interval straddled the threshold "
                 "(min_leak_bytes per request at their rate); a longer round_seconds narrows it",
                 names_text(b, &b->unsure, NULL, 0, u, sizeof u));
        finish(b, "undecided", msg);
        return;
    case BISECT_END_DONE:
        finish(b, "done", NULL);
        return;
    case BISECT_END_ROUNDS:
        finish_undecided(b, "too many rounds");
        return;
    case BISECT_END_TIME:
        finish_undecided(b, "the time limit (max_seconds) came");
        return;
    case BISECT_GO_ON:
        break;
    }
    start_round(b);
}

/* The round's time is up: extend it, repeat it, or decide on it. */
static void evaluate_round(struct bisect_run *b)
{
    struct bround *r = &b->rounds[b->nrounds];
    uint64_t now_us = app_now_us(), now_ms = app_wall_ms(b->app);
    struct round_eval m;

    if (b->app->mem == NULL) {
        finish(b, "failed", "the memory source was removed (reload)");
        return;
    }
    measure_round(b, r, now_us, now_ms, &m);
    if (m.step == BISECT_OUT_OF_TIME) {
        finish_undecided(b, "the time limit (max_seconds) came before the round had enough memory readings");
        return;
    }
    if (m.step == BISECT_EXTEND) {
        b->extended++;
        r->extended = b->extended;
        arm(b, b->round_seconds);
        return;
    }
    close_round(b, r, &m, now_ms);
    if (m.step == BISECT_REPEAT) {
        if (repeat_round(b, r, &m) == 0)
            next_round(b);
        return;
    }
    b->repeats = 0;
    if (r->baseline)
        baseline_round(b, r, &m);
    else
        test_round(b, r, &m);
    b->nrounds++;
    next_round(b);
}

static void start_round(struct bisect_run *b)
{
    struct app *app = b->app;
    struct bround *r = &b->rounds[b->nrounds];
    memset(r, 0, sizeof *r);
    r->signal = -1;
    if (b->nrounds == 0 || b->since_base >= BISECT_REBASE) {
        r->baseline = 1;
    } else {
        r->g = b->queue[b->qhead];
        b->qhead = (b->qhead + 1) % (sizeof b->queue / sizeof b->queue[0]);
        b->qn--;
        set_group(b, &r->g, 1);
    }
    r->start_ms = app_wall_ms(app);
    b->round_start_us = app_now_us();
    b->extended = 0;
    b->closing = 0;
    struct event_rec *ev = events_begin(app, EVT_BISECT, "bisect");
    if (!r->baseline) {
        ev->action = EVT_ACT_CSR;
        for (unsigned i = 0; i < r->g.n; i++)
            events_add_route(ev, stats_at(&app->stats, r->g.slot[i])->name);
    }
    snprintf(ev->reason, sizeof ev->reason, "bisection round %u started: %s", b->nrounds + 1,
             r->baseline ? (b->nfound ? "baseline, the leaks found kept off" : "baseline, every candidate rendering")
                         : "these routes switched to csr");
    events_commit(app, ev);
    if (app->stats.n > b->ncounts) {
        uint64_t *c = realloc(b->counts0, app->stats.n * sizeof *c);
        if (c)
            b->counts0 = c;
        double *rps = c ? realloc(b->base_rps, app->stats.n * sizeof *rps) : NULL;
        if (rps) {
            for (unsigned i = b->ncounts; i < app->stats.n; i++)
                rps[i] = 0;
            b->base_rps = rps;
            b->ncounts = app->stats.n;
        }
    }
    for (unsigned i = 0; i < app->stats.n && i < b->ncounts; i++)
        b->counts0[i] = stats_at(&app->stats, i)->rendered;
    ask_floor(b);                     /* a floor right after the switch opens the round */
    arm(b, b->round_seconds);
}

int bisect_start(struct app *app, const char *const *routes, unsigned nroutes, unsigned round_seconds,
                 unsigned max_seconds, const char *metric, char *err, size_t errlen)
{
    struct bisect_run *b = app->bisect;
    if (b && strcmp(b->state, "running") == 0) {
        snprintf(err, errlen, "a bisection is running (DELETE /api/bisect aborts it)");
        return 409;
    }
    if (app->cfg->memory.source == MEMSRC_NONE) {
        snprintf(err, errlen, "bisection needs a \"memory\" source");
        return 409;
    }
    int m = metric == NULL || strcmp(metric, "heap_used") == 0 ? ATTRIB_HEAP :
            strcmp(metric, "rss") == 0 ? ATTRIB_RSS : strcmp(metric, "external") == 0 ? ATTRIB_EXT : -1;
    if (m < 0) {
        snprintf(err, errlen, "metric must be \"heap_used\", \"rss\" or \"external\"");
        return 400;
    }
    if (m != ATTRIB_RSS && !memsrc_has_heap(app->cfg->memory.source)) {
        snprintf(err, errlen, "the %s source has no heap figures: use \"metric\": \"rss\"",
                 memsrc_kind_name(app->cfg->memory.source));
        return 409;
    }
    struct bgroup cand = { 0 };
    const struct route_table *t = app->cfg->routes;
    for (unsigned id = 1; id < route_count(t); id++) {
        const char *name = route_name(t, id);
        int want = routes == NULL;
        for (unsigned k = 0; routes && k < nroutes; k++)
            want |= strcmp(routes[k], name) == 0;
        if (!want)
            continue;
        if (mode_can_switch(app, app->route_slot[id], MODE_CSR, BY_BISECT) != MODE_OK)
            continue;
        if (cand.n < BISECT_MAX_ROUTES)
            cand.slot[cand.n++] = app->route_slot[id];
    }
    for (unsigned k = 0; routes && k < nroutes; k++)
        if (route_find(t, routes[k]) < 0) {
            snprintf(err, errlen, "no route named '%s'", routes[k]);
            return 404;
        }
    if (cand.n == 0) {
        snprintf(err, errlen, "no candidate routes: they must be in ssr mode, not never_csr, and have a fallback");
        return 409;
    }
    if (b) {
        free(b->counts0);
        free(b->base_rps);
        if (b->timer)
            event_free(b->timer);
        free(b);
    }
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    b->app = app;
    b->metric = m;
    b->round_seconds = round_seconds ? round_seconds : 60;
    if (max_seconds == 0) {
        max_seconds = BISECT_MAX_SECONDS_ROUNDS * b->round_seconds;
        if (max_seconds < BISECT_MAX_SECONDS_MIN)
            max_seconds = BISECT_MAX_SECONDS_MIN;
    }
    b->max_seconds = max_seconds;
    b->cand = cand;
    b->timer = evtimer_new(app->base, round_timer, b);
    snprintf(b->state, sizeof b->state, "running");
    b->started_ms = app_wall_ms(app);
    app->bisect = b;
    split_push(b, &cand);
    if (cand.n == 1) {                /* one candidate: test it alone */
        b->qn = 0;
        b->queue[0] = cand;
        b->qhead = 0;
        b->qn = 1;
    }
    log_at(LOG_INFO, "bisect: %u candidate routes, rounds of %u s on %s, at most %u s", cand.n, b->round_seconds,
           attrib_metric_names[m], b->max_seconds);
    start_round(b);
    return 200;
}

void bisect_abort(struct app *app, const char *why)
{
    struct bisect_run *b = app->bisect;
    if (b && strcmp(b->state, "running") == 0)
        finish(b, "aborted", why);
}

void bisect_free(struct app *app)
{
    struct bisect_run *b = app->bisect;
    if (b == NULL)
        return;
    bisect_abort(app, "leakproxy is stopping");
    if (b->timer)
        event_free(b->timer);
    free(b->counts0);
    free(b->base_rps);
    free(b);
    app->bisect = NULL;
}

static json_t *group_json(const struct app *app, const struct bgroup *g)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < g->n; i++)
        json_array_append_new(a, json_string(stats_at((struct stats *)&app->stats, g->slot[i])->name));
    return a;
}

json_t *bisect_json(const struct app *app)
{
    const struct bisect_run *b = app->bisect;
    if (b == NULL)
        return json_pack("{s:s}", "state", "idle");
    json_t *rounds = json_array();
    for (unsigned i = 0; i < b->nrounds || (i == b->nrounds && strcmp(b->state, "running") == 0 && i < BISECT_MAX_ROUNDS); i++) {
        const struct bround *r = &b->rounds[i];
        int current = i == b->nrounds;
        json_t *rj = json_pack("{s:i,s:s,s:o,s:I}", "round", (int)i + 1,
                               "kind", r->baseline ? "baseline" : "test", "off", group_json(app, &r->g),
                               "start_ms", (json_int_t)r->start_ms);
        if (current) {
            json_object_set_new(rj, "state", json_string("running"));
            json_object_set_new(rj, "extended", json_integer(b->extended));
            json_object_set_new(rj, "planned_seconds", json_integer((json_int_t)b->round_seconds * (1 + b->extended)));
        } else {
            json_object_set_new(rj, "end_ms", json_integer((json_int_t)r->end_ms));
            json_object_set_new(rj, "rows", json_integer(r->rows));
            json_object_set_new(rj, "readings", json_integer(r->rows));
            json_object_set_new(rj, "signal", r->signal >= 0 ? json_string(bisect_signal_names[r->signal]) : json_null());
            json_object_set_new(rj, "extended", json_integer(r->extended));
            json_object_set_new(rj, "growth_bytes_per_s", json_real(round(r->rate)));
            json_object_set_new(rj, "growth_se", json_real(round(r->se)));
            json_object_set_new(rj, "ssr_requests", json_real(r->ssr_requests));
            json_object_set_new(rj, "growth_bytes_per_ssr_request", json_real(round(r->per_request)));
            if (!r->baseline && r->signal >= 0) {
                json_object_set_new(rj, "baseline_bytes_per_s", json_real(round(r->base_rate)));
                json_object_set_new(rj, "lowered_by_bytes_per_s", json_real(round(r->contribution)));
                json_object_set_new(rj, "lowered_by_low", json_real(round(r->low)));
                json_object_set_new(rj, "lowered_by_high", json_real(round(r->high)));
                json_object_set_new(rj, "threshold_bytes_per_s", json_real(round(r->threshold)));
                json_object_set_new(rj, "undecided", json_boolean(r->unsure));
                json_object_set_new(rj, "rate_scale", json_real(round(r->scale * 1000) / 1000));
            }
            json_object_set_new(rj, "decision", json_string(r->decision));
        }
        json_array_append_new(rounds, rj);
    }
    json_t *found = json_array();
    for (unsigned i = 0; i < b->nfound; i++)
        json_array_append_new(found, json_string(stats_at((struct stats *)&app->stats, b->found[i])->name));
    /* names found before a later find, rendering again until their
     * re-check round: in "leaking" but in ssr meanwhile */
    json_t *rechecking = json_array();
    for (unsigned i = 0; i < b->nfound; i++) {
        int pending = 0;
        for (unsigned q = 0; q < b->qn && !pending; q++) {
            const struct bgroup *g = &b->queue[(b->qhead + q) % (sizeof b->queue / sizeof b->queue[0])];
            pending = g->recheck && g->n == 1 && g->slot[0] == b->found[i];
        }
        if (strcmp(b->state, "running") == 0 && b->nrounds < BISECT_MAX_ROUNDS) {
            const struct bround *cur = &b->rounds[b->nrounds];
            pending |= !cur->baseline && cur->g.recheck && cur->g.n == 1 && cur->g.slot[0] == b->found[i];
        }
        if (pending)
            json_array_append_new(rechecking, json_string(stats_at((struct stats *)&app->stats, b->found[i])->name));
    }
    json_t *j = json_pack("{s:s,s:s,s:s,s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:i,s:I}",
        "state", b->state, "message", b->message, "metric", attrib_metric_names[b->metric],
        "round_seconds", (int)b->round_seconds, "max_seconds", (int)b->max_seconds,
        "candidates", group_json(app, &b->cand), "leaking", found, "rechecking", rechecking, "undecided", group_json(app, &b->unsure),
        "rounds", rounds, "pending_groups", (int)b->qn, "started_ms", (json_int_t)b->started_ms);
    if (b->finished_ms)
        json_object_set_new(j, "finished_ms", json_integer((json_int_t)b->finished_ms));
    return j;
}
