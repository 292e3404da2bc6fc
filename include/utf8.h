/* utf8.h -- text from other processes into fixed-size buffers, as valid UTF-8.
 *
 * Text that leakproxy did not write (a memory endpoint's answer quoted in an
 * error message, a header value captured from a request) is copied into
 * fixed-size buffers and served later as JSON. jansson refuses a string that
 * is not valid UTF-8, so one such string would break the whole answer.
 * snprintf cuts at a byte count, possibly inside a character, and the input
 * may not be UTF-8 at all. These functions cut only at character boundaries
 * and replace every byte that is not part of a valid sequence (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF) and every NUL by
 * '?', one byte for one byte. What they write always encodes. */
#ifndef LEAKPROXY_UTF8_H
#define LEAKPROXY_UTF8_H
#include <stdarg.h>
#include <stddef.h>

/* Copies <srclen> bytes of <src> (NULs included) into <dst> of <dstlen>
 * bytes, NUL-terminated; stops before a character that does not fit.
 * Returns the length written. <dstlen> 0: nothing is written. */
size_t utf8_copy(char *dst, size_t dstlen, const char *src, size_t srclen);

/* snprintf into <dst>, then as utf8_copy: a cut never splits a character.
 * Returns the length written. */
size_t utf8_format(char *dst, size_t dstlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t utf8_vformat(char *dst, size_t dstlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* 1 if the <n> bytes at <s> are valid UTF-8 without NUL, else 0. */
int utf8_valid(const char *s, size_t n);
#endif
