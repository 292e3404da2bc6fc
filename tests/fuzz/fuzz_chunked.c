/* fuzz_chunked.c -- the chunked body decoder fed in pieces.
 *
 * Input: byte 0 = the largest piece size (0: the whole body at once),
 * byte 1 = the trailer cap in units of 16 bytes, byte 2 = seed of the piece
 * sizes; the rest is the body as it arrives from the peer. Each piece is
 * copied into a buffer of exactly its size, so a read past it is caught.
 * Invariants: a call never consumes more than it was given; MORE means all
 * of it was consumed; DATA means remaining > 0; DONE is final (the caller
 * stops on ERROR, so that one need not be); a chunk-size line never grows
 * past HTTP1_CHUNK_LINE_MAX without an ERROR. */
#include "fuzz.h"
#include "http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t maxpiece = data[0];
    uint32_t max_trailer = (uint32_t)data[1] * 16;
    uint32_t rnd = 0x9e3779b9u ^ data[2];
    const char *body = (const char *)data + 3;
    size_t len = size - 3, pos = 0;
    struct http1_chunked c;
    enum http1_chunk_rc rc = HTTP1_CHUNK_MORE;
    uint64_t payload = 0;

    http1_chunked_init(&c);
    while (pos < len) {
        size_t piece = len - pos;
        if (maxpiece) {
            rnd ^= rnd << 13;
            rnd ^= rnd >> 17;
            rnd ^= rnd << 5;
            size_t want = 1 + rnd % maxpiece;
            if (want < piece)
                piece = want;
        }
        char *buf = fuzz_dup(body + pos, piece);
        size_t off = 0;
        while (off < piece) {
            size_t used = (size_t)-1;
            rc = http1_chunked_parse(&c, buf + off, piece - off, &used, max_trailer);
            FUZZ_CHECK(used <= piece - off);
            FUZZ_CHECK(rc == HTTP1_CHUNK_ERROR || c.line <= HTTP1_CHUNK_LINE_MAX);
            off += used;
            if (rc == HTTP1_CHUNK_MORE) {
                FUZZ_CHECK(off == piece);
            } else if (rc == HTTP1_CHUNK_DATA) {
                FUZZ_CHECK(c.remaining > 0);
                size_t k = piece - off;
                if (k > c.remaining)
                    k = (size_t)c.remaining;
                payload += k;
                off += k;
                http1_chunked_data(&c, k);
            } else {
                break;
            }
        }
        free(buf);
        pos += off;
        if (rc == HTTP1_CHUNK_DONE || rc == HTTP1_CHUNK_ERROR)
            break;
    }
    FUZZ_CHECK(payload <= len);
    if (rc == HTTP1_CHUNK_DONE) {
        /* final: no more progress */
        size_t used = 1;
        enum http1_chunk_rc again = http1_chunked_parse(&c, "0\r\n\r\n", 5, &used, max_trailer);
        FUZZ_CHECK(used == 0);
        FUZZ_CHECK(again == rc);
    }
    return 0;
}
