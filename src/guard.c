/* guard.c -- the automatic SSR-off switch, see guard.h.
 *
 * States: watching -> tripped (memory above high, or too little time left)
 * -> watching again once every worker stayed below low for hold_seconds
 * ("recovered"); with restore "on_recovery" the routes it switched are then
 * rendered again one at a time. An "action" is one step that switches one
 * or more routes (or restores one); actions are what max_switches_per_hour
 * counts, so the "all" switch is one toggle, not one per route.
 *
 * Signals. Each reads what the source gives and none waits for another: the
 * floor (forced-GC readings, app-reported floors, else the lower envelope of
 * floor_window_ms) confirmed GUARD_CONFIRM times; the trough of the raw
 * readings over the last ~2 s, which at full speed holds several collections
 * (with no collection inside the window it proves nothing and is not used);
 * the troughs' slope projected to the limit. The trough assumes collections
 * run every second or so: true under load, when memory grows fast; at a
 * gentle rate the floor and the attribution engine see the leak first.
 *
 * While tripped, with "action": "leaking": every route judged leaking is
 * switched at once (each is a proven leak). With none judged leaking the
 * guard narrows down under pressure (guard_narrow_*): the first group --
 * suspects, then the busiest routes, about half the rendered requests -- off;
 * if the troughs still grow after a watch (watch_ms), the rest off; then
 * halves of the switched routes render again one at a time, each watched:
 * growth resumes -> that half goes off again and is split further; it does
 * not -> it is innocent and keeps rendering. Of a half known to hold the
 * leak, the less suspect part renders (a right ranking never renders the
 * leak again under pressure); after the second group switch, the first
 * group is tested alone and, innocent, makes the second known guilty. A
 * step whose troughs rise by
 * GUARD_RISE_SHARE of high is judged at once (memory is held, not spent).
 * The two group switches are actions of max_switches_per_hour; the steps
 * after them are not (they render routes again, or put back what a step
 * just rendered: at most ~2 log2(n) per leak, once per narrowing). A route
 * the engine judges leaking meanwhile ends the narrowing: it goes off, the
 * routes held off only to narrow down render again. After a step that grew,
 * the next test waits until memory is flat with everything under test off
 * (at most GUARD_SETTLE_WATCHES watches): the grown step's garbage is
 * promoted and collected for seconds after it goes off, and a test started
 * meanwhile reads that lag as its own growth (a healthy route condemned
 * right after the leaking one, bench/RESULTS.md "a guard that never waits"). */
#include "guard.h"
#include "fmt.h"
#include "app.h"
#include "attrib.h"
#include "bisect.h"
#include "events.h"
#include "log.h"
#include "memsrc.h"
#include "mode.h"
#include "probe.h"
#include "route.h"
#include "series.h"
#include "stats.h"
#include "webhook.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum refusal { R_HOLD, R_CAP, R_NOTHING, R_FLAT, R_N };
static const char *const refusal_names[R_N] = { "hold", "cap", "nothing_to_switch", "not_growing" };

struct cand { unsigned id, slot; double est, weight; enum attrib_verdict v; };

struct guard {
    struct app *app;
    struct event *timer;
    /* the reading */
    int have;                         /* some worker had a figure */
    int64_t worker;                   /* the worker closest to (or over) its threshold */
    double value, high, low;          /* its figure and thresholds (0: unknown) */
    int any_limit;
    uint64_t newest_us;               /* newest sample seen */
    unsigned over;                    /* fresh readings in a row above high */
    uint64_t proj_seen;               /* attribution evaluations seen */
    unsigned proj_over;
    /* troughs of the raw readings (see guard.h) */
    struct guard_sample *buf;         /* SERIES_RAW: one worker's readings at a time */
    uint64_t newest_raw_us;
    unsigned trough_over, fast_over;  /* fresh checks in a row with the signal */
    double trough, trough_high;       /* the trough above its high (trough_over) */
    int64_t trough_worker;
    unsigned trough_n;
    double fast_growth, fast_level, fast_limit, fast_secs;   /* the projection that fired */
    int64_t fast_worker;
    /* narrowing down under pressure ("action": "leaking", nothing judged leaking) */
    struct guard_narrow nw;
    struct cand *nw_cand;             /* per candidate, ranked */
    int narrowing;                    /* nw is live */
    int narrowed_this_trip;
    uint64_t step_us, narrow_end_us;
    double step_level, ref_growth;
    int step_settled;                 /* step_level retaken once the step settled */
    int step_rewatched;               /* an ambiguous verdict was watched once more */
    int step_after_growth;            /* the previous verdict was "growing": longer settle */
    int settling;                     /* after a growing step: waiting for flat memory */
    char settle_why[EVENT_REASON_MAX - 40];   /* the reason of the test that waits */
    double end_level;                 /* level when the last narrowing ended (or a switch) */
    double trip_growth;               /* troughs' growth when it tripped (0: unknown) */
    /* state */
    int tripped;
    uint64_t tripped_ms;
    char trigger[200];
    uint64_t below_since_us;          /* every worker below low since (0: not) */
    uint64_t last_action_us;
    double value_at_action;
    int actions_this_trip;
    int refused_once[R_N];            /* per trip (per recovery for the cap) */
    uint64_t actions[GUARD_MAX_PER_HOUR];   /* Unix ms of recent actions, a ring */
    unsigned act_head, act_n;
    uint8_t *dry;                     /* dry run: per slot, "switched" on paper */
    unsigned ndry;
    /* counters */
    uint64_t trips, refusals[R_N];
    struct webhook *webhook;          /* webhook.c: posts our events */
};

/* ---- the pure parts: troughs and narrowing (no app, unit-tested) ---------- */

int guard_trough(const struct guard_sample *s, unsigned n, uint64_t to_us, uint64_t window_us,
                 int need_drop, double *trough)
{
    uint64_t from = to_us > window_us ? to_us - window_us : 0;
    uint64_t t0 = 0, t1 = 0;
    unsigned k = 0;
    int drop = 0;
    double lo = 0;

    for (unsigned i = 0; i < n; i++) {
        if (s[i].t_us <= from || s[i].t_us > to_us)
            continue;
        if (k == 0 || s[i].v < lo)
            lo = s[i].v;
        if (k == 0)
            t0 = s[i].t_us;
        else if (s[i].v < s[i - 1].v)
            drop = 1;                 /* needs the predecessor inside the window too */
        t1 = s[i].t_us;
        k++;
    }
    if (k < GUARD_TROUGH_MIN_N || t1 - t0 < GUARD_TROUGH_MIN_SPAN_MS * 1000ull || (need_drop && !drop))
        return 0;
    *trough = lo;
    return 1;
}

int guard_trough_slope(const struct guard_sample *s, unsigned n, uint64_t from_us, uint64_t to_us,
                       uint64_t bucket_us, double *slope, double *last)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0, lo = 0, lo_t = 0, prev = 0;
    unsigned k = 0;
    uint64_t cur = UINT64_MAX;        /* the bucket being built */
    int have = 0;

    if (bucket_us == 0 || to_us <= from_us)
        return 0;
    /* one pass: buckets close as the readings move past them; the point of a
     * bucket is (time of its lowest reading, that reading) */
    for (unsigned i = 0; i <= n; i++) {
        int in = i < n && s[i].t_us >= from_us && s[i].t_us <= to_us;
        uint64_t b = in ? (s[i].t_us - from_us) / bucket_us : UINT64_MAX;
        if (i < n && !in)
            continue;
        if (have && b != cur) {
            double x = lo_t / 1e6;
            sx += x;
            sy += lo;
            sxx += x * x;
            sxy += x * lo;
            k++;
            *last = k == 1 || lo < prev ? lo : prev;   /* the lower of the newest two */
            prev = lo;
            have = 0;
        }
        if (i == n)
            break;
        if (!have || s[i].v < lo) {
            lo = s[i].v;
            lo_t = (double)(s[i].t_us - from_us);
        }
        cur = b;
        have = 1;
    }
    double d = k * sxx - sx * sx;
    if (k < 3 || d <= 0)
        return 0;
    *slope = (k * sxy - sx * sy) / d;
    return 1;
}

unsigned guard_narrow_split(const double *w, unsigned lo, unsigned hi)
{
    double total = 0, acc = 0;

    for (unsigned i = lo; i < hi; i++)
        total += w[i] > 0 ? w[i] : 0;
    if (total <= 0)
        return lo + (hi - lo) / 2;
    unsigned mid = lo;
    while (mid < hi - 1 && acc < total / 2) {
        acc += w[mid] > 0 ? w[mid] : 0;
        mid++;
    }
    return mid > lo ? mid : lo + 1;
}

int guard_narrow_init(struct guard_narrow *nw, const double *weight, unsigned n)
{
    memset(nw, 0, sizeof *nw);
    if (n == 0)
        return -1;
    nw->weight = malloc(n * sizeof *nw->weight);
    nw->off = calloc(n, 1);
    nw->fate = calloc(n, 1);
    nw->stack = calloc(n, sizeof *nw->stack);
    if (!nw->weight || !nw->off || !nw->fate || !nw->stack) {
        guard_narrow_fini(nw);
        return -1;
    }
    memcpy(nw->weight, weight, n * sizeof *weight);
    nw->n = n;
    /* the first group: half the traffic, but at most n - 1 candidates when
     * there are two or more, so a second group is left to switch */
    nw->first = n == 1 ? 1 : guard_narrow_split(nw->weight, 0, n);
    memset(nw->off, 1, nw->first);
    nw->state = GN_FIRST;
    return 0;
}

void guard_narrow_fini(struct guard_narrow *nw)
{
    free(nw->weight);
    free(nw->off);
    free(nw->fate);
    free(nw->stack);
    memset(nw, 0, sizeof *nw);
}

static void narrow_mark(struct guard_narrow *nw, unsigned lo, unsigned hi, int off, int fate)
{
    for (unsigned i = lo; i < hi; i++) {
        if (off >= 0)
            nw->off[i] = (uint8_t)off;
        if (fate >= 0)
            nw->fate[i] = (uint8_t)fate;
    }
}

static void narrow_push(struct guard_narrow *nw, unsigned lo, unsigned hi, int split)
{
    if (lo < hi && nw->nstack < nw->n)
        nw->stack[nw->nstack++] = (struct guard_narrow_task){ lo, hi, split };
}

/* Takes tasks until one needs a test; a guilty range of one is a verdict. */
static enum guard_narrow_state narrow_pop(struct guard_narrow *nw)
{
    while (nw->nstack) {
        struct guard_narrow_task t = nw->stack[--nw->nstack];
        if (t.split && t.hi - t.lo == 1) {
            nw->fate[t.lo] = GF_GUILTY;
            nw->off[t.lo] = 1;
            continue;
        }
        nw->hi = t.hi;
        nw->infer = t.split;
        if (t.split) {
            /* a known-guilty range: its less suspect part renders (the
             * candidates are ranked most suspect first), so that when the
             * suspicion is right the leak never renders again: each
             * render of it under pressure costs memory the app may not
             * have (at 25 MB/s, more than the headroom left at the trip) */
            unsigned m = guard_narrow_split(nw->weight, t.lo, t.hi);
            nw->lo = m;
            nw->mid = t.hi;
            nw->olo = t.lo;
            nw->ohi = m;
        } else {
            nw->lo = t.lo;
            nw->mid = t.hi;
            nw->olo = nw->ohi = t.hi;
        }
        narrow_mark(nw, nw->lo, nw->mid, 0, -1);
        return nw->state = GN_TEST;
    }
    return nw->state = GN_DONE;
}

enum guard_narrow_state guard_narrow_next(struct guard_narrow *nw, int growing)
{
    nw->steps++;
    switch (nw->state) {
    case GN_FIRST:
        if (!growing) {
            /* the growth stopped with the rest rendering: the rest is innocent */
            narrow_mark(nw, nw->first, nw->n, 0, GF_INNOCENT);
            narrow_push(nw, 0, nw->first, 1);
            return narrow_pop(nw);
        }
        if (nw->first == nw->n)
            return nw->state = GN_STUCK;
        narrow_mark(nw, nw->first, nw->n, 1, -1);
        return nw->state = GN_SECOND;
    case GN_SECOND:
        if (growing)
            return nw->state = GN_STUCK;
        /* stopped with every candidate off: the first group is tested
         * alone. The first verdict (growing with the first group off)
         * would make the second guilty without a test, but memory can lag
         * a switch (garbage promoted late), so it is not trusted alone:
         * the second group is judged once the first one's test says
         * (second_infer, below) */
        narrow_push(nw, 0, nw->first, 0);
        nw->second_infer = 1;
        return narrow_pop(nw);
    case GN_TEST:
        if (nw->second_infer) {
            /* the first group rendered alone: innocent -> the growth with
             * it off was real, the second group holds the leak (split
             * without rendering it whole); guilty -> the second is
             * untested (lag, or a second leak) */
            nw->second_infer = 0;
            narrow_push(nw, nw->first, nw->n, !growing);
        }
        if (growing) {
            narrow_mark(nw, nw->lo, nw->mid, 1, -1);
            narrow_push(nw, nw->lo, nw->mid, 1);
            if (nw->infer)            /* the other part is untested now */
                narrow_push(nw, nw->olo, nw->ohi, 0);
        } else {
            narrow_mark(nw, nw->lo, nw->mid, 0, GF_INNOCENT);
            if (nw->infer)
                narrow_push(nw, nw->olo, nw->ohi, 1);
        }
        return narrow_pop(nw);
    default:
        return nw->state;
    }
}

/* ---- the pure decisions (no app, unit-tested) ----------------------------- */

enum guard_trigger guard_trigger(const struct guard_counts *c)
{
    if (c->over >= GUARD_CONFIRM)
        return GT_FLOOR;
    if (c->trough_over >= GUARD_TROUGH_CONFIRM)
        return GT_TROUGH;
    if (c->fast_over >= GUARD_FAST_CONFIRM)
        return GT_FAST;
    if (c->proj_over >= GUARD_PROJ_CONFIRM)
        return GT_PROJ;
    return GT_NONE;
}

int guard_calm(int any_limit, int all_low, int proj_low, int on_projection)
{
    return any_limit ? all_low && !proj_low : !proj_low && on_projection;
}

int guard_cap_allows(unsigned actions_last_hour, int max_per_hour, int restore)
{
    /* one action of the hour stays in reserve for a switch-off: restores
     * alone must never leave the guard unable to act */
    return actions_last_hour + (restore ? 1u : 0u) < (unsigned)max_per_hour;
}

double guard_growth_threshold(double ref)
{
    double t = GUARD_GROWTH_SHARE * ref;
    return t > GUARD_GROWTH_MIN_BPS ? t : GUARD_GROWTH_MIN_BPS;
}

double guard_step_budget(double high)
{
    double b = GUARD_RISE_SHARE * high;
    return b > 1048576.0 ? b : 1048576.0;
}

enum guard_start guard_narrow_start(const struct guard_start_in *in)
{
    /* a later narrowing (or one after a switch) needs growth that is a good
     * part of the growth at the trip: what is left after the leak is off
     * (heap settling, caches) must not start one */
    double thr = in->later ? guard_growth_threshold(in->trip_growth) : GUARD_GROWTH_MIN_BPS;
    /* a later one also needs memory to have risen since, on average at the
     * growth threshold: the heap's own drift (fragmentation, late promotion)
     * rises slowly and must not start one */
    if (in->later && in->have_slope &&
        (in->level < in->end_level + in->budget || (in->level - in->end_level) / in->secs_since < thr))
        return GS_NOT_YET;
    if (in->have_slope && in->slope < thr)
        return in->later ? GS_NOT_YET : GS_FLAT;
    if (in->later && !in->have_slope)
        return GS_NOT_YET;            /* a later one needs measured growth */
    return GS_START;
}

enum guard_verdict guard_step_verdict(const struct guard_step *s)
{
    int early = s->settled && s->level > s->step_level + s->budget;
    if (s->elapsed_us < s->watch_us && !early)
        return GV_WAIT;
    if (!s->have_slope && !early && s->elapsed_us < 3 * s->watch_us)
        return GV_WAIT;               /* no slope yet (sparse readings): a little longer */
    if (early)
        return GV_ROSE;
    /* no slope even then: counted as growing, the side that keeps routes csr */
    if (!s->have_slope)
        return GV_GROWING;
    if (s->slope <= s->threshold)
        return GV_FLAT;
    /* ambiguous (growing, but less than twice the threshold, right after a
     * change): watched once more, measured from the middle of the step, so
     * that memory lagging the previous step (garbage promoted late) settles */
    return s->slope < 2 * s->threshold && !s->rewatched ? GV_REWATCH : GV_GROWING;
}

int guard_switch_order(const struct guard_rank *x, const struct guard_rank *y)
{
    if (x->verdict != y->verdict)
        return y->verdict - x->verdict;     /* leaking before suspect */
    return y->est > x->est ? 1 : y->est < x->est ? -1 : 0;
}

int guard_narrow_order(const struct guard_rank *x, const struct guard_rank *y)
{
    int sx = x->verdict == V_SUSPECT, sy = y->verdict == V_SUSPECT;
    if (sx != sy)
        return sy - sx;                     /* suspects first ... */
    if (sx && x->est != y->est)
        return y->est > x->est ? 1 : -1;    /* ... largest estimate first */
    return y->weight > x->weight ? 1 : y->weight < x->weight ? -1 : 0;   /* then by traffic */
}

enum guard_choice guard_choose(int action, unsigned n, unsigned nleak, int narrowing, int acted)
{
    if (action == GUARD_ALL && n)
        return GC_SWITCH_ALL;
    if (action == GUARD_LIST && n)
        return GC_SWITCH_LISTED;
    if (action == GUARD_LEAKING && nleak)
        return GC_SWITCH_LEAKING;
    if (action == GUARD_LEAKING && narrowing)
        return GC_NARROW_STEP;
    if (action == GUARD_LEAKING && n)
        return GC_NARROW_START;
    return acted ? GC_NONE : GC_REFUSE_NOTHING;
}

enum guard_settle guard_settle(uint64_t elapsed_us, uint64_t watch_us, int have_slope, double slope, double thr)
{
    if (elapsed_us < watch_us)
        return GSE_WAIT;
    if (have_slope && slope <= thr)
        return GSE_FLAT;
    return elapsed_us < GUARD_SETTLE_WATCHES * watch_us ? GSE_WAIT : GSE_GAVE_UP;
}

/* ---- readings ------------------------------------------------------------ */

static int worker_figure(const struct series_worker *w, int metric, double *v)
{
    const struct series_point *l = &w->last;

    switch (metric) {
    case ATTRIB_HEAP:
        if (l->flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV)) {
            /* post-GC: the saw-tooth does not count; a floor carried over
             * from an earlier GC is stale once the heap is below it */
            *v = (double)(l->floor < l->heap_used || !(l->flags & MEM_HAS_HEAP) ? l->floor : l->heap_used);
            return 1;
        }
        if (l->flags & MEM_HAS_HEAP) {
            *v = (double)l->heap_used;
            return 1;
        }
        return 0;
    case ATTRIB_RSS:
        *v = (double)l->rss;
        return (l->flags & MEM_HAS_RSS) != 0;
    default:
        *v = (double)l->external;
        return (l->flags & MEM_HAS_EXT) != 0;
    }
}

/* Thresholds of one worker; 0 when they cannot be known (a fraction of an
 * unknown limit). */
static void thresholds(const struct app *app, const struct series_worker *w, double *high, double *low)
{
    const struct config_guard *gc = &app->cfg->guard;
    uint64_t limit = app->cfg->memory.limit_bytes ? (uint64_t)app->cfg->memory.limit_bytes : w->limit;

    if (gc->high_bytes) {
        *high = (double)gc->high_bytes;
        *low = (double)gc->low_bytes;
    } else if (gc->high_fraction && limit && limit != UINT64_MAX) {
        *high = gc->high_fraction * (double)limit;
        *low = gc->low_fraction * (double)limit;
    } else {
        *high = *low = 0;
    }
}

/* The limit the projection aims at: memory.limit_bytes, else what the source
 * reports (the V8 heap limit, cgroup memory.max); 0 when unknown. */
static double worker_limit(const struct app *app, const struct series_worker *w)
{
    uint64_t limit = app->cfg->memory.limit_bytes ? (uint64_t)app->cfg->memory.limit_bytes : w->limit;
    return limit && limit != UINT64_MAX ? (double)limit : 0;
}

/* Timing of the trough signals and of the narrowing, from the sampling
 * interval: a window holds GUARD_TROUGH_MIN_N readings at the least, a
 * bucket of the slope two, a watch enough buckets for a slope after its
 * settling quarter. */
static void timing(const struct app *app, uint64_t *trough_us, uint64_t *bucket_us, uint64_t *watch_us)
{
    uint64_t iv = (uint64_t)app->cfg->memory.interval_ms * 1000;
    uint64_t w = GUARD_TROUGH_MS * 1000ull, wm = 2 * iv + iv / 2;
    uint64_t watch = app->cfg->guard.watch_ms ? (uint64_t)app->cfg->guard.watch_ms * 1000 : 8 * iv;

    if (!app->cfg->guard.watch_ms && watch < 5000000)
        watch = 5000000;
    *trough_us = w > wm ? w : wm;
    *watch_us = watch;
    *bucket_us = watch / 6 > 2 * iv ? watch / 6 : 2 * iv;
}

/* Copies the raw readings of <w>'s guard metric at or after <since> into
 * g->buf; returns how many. With <gc_only> (heap_used), only readings right
 * after a forced GC: floors, without the garbage of the saw-tooth. */
static unsigned worker_samples_gc(struct guard *g, const struct series_worker *w, uint64_t since, int gc_only);

static unsigned worker_samples(struct guard *g, const struct series_worker *w, uint64_t since)
{
    return worker_samples_gc(g, w, since, 0);
}

static unsigned worker_samples_gc(struct guard *g, const struct series_worker *w, uint64_t since, int gc_only)
{
    int metric = g->app->cfg->guard.metric;
    unsigned np = series_npoints(w, 1), n = 0;
    uint32_t need = metric == ATTRIB_HEAP ? MEM_HAS_HEAP : metric == ATTRIB_RSS ? MEM_HAS_RSS : MEM_HAS_EXT;

    for (unsigned i = np; i-- > 0;) {  /* newest first, stop at <since> */
        if (series_point(w, 1, i)->t_us < since)
            break;
        n++;
    }
    unsigned k = 0;
    for (unsigned i = np - n; i < np; i++) {
        const struct series_point *p = series_point(w, 1, i);
        if (!(p->flags & need) || (gc_only && !(p->flags & MEM_GC)))
            continue;
        g->buf[k].t_us = p->t_us;
        g->buf[k].v = (double)(metric == ATTRIB_HEAP ? p->heap_used : metric == ATTRIB_RSS ? p->rss : p->external);
        k++;
    }
    return k;
}

/* Over every live worker: the fastest trough growth over [from, its newest
 * reading] (<*slope>, bytes/s; 0 if no worker has one) and the highest of
 * their newest troughs (<*level>). Returns 1 if some worker had a slope. */
static int growth_since(struct guard *g, uint64_t from_us, double *slope, double *level)
{
    struct app *app = g->app;
    uint64_t trough_us, bucket_us, watch_us;
    int ok = 0;

    timing(app, &trough_us, &bucket_us, &watch_us);
    *slope = 0;
    *level = 0;
    for (unsigned i = 0; i < app->series.nw; i++) {
        const struct series_worker *w = app->series.w[i];
        double sl, last;
        if (!w->alive)
            continue;
        /* forced-GC floors when there are enough of them (designed rows at
         * full speed): exact, where troughs still hold old-generation garbage */
        unsigned n = app->cfg->guard.metric == ATTRIB_HEAP ? worker_samples_gc(g, w, from_us, 1) : 0;
        if (n < 4 || !guard_trough_slope(g->buf, n, from_us, w->last_us, bucket_us, &sl, &last)) {
            n = worker_samples(g, w, from_us);
            if (!guard_trough_slope(g->buf, n, from_us, w->last_us, bucket_us, &sl, &last))
                continue;
        }
        if (!ok || sl > *slope)
            *slope = sl;
        if (last > *level)
            *level = last;
        ok = 1;
    }
    return ok;
}

/* The trough and projection signals of every live worker (guard.h): sets
 * <*trough_above> when some worker's trough is above its high and <*fast>
 * when some worker's troughs reach its limit within GUARD_PROJ_SECONDS. */
static void read_troughs(struct guard *g, int *trough_above, int *fast)
{
    struct app *app = g->app;
    uint64_t trough_us, bucket_us, watch_us;
    uint64_t proj_us;
    double best = 0;

    timing(app, &trough_us, &bucket_us, &watch_us);
    proj_us = 3 * bucket_us > 3000000 ? 3 * bucket_us : 3000000;
    *trough_above = *fast = 0;
    for (unsigned i = 0; i < app->series.nw; i++) {
        const struct series_worker *w = app->series.w[i];
        double hi, lo, tr, sl, last;
        if (!w->alive || w->stale)
            continue;
        thresholds(app, w, &hi, &lo);
        uint64_t span = trough_us > proj_us ? trough_us : proj_us;
        unsigned n = worker_samples(g, w, w->last_us > span ? w->last_us - span : 0);
        if (hi > 0 && guard_trough(g->buf, n, w->last_us, trough_us, app->cfg->guard.metric == ATTRIB_HEAP, &tr) &&
            tr > hi && tr / hi > best) {
            best = tr / hi;
            *trough_above = 1;
            g->trough = tr;
            g->trough_high = hi;
            g->trough_worker = w->pid;
            g->trough_n = 0;
            for (unsigned k = 0; k < n; k++)
                g->trough_n += g->buf[k].t_us + trough_us > w->last_us;
        }
        double limit = worker_limit(app, w);
        uint64_t from = w->last_us > proj_us ? w->last_us - proj_us : 0;
        if (limit > 0 && lo > 0 && guard_trough_slope(g->buf, n, from, w->last_us, bucket_us, &sl, &last) &&
            sl >= GUARD_PROJ_MIN_BPS && last > lo && (limit - last) / sl < GUARD_PROJ_SECONDS) {
            *fast = 1;
            g->fast_growth = sl;
            g->fast_level = last;
            g->fast_limit = limit;
            g->fast_secs = last >= limit ? 0 : (limit - last) / sl;
            g->fast_worker = w->pid;
        }
    }
}

/* Reads every live worker. Returns 1 if a sample newer than the last check
 * arrived; sets g->value etc. to the worker nearest its threshold and
 * <*all_low> when every worker with a figure is below its low threshold. */
static int read_workers(struct guard *g, int *above, int *all_low)
{
    struct app *app = g->app;
    double best = -1;
    uint64_t newest = 0;

    g->have = 0;
    g->any_limit = 0;
    *above = 0;
    *all_low = 1;
    for (unsigned i = 0; i < app->series.nw; i++) {
        const struct series_worker *w = app->series.w[i];
        double v, hi, lo;
        if (!w->alive || !worker_figure(w, app->cfg->guard.metric, &v))
            continue;
        thresholds(app, w, &hi, &lo);
        /* a fresh reading of a GC floor is a new GC, not a new sample that
         * carries the last floor over: one high floor must not count thrice */
        uint64_t seen = app->cfg->guard.metric == ATTRIB_HEAP && (w->last.flags & SERIES_FLOOR_GC) &&
                        w->gc_floor_us ? w->gc_floor_us : w->last_us;
        if (seen > newest)
            newest = seen;
        double ratio = hi > 0 ? v / hi : 0;
        if (!g->have || ratio > best) {
            best = ratio;
            g->worker = w->pid;
            g->value = v;
            g->high = hi;
            g->low = lo;
        }
        g->have = 1;
        if (hi > 0) {
            g->any_limit = 1;
            if (v > hi)
                *above = 1;
            if (v >= lo)
                *all_low = 0;
        }
    }
    if (!g->any_limit)
        *all_low = 0;                 /* no threshold known: cannot say it recovered */
    int fresh = newest > g->newest_us;
    if (fresh)
        g->newest_us = newest;
    return fresh;
}

/* ---- actions ------------------------------------------------------------- */

static unsigned actions_last_hour(struct guard *g, uint64_t now_ms)
{
    while (g->act_n && g->actions[g->act_head] + 3600000 <= now_ms) {
        g->act_head = (g->act_head + 1) % GUARD_MAX_PER_HOUR;
        g->act_n--;
    }
    return g->act_n;
}

static void action_taken(struct guard *g, uint64_t now_ms)
{
    if (g->act_n == GUARD_MAX_PER_HOUR) {
        g->act_head = (g->act_head + 1) % GUARD_MAX_PER_HOUR;
        g->act_n--;
    }
    g->actions[(g->act_head + g->act_n++) % GUARD_MAX_PER_HOUR] = now_ms;
    g->last_action_us = app_now_us();
    g->value_at_action = g->value;
    g->actions_this_trip++;
}

static int dry_get(const struct guard *g, unsigned slot)
{
    return slot < g->ndry && g->dry[slot];
}

static void dry_set(struct guard *g, unsigned slot, int on)
{
    if (slot >= g->ndry) {
        unsigned n = g->app->stats.n > slot ? g->app->stats.n : slot + 1;
        uint8_t *d = realloc(g->dry, n);
        if (d == NULL)
            return;
        memset(d + g->ndry, 0, n - g->ndry);
        g->dry = d;
        g->ndry = n;
    }
    g->dry[slot] = (uint8_t)on;
}

/* A route the guard may switch off now. */
static int switchable(const struct app *app, unsigned id)
{
    const struct config *c = app->cfg;
    unsigned slot = app->route_slot[id];

    if (mode_can_switch(app, slot, MODE_CSR, BY_GUARD) != MODE_OK || dry_get(app->guard, slot))
        return 0;
    return c->guard.action != GUARD_LIST || (c->guard.listed && c->guard.listed[id]);
}

/* The estimate the guard ranks a route by: its estimate on the guard's
 * metric when there is one, else its largest. */
static double route_estimate(const struct app *app, unsigned slot, enum attrib_verdict *v)
{
    const struct attrib_route *ar = attrib_route_get(app, slot);
    double best = 0;

    *v = ar ? ar->verdict : V_UNKNOWN;
    if (ar == NULL)
        return 0;
    if (ar->est[app->cfg->guard.metric].ok)
        return ar->est[app->cfg->guard.metric].beta;
    for (int m = 0; m < ATTRIB_NMETRIC; m++)
        if (ar->est[m].ok && ar->est[m].beta > best)
            best = ar->est[m].beta;
    return best;
}

static struct event_rec *guard_event_begin(struct guard *g, enum event_type t)
{
    struct event_rec *ev = events_begin(g->app, t, "guard");
    ev->dry_run = g->app->cfg->guard.dry_run;
    ev->worker = g->worker;
    ev->metric = attrib_metric_names[g->app->cfg->guard.metric];
    ev->bytes = g->value > 0 ? (uint64_t)g->value : 0;
    ev->threshold = g->high > 0 ? (uint64_t)g->high : 0;
    return ev;
}

static void refuse(struct guard *g, enum refusal why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct guard *g, enum refusal why, const char *fmt, ...)
{
    va_list ap;

    g->refusals[why]++;
    if (g->refused_once[why])
        return;                       /* said once per trip: no event storm */
    g->refused_once[why] = 1;
    struct event_rec *ev = guard_event_begin(g, EVT_REFUSED);
    va_start(ap, fmt);
    vsnprintf(ev->reason, sizeof ev->reason, fmt, ap);
    va_end(ap);
    events_commit(g->app, ev);
}

/* The guard trips on signal <why>: the trigger, in words, and the event. */
static void trip(struct guard *g, enum guard_trigger why)
{
    struct app *app = g->app;
    const struct config_guard *gc = &app->cfg->guard;
    const struct attrib *at = app->attrib;
    char v[32], h[32];

    g->tripped = 1;
    g->tripped_ms = app_wall_ms(app);
    g->trips++;
    g->actions_this_trip = 0;
    g->narrowed_this_trip = 0;
    {
        uint64_t tw, bw, ww, now = app_now_us();
        double lvl;
        timing(app, &tw, &bw, &ww);
        if (!growth_since(g, now > ww ? now - ww : 0, &g->trip_growth, &lvl))
            g->trip_growth = 0;
    }
    memset(g->refused_once, 0, sizeof g->refused_once);
    g->below_since_us = 0;
    fmt_bytes(v, sizeof v, g->value);
    fmt_bytes(h, sizeof h, g->high);
    if (why == GT_TROUGH) {
        uint64_t tw, bw, ww;
        timing(app, &tw, &bw, &ww);
        g->worker = g->trough_worker;
        g->value = g->trough;
        g->high = g->trough_high;
        fmt_bytes(v, sizeof v, g->trough);
        fmt_bytes(h, sizeof h, g->trough_high);
        snprintf(g->trigger, sizeof g->trigger, "%s of worker %lld stayed above %s %s through its "
                 "collections: its lowest of %u readings over the last %.1f s is %s",
                 attrib_metric_names[gc->metric], (long long)g->trough_worker,
                 gc->high_bytes ? "high_bytes" : "high_fraction of the limit,", h, g->trough_n,
                 (double)tw / 1e6, v);
    } else if (why == GT_FAST) {
        char lim[32];
        g->worker = g->fast_worker;
        g->value = g->fast_level;
        fmt_bytes(v, sizeof v, g->fast_level);
        fmt_bytes(lim, sizeof lim, g->fast_limit);
        snprintf(g->trigger, sizeof g->trigger, "%s of worker %lld grows %.1f MB/s (its troughs): "
                 "%.1f s from %s to its limit %s (under %.0f s)", attrib_metric_names[gc->metric],
                 (long long)g->fast_worker, g->fast_growth / 1048576.0, g->fast_secs, v, lim,
                 GUARD_PROJ_SECONDS);
    } else if (why == GT_FLOOR)
        snprintf(g->trigger, sizeof g->trigger, "%s%s of worker %lld is %s, above %s %s for %d readings",
                 attrib_metric_names[gc->metric], gc->metric == ATTRIB_HEAP ? " floor" : "",
                 (long long)g->worker, v, gc->high_bytes ? "high_bytes" : "high_fraction of the limit,",
                 h, GUARD_CONFIRM);
    else
        snprintf(g->trigger, sizeof g->trigger, "projected %.0f minutes until %s reaches its limit "
                 "(below min_minutes_to_oom = %d)", at->minutes_to_limit,
                 at->proj_metric ? at->proj_metric : "memory", gc->min_minutes_to_oom);
    struct event_rec *ev = guard_event_begin(g, EVT_TRIP);
    snprintf(ev->reason, sizeof ev->reason, "tripped: %s", g->trigger);
    events_commit(app, ev);
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return guard_switch_order(&(struct guard_rank){ (int)x->v, x->est, x->weight },
                              &(struct guard_rank){ (int)y->v, y->est, y->weight });
}

/* Switches <n> candidates off as one action. Returns 1, or 0 if refused
 * (max_switches_per_hour). */
static int switch_off(struct guard *g, const struct cand *c, unsigned n, const char *why)
{
    struct app *app = g->app;
    const struct config_guard *gc = &app->cfg->guard;
    uint64_t now_ms = app_wall_ms(app);
    char b[32], list[300] = "";
    size_t used = 0;

    if (!guard_cap_allows(actions_last_hour(g, now_ms), gc->max_switches_per_hour, 0)) {
        refuse(g, R_CAP, "max_switches_per_hour (%d) reached: no more switches this hour; "
               "switch routes by hand if memory keeps growing", gc->max_switches_per_hour);
        return 0;
    }
    if (!gc->dry_run) {               /* memory first: a bisection or probe gives way */
        bisect_abort(app, "the guard tripped: memory is near the limit");
        probe_abort(app, "the guard tripped: memory is near the limit");
    }
    struct event_rec *ev = guard_event_begin(g, EVT_SWITCH);
    ev->action = EVT_ACT_CSR;
    for (unsigned i = 0; i < n; i++) {
        struct stats_route *r = stats_at(&app->stats, c[i].slot);
        if (gc->dry_run) {
            dry_set(g, c[i].slot, 1);
            events_add_route(ev, r->name);
        } else {
            mode_set(app, c[i].slot, MODE_CSR, BY_GUARD, ev);
        }
        if (used < sizeof list - 80) {
            if (c[i].est > 0)
                fmt_bytes(b, sizeof b, c[i].est);
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s (%s%s%s)", i ? ", " : "",
                                     r->name, attrib_verdict_names[c[i].v], c[i].est > 0 ? ", " : "",
                                     c[i].est > 0 ? b : "");
        }
    }
    snprintf(ev->reason, sizeof ev->reason, "%s%s: %s%s", gc->dry_run ? "would switch to csr " : "switched to csr ",
             why, list, gc->dry_run ? " (dry run: nothing changed)" : "");
    action_taken(g, now_ms);
    events_commit(app, ev);
    double sl;                        /* where memory was: a later narrowing needs a rise from here */
    uint64_t now = app_now_us();
    if (!growth_since(g, now > 3000000 ? now - 3000000 : 0, &sl, &g->end_level))
        g->end_level = g->value;
    return 1;
}

/* ---- narrowing down under pressure --------------------------------------- */

static int cmp_rank(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return guard_narrow_order(&(struct guard_rank){ (int)x->v, x->est, x->weight },
                              &(struct guard_rank){ (int)y->v, y->est, y->weight });
}

static void narrow_stop(struct guard *g)
{
    uint64_t now = app_now_us();
    double sl;
    if (!growth_since(g, now > 3000000 ? now - 3000000 : 0, &sl, &g->end_level))
        g->end_level = g->value;
    guard_narrow_fini(&g->nw);
    free(g->nw_cand);
    g->nw_cand = NULL;
    g->narrowing = 0;
    g->settling = 0;
    g->narrow_end_us = app_now_us();
}

/* Candidate <i> is csr by the guard (on paper in a dry run). */
static int narrow_is_off(const struct guard *g, unsigned i)
{
    const struct stats_route *r = g->app->stats.slot[g->nw_cand[i].slot];
    return g->app->cfg->guard.dry_run ? dry_get(g, g->nw_cand[i].slot)
                                      : r->mode == MODE_CSR && r->mode_by == BY_GUARD;
}

/* Candidate <i> may be put in mode <to> by the narrowing: still in the
 * route table, and the rule allows it (a reload or a person may have changed
 * it since). */
static int narrow_may(const struct guard *g, unsigned i, enum route_mode to)
{
    unsigned slot = g->nw_cand[i].slot;
    return g->app->stats.slot[slot]->active && mode_can_switch(g->app, slot, to, BY_GUARD) == MODE_OK;
}

static size_t list_routes(const struct guard *g, char *buf, size_t len, int off, int fate)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < g->nw.n && used + 70 < len; i++) {
        if ((off >= 0 && g->nw.off[i] != off) || (fate >= 0 && g->nw.fate[i] != fate))
            continue;
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                                 g->app->stats.slot[g->nw_cand[i].slot]->name);
    }
    if (used == 0)
        snprintf(buf, len, "none");
    return used;
}

/* Makes the modes what nw.off[] wants: one switch event for the routes going
 * csr, one restore event for those rendering again. Narrowing steps are not
 * actions of max_switches_per_hour (README "The guard" says why). */
static void narrow_apply(struct guard *g, const char *why)
{
    struct app *app = g->app;
    const struct config_guard *gc = &app->cfg->guard;

    for (int dir = 1; dir >= 0; dir--) {      /* offs first: memory first */
        struct event_rec *ev = NULL;
        for (unsigned i = 0; i < g->nw.n; i++) {
            /* (csr by someone else: not ours to switch, nor to count) */
            if (g->nw.off[i] != dir || narrow_is_off(g, i) == dir || !narrow_may(g, i, dir ? MODE_CSR : MODE_SSR))
                continue;
            if (ev == NULL) {
                ev = guard_event_begin(g, dir ? EVT_SWITCH : EVT_RESTORE);
                ev->action = dir ? EVT_ACT_CSR : EVT_ACT_SSR;
            }
            if (gc->dry_run) {
                dry_set(g, g->nw_cand[i].slot, dir);
                events_add_route(ev, app->stats.slot[g->nw_cand[i].slot]->name);
            } else {
                mode_set(app, g->nw_cand[i].slot, dir ? MODE_CSR : MODE_SSR, BY_GUARD, ev);
            }
        }
        if (ev) {
            snprintf(ev->reason, sizeof ev->reason, "%snarrowing down: %s%s", gc->dry_run ? "would be " : "",
                     why, gc->dry_run ? " (dry run: nothing changed)" : "");
            events_commit(app, ev);
        }
    }
}

static void narrow_event(struct guard *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void narrow_event(struct guard *g, const char *fmt, ...)
{
    va_list ap;
    struct event_rec *ev = guard_event_begin(g, EVT_NARROW);

    for (unsigned i = 0; i < g->nw.n; i++)
        if (g->nw.off[i])
            events_add_route(ev, g->app->stats.slot[g->nw_cand[i].slot]->name);
    va_start(ap, fmt);
    vsnprintf(ev->reason, sizeof ev->reason, fmt, ap);
    va_end(ap);
    events_commit(g->app, ev);
}

/* The attribution engine judged a candidate leaking while the narrowing ran:
 * the narrowing ends; the routes it holds csr only to narrow down (not
 * proven guilty, not the named ones) render again. act() then switches any
 * named route still rendering. Returns 1 if it ended the narrowing. */
static int narrow_named(struct guard *g)
{
    char named[300] = "";
    size_t used = 0;

    for (unsigned i = 0; i < g->nw.n; i++) {
        enum attrib_verdict v;
        route_estimate(g->app, g->nw_cand[i].slot, &v);
        if (v != V_LEAKING)
            continue;
        g->nw.fate[i] = GF_GUILTY;
        g->nw.off[i] = 1;
        if (used + 70 < sizeof named)
            used += (size_t)snprintf(named + used, sizeof named - used, "%s%s", used ? ", " : "",
                                     g->app->stats.slot[g->nw_cand[i].slot]->name);
    }
    if (used == 0)
        return 0;
    for (unsigned i = 0; i < g->nw.n; i++)
        if (g->nw.fate[i] != GF_GUILTY)
            g->nw.off[i] = 0;
    char why[EVENT_REASON_MAX - 40];
    snprintf(why, sizeof why, "the attribution engine judged %s leaking: the routes switched only to "
             "narrow down render again", named);
    narrow_apply(g, why);
    narrow_event(g, "narrowing ended: the attribution engine judged %s leaking; csr now: the named "
                 "and proven-guilty routes", named);
    narrow_stop(g);
    return 1;
}

/* A narrowing step starts now, memory at <level>; <after_growth>: the step
 * before it grew (its watch settles longer). */
static void step_begin(struct guard *g, double level, int after_growth)
{
    g->step_us = app_now_us();
    g->step_level = level;
    g->step_settled = 0;
    g->step_rewatched = 0;
    g->step_after_growth = after_growth;
}

/* While settling after a growing step (everything under test off): once a
 * watch shows memory flat, or GUARD_SETTLE_WATCHES watches passed, the test
 * that waits starts. */
static void narrow_settle(struct guard *g, uint64_t now, uint64_t watch, double thr)
{
    double slope = 0, level = 0;

    if (now - g->step_us < watch)
        return;
    uint64_t from = now - watch * 3 / 4;
    int ok = growth_since(g, from, &slope, &level);
    enum guard_settle st = guard_settle(now - g->step_us, watch, ok, slope, thr);
    if (st == GSE_WAIT)
        return;
    narrow_mark(&g->nw, g->nw.lo, g->nw.mid, 0, -1);
    char why[EVENT_REASON_MAX - 40];
    if (st == GSE_FLAT)
        snprintf(why, sizeof why, "memory settled (%.2f MB/s after %.1f s); %.250s", slope / 1048576.0,
                 (double)(now - g->step_us) / 1e6, g->settle_why);
    else
        snprintf(why, sizeof why, "memory did not settle in %.1f s (%s); %.250s", (double)(now - g->step_us) / 1e6,
                 ok ? "still growing" : "no slope", g->settle_why);
    narrow_apply(g, why);
    g->settling = 0;
    step_begin(g, level, st != GSE_FLAT);
}

static const char *const gn_names[] = { "first group", "second group", "testing", "done", "stuck" };

/* One tick of a live narrowing: judge the step being watched once its watch
 * is over (or memory rose past the step's budget), then take the next step. */
static void narrow_tick(struct guard *g)
{
    struct app *app = g->app;
    uint64_t tw, bucket, watch, now = app_now_us();
    double slope = 0, level = 0, thr;
    char a[300], b[300], sl[32], why[EVENT_REASON_MAX - 40];

    timing(app, &tw, &bucket, &watch);
    thr = guard_growth_threshold(g->ref_growth);
    if (g->settling) {
        narrow_settle(g, now, watch, thr);
        return;
    }
    /* after a step that grew, memory lags the switch back off for seconds
     * (the step's garbage is promoted and collected late): a longer settle */
    uint64_t settle = g->step_after_growth ? watch / 2 : watch / 4;
    int ok = growth_since(g, g->step_us + settle, &slope, &level);
    if (!ok)                          /* too early for a slope: the level alone */
        growth_since(g, now > watch ? now - watch : 0, &(double){ 0 }, &level);
    /* the early rule starts once the step settled, from the level then */
    int settled = now - g->step_us >= settle;
    if (settled && !g->step_settled) {
        g->step_settled = 1;
        if (level > g->step_level)
            g->step_level = level;
    }
    struct guard_step step = {
        .elapsed_us = now - g->step_us, .watch_us = watch, .settled = settled,
        .have_slope = ok, .slope = slope, .threshold = thr,
        .level = level, .step_level = g->step_level, .budget = guard_step_budget(g->high),
        .rewatched = g->step_rewatched,
    };
    enum guard_verdict v = guard_step_verdict(&step);
    if (v == GV_WAIT)
        return;
    if (v == GV_REWATCH) {
        g->step_rewatched = 1;
        g->step_us = now - watch / 2;
        return;
    }
    int early = v == GV_ROSE, growing = v != GV_FLAT;
    if (early)
        snprintf(sl, sizeof sl, "rose %.1f MB in %.1f s", (level - g->step_level) / 1048576.0,
                 (double)(now - g->step_us) / 1e6);
    else if (ok)
        snprintf(sl, sizeof sl, "%.2f MB/s", slope / 1048576.0);
    else
        snprintf(sl, sizeof sl, "no slope");
    enum guard_narrow_state was = g->nw.state;
    unsigned lo = g->nw.lo, mid = g->nw.mid;
    enum guard_narrow_state st = guard_narrow_next(&g->nw, growing);

    /* what the verdict says, in words */
    char verdict[200];
    if (was == GN_FIRST)
        snprintf(verdict, sizeof verdict, "memory %s with the first group csr (%s; growth at the start "
                 "%.2f MB/s)", growing ? "still grows" : "stopped growing", sl, g->ref_growth / 1048576.0);
    else if (was == GN_SECOND)
        snprintf(verdict, sizeof verdict, "memory %s with every candidate csr (%s)",
                 growing ? "still grows" : "stopped growing", sl);
    else {
        size_t u = 0;
        a[0] = '\0';
        for (unsigned i = lo; i < mid && u + 70 < sizeof a; i++)
            u += (size_t)snprintf(a + u, sizeof a - u, "%s%s", u ? ", " : "",
                                  app->stats.slot[g->nw_cand[i].slot]->name);
        snprintf(verdict, sizeof verdict, "%s %s (memory %s with %s rendered: %s)", a,
                 growing ? "leaks" : "is innocent", growing ? "grew" : "did not grow",
                 mid - lo > 1 ? "them" : "it", sl);
    }
    if (st == GN_SECOND) {
        struct cand *c = g->nw_cand + g->nw.first;
        snprintf(why, sizeof why, "the rest of the traffic, %s", verdict);
        if (!switch_off(g, c, g->nw.n - g->nw.first, why)) {
            g->nw.state = GN_FIRST;   /* refused (cap): the first group stays, judged again */
            g->nw.steps--;
            memset(g->nw.off + g->nw.first, 0, g->nw.n - g->nw.first);
        }
    } else if (st == GN_TEST) {
        a[0] = '\0';
        size_t u = 0;
        for (unsigned i = g->nw.lo; i < g->nw.mid && u + 70 < sizeof a; i++)
            u += (size_t)snprintf(a + u, sizeof a - u, "%s%s", u ? ", " : "",
                                  app->stats.slot[g->nw_cand[i].slot]->name);
        snprintf(why, sizeof why, "%s; next: %s render%s again while memory is watched", verdict, a,
                 g->nw.mid - g->nw.lo > 1 ? "" : "s");
        if (growing) {
            /* the next test waits for flat memory with its routes still off */
            narrow_mark(&g->nw, g->nw.lo, g->nw.mid, 1, -1);
            snprintf(g->settle_why, sizeof g->settle_why, "%s", why);
            char hold[EVENT_REASON_MAX - 40];
            snprintf(hold, sizeof hold, "%s; memory settles before %s render%s again", verdict, a,
                     g->nw.mid - g->nw.lo > 1 ? "" : "s");
            narrow_apply(g, hold);
            g->settling = 1;
        } else {
            narrow_apply(g, why);
        }
    } else if (st == GN_DONE) {
        list_routes(g, a, sizeof a, 1, -1);
        list_routes(g, b, sizeof b, 0, -1);
        snprintf(why, sizeof why, "%s; done: csr %s", verdict, a);
        narrow_apply(g, why);
        narrow_event(g, "narrowed down in %u steps: %s; csr: %s (guilty); rendering: %s", g->nw.steps,
                     verdict, a, b);
        narrow_stop(g);
        return;
    } else if (st == GN_STUCK) {
        narrow_event(g, "%s: the growth is not in the routes the guard may switch (never_csr, _other, set by "
                     "hand, or not tied to requests); they stay csr; see /api/report or switch by hand", verdict);
        narrow_stop(g);
        return;
    }
    step_begin(g, level, growing);
}

/* Starts a narrowing over the switchable candidates <c> (<n>, any order)
 * when memory grows (or its growth cannot be measured yet). */
static void narrow_start(struct guard *g, struct cand *c, unsigned n)
{
    struct app *app = g->app;
    uint64_t tw, bucket, watch, now = app_now_us();
    double slope = 0, level = 0;
    unsigned k = 0;

    timing(app, &tw, &bucket, &watch);
    /* the growth is measured after the last change settled: a switch of the
     * routes judged leaking, or the end of an earlier narrowing */
    uint64_t last = g->narrow_end_us > g->last_action_us ? g->narrow_end_us : g->last_action_us;
    if (last && now - last < watch)
        return;
    uint64_t from = now > watch ? now - watch : 0;
    if (last && last + watch / 4 > from)
        from = last + watch / 4;
    int ok = growth_since(g, from, &slope, &level);
    struct guard_start_in in = {
        .later = g->narrowed_this_trip || g->actions_this_trip,
        .have_slope = ok, .slope = slope, .level = level, .end_level = g->end_level,
        .budget = guard_step_budget(g->high), .secs_since = (double)(now - last) / 1e6,
        .trip_growth = g->trip_growth,
    };
    enum guard_start go = guard_narrow_start(&in);
    if (go == GS_FLAT)
        refuse(g, R_FLAT, "memory is above high but not growing (%.2f MB/s over %.1f s): nothing to "
               "narrow down yet; no route is judged leaking", slope / 1048576.0, (double)watch / 1e6);
    if (go != GS_START)
        return;
    for (unsigned i = 0; i < n; i++)
        if (c[i].weight > 0)          /* never rendered: cannot be the leak */
            c[k++] = c[i];
    if (k == 0)
        return;
    qsort(c, k, sizeof *c, cmp_rank);
    double *w = malloc(k * sizeof *w);
    g->nw_cand = malloc(k * sizeof *g->nw_cand);
    if (w == NULL || g->nw_cand == NULL) {
        free(w);
        free(g->nw_cand);
        g->nw_cand = NULL;
        return;
    }
    for (unsigned i = 0; i < k; i++)
        w[i] = c[i].weight;
    memcpy(g->nw_cand, c, k * sizeof *c);
    if (guard_narrow_init(&g->nw, w, k) < 0) {
        free(w);
        free(g->nw_cand);
        g->nw_cand = NULL;
        return;
    }
    free(w);
    double share = 0, total = 0;
    for (unsigned i = 0; i < k; i++) {
        total += c[i].weight;
        share += i < g->nw.first ? c[i].weight : 0;
    }
    char why[EVENT_REASON_MAX - 40];
    snprintf(why, sizeof why, "no route is judged leaking yet: the first group to narrow down (suspects first, "
             "then by traffic; %.0f %% of the rendered requests), memory %s%.2f MB/s", total > 0 ? 100 * share / total : 0,
             ok ? "growing " : "growth not measured yet, ", slope / 1048576.0);
    if (!switch_off(g, g->nw_cand, g->nw.first, why)) {
        guard_narrow_fini(&g->nw);
        free(g->nw_cand);
        g->nw_cand = NULL;
        return;
    }
    g->narrowing = 1;
    g->narrowed_this_trip = 1;
    g->ref_growth = ok ? slope : 0;
    step_begin(g, level, 0);
}

/* One step while tripped, as "action" says. With "leaking": the routes
 * judged leaking at once; with none judged leaking, the narrowing. */
static void act(struct guard *g)
{
    struct app *app = g->app;
    const struct config_guard *gc = &app->cfg->guard;
    const struct route_table *t = app->cfg->routes;
    unsigned nid = route_count(t);
    struct cand *c;
    unsigned n = 0, nleak = 0;

    if (gc->action == GUARD_LEAKING && g->narrowing)
        narrow_named(g);              /* the engine named a leak: the narrowing ends */
    if ((c = calloc(nid ? nid : 1, sizeof *c)) == NULL)
        return;
    for (unsigned id = 1; id < nid; id++) {
        if (!switchable(app, id))
            continue;
        struct cand *x = &c[n++];
        x->id = id;
        x->slot = app->route_slot[id];
        x->est = route_estimate(app, x->slot, &x->v);
        x->weight = (double)app->stats.slot[x->slot]->rendered;
        nleak += x->v == V_LEAKING;
    }
    qsort(c, n, sizeof *c, cmp_cand);
    switch (guard_choose((int)gc->action, n, nleak, g->narrowing, g->actions_this_trip || g->narrowed_this_trip)) {
    case GC_SWITCH_ALL:
        switch_off(g, c, n, "every route that can be (\"action\": \"all\")");
        break;
    case GC_SWITCH_LISTED:
        switch_off(g, c, n, "the routes \"action\" lists");
        break;
    case GC_SWITCH_LEAKING:
        switch_off(g, c, nleak, "the routes judged leaking, largest first");
        break;
    case GC_NARROW_STEP:
        narrow_tick(g);
        break;
    case GC_NARROW_START:
        narrow_start(g, c, n);
        break;
    case GC_REFUSE_NOTHING:
        refuse(g, R_NOTHING, "%s", "nothing to switch: every route it may switch is already csr, "
                                   "never_csr or set by hand");
        break;
    case GC_NONE:
        break;
    }
    free(c);
}

/* restore "on_recovery": one route back to ssr, the earliest switched. */
static void restore_one(struct guard *g)
{
    struct app *app = g->app;
    const struct config_guard *gc = &app->cfg->guard;
    uint64_t now_ms = app_wall_ms(app), best_since = UINT64_MAX;
    int best = -1, held = 0;

    if (g->last_action_us && app_now_us() - g->last_action_us < (uint64_t)gc->hold_seconds * 1000000u)
        return;                       /* watch memory between restores */
    for (unsigned id = 1; id < route_count(app->cfg->routes); id++) {
        unsigned slot = app->route_slot[id];
        const struct stats_route *r = app->stats.slot[slot];
        int ours = gc->dry_run ? dry_get(g, slot) : (r->mode == MODE_CSR && r->mode_by == BY_GUARD);
        if (!ours || mode_can_switch(app, slot, MODE_SSR, BY_GUARD) != MODE_OK)
            continue;
        if (!gc->dry_run && r->mode_since_ms + (uint64_t)gc->hold_seconds * 1000 > now_ms) {
            held = 1;
            continue;
        }
        if (r->mode_since_ms < best_since) {
            best_since = r->mode_since_ms;
            best = (int)slot;
        }
    }
    if (best < 0) {
        if (held)
            refuse(g, R_HOLD, "restore waits: the routes it switched stay csr at least hold_seconds");
        return;
    }
    if (!guard_cap_allows(actions_last_hour(g, now_ms), gc->max_switches_per_hour, 1)) {
        refuse(g, R_CAP, "max_switches_per_hour (%d) nearly reached: restores wait (one action is kept "
               "for a switch-off)", gc->max_switches_per_hour);
        return;
    }
    struct stats_route *r = stats_at(&app->stats, (unsigned)best);
    struct event_rec *ev = guard_event_begin(g, EVT_RESTORE);
    ev->action = EVT_ACT_SSR;
    char v[32], lo[32];
    fmt_bytes(v, sizeof v, g->value);
    fmt_bytes(lo, sizeof lo, g->low);
    snprintf(ev->reason, sizeof ev->reason, "%s %s to ssr: memory %s stayed below low %s "
             "(restore \"on_recovery\"; the next one after hold_seconds = %d s if memory stays low)",
             gc->dry_run ? "would restore" : "restored", r->name, v, lo, gc->hold_seconds);
    if (gc->dry_run) {
        dry_set(g, (unsigned)best, 0);
        events_add_route(ev, r->name);
    } else {
        mode_set(app, (unsigned)best, MODE_SSR, BY_GUARD, ev);
    }
    action_taken(g, now_ms);
    g->actions_this_trip = 0;
    events_commit(app, ev);
}

void guard_check(struct app *app)
{
    struct guard *g = app->guard;
    const struct config_guard *gc = &app->cfg->guard;
    int above, all_low;

    if (g == NULL || !gc->enabled)
        return;
    int fresh = read_workers(g, &above, &all_low);
    if (fresh)
        g->over = above ? g->over + 1 : 0;
    /* the trough signals count once per new raw reading */
    uint64_t newest_raw = 0;
    for (unsigned i = 0; i < app->series.nw; i++)
        if (app->series.w[i]->alive && app->series.w[i]->last_us > newest_raw)
            newest_raw = app->series.w[i]->last_us;
    if (newest_raw > g->newest_raw_us) {
        int trough_above, fast;
        g->newest_raw_us = newest_raw;
        read_troughs(g, &trough_above, &fast);
        g->trough_over = trough_above ? g->trough_over + 1 : 0;
        g->fast_over = fast ? g->fast_over + 1 : 0;
    }
    /* projection: counted per attribution evaluation */
    const struct attrib *at = app->attrib;
    int proj_low = 0;
    if (gc->min_minutes_to_oom && at && at->evaluations != g->proj_seen) {
        g->proj_seen = at->evaluations;
        int low = at->proj_ok && at->limit_bytes > 0 && at->minutes_to_limit >= 0 &&
                  at->minutes_to_limit < gc->min_minutes_to_oom;
        g->proj_over = low ? g->proj_over + 1 : 0;
    }
    struct guard_counts counts = { g->over, g->trough_over, g->fast_over, g->proj_over };
    proj_low = g->proj_over >= GUARD_PROJ_CONFIRM;
    enum guard_trigger why = guard_trigger(&counts);
    if (!g->tripped && why != GT_NONE)
        trip(g, why);
    /* calm: below low everywhere, or, for a guard on the projection alone,
     * the projection no longer short */
    int calm = guard_calm(g->any_limit, all_low, proj_low, gc->min_minutes_to_oom != 0);
    if (g->tripped) {
        if (calm) {
            if (g->below_since_us == 0)
                g->below_since_us = app_now_us();
            if (app_now_us() - g->below_since_us >= (uint64_t)gc->hold_seconds * 1000000u) {
                char v[32], lo[32];
                g->tripped = 0;
                g->over = 0;
                g->trough_over = g->fast_over = 0;
                g->below_since_us = 0;
                if (g->narrowing)
                    narrow_stop(g);   /* its routes stay csr: restore decides */
                fmt_bytes(v, sizeof v, g->value);
                fmt_bytes(lo, sizeof lo, g->low);
                struct event_rec *ev = guard_event_begin(g, EVT_RECOVERED);
                snprintf(ev->reason, sizeof ev->reason, "recovered: memory %s stayed below low %s for "
                         "hold_seconds = %d s%s", v, lo, gc->hold_seconds,
                         gc->restore_on_recovery ? "; restoring routes one at a time"
                                                 : "; routes stay csr until switched by hand (restore \"manual\")");
                events_commit(app, ev);
                memset(g->refused_once, 0, sizeof g->refused_once);
                return;
            }
        } else {
            g->below_since_us = 0;
        }
        act(g);
    } else if (gc->restore_on_recovery && calm) {
        restore_one(g);
    }
}

static void guard_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    guard_check(arg);
}

/* ---- life cycle, API ----------------------------------------------------- */

int guard_start(struct app *app)
{
    struct guard *g = app->guard;
    const struct config *c = app->cfg;

    if (!c->guard.enabled) {
        if (g && g->timer)
            evtimer_del(g->timer);
        return 0;
    }
    if (g == NULL) {
        if ((g = calloc(1, sizeof *g)) == NULL)
            return -1;
        g->app = app;
        g->buf = malloc(SERIES_RAW * sizeof *g->buf);
        g->timer = event_new(app->base, -1, EV_PERSIST, guard_tick, app);
        g->webhook = webhook_new(app);
        if (g->timer == NULL || g->webhook == NULL || g->buf == NULL) {
            free(g->buf);
            if (g->timer)
                event_free(g->timer);
            webhook_free(g->webhook);
            free(g);
            return -1;
        }
        app->guard = g;
    }
    int ms = c->memory.interval_ms;
    ms = ms < 200 ? 200 : ms > 5000 ? 5000 : ms;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(g->timer, &tv);
    if (!c->guard.dry_run && g->ndry)
        memset(g->dry, 0, g->ndry);   /* out of dry run: nothing was switched */
    log_at(LOG_INFO, "guard: %s on %s, action %s, restore %s%s", c->guard.dry_run ? "dry run" : "armed",
           attrib_metric_names[c->guard.metric],
           c->guard.action == GUARD_ALL ? "all" : c->guard.action == GUARD_LIST ? "a list" : "leaking",
           c->guard.restore_on_recovery ? "on_recovery" : "manual",
           c->guard.webhook ? ", webhook set" : "");
    return 0;
}

void guard_free(struct app *app)
{
    struct guard *g = app->guard;

    if (g == NULL)
        return;
    event_free(g->timer);
    webhook_free(g->webhook);
    free(g->dry);
    guard_narrow_fini(&g->nw);
    free(g->nw_cand);
    free(g->buf);
    free(g);
    app->guard = NULL;
}

json_t *guard_json(const struct app *app)
{
    const struct guard *g = app->guard;
    const struct config_guard *gc = &app->cfg->guard;

    if (g == NULL || !gc->enabled)
        return json_pack("{s:b}", "enabled", 0);
    json_t *sw = json_array();
    for (unsigned id = 1; id < route_count(app->cfg->routes); id++) {
        unsigned slot = app->route_slot[id];
        const struct stats_route *r = app->stats.slot[slot];
        if (gc->dry_run ? dry_get(g, slot) : (r->mode == MODE_CSR && r->mode_by == BY_GUARD))
            json_array_append_new(sw, json_string(r->name));
    }
    uint64_t now_ms = app_wall_ms(app);
    unsigned recent = 0;
    for (unsigned i = 0; i < g->act_n; i++)
        recent += g->actions[(g->act_head + i) % GUARD_MAX_PER_HOUR] + 3600000 > now_ms;
    json_t *j = json_pack("{s:b,s:b,s:b,s:s,s:s,s:s,s:o,s:i,s:i,s:i,s:I}",
        "enabled", 1, "dry_run", gc->dry_run, "tripped", g->tripped,
        "metric", attrib_metric_names[gc->metric],
        "action", gc->action == GUARD_ALL ? "all" : gc->action == GUARD_LIST ? "list" : "leaking",
        "restore", gc->restore_on_recovery ? "on_recovery" : "manual",
        "switched", sw, "switches_last_hour", (int)recent,
        "max_switches_per_hour", gc->max_switches_per_hour, "hold_seconds", gc->hold_seconds,
        "trips", (json_int_t)g->trips);
    if (g->have) {
        json_object_set_new(j, "current_bytes", json_integer((json_int_t)g->value));
        json_object_set_new(j, "worker", json_integer((json_int_t)g->worker));
    }
    json_object_set_new(j, "high_bytes", g->high > 0 ? json_integer((json_int_t)g->high) : json_null());
    json_object_set_new(j, "low_bytes", g->low > 0 ? json_integer((json_int_t)g->low) : json_null());
    if (!g->any_limit && gc->high_fraction)
        json_object_set_new(j, "note", json_string("high_fraction needs a known limit (cgroup memory.max, "
                                                   "the V8 heap limit, or memory.limit_bytes): none yet"));
    if (gc->min_minutes_to_oom)
        json_object_set_new(j, "min_minutes_to_oom", json_integer(gc->min_minutes_to_oom));
    if (g->tripped) {
        json_object_set_new(j, "tripped_since_ms", json_integer((json_int_t)g->tripped_ms));
        json_object_set_new(j, "trigger", json_string(g->trigger));
    }
    if (g->narrowing) {
        json_t *off = json_array(), *inn = json_array(), *gu = json_array();
        for (unsigned i = 0; i < g->nw.n; i++) {
            json_t *nm = json_string(app->stats.slot[g->nw_cand[i].slot]->name);
            json_array_append(g->nw.off[i] ? off : inn, nm);
            if (g->nw.fate[i] == GF_GUILTY)
                json_array_append(gu, nm);
            json_decref(nm);
        }
        json_object_set_new(j, "narrowing", json_pack("{s:s,s:i,s:o,s:o,s:o,s:b}", "state", gn_names[g->nw.state],
                            "steps", (int)g->nw.steps, "csr", off, "rendering", inn, "guilty", gu,
                            "settling", g->settling));
    }
    if (gc->webhook) {
        struct webhook_stats ws;
        webhook_get_stats(g->webhook, &ws);
        json_object_set_new(j, "webhook", json_pack("{s:s,s:I,s:I,s:I,s:i}", "url", gc->webhook,
                            "delivered", (json_int_t)ws.delivered, "failed", (json_int_t)ws.failed,
                            "dropped", (json_int_t)ws.dropped, "queued", (int)ws.queued));
    }
    return j;
}

void guard_metrics(const struct app *app, struct evbuffer *o)
{
    const struct guard *g = app->guard;

    evbuffer_add_printf(o, "# HELP leakproxy_route_csr 1 while the route serves the client-render fallback.\n"
                           "# TYPE leakproxy_route_csr gauge\n");
    for (unsigned i = 0; i < app->stats.n; i++) {
        const struct stats_route *r = app->stats.slot[i];
        if (r->active)
            evbuffer_add_printf(o, "leakproxy_route_csr{route=\"%s\"} %d\n", r->name, r->mode == MODE_CSR);
    }
    evbuffer_add_printf(o, "# HELP leakproxy_events_total Decisions logged (GET /api/events), by type.\n"
                           "# TYPE leakproxy_events_total counter\n");
    for (int t = 0; t < EVT_NTYPES; t++)
        evbuffer_add_printf(o, "leakproxy_events_total{type=\"%s\"} %llu\n", events_type_names[t],
                            (unsigned long long)app->events.count[t]);
    if (g == NULL || !app->cfg->guard.enabled)
        return;
    evbuffer_add_printf(o, "# HELP leakproxy_guard_switches_total Routes the guard switched, by route and to which mode.\n"
                           "# TYPE leakproxy_guard_switches_total counter\n");
    for (unsigned i = 0; i < app->stats.n; i++) {
        const struct stats_route *r = app->stats.slot[i];
        if (!r->active)
            continue;
        evbuffer_add_printf(o, "leakproxy_guard_switches_total{route=\"%s\",action=\"csr\"} %llu\n"
                               "leakproxy_guard_switches_total{route=\"%s\",action=\"ssr\"} %llu\n",
                            r->name, (unsigned long long)r->guard_switches[0],
                            r->name, (unsigned long long)r->guard_switches[1]);
    }
    evbuffer_add_printf(o, "# HELP leakproxy_guard_trips_total Times memory crossed the guard's threshold.\n"
                           "# TYPE leakproxy_guard_trips_total counter\n"
                           "leakproxy_guard_trips_total %llu\n"
                           "# HELP leakproxy_guard_tripped 1 while the guard is tripped.\n"
                           "# TYPE leakproxy_guard_tripped gauge\n"
                           "leakproxy_guard_tripped %d\n"
                           "# HELP leakproxy_guard_dry_run 1 when the guard only reports.\n"
                           "# TYPE leakproxy_guard_dry_run gauge\n"
                           "leakproxy_guard_dry_run %d\n"
                           "# HELP leakproxy_guard_refusals_total Switches the guard held back, by reason.\n"
                           "# TYPE leakproxy_guard_refusals_total counter\n",
                        (unsigned long long)g->trips, g->tripped, app->cfg->guard.dry_run);
    for (int r = 0; r < R_N; r++)
        evbuffer_add_printf(o, "leakproxy_guard_refusals_total{reason=\"%s\"} %llu\n", refusal_names[r],
                            (unsigned long long)g->refusals[r]);
    if (app->cfg->guard.webhook) {
        struct webhook_stats ws;
        webhook_get_stats(g->webhook, &ws);
        evbuffer_add_printf(o, "# HELP leakproxy_webhook_deliveries_total Guard webhook posts, by result.\n"
                               "# TYPE leakproxy_webhook_deliveries_total counter\n"
                               "leakproxy_webhook_deliveries_total{result=\"ok\"} %llu\n"
                               "leakproxy_webhook_deliveries_total{result=\"failed\"} %llu\n",
                            (unsigned long long)ws.delivered, (unsigned long long)ws.failed);
    }
}
