/* stats.c -- per-route slots, see stats.h. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mode_by_names[5] = { "config", "manual", "bisect", "probe", "guard" };

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

static int stats_find(const struct stats *s, const char *name)
{
    for (unsigned i = 0; i < s->n; i++)
        if (strcmp(s->slot[i]->name, name) == 0)
            return (int)i;
    return -1;
}

unsigned *stats_sync(struct stats *s, const struct route_table *t)
{
    unsigned n = route_count(t);
    unsigned *map = calloc(n, sizeof *map);
    char **pats = calloc(n, sizeof *pats);
    unsigned added = 0;

    if (map == NULL || pats == NULL)
        goto oom;
    for (unsigned id = 0; id < n; id++)
        if ((pats[id] = strdup(route_pattern(t, id))) == NULL)
            goto oom;
    /* make room for every new name first, so failure changes nothing */
    for (unsigned id = 0; id < n; id++)
        if (stats_find(s, route_name(t, id)) < 0)
            added++;
    if (s->n + added > s->cap) {
        unsigned cap = s->cap ? s->cap : 16;
        while (cap < s->n + added)
            cap *= 2;
        struct stats_route **v = realloc(s->slot, cap * sizeof *v);
        if (v == NULL)
            goto oom;
        s->slot = v;
        s->cap = cap;
    }
    unsigned base = s->n;
    for (unsigned id = 0, k = 0; id < n; id++) {
        if (stats_find(s, route_name(t, id)) >= 0)
            continue;
        struct stats_route *r = calloc(1, sizeof *r);
        if (r == NULL) {
            while (k--)
                free(s->slot[base + k]);
            goto oom;
        }
        snprintf(r->name, sizeof r->name, "%s", route_name(t, id));
        hist_init(&r->latency);
        hist_init(&r->ttfb);
        s->slot[base + k++] = r;
    }
    s->n = base + added;
    for (unsigned i = 0; i < s->n; i++)
        s->slot[i]->active = 0;
    for (unsigned id = 0; id < n; id++) {
        struct stats_route *r = s->slot[map[id] = (unsigned)stats_find(s, route_name(t, id))];
        r->active = 1;
        free(r->pattern);
        r->pattern = pats[id];
    }
    free(pats);
    return map;
oom:
    if (pats)
        for (unsigned id = 0; id < n; id++)
            free(pats[id]);
    free(pats);
    free(map);
    return NULL;
}
