/* fuzz.h -- shared by the libFuzzer targets in tests/fuzz/.
 *
 * FUZZ_CHECK states an invariant of the code under test (an output offset
 * inside the input, a count within its bound, ...). A broken invariant
 * aborts, which libFuzzer and regress.c both report as a crash, with the
 * condition printed first. fuzz_dup copies a range into a buffer of exactly
 * that size, so ASan catches any read past the range the parser was given
 * (libFuzzer's own buffer may be longer than the part handed on). */
#ifndef LEAKPROXY_FUZZ_H
#define LEAKPROXY_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

static inline char *fuzz_dup(const void *p, size_t n)
{
    char *d = malloc(n ? n : 1);
    if (d == NULL)
        abort();
    if (n)
        memcpy(d, p, n);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif
