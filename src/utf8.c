/* utf8.c -- cut and clean text at UTF-8 character boundaries. See utf8.h.
 *
 * One decoder, seq_len(), says how long the valid sequence at a position is
 * (0: the byte starts none). Everything else is a walk with it: valid
 * sequences are kept whole or not at all, any other byte becomes '?'. The
 * output is never longer than the input, so the walk can run in place. */
#include "utf8.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at <s> (<n> bytes available), or 0 if
 * <s> does not start one, or if it is cut by the end (<*cut> then set). */
static size_t seq_len(const unsigned char *s, size_t n, int *cut)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;   /* range of the second byte */

    *cut = 0;
    if (c >= 0x01 && c <= 0x7f)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;                    /* no overlong forms */
        else if (c == 0xed)
            hi = 0x9f;                    /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;                    /* nothing above U+10FFFF */
    } else
        return 0;                         /* NUL, continuation, c0, c1, f5..ff */
    for (size_t i = 1; i < len; i++) {
        if (i >= n) {
            *cut = 1;
            return 0;
        }
        unsigned char b = s[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf))
            return 0;
    }
    return len;
}

/* Rewrites the <n> bytes at <src> into <dst> (which may be <src>) of room
 * <room> bytes plus a NUL. <truncated>: more text followed the <n> bytes, so a
 * sequence cut by the end is dropped, not replaced. Returns the length. */
static size_t clean(char *dst, size_t room, const char *src, size_t n, int truncated)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, o = 0;

    while (i < n) {
        int cut;
        size_t l = seq_len(s + i, n - i, &cut);
        if (l == 0 && cut && truncated)
            break;
        if (l == 0) {
            if (o + 1 > room)
                break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + l > room)
            break;
        memmove(dst + o, s + i, l);
        o += l;
        i += l;
    }
    dst[o] = '\0';
    return o;
}

size_t utf8_copy(char *dst, size_t dstlen, const char *src, size_t srclen)
{
    if (dstlen == 0)
        return 0;
    size_t room = dstlen - 1;
    return clean(dst, room, src, srclen, 0);
}

size_t utf8_vformat(char *dst, size_t dstlen, const char *fmt, va_list ap)
{
    if (dstlen == 0)
        return 0;
    int r = vsnprintf(dst, dstlen, fmt, ap);
    if (r < 0) {
        dst[0] = '\0';
        return 0;
    }
    size_t n = (size_t)r < dstlen ? (size_t)r : dstlen - 1;
    return clean(dst, dstlen - 1, dst, n, (size_t)r >= dstlen);
}

size_t utf8_format(char *dst, size_t dstlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = utf8_vformat(dst, dstlen, fmt, ap);
    va_end(ap);
    return n;
}

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int cut;
        size_t l = seq_len(u + i, n - i, &cut);
        if (l == 0)
            return 0;
        i += l;
    }
    return 1;
}
