/* stats.h -- the per-route recorder.
 *
 * One slot per route name, kept for the life of the process: a reload maps
 * the new route table's ids onto slots by name (adding slots for new names),
 * so a request holds a slot index that stays valid across reloads and the
 * counters of a route survive them. Slots are sized at load and updated in
 * O(1) per request without allocating; quantiles are computed only when the
 * admin API asks. */
#ifndef LEAKPROXY_STATS_H
#define LEAKPROXY_STATS_H
#include <stdint.h>

#include "hist.h"
#include "route.h"

enum stats_err {
    STATS_ERR_CONNECT,        /* upstream refused / unreachable / connect timeout */
    STATS_ERR_TIMEOUT,        /* no response within response_ms */
    STATS_ERR_BAD_RESPONSE,   /* unparseable or invalidly framed response */
    STATS_ERR_RESET,          /* upstream closed or reset mid-response */
    STATS_ERR_CLIENT_ABORT,   /* client went away before the response ended */
    STATS_ERR_N
};
extern const char *const stats_err_names[STATS_ERR_N];

enum route_mode { MODE_SSR, MODE_CSR };
/* who set a mode (mode.h: the rules; a probe sets none) */
enum mode_by { BY_CONFIG, BY_MANUAL, BY_BISECT, BY_GUARD };
extern const char *const mode_by_names[4];

struct stats_route {
    char name[ROUTE_NAME_MAX + 1];
    /* the SSR switch: survives reloads with the route's name */
    enum route_mode mode;
    enum mode_by mode_by;
    uint64_t mode_since_ms;         /* Unix ms */
    int never_csr;
    uint64_t csr_requests;          /* answered with the fallback */
    uint64_t guard_switches[2];     /* by the guard: [0] to csr, [1] back to ssr */
    char *pattern;                  /* owned; updated on reload */
    int active;                     /* in the current route table */
    uint64_t requests;
    uint64_t rendered;              /* answered by the upstream: SSR work done */
    uint64_t held, held_us;         /* requests held at the admission gate, and for how long */
    int64_t inflight;
    uint64_t status[6];             /* [1]..[5]: 1xx..5xx */
    uint64_t bytes_in, bytes_out;
    uint64_t errors[STATS_ERR_N];
    struct hist latency;            /* total time, us */
    struct hist ttfb;               /* time to the first response byte, us */
};

struct stats {
    struct stats_route **slot;      /* pointers: slots never move */
    unsigned n, cap;
};

void stats_init(struct stats *s);
void stats_fini(struct stats *s);
/* Maps every route id of <t> to a slot (created for new names), marks the
 * others inactive, and returns a new id->slot array (caller frees) or NULL
 * on OOM (nothing changed then). */
unsigned *stats_sync(struct stats *s, const struct route_table *t);

/* Sets <r>'s mode; returns 1 if it changed. Only mode_set() calls it: that
 * records the change. */
int stats_set_mode(struct stats_route *r, enum route_mode m, enum mode_by by, uint64_t now_ms);

static inline struct stats_route *stats_at(struct stats *s, unsigned slot)
{
    return s->slot[slot];
}

static inline uint64_t stats_upstream_errors(const struct stats_route *r)
{
    return r->errors[STATS_ERR_CONNECT] + r->errors[STATS_ERR_TIMEOUT] +
           r->errors[STATS_ERR_BAD_RESPONSE] + r->errors[STATS_ERR_RESET];
}
#endif
