/* test_admin.c -- the admin token check: right answers, and time that does
 * not depend on where a wrong token differs; the Host check that keeps a
 * DNS-rebinding page away from a token-less loopback admin
 * (docs/hardening.md, "Admin security"); and the JSON body of every admin
 * answer, which must refuse what it cannot encode rather than send nothing. */
#include "cm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "admin.h"

static void test_token_ok_accepts_only_the_exact_token(void **state)
{
    (void)state;
    const char *tok = "s3cret-token-0123456789";
    size_t n = strlen(tok);
    assert_int_equal(admin_token_ok(tok, tok, n), 1);
    assert_int_equal(admin_token_ok(tok, "s3cret-token-012345678X", n), 0);   /* last byte */
    assert_int_equal(admin_token_ok(tok, "X3cret-token-0123456789", n), 0);   /* first byte */
    assert_int_equal(admin_token_ok(tok, tok, n - 1), 0);                     /* a prefix */
    assert_int_equal(admin_token_ok(tok, "s3cret-token-0123456789x", n + 1), 0); /* + suffix */
    assert_int_equal(admin_token_ok(tok, "", 0), 0);
    /* <given> is counted, not NUL-terminated: bytes after glen do not count */
    assert_int_equal(admin_token_ok(tok, "s3cret-token-0123456789+junk", n), 1);
    /* an embedded NUL is a difference, not an end */
    char with_nul[64];
    memcpy(with_nul, tok, n);
    with_nul[5] = '\0';
    assert_int_equal(admin_token_ok(tok, with_nul, n), 0);
}

static volatile int sink;

/* Median ns of <reps> calls of admin_token_ok(tok, given, n). */
static double median_ns(const char *tok, const char *given, size_t n, int reps)
{
    double t[15];
    for (int k = 0; k < 15; k++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < reps; i++)
            sink += admin_token_ok(tok, given, n);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[k] = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    }
    for (int i = 1; i < 15; i++)                  /* insertion sort */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j]; t[j] = t[j - 1]; t[j - 1] = x;
        }
    return t[7] / reps;
}

/* With a 256 KiB token, a comparison that stops at the first difference
 * (memcmp, strcmp) answers a wrong first byte thousands of times faster than
 * a wrong last byte (a factor of about a thousand). The check must not: the
 * bound is 10x, far below what an early exit gives and far above what a
 * busy shared machine adds to the best of 5 rounds. */
static void test_token_ok_time_does_not_depend_on_where_it_differs(void **state)
{
    (void)state;
    enum { N = 256 * 1024 };
    char *tok = malloc(N + 1), *first = malloc(N), *last = malloc(N), *mid = malloc(N);
    assert_non_null(tok);
    memset(tok, 'a', N);
    tok[N] = '\0';
    memcpy(first, tok, N);
    memcpy(last, tok, N);
    memcpy(mid, tok, N);
    first[0] = 'b';
    last[N - 1] = 'b';
    mid[N / 2] = 'b';
    /* the ratio of the slowest to the fastest case, the best of 5 rounds
     * (a round disturbed by other processes only makes it larger) */
    double best_ns = 1e300, ratio = 1e300;
    for (int round = 0; round < 5; round++) {
        double t[3] = { median_ns(tok, first, N, 20), median_ns(tok, mid, N, 20), median_ns(tok, last, N, 20) };
        double lo = t[0], hi = t[0];
        for (int i = 1; i < 3; i++) {
            lo = t[i] < lo ? t[i] : lo;
            hi = t[i] > hi ? t[i] : hi;
        }
        ratio = hi / lo < ratio ? hi / lo : ratio;
        best_ns = lo < best_ns ? lo : best_ns;
    }
    print_message("admin_token_ok on 256 KiB: %.0f ns; slowest / fastest of first, middle, last byte wrong: %.2f\n",
                  best_ns, ratio);
    assert_true(ratio < 10.0);
    free(tok);
    free(first);
    free(last);
    free(mid);
}

/* Every loopback spelling a browser on this machine sends, with and without
 * a port. */
static void test_host_is_loopback_accepts_loopback_hosts(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "localhost", "localhost:8081", "LocalHost:1", "127.0.0.1", "127.0.0.1:8081",
        "127.1.2.3:65535", "127.255.255.255", "[::1]", "[::1]:8081",
        "[0:0:0:0:0:0:0:1]:80",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        print_message("  loopback: %s\n", ok[i]);
        assert_int_equal(admin_host_is_loopback(ok[i]), 1);
    }
}

/* Names a rebinding page can carry (they resolve to 127.0.0.1 through
 * wildcard DNS but are not loopback names), and malformed values. A prefix
 * match on "127." or "localhost" accepts the first three. */
static void test_host_is_loopback_refuses_hostile_hosts(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "127.0.0.1.nip.io", "127.0.0.1.nip.io:8081", "127.evil.com", "127.evil.com:80",
        "localhost.evil.com", "localhost.evil.com:8081", "localhostx", "localhost.",
        "[::1]x", "[::1]:80x", "[::1", "[::1]:", "[::2]", "[127.0.0.1]", "::1", "[::ffff:10.0.0.1]",
        "127.0.0.1:80:80", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536", "127.0.0.1:-1",
        "127.0.0.1:+80", "127.0.0.1 ", " 127.0.0.1", "127.0.0.1\t", "127.1", "127.0.0.01",
        "0x7f.0.0.1", "128.0.0.1", "10.0.0.1", "0.0.0.0", "evil.example", "evil.example:8081",
        "", ":8081", "127.0.0.1%2e", "127.0.0.1:99999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        print_message("  not loopback: '%s'\n", bad[i]);
        assert_int_equal(admin_host_is_loopback(bad[i]), 0);
    }
    char longhost[600];
    memset(longhost, '1', sizeof longhost - 1);
    memcpy(longhost, "127.0.0.1:", 10);
    longhost[sizeof longhost - 1] = '\0';
    assert_int_equal(admin_host_is_loopback(longhost), 0);
}

/* A failed json_pack (NULL) and a string that is not UTF-8 (jansson's
 * _nocheck setters let one in) are errors, so reply_json answers 500; they
 * used to give an empty body with the original status. */
static void test_json_body_refuses_what_cannot_be_encoded(void **state)
{
    (void)state;
    struct evbuffer *b = evbuffer_new();
    json_t *ok = json_pack("{s:s,s:i}", "last_error", "caf\xc3\xa9", "n", 3);
    assert_int_equal(admin_json_body(b, ok), 0);
    size_t n = evbuffer_get_length(b);
    char text[64] = "";
    evbuffer_copyout(b, text, n < sizeof text - 1 ? n : sizeof text - 1);
    assert_string_equal(text, "{\"last_error\":\"caf\xc3\xa9\",\"n\":3}\n");
    json_decref(ok);

    evbuffer_drain(b, evbuffer_get_length(b));
    assert_int_equal(admin_json_body(b, NULL), -1);
    /* what json_pack does with half a character: NULL */
    assert_null(json_pack("{s:s}", "last_error", "cut \xc3"));
    json_t *bad = json_object();
    json_object_set_new(bad, "last_error", json_string_nocheck("cut \xc3"));
    assert_int_equal(admin_json_body(b, bad), -1);
    json_decref(bad);
    evbuffer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_body_refuses_what_cannot_be_encoded),
        cmocka_unit_test(test_token_ok_accepts_only_the_exact_token),
        cmocka_unit_test(test_token_ok_time_does_not_depend_on_where_it_differs),
        cmocka_unit_test(test_host_is_loopback_accepts_loopback_hosts),
        cmocka_unit_test(test_host_is_loopback_refuses_hostile_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
