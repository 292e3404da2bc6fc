/* bisect.h -- find leaking routes under live traffic by switching groups of
 * routes to csr and comparing memory growth (see bisect.c). */
#ifndef LEAKPROXY_BISECT_H
#define LEAKPROXY_BISECT_H
#include <jansson.h>
#include <stddef.h>

struct app;

/* Starts a bisection over <routes> (NULL: every route that can be switched),
 * rounds of <round_seconds>, on "heap_used" or "rss". Returns an HTTP status
 * (200, 400, 404, 409) with <err> filled when not 200. */
int bisect_start(struct app *app, const char *const *routes, unsigned nroutes, unsigned round_seconds,
                 const char *metric, char *err, size_t errlen);
/* Stops and restores every mode it changed. */
void bisect_abort(struct app *app, const char *why);
json_t *bisect_json(const struct app *app);   /* new reference */
void bisect_free(struct app *app);            /* shutdown: abort, restore, free */
#endif
