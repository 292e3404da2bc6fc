/* mode.h -- the SSR switch's rules: who may put a route in csr or ssr mode,
 * and the one way to change a mode.
 *
 * A route's mode lives in its stats slot (stats.h: mode, mode_by,
 * mode_since_ms, never_csr) and survives reloads with the route's name. Four
 * actors change it: the config file (BY_CONFIG), a person through the admin
 * API (BY_MANUAL), a bisection (BY_BISECT) and the guard (BY_GUARD); a probe
 * replays requests to the upstream and changes no mode. mode_can_switch()
 * is the rule for all of them; mode_set() is the only writer of a mode, and
 * it records the change (an event, a log line, the guard's counters), so no
 * caller can change a mode and leave no trace. Which fallback serves a csr
 * route is fallback.h's. */
#ifndef LEAKPROXY_MODE_H
#define LEAKPROXY_MODE_H
#include "stats.h"

struct app;
struct event_rec;

enum mode_verdict {
    MODE_OK,
    MODE_IS_OTHER,          /* csr: _other is every unmatched path */
    MODE_NEVER_CSR,         /* "never_csr": nobody switches it off, nothing automatic touches it */
    MODE_NO_FALLBACK,       /* csr: neither the route nor the config has a fallback */
    MODE_NOT_IN_TABLE,      /* csr: a reload removed the route */
    MODE_SET_BY_HAND,       /* the guard leaves a mode set by hand */
    MODE_NOT_SSR,           /* an automatic actor switches off only routes that render */
    MODE_SET_AT_RUNTIME,    /* the file's mode does not override a mode set since */
};

/* May <actor> put the route of stats slot <slot> into mode <to> now? An
 * automatic actor (bisect, guard) renders again only routes it switched
 * itself: that bookkeeping is the actor's (mode_by, the guard's dry run),
 * this rule only says whether it may touch the route at all. */
enum mode_verdict mode_can_switch(const struct app *app, unsigned slot, enum route_mode to,
                                  enum mode_by actor);
/* The refusal as the admin API words it (409), "" for MODE_OK. */
const char *mode_why(enum mode_verdict v);

/* Sets the mode of slot <slot> to <m> by <by>; returns 1 if the mode
 * changed. The change is recorded:
 *   <ev> given: the route is added to the caller's open event (the guard's
 *     switch and restore events, which carry its figures); the caller
 *     commits it;
 *   <ev> NULL, BY_MANUAL or BY_GUARD: an EVT_MODE event of its own, when the
 *     mode or its author changed;
 *   <ev> NULL, BY_CONFIG or BY_BISECT: no event of its own -- the file's
 *     modes are recorded by the reload's event, and a bisection's switches
 *     by its start and end events and GET /api/bisect (an event per round
 *     would push the guard's decisions out of the ring).
 * Switches by the guard are counted in the slot's guard_switches. */
int mode_set(struct app *app, unsigned slot, enum route_mode m, enum mode_by by, struct event_rec *ev);

/* 1 if requests of route <r> are answered in csr (with a fallback, when one
 * serves it): never for a never_csr route, whatever its mode says. The hot
 * path asks it for every request. */
static inline int mode_is_csr(const struct stats_route *r)
{
    return r->mode == MODE_CSR && !r->never_csr;
}

/* The config's "mode" and "never_csr" applied to the routes of the current
 * table (start-up, reload): config modes follow the file; modes set by hand,
 * bisect or guard stay, except that a never_csr route always renders. */
void mode_apply_config(struct app *app);
#endif
