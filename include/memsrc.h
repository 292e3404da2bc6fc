/* memsrc.h -- memory sources: where leakproxy reads the upstream's memory.
 *
 * Five sources behind one interface, all driven by the sampler's timer (or,
 * for "header", by responses) and none blocking the event loop:
 *   proc        /proc/PID/status of a pid, a pidfile or a process found by
 *               name, optionally with its whole process tree (RSS only)
 *   cgroup      a cgroup v2 or v1 directory: current usage, anon/file, limit
 *   http        a JSON endpoint with Node's process.memoryUsage() fields, one
 *               worker or many; optional forced-GC URL for true floors
 *   prometheus  a Prometheus text exposition (prom-client's names)
 *   header      a response header the app adds (contrib/node/): the only source
 *               that says which worker served each request
 * Every reading becomes a struct mem_sample handed to series.c. The parsers
 * are pure functions (no I/O), unit-tested and fuzzed on their own.
 * What the http and prometheus sources read is bounded (memsrc.c: head
 * 64 KiB, body 1 MiB for JSON, 4 MiB for Prometheus text): a larger answer
 * fails the read, and the health message names the cap. */
#ifndef LEAKPROXY_MEMSRC_H
#define LEAKPROXY_MEMSRC_H
#include <stddef.h>
#include <stdint.h>

/* struct mem_sample.flags */
#define MEM_HAS_RSS    0x01u
#define MEM_HAS_HEAP   0x02u          /* heap_used and heap_total */
#define MEM_HAS_EXT    0x04u          /* external (and array_buffers) */
#define MEM_GC         0x08u          /* read right after a forced GC: heap_used is a floor */
#define MEM_HAS_FLOOR  0x10u          /* the app reported heap after its last major GC */
#define MEM_HAS_LIMIT  0x20u          /* limit: cgroup memory.max or the V8 heap limit */
#define MEM_HAS_SPLIT  0x40u          /* rss_anon / rss_file */

struct mem_sample {
    uint64_t t_us;                    /* monotonic, when it was read */
    int64_t pid;                      /* 0: the source cannot tell workers apart */
    unsigned flags;
    uint64_t rss, rss_anon, rss_file;
    uint64_t heap_used, heap_total, external, array_buffers;
    uint64_t floor;                   /* MEM_HAS_FLOOR */
    uint64_t gc_seq;                  /* the app's count of major GCs, 0 if unknown */
    uint64_t limit;                   /* MEM_HAS_LIMIT */
    double gc_ms;                     /* duration of the forced GC, 0 if none */
};

#define MEM_ERR_MAX 160

/* The largest memory figure (bytes) the parsers of samples (proc status,
 * JSON, Prometheus, header) accept: 1 PiB, far above any process, far below 2^63. The figures come
 * from other processes; one near 2^63 would overflow the sums and deltas of
 * series.c, so a larger one (or a negative one) is an error, never a sample. */
#define MEM_FIGURE_MAX (UINT64_C(1) << 50)

/* /proc/PID/status: VmRSS, RssAnon, RssFile (kB). 0, or -1 with <err>. */
int memparse_proc_status(const char *s, size_t n, struct mem_sample *out,
                         char *err, size_t errlen);
/* One decimal integer (memory.current, memory.usage_in_bytes, ...); "max"
 * gives UINT64_MAX. 0 or -1. */
int memparse_u64_file(const char *s, size_t n, uint64_t *out);
/* memory.stat: v2 "anon"/"file", v1 "total_rss"/"rss" and "total_cache"/"cache". */
int memparse_cgroup_stat(const char *s, size_t n, uint64_t *anon, uint64_t *file);

/* JSON from an "http" source: one process.memoryUsage()-like object, an
 * array of them, {"workers": [...]}, or an object of them keyed by worker.
 * Fills up to <max> samples; <*count> says how many. 0, or -1 with <err>. */
int memparse_json(const char *s, size_t n, struct mem_sample *out, unsigned max,
                  unsigned *count, char *err, size_t errlen);

/* Metric names the prometheus source looks for (NULL: not read). */
struct memparse_prom_names {
    const char *rss, *heap_used, *heap_total, *external, *heap_limit;
    const char *worker_label;         /* label naming the worker: "pid" if NULL */
};
/* A Prometheus text exposition: comments, labels with escapes, NaN/+Inf,
 * timestamps. Series with the same worker label value form one sample.
 * Fills up to <max> samples. 0, or -1 with <err> (line number included). */
int memparse_prom(const char *s, size_t n, const struct memparse_prom_names *names,
                  struct mem_sample *out, unsigned max, unsigned *count,
                  char *err, size_t errlen);

/* The memory header: "pid=4123; rss=183500800; heap_used=91234560; ...".
 * Keys: pid, rss, heap_used, heap_total, external, array_buffers, floor,
 * gc_seq, heap_limit, gc (1: read right after a GC). Unknown keys are
 * ignored. 0, or -1 with <err> if malformed, without pid and a figure, or
 * with a figure above MEM_FIGURE_MAX. */
int memparse_header(const char *s, size_t n, struct mem_sample *out, char *err, size_t errlen);

/* ---- the sampler ---------------------------------------------------------- */

struct app;
struct memsrc;                        /* opaque, one per app */

/* What the designed rows need to know of route <route>'s attribution, asked
 * of the layer above through a function its caller passes (main passes one
 * reading attrib.h), so that the sampler never calls up into the engine that
 * reads it. */
enum memsrc_route_need {
    MEMSRC_NEED_FLOORS,               /* no verdict yet, or a suspect: more rows help */
    MEMSRC_NEED_UNSURE,               /* unknown: more rows help while verdicts still change */
    MEMSRC_NEED_NONE                  /* a settled verdict */
};
struct memsrc_route_state {
    unsigned verdict;                 /* changes when the route's verdict does; 0: none yet */
    enum memsrc_route_need need;
};
typedef void memsrc_route_state_fn(const struct app *app, unsigned route, struct memsrc_route_state *st);

/* Starts sampling as app->cfg->memory says (nothing when there is no
 * "memory" section); <route_state> answers for designed rows (NULL: every
 * route needs floors). 0, or -1 with a message logged. */
int memsrc_start(struct app *app, memsrc_route_state_fn *route_state);
void memsrc_stop(struct app *app);    /* NULL-safe; reload = stop + start */

/* Header source: <v> is the memory header of one upstream response. Returns
 * the worker's pid (0 when unusable), for memsrc_count() at the end of the
 * exchange. */
int64_t memsrc_header_seen(struct app *app, const char *v, size_t len);
/* The admission gate (gate.h): a quiesce asked by the sampler is done
 * (<timed_out>: quiesce_ms passed with exchanges still in flight), or the
 * designed row is full. */
void memsrc_gate_quiesced(struct app *app, int timed_out);
void memsrc_row_full(struct app *app);
/* A request of stats slot <slot> completed on worker <pid>. */
void memsrc_count(struct app *app, int64_t pid, unsigned slot);

/* A forced-GC reading for a probe: <cb>(arg, 0, total heap of every
 * worker, workers) or (arg, -1, 0, 0) when the read failed. One at a time;
 * -1 if the source cannot force GC or a reading is already awaited. With
 * <hold>, live requests are held at the admission gate from before the
 * reading (those in flight end first) until memsrc_hold_release(), at most
 * 5 s at a time: the experiment then measures its own requests alone.
 * Designed rows and timed GCs pause from the first held reading until
 * memsrc_hold_release(app, 1) says the experiment is over. */
typedef void (*memsrc_floor_cb)(void *arg, int err, uint64_t floor, unsigned workers);
int memsrc_can_force_gc(const struct app *app);
int memsrc_read_floor(struct app *app, memsrc_floor_cb cb, void *arg, int hold);
void memsrc_hold_release(struct app *app, int done);
void memsrc_cancel_floor(struct app *app);

/* Health, for /api/memory and /metrics. */
struct memsrc_health {
    const char *source;               /* "http", ... or "none" */
    int heap_figures;                 /* the source can report the V8 heap */
    int failing;
    uint64_t reads, errors;
    uint64_t last_ok_us;              /* monotonic, 0 if never */
    char last_error[MEM_ERR_MAX];
    double gc_duty;                   /* share of time in forced GC (EWMA) */
    double last_gc_ms;
    /* designed rows (memory.rows) */
    int design;                       /* configured on */
    int rows_on;                      /* a designed row is running now */
    uint64_t rows_designed;
    double duty_target;               /* the budget now: max_gc_duty, or a tenth once settled */
    uint64_t quiesced, quiesce_timeouts;
};
void memsrc_health(const struct app *app, struct memsrc_health *h);
/* Whether source <kind> reports V8 heap figures (heap_used, heap_total,
 * external): http, prometheus and header do; proc and cgroup only see RSS. */
int memsrc_has_heap(int kind);
/* "proc", "http", ... ("none" for MEMSRC_NONE). */
const char *memsrc_kind_name(int kind);
#endif
