/* route.c -- the segment trie behind route_match(). See route.h.
 *
 * Node 0 is the root ("/"). Each node knows the route that ends on it, the
 * route whose "*" hangs from it, and its parameter child. Literal children
 * are entries (parent, segment) -> child in one hash table for the whole
 * trie, so a lookup is one hash of the segment and a short probe.
 * Matching is a depth-first search that tries literal, then parameter, then
 * wildcard at each segment: the first full match is the most specific. Its
 * depth is bounded by the deepest pattern, not by the request path. */
#include "route.h"
#include "config_err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rnode {
    int end;                 /* route ending here, -1 if none */
    int wild;                /* route of "<this>/ *", -1 if none */
    int param;               /* parameter child node, -1 if none */
};

struct redge {
    uint32_t hash;
    int parent;              /* -1 marks an empty slot */
    int child;
    const char *seg;         /* into the owning pattern copy */
    size_t len;
};

struct route_table {
    unsigned nroutes;        /* including _other */
    char **names;
    char **patterns;
    struct rnode *nodes;
    unsigned nnodes, capnodes;
    struct redge *edges;
    unsigned edge_mask;      /* table size - 1 (power of two) */
};

static uint32_t route_hash(int parent, const char *s, size_t len)
{
    uint32_t h = 2166136261u ^ (uint32_t)parent * 16777619u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static int route_edge_find(const struct route_table *t, int parent,
                           const char *s, size_t len)
{
    uint32_t h = route_hash(parent, s, len);
    for (uint32_t i = h & t->edge_mask;; i = (i + 1) & t->edge_mask) {
        const struct redge *e = &t->edges[i];
        if (e->parent < 0)
            return -1;
        if (e->hash == h && e->parent == parent && e->len == len &&
            memcmp(e->seg, s, len) == 0)
            return e->child;
    }
}

static int route_node_new(struct route_table *t)
{
    if (t->nnodes == t->capnodes) {
        unsigned cap = t->capnodes ? t->capnodes * 2 : 16;
        struct rnode *n = realloc(t->nodes, cap * sizeof *n);
        if (n == NULL)
            return -1;
        t->nodes = n;
        t->capnodes = cap;
    }
    t->nodes[t->nnodes] = (struct rnode){ -1, -1, -1 };
    return (int)t->nnodes++;
}

/* Literal child of <parent> for <s>, created if missing. -1 on OOM. */
static int route_edge_add(struct route_table *t, int parent, const char *s,
                          size_t len)
{
    int child = route_edge_find(t, parent, s, len);
    if (child >= 0)
        return child;
    if ((child = route_node_new(t)) < 0)
        return -1;
    uint32_t h = route_hash(parent, s, len);
    uint32_t i = h & t->edge_mask;
    while (t->edges[i].parent >= 0)
        i = (i + 1) & t->edge_mask;
    t->edges[i] = (struct redge){ h, parent, child, s, len };
    return child;
}

int route_name_check(const char *name, const char **why)
{
    size_t len = strlen(name);

    if (len == 0 || len > ROUTE_NAME_MAX) {
        *why = "must be 1 to 64 characters";
        return -1;
    }
    if (name[0] == '_') {
        *why = "names starting with '_' are reserved (\"_other\" counts unmatched requests)";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) {
            *why = "may contain only letters, digits, '_', '-' and '.'";
            return -1;
        }
    }
    return 0;
}

static int route_segchar_ok(unsigned char c)
{
    /* RFC 3986 pchar, without ':' and '*' which mean something here */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("-._~%!$&'()+,;=@", c) != NULL;
}

/* Adds pattern <p> for route <id>; 0, or -1 with err->text set. */
static int route_add(struct route_table *t, unsigned id, const char *p,
                     struct config_err *err, const char *path)
{
    int node = 0;
    int *slot;

    if (p[0] != '/') {
        config_err_set(err, path, "'%s' must start with '/'", p);
        return -1;
    }
    const char *s = p + 1;
    size_t plen = strlen(p);
    if (plen > 1 && p[plen - 1] == '/' && !(plen >= 2 && p[plen - 2] == '*'))
        plen--;                                  /* "/about/" == "/about" */
    const char *end = p + plen;
    if (s >= end) {
        slot = &t->nodes[0].end;
        goto set;
    }
    for (;;) {
        const char *q = memchr(s, '/', (size_t)(end - s));
        if (q == NULL)
            q = end;
        size_t len = (size_t)(q - s);
        if (len == 0) {
            config_err_set(err, path, "'%s' has an empty segment", p);
            return -1;
        }
        if (s[0] == '*') {
            if (len != 1 || q != end) {
                config_err_set(err, path,
                               "'%s': '*' must be the whole last segment", p);
                return -1;
            }
            slot = &t->nodes[node].wild;
            goto set;
        }
        if (s[0] == ':') {
            if (len == 1) {
                config_err_set(err, path, "'%s': parameter needs a name after ':'", p);
                return -1;
            }
            for (size_t i = 1; i < len; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_')) {
                    config_err_set(err, path,
                                   "'%s': parameter name '%.*s' may contain only letters, digits and '_'",
                                   p, (int)len - 1, s + 1);
                    return -1;
                }
            }
            if (t->nodes[node].param < 0) {
                int c = route_node_new(t);
                if (c < 0)
                    goto oom;
                t->nodes[node].param = c;
            }
            node = t->nodes[node].param;
        } else {
            for (size_t i = 0; i < len; i++) {
                if (!route_segchar_ok((unsigned char)s[i])) {
                    config_err_set(err, path,
                                   "'%s': character '%c' is not allowed in a path pattern%s",
                                   p, s[i], s[i] == ':' ? " (':' starts a parameter only at a segment's start)" :
                                   s[i] == '*' ? " ('*' is allowed only as the whole last segment)" : "");
                    return -1;
                }
            }
            if ((node = route_edge_add(t, node, s, len)) < 0)
                goto oom;
        }
        if (q == end) {
            slot = &t->nodes[node].end;
            goto set;
        }
        s = q + 1;
    }
set:
    if (*slot >= 0) {
        config_err_set(err, path, "'%s' matches the same paths as route '%s' ('%s')",
                       p, t->names[*slot], t->patterns[*slot]);
        return -1;
    }
    *slot = (int)id;
    return 0;
oom:
    config_err_set(err, path, "out of memory");
    return -1;
}

struct route_table *route_table_new(const char *const *names,
                                    const char *const *patterns, unsigned n,
                                    struct config_err *err)
{
    struct route_table *t = calloc(1, sizeof *t);
    char path[CONFIG_PATH_MAX];
    unsigned size = 16, nmask = 0;
    int *nset = NULL;

    if (t == NULL)
        goto oom;
    t->nroutes = n + 1;
    t->names = calloc(n + 1, sizeof *t->names);
    t->patterns = calloc(n + 1, sizeof *t->patterns);
    /* every literal segment of every pattern is at most one edge */
    size_t segs = 0;
    for (unsigned i = 0; i < n; i++)
        for (const char *c = patterns[i]; *c; c++)
            segs += *c == '/';
    while (size < 2 * segs + 2)
        size *= 2;
    t->edges = malloc(size * sizeof *t->edges);
    if (!t->names || !t->patterns || !t->edges)
        goto oom;
    t->edge_mask = size - 1;
    for (unsigned i = 0; i < size; i++)
        t->edges[i].parent = -1;
    nmask = 15;
    while (nmask + 1 < 2 * n + 2)
        nmask = nmask * 2 + 1;
    if ((nset = malloc((nmask + 1) * sizeof *nset)) == NULL)
        goto oom;
    for (unsigned i = 0; i <= nmask; i++)
        nset[i] = -1;
    if (route_node_new(t) < 0)
        goto oom;
    if (!(t->names[0] = strdup(ROUTE_OTHER_NAME)) || !(t->patterns[0] = strdup("")))
        goto oom;
    for (unsigned i = 0; i < n; i++) {
        const char *why;
        snprintf(path, sizeof path, "routes[%u].name", i);
        if (route_name_check(names[i], &why) < 0) {
            config_err_set(err, path, "'%s' %s", names[i], why);
            goto fail;
        }
        /* duplicate names: a hash set of the names so far (O(n), not O(n^2)) */
        {
            uint32_t h = route_hash(-2, names[i], strlen(names[i])) & nmask;
            for (; nset[h] >= 0; h = (h + 1) & nmask)
                if (strcmp(names[nset[h]], names[i]) == 0) {
                    config_err_set(err, path, "duplicate route name '%s' (also routes[%d])",
                                   names[i], nset[h]);
                    goto fail;
                }
            nset[h] = (int)i;
        }
        if (!(t->names[i + 1] = strdup(names[i])) ||
            !(t->patterns[i + 1] = strdup(patterns[i])))
            goto oom;
        snprintf(path, sizeof path, "routes[%u].match", i);
        if (route_add(t, i + 1, t->patterns[i + 1], err, path) < 0)
            goto fail;
    }
    free(nset);
    return t;
oom:
    config_err_set(err, "routes", "out of memory");
fail:
    free(nset);
    route_table_free(t);
    return NULL;
}

void route_table_free(struct route_table *t)
{
    if (t == NULL)
        return;
    for (unsigned i = 0; i < t->nroutes; i++) {
        if (t->names)
            free(t->names[i]);
        if (t->patterns)
            free(t->patterns[i]);
    }
    free(t->names);
    free(t->patterns);
    free(t->nodes);
    free(t->edges);
    free(t);
}

/* <s>..<end> is what follows the '/' after <node>'s segment. */
static int route_dfs(const struct route_table *t, int node, const char *s,
                     const char *end)
{
    const struct rnode *n = &t->nodes[node];
    if (s >= end)
        return n->end >= 0 ? n->end : n->wild;
    const char *q = memchr(s, '/', (size_t)(end - s));
    const char *next = q ? q + 1 : end;
    size_t len = (size_t)((q ? q : end) - s);
    int r, c;

    if (q && q + 1 == end)       /* "a/" at the very end: "a" */
        next = end;
    if ((c = route_edge_find(t, node, s, len)) >= 0 &&
        (r = route_dfs(t, c, next, end)) >= 0)
        return r;
    if (len > 0 && n->param >= 0 && (r = route_dfs(t, n->param, next, end)) >= 0)
        return r;
    return n->wild;
}

unsigned route_match(const struct route_table *t, const char *path, size_t len)
{
    if (len == 0 || path[0] != '/')
        return ROUTE_OTHER;
    int r = route_dfs(t, 0, path + 1, path + len);
    return r >= 0 ? (unsigned)r : ROUTE_OTHER;
}

const char *route_name(const struct route_table *t, unsigned id)
{
    return id < t->nroutes ? t->names[id] : ROUTE_OTHER_NAME;
}

const char *route_pattern(const struct route_table *t, unsigned id)
{
    return id < t->nroutes ? t->patterns[id] : "";
}

unsigned route_count(const struct route_table *t)
{
    return t->nroutes;
}

int route_find(const struct route_table *t, const char *name)
{
    for (unsigned i = 0; i < t->nroutes; i++)
        if (strcmp(t->names[i], name) == 0)
            return (int)i;
    return -1;
}
