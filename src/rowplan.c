/* rowplan.c -- the design of measurement rows and the forced-GC budget.
 * See rowplan.h. */
#include "rowplan.h"

#include <stdlib.h>
#include <string.h>

/* xorshift64*: the design only needs rows that do not repeat a pattern */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(2685821657736338717);
}

static unsigned rng_below(uint64_t *s, unsigned n)
{
    return n ? (unsigned)((rng_next(s) >> 33) % n) : 0;
}

int rowplan_init(struct rowplan *p, uint64_t seed, unsigned min, unsigned max, unsigned nslots)
{
    memset(p, 0, sizeof *p);
    p->rng = seed ? seed : UINT64_C(0x9e3779b97f4a7c15);
    p->min = min ? min : 1;
    p->max = max >= p->min ? max : p->min;
    return rowplan_resize(p, nslots);
}

void rowplan_fini(struct rowplan *p)
{
    free(p->seen);
    free(p->last_us);
    p->seen = p->last_us = NULL;
    p->nslots = 0;
}

int rowplan_resize(struct rowplan *p, unsigned nslots)
{
    if (nslots <= p->nslots)
        return 0;
    uint64_t *a = calloc(nslots, sizeof *a), *b = calloc(nslots, sizeof *b);
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return -1;
    }
    if (p->nslots) {
        memcpy(a, p->seen, p->nslots * sizeof *a);
        memcpy(b, p->last_us, p->nslots * sizeof *b);
    }
    free(p->seen);
    free(p->last_us);
    p->seen = a;
    p->last_us = b;
    p->nslots = nslots;
    return 0;
}

void rowplan_observe(struct rowplan *p, const uint64_t *counts, unsigned n, uint64_t now_us)
{
    if (n > p->nslots)
        n = p->nslots;
    for (unsigned i = 0; i < n; i++) {
        if (counts[i] != p->seen[i]) {
            p->seen[i] = counts[i];
            p->last_us[i] = now_us ? now_us : 1;
        }
    }
}

unsigned rowplan_active(const struct rowplan *p, uint64_t now_us, uint8_t *active, unsigned n)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        active[i] = i < p->nslots && p->last_us[i] && now_us - p->last_us[i] <= ROWPLAN_ACTIVE_US;
        k += active[i];
    }
    return k;
}

static int candidate(const uint8_t *active, const uint8_t *waiting, unsigned i)
{
    return active[i] || (waiting && waiting[i]);
}

/* Flips the admission of the <pick>-th candidate slot. */
static void flip(const uint8_t *active, const uint8_t *waiting, uint8_t *admit, unsigned n,
                 unsigned pick)
{
    for (unsigned i = 0; i < n; i++)
        if (candidate(active, waiting, i) && pick-- == 0) {
            admit[i] = !admit[i];
            return;
        }
}

unsigned rowplan_next(struct rowplan *p, const uint8_t *active, const uint8_t *waiting,
                      uint8_t *admit, unsigned n)
{
    unsigned ncand = 0, nin = 0;
    for (unsigned i = 0; i < n; i++) {
        admit[i] = candidate(active, waiting, i) ? (uint8_t)(rng_next(&p->rng) >> 63) : 0;
        ncand += candidate(active, waiting, i);
        nin += admit[i];
    }
    /* at least one in, and one out when there are two or more */
    if (ncand > 0 && (nin == 0 || (ncand >= 2 && nin == ncand)))
        flip(active, waiting, admit, n, rng_below(&p->rng, ncand));
    /* somebody held must be able to start, or the row would only fill by
     * hold expiries */
    if (waiting) {
        unsigned nwait = 0, nwait_in = 0;
        for (unsigned i = 0; i < n; i++) {
            nwait += waiting[i] != 0;
            nwait_in += waiting[i] && admit[i];
        }
        if (nwait > 0 && nwait_in == 0) {
            unsigned pick = rng_below(&p->rng, nwait);
            for (unsigned i = 0; i < n; i++)
                if (waiting[i] && pick-- == 0) {
                    admit[i] = 1;
                    break;
                }
        }
    }
    return p->min + rng_below(&p->rng, p->max - p->min + 1);
}

double rowplan_duty(double ceiling, unsigned unsettled, unsigned active)
{
    if (active == 0 || unsettled > 0)
        return ceiling;
    return ceiling / 10.0;
}

double rowplan_gap_ms(double gc_ms, double duty)
{
    if (duty <= 0)
        return 1e12;
    if (duty >= 1)
        return 0;
    /* gc / (gc + gap) = duty */
    return gc_ms * (1.0 - duty) / duty;
}
