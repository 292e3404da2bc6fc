/* route.h -- map a request path to a route id.
 *
 * Patterns compile once, at config load, into a segment trie whose literal
 * edges live in one open-addressing hash table, so matching costs one hash
 * probe per path segment whatever the number of routes, never allocates and
 * never copies the path. Unmatched paths get ROUTE_OTHER, so per-route arrays
 * are indexed by id without checks.
 *
 * Patterns: exact "/about"; named parameters "/detail/:id" (a whole,
 * non-empty segment); a trailing wildcard "/static/ *" without the space
 * (matches "/static",
 * "/static/" and everything below). Precedence, independent of the order in
 * the file: at each segment a literal beats a parameter, which beats a
 * wildcard; so the route with the longer literal prefix wins. Matching is on
 * the bytes given: the proxy passes the path with percent-encoded unreserved
 * characters decoded (http1_path_canon) and has refused dot segments; "%2F"
 * is not a slash, "//" is an empty segment (which no literal or parameter
 * matches), and one trailing slash is ignored. */
#ifndef LEAKPROXY_ROUTE_H
#define LEAKPROXY_ROUTE_H
#include <stddef.h>

#define ROUTE_OTHER 0            /* id of the unmatched route "_other" */
#define ROUTE_OTHER_NAME "_other"
#define ROUTE_NAME_MAX 64

struct config_err;
struct route_table;              /* opaque */

/* Compiles <n> routes; route i gets id i + 1. <names>/<patterns> are
 * copied. Returns a table to free with route_table_free(), or NULL with
 * <err> naming "routes[i].name" or "routes[i].match". */
struct route_table *route_table_new(const char *const *names,
                                    const char *const *patterns, unsigned n,
                                    struct config_err *err);
void route_table_free(struct route_table *t);   /* NULL is fine */

/* <path> is <len> bytes, query excluded. Never fails. */
unsigned route_match(const struct route_table *t, const char *path, size_t len);

/* Borrowed: valid until route_table_free(). Id 0 is "_other" / "". */
const char *route_name(const struct route_table *t, unsigned id);
const char *route_pattern(const struct route_table *t, unsigned id);
unsigned route_count(const struct route_table *t);  /* including _other */
/* Id of the route named <name>, or -1. */
int route_find(const struct route_table *t, const char *name);

/* 0 if <name> is a valid route name, else -1 with a reason in <why>. */
int route_name_check(const char *name, const char **why);
#endif
