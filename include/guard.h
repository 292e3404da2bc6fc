/* guard.h -- switch SSR off automatically before the upstream runs out of
 * memory (config "guard"; README "The guard").
 *
 * A timer reads every worker's memory against the high threshold (bytes, or
 * a fraction of the worker's limit). Three signals trip the guard, none of
 * which waits for another (README "The guard" says what each assumes):
 *   - the floor: GUARD_CONFIRM fresh readings in a row above high (for
 *     heap_used the post-GC floor, so the V8 saw-tooth does not count);
 *   - the trough: the lowest raw reading of the last GUARD_TROUGH_MS (at least
 *     GUARD_TROUGH_MIN_N readings, a collection among them for heap_used)
 *     above high on GUARD_TROUGH_CONFIRM checks in a row: the heap stayed
 *     above high through its collections;
 *   - the projection: troughs growing at least GUARD_PROJ_MIN_BPS reach the
 *     limit within GUARD_PROJ_SECONDS (or the attribution engine's projection
 *     below min_minutes_to_oom).
 * Tripped, it switches routes to csr as "action" says, capped by
 * max_switches_per_hour. With "action": "leaking" and no route judged
 * leaking it narrows down under pressure (guard_narrow_*): half the traffic
 * off, the rest if memory still grows, then halves rendered again one at a
 * time while the growth is watched, until only the guilty routes are csr.
 * It recovers after hold_seconds below the low threshold and then, with
 * "restore": "on_recovery", renders its routes again one at a time. It never
 * changes a mode set by hand and never touches never_csr routes. Every
 * decision is an event (events.h), posted by its webhook (webhook.h) when one
 * is set. */
#ifndef LEAKPROXY_GUARD_H
#define LEAKPROXY_GUARD_H

#include <stdint.h>

#define GUARD_CONFIRM        3        /* fresh readings above high before a trip */
#define GUARD_TROUGH_MS      2000     /* the trough's window (at least 2.5 sampling intervals) */
#define GUARD_TROUGH_MIN_N   3        /* readings the window needs ... */
#define GUARD_TROUGH_MIN_SPAN_MS 1000 /* ... spanning at least this */
#define GUARD_TROUGH_CONFIRM 2        /* checks in a row with the trough above high */
#define GUARD_PROJ_SECONDS   5.0      /* troughs reaching the limit sooner trip the guard */
#define GUARD_PROJ_MIN_BPS   1048576.0   /* ... when they grow at least this (bytes/s) */
#define GUARD_GROWTH_MIN_BPS 1048576.0   /* narrowing: troughs growing slower have "stopped" ... */
#define GUARD_GROWTH_SHARE   0.3      /* ... or slower than this share of the growth at the start */
#define GUARD_RISE_SHARE     0.05     /* a step whose troughs rise by this share of high is
                                       * "growing" at once, however short the watch so far */

struct app;
struct event_rec;
struct evbuffer;
struct json_t;

/* Starts (or, on reload, re-reads the config of) the guard. The guard's
 * state -- tripped, the hour's actions, the webhook queue -- survives
 * reloads. 0 or -1. */
int guard_start(struct app *app);
void guard_free(struct app *app);
/* Runs one check now (tests). */
void guard_check(struct app *app);
/* State for /api/status (new reference). */
struct json_t *guard_json(const struct app *app);
/* Prometheus series. */
void guard_metrics(const struct app *app, struct evbuffer *o);

/* ---- the pure parts (tests/unit/test_guard.c) ----------------------------- */

struct guard_sample {                 /* one raw reading of the guard's metric */
    uint64_t t_us;
    double v;
};

/* The trough of readings <s> (<n>, in time order) in (to - window, to]: the
 * lowest value. Returns 1 with <*trough> set when the window holds at least
 * GUARD_TROUGH_MIN_N readings spanning GUARD_TROUGH_MIN_SPAN_MS and, with
 * <need_drop>, one reading below its predecessor (a collection ran inside the
 * window); else 0. */
int guard_trough(const struct guard_sample *s, unsigned n, uint64_t to_us, uint64_t window_us,
                 int need_drop, double *trough);

/* How fast the troughs grow over [from, to]: the least-squares slope (bytes
 * per second) through the lowest reading of each <bucket_us> bucket, of at
 * least 3 buckets with readings. Returns 1 with <*slope> and <*last> (the
 * lower of the newest two buckets' troughs: where memory is now, with less
 * noise than one bucket) set, else 0. */
int guard_trough_slope(const struct guard_sample *s, unsigned n, uint64_t from_us, uint64_t to_us,
                       uint64_t bucket_us, double *slope, double *last);

/* Narrowing down under pressure: adaptive group testing on the candidates,
 * ranked by the caller (suspects first, then by traffic). The machine only
 * says which candidates it wants csr (off[]) after each verdict; the guard
 * applies that and watches the growth. Invariant: each task's range is known
 * guilty (split: holds a leak) or untested (test); ranges are disjoint. */
enum guard_narrow_state {
    GN_FIRST,                         /* [0, first) off: does the growth stop? */
    GN_SECOND,                        /* every candidate off: does it stop now? */
    GN_TEST,                          /* [lo, mid) renders again: does growth resume? */
    GN_DONE,                          /* off[] holds exactly the guilty */
    GN_STUCK                          /* growth went on with every candidate off */
};
enum guard_fate { GF_UNKNOWN, GF_INNOCENT, GF_GUILTY };

struct guard_narrow_task {
    unsigned lo, hi;
    int split;                        /* 1: known guilty, to split; 0: untested, to render */
};

struct guard_narrow {
    unsigned n;                       /* candidates */
    double *weight;                   /* per candidate: its traffic (any unit) */
    uint8_t *off;                     /* per candidate: 1 = wanted csr now */
    uint8_t *fate;                    /* per candidate: enum guard_fate */
    struct guard_narrow_task *stack;  /* at most n tasks (disjoint ranges) */
    unsigned nstack;
    enum guard_narrow_state state;
    unsigned first;                   /* the first group: [0, first), about half the traffic */
    unsigned lo, mid, hi;             /* GN_TEST: [lo, mid) renders; [olo, ohi) stays off */
    unsigned olo, ohi;                /* GN_TEST with infer: the other, more suspect part */
    int second_infer;                 /* GN_TEST of the first group after GN_SECOND: its
                                       * verdict decides how the second group is tested */
    int infer;                        /* GN_TEST: the task's range is known guilty, so an
                                       * innocent [lo, mid) makes [olo, ohi) guilty without
                                       * a test (the less suspect part is the one tested) */
    unsigned steps;                   /* verdicts so far */
};

/* Starts a narrowing over <n> >= 1 candidates with <weight> (copied): the
 * first group, [0, first), is the fewest leading candidates that hold half
 * the weight (all weights 0: half the candidates). State GN_FIRST. 0, or -1
 * on OOM (nothing to free then). */
int guard_narrow_init(struct guard_narrow *nw, const double *weight, unsigned n);
void guard_narrow_fini(struct guard_narrow *nw);   /* zeroed storage is fine */
/* The verdict on the step being watched: <growing> when memory still grew.
 * Updates off[] and fate[]; returns the new state (GN_FIRST..GN_TEST: a new
 * step to watch). */
enum guard_narrow_state guard_narrow_next(struct guard_narrow *nw, int growing);
/* Where [lo, hi) (hi - lo >= 2) splits: the smallest mid with half of the
 * range's weight in [lo, mid); lo < mid < hi. */
unsigned guard_narrow_split(const double *w, unsigned lo, unsigned hi);
#endif
