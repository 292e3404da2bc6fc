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
#define GUARD_FAST_CONFIRM   2        /* checks in a row with the projection short */
#define GUARD_PROJ_CONFIRM   2        /* attribution evaluations in a row below min_minutes_to_oom */
#define GUARD_PROJ_SECONDS   5.0      /* troughs reaching the limit sooner trip the guard */
#define GUARD_PROJ_MIN_BPS   1048576.0   /* ... when they grow at least this (bytes/s) */
#define GUARD_GROWTH_MIN_BPS 1048576.0   /* narrowing: troughs growing slower have "stopped" ... */
#define GUARD_GROWTH_SHARE   0.3      /* ... or slower than this share of the growth at the start */
#define GUARD_RISE_SHARE     0.05     /* a step whose troughs rise by this share of high is
                                       * "growing" at once, however short the watch so far */
#define GUARD_SETTLE_WATCHES 3        /* longest settle after a growing step, in watches */

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

/* ---- the guard's decisions (pure; for unit tests, tests/unit/test_guard.c) -
 * guard.c reads the app and calls these; they hold every rule of when to
 * trip, when to narrow down, how a narrowing step is judged and what the
 * hour's cap allows, so each is tested without an event loop. */

/* Confirmations so far: fresh readings (floor) or checks (trough, fast
 * projection) in a row above, attribution evaluations in a row short. */
struct guard_counts {
    unsigned over, trough_over, fast_over, proj_over;
};
enum guard_trigger { GT_NONE, GT_FLOOR, GT_TROUGH, GT_FAST, GT_PROJ };
/* The signal that trips the guard, GT_NONE while none is confirmed: the
 * floor GUARD_CONFIRM times, the trough GUARD_TROUGH_CONFIRM times, the fast
 * projection GUARD_FAST_CONFIRM times, the engine's projection
 * GUARD_PROJ_CONFIRM times. When several are, the first of that list names
 * the trigger. */
enum guard_trigger guard_trigger(const struct guard_counts *c);
/* Memory is calm (recovery counts hold_seconds from then): every worker with
 * a threshold below low and the projection not short; with no threshold
 * known, only a guard on the projection (<on_projection>) can be calm. */
int guard_calm(int any_limit, int all_low, int proj_low, int on_projection);
/* max_switches_per_hour allows one more action after <actions_last_hour>:
 * a switch-off while under the cap; a restore (<restore>) only if it leaves
 * one action for a switch-off. */
int guard_cap_allows(unsigned actions_last_hour, int max_per_hour, int restore);
/* "Growing" during a narrowing: GUARD_GROWTH_SHARE of <ref> (the growth at
 * the start), at least GUARD_GROWTH_MIN_BPS. */
double guard_growth_threshold(double ref);
/* How far memory may rise during one step before the step counts as growing
 * at once: GUARD_RISE_SHARE of <high>, at least 1 MB. A share of high rather
 * than of the way to the limit: the limit a source reports can overstate
 * where the app dies (V8's heap_size_limit includes the young generation,
 * 48 MB at small heaps), and each guilty step adds its rise to what the leak
 * already holds. */
double guard_step_budget(double high);

/* Whether a narrowing starts (tripped, "action": "leaking", no route judged
 * leaking). The first of a trip needs growth of GUARD_GROWTH_MIN_BPS (or
 * none measured yet: memory is high); flat memory is refused (GS_FLAT, the
 * "not_growing" refusal). A later one (after a narrowing or a switch this
 * trip) needs measured growth of guard_growth_threshold(trip_growth) and
 * memory risen by <budget> since <end_level> at that rate on average: what
 * is left after the leak is off (settling, caches, drift) must not start one. */
struct guard_start_in {
    int later;                        /* a narrowing or a switch already this trip */
    int have_slope;
    double slope, level;              /* troughs' growth (bytes/s) and level now */
    double end_level, budget;         /* level when the last change ended; guard_step_budget */
    double secs_since;                /* since that change */
    double trip_growth;               /* growth at the trip */
};
enum guard_start { GS_START, GS_NOT_YET, GS_FLAT };
enum guard_start guard_narrow_start(const struct guard_start_in *in);

/* The verdict on a narrowing step being watched. A step whose level rose
 * past <budget> once settled is growing at once (GV_ROSE); otherwise it is
 * judged after a watch on its slope against <threshold>: flat, growing, or
 * (above but under twice the threshold, not rewatched yet) watched once
 * more. Without a slope it waits up to three watches, then counts as
 * growing: the side that keeps routes csr. */
struct guard_step {
    uint64_t elapsed_us, watch_us;
    int settled;                      /* the step's settling time is over */
    int have_slope;
    double slope, threshold;
    double level, step_level, budget;
    int rewatched;
};
enum guard_verdict { GV_WAIT, GV_REWATCH, GV_FLAT, GV_GROWING, GV_ROSE };
enum guard_verdict guard_step_verdict(const struct guard_step *s);

/* What a tripped guard does on a check, as "action" (enum guard_action of
 * config.h) says, with <n> routes it may switch (<nleak> of them judged
 * leaking): "all" and "list" switch every one; "leaking" switches the
 * routes judged leaking, else steps the live narrowing (<narrowing>), else
 * starts one. With nothing to switch it refuses ("nothing_to_switch"),
 * unless it already acted this trip (<acted>). */
enum guard_choice {
    GC_NONE, GC_SWITCH_ALL, GC_SWITCH_LISTED, GC_SWITCH_LEAKING, GC_NARROW_STEP, GC_NARROW_START,
    GC_REFUSE_NOTHING
};
enum guard_choice guard_choose(int action, unsigned n, unsigned nleak, int narrowing, int acted);

/* The order of the routes to switch: <verdict> (enum attrib_verdict),
 * the engine's estimate (bytes per request), the traffic. qsort-style. */
struct guard_rank {
    int verdict;
    double est, weight;
};
/* Switching: the worst verdict first (leaking before suspect), then the
 * largest estimate, so the first switched holds the most memory. */
int guard_switch_order(const struct guard_rank *x, const struct guard_rank *y);
/* Narrowing: suspects first (largest estimate first), then the busiest:
 * the first group holds the likeliest leak, and of a guilty range the less
 * suspect part is the one rendered again. */
int guard_narrow_order(const struct guard_rank *x, const struct guard_rank *y);

/* After a growing step the next test waits for flat memory (slope at most
 * <thr>) with everything under test off, judged once a watch has passed; it
 * gives up waiting after GUARD_SETTLE_WATCHES watches. */
enum guard_settle { GSE_WAIT, GSE_FLAT, GSE_GAVE_UP };
enum guard_settle guard_settle(uint64_t elapsed_us, uint64_t watch_us, int have_slope, double slope, double thr);
#endif
