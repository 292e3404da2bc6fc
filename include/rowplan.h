/* rowplan.h -- the design of measurement rows and the forced-GC budget.
 *
 * The attribution fit separates routes only when their request counts vary
 * independently from row to row. A closed-loop load at full speed puts the
 * same mix in every row, whatever its size, and no number of such rows says
 * who leaked. So each designed row admits a random half of the routes that
 * have traffic (each in or out with probability 1/2; at least one in, and at
 * least one out when two or more are active), and has a random size between
 * min and max completed requests: rows of one size would make a per-row
 * constant (the reading's own garbage) inseparable from the sum of the
 * route columns. This is the manual routine of leak hunting (force a GC,
 * send one page's requests, read the floor), done for all routes at once.
 *
 * The budget is the share of the upstream's time spent in forced GC. While
 * a route with traffic is unknown or suspect the plan may spend up to the
 * ceiling (max_gc_duty); once every verdict is settled, a tenth of it, so a
 * settled staging server is left mostly alone. Pure functions of their
 * inputs and a seeded generator: unit-tested without a network. */
#ifndef LEAKPROXY_ROWPLAN_H
#define LEAKPROXY_ROWPLAN_H
#include <stdint.h>

#define ROWPLAN_ACTIVE_US  (10u * 1000000u)   /* a route with a request this recently is active */

struct rowplan {
    uint64_t rng;
    unsigned min, max;                /* row size, completed requests */
    unsigned nslots;
    uint64_t *seen;                   /* per slot: request count at the last observation */
    uint64_t *last_us;                /* per slot: when its count last moved */
};

int rowplan_init(struct rowplan *p, uint64_t seed, unsigned min, unsigned max, unsigned nslots);
void rowplan_fini(struct rowplan *p);
int rowplan_resize(struct rowplan *p, unsigned nslots);   /* 0, or -1 on OOM */

/* Notes which slots had requests: <counts>[slot] is the slot's cumulative
 * request count at <now_us>. */
void rowplan_observe(struct rowplan *p, const uint64_t *counts, unsigned n, uint64_t now_us);
/* Slots with a request in the last ROWPLAN_ACTIVE_US (slot 0, unmatched
 * requests, included): fills <active> (n entries) and returns how many. */
unsigned rowplan_active(const struct rowplan *p, uint64_t now_us, uint8_t *active, unsigned n);

/* The next row: fills <admit>[0, n) from <active> and returns its size.
 * <waiting> (n entries, or NULL) marks slots with held requests: at least
 * one of them is admitted, so a row never starts with nobody to serve. */
unsigned rowplan_next(struct rowplan *p, const uint8_t *active, const uint8_t *waiting,
                      uint8_t *admit, unsigned n);

/* The forced-GC duty to aim for: <ceiling> while <unsettled> > 0 of the
 * <active> routes are unknown or suspect (or nothing is known yet), else a
 * tenth of it. */
double rowplan_duty(double ceiling, unsigned unsettled, unsigned active);
/* The shortest wait, in ms, after a forced GC of <gc_ms> ms so that forced
 * GC takes at most <duty> of the time. */
double rowplan_gap_ms(double gc_ms, double duty);
#endif
