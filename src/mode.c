/* mode.c -- the SSR switch's rules, see mode.h. */
#include "mode.h"
#include "app.h"
#include "config.h"
#include "events.h"
#include "fallback.h"
#include "log.h"
#include "route.h"
#include "stats.h"

#include <stdio.h>

/* how each author is named in an event's reason and in the log */
static const char *const by_words[] = { "by the config", "by hand (admin API)", "by a bisection", "by the guard" };
static const char *const by_log[] = { "config", "manual, admin API", "bisect", "guard" };

/* The actors differ on purpose:
 *   - rendering is always safe: a person may ask for it for any route, and
 *     "never_csr" in the file forces it whoever set the mode;
 *   - nobody switches off _other (every unmatched path), a never_csr route,
 *     or a route with no fallback to answer with;
 *   - a person overrides anyone; the file's mode applies only to routes
 *     whose mode nobody set since (modes set by hand survive reloads);
 *   - the guard acts alone, under pressure: it never overrides a mode set by
 *     hand. A bisection is started by a person for the routes they name and
 *     gives them back rendering when it ends: it may test a route set to ssr
 *     by hand;
 *   - an automatic actor switches off only routes that render: taking a csr
 *     route as its own would make it render that route again later. */
enum mode_verdict mode_can_switch(const struct app *app, unsigned slot, enum route_mode to,
                                  enum mode_by actor)
{
    const struct stats_route *r = app->stats.slot[slot];

    if (to == MODE_CSR && slot == app->route_slot[ROUTE_OTHER])
        return MODE_IS_OTHER;
    if (to == MODE_SSR && (actor == BY_MANUAL || (actor == BY_CONFIG && r->never_csr)))
        return MODE_OK;
    if (r->never_csr)
        return MODE_NEVER_CSR;
    if (to == MODE_CSR) {
        int id = route_find(app->cfg->routes, r->name);
        if (id < 0)
            return MODE_NOT_IN_TABLE;
        if (fallback_for(app->cfg, (unsigned)id)->kind == FB_NONE)
            return MODE_NO_FALLBACK;
    }
    switch (actor) {
    case BY_MANUAL:
        return MODE_OK;
    case BY_CONFIG:
        return r->mode_by == BY_CONFIG || r->mode_since_ms == 0 ? MODE_OK : MODE_SET_AT_RUNTIME;
    case BY_GUARD:
        if (r->mode_by == BY_MANUAL)
            return MODE_SET_BY_HAND;
        /* fall through */
    default:
        return to == MODE_CSR && r->mode != MODE_SSR ? MODE_NOT_SSR : MODE_OK;
    }
}

const char *mode_why(enum mode_verdict v)
{
    switch (v) {
    case MODE_OK:
        return "";
    case MODE_IS_OTHER:
        return "_other cannot be switched: it is every unmatched path";
    case MODE_NEVER_CSR:
        return "this route is never_csr in the config";
    case MODE_NO_FALLBACK:
        return "no fallback configured: set \"fallback\" in the config first";
    case MODE_NOT_IN_TABLE:
        return "this route is no longer in the config";
    case MODE_SET_BY_HAND:
        return "this route's mode was set by hand";
    case MODE_NOT_SSR:
        return "this route is already csr";
    case MODE_SET_AT_RUNTIME:
        return "this route's mode was set at runtime";
    }
    return "";
}

/* The EVT_MODE event of a change nobody else records: when the mode or its
 * author changed. */
static void mode_event(struct app *app, const struct stats_route *r, int changed, enum route_mode was,
                       enum mode_by was_by)
{
    const char *now = r->mode == MODE_CSR ? "csr" : "ssr";

    if (changed)
        log_at(LOG_INFO, "route %s: mode %s (%s)", r->name, now, by_log[r->mode_by]);
    if (!changed && was_by == r->mode_by)
        return;
    struct event_rec *ev = events_begin(app, EVT_MODE, mode_by_names[r->mode_by]);
    ev->action = r->mode == MODE_CSR ? EVT_ACT_CSR : EVT_ACT_SSR;
    events_add_route(ev, r->name);
    snprintf(ev->reason, sizeof ev->reason, "route %s set to %s %s%s%s%s", r->name, now, by_words[r->mode_by],
             changed ? ", was " : "", changed ? (was == MODE_CSR ? "csr" : "ssr") : "",
             was_by == BY_GUARD && r->mode_by == BY_MANUAL ? " (set by the guard; it will not change it back)" : "");
    events_commit(app, ev);
}

int mode_set(struct app *app, unsigned slot, enum route_mode m, enum mode_by by, struct event_rec *ev)
{
    struct stats_route *r = stats_at(&app->stats, slot);
    enum route_mode was = r->mode;
    enum mode_by was_by = r->mode_by;
    int changed = stats_set_mode(r, m, by, app_wall_ms(app));

    if (changed && by == BY_GUARD)
        r->guard_switches[m == MODE_CSR ? 0 : 1]++;
    if (ev)
        events_add_route(ev, r->name);
    else if (by == BY_MANUAL || by == BY_GUARD)
        mode_event(app, r, changed, was, was_by);
    return changed;
}

void mode_apply_config(struct app *app)
{
    const struct config *c = app->cfg;

    for (unsigned id = 1; id < route_count(c->routes); id++) {
        unsigned slot = app->route_slot[id];
        struct stats_route *r = stats_at(&app->stats, slot);
        r->never_csr = c->route_never_csr[id];
        enum route_mode m = c->route_csr[id] && !r->never_csr ? MODE_CSR : MODE_SSR;
        if (mode_can_switch(app, slot, m, BY_CONFIG) == MODE_OK)
            mode_set(app, slot, m, BY_CONFIG, NULL);
    }
}
