/* fuzz_http1_request.c -- http1_head_end() then http1_parse_request() on
 * arbitrary bytes, as the proxy calls them on a client's input.
 *
 * The input is the raw request. It is parsed twice, with the default limits
 * and with tight ones (so the 414/431 paths are reached by small inputs),
 * and the head end is also searched byte by byte, which must find the same
 * head, or fail too (the proxy sees a trickling client that way). Every
 * offset the parser returns must lie inside the head, and an accepted Host
 * (header or absolute-form authority) holds only uri-host [":" port] bytes. */
#include "fuzz.h"
#include "http1.h"

#define NHDR 100

/* The bytes RFC 9110's Host grammar can hold (a superset: order unchecked). */
static void check_host_bytes(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c != '\0' && strchr("-._~!$&'()*+,;=:%[]", c) != NULL));
    }
}

static void check_head(const char *buf, size_t len, const struct http1_limits *lim,
                       const struct http1_head *h)
{
    FUZZ_CHECK(h->head_len == len);
    FUZZ_CHECK(h->nhdr <= lim->max_headers);
    FUZZ_CHECK((uint64_t)h->method + h->method_len <= len);
    FUZZ_CHECK((uint64_t)h->target + h->target_len <= len);
    FUZZ_CHECK(h->path_len <= h->target_len);
    FUZZ_CHECK((uint64_t)h->host + h->host_len <= len);
    FUZZ_CHECK(h->minor == 0 || h->minor == 1);
    FUZZ_CHECK(h->content_length >= -1);
    FUZZ_CHECK(!((h->flags & HTTP1_CHUNKED) && (h->flags & HTTP1_HAS_CL)));
    unsigned sum = 0;
    for (size_t i = 0; i < h->method_len; i++)
        sum += (unsigned char)buf[h->method + i];
    for (size_t i = 0; i < h->target_len; i++)
        sum += (unsigned char)buf[h->target + i];
    for (unsigned i = 0; i < h->nhdr; i++) {
        const struct http1_hdr *x = &h->hdr[i];
        FUZZ_CHECK(x->name_len > 0);
        FUZZ_CHECK((uint64_t)x->name + x->name_len <= len);
        FUZZ_CHECK((uint64_t)x->value + x->value_len <= len);
        sum += (unsigned char)buf[x->name] + (unsigned char)buf[x->name + x->name_len - 1];
        if (x->value_len)
            sum += (unsigned char)buf[x->value + x->value_len - 1];
        (void)http1_conn_names(buf, h, i);
        (void)http1_name_is(buf + x->name, x->name_len, "content-length");
        if (h->hdr_kind[i] & HTTP1_HDR_HOST)
            check_host_bytes(buf + x->value, x->value_len);
    }
    if (h->flags & HTTP1_ABSOLUTE)
        check_host_bytes(buf + h->host, h->host_len);
    (void)sum;
}

static void one(const char *data, size_t size, const struct http1_limits *lim)
{
    static struct http1_hdr hdr[NHDR];
    static uint8_t kind[NHDR];
    size_t scan = 0;
    long n = http1_head_end(data, size, &scan, lim->max_request_line, lim->max_header_bytes);
    FUZZ_CHECK(n <= (long)size);
    FUZZ_CHECK(n >= 0 || n == -400 || n == -414 || n == -431);

    /* the same search, one byte at a time, resuming from <scan2> */
    if (size <= 4096) {
        size_t scan2 = 0;
        long m = 0;
        for (size_t i = 1; i <= size; i++) {
            m = http1_head_end(data, i, &scan2, lim->max_request_line, lim->max_header_bytes);
            if (m != 0)
                break;
        }
        /* the same head, or an error both ways: which error may differ
         * (a NUL seen before the line grew too long is a 400 byte by
         * byte, a 414 at once; both close the connection) */
        if (n > 0 ? m != n : n < 0 ? m >= 0 : m != 0) {
            fprintf(stderr, "one-shot head_end %ld, byte by byte %ld\n", n, m);
            FUZZ_CHECK(0);
        }
    }
    if (n <= 0)
        return;
    char *head = fuzz_dup(data, (size_t)n);
    struct http1_head h;
    memset(&h, 0, sizeof h);
    h.hdr = hdr;
    h.hdr_kind = kind;
    int rc = http1_parse_request(head, (size_t)n, lim, &h);
    FUZZ_CHECK(rc == 0 || rc == -400 || rc == -414 || rc == -431 || rc == -501 || rc == -505);
    if (rc == 0)
        check_head(head, (size_t)n, lim, &h);
    free(head);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct http1_limits dflt = { 65536, 8192, 100 };
    static const struct http1_limits tight = { 256, 64, 4 };
    one((const char *)data, size, &dflt);
    one((const char *)data, size, &tight);
    return 0;
}
