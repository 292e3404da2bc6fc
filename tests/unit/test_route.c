/* test_route.c -- route matching: precedence, parameters, wildcards,
 * _other, odd paths, and the errors a config author sees. */
#include "cm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_err.h"
#include "route.h"

static struct route_table *mk(const char *const *names, const char *const *pats, unsigned n)
{
    struct config_err err;
    memset(&err, 0, sizeof err);
    struct route_table *t = route_table_new(names, pats, n, &err);
    if (t == NULL)
        fail_msg("route_table_new: %s: %s", err.path, err.text);
    return t;
}

static const char *m(const struct route_table *t, const char *path)
{
    return route_name(t, route_match(t, path, strlen(path)));
}

static void test_precedence_is_independent_of_order(void **state)
{
    (void)state;
    /* the same routes in two orders must match the same way */
    const char *n1[] = { "wild", "param", "exact", "deep", "root", "user_posts", "static" };
    const char *p1[] = { "/detail/*", "/detail/:id", "/detail/new", "/detail/:id/edit", "/",
                         "/u/:user/posts/:post", "/static/*" };
    const char *n2[] = { "static", "user_posts", "root", "deep", "exact", "param", "wild" };
    const char *p2[] = { "/static/*", "/u/:user/posts/:post", "/", "/detail/:id/edit", "/detail/new",
                         "/detail/:id", "/detail/*" };
    struct route_table *a = mk(n1, p1, 7), *b = mk(n2, p2, 7);
    const char *cases[][2] = {
        { "/detail/new", "exact" }, { "/detail/42", "param" }, { "/detail/42/edit", "deep" },
        { "/detail/42/other", "wild" }, { "/detail", "wild" }, { "/detail/", "wild" },
        { "/", "root" }, { "/u/ann/posts/7", "user_posts" }, { "/u/ann/posts", "_other" },
        { "/static/js/app.js", "static" }, { "/static", "static" }, { "/nope", "_other" },
        { "/detail/new/edit", "deep" },  /* literal "new" has no /edit: backtrack to :id */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal(m(a, cases[i][0]), cases[i][1]);
        assert_string_equal(m(b, cases[i][0]), cases[i][1]);
    }
    route_table_free(a);
    route_table_free(b);
}

static void test_query_trailing_slash_and_odd_paths(void **state)
{
    (void)state;
    const char *n[] = { "about", "detail" };
    const char *p[] = { "/about", "/detail/:id" };
    struct route_table *t = mk(n, p, 2);
    /* the proxy passes the path without the query; trailing slash ignored once */
    assert_string_equal(m(t, "/about/"), "about");
    assert_string_equal(m(t, "/about//"), "_other");
    assert_string_equal(m(t, "//about"), "_other");
    assert_string_equal(m(t, "/detail//"), "_other");     /* empty parameter */
    assert_string_equal(m(t, "/detail/a%2Fb"), "detail"); /* %2F is not a slash */
    assert_string_equal(m(t, "/detail/a/b"), "_other");
    assert_string_equal(m(t, "/ABOUT"), "_other");        /* case-sensitive */
    assert_string_equal(m(t, ""), "_other");
    assert_string_equal(m(t, "*"), "_other");
    assert_string_equal(m(t, "/"), "_other");             /* no root route */
    /* a very long path costs nothing special and matches nothing */
    size_t len = 100000;
    char *big = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        big[i] = i % 7 == 0 ? '/' : 'a';
    big[len] = '\0';
    assert_string_equal(m(t, big), "_other");
    memcpy(big, "/detail/", 8);
    assert_string_equal(m(t, big), "_other");
    free(big);
    route_table_free(t);
}

static void test_root_wildcard_is_a_catch_all(void **state)
{
    (void)state;
    const char *n[] = { "all", "home" };
    const char *p[] = { "/*", "/" };
    struct route_table *t = mk(n, p, 2);
    assert_string_equal(m(t, "/"), "home");
    assert_string_equal(m(t, "/anything/at/all"), "all");
    route_table_free(t);
}

static void test_ids_names_and_lookup(void **state)
{
    (void)state;
    const char *n[] = { "a", "b" };
    const char *p[] = { "/a", "/b/:x" };
    struct route_table *t = mk(n, p, 2);
    assert_int_equal(route_count(t), 3);
    assert_string_equal(route_name(t, ROUTE_OTHER), "_other");
    assert_string_equal(route_pattern(t, 2), "/b/:x");
    assert_int_equal(route_find(t, "b"), 2);
    assert_int_equal(route_find(t, "zz"), -1);
    route_table_free(t);
    route_table_free(NULL);
}

static void expect_error(const char *name, const char *pat, const char *path, const char *text)
{
    struct config_err err;
    const char *n[] = { "ok", name };
    const char *p[] = { "/ok/:id", pat };
    memset(&err, 0, sizeof err);
    struct route_table *t = route_table_new(n, p, 2, &err);
    assert_null(t);
    assert_string_equal(err.path, path);
    if (strstr(err.text, text) == NULL)
        fail_msg("error text '%s' lacks '%s'", err.text, text);
}

static void test_bad_patterns_name_the_key(void **state)
{
    (void)state;
    expect_error("x", "about", "routes[1].match", "must start with '/'");
    expect_error("x", "/a//b", "routes[1].match", "empty segment");
    expect_error("x", "/a/*/b", "routes[1].match", "'*' must be the whole last segment");
    expect_error("x", "/a/b*", "routes[1].match", "not allowed");
    expect_error("x", "/a/:", "routes[1].match", "needs a name");
    expect_error("x", "/a/:i-d", "routes[1].match", "parameter name");
    expect_error("x", "/a/x:y", "routes[1].match", "':' starts a parameter");
    expect_error("x", "/a?b", "routes[1].match", "not allowed");
    expect_error("x", "/ok/:other", "routes[1].match", "same paths as route 'ok'");
    expect_error("ok", "/z", "routes[1].name", "duplicate route name");
    expect_error("_other", "/z", "routes[1].name", "reserved");
    expect_error("a b", "/z", "routes[1].name", "only letters");
    expect_error("", "/z", "routes[1].name", "1 to 64");
}

static void test_ten_thousand_routes(void **state)
{
    (void)state;
    enum { N = 10000 };
    char **names = malloc(N * sizeof *names), **pats = malloc(N * sizeof *pats);
    for (int i = 0; i < N; i++) {
        names[i] = malloc(32);
        pats[i] = malloc(64);
        snprintf(names[i], 32, "r%d", i);
        if (i % 3 == 0)
            snprintf(pats[i], 64, "/p%d/:id", i);
        else if (i % 3 == 1)
            snprintf(pats[i], 64, "/s%d/*", i);
        else
            snprintf(pats[i], 64, "/e/%d/x", i);
    }
    struct route_table *t = mk((const char *const *)names, (const char *const *)pats, N);
    assert_string_equal(m(t, "/p9999/abc"), "r9999");
    assert_string_equal(m(t, "/s9997/a/b/c"), "r9997");
    assert_string_equal(m(t, "/e/9998/x"), "r9998");
    assert_string_equal(m(t, "/e/9998/y"), "_other");
    for (int i = 0; i < N; i++) {
        free(names[i]);
        free(pats[i]);
    }
    free(names);
    free(pats);
    route_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence_is_independent_of_order),
        cmocka_unit_test(test_query_trailing_slash_and_odd_paths),
        cmocka_unit_test(test_root_wildcard_is_a_catch_all),
        cmocka_unit_test(test_ids_names_and_lookup),
        cmocka_unit_test(test_bad_patterns_name_the_key),
        cmocka_unit_test(test_ten_thousand_routes),
    };
    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
