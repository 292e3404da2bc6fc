/* stats.c -- per-route slots, see stats.h. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mode_by_names[4] = { "config", "manual", "bisect", "guard" };

int stats_set_mode(struct stats_route *r, enum route_mode m, enum mode_by by, uint64_t now_ms)
{
    if (r->mode == m && r->mode_by == by)
        return 0;
    int changed = r->mode != m;
    r->mode = m;
    r->mode_by = by;
    if (changed || r->mode_since_ms == 0)
        r->mode_since_ms = now_ms;
    return changed;
}

const char *const stats_err_names[STATS_ERR_N] = {
    "connect", "timeout", "bad_response", "reset", "client_abort"
};

void stats_init(struct stats *s)
{
    memset(s, 0, sizeof *s);
}

void stats_fini(struct stats *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        free(s->slot[i]->pattern);
        free(s->slot[i]);
    }
    free(s->slot);
    memset(s, 0, sizeof *s);
}

/* A name -> slot index for one stats_sync(): open addressing over the slot
 * names, so a reload with thousands of routes costs O(routes), not O(n^2). */
struct name_index {
    int *v;
    unsigned mask;
};

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int index_add(struct name_index *ix, struct stats_route **slots, unsigned i)
{
    uint32_t h = name_hash(slots[i]->name) & ix->mask;
    while (ix->v[h] >= 0)
        h = (h + 1) & ix->mask;
    ix->v[h] = (int)i;
    return 0;
}

static int index_find(const struct name_index *ix, struct stats_route **slots, const char *name)
{
    for (uint32_t h = name_hash(name) & ix->mask; ix->v[h] >= 0; h = (h + 1) & ix->mask)
        if (strcmp(slots[ix->v[h]]->name, name) == 0)
            return ix->v[h];
    return -1;
}

unsigned *stats_sync(struct stats *s, const struct route_table *t)
{
    unsigned n = route_count(t);
    unsigned *map = calloc(n, sizeof *map);
    char **pats = calloc(n, sizeof *pats);
    unsigned added = 0, size = 16;
    struct name_index ix = { NULL, 0 };

    if (map == NULL || pats == NULL)
        goto oom;
    while (size < 2 * (s->n + n) + 2)
        size *= 2;
    if ((ix.v = malloc(size * sizeof *ix.v)) == NULL)
        goto oom;
    ix.mask = size - 1;
    for (unsigned i = 0; i < size; i++)
        ix.v[i] = -1;
    for (unsigned id = 0; id < n; id++)
        if ((pats[id] = strdup(route_pattern(t, id))) == NULL)
            goto oom;
    /* make room for every new name first, so failure changes nothing */
    if (s->n + n > s->cap) {
        unsigned cap = s->cap ? s->cap : 16;
        while (cap < s->n + n)
            cap *= 2;
        struct stats_route **v = realloc(s->slot, cap * sizeof *v);
        if (v == NULL)
            goto oom;
        s->slot = v;
        s->cap = cap;
    }
    for (unsigned i = 0; i < s->n; i++)
        index_add(&ix, s->slot, i);
    unsigned base = s->n;
    for (unsigned id = 0; id < n; id++) {
        if (index_find(&ix, s->slot, route_name(t, id)) >= 0)
            continue;
        struct stats_route *r = calloc(1, sizeof *r);
        if (r == NULL) {
            while (added--)
                free(s->slot[base + added]);
            goto oom;
        }
        snprintf(r->name, sizeof r->name, "%s", route_name(t, id));
        hist_init(&r->latency);
        hist_init(&r->ttfb);
        s->slot[base + added] = r;
        index_add(&ix, s->slot, base + added);
        added++;
    }
    s->n = base + added;
    for (unsigned i = 0; i < s->n; i++)
        s->slot[i]->active = 0;
    for (unsigned id = 0; id < n; id++) {
        struct stats_route *r = s->slot[map[id] = (unsigned)index_find(&ix, s->slot, route_name(t, id))];
        r->active = 1;
        free(r->pattern);
        r->pattern = pats[id];
    }
    free(pats);
    free(ix.v);
    return map;
oom:
    if (pats)
        for (unsigned id = 0; id < n; id++)
            free(pats[id]);
    free(pats);
    free(map);
    free(ix.v);
    return NULL;
}
