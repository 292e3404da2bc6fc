/* test_http1.c -- the request/response parser and the chunked decoder:
 * what is accepted, what is refused and with which status. */
#include "cm.h"

#include <stdio.h>
#include <string.h>

#include "http1.h"

static struct http1_hdr hdr[100];
static uint8_t kind[100];
static const struct http1_limits lim = { 65536, 8192, 100 };

/* Runs head_end + parse on a whole request; returns 0 or -status. */
static int req(const char *s, struct http1_head *h)
{
    size_t scan = 0, len = strlen(s);
    long n = http1_head_end(s, len, &scan, lim.max_request_line, lim.max_header_bytes);
    if (n <= 0)
        return n == 0 ? -1 : (int)n;
    h->hdr = hdr;
    h->hdr_kind = kind;
    return http1_parse_request(s, (size_t)n, &lim, h);
}

static int resp(const char *s, struct http1_head *h)
{
    size_t scan = 0, len = strlen(s);
    long n = http1_head_end(s, len, &scan, lim.max_header_bytes, lim.max_header_bytes);
    if (n <= 0)
        return n == 0 ? -1 : (int)n;
    h->hdr = hdr;
    h->hdr_kind = kind;
    return http1_parse_response(s, (size_t)n, &lim, h);
}

static void test_simple_get(void **state)
{
    (void)state;
    struct http1_head h;
    const char *s = "GET /detail/7?x=1 HTTP/1.1\r\nHost: a\r\nX-A:  b c \r\n\r\n";
    assert_int_equal(req(s, &h), 0);
    assert_int_equal(h.method_len, 3);
    assert_memory_equal(s + h.target, "/detail/7?x=1", 13);
    assert_int_equal(h.path_len, 9);
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.nhdr, 2);
    assert_memory_equal(s + hdr[1].value, "b c", 3);
    assert_int_equal(hdr[1].value_len, 3);
    assert_int_equal(h.content_length, -1);
    assert_int_equal(h.head_len, strlen(s));
}

static void test_framing_rules(void **state)
{
    (void)state;
    struct http1_head h;
    /* TE + CL: length dropped, chunked kept, flagged to close */
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", &h), 0);
    assert_true(h.flags & HTTP1_CHUNKED);
    assert_true(h.flags & HTTP1_TE_CL);
    assert_false(h.flags & HTTP1_HAS_CL);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", &h), 0);
    /* Content-Length */
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h), 0);
    assert_int_equal(h.content_length, 5);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", &h), 0);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", &h), -400);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    struct http1_head h;
    assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n", &h), -400);   /* obs-fold */
    assert_int_equal(req("GET / HTTP/1.1\nHost: a\n\n", &h), -400);                          /* bare LF */
    assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", &h), -400);          /* lone CR */
    assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", &h), -400);     /* control */
    assert_int_equal(req("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &h), -400);                    /* space before ':' */
    assert_int_equal(req("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
    assert_int_equal(req("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
    assert_int_equal(req("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &h), -505);
    assert_int_equal(req("GET / FOO/1.1\r\nHost: a\r\n\r\n", &h), -400);
    assert_int_equal(req("GET / HTTP/1.1\r\n\r\n", &h), -400);                               /* no Host */
    assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &h), -400);
    assert_int_equal(req("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
    assert_int_equal(req("GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
    assert_int_equal(req("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
    const char nul[] = "GET / HTTP/1.1\r\nHost: a\0\r\n\r\n";
    size_t scan = 0;
    assert_int_equal(http1_head_end(nul, sizeof nul - 1, &scan, 8192, 65536), -400);
    assert_int_equal(req("GET / HTTP/1.0\r\n\r\n", &h), 0);                                  /* 1.0: Host optional */
    assert_int_equal(h.minor, 0);
}

static void test_target_forms(void **state)
{
    (void)state;
    struct http1_head h;
    const char *s = "GET http://example.com:8080/p/q?z HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(req(s, &h), 0);
    assert_true(h.flags & HTTP1_ABSOLUTE);
    assert_memory_equal(s + h.host, "example.com:8080", h.host_len);
    assert_memory_equal(s + h.target, "/p/q?z", h.target_len);
    assert_int_equal(h.path_len, 4);
    assert_int_equal(req("GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n", &h), 0);
    assert_int_equal(h.target_len, 0);
    assert_int_equal(req("GET http://user@example.com/ HTTP/1.1\r\nHost: x\r\n\r\n", &h), -400);
    assert_int_equal(req("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", &h), 0);
    assert_int_equal(req("GET * HTTP/1.1\r\nHost: x\r\n\r\n", &h), -400);
}

/* A path the upstream could resolve to another one is refused; look-alikes
 * are not. */
static void test_dot_segments(void **state)
{
    (void)state;
    struct http1_head h;
    static const char *const bad[] = {
        "/.", "/..", "/./x", "/x/../y", "/x/..", "/%2e/x", "/%2E%2e/x", "/.%2e", "/%2e.",
        "/x\\y", "/x\\..\\y", "/a/./b?q=1", "http://h/./x",
    };
    static const char *const good[] = {
        "/", "/a.b", "/...", "/.well-known/x", "/x%2e.y", "/%2e%2e%2e", "/x?a=/../b", "/x?q=\\",
        "/x.", "/.x",
    };
    char buf[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", bad[i]);
        if (req(buf, &h) != -400)
            fail_msg("accepted %s", bad[i]);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", good[i]);
        if (req(buf, &h) != 0)
            fail_msg("refused %s", good[i]);
    }
}

static void test_path_canon(void **state)
{
    (void)state;
    char out[64];
    const char *in = "/d%65tail/%7e%7Eu/%2F%25%zz%4/%5f_";
    size_t n = http1_path_canon(in, strlen(in), out);
    assert_int_equal(n, strlen("/detail/~~u/%2F%25%zz%4/__"));
    assert_memory_equal(out, "/detail/~~u/%2F%25%zz%4/__", n);
    assert_int_equal(http1_path_canon("%", 1, out), 1);
    assert_int_equal(http1_path_canon("", 0, out), 0);
}

static void test_limits(void **state)
{
    (void)state;
    char big[70000];
    size_t scan = 0;
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    /* request line longer than the limit, before its end arrives */
    assert_int_equal(http1_head_end(big, 9000, &scan, 8192, 65536), -414);
    /* header block over the limit, never ending */
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    scan = 0;
    assert_int_equal(http1_head_end(big, 65536, &scan, 8192, 65536), -431);
    /* incremental: byte by byte finds the end exactly once */
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
    size_t end = strstr(s, "GET /next") - s;
    scan = 0;
    for (size_t i = 1; i <= end; i++) {
        long n = http1_head_end(s, i, &scan, 8192, 65536);
        assert_int_equal(n, i == end ? (long)end : 0);
    }
    /* too many headers */
    char many[4096] = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 100; i++)
        strcat(many, "X: y\r\n");
    strcat(many, "\r\n");
    struct http1_head h;
    assert_int_equal(req(many, &h), -431);
}

static void test_connection_and_hop_by_hop(void **state)
{
    (void)state;
    struct http1_head h;
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\n"
                    "Keep-Alive: 5\r\nProxy-Authorization: p\r\nTE: trailers\r\nUpgrade: ws\r\n"
                    "X-Forwarded-For: 1.2.3.4\r\nExpect: 100-continue\r\n\r\n";
    assert_int_equal(req(s, &h), 0);
    assert_true(h.flags & HTTP1_CONN_CLOSE);
    assert_true(h.flags & HTTP1_EXPECT_100);
    assert_true(h.flags & HTTP1_UPGRADE);
    assert_true(kind[1] & HTTP1_HDR_HOP);          /* Connection */
    assert_true(http1_conn_names(s, &h, 2));       /* X-Secret named by Connection */
    assert_false(http1_conn_names(s, &h, 0));
    /* Host is never hop-by-hop, even when Connection names it */
    const char *t = "GET / HTTP/1.1\r\nHost: a\r\nConnection: host, x\r\nX: 1\r\n\r\n";
    assert_int_equal(req(t, &h), 0);
    assert_false(http1_conn_names(t, &h, 0));
    assert_true(http1_conn_names(t, &h, 2));
    assert_true(kind[3] & HTTP1_HDR_HOP);          /* Keep-Alive */
    assert_true(kind[4] & HTTP1_HDR_HOP);          /* Proxy-* */
    assert_true(kind[5] & HTTP1_HDR_HOP);          /* TE */
    assert_true(kind[6] & HTTP1_HDR_HOP);          /* Upgrade */
    assert_true(kind[7] & HTTP1_HDR_XFF);
    assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", &h), 0);
    assert_true(h.flags & HTTP1_EXPECT_OTHER);
}

static void test_responses(void **state)
{
    (void)state;
    struct http1_head h;
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", &h), 0);
    assert_int_equal(h.status, 200);
    assert_int_equal(h.content_length, 3);
    assert_int_equal(resp("HTTP/1.1 204\r\n\r\n", &h), 0);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\n\r\n", &h), 0);
    assert_int_equal(h.minor, 0);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", &h), -502);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &h), -502);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", &h), -502);
    assert_int_equal(resp("HTTP/1.1 2000 OK\r\n\r\n", &h), -502);
    assert_int_equal(resp("HTTP/1.1 600 OK\r\n\r\n", &h), -502);
    assert_int_equal(resp("garbage\r\n\r\n", &h), -502);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", &h), -502);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n", &h), 0);
    assert_int_equal(h.nhdr, 2);
}

/* An empty Transfer-Encoding is an invalid one, not an absent one: with a
 * Content-Length beside it, the two parsers behind and before the proxy
 * could disagree on which framing wins. */
static void test_empty_transfer_encoding_refused(void **state)
{
    (void)state;
    struct http1_head h;
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n\r\n", &h), -400);
    assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  \t \r\n\r\n", &h), -400);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\n", &h), -502);
}

/* "close" anywhere in Connection wins over "keep-alive" (RFC 9112 9.6). */
static void test_connection_close_wins_over_keep_alive(void **state)
{
    (void)state;
    struct http1_head h;
    assert_int_equal(req("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &h), 0);
    assert_true(h.flags & HTTP1_CONN_CLOSE);
    assert_false(h.flags & HTTP1_CONN_KEEP);
    assert_int_equal(req("GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", &h), 0);
    assert_false(h.flags & HTTP1_CONN_KEEP);
    assert_int_equal(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h), 0);
    assert_true(h.flags & HTTP1_CONN_KEEP);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\n", &h), 0);
    assert_false(h.flags & HTTP1_CONN_KEEP);
}

/* Host and the authority of an absolute-form target follow RFC 9110's
 * uri-host [ ":" port ]; anything else would be copied into the upstream's
 * Host and X-Forwarded-Host. */
static void test_host_grammar(void **state)
{
    (void)state;
    static const char *const good[] = {
        "example.com", "example.com:8080", "example.com:", "127.0.0.1", "[::1]:8080", "[2001:db8::7]",
        "[::ffff:1.2.3.4]", "[v1.x:y]", "[V1A.a]", "a%2Db", "a-b_c~d!$&'()*+,;=", "",
    };
    static const char *const bad[] = {
        "a b", "a\"b", "a<b>", "a\\b", "a{b}", "a|b", "a^b", "a`b", "a:8o", "a:80:80", "[::1", "[::g]:80",
        "[::1]x", "[::1]:x", "a]", "a%zz", "a%4", "a%", "a@b", "a/b", "[]", "[v1.]", "[v.x]", "[vg.x]",
        "[fe80::1%25eth0]", "[::1:2:3:4:5:6:7:8:9]", "\x80", "a#b",
    };
    char buf[256];
    struct http1_head h;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", good[i]);
        if (req(buf, &h) != 0)
            fail_msg("Host %s refused", good[i]);
        if (good[i][0] == '\0')
            continue;
        snprintf(buf, sizeof buf, "GET http://%s/x HTTP/1.1\r\nHost: a\r\n\r\n", good[i]);
        if (req(buf, &h) != 0)
            fail_msg("absolute-form http://%s/x refused", good[i]);
        assert_int_equal(h.host_len, strlen(good[i]));
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
        if (req(buf, &h) != -400)
            fail_msg("Host %s accepted", bad[i]);
        if (strpbrk(bad[i], " /#\x80") != NULL)
            continue;                   /* would end the target, or is not a target byte */
        snprintf(buf, sizeof buf, "GET http://%s/x HTTP/1.1\r\nHost: a\r\n\r\n", bad[i]);
        if (req(buf, &h) != -400)
            fail_msg("absolute-form http://%s/x accepted", bad[i]);
    }
    /* an HTTP/1.0 request may omit Host; one it sends is checked */
    assert_int_equal(req("GET / HTTP/1.0\r\nHost: a b\r\n\r\n", &h), -400);
}

/* Feeds <s> to the decoder in pieces of <step> bytes; returns the payload
 * in <out> and the final code. */
static enum http1_chunk_rc dechunk(const char *s, size_t step, char *out, size_t *outlen)
{
    struct http1_chunked c;
    size_t len = strlen(s), pos = 0;
    enum http1_chunk_rc rc = HTTP1_CHUNK_MORE;
    http1_chunked_init(&c);
    *outlen = 0;
    while (pos < len) {
        size_t n = len - pos < step ? len - pos : step, used;
        rc = http1_chunked_parse(&c, s + pos, n, &used, 1024);
        pos += used;
        if (rc == HTTP1_CHUNK_ERROR || rc == HTTP1_CHUNK_DONE)
            return rc;
        if (rc == HTTP1_CHUNK_DATA) {
            size_t k = len - pos < c.remaining ? len - pos : (size_t)c.remaining;
            k = k < step ? k : step;
            memcpy(out + *outlen, s + pos, k);
            *outlen += k;
            pos += k;
            http1_chunked_data(&c, k);
        }
    }
    return rc;
}

static void test_chunked(void **state)
{
    (void)state;
    char out[256];
    size_t n;
    const char *ok = "5\r\nhello\r\n6;ext=1;q=\"x\"\r\n world\r\n0\r\nX-Checksum: t\r\n\r\n";
    for (size_t step = 1; step <= strlen(ok); step++) {
        assert_int_equal(dechunk(ok, step, out, &n), HTTP1_CHUNK_DONE);
        assert_int_equal(n, 11);
        assert_memory_equal(out, "hello world", 11);
    }
    assert_int_equal(dechunk("A\r\n0123456789\r\n0\r\n\r\n", 100, out, &n), HTTP1_CHUNK_DONE);
    assert_int_equal(dechunk("5 ;x\r\nhello\r\n0\r\n\r\n", 100, out, &n), HTTP1_CHUNK_DONE);
    assert_int_equal(dechunk("g\r\n", 100, out, &n), HTTP1_CHUNK_ERROR);           /* not hex */
    assert_int_equal(dechunk("-1\r\n", 100, out, &n), HTTP1_CHUNK_ERROR);
    assert_int_equal(dechunk("5\nhello\r\n", 100, out, &n), HTTP1_CHUNK_ERROR);     /* bare LF */
    assert_int_equal(dechunk("5\r\nhelloXX", 100, out, &n), HTTP1_CHUNK_ERROR);     /* no CRLF after data */
    assert_int_equal(dechunk("fffffffffffffffff\r\n", 100, out, &n), HTTP1_CHUNK_ERROR); /* overflow */
    assert_int_equal(dechunk("5;a\x01\r\n", 100, out, &n), HTTP1_CHUNK_ERROR);      /* control in ext */
    assert_int_equal(dechunk("0\r\n folded\r\n\r\n", 100, out, &n), HTTP1_CHUNK_ERROR);
    assert_int_equal(dechunk("5 x\r\n", 100, out, &n), HTTP1_CHUNK_ERROR);
    char big[2000] = "0\r\nX: ";
    memset(big + 6, 'a', 1500);
    strcpy(big + 1506, "\r\n\r\n");
    assert_int_equal(dechunk(big, 100, out, &n), HTTP1_CHUNK_ERROR);              /* trailers over the cap */
}

/* The chunk-size line, whitespace and extensions included, is capped at
 * 4096 bytes (CHUNK_LINE_MAX), however it arrives. */
static void test_chunk_line_cap_counts_whitespace(void **state)
{
    (void)state;
    static char line[1 << 20];
    char out[16];
    size_t n;
    for (int k = 0; k < 3; k++) {
        const char *fill = k == 0 ? " " : k == 1 ? "\t" : " \t";
        size_t fl = strlen(fill);
        line[0] = '5';
        for (size_t i = 1; i + 40 < sizeof line; i += fl)
            memcpy(line + i, fill, fl);
        strcpy(line + sizeof line - 40, k == 2 ? ";x=1\r\nhello\r\n0\r\n\r\n" : "\r\nhello\r\n0\r\n\r\n");
        for (size_t step = 1; step <= 65536; step *= 4096)
            assert_int_equal(dechunk(line, step, out, &n), HTTP1_CHUNK_ERROR);
    }
    /* just under the cap: fine */
    memset(line, ' ', 4094);
    line[0] = '5';
    strcpy(line + 4094, "\r\nhello\r\n0\r\n\r\n");
    assert_int_equal(dechunk(line, 100, out, &n), HTTP1_CHUNK_DONE);
    /* whitespace and extension together over it */
    memset(line, ' ', 3000);
    line[0] = '5';
    line[3000] = ';';
    memset(line + 3001, 'e', 2000);
    strcpy(line + 5001, "\r\nhello\r\n0\r\n\r\n");
    assert_int_equal(dechunk(line, 100, out, &n), HTTP1_CHUNK_ERROR);
}

/* Trailer fields are header fields (name ':' value) and must not be ones
 * the proxy frames, routes or manages connections by (RFC 9110 6.5.1). */
static void test_trailer_fields_validated(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "Content-Length: 5", "content-length:5", "Transfer-Encoding: chunked", "Host: evil", "Connection: close",
        "Keep-Alive: 1", "TE: trailers", "Trailer: X", "Upgrade: h2c", "Proxy-Authorization: x",
        "Proxy-A-Very-Long-Header-Name-Beyond-Seventeen: x", "Expect: 100-continue", "X-Forwarded-For: 1.2.3.4",
        "X-Forwarded-Host: h", "nocolon", "X-A : 1", ": 1", "X-A: a\001b", "X-\x01: 1",
    };
    char buf[256], out[16];
    size_t n;
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        snprintf(buf, sizeof buf, "5\r\nhello\r\n0\r\nX-Ok: 1\r\n%s\r\n\r\n", refused[i]);
        for (size_t step = 1; step <= strlen(buf); step += 7)
            if (dechunk(buf, step, out, &n) != HTTP1_CHUNK_ERROR)
                fail_msg("trailer %s accepted (step %zu)", refused[i], step);
    }
    static const char *const fine[] = {
        "X-Checksum: abc", "Server-Timing: a;dur=1", "grpc-status: 0", "X-Empty:", "Content-Lengths: 1",
        "Hosts: x", "Proxy: 1", "X-A-Very-Long-Header-Name-Beyond-Seventeen: x",
    };
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
        snprintf(buf, sizeof buf, "5\r\nhello\r\n0\r\n%s\r\n\r\n", fine[i]);
        for (size_t step = 1; step <= strlen(buf); step += 7)
            if (dechunk(buf, step, out, &n) != HTTP1_CHUNK_DONE)
                fail_msg("trailer %s refused (step %zu)", fine[i], step);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_framing_rules),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_target_forms),
        cmocka_unit_test(test_dot_segments),
        cmocka_unit_test(test_path_canon),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_connection_and_hop_by_hop),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_empty_transfer_encoding_refused),
        cmocka_unit_test(test_connection_close_wins_over_keep_alive),
        cmocka_unit_test(test_host_grammar),
        cmocka_unit_test(test_chunk_line_cap_counts_whitespace),
        cmocka_unit_test(test_trailer_fields_validated),
    };
    return cmocka_run_group_tests_name("http1", tests, NULL, NULL);
}
