/* hist.h -- fixed-memory latency histograms with log-linear buckets.
 *
 * Values are microseconds. Below 2^HIST_SUB_BITS each value has its own
 * bucket; above, each power of two is split into 2^HIST_SUB_BITS equal
 * buckets, so a bucket is at most 1/32 of its values wide and a quantile
 * reported at the bucket's midpoint is within 1/64 (1.6 %) of the truth.
 * Values beyond HIST_MAX_US land in the last bucket (the exact maximum is
 * kept separately). hist_add() is O(1), never allocates and never fails. */
#ifndef LEAKPROXY_HIST_H
#define LEAKPROXY_HIST_H
#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP  36                      /* 2^37 us, about 38 hours */
#define HIST_BUCKETS  (HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS + 1) * HIST_SUB)
#define HIST_MAX_US   ((UINT64_C(1) << (HIST_MAX_EXP + 1)) - 1)

struct hist {
    uint64_t count;
    uint64_t sum_us;
    uint64_t max_us;
    uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t us);
/* Value at quantile <q> (0..1) in microseconds; 0 when empty. */
double hist_quantile(const struct hist *h, double q);
/* Value at quantile <q> of the values added since <prev> (a copy of
 * h->bucket taken earlier), in microseconds; 0 when none were. */
double hist_delta_quantile(const struct hist *h, const uint64_t *prev, double q);
/* Number of values <= <us> (exact to one bucket's width). */
uint64_t hist_count_le(const struct hist *h, uint64_t us);
/* Adds every count of <src> into <dst>. */
void hist_merge(struct hist *dst, const struct hist *src);

/* Bucket index of <us>, and the [lo, hi] values bucket <i> holds. */
unsigned hist_index(uint64_t us);
void hist_bounds(unsigned i, uint64_t *lo, uint64_t *hi);
#endif
