/* http1.h -- HTTP/1.1 message heads and chunked framing: parse and validate,
 * no I/O, no allocation.
 *
 * The proxy finds a complete head with http1_head_end() (incremental: it
 * resumes where the last call stopped, so a client trickling bytes costs
 * O(n) in total), then parses it in one pass with http1_parse_request() or
 * http1_parse_response(). Offsets in struct http1_head point into the
 * caller's buffer. Framing follows HAProxy's rules (see docs/hardening.md):
 * Transfer-Encoding must be exactly "chunked"; TE together with
 * Content-Length drops the length and closes the connection after the
 * response; differing Content-Lengths, signs, non-digits and overflow are
 * rejected; obs-fold, bare LF, NUL and control bytes are rejected; a Host
 * value or absolute-form authority must fit RFC 9110's uri-host [":" port]. */
#ifndef LEAKPROXY_HTTP1_H
#define LEAKPROXY_HTTP1_H
#include <stddef.h>
#include <stdint.h>

struct http1_hdr {
    uint32_t name, name_len;         /* offsets into the head */
    uint32_t value, value_len;       /* value without surrounding whitespace */
};

/* struct http1_head.flags */
#define HTTP1_CHUNKED      0x0001u   /* Transfer-Encoding: chunked */
#define HTTP1_HAS_CL       0x0002u   /* Content-Length given (and kept) */
#define HTTP1_TE_CL        0x0004u   /* TE and CL both given: CL dropped */
#define HTTP1_CONN_CLOSE   0x0008u   /* Connection: close */
#define HTTP1_CONN_KEEP    0x0010u   /* Connection: keep-alive, and no close */
#define HTTP1_EXPECT_100   0x0020u   /* Expect: 100-continue */
#define HTTP1_EXPECT_OTHER 0x0040u   /* any other Expect value (-> 417) */
#define HTTP1_HAS_HOST     0x0080u
#define HTTP1_UPGRADE      0x0100u   /* Upgrade header present */
#define HTTP1_ABSOLUTE     0x0200u   /* request target was absolute-form */

/* Headers the proxy never forwards (hop-by-hop, RFC 9110 7.6.1) */
#define HTTP1_HDR_HOP      0x01u
#define HTTP1_HDR_CL       0x02u
#define HTTP1_HDR_TE       0x04u
#define HTTP1_HDR_CONN     0x08u
#define HTTP1_HDR_XFF      0x10u     /* X-Forwarded-For */
#define HTTP1_HDR_XFWD     0x20u     /* X-Forwarded-Proto / -Host */
#define HTTP1_HDR_EXPECT   0x40u
#define HTTP1_HDR_HOST     0x80u

struct http1_head {
    /* request */
    uint32_t method, method_len;
    uint32_t target, target_len;     /* origin-form path[?query], or "*" */
    uint32_t path_len;               /* target bytes before '?' */
    uint32_t host, host_len;         /* authority of an absolute-form target */
    /* response */
    int status;
    uint32_t reason, reason_len;
    /* both */
    int minor;                       /* HTTP/1.<minor>: 0 or 1 */
    unsigned flags;
    int64_t content_length;          /* -1 when none */
    uint32_t head_len;               /* bytes of the head, final CRLF included */
    unsigned nhdr;
    struct http1_hdr *hdr;           /* caller's array of max_headers */
    uint8_t *hdr_kind;               /* caller's array: HTTP1_HDR_* per header */
};

struct http1_limits {
    uint32_t max_header_bytes;       /* whole head, request line included */
    uint32_t max_request_line;
    uint32_t max_headers;
};

/* Finds the end of a head in <buf>[0, <len>). <*scan> is where the previous
 * call stopped (start with 0). Returns the head length, 0 if incomplete, or
 * a negative HTTP status: -400 (bare LF or NUL), -414 (first line longer than
 * <max_line>), -431 (head longer than <max_head>). For responses pass
 * max_line = max_head. */
long http1_head_end(const char *buf, size_t len, size_t *scan,
                    size_t max_line, size_t max_head);

/* Parse a complete head of <len> bytes (from http1_head_end). 0 on success,
 * else a negative status: requests -400, -414, -431, -501 (unknown TE),
 * -505 (version); responses return -502 for anything invalid.
 * <h->hdr> and <h->hdr_kind> must hold lim->max_headers entries. */
int http1_parse_request(const char *buf, size_t len,
                        const struct http1_limits *lim, struct http1_head *h);
int http1_parse_response(const char *buf, size_t len,
                         const struct http1_limits *lim, struct http1_head *h);

/* Writes <p>[0, <n>) to <out> (room for <n> bytes) with every percent-encoded
 * unreserved character (RFC 3986 2.3: ALPHA DIGIT - . _ ~) decoded, the form
 * two URI normalisers agree on; returns its length. Requests with a path the
 * upstream could resolve to another one (dot segments, also as %2e, or a
 * backslash) never get here: http1_parse_request() refuses them (400). */
size_t http1_path_canon(const char *p, size_t n, char *out);

/* 1 if header <i> of <h> is named in a Connection header of <h> (never for
 * Host: the proxy relies on it, so a client cannot make it hop-by-hop). */
int http1_conn_names(const char *buf, const struct http1_head *h, unsigned i);

/* HTTP1_HDR_* kind of the header name <name>[0, <len>): nonzero for every
 * header the proxy reads, rewrites or drops itself (framing, Host, hop-by-hop
 * ones, Expect, X-Forwarded-*), 0 for the ones it relays as they are. */
uint8_t http1_header_kind(const char *name, size_t len);

/* Case-insensitive comparison of <n> bytes against a lower-case literal. */
int http1_name_is(const char *s, size_t n, const char *lower);

/* ---- chunked bodies ---------------------------------------------------- */

/* Longest chunk-size line: size, whitespace, extensions and CR, every byte
 * counted, so no peer can feed an endless line of blanks. */
#define HTTP1_CHUNK_LINE_MAX 4096

enum http1_chunk_rc {
    HTTP1_CHUNK_MORE,                /* all input consumed, need more */
    HTTP1_CHUNK_DATA,                /* at chunk data: <remaining> bytes follow */
    HTTP1_CHUNK_DONE,                /* last chunk and trailers consumed */
    HTTP1_CHUNK_ERROR                /* invalid framing */
};

struct http1_chunked {
    int state;
    uint64_t remaining;              /* data bytes left in this chunk */
    uint32_t line;                   /* bytes of the chunk-size line so far */
    uint32_t trailer_bytes;
    unsigned digits;
    uint32_t tname_len;              /* bytes of the current trailer name */
    char tname[17];                  /* its first bytes: enough to know it */
};

void http1_chunked_init(struct http1_chunked *c);
/* Consumes framing bytes from <p>[0, <n>), stopping at chunk data, the end
 * or an error; <*used> says how many. Trailers are validated and consumed
 * (never forwarded): each line is a field (name ':' value), and a field the
 * proxy frames, routes or manages connections by (Content-Length,
 * Transfer-Encoding, Host, hop-by-hop ones, Expect, X-Forwarded-*) is an
 * error (RFC 9110 6.5.1). <max_trailer> caps the trailer section. */
enum http1_chunk_rc http1_chunked_parse(struct http1_chunked *c, const char *p,
                                        size_t n, size_t *used,
                                        uint32_t max_trailer);
/* The caller passed <n> data bytes (n <= remaining). */
void http1_chunked_data(struct http1_chunked *c, uint64_t n);
#endif
