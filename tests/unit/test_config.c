/* test_config.c -- every bad config in tests/config/bad/<case>.json fails
 * with exactly the message in <case>.err (file:line: key.path: text), and
 * good configs load with the documented defaults. Run from the repo root. */
#include "cm.h"

#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "route.h"

#define DIR_BAD "tests/config/bad"

static void test_bad_configs_name_key_and_line(void **state)
{
    (void)state;
    DIR *d = opendir(DIR_BAD);
    struct dirent *e;
    int cases = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char path[512], errpath[512], want[1024] = "", got[1024];
        snprintf(path, sizeof path, DIR_BAD "/%s", e->d_name);
        snprintf(errpath, sizeof errpath, DIR_BAD "/%.*s.err", (int)(len - 5), e->d_name);
        FILE *f = fopen(errpath, "r");
        if (f == NULL)
            fail_msg("%s has no .err file", path);
        if (fgets(want, sizeof want, f) == NULL)
            want[0] = '\0';
        fclose(f);
        want[strcspn(want, "\n")] = '\0';

        struct config_err err;
        struct config *c = config_load(path, &err);
        if (c != NULL)
            fail_msg("%s: loaded, but should fail with: %s", path, want);
        config_err_format(e->d_name, &err, got, sizeof got);
        if (strcmp(got, want) != 0)
            fail_msg("%s:\n  want: %s\n  got:  %s", path, want, got);
        cases++;
    }
    closedir(d);
    assert_true(cases >= 20);
}

static void test_full_example_and_defaults(void **state)
{
    (void)state;
    struct config_err err;
    struct config *c = config_load("tests/config/good/full.json", &err);
    if (c == NULL)
        fail_msg("%s: %s", err.path, err.text);
    assert_int_equal(route_count(c->routes), 4);
    assert_int_equal(c->timeouts.connect_ms, 2000);
    assert_int_equal(c->timeouts.header_ms, 10000);        /* default */
    assert_int_equal(c->limits.max_headers, 100);          /* default */
    assert_int_equal(c->limits.max_body_bytes, 10485760);
    assert_string_equal(c->access_log, "-");
    assert_string_equal(c->upstream_host, "127.0.0.1:3000");
    config_free(c);

    c = config_load("tests/config/good/minimal.json", &err);
    if (c == NULL)
        fail_msg("%s: %s", err.path, err.text);
    assert_int_equal(c->listen.sa.ss_family, AF_INET6);
    assert_true(config_addr_is_loopback(&c->admin));       /* admin defaults to loopback */
    assert_int_equal(ntohs(((struct sockaddr_in *)&c->admin.sa)->sin_port), 9091);
    assert_null(c->access_log);
    assert_int_equal(route_count(c->routes), 1);           /* just _other */
    config_free(c);
}

/* the guard's documented defaults, and a config using the keys of the guard's contract */
static void test_guard_defaults(void **state)
{
    (void)state;
    static const char text[] =
        "{\"listen\": \"127.0.0.1:8080\", \"upstream\": \"http://127.0.0.1:3000\",\n"
        " \"fallback\": {\"header\": \"X-SSR-Off: 1\"},\n"
        " \"routes\": [{\"name\": \"home\", \"match\": \"/\"}, {\"name\": \"detail\", \"match\": \"/d/:id\"}],\n"
        " \"memory\": {\"source\": \"http\", \"url\": \"http://127.0.0.1:3000/__mem\"},\n"
        " \"guard\": {\"high_bytes\": 1200000000}}\n";
    static const char contract[] =
        "{\"listen\": \"127.0.0.1:8080\", \"upstream\": \"http://127.0.0.1:3000\",\n"
        " \"fallback\": {\"header\": \"X-SSR-Off: 1\"},\n"
        " \"routes\": [{\"name\": \"home\", \"match\": \"/\"}, {\"name\": \"detail\", \"match\": \"/d/:id\"}],\n"
        " \"memory\": {\"source\": \"cgroup\", \"path\": \"/sys/fs/cgroup\"},\n"
        " \"event_log\": \"-\",\n"
        " \"guard\": { \"metric\": \"rss\", \"high_fraction\": 0.8, \"min_minutes_to_oom\": 30,\n"
        "   \"action\": [\"detail\"], \"hold_seconds\": 300, \"max_switches_per_hour\": 6,\n"
        "   \"restore\": \"on_recovery\", \"dry_run\": true, \"webhook\": \"http://127.0.0.1:9093/hook\",\n"
        "   \"webhook_format\": \"alertmanager\"}}\n";
    struct config_err err;
    struct config *c = config_parse(text, sizeof text - 1, "g.json", &err);
    if (c == NULL)
        fail_msg("%s: %s", err.path, err.text);
    assert_true(c->guard.enabled);
    assert_int_equal(c->guard.metric, 0);                  /* heap_used */
    assert_int_equal(c->guard.low_bytes, 900000000);       /* 75 % of high */
    assert_int_equal(c->guard.action, GUARD_LEAKING);
    assert_int_equal(c->guard.hold_seconds, 300);
    assert_int_equal(c->guard.max_switches_per_hour, 6);
    assert_false(c->guard.restore_on_recovery);
    assert_false(c->guard.dry_run);
    assert_null(c->guard.webhook);
    assert_null(c->event_log);
    config_free(c);

    c = config_parse(contract, sizeof contract - 1, "g.json", &err);
    if (c == NULL)
        fail_msg("%s: %s", err.path, err.text);
    assert_int_equal(c->guard.metric, 1);                  /* rss */
    assert_true(c->guard.high_fraction > 0.79 && c->guard.high_fraction < 0.81);
    assert_true(c->guard.low_fraction > 0.59 && c->guard.low_fraction < 0.61);
    assert_int_equal(c->guard.min_minutes_to_oom, 30);
    assert_int_equal(c->guard.action, GUARD_LIST);
    assert_false(c->guard.listed[route_find(c->routes, "home")]);
    assert_true(c->guard.listed[route_find(c->routes, "detail")]);
    assert_true(c->guard.restore_on_recovery);
    assert_true(c->guard.dry_run);
    assert_true(c->guard.webhook_alertmanager);
    assert_string_equal(c->guard.webhook, "http://127.0.0.1:9093/hook");
    assert_string_equal(c->event_log, "-");
    config_free(c);
}

static void test_public_admin_with_token(void **state)
{
    (void)state;
    const char *s = "{\"listen\": \"127.0.0.1:1\", \"upstream\": \"http://127.0.0.1:2\","
                    " \"admin\": \"0.0.0.0:0\", \"admin_token\": \"0123456789abcdef\"}";
    struct config_err err;
    struct config *c = config_parse(s, strlen(s), "inline", &err);
    assert_non_null(c);
    config_free(c);
    const char *s2 = "{\"listen\": \"127.0.0.1:1\", \"upstream\": \"http://127.0.0.1:2\","
                     " \"admin_token\": \"short\"}";
    assert_null(config_parse(s2, strlen(s2), "inline", &err));
    assert_string_equal(err.path, "admin_token");
}

static void test_missing_file(void **state)
{
    (void)state;
    struct config_err err;
    char buf[512];
    assert_null(config_load("tests/config/does-not-exist.json", &err));
    config_err_format("x.json", &err, buf, sizeof buf);
    assert_string_equal(buf, "x.json: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_configs_name_key_and_line),
        cmocka_unit_test(test_full_example_and_defaults),
        cmocka_unit_test(test_guard_defaults),
        cmocka_unit_test(test_public_admin_with_token),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
