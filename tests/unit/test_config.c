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

/* ---- conf/README.md documents every key, and only keys ------------------ */

#define README "conf/README.md"
#define DOC_MAX 256

struct doc {
    char *text;
    char *keys[DOC_MAX];              /* rows of the key tables, as paths */
    size_t nkeys;
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;

    if (f == NULL)
        fail_msg("%s: cannot open (the unit tests run from the repository root)", path);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* The first `quoted` word of <line> into <out> ("" if none). */
static void first_code(const char *line, char *out, size_t len)
{
    size_t n = strcspn(line, "\n");
    const char *a = memchr(line, '`', n);
    const char *b = a ? memchr(a + 1, '`', n - (size_t)(a + 1 - line)) : NULL;
    out[0] = '\0';
    if (a && b && (size_t)(b - a) <= len)
        snprintf(out, len, "%.*s", (int)(b - a - 1), a + 1);
}

/* Collects the rows of every key table: a table whose header is
 * "| key |" (keys of the section's heading) or "| `x` key |" (keys of x
 * within that section). */
static void doc_load(struct doc *d)
{
    char section[64] = "", prefix[128], word[64];
    int in_table = 0;

    memset(d, 0, sizeof *d);
    d->text = slurp(README);
    for (char *line = d->text; line && *line; ) {
        char *nl = strchr(line, '\n');
        const char *t = line;
        while (*t == ' ')
            t++;
        if (strncmp(line, "## ", 3) == 0) {
            first_code(line, section, sizeof section);
            in_table = 0;
        } else if (*t != '|') {
            in_table = 0;
        } else if (strncmp(t, "| key |", 7) == 0) {
            snprintf(prefix, sizeof prefix, "%s", section);
            in_table = 1;
        } else if (strncmp(t, "| `", 3) == 0 && strstr(t, "` key |") != NULL &&
                   strstr(t, "` key |") < (nl ? nl : t + strlen(t))) {
            first_code(t, word, sizeof word);
            snprintf(prefix, sizeof prefix, "%s%s%s", section, section[0] ? "." : "", word);
            in_table = 1;
        } else if (in_table && strncmp(t, "| `", 3) == 0) {
            char path[192];
            first_code(t, word, sizeof word);
            snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", word);
            assert_true(d->nkeys < DOC_MAX);
            d->keys[d->nkeys++] = strdup(path);
        }
        line = nl ? nl + 1 : NULL;
    }
}

static int doc_has_row(const struct doc *d, const char *path)
{
    for (size_t i = 0; i < d->nkeys; i++)
        if (strcmp(d->keys[i], path) == 0)
            return 1;
    return 0;
}

/* 1 if some table documents keys of the object at <parent>. */
static int doc_has_table(const struct doc *d, const char *parent)
{
    size_t n = strlen(parent);
    for (size_t i = 0; i < d->nkeys; i++) {
        const char *k = d->keys[i];
        if (n == 0 ? strchr(k, '.') == NULL
                   : strncmp(k, parent, n) == 0 && k[n] == '.' && !strchr(k + n + 1, '.'))
            return 1;
    }
    return 0;
}

/* The text of the section "## `name` ..." (up to the next "## "), or NULL. */
static char *doc_section(const struct doc *d, const char *name)
{
    char head[96];
    snprintf(head, sizeof head, "\n## `%s`", name);
    const char *s = strstr(d->text, head);
    if (s == NULL)
        return NULL;
    const char *e = strstr(s + 1, "\n## ");
    return strndup(s, e ? (size_t)(e - s) : strlen(s));
}

/* A key of an object without a key table is named in its section's prose,
 * as `leaf` or "leaf". */
static int doc_mentions(const struct doc *d, const char *path)
{
    char top[64], a[80], b[80];
    const char *leaf = strrchr(path, '.');
    leaf = leaf ? leaf + 1 : path;
    snprintf(top, sizeof top, "%.*s", (int)strcspn(path, ".["), path);
    char *sec = doc_section(d, top);
    if (sec == NULL)
        return 0;
    snprintf(a, sizeof a, "`%s`", leaf);
    snprintf(b, sizeof b, "\"%s\"", leaf);
    int found = strstr(sec, a) != NULL || strstr(sec, b) != NULL;
    free(sec);
    return found;
}

static void test_readme_documents_every_key(void **state)
{
    (void)state;
    struct doc d;
    int bad = 0;

    doc_load(&d);
    assert_true(d.nkeys >= 40);
    for (size_t i = 0; i < d.nkeys; i++) {
        unsigned k;
        for (k = 0; k < config_key_count(); k++)
            if (strcmp(config_key_at(k), d.keys[i]) == 0)
                break;
        if (k == config_key_count()) {
            print_error(README ": documents \"%s\", which is not a config key\n", d.keys[i]);
            bad++;
        }
    }
    for (unsigned k = 0; k < config_key_count(); k++) {
        const char *path = config_key_at(k), *dot = strrchr(path, '.');
        char parent[128];
        snprintf(parent, sizeof parent, "%.*s", dot ? (int)(dot - path) : 0, path);
        int ok;
        if (doc_has_table(&d, parent)) {
            /* a top-level section may have its own heading instead of a row */
            char *sec = dot || doc_has_row(&d, path) ? NULL : doc_section(&d, path);
            ok = doc_has_row(&d, path) || sec != NULL;
            free(sec);
        } else {
            ok = doc_mentions(&d, path);
        }
        if (!ok) {
            print_error(README ": does not document the key \"%s\"\n", path);
            bad++;
        }
    }
    for (size_t i = 0; i < d.nkeys; i++)
        free(d.keys[i]);
    free(d.text);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_configs_name_key_and_line),
        cmocka_unit_test(test_full_example_and_defaults),
        cmocka_unit_test(test_guard_defaults),
        cmocka_unit_test(test_public_admin_with_token),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_readme_documents_every_key),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
