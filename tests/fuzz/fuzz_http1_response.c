/* fuzz_http1_response.c -- http1_head_end() then http1_parse_response() on
 * arbitrary bytes, as the proxy calls them on an upstream's response
 * (max_line = max_head). Default and tight limits; every offset the parser
 * returns must lie inside the head; anything invalid is -502. */
#include "fuzz.h"
#include "http1.h"

#define NHDR 100

static void one(const char *data, size_t size, const struct http1_limits *lim)
{
    static struct http1_hdr hdr[NHDR];
    static uint8_t kind[NHDR];
    size_t scan = 0;
    long n = http1_head_end(data, size, &scan, lim->max_header_bytes, lim->max_header_bytes);
    FUZZ_CHECK(n <= (long)size);
    if (n <= 0)
        return;
    char *head = fuzz_dup(data, (size_t)n);
    struct http1_head h;
    memset(&h, 0, sizeof h);
    h.hdr = hdr;
    h.hdr_kind = kind;
    int rc = http1_parse_response(head, (size_t)n, lim, &h);
    FUZZ_CHECK(rc == 0 || rc == -502);
    if (rc == 0) {
        FUZZ_CHECK(h.status >= 100 && h.status <= 599);
        FUZZ_CHECK(h.head_len == (uint32_t)n);
        FUZZ_CHECK(h.nhdr <= lim->max_headers);
        FUZZ_CHECK((uint64_t)h.reason + h.reason_len <= (uint64_t)n);
        FUZZ_CHECK(h.content_length >= -1);
        FUZZ_CHECK(!((h.flags & HTTP1_CHUNKED) && (h.flags & HTTP1_HAS_CL)));
        unsigned sum = 0;
        for (size_t i = 0; i < h.reason_len; i++)
            sum += (unsigned char)head[h.reason + i];
        for (unsigned i = 0; i < h.nhdr; i++) {
            const struct http1_hdr *x = &h.hdr[i];
            FUZZ_CHECK((uint64_t)x->name + x->name_len <= (uint64_t)n);
            FUZZ_CHECK((uint64_t)x->value + x->value_len <= (uint64_t)n);
            if (x->name_len)
                sum += (unsigned char)head[x->name + x->name_len - 1];
            if (x->value_len)
                sum += (unsigned char)head[x->value + x->value_len - 1];
            (void)http1_conn_names(head, &h, i);
        }
        (void)sum;
    }
    free(head);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct http1_limits dflt = { 65536, 65536, 100 };
    static const struct http1_limits tight = { 256, 256, 4 };
    one((const char *)data, size, &dflt);
    one((const char *)data, size, &tight);
    return 0;
}
