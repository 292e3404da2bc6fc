/* series.c -- per-worker memory series, floors and attribution rows. See
 * series.h. Everything is bounded: SERIES_MAX_WORKERS workers, fixed rings,
 * and the row ring; nothing here depends on the amount of traffic.
 *
 * Figures come from other processes. The parsers refuse any above
 * MEM_FIGURE_MAX, but the arithmetic here does not rely on it: sums saturate
 * and deltas are computed in unsigned and clamped to int64, so no figure can
 * overflow a signed type (undefined behaviour) or wrap into a wrong sign. */
#include "series.h"

#include <stdlib.h>
#include <string.h>

/* <to> - <from> as a signed byte delta, clamped to [INT64_MIN, INT64_MAX]. */
static int64_t delta(uint64_t to, uint64_t from)
{
    if (to >= from)
        return to - from > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(to - from);
    return from - to > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)(from - to);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

int series_init(struct series *s, unsigned ncols, uint64_t floor_window_us)
{
    memset(s, 0, sizeof *s);
    s->ncols = ncols;
    s->floor_window_us = floor_window_us;
    s->trough_window_us = 1000000;   /* memsrc_start sets it from memory.interval_ms */
    s->rows = calloc(SERIES_ROWS, sizeof *s->rows);
    s->row_counts = calloc((size_t)SERIES_ROWS * ncols, sizeof *s->row_counts);
    s->agg_base_counts = calloc(ncols, sizeof *s->agg_base_counts);
    s->agg_first_row = calloc(ncols ? ncols : 1, sizeof *s->agg_first_row);
    s->tr_counts = calloc(ncols ? ncols : 1, sizeof *s->tr_counts);
    if (!s->rows || !s->row_counts || !s->agg_base_counts || !s->agg_first_row || !s->tr_counts) {
        series_fini(s);
        return -1;
    }
    return 0;
}

static void worker_free(struct series_worker *w)
{
    if (w == NULL)
        return;
    free(w->raw);
    free(w->coarse);
    free(w->counts);
    free(w->base_counts);
    free(w->first_row);
    free(w);
}

void series_fini(struct series *s)
{
    for (unsigned i = 0; i < s->nw; i++)
        worker_free(s->w[i]);
    free(s->rows);
    free(s->row_counts);
    free(s->agg_base_counts);
    free(s->agg_first_row);
    free(s->tr_counts);
    memset(s, 0, sizeof *s);
}

int series_resize(struct series *s, unsigned ncols)
{
    if (ncols <= s->ncols)
        return 0;
    uint32_t *rc = calloc((size_t)SERIES_ROWS * ncols, sizeof *rc);
    uint64_t *agg = calloc(ncols, sizeof *agg), *af = calloc(ncols, sizeof *af),
             *tc = calloc(ncols, sizeof *tc);
    if (!rc || !agg || !af || !tc)
        goto oom;
    for (unsigned i = 0; i < s->nw; i++) {
        struct series_worker *w = s->w[i];
        uint64_t *c = calloc(ncols, sizeof *c), *b = calloc(ncols, sizeof *b),
                 *f = calloc(ncols, sizeof *f);
        if (!c || !b || !f) {
            free(c);
            free(b);
            free(f);
            goto oom;
        }
        memcpy(c, w->counts, s->ncols * sizeof *c);
        memcpy(b, w->base_counts, s->ncols * sizeof *b);
        memcpy(f, w->first_row, s->ncols * sizeof *f);
        free(w->counts);
        free(w->base_counts);
        free(w->first_row);
        w->counts = c;
        w->base_counts = b;
        w->first_row = f;
    }
    for (unsigned r = 0; r < SERIES_ROWS; r++)
        memcpy(rc + (size_t)r * ncols, s->row_counts + (size_t)r * s->ncols,
               s->ncols * sizeof *rc);
    memcpy(agg, s->agg_base_counts, s->ncols * sizeof *agg);
    memcpy(af, s->agg_first_row, s->ncols * sizeof *af);
    memcpy(tc, s->tr_counts, s->ncols * sizeof *tc);
    free(s->tr_counts);
    s->tr_counts = tc;
    free(s->row_counts);
    free(s->agg_base_counts);
    free(s->agg_first_row);
    s->row_counts = rc;
    s->agg_base_counts = agg;
    s->agg_first_row = af;
    s->ncols = ncols;
    return 0;
oom:
    /* workers already widened keep their larger arrays: harmless */
    free(rc);
    free(agg);
    free(af);
    free(tc);
    return -1;
}

static struct series_worker *worker_new(struct series *s, int64_t pid, unsigned gen)
{
    struct series_worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->pid = pid;
    w->gen = gen;
    w->raw = malloc(SERIES_RAW * sizeof *w->raw);
    w->coarse = malloc(SERIES_COARSE * sizeof *w->coarse);
    w->counts = calloc(s->ncols ? s->ncols : 1, sizeof *w->counts);
    w->base_counts = calloc(s->ncols ? s->ncols : 1, sizeof *w->base_counts);
    w->first_row = calloc(s->ncols ? s->ncols : 1, sizeof *w->first_row);
    if (!w->raw || !w->coarse || !w->counts || !w->base_counts || !w->first_row) {
        worker_free(w);
        return NULL;
    }
    if (s->nw == SERIES_MAX_WORKERS) {
        /* evict the dead worker seen longest ago, else the oldest one */
        unsigned victim = SERIES_MAX_WORKERS;
        for (unsigned i = 0; i < s->nw; i++)
            if (!s->w[i]->alive && (victim == SERIES_MAX_WORKERS || s->w[i]->last_us < s->w[victim]->last_us))
                victim = i;
        if (victim == SERIES_MAX_WORKERS) {
            victim = 0;
            for (unsigned i = 1; i < s->nw; i++)
                if (s->w[i]->last_us < s->w[victim]->last_us)
                    victim = i;
        }
        worker_free(s->w[victim]);
        memmove(&s->w[victim], &s->w[victim + 1], (s->nw - victim - 1) * sizeof s->w[0]);
        s->nw--;
    }
    s->w[s->nw++] = w;
    return w;
}

struct series_worker *series_find(struct series *s, int64_t pid)
{
    for (unsigned i = s->nw; i-- > 0;)
        if (s->w[i]->pid == pid)
            return s->w[i];
    return NULL;
}

/* A fresh process at the same pid (pid 0: the source has no pids): the
 * app's GC counter went back, or RSS and heap both fell below half. */
static int looks_restarted(const struct series_worker *w, const struct mem_sample *m)
{
    if (w->raw_n == 0 || w->pid > 0)
        return 0;                     /* with real pids, a restart changes the pid */
    const struct series_point *l = &w->last;
    if ((m->flags & MEM_HAS_RSS) && (l->flags & MEM_HAS_RSS) && m->rss * 2 < l->rss &&
        (!(m->flags & MEM_HAS_HEAP) || !(l->flags & MEM_HAS_HEAP) || m->heap_used * 2 < l->heap_used))
        return 1;
    return 0;
}

/* Gives <w> the lowest worker number no other live series holds, once: a
 * pm2 or cluster worker replaced by a new pid gets the number of the one
 * that died (that one is marked dead first, see series_batch), so the
 * "worker" label of /metrics stays put while pids change. */
static void worker_number(const struct series *s, struct series_worker *w)
{
    if (w->number)
        return;
    for (unsigned n = 1;; n++) {
        unsigned i;
        for (i = 0; i < s->nw; i++)
            if (s->w[i] != w && s->w[i]->alive && s->w[i]->number == n)
                break;
        if (i == s->nw) {
            w->number = n;
            return;
        }
    }
}

static struct series_worker *worker_for(struct series *s, const struct mem_sample *m)
{
    struct series_worker *w = series_find(s, m->pid);
    if (w && (looks_restarted(w, m) || (m->gc_seq && m->gc_seq < w->base_gc_seq))) {
        unsigned number = w->number;  /* <w> may be evicted by worker_new */
        w->alive = 0;
        s->restarts++;
        if ((w = worker_new(s, m->pid, w->gen + 1)) != NULL)
            w->number = number;
        return w;
    }
    if (w == NULL)
        w = worker_new(s, m->pid, 1);
    return w;
}

/* Records <m> in <w>'s rings and computes its floor. */
static void worker_push(struct series *s, struct series_worker *w, const struct mem_sample *m)
{
    struct series_point p = {
        .t_us = m->t_us, .rss = m->rss, .heap_used = m->heap_used,
        .heap_total = m->heap_total, .external = m->external,
        .flags = m->flags & 0xffu,
    };
    if (m->flags & MEM_GC) {
        p.floor = m->heap_used;
        p.flags |= SERIES_FLOOR_GC;
    } else if (m->flags & MEM_HAS_FLOOR) {
        p.floor = m->floor;
        p.flags |= SERIES_FLOOR_GC;
    } else if ((m->flags & MEM_HAS_HEAP) && w->gc_floor_us &&
               w->gc_floor_us + s->floor_window_us >= m->t_us) {
        /* between forced GCs the last GC floor stands */
        p.floor = w->gc_floor;
        p.flags |= SERIES_FLOOR_GC;
    } else if (m->flags & MEM_HAS_HEAP) {
        /* lower envelope of the saw-tooth over the window */
        uint64_t lo = m->heap_used;
        for (unsigned i = 0; i < w->raw_n; i++) {
            const struct series_point *q = &w->raw[(w->raw_head + i) % SERIES_RAW];
            if (q->t_us + s->floor_window_us >= m->t_us && (q->flags & MEM_HAS_HEAP) &&
                q->heap_used < lo)
                lo = q->heap_used;
        }
        p.floor = lo;
        p.flags |= SERIES_FLOOR_ENV;
    }
    if (m->flags & (MEM_GC | MEM_HAS_FLOOR)) {
        w->gc_floor = p.floor;
        w->gc_floor_us = m->t_us;
    }
    if (w->raw_n == 0)
        w->first_us = m->t_us;
    w->last_us = m->t_us;
    w->last = p;
    w->alive = 1;
    w->stale = 0;
    if (m->flags & MEM_HAS_LIMIT)
        w->limit = m->limit;
    if (m->gc_ms > 0)
        w->gc_ms = m->gc_ms;
    if (w->raw_n < SERIES_RAW)
        w->raw[(w->raw_head + w->raw_n++) % SERIES_RAW] = p;
    else {
        w->raw[w->raw_head] = p;
        w->raw_head = (w->raw_head + 1) % SERIES_RAW;
    }
    /* coarse: one point per SERIES_COARSE_SEC (lowest floor, highest rss) */
    uint64_t bucket = p.t_us / (SERIES_COARSE_SEC * 1000000ull);
    if (w->acc.t_us && w->acc.t_us / (SERIES_COARSE_SEC * 1000000ull) != bucket) {
        if (w->co_n < SERIES_COARSE)
            w->coarse[(w->co_head + w->co_n++) % SERIES_COARSE] = w->acc;
        else {
            w->coarse[w->co_head] = w->acc;
            w->co_head = (w->co_head + 1) % SERIES_COARSE;
        }
        w->acc.t_us = 0;
    }
    if (w->acc.t_us == 0) {
        w->acc = p;
    } else {
        struct series_point *a = &w->acc;
        a->t_us = p.t_us;
        if (p.rss > a->rss)
            a->rss = p.rss;
        if (p.heap_used > a->heap_used)
            a->heap_used = p.heap_used;
        if (p.floor && (a->floor == 0 || p.floor < a->floor))
            a->floor = p.floor;
        a->heap_total = p.heap_total;
        a->external = p.external;
        a->flags |= p.flags;
    }
}

static void row_emit(struct series *s, const struct series_row *r, const uint64_t *now,
                     const uint64_t *base, uint64_t *first_row)
{
    unsigned idx;
    if (s->row_n < SERIES_ROWS)
        idx = (s->row_head + s->row_n++) % SERIES_ROWS;
    else {
        idx = s->row_head;
        s->row_head = (s->row_head + 1) % SERIES_ROWS;
    }
    s->rows[idx] = *r;
    s->rows[idx].seq = s->rows_total;
    uint32_t *c = s->row_counts + (size_t)idx * s->ncols;
    uint64_t total = 0;
    for (unsigned k = 0; k < s->ncols; k++) {
        uint64_t d = now[k] - base[k];
        c[k] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        total += d;
        if (d && first_row[k] == 0)
            first_row[k] = s->rows_total + 1;
    }
    s->rows[idx].total = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
    s->rows_total++;
}

struct series_worker *series_add(struct series *s, const struct mem_sample *m)
{
    struct series_worker *w = worker_for(s, m);
    if (w == NULL)
        return NULL;
    worker_push(s, w, m);
    worker_number(s, w);
    const struct series_point *p = &w->last;
    /* a new floor: a forced GC, or the app saw a new major GC */
    int new_floor = (m->flags & MEM_GC) ||
                    ((m->flags & MEM_HAS_FLOOR) && m->gc_seq != w->base_gc_seq) ||
                    (p->flags & SERIES_FLOOR_ENV) ||
                    !(m->flags & MEM_HAS_HEAP);
    if (!new_floor)
        return w;
    if (w->has_base) {
        struct series_row r = {
            .t0 = w->base.t_us, .t1 = p->t_us, .pid = w->pid, .floor = p->floor,
            .d_floor = delta(p->floor, w->base.floor),
            .d_rss = delta(p->rss, w->base.rss),
            .d_ext = delta(p->external, w->base.external),
            .flags = (p->flags & w->base.flags & 0xffu) | (p->flags & (SERIES_FLOOR_GC | SERIES_FLOOR_ENV)),
        };
        row_emit(s, &r, w->counts, w->base_counts, w->first_row);
    }
    w->base = *p;
    w->base_gc_seq = m->gc_seq;
    w->has_base = 1;
    memcpy(w->base_counts, w->counts, s->ncols * sizeof *w->counts);
    return w;
}

void series_batch(struct series *s, const struct mem_sample *m, unsigned n,
                  const uint64_t *global_counts, int floor_tick)
{
    struct series_worker *seen[SERIES_MAX_WORKERS];
    unsigned ns = 0;
    uint64_t sig = 1469598103934665603ull, floor = 0, rss = 0, ext = 0, t = 0, heap = 0;
    uint32_t flags = 0xffu | SERIES_FLOOR_GC | SERIES_FLOOR_ENV;
    int complete = n > 0;

    for (unsigned i = 0; i < n && ns < SERIES_MAX_WORKERS; i++) {
        struct series_worker *w = worker_for(s, &m[i]);
        if (w == NULL) {
            complete = 0;
            continue;
        }
        worker_push(s, w, &m[i]);
        seen[ns++] = w;
        sig = (sig ^ (uint64_t)w->pid ^ ((uint64_t)w->gen << 40)) * 1099511628211ull;
        floor = sat_add(floor, w->last.floor);
        heap = sat_add(heap, w->last.heap_used);
        rss = sat_add(rss, w->last.rss);
        ext = sat_add(ext, w->last.external);
        flags &= w->last.flags;
        t = m[i].t_us > t ? m[i].t_us : t;
    }
    for (unsigned i = 0; i < s->nw; i++) {
        int in = 0;
        for (unsigned k = 0; k < ns; k++)
            in |= s->w[i] == seen[k];
        if (!in)
            s->w[i]->alive = 0;
    }
    for (unsigned k = 0; k < ns; k++)   /* after the dead are known */
        worker_number(s, seen[k]);
    /* a batch without a new floor (the forced GC is due later) only adds
     * points; the caller says which batches carry floors */
    if (!complete || !floor_tick)
        return;
    if ((flags & SERIES_FLOOR_ENV) && !(flags & SERIES_FLOOR_GC) && (flags & MEM_HAS_HEAP)) {
        /* no GC floors: the lower envelope lags the requests that moved it,
         * so rows go from trough to trough instead (see series.h) */
        if (s->tr_sig != sig || s->tr_win_t == 0 || t < s->tr_win_t) {
            s->tr_sig = sig;
            s->tr_win_t = t;
            s->tr_valid = 0;
        }
        if (!s->tr_valid || heap < s->tr_level) {
            s->tr_valid = 1;
            s->tr_level = heap;
            s->tr_t = t;
            s->tr_rss = rss;
            s->tr_ext = ext;
            memcpy(s->tr_counts, global_counts, s->ncols * sizeof *global_counts);
        }
        if (t - s->tr_win_t < s->trough_window_us)
            return;
        if (s->agg_has_base && s->agg_sig == sig) {
            struct series_row r = {
                .t0 = s->agg_base_t, .t1 = s->tr_t, .pid = 0, .floor = s->tr_level,
                .d_floor = delta(s->tr_level, s->agg_base_floor),
                .d_rss = delta(s->tr_rss, s->agg_base_rss),
                .d_ext = delta(s->tr_ext, s->agg_base_ext),
                .flags = flags,
            };
            row_emit(s, &r, s->tr_counts, s->agg_base_counts, s->agg_first_row);
        }
        s->agg_has_base = 1;
        s->agg_sig = sig;
        s->agg_base_t = s->tr_t;
        s->agg_base_floor = s->tr_level;
        s->agg_base_rss = s->tr_rss;
        s->agg_base_ext = s->tr_ext;
        memcpy(s->agg_base_counts, s->tr_counts, s->ncols * sizeof *s->tr_counts);
        s->tr_win_t = t;
        s->tr_valid = 0;
        return;
    }
    if (s->agg_has_base && s->agg_sig == sig) {
        struct series_row r = {
            .t0 = s->agg_base_t, .t1 = t, .pid = 0, .floor = floor,
            .d_floor = delta(floor, s->agg_base_floor),
            .d_rss = delta(rss, s->agg_base_rss),
            .d_ext = delta(ext, s->agg_base_ext),
            .flags = flags,
        };
        row_emit(s, &r, global_counts, s->agg_base_counts, s->agg_first_row);
    }
    s->agg_has_base = 1;
    s->agg_sig = sig;
    s->agg_base_t = t;
    s->agg_base_floor = floor;
    s->agg_base_rss = rss;
    s->agg_base_ext = ext;
    memcpy(s->agg_base_counts, global_counts, s->ncols * sizeof *global_counts);
}

void series_stale(struct series *s)
{
    for (unsigned i = 0; i < s->nw; i++)
        s->w[i]->stale = 1;
}

const struct series_row *series_row(const struct series *s, unsigned i,
                                    const uint32_t **counts)
{
    if (i >= s->row_n)
        return NULL;
    unsigned idx = (s->row_head + i) % SERIES_ROWS;
    if (counts)
        *counts = s->row_counts + (size_t)idx * s->ncols;
    return &s->rows[idx];
}

const uint64_t *series_first_rows(const struct series *s, int64_t pid)
{
    if (pid == 0)
        return s->agg_first_row;
    for (unsigned i = s->nw; i-- > 0;)
        if (s->w[i]->pid == pid)
            return s->w[i]->first_row;
    return NULL;
}

unsigned series_npoints(const struct series_worker *w, int raw)
{
    return raw ? w->raw_n : w->co_n;
}

const struct series_point *series_point(const struct series_worker *w, int raw, unsigned i)
{
    if (raw)
        return i < w->raw_n ? &w->raw[(w->raw_head + i) % SERIES_RAW] : NULL;
    return i < w->co_n ? &w->coarse[(w->co_head + i) % SERIES_COARSE] : NULL;
}
