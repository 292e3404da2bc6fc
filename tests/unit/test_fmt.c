/* test_fmt.c -- the byte formatter every message uses (fmt.h): the unit
 * changes at 1 KiB, 1 MiB and 1 GiB, a negative figure keeps its sign and
 * its unit, and a small buffer is cut, never overrun. */
#include "cm.h"

#include <string.h>

#include "fmt.h"

static void test_units_change_at_powers_of_1024(void **state)
{
    (void)state;
    char b[FMT_BYTES_MAX];
    assert_string_equal(fmt_bytes(b, sizeof b, 0), "0 B");
    assert_string_equal(fmt_bytes(b, sizeof b, 1023), "1023 B");
    assert_string_equal(fmt_bytes(b, sizeof b, 1024), "1.0 KB");
    assert_string_equal(fmt_bytes(b, sizeof b, 10137.6), "9.9 KB");
    assert_string_equal(fmt_bytes(b, sizeof b, 1048576), "1.0 MB");
    assert_string_equal(fmt_bytes(b, sizeof b, 196410573), "187.3 MB");
    assert_string_equal(fmt_bytes(b, sizeof b, 1073741824.0 * 1.25), "1.25 GB");
}

static void test_negative_keeps_sign_and_unit(void **state)
{
    (void)state;
    char b[FMT_BYTES_MAX];
    assert_string_equal(fmt_bytes(b, sizeof b, -23552), "-23.0 KB");
    assert_string_equal(fmt_bytes(b, sizeof b, -512), "-512 B");
    assert_string_equal(fmt_bytes(b, sizeof b, -3.0 * 1048576), "-3.0 MB");
}

static void test_small_buffer_is_cut(void **state)
{
    (void)state;
    char b[8];
    memset(b, 'x', sizeof b);
    fmt_bytes(b, 4, 196410573);
    assert_string_equal(b, "187");
    assert_int_equal(b[5], 'x');
    fmt_bytes(b, sizeof b, 1e300);   /* a figure wider than the buffer: cut, NUL-terminated */
    assert_true(strlen(b) < sizeof b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units_change_at_powers_of_1024),
        cmocka_unit_test(test_negative_keeps_sign_and_unit),
        cmocka_unit_test(test_small_buffer_is_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
