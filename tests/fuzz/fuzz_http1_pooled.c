/* fuzz_http1_pooled.c -- the response side of one upstream connection:
 * several responses in a row, as the proxy frames them with http1.c.
 *
 * The pooled-connection logic itself (process_response, pump_response,
 * exchange_finish, upstream_put) is static in proxy.c and runs on a live
 * client and libevent buffers, so it cannot be driven in isolation. This
 * target works at the parser level instead and repeats proxy.c's framing
 * rules (keep them in step): interim 1xx heads are skipped; HEAD, 204 and
 * 304 have no body whatever their Content-Length or Transfer-Encoding say;
 * chunked, then Content-Length, else the body runs to the close; the
 * connection is reusable only for a keep-alive response with a framed body,
 * and only if nothing is left in the buffer after it (upstream_put).
 *
 * Input: byte 0 = number of requests (1 + b0 % 8), byte 1 = which of them
 * are HEAD (bit i), byte 2 seeds how the rest, the upstream's bytes, is cut
 * into reads. The stream is framed three ways: in one read, one byte per
 * read, and in seeded reads of 1 to 64 bytes that also end where each
 * response ends. Invariants:
 *   - the first response frames the same way whatever the reads (outcome,
 *     status, interim count, head and end offsets, body length): a parser fed
 *     one byte at a time cannot look past the framing, so bytes after a
 *     complete response are never consumed into it;
 *   - a bodiless answer ends at its head, a Content-Length body ends at
 *     head + length, and every offset stays inside the stream;
 *   - bytes left in a read after a complete response are reported as extra
 *     (the connection is dropped), never parsed as the next response;
 *   - a later response on the reused connection starts exactly where the
 *     previous one ended, at a read boundary, and frames exactly as the same
 *     bytes would on a fresh connection (no parser state carried over).
 * What it cannot show: a misbehaving upstream's late bytes (a body after a
 * 204, sent in a later read) look like the next response at this level;
 * whether such a connection is pooled is proxy.c's decision (see the
 * "late bytes" cases in tests/integration/t_differential.mjs). */
#include "fuzz.h"
#include "http1.h"

#define NHDR 100
#define MAX_HEAD 65536
#define MAX_RESP 8

enum outcome { R_COMPLETE, R_INCOMPLETE, R_ERROR };

struct resp {
    enum outcome outcome;
    int status, interim;
    size_t start, head_start, head_len, end;   /* offsets in the stream */
    uint64_t body;
    int reusable, extra;             /* extra: bytes left in the read after it */
    int mode;                        /* 0 no body, 1 Content-Length, 2 chunked, 3 to the close */
};

/* Frames responses from <s>[<from>, <len>), delivered in reads ending at
 * <cuts>[0..<ncuts>) (ascending, the last = len). <heads> says which
 * requests were HEAD. Fills <out>, returns how many responses it holds. */
static int frame(const char *s, size_t len, size_t from, const size_t *cuts, int ncuts,
                 unsigned heads, int nreq, struct resp *out)
{
    static struct http1_hdr hdr[NHDR];
    static uint8_t kind[NHDR];
    static const struct http1_limits lim = { MAX_HEAD, MAX_HEAD, NHDR };
    int r = 0, k = 0;
    size_t pos = from;

    while (k < nreq) {
        struct resp *o = &out[k];
        memset(o, 0, sizeof *o);
        o->start = o->head_start = pos;
        o->outcome = R_INCOMPLETE;
        size_t scan = 0;
        int phase = 0, mode = 0;     /* mode: 0 none, 1 CL, 2 chunked, 3 EOF */
        uint64_t left = 0;
        struct http1_chunked ch;
        k++;
        for (; r < ncuts; r++) {
            size_t avail = cuts[r];
            if (avail <= pos && !(phase == 1 && mode == 0))
                continue;
            while (phase == 0) {     /* the head, interim ones skipped */
                char *view = fuzz_dup(s + pos, avail - pos);   /* exact: over-reads show */
                long n = http1_head_end(view, avail - pos, &scan, MAX_HEAD, MAX_HEAD);
                FUZZ_CHECK(n <= (long)(avail - pos));
                if (n == 0) {
                    free(view);
                    break;
                }
                struct http1_head h;
                memset(&h, 0, sizeof h);
                h.hdr = hdr;
                h.hdr_kind = kind;
                if (n < 0 || http1_parse_response(view, (size_t)n, &lim, &h) < 0 || h.status == 101) {
                    free(view);
                    o->outcome = R_ERROR;
                    return k;
                }
                free(view);
                if (h.status < 200) {
                    o->interim++;
                    pos += (size_t)n;
                    o->head_start = pos;
                    scan = 0;
                    continue;
                }
                o->status = h.status;
                o->head_len = (size_t)n;
                pos += (size_t)n;
                int nobody = ((heads >> (k - 1)) & 1) || h.status == 204 || h.status == 304;
                if (nobody)
                    mode = 0;
                else if (h.flags & HTTP1_CHUNKED)
                    mode = 2;
                else if (h.flags & HTTP1_HAS_CL)
                    mode = h.content_length > 0 ? 1 : 0;
                else
                    mode = 3;
                if (mode == 2)
                    http1_chunked_init(&ch);
                left = mode == 1 ? (uint64_t)h.content_length : 0;
                o->reusable = (h.minor == 1 ? !(h.flags & HTTP1_CONN_CLOSE)
                                            : !!(h.flags & HTTP1_CONN_KEEP)) && mode != 3;
                if (nobody)
                    FUZZ_CHECK(mode == 0);
                o->mode = mode;
                phase = 1;
            }
            if (phase == 0)
                continue;
            /* the body, with what this read made available */
            int done = 0;
            if (mode == 0) {
                done = 1;
            } else if (mode == 1) {
                size_t n = avail - pos < left ? avail - pos : (size_t)left;
                pos += n;
                o->body += n;
                left -= n;
                done = left == 0;
            } else if (mode == 3) {
                o->body += avail - pos;
                pos = avail;
                done = avail == len;  /* the close ends it */
            } else {
                while (pos < avail) {
                    size_t used = 0;
                    char *view = fuzz_dup(s + pos, avail - pos);
                    enum http1_chunk_rc rc = http1_chunked_parse(&ch, view, avail - pos, &used, MAX_HEAD);
                    free(view);
                    FUZZ_CHECK(used <= avail - pos);
                    pos += used;
                    if (rc == HTTP1_CHUNK_ERROR) {
                        o->outcome = R_ERROR;
                        o->end = pos;
                        return k;
                    }
                    if (rc == HTTP1_CHUNK_DONE) {
                        done = 1;
                        break;
                    }
                    if (rc == HTTP1_CHUNK_DATA) {
                        size_t n = avail - pos < ch.remaining ? avail - pos : (size_t)ch.remaining;
                        if (n == 0)
                            break;
                        pos += n;
                        o->body += n;
                        http1_chunked_data(&ch, n);
                    }
                }
            }
            if (done) {
                o->outcome = R_COMPLETE;
                o->end = pos;
                FUZZ_CHECK(pos <= avail && avail <= len);
                o->extra = pos < avail;
                break;
            }
        }
        if (o->outcome != R_COMPLETE)
            return k;
        /* upstream_put(): extra bytes in the buffer, or not reusable: the
         * connection is closed, what follows is never parsed */
        if (o->extra || !o->reusable)
            return k;
        /* the next request's response starts with the next read */
        r++;
    }
    return k;
}

static int same_first(const struct resp *a, const struct resp *b)
{
    if (a->outcome != b->outcome)
        return 0;
    if (a->outcome == R_ERROR)
        return 1;                    /* where an error is seen may differ */
    if (a->interim != b->interim || a->head_start != b->head_start)
        return 0;
    if (a->outcome == R_INCOMPLETE)
        return 1;
    return a->status == b->status && a->head_len == b->head_len && a->end == b->end &&
           a->body == b->body;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > 65536)
        return 0;
    int nreq = 1 + data[0] % MAX_RESP;
    unsigned heads = data[1];
    uint32_t seed = data[2] * 2654435761u + 1;
    const char *s = (const char *)data + 3;
    size_t len = size - 3;
    size_t *one = malloc((len ? len : 1) * sizeof *one);
    size_t *cuts = malloc((len + MAX_RESP + 1) * sizeof *cuts);
    struct resp whole[MAX_RESP], bytes[MAX_RESP], split[MAX_RESP], fresh[MAX_RESP];
    int ncuts = 0;
    if (one == NULL || cuts == NULL)
        abort();
    for (size_t i = 0; i < len; i++)
        one[i] = i + 1;
    for (size_t at = 0; at < len;) {
        seed = seed * 1103515245u + 12345u;
        size_t step = 1 + (seed >> 16) % 64;
        at = at + step < len ? at + step : len;
        cuts[ncuts++] = at;
    }
    size_t all = len;
    if (len == 0) {
        free(one);
        free(cuts);
        return 0;
    }

    int nw = frame(s, len, 0, &all, 1, heads, nreq, whole);
    int nb = frame(s, len, 0, one, (int)len, heads, nreq, bytes);
    /* the seeded reads also end where each response ends (an upstream that
     * writes each response on its own), so they reach later responses */
    for (int i = 0; i < nb; i++) {
        if (bytes[i].outcome != R_COMPLETE)
            break;
        int j = 0;
        while (j < ncuts && cuts[j] < bytes[i].end)
            j++;
        if (j < ncuts && cuts[j] == bytes[i].end)
            continue;
        memmove(cuts + j + 1, cuts + j, (size_t)(ncuts - j) * sizeof *cuts);
        cuts[j] = bytes[i].end;
        ncuts++;
    }
    int ns = frame(s, len, 0, cuts, ncuts, heads, nreq, split);
    FUZZ_CHECK(nw >= 1 && nb >= 1 && ns >= 1);
    /* one read: after a response, all that is left is extra; a second
     * response can only begin with a later read, and there is none */
    FUZZ_CHECK(nw == 1 || (nw == 2 && whole[1].outcome == R_INCOMPLETE && whole[0].end == len));
    if (!same_first(&whole[0], &bytes[0]) || !same_first(&whole[0], &split[0])) {
        fprintf(stderr, "first response: whole %d/%zu/%zu, byte by byte %d/%zu/%zu, split %d/%zu/%zu\n",
                whole[0].outcome, whole[0].head_len, whole[0].end, bytes[0].outcome,
                bytes[0].head_len, bytes[0].end, split[0].outcome, split[0].head_len, split[0].end);
        FUZZ_CHECK(0);
    }
    const struct resp *runs[2] = { bytes, split };
    const int counts[2] = { nb, ns };
    for (int v = 0; v < 2; v++) {
        for (int i = 0; i < counts[v]; i++) {
            const struct resp *o = &runs[v][i];
            if (o->outcome != R_COMPLETE)
                continue;
            FUZZ_CHECK(o->head_start >= o->start && o->end <= len);
            FUZZ_CHECK(o->end >= o->head_start + o->head_len + o->body);
            if (o->mode == 0 || o->mode == 1 || o->mode == 3)
                FUZZ_CHECK(o->end == o->head_start + o->head_len + o->body);
            if (o->mode == 0)
                FUZZ_CHECK(o->body == 0);
            if (o->status == 204 || o->status == 304)
                FUZZ_CHECK(o->mode == 0);
            if (i > 0) {
                /* starts where the previous ended: nothing skipped or shared */
                FUZZ_CHECK(o->start == runs[v][i - 1].end);
                FUZZ_CHECK(!runs[v][i - 1].extra && runs[v][i - 1].reusable);
                /* the same bytes on a fresh connection frame the same way */
                size_t rest = len - o->start;
                size_t *c2 = malloc(rest * sizeof *c2);
                if (c2 == NULL)
                    abort();
                int n2 = 0;
                const size_t *cv = v == 0 ? one : cuts;
                int ncv = v == 0 ? (int)len : ncuts;
                for (int j = 0; j < ncv; j++)
                    if (cv[j] > o->start)
                        c2[n2++] = cv[j];
                unsigned h2 = heads >> i;
                (void)frame(s, len, o->start, c2, n2, h2, 1, fresh);
                free(c2);
                FUZZ_CHECK(same_first(&fresh[0], o));
            }
        }
    }
    free(one);
    free(cuts);
    return 0;
}
