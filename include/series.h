/* series.h -- memory series per upstream worker, their floors, and the rows
 * the attribution engine reads.
 *
 * Each worker (pid; a restarted worker is a new series, the old one is kept
 * until it ages out) has a ring of the last SERIES_RAW samples and a coarse
 * ring of one point per SERIES_COARSE_SEC for a day, so a worker costs a fixed
 * ~110 KB whatever the uptime. At most SERIES_MAX_WORKERS series are kept;
 * the oldest dead one goes first.
 *
 * The floor is the post-GC heap: the heap of a sample taken right after a
 * forced GC, the app's own "heap after the last major GC", or, when neither
 * exists, the lower envelope of heap_used over floor_window_ms.
 *
 * A row is one interval between two floor readings: how much the floor (and
 * RSS, external) moved and how many requests of each route completed in
 * between, per worker when the source says which worker served each request
 * (the header source), else for all workers together. Rows live in a fixed
 * ring of SERIES_ROWS; columns are stats slots (stable across reloads). */
#ifndef LEAKPROXY_SERIES_H
#define LEAKPROXY_SERIES_H
#include <stdint.h>

#include "memsrc.h"

#define SERIES_RAW          1024
#define SERIES_COARSE       1440
#define SERIES_COARSE_SEC   60
#define SERIES_MAX_WORKERS  64
#define SERIES_ROWS         4096

/* struct series_point.flags: MEM_* of the sample, plus */
#define SERIES_FLOOR_GC     0x100u    /* floor from a forced or observed GC */
#define SERIES_FLOOR_ENV    0x200u    /* floor from the lower envelope */

struct series_point {
    uint64_t t_us;
    uint64_t rss, heap_used, heap_total, external, floor;
    uint32_t flags;
};

struct series_worker {
    int64_t pid;
    unsigned gen;                     /* incarnation: 1, 2, ... for restarts of one pid */
    int alive;                        /* seen in the latest reading */
    unsigned number;                  /* 1 + the stable "worker" label of /metrics (0: not yet):
                                       * the lowest no other live series holds when it
                                       * first reports; a restart keeps its number */
    int stale;                        /* the source failed since the last reading */
    uint64_t first_us, last_us;
    uint64_t limit;                   /* 0 if unknown */
    double gc_ms;                     /* last forced GC's duration */
    struct series_point last;         /* latest sample */
    uint64_t gc_floor, gc_floor_us;   /* latest GC-based floor and when */
    struct series_point *raw;         /* ring of SERIES_RAW */
    unsigned raw_head, raw_n;
    struct series_point *coarse;      /* ring of SERIES_COARSE */
    unsigned co_head, co_n;
    struct series_point acc;          /* the coarse point being built */
    /* rows */
    struct series_point base;         /* floor reading a row starts from */
    int has_base;
    uint64_t base_gc_seq;
    uint64_t *counts;                 /* per slot, cumulative (header source) */
    uint64_t *first_row;              /* per slot: 1 + seq of the row with its first request */
    uint64_t *base_counts;            /* <counts> at <base> */
};

struct series_row {
    uint64_t seq;                     /* 0, 1, 2, ... in emission order */
    uint64_t t0, t1;
    int64_t pid;                      /* 0: all workers together */
    uint64_t floor;                   /* floor at t1 (sum over workers for pid 0) */
    int64_t d_floor, d_rss, d_ext;
    uint32_t flags;                   /* SERIES_FLOOR_GC or _ENV; MEM_HAS_* valid */
    uint32_t total;                   /* requests in the row, all routes */
};

struct series {
    struct series_worker *w[SERIES_MAX_WORKERS];
    unsigned nw;
    unsigned ncols;                   /* stats slots */
    uint64_t floor_window_us;
    uint64_t restarts;
    /* aggregate rows (sources that read all workers at once) */
    uint64_t *agg_base_counts;        /* global counts at the last aggregate base */
    uint64_t agg_base_floor, agg_base_rss, agg_base_ext, agg_base_t;
    int agg_has_base;
    uint64_t agg_sig;                 /* which workers made the base */
    uint64_t *agg_first_row;          /* per slot, for aggregate rows (pid 0) */
    /* without GC floors (no forced GC, no app-reported floor): rows run from
     * the lowest summed heap reading of one window to the lowest of the next
     * (trough to trough), with the counts at those two moments */
    uint64_t trough_window_us;        /* 8 readings, at least 1 s (memsrc_start) */
    uint64_t tr_win_t, tr_t, tr_level, tr_rss, tr_ext, tr_sig;
    int tr_valid;
    uint64_t *tr_counts;              /* global counts at the trough */
    /* the row ring */
    struct series_row *rows;
    uint32_t *row_counts;             /* SERIES_ROWS x ncols */
    unsigned row_head, row_n;
    uint64_t rows_total;              /* ever emitted */
};

int series_init(struct series *s, unsigned ncols, uint64_t floor_window_us);
void series_fini(struct series *s);
/* Widens the count columns to <ncols> (a reload added routes). Rows are
 * kept; 0 or -1 on OOM (then nothing changed). */
int series_resize(struct series *s, unsigned ncols);

/* A batch of readings taken together (http, prometheus, proc, cgroup):
 * <n> samples, and the global per-slot completed counts now. Workers not in
 * the batch are marked dead. When <floor_tick> (every batch, or only those
 * read right after a forced GC) and the same workers made the previous floor
 * batch, emits one row for all of them together. */
void series_batch(struct series *s, const struct mem_sample *m, unsigned n,
                  const uint64_t *global_counts, int floor_tick);
/* One worker's reading (header source); emits that worker's row when its
 * floor moved to a new GC reading. Returns the worker, or NULL on OOM. */
struct series_worker *series_add(struct series *s, const struct mem_sample *m);
/* The worker with <pid> (newest incarnation), or NULL. */
struct series_worker *series_find(struct series *s, int64_t pid);
/* A request of slot <slot> completed on <w>. */
static inline void series_count(struct series_worker *w, unsigned slot)
{
    if (w->counts)
        w->counts[slot]++;
}
/* The source failed: mark every series stale. */
void series_stale(struct series *s);

/* Row <i> (0 = oldest kept) and its per-slot counts. */
const struct series_row *series_row(const struct series *s, unsigned i,
                                    const uint32_t **counts);
/* Per slot, 1 + seq of the row holding the first request of that slot on
 * worker <pid> (0: the aggregate rows); 0 where none yet. NULL if unknown. */
const uint64_t *series_first_rows(const struct series *s, int64_t pid);

/* Number of raw (<raw> = 1) or coarse points of <w>, and point <i> of them
 * (0 = oldest). */
unsigned series_npoints(const struct series_worker *w, int raw);
const struct series_point *series_point(const struct series_worker *w, int raw, unsigned i);
#endif
