/* hist.c -- log-linear histograms, see hist.h for the layout.
 *
 * Index of v: v < 32 -> v. Otherwise e = floor(log2 v) (5..36) and the
 * HIST_SUB_BITS bits below the leading one pick the sub-bucket:
 * index = 32 + (e - 5) * 32 + ((v >> (e - 5)) & 31). */
#include "hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
}

unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    if (v > HIST_MAX_US)
        v = HIST_MAX_US;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - HIST_SUB_BITS;
    return HIST_SUB + shift * HIST_SUB + (unsigned)((v >> shift) & (HIST_SUB - 1));
}

void hist_bounds(unsigned i, uint64_t *lo, uint64_t *hi)
{
    if (i < HIST_SUB) {
        *lo = *hi = i;
        return;
    }
    unsigned shift = (i - HIST_SUB) / HIST_SUB;
    uint64_t sub = (i - HIST_SUB) % HIST_SUB;
    *lo = (HIST_SUB + sub) << shift;
    *hi = *lo + (UINT64_C(1) << shift) - 1;
}

void hist_add(struct hist *h, uint64_t us)
{
    h->count++;
    h->sum_us += us;
    if (us > h->max_us)
        h->max_us = us;
    h->bucket[hist_index(us)]++;
}

/* The value at quantile <q> of the <n> values in h->bucket minus <prev>
 * (all of them when <prev> is NULL): the midpoint of the bucket holding the
 * smallest value with at least ceil(q * n) values at or below it. */
static double quantile_since(const struct hist *h, const uint64_t *prev, uint64_t n, double q)
{
    if (n == 0)
        return 0;
    if (q < 0)
        q = 0;
    uint64_t rank = (uint64_t)(q * (double)n);
    if ((double)rank < q * (double)n)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i] - (prev ? prev[i] : 0);
        if (seen >= rank) {
            uint64_t lo, hi;
            hist_bounds(i, &lo, &hi);
            double mid = ((double)lo + (double)hi) / 2;
            return mid > (double)h->max_us ? (double)h->max_us : mid;
        }
    }
    return (double)h->max_us;
}

double hist_quantile(const struct hist *h, double q)
{
    if (h->count && q >= 1)
        return (double)h->max_us;
    return quantile_since(h, NULL, h->count, q);
}

double hist_delta_quantile(const struct hist *h, const uint64_t *prev, double q)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        n += h->bucket[i] - prev[i];
    return quantile_since(h, prev, n, q > 1 ? 1 : q);
}

uint64_t hist_count_le(const struct hist *h, uint64_t us)
{
    uint64_t n = 0;
    unsigned last = hist_index(us);
    uint64_t lo, hi;

    hist_bounds(last, &lo, &hi);
    if (hi > us && last > 0)      /* bucket straddles <us>: leave it out */
        last--;
    else if (hi > us)
        return 0;
    for (unsigned i = 0; i <= last; i++)
        n += h->bucket[i];
    return n;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    dst->count += src->count;
    dst->sum_us += src->sum_us;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->bucket[i] += src->bucket[i];
}
