/* test_utf8.c -- cutting and cleaning text at UTF-8 boundaries (utf8.h):
 * every result is valid UTF-8 (what jansson accepts), a cut never splits a
 * character, invalid bytes become '?' one for one. */
#include "cm.h"

#include <jansson.h>
#include <string.h>

#include "utf8.h"

static void test_copy_keeps_valid_text(void **state)
{
    (void)state;
    char b[32];
    const char *s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_int_equal(utf8_copy(b, sizeof b, s, strlen(s)), strlen(s));
    assert_string_equal(b, s);
    assert_int_equal(utf8_copy(b, sizeof b, "", 0), 0);
    assert_string_equal(b, "");
    assert_int_equal(utf8_copy(b, 0, "abc", 3), 0);   /* no room: nothing written */
}

/* A buffer that ends inside a character: the character is left out whole. */
static void test_copy_never_cuts_inside_a_character(void **state)
{
    (void)state;
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";   /* a é € 😀: 1+2+3+4 bytes */
    size_t n = strlen(s);
    const size_t want[] = { 0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10 };   /* by room */
    for (size_t room = 0; room <= n; room++) {
        char b[16];
        size_t got = utf8_copy(b, room + 1, s, n);
        assert_int_equal(got, want[room]);
        assert_int_equal(strlen(b), got);
        assert_memory_equal(b, s, got);
        assert_true(utf8_valid(b, got));
    }
}

static void test_copy_replaces_invalid_bytes(void **state)
{
    (void)state;
    char b[64];
    const struct { const char *in; size_t n; const char *out; } cases[] = {
        { "a\xff" "b", 3, "a?b" },                    /* never valid */
        { "\x80x", 2, "?x" },                         /* lone continuation */
        { "\xc3x", 2, "?x" },                         /* lead without its continuation */
        { "\xc0\xaf", 2, "??" },                      /* overlong '/' */
        { "\xe0\x80\xaf", 3, "???" },                 /* overlong, 3 bytes */
        { "\xed\xa0\x80", 3, "???" },                 /* surrogate U+D800 */
        { "\xf4\x90\x80\x80", 4, "????" },            /* above U+10FFFF */
        { "a\0b", 3, "a?b" },                         /* NUL inside */
        { "ok\xc3", 3, "ok?" },                       /* cut by the end of the input */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t got = utf8_copy(b, sizeof b, cases[i].in, cases[i].n);
        if (strcmp(b, cases[i].out) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, b, cases[i].out);
        assert_int_equal(got, strlen(cases[i].out));
    }
}

static void test_format_cut_is_valid_json_string(void **state)
{
    (void)state;
    /* the bug: an error message quoting upstream text, cut by snprintf at
     * every possible offset; jansson must accept each result */
    char big[200];
    for (size_t k = 0; k < 4; k++) {
        memset(big, 'x', k);
        big[k] = '\0';
        for (int i = 0; i < 40; i++)
            strcat(big, "\xc3\xa9");
        for (size_t len = 1; len < 60; len++) {
            char b[64];
            size_t got = utf8_format(b, len, "key \"%.40s\": %s", big, "neither rss nor heapUsed");
            assert_true(got < len);
            assert_true(utf8_valid(b, got));
            json_t *j = json_string(b);
            assert_non_null(j);
            json_decref(j);
        }
    }
    char b[16];
    assert_int_equal(utf8_format(b, sizeof b, "%d-%s", 42, "\xff"), 4);
    assert_string_equal(b, "42-?");
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid("h\xc3\xa9", 3));
    assert_false(utf8_valid("h\xc3", 2));
    assert_false(utf8_valid("a\0", 2));
    assert_false(utf8_valid("\xed\xbf\xbf", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_keeps_valid_text),
        cmocka_unit_test(test_copy_never_cuts_inside_a_character),
        cmocka_unit_test(test_copy_replaces_invalid_bytes),
        cmocka_unit_test(test_format_cut_is_valid_json_string),
        cmocka_unit_test(test_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
