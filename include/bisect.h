/* bisect.h -- find leaking routes under live traffic by switching groups of
 * routes to csr and comparing memory growth (see bisect.c).
 *
 * Owns one run at a time (app->bisect): the queue of groups, the rounds and
 * the modes it changed. The round decision (slopes, troughs, the verdict of
 * a round, whether to extend it) is made of pure functions below, so it is
 * unit-tested without a network or an event loop. */
#ifndef LEAKPROXY_BISECT_H
#define LEAKPROXY_BISECT_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct app;

/* Bounds of a run. A round lasts round_seconds; one that cannot decide is
 * extended by round_seconds at a time: up to BISECT_MAX_EXTEND times when it
 * has too few readings, once when its interval straddles the threshold and
 * more data in the round could settle it. A round still without readings is
 * repeated (after a new baseline); BISECT_MAX_REPEAT such rounds in a row end
 * the run "undecided", and so does the run's time limit (max_seconds). A
 * group still undecided counts as cleared for now; when nothing else is left
 * the undecided routes are tested again as one group, BISECT_MAX_RETEST
 * times at most. */
#define BISECT_MAX_EXTEND   3
#define BISECT_MAX_REPEAT   3
#define BISECT_MAX_ROUNDS   128       /* rounds of a run, at most */
#define BISECT_MAX_RETEST   2         /* the undecided routes queued again when nothing else is left */
#define BISECT_MAX_SECONDS_MIN   600   /* default max_seconds: 40 rounds, at least this */
#define BISECT_MAX_SECONDS_ROUNDS 40

/* Starts a bisection over <routes> (NULL: every route that can be switched),
 * rounds of <round_seconds>, on "heap_used", "rss" or "external", for at
 * most <max_seconds> (0: the default above). Returns an HTTP status (200,
 * 400, 404, 409) with <err> filled when not 200. */
int bisect_start(struct app *app, const char *const *routes, unsigned nroutes, unsigned round_seconds,
                 unsigned max_seconds, const char *metric, char *err, size_t errlen);
/* Stops and restores every mode it changed. */
void bisect_abort(struct app *app, const char *why);
json_t *bisect_json(const struct app *app);   /* new reference */
void bisect_free(struct app *app);            /* shutdown: abort, restore, free */

/* ---- the round decision (pure) ------------------------------------------ */

/* The signals a round's growth is read from, best first for heap_used:
 * forced (or app-reported) GC floors, then troughs of heap_used; rss and
 * external are their own metrics, read as troughs too. */
enum bisect_signal { BISECT_SIG_FLOOR, BISECT_SIG_TROUGH, BISECT_SIG_RSS, BISECT_SIG_EXT, BISECT_NSIG };
extern const char *const bisect_signal_names[BISECT_NSIG];   /* "floor", "trough", "rss", "external" */

#define BISECT_MIN_POINTS  4          /* readings a slope needs (df >= 2) */
#define BISECT_TROUGH_WIN  5          /* raw samples per trough window, at most */

/* A growth rate: bytes per second, its standard error, degrees of freedom
 * (0: no estimate) and the readings it came from. */
struct bisect_est {
    double rate, se;
    int df;
    unsigned n;
};

/* The troughs of <n> samples (<t> ascending): the minimum of each window
 * of <win> consecutive samples (a last, shorter window counts if it holds
 * at least half of <win>), with its time. Writes at most n / win + 1 pairs
 * to <tt>, <ty>; returns how many. */
unsigned bisect_troughs(const double *t, const double *y, unsigned n, unsigned win, double *tt, double *ty);
/* The trough window for <n> raw samples: enough troughs for a slope
 * (about 8), at most BISECT_TROUGH_WIN samples each, at least 1. */
unsigned bisect_trough_win(unsigned n);
/* Least-squares slope of <y> on <t>, df = n - 2. Its standard error is
 * widened by the lag-1 autocorrelation of the residuals (the saw-tooth
 * between major GCs makes neighbours alike).
 * 0, or -1 (e->df = 0) with fewer than BISECT_MIN_POINTS points or no
 * spread in <t>. */
int bisect_slope(const double *t, const double *y, unsigned n, struct bisect_est *e);
/* Adds worker estimate <e> to <sum> (rates and variances add; df is the
 * smallest). */
void bisect_est_add(struct bisect_est *sum, const struct bisect_est *e);
/* The signal to compare on: the first of <metric>'s signals (enum
 * attrib_metric) valid in <a> and, when not NULL, in <b>. -1 if none. */
int bisect_pick(int metric, const struct bisect_est *a, const struct bisect_est *b);

enum bisect_call { BISECT_GUILTY, BISECT_CLEARED, BISECT_UNSURE };
struct bisect_cmp {
    double contrib;                   /* baseline rate - test rate */
    double low, high;                 /* its 95 % interval */
    double threshold;
    int df;
    int resolvable;                   /* UNSURE, but halving the test's variance could decide */
};
/* Cleared when even the interval's top is below <threshold> (the growth the
 * group would grow by if its least busy route leaked the smallest amount
 * worth naming), guilty
 * when switching the group off lowered growth significantly (low > 0),
 * else unsure. <scale> multiplies the test round's rate and se first: the
 * baseline's rendered request rate of the routes that render in both rounds
 * over the test round's (closed-loop clients speed the others up when a
 * group is off, and forced GCs slow everything down as the heap grows);
 * it is clamped to [0.25, 4], 1 when unknown. */
enum bisect_call bisect_decide(const struct bisect_est *base, const struct bisect_est *test, double scale,
                               double threshold, struct bisect_cmp *out);

/* BISECT_OUT_OF_TIME: only from bisect_step_in_time. */
enum bisect_step { BISECT_DECIDE, BISECT_EXTEND, BISECT_REPEAT, BISECT_OUT_OF_TIME };
/* What to do with a round that has been extended <extended> times: without a
 * signal (<have> = 0) extend, then repeat; an unsure call that more data in
 * the round could settle is extended once; anything else is decided. */
enum bisect_step bisect_next_step(int have, enum bisect_call call, int resolvable, unsigned extended);
/* <step> once the run's time limit is counted: an extension that would end
 * after <deadline_ms> is not taken; the round is decided on what it has, or,
 * without a signal (<have> = 0), the run ends (BISECT_OUT_OF_TIME). */
enum bisect_step bisect_step_in_time(enum bisect_step step, int have, uint64_t now_ms, unsigned round_seconds,
                                     uint64_t deadline_ms);

/* What a decided test round does with its group of <n> routes (<confirm>:
 * a single route already found guilty once, tested alone again). A group
 * without traffic in the baseline (<traffic> = 0) cannot leak: unsure counts
 * as cleared. One route is named only on its second guilty round in a row
 * (each round is a one-sided 2.5 % test). */
enum bisect_verdict {
    BISECT_V_SPLIT,                   /* guilty, several routes: both halves queued */
    BISECT_V_CONFIRM,                 /* guilty, one route: tested alone again after a new baseline */
    BISECT_V_FOUND,                   /* guilty again: named, kept off, the cleared re-tested */
    BISECT_V_CLEARED,
    BISECT_V_UNSURE                   /* counted as cleared, tested again after the next find */
};
enum bisect_verdict bisect_verdict(enum bisect_call call, int traffic, unsigned n, int confirm);

/* After a round, with <queued> groups left and <unsure> routes undecided:
 * the undecided are queued again as one group when nothing else is left,
 * BISECT_MAX_RETEST times at most, and only with time for a baseline and
 * their round before <deadline_ms>. */
int bisect_retest_due(unsigned queued, unsigned unsure, unsigned retests, uint64_t now_ms, unsigned round_seconds,
                      uint64_t deadline_ms);
/* Whether the run goes on after <rounds> rounds: it ends "done" with nothing
 * queued, "undecided" with undecided routes left, after BISECT_MAX_ROUNDS,
 * or when another round would end after <deadline_ms>. */
enum bisect_end { BISECT_GO_ON, BISECT_END_DONE, BISECT_END_UNSURE, BISECT_END_ROUNDS, BISECT_END_TIME };
enum bisect_end bisect_end_after(unsigned queued, unsigned unsure, unsigned rounds, uint64_t now_ms,
                                 unsigned round_seconds, uint64_t deadline_ms);
#endif
