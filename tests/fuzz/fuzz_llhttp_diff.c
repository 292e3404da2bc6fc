/* fuzz_llhttp_diff.c -- differential: what leakproxy accepts and forwards,
 * llhttp (the parser of Node's http server, the SSR upstream) must read as
 * the same request, ending where leakproxy thinks it ends.
 *
 * The input is raw client bytes. leakproxy's parser takes the head
 * (http1_head_end, http1_parse_request, default limits) and the body
 * (Content-Length bytes, or chunked decoded by http1_chunked_parse; an
 * incomplete or refused input is dropped, as are requests the proxy answers
 * itself: other Expect values). The request is then serialized the way
 * proxy.c's serialize_request() and pump_request_body() write it: origin-form
 * target, hop-by-hop and framing headers dropped, Host for absolute-form,
 * X-Forwarded-For/-Proto/-Host, Content-Length or Transfer-Encoding: chunked
 * with the decoded chunks re-framed. serialize_request() is static in
 * proxy.c and needs a live client, so this file repeats its rules (no csr
 * fallback header, no control headers configured); keep them in step.
 *
 * llhttp then parses that serialization followed by a sentinel request, in
 * one call and again split at an offset hashed from the input. Invariants: no llhttp
 * error; exactly two messages; the first has leakproxy's method, target,
 * header count and body length; the second is the sentinel (so the first
 * ended exactly where leakproxy's framing ends: nothing can hide after it).
 *
 * Known difference, not checked: leakproxy forwards any token as a method;
 * llhttp knows a fixed list and answers 400 to others (Node closes the
 * connection, so nothing is smuggled). Such inputs are skipped. And one
 * found by this target, reported, skipped until http1.c refuses it:
 * CONNECT with an origin-form target ("CONNECT /x HTTP/1.1") is accepted and
 * forwarded, while llhttp takes every CONNECT as a tunnel (HPE_PAUSED_UPGRADE:
 * Node hands the socket to a 'connect' listener, or closes it).
 *
 * Built only when llhttp's C sources are there (Debian: node-llhttp; see
 * targets.sh); llhttp is Expat-licensed and is not copied into the tree. */
#include "fuzz.h"
#include "http1.h"

#include <llhttp.h>

#define NHDR 100
#define OUT_MAX (1u << 20)

struct out {
    char *p;
    size_t n, cap;
};

static void put(struct out *o, const void *p, size_t n)
{
    if (o->n + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->n + n)
            cap *= 2;
        char *q = realloc(o->p, cap);
        if (q == NULL)
            abort();
        o->p = q;
        o->cap = cap;
    }
    memcpy(o->p + o->n, p, n);
    o->n += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* ---- what llhttp saw --------------------------------------------------- */

struct seen {
    int messages;
    int fields[2];                   /* header fields, per message */
    uint64_t body[2];
    char url[2][512];
    size_t url_len[2];
    int url_long;
    int method[2];
};

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct seen *s = p->data;
    int m = s->messages < 2 ? s->messages : 1;
    if (s->url_len[m] + n > sizeof s->url[m]) {
        s->url_long = 1;
        return 0;
    }
    memcpy(s->url[m] + s->url_len[m], at, n);
    s->url_len[m] += n;
    return 0;
}

static int on_field_done(llhttp_t *p)
{
    struct seen *s = p->data;
    s->fields[s->messages < 2 ? s->messages : 1]++;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct seen *s = p->data;
    (void)at;
    s->body[s->messages < 2 ? s->messages : 1] += n;
    return 0;
}

static int on_headers_done(llhttp_t *p)
{
    struct seen *s = p->data;
    s->method[s->messages < 2 ? s->messages : 1] = p->method;
    return 0;
}

static int on_done(llhttp_t *p)
{
    struct seen *s = p->data;
    s->messages++;
    return 0;
}

/* Parses <buf> in two calls split at <cut>; returns the llhttp error. */
static llhttp_errno_t llhttp_run(const char *buf, size_t len, size_t cut, struct seen *s)
{
    llhttp_settings_t st;
    llhttp_t p;
    llhttp_settings_init(&st);
    st.on_url = on_url;
    st.on_header_value_complete = on_field_done;
    st.on_body = on_body;
    st.on_headers_complete = on_headers_done;
    st.on_message_complete = on_done;
    llhttp_init(&p, HTTP_REQUEST, &st);
    memset(s, 0, sizeof *s);
    p.data = s;
    if (cut > len)
        cut = len;
    llhttp_errno_t e = llhttp_execute(&p, buf, cut);
    if (e == HPE_OK)
        e = llhttp_execute(&p, buf + cut, len - cut);
    return e;
}

/* 1 if llhttp knows method <m> (<n> bytes) exactly. */
static int llhttp_knows(const char *m, size_t n)
{
#define KNOWN(num, name, string) #string,
    static const char *const known[] = { HTTP_METHOD_MAP(KNOWN) };
#undef KNOWN
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i]) == n && memcmp(known[i], m, n) == 0)
            return 1;
    return 0;
}

/* ---- leakproxy's side -------------------------------------------------- */

/* proxy.c serialize_request(), for a client 127.0.0.1 and no csr fallback.
 * Returns the number of header fields written. */
static int serialize_head(struct out *o, const char *p, const struct http1_head *h,
                          int mode, uint64_t body_len)
{
    const char *host = NULL;
    size_t host_len = 0;
    int fields = 0;

    put(o, p + h->method, h->method_len);
    put(o, " ", 1);
    if ((h->flags & HTTP1_ABSOLUTE) && (h->target_len == 0 || p[h->target] != '/'))
        put(o, "/", 1);
    put(o, p + h->target, h->target_len);
    puts_(o, " HTTP/1.1\r\n");
    for (unsigned i = 0; i < h->nhdr; i++) {
        const struct http1_hdr *hd = &h->hdr[i];
        uint8_t k = h->hdr_kind[i];
        if (k & HTTP1_HDR_HOST) {
            host = p + hd->value;
            host_len = hd->value_len;
            if (h->flags & HTTP1_ABSOLUTE)
                continue;
        }
        if (k & (HTTP1_HDR_HOP | HTTP1_HDR_CL | HTTP1_HDR_TE | HTTP1_HDR_XFWD |
                 HTTP1_HDR_EXPECT | HTTP1_HDR_XFF))
            continue;
        if (http1_conn_names(p, h, i))
            continue;
        put(o, p + hd->name, hd->name_len);
        put(o, ": ", 2);
        put(o, p + hd->value, hd->value_len);
        put(o, "\r\n", 2);
        fields++;
    }
    if (h->flags & HTTP1_ABSOLUTE) {
        host = p + h->host;
        host_len = h->host_len;
        puts_(o, "Host: ");
        put(o, host, host_len);
        puts_(o, "\r\n");
        fields++;
    } else if (!(h->flags & HTTP1_HAS_HOST)) {
        puts_(o, "Host: upstream.test\r\n");
        fields++;
    }
    puts_(o, "X-Forwarded-For: ");
    for (unsigned i = 0; i < h->nhdr; i++) {
        if (!(h->hdr_kind[i] & HTTP1_HDR_XFF) || h->hdr[i].value_len == 0)
            continue;
        put(o, p + h->hdr[i].value, h->hdr[i].value_len);
        put(o, ", ", 2);
    }
    puts_(o, "127.0.0.1\r\nX-Forwarded-Proto: http\r\n");
    fields += 2;
    if (host) {
        puts_(o, "X-Forwarded-Host: ");
        put(o, host, host_len);
        puts_(o, "\r\n");
        fields++;
    }
    char line[64];
    if (mode == 1) {
        snprintf(line, sizeof line, "Content-Length: %llu\r\n\r\n", (unsigned long long)body_len);
        puts_(o, line);
        fields++;
    } else if (mode == 2) {
        puts_(o, "Transfer-Encoding: chunked\r\n\r\n");
        fields++;
    } else if (h->flags & HTTP1_HAS_CL) {
        puts_(o, "Content-Length: 0\r\n\r\n");
        fields++;
    } else {
        puts_(o, "\r\n");
    }
    return fields;
}

static const char SENTINEL[] = "GET /sentinel HTTP/1.1\r\nHost: s\r\n\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct http1_limits lim = { 65536, 8192, NHDR };
    static struct http1_hdr hdr[NHDR];
    static uint8_t kind[NHDR];
    struct http1_head h;
    struct out o = { NULL, 0, 0 };
    const char *in = (const char *)data;
    size_t scan = 0, cut = 0;

    /* where llhttp's second pass splits its input: a hash of the input */
    for (size_t i = 0; i < size; i++)
        cut = cut * 31 + data[i];
    long n = http1_head_end(in, size, &scan, lim.max_request_line, lim.max_header_bytes);
    if (n <= 0)
        return 0;
    char *head = fuzz_dup(in, (size_t)n);
    memset(&h, 0, sizeof h);
    h.hdr = hdr;
    h.hdr_kind = kind;
    if (http1_parse_request(head, (size_t)n, &lim, &h) < 0 || (h.flags & HTTP1_EXPECT_OTHER) ||
        !llhttp_knows(head + h.method, h.method_len) ||
        http1_name_is(head + h.method, h.method_len, "connect"))
        goto done;

    const char *rest = in + n;
    size_t rest_len = size - (size_t)n;
    struct out body = { NULL, 0, 0 };
    int mode = 0;
    uint64_t body_len = 0;
    if (h.flags & HTTP1_CHUNKED) {
        /* decode as pump_request_body() does, re-framing each piece */
        struct http1_chunked ch;
        size_t off = 0;
        enum http1_chunk_rc rc;
        http1_chunked_init(&ch);
        mode = 2;
        for (;;) {
            size_t used = 0;
            rc = http1_chunked_parse(&ch, rest + off, rest_len - off, &used, lim.max_header_bytes);
            FUZZ_CHECK(used <= rest_len - off);
            off += used;
            if (rc != HTTP1_CHUNK_DATA)
                break;
            size_t take = rest_len - off < ch.remaining ? rest_len - off : (size_t)ch.remaining;
            if (take == 0) {
                rc = HTTP1_CHUNK_MORE;
                break;
            }
            char line[24];
            snprintf(line, sizeof line, "%zx\r\n", take);
            puts_(&body, line);
            put(&body, rest + off, take);
            put(&body, "\r\n", 2);
            off += take;
            body_len += take;
            http1_chunked_data(&ch, take);
        }
        if (rc != HTTP1_CHUNK_DONE) {
            free(body.p);
            goto done;
        }
        puts_(&body, "0\r\n\r\n");
    } else if ((h.flags & HTTP1_HAS_CL) && h.content_length > 0) {
        if ((uint64_t)h.content_length > rest_len) {
            free(body.p);
            goto done;
        }
        mode = 1;
        body_len = (uint64_t)h.content_length;
        put(&body, rest, (size_t)body_len);
    }
    int fields = serialize_head(&o, head, &h, mode, body_len);
    if (body.n)
        put(&o, body.p, body.n);
    free(body.p);
    put(&o, SENTINEL, sizeof SENTINEL - 1);

    /* the target as written */
    char target[512];
    size_t tlen = 0;
    if ((h.flags & HTTP1_ABSOLUTE) && (h.target_len == 0 || head[h.target] != '/'))
        target[tlen++] = '/';
    int target_fits = tlen + h.target_len <= sizeof target;
    if (target_fits) {
        memcpy(target + tlen, head + h.target, h.target_len);
        tlen += h.target_len;
    }

    for (int pass = 0; pass < 2; pass++) {
        struct seen s;
        char *exact = fuzz_dup(o.p, o.n);
        llhttp_errno_t e = llhttp_run(exact, o.n, pass == 0 ? o.n : cut % (o.n + 1), &s);
        free(exact);
        if (e != HPE_OK) {
            fprintf(stderr, "llhttp refused what leakproxy forwards: %s\n%.*s\n",
                    llhttp_errno_name(e), (int)(o.n < 2000 ? o.n : 2000), o.p);
            FUZZ_CHECK(e == HPE_OK);
        }
        FUZZ_CHECK(s.messages == 2);
        FUZZ_CHECK(s.method[0] >= 0);
        const char *mname = llhttp_method_name((llhttp_method_t)s.method[0]);
        FUZZ_CHECK(strlen(mname) == h.method_len && memcmp(mname, head + h.method, h.method_len) == 0);
        if (target_fits && !s.url_long)
            FUZZ_CHECK(s.url_len[0] == tlen && memcmp(s.url[0], target, tlen) == 0);
        if (s.fields[0] != fields)
            fprintf(stderr, "header fields: leakproxy wrote %d, llhttp saw %d\n", fields, s.fields[0]);
        FUZZ_CHECK(s.fields[0] == fields);
        FUZZ_CHECK(s.body[0] == body_len);
        FUZZ_CHECK(s.url_len[1] == 9 && memcmp(s.url[1], "/sentinel", 9) == 0);
        FUZZ_CHECK(s.fields[1] == 1 && s.body[1] == 0);
    }
done:
    free(o.p);
    free(head);
    return 0;
}
