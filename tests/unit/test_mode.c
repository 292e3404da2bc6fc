/* test_mode.c -- the SSR switch's rules (mode.h): which actor may put which
 * route in csr or ssr, that a change by hand or by the guard is recorded
 * once, that the config's modes follow the file without overriding modes
 * set at runtime, and which fallback serves a route (fallback.h). The app is
 * built from a parsed config, as main does at start-up. */
#include "cm.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "events.h"
#include "fallback.h"
#include "log.h"
#include "mode.h"
#include "route.h"

/* home: nothing of its own; news: its own fallback; api: never_csr;
 * about: csr in the file. With <global>, a global fallback too. */
static const char *const text_fmt =
    "{\"listen\": \"127.0.0.1:8080\", \"upstream\": \"http://127.0.0.1:3000\",\n"
    " %s\n"
    " \"routes\": [{\"name\": \"home\", \"match\": \"/\"},\n"
    "   {\"name\": \"news\", \"match\": \"/news/:id\", \"fallback\": {\"header\": \"X-News-Off: 1\"}},\n"
    "   {\"name\": \"api\", \"match\": \"/api/*\", \"never_csr\": true},\n"
    "   {\"name\": \"about\", \"match\": \"/about\", \"mode\": \"csr\", \"fallback\": {\"header\": \"X-About-Off: 1\"}}]}\n";

static struct app app;

static void build(int global)
{
    char text[2048];
    struct config_err err;

    snprintf(text, sizeof text, text_fmt, global ? "\"fallback\": {\"header\": \"X-SSR-Off: 1\"}," : "");
    log_level_min = LOG_ERROR;
    memset(&app, 0, sizeof app);
    events_init(&app.events);
    stats_init(&app.stats);
    app.cfg = config_parse(text, strlen(text), "mode.json", &err);
    if (app.cfg == NULL)
        fail_msg("config: %s: %s", err.path, err.text);
    app.route_slot = stats_sync(&app.stats, app.cfg->routes);
    assert_non_null(app.route_slot);
    mode_apply_config(&app);
}

static void teardown_app(void)
{
    free(app.route_slot);
    stats_fini(&app.stats);
    config_free(app.cfg);
}

static unsigned slot_of(const char *name)
{
    int id = route_find(app.cfg->routes, name);
    assert_true(id >= 0);
    return app.route_slot[id];
}

static struct stats_route *route_of(const char *name)
{
    return stats_at(&app.stats, slot_of(name));
}

static enum mode_verdict can(const char *name, enum route_mode to, enum mode_by actor)
{
    return mode_can_switch(&app, slot_of(name), to, actor);
}

static unsigned nevents(void)
{
    return (unsigned)(app.events.next_id - 1);
}

static void config_modes_follow_the_file(void **state)
{
    (void)state;
    build(0);
    assert_int_equal(route_of("about")->mode, MODE_CSR);
    assert_int_equal(route_of("about")->mode_by, BY_CONFIG);
    assert_int_equal(route_of("home")->mode, MODE_SSR);
    assert_true(route_of("api")->never_csr);
    assert_int_equal(nevents(), 0);            /* the file's modes are the reload's to record */
    teardown_app();
}

static void nobody_switches_off_other_never_csr_or_without_fallback(void **state)
{
    (void)state;
    build(0);
    static const enum mode_by actors[] = { BY_MANUAL, BY_BISECT, BY_GUARD, BY_CONFIG };
    for (unsigned a = 0; a < sizeof actors / sizeof actors[0]; a++) {
        assert_int_equal(mode_can_switch(&app, app.route_slot[ROUTE_OTHER], MODE_CSR, actors[a]), MODE_IS_OTHER);
        assert_int_equal(can("api", MODE_CSR, actors[a]), MODE_NEVER_CSR);
        assert_int_equal(can("home", MODE_CSR, actors[a]), MODE_NO_FALLBACK);   /* no global one */
    }
    assert_int_equal(can("news", MODE_CSR, BY_MANUAL), MODE_OK);          /* its own fallback */
    assert_string_equal(mode_why(MODE_NEVER_CSR), "this route is never_csr in the config");
    teardown_app();
}

static void rendering_a_never_csr_route(void **state)
{
    (void)state;
    build(0);
    assert_int_equal(can("api", MODE_SSR, BY_MANUAL), MODE_OK);           /* a person may always ask */
    assert_int_equal(can("api", MODE_SSR, BY_CONFIG), MODE_OK);           /* the file forces it */
    assert_int_equal(can("api", MODE_SSR, BY_GUARD), MODE_NEVER_CSR);     /* nothing automatic touches it */
    assert_int_equal(can("api", MODE_SSR, BY_BISECT), MODE_NEVER_CSR);
    teardown_app();
}

static void a_mode_set_by_hand_stops_the_guard_not_a_person_or_a_bisection(void **state)
{
    (void)state;
    build(1);
    mode_set(&app, slot_of("home"), MODE_SSR, BY_MANUAL, NULL);
    assert_int_equal(can("home", MODE_CSR, BY_GUARD), MODE_SET_BY_HAND);
    assert_int_equal(can("home", MODE_SSR, BY_GUARD), MODE_SET_BY_HAND);
    assert_int_equal(can("home", MODE_CSR, BY_BISECT), MODE_OK);          /* a person started it */
    assert_int_equal(can("home", MODE_CSR, BY_MANUAL), MODE_OK);
    assert_int_equal(can("home", MODE_CSR, BY_CONFIG), MODE_SET_AT_RUNTIME);
    /* a person overrides the guard */
    mode_set(&app, slot_of("news"), MODE_CSR, BY_GUARD, NULL);
    assert_int_equal(can("news", MODE_SSR, BY_MANUAL), MODE_OK);
    assert_int_equal(can("news", MODE_SSR, BY_CONFIG), MODE_SET_AT_RUNTIME);
    teardown_app();
}

static void automatic_actors_switch_off_only_what_renders(void **state)
{
    (void)state;
    build(1);
    /* about is csr by the config, news csr by hand: not theirs to take */
    mode_set(&app, slot_of("news"), MODE_CSR, BY_MANUAL, NULL);
    assert_int_equal(can("about", MODE_CSR, BY_GUARD), MODE_NOT_SSR);
    assert_int_equal(can("about", MODE_CSR, BY_BISECT), MODE_NOT_SSR);
    assert_int_equal(can("news", MODE_CSR, BY_BISECT), MODE_NOT_SSR);
    assert_int_equal(can("news", MODE_CSR, BY_GUARD), MODE_SET_BY_HAND);
    assert_int_equal(can("about", MODE_CSR, BY_MANUAL), MODE_OK);         /* a person may claim it */
    assert_int_equal(can("home", MODE_CSR, BY_GUARD), MODE_OK);           /* the global fallback */
    assert_int_equal(can("home", MODE_CSR, BY_BISECT), MODE_OK);
    assert_int_equal(can("home", MODE_SSR, BY_BISECT), MODE_OK);
    teardown_app();
}

static void config_reload_keeps_runtime_modes(void **state)
{
    (void)state;
    build(1);
    mode_set(&app, slot_of("about"), MODE_SSR, BY_MANUAL, NULL);
    mode_set(&app, slot_of("home"), MODE_CSR, BY_BISECT, NULL);
    mode_apply_config(&app);
    assert_int_equal(route_of("about")->mode, MODE_SSR);
    assert_int_equal(route_of("about")->mode_by, BY_MANUAL);
    assert_int_equal(route_of("home")->mode, MODE_CSR);
    assert_int_equal(route_of("home")->mode_by, BY_BISECT);
    teardown_app();
}

static void a_change_by_hand_writes_one_mode_event(void **state)
{
    (void)state;
    build(1);
    mode_set(&app, slot_of("news"), MODE_CSR, BY_GUARD, NULL);
    unsigned n0 = nevents();
    assert_int_equal(n0, 1);                   /* the guard without an event of its own: still recorded */
    assert_int_equal(mode_set(&app, slot_of("news"), MODE_SSR, BY_MANUAL, NULL), 1);
    assert_int_equal(nevents(), n0 + 1);
    const struct event_rec *e = events_newest(&app.events, 0);
    assert_int_equal(e->type, EVT_MODE);
    assert_string_equal(e->source, "manual");
    assert_int_equal(e->action, EVT_ACT_SSR);
    assert_string_equal(e->routes, "news");
    assert_string_equal(e->reason, "route news set to ssr by hand (admin API), was csr "
                                   "(set by the guard; it will not change it back)");
    /* the same again changes nothing and says nothing */
    assert_int_equal(mode_set(&app, slot_of("news"), MODE_SSR, BY_MANUAL, NULL), 0);
    assert_int_equal(nevents(), n0 + 1);
    /* claiming a mode set by another author: recorded, without "was" */
    assert_int_equal(mode_set(&app, slot_of("about"), MODE_CSR, BY_MANUAL, NULL), 0);
    assert_int_equal(nevents(), n0 + 2);
    assert_string_equal(events_newest(&app.events, 0)->reason, "route about set to csr by hand (admin API)");
    teardown_app();
}

static void the_guard_adds_to_its_own_event_and_counts(void **state)
{
    (void)state;
    build(1);
    struct event_rec *ev = events_begin(&app, EVT_SWITCH, "guard");
    assert_int_equal(mode_set(&app, slot_of("home"), MODE_CSR, BY_GUARD, ev), 1);
    assert_int_equal(mode_set(&app, slot_of("news"), MODE_CSR, BY_GUARD, ev), 1);
    events_commit(&app, ev);
    assert_int_equal(nevents(), 1);            /* its own, nothing more */
    const struct event_rec *e = events_newest(&app.events, 0);
    assert_int_equal(e->type, EVT_SWITCH);
    assert_string_equal(e->source, "guard");
    assert_string_equal(e->routes, "home\nnews");
    assert_int_equal(route_of("home")->guard_switches[0], 1);
    assert_int_equal(route_of("home")->mode_by, BY_GUARD);
    ev = events_begin(&app, EVT_RESTORE, "guard");
    mode_set(&app, slot_of("home"), MODE_SSR, BY_GUARD, ev);
    events_commit(&app, ev);
    assert_int_equal(route_of("home")->guard_switches[1], 1);
    teardown_app();
}

static void a_bisection_and_the_file_write_no_event_of_their_own(void **state)
{
    (void)state;
    build(1);
    assert_int_equal(mode_set(&app, slot_of("home"), MODE_CSR, BY_BISECT, NULL), 1);
    assert_int_equal(mode_set(&app, slot_of("home"), MODE_SSR, BY_CONFIG, NULL), 1);
    assert_int_equal(nevents(), 0);
    assert_int_equal(route_of("home")->guard_switches[0], 0);
    teardown_app();
}

static void fallback_for_prefers_the_routes_own(void **state)
{
    (void)state;
    build(1);
    int news = route_find(app.cfg->routes, "news"), home = route_find(app.cfg->routes, "home");
    assert_string_equal(fallback_for(app.cfg, (unsigned)news)->hname, "X-News-Off");
    assert_string_equal(fallback_for(app.cfg, (unsigned)home)->hname, "X-SSR-Off");
    assert_ptr_equal(fallback_for(app.cfg, ROUTE_OTHER), &app.cfg->fallback);
    assert_ptr_equal(fallback_for(app.cfg, (unsigned)-1), &app.cfg->fallback);   /* not in the table */
    assert_int_equal(fallback_target(fallback_for(app.cfg, (unsigned)news)), 0);
    teardown_app();
    build(0);
    assert_int_equal(fallback_for(app.cfg, (unsigned)home)->kind, FB_NONE);
    teardown_app();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_modes_follow_the_file),
        cmocka_unit_test(nobody_switches_off_other_never_csr_or_without_fallback),
        cmocka_unit_test(rendering_a_never_csr_route),
        cmocka_unit_test(a_mode_set_by_hand_stops_the_guard_not_a_person_or_a_bisection),
        cmocka_unit_test(automatic_actors_switch_off_only_what_renders),
        cmocka_unit_test(config_reload_keeps_runtime_modes),
        cmocka_unit_test(a_change_by_hand_writes_one_mode_event),
        cmocka_unit_test(the_guard_adds_to_its_own_event_and_counts),
        cmocka_unit_test(a_bisection_and_the_file_write_no_event_of_their_own),
        cmocka_unit_test(fallback_for_prefers_the_routes_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
