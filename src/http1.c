/* http1.c -- HTTP/1.1 head parser and chunked-framing decoder. See http1.h.
 *
 * Strict by design: the proxy re-serialises every head it forwards and
 * re-frames every chunked body, so whatever it accepts it understands the
 * same way as the peer it forwards to; whatever it cannot understand exactly
 * it refuses (400 from clients, 502 from the upstream). */
#include "http1.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define HTTP1_CONN_NAMES 0x0400u      /* Connection lists other header names */

/* RFC 9110 tchar */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
    ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* ---- Host ---------------------------------------------------------------
 * RFC 9110 7.2: Host = uri-host [ ":" port ], uri-host = IP-literal /
 * IPv4address / reg-name (RFC 3986 3.2.2), port = *DIGIT. Whatever passes is
 * copied into the upstream's Host and X-Forwarded-Host, so anything outside
 * the grammar (blanks, quotes, '/', '@', '<') is refused rather than relayed
 * for an application to log, build links from or route by. */

/* unreserved / sub-delims: a reg-name's bytes besides pct-encoded ones
 * (IPv4address is a reg-name too, as far as bytes go) */
static int regname_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-._~!$&'()*+,;=", c) != NULL);
}

/* The <n> bytes between '[' and ']': IPv6address or IPvFuture. */
static int ip_literal_valid(const char *p, size_t n)
{
    if (n > 0 && lower((unsigned char)p[0]) == 'v') {
        size_t j = 1;                          /* "v" 1*HEXDIG "." 1*( ... / ":" ) */
        while (j < n && hexval((unsigned char)p[j]) >= 0)
            j++;
        if (j == 1 || j + 1 >= n || p[j] != '.')
            return 0;
        for (j++; j < n; j++)
            if (!regname_char((unsigned char)p[j]) && p[j] != ':')
                return 0;
        return 1;
    }
    char a[INET6_ADDRSTRLEN];
    struct in6_addr x;
    if (n == 0 || n >= sizeof a)
        return 0;
    memcpy(a, p, n);
    a[n] = '\0';
    return inet_pton(AF_INET6, a, &x) == 1;    /* no zone id: not in RFC 9110 */
}

/* 1 if <s>[0, <n>) is uri-host [ ":" port ]; an empty reg-name is valid
 * (RFC 9112 3.2: an empty Host when the target has no authority). */
static int host_valid(const char *s, size_t n)
{
    size_t i = 0;

    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (rb == NULL || !ip_literal_valid(s + 1, (size_t)(rb - s) - 1))
            return 0;
        i = (size_t)(rb - s) + 1;
    } else {
        while (i < n && s[i] != ':') {
            if (s[i] == '%') {                 /* pct-encoded */
                if (i + 2 >= n || hexval((unsigned char)s[i + 1]) < 0 ||
                    hexval((unsigned char)s[i + 2]) < 0)
                    return 0;
                i += 3;
            } else if (regname_char((unsigned char)s[i])) {
                i++;
            } else {
                return 0;
            }
        }
    }
    if (i < n && s[i++] != ':')
        return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int http1_name_is(const char *s, size_t n, const char *lit)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (lit[i] == '\0' || lower((unsigned char)s[i]) != lit[i])
            return 0;
    return lit[i] == '\0';
}

long http1_head_end(const char *buf, size_t len, size_t *scan,
                    size_t max_line, size_t max_head)
{
    size_t i = *scan;

    /* the first line's length, checked before its end arrives */
    const char *nl = memchr(buf, '\n', len < max_line + 2 ? len : max_line + 2);
    if (nl == NULL ? len > max_line + 1 : (size_t)(nl - buf) > max_line + 1)
        return -414;
    for (; i < len; i++) {
        char c = buf[i];
        if (c == '\0')
            return -400;
        if (c != '\n')
            continue;
        if (i == 0 || buf[i - 1] != '\r')
            return -400;                       /* bare LF */
        if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
            if (i + 1 > max_head)
                return -431;
            return (long)(i + 1);
        }
    }
    *scan = len;
    if (len >= max_head)
        return -431;
    return 0;
}

/* Parses one "1*DIGIT" or a list of equal ones; -1 if invalid. */
static int64_t parse_cl(const char *v, size_t n)
{
    int64_t val = -1;
    size_t i = 0;

    while (i < n) {
        int64_t x = 0;
        size_t start = i;
        while (i < n && v[i] >= '0' && v[i] <= '9') {
            if (i - start >= 17)
                return -1;                     /* > 10^17: overflow */
            x = x * 10 + (v[i] - '0');
            i++;
        }
        if (i == start || (val >= 0 && x != val))
            return -1;
        val = x;
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (i < n) {
            if (v[i] != ',')
                return -1;
            i++;
            while (i < n && (v[i] == ' ' || v[i] == '\t'))
                i++;
            if (i == n)
                return -1;
        }
    }
    return val;
}

/* Transfer codings seen so far; the message is valid only if exactly one
 * coding, "chunked", was given. */
struct te_state {
    int codings;
    int chunked;
};

/* An empty value is an invalid list, not an absent header: ignoring it would
 * let a Content-Length beside it frame the message here while a peer that
 * treats any Transfer-Encoding as present frames it otherwise. */
static int parse_te(const char *v, size_t n, struct te_state *te)
{
    size_t i = 0;
    if (n == 0)
        return -1;
    while (i < n) {
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (start < end && (v[start] == ' ' || v[start] == '\t'))
            start++;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end == start)
            return -1;
        te->codings++;
        if (http1_name_is(v + start, end - start, "chunked"))
            te->chunked++;
        if (i < n)
            i++;
    }
    return 0;
}

/* Sets Connection flags from a comma list of tokens. */
static void parse_connection(const char *v, size_t n, unsigned *flags)
{
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (start < end && (v[start] == ' ' || v[start] == '\t'))
            start++;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (http1_name_is(v + start, end - start, "close"))
            *flags |= HTTP1_CONN_CLOSE;
        else if (http1_name_is(v + start, end - start, "keep-alive"))
            *flags |= HTTP1_CONN_KEEP;
        else if (end > start)
            *flags |= HTTP1_CONN_NAMES;
        if (i < n)
            i++;
    }
}

static uint8_t classify(const char *s, size_t n)
{
    switch (n) {
    case 2:  return http1_name_is(s, n, "te") ? HTTP1_HDR_HOP : 0;
    case 4:  return http1_name_is(s, n, "host") ? HTTP1_HDR_HOST : 0;
    case 6:  return http1_name_is(s, n, "expect") ? HTTP1_HDR_EXPECT : 0;
    case 7:  return http1_name_is(s, n, "trailer") || http1_name_is(s, n, "upgrade")
                    ? HTTP1_HDR_HOP : 0;
    case 10: return http1_name_is(s, n, "connection") ? HTTP1_HDR_CONN | HTTP1_HDR_HOP
                  : http1_name_is(s, n, "keep-alive") ? HTTP1_HDR_HOP : 0;
    case 14: return http1_name_is(s, n, "content-length") ? HTTP1_HDR_CL : 0;
    case 15: return http1_name_is(s, n, "x-forwarded-for") ? HTTP1_HDR_XFF : 0;
    case 16: if (http1_name_is(s, n, "x-forwarded-host"))
                 return HTTP1_HDR_XFWD;
             break;
    case 17: if (http1_name_is(s, n, "transfer-encoding"))
                 return HTTP1_HDR_TE;
             if (http1_name_is(s, n, "x-forwarded-proto"))
                 return HTTP1_HDR_XFWD;
             break;
    }
    if (n >= 6 && http1_name_is(s, 6, "proxy-"))
        return HTTP1_HDR_HOP;
    return 0;
}

uint8_t http1_header_kind(const char *name, size_t len)
{
    return len ? classify(name, len) : 0;
}

/* Parses header lines from <p> to the empty line ending at <end> (the head's
 * last CRLF). Returns 0 or a negative status (<bad> for malformed input). */
static int parse_headers(const char *buf, const char *p, const char *end,
                         const struct http1_limits *lim, struct http1_head *h,
                         int bad)
{
    struct te_state te = { 0, 0 };
    int ncl = 0, nhost = 0;

    h->nhdr = 0;
    h->content_length = -1;
    while (p < end) {
        const char *name = p;
        if (*p == ' ' || *p == '\t')
            return bad;                        /* obs-fold */
        while (p < end && tchar[(unsigned char)*p])
            p++;
        if (p == name || p >= end || *p != ':')
            return bad;                        /* no name, or space before ':' */
        size_t nlen = (size_t)(p - name);
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *val = p;
        for (;;) {
            unsigned char c = (unsigned char)*p;
            if (c == '\r')
                break;
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return bad;
            p++;
        }
        if (p[1] != '\n')
            return bad;                        /* lone CR */
        const char *vend = p;
        while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        p += 2;
        if (h->nhdr >= lim->max_headers)
            return bad == -400 ? -431 : bad;
        struct http1_hdr *hd = &h->hdr[h->nhdr];
        hd->name = (uint32_t)(name - buf);
        hd->name_len = (uint32_t)nlen;
        hd->value = (uint32_t)(val - buf);
        hd->value_len = (uint32_t)(vend - val);
        uint8_t kind = classify(name, nlen);
        h->hdr_kind[h->nhdr++] = kind;
        size_t vlen = (size_t)(vend - val);
        if (kind & HTTP1_HDR_CL) {
            int64_t cl = parse_cl(val, vlen);
            if (cl < 0 || (ncl && cl != h->content_length))
                return bad;
            h->content_length = cl;
            ncl++;
        } else if (kind & HTTP1_HDR_TE) {
            if (parse_te(val, vlen, &te) < 0)
                return bad;
        } else if (kind & HTTP1_HDR_CONN) {
            parse_connection(val, vlen, &h->flags);
        } else if (kind & HTTP1_HDR_HOST) {
            if (nhost++)
                return bad;                    /* two Host headers */
            h->flags |= HTTP1_HAS_HOST;
        } else if (kind & HTTP1_HDR_EXPECT) {
            h->flags |= http1_name_is(val, vlen, "100-continue") ? HTTP1_EXPECT_100
                                                                : HTTP1_EXPECT_OTHER;
        } else if ((kind & HTTP1_HDR_HOP) && http1_name_is(name, nlen, "upgrade")) {
            h->flags |= HTTP1_UPGRADE;
        }
    }
    if (h->flags & HTTP1_CONN_CLOSE)
        h->flags &= ~HTTP1_CONN_KEEP;          /* "close" anywhere wins (RFC 9112 9.6) */
    if (te.codings) {
        if (te.codings != 1 || te.chunked != 1 || h->minor == 0)
            return bad;
        h->flags |= HTTP1_CHUNKED;
        if (ncl) {
            h->flags |= HTTP1_TE_CL;
            h->content_length = -1;
        }
    } else if (ncl) {
        h->flags |= HTTP1_HAS_CL;
    }
    return 0;
}

/* "HTTP/1.x" at <p>; sets h->minor. -1 if not HTTP/1.x. */
static int parse_version(const char *p, const char *end, struct http1_head *h)
{
    if (end - p < 8 || memcmp(p, "HTTP/", 5) != 0)
        return -1;
    if (p[5] != '1' || p[6] != '.' || p[7] < '0' || p[7] > '9')
        return -2;
    h->minor = p[7] == '0' ? 0 : 1;
    return 0;
}

/* 1 if <p>[0, <n>) is "." or "..", each dot possibly written "%2e". */
static int dot_segment(const char *p, size_t n)
{
    unsigned dots = 0;
    size_t i = 0;
    while (i < n) {
        if (p[i] == '.')
            i++;
        else if (n - i >= 3 && p[i] == '%' && p[i + 1] == '2' && lower((unsigned char)p[i + 2]) == 'e')
            i += 3;
        else
            return 0;
        dots++;
    }
    return dots == 1 || dots == 2;
}

/* A path the upstream may read as another path than the one the proxy
 * matches: a dot segment (Node's URL parser resolves "/./x", "/a/../x" and
 * their %2e spellings) or a backslash (which it reads as '/'). Browsers
 * never send either: they resolve dot segments before sending. */
static int path_ambiguous(const char *p, size_t n)
{
    if (memchr(p, '\\', n))
        return 1;
    size_t s = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '/') {
            if (i > s && dot_segment(p + s, i - s))
                return 1;
            s = i + 1;
        }
    }
    return 0;
}

static int hexval(unsigned char c);

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

size_t http1_path_canon(const char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && n - i >= 3) {
            int hi = hexval((unsigned char)p[i + 1]), lo = hexval((unsigned char)p[i + 2]);
            if (hi >= 0 && lo >= 0 && unreserved((unsigned char)(hi * 16 + lo))) {
                out[o++] = (char)(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out[o++] = p[i];
    }
    return o;
}

int http1_parse_request(const char *buf, size_t len,
                        const struct http1_limits *lim, struct http1_head *h)
{
    const char *p = buf, *end = buf + len - 2;   /* drop the final CRLF */

    h->flags = 0;
    h->status = 0;
    h->head_len = (uint32_t)len;
    h->host = h->host_len = 0;
    /* method SP target SP version CRLF */
    while (p < end && tchar[(unsigned char)*p])
        p++;
    if (p == buf || p >= end || *p != ' ')
        return -400;
    h->method = 0;
    h->method_len = (uint32_t)(p - buf);
    const char *t = ++p;
    while (p < end && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    if (p == t || p >= end || *p != ' ')
        return -400;
    const char *tend = p++;
    int v = parse_version(p, end, h);
    if (v == -2)
        return -505;
    if (v < 0 || p[8] != '\r' || p[9] != '\n')
        return -400;
    if ((size_t)(p + 8 - buf) > lim->max_request_line)
        return -414;

    /* no tunnels: Node's parser reads every CONNECT as one, whatever its
     * target, so a CONNECT must never reach it */
    if (http1_name_is(buf, h->method_len, "connect"))
        return -400;
    /* request target: origin-form, absolute-form or asterisk-form */
    if (*t == '/') {
        h->target = (uint32_t)(t - buf);
        h->target_len = (uint32_t)(tend - t);
    } else if (tend - t == 1 && *t == '*') {
        if (!http1_name_is(buf, h->method_len, "options"))
            return -400;
        h->target = (uint32_t)(t - buf);
        h->target_len = 1;
    } else if ((tend - t > 7 && http1_name_is(t, 7, "http://")) ||
               (tend - t > 8 && http1_name_is(t, 8, "https://"))) {
        const char *a = t + (lower((unsigned char)t[4]) == 's' ? 8 : 7);
        const char *ae = a;
        while (ae < tend && *ae != '/' && *ae != '?')
            ae++;
        if (ae == a || memchr(a, '@', (size_t)(ae - a)) || !host_valid(a, (size_t)(ae - a)))
            return -400;                       /* no host, userinfo, or not a host */
        h->flags |= HTTP1_ABSOLUTE;
        h->host = (uint32_t)(a - buf);
        h->host_len = (uint32_t)(ae - a);
        h->target = (uint32_t)(ae - buf);      /* may be empty or "?q" */
        h->target_len = (uint32_t)(tend - ae);
    } else {
        return -400;                           /* authority-form (CONNECT) or junk */
    }
    if (memchr(buf + h->target, '#', h->target_len))
        return -400;
    const char *q = memchr(buf + h->target, '?', h->target_len);
    h->path_len = q ? (uint32_t)(q - (buf + h->target)) : h->target_len;
    if (path_ambiguous(buf + h->target, h->path_len))
        return -400;

    int rc = parse_headers(buf, p + 10, end, lim, h, -400);
    if (rc < 0)
        return rc;
    if (h->minor == 1 && !(h->flags & HTTP1_HAS_HOST))
        return -400;                           /* RFC 9112 3.2 */
    for (unsigned i = 0; i < h->nhdr; i++)
        if ((h->hdr_kind[i] & HTTP1_HDR_HOST) && !host_valid(buf + h->hdr[i].value, h->hdr[i].value_len))
            return -400;                       /* checked even when absolute-form replaces it */
    return 0;
}

int http1_parse_response(const char *buf, size_t len,
                         const struct http1_limits *lim, struct http1_head *h)
{
    const char *p = buf, *end = buf + len - 2;

    h->flags = 0;
    h->head_len = (uint32_t)len;
    h->method = h->method_len = h->target = h->target_len = h->path_len = 0;
    h->host = h->host_len = 0;
    if (parse_version(p, end, h) < 0 || p[8] != ' ')
        return -502;
    p += 9;
    if (end - p < 3 || p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
        p[2] < '0' || p[2] > '9')
        return -502;
    h->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    p += 3;
    if (*p == ' ')
        p++;
    else if (*p != '\r')
        return -502;
    h->reason = (uint32_t)(p - buf);
    while (*p != '\r') {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -502;
        p++;
    }
    h->reason_len = (uint32_t)(p - (buf + h->reason));
    if (p[1] != '\n')
        return -502;
    if (parse_headers(buf, p + 2, end, lim, h, -502) < 0)
        return -502;
    if ((h->flags & HTTP1_TE_CL))
        return -502;                           /* a response must not send both */
    return 0;
}

int http1_conn_names(const char *buf, const struct http1_head *h, unsigned i)
{
    if (!(h->flags & HTTP1_CONN_NAMES) || (h->hdr_kind[i] & HTTP1_HDR_HOST))
        return 0;                    /* Host is never hop-by-hop, whatever Connection says */
    const char *name = buf + h->hdr[i].name;
    size_t nlen = h->hdr[i].name_len;
    for (unsigned k = 0; k < h->nhdr; k++) {
        if (!(h->hdr_kind[k] & HTTP1_HDR_CONN))
            continue;
        const char *v = buf + h->hdr[k].value;
        size_t n = h->hdr[k].value_len, j = 0;
        while (j < n) {
            size_t s = j;
            while (j < n && v[j] != ',')
                j++;
            size_t e = j;
            while (s < e && (v[s] == ' ' || v[s] == '\t'))
                s++;
            while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
                e--;
            if (e - s == nlen) {
                size_t m = 0;
                while (m < nlen && lower((unsigned char)v[s + m]) == lower((unsigned char)name[m]))
                    m++;
                if (m == nlen)
                    return 1;
            }
            j++;
        }
    }
    return 0;
}

/* ---- chunked ----------------------------------------------------------- */

enum {
    CS_SIZE0, CS_SIZE, CS_SIZE_WS, CS_EXT, CS_SIZE_LF, CS_DATA, CS_DATA_CR,
    CS_DATA_LF, CS_TRAILER, CS_TRAILER_NAME, CS_TRAILER_VALUE, CS_TRAILER_LF, CS_END_LF,
    CS_DONE
};

void http1_chunked_init(struct http1_chunked *c)
{
    memset(c, 0, sizeof *c);
    c->state = CS_SIZE0;
}

static int ext_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* RFC 9110 6.5.1: a field needed before the content (framing, routing,
 * connection management) has no place in a trailer. Refused: every name the
 * proxy itself reads, rewrites or drops (classify()), so a trailer cannot
 * look like a second head to whoever reads it after us. <c->tname> holds the
 * first bytes of a name of <c->tname_len> bytes. */
static int trailer_refused(const struct http1_chunked *c)
{
    if (c->tname_len <= sizeof c->tname)
        return classify(c->tname, c->tname_len) != 0;
    return http1_name_is(c->tname, 6, "proxy-");   /* the only open-ended name */
}

enum http1_chunk_rc http1_chunked_parse(struct http1_chunked *c, const char *p,
                                        size_t n, size_t *used,
                                        uint32_t max_trailer)
{
    size_t i = 0;
    enum http1_chunk_rc rc = HTTP1_CHUNK_MORE;

    if (c->state == CS_DATA) {
        *used = 0;
        return HTTP1_CHUNK_DATA;
    }
    if (c->state == CS_DONE) {
        *used = 0;
        return HTTP1_CHUNK_DONE;
    }
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        int hv;
        switch (c->state) {
        case CS_SIZE0:
            if ((hv = hexval(ch)) < 0)
                goto error;
            c->remaining = (uint64_t)hv;
            c->digits = 1;
            c->line = 1;
            c->state = CS_SIZE;
            break;
        case CS_SIZE:
            if ((hv = hexval(ch)) >= 0) {
                if (c->remaining >> 56)
                    goto error;                /* over 2^60: nobody sends that */
                c->remaining = c->remaining * 16 + (uint64_t)hv;
                if (++c->digits > 16)
                    goto error;
                c->line++;
                break;
            }
            /* fallthrough */
        case CS_SIZE_WS:
            /* every byte counts toward HTTP1_CHUNK_LINE_MAX, whitespace
             * too: else a peer could feed an endless line of blanks */
            if (++c->line > HTTP1_CHUNK_LINE_MAX)
                goto error;
            if (ch == ' ' || ch == '\t') {
                c->state = CS_SIZE_WS;
            } else if (ch == ';') {
                c->state = CS_EXT;
            } else if (ch == '\r') {
                c->state = CS_SIZE_LF;
            } else {
                goto error;
            }
            break;
        case CS_EXT:
            if (ch == '\r')
                c->state = CS_SIZE_LF;
            else if (!ext_char(ch) || ++c->line > HTTP1_CHUNK_LINE_MAX)
                goto error;
            break;
        case CS_SIZE_LF:
            if (ch != '\n')
                goto error;
            if (c->remaining == 0) {
                c->state = CS_TRAILER;
            } else {
                c->state = CS_DATA;
                i++;
                rc = HTTP1_CHUNK_DATA;
                goto out;
            }
            break;
        case CS_DATA_CR:
            if (ch != '\r')
                goto error;
            c->state = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (ch != '\n')
                goto error;
            c->state = CS_SIZE0;
            break;
        case CS_TRAILER:
            if (ch == '\r') {
                c->state = CS_END_LF;
                break;
            }
            if (!tchar[ch])
                goto error;                    /* obs-fold, no name, or junk */
            c->tname_len = 0;
            c->state = CS_TRAILER_NAME;
            /* fallthrough */
        case CS_TRAILER_NAME:
            if (++c->trailer_bytes > max_trailer)
                goto error;
            if (ch == ':') {
                if (trailer_refused(c))
                    goto error;
                c->state = CS_TRAILER_VALUE;
            } else if (tchar[ch]) {
                if (c->tname_len < sizeof c->tname)
                    c->tname[c->tname_len] = (char)ch;
                c->tname_len++;                /* <= trailer_bytes: no overflow */
            } else {
                goto error;                    /* no ':', or blanks before it */
            }
            break;
        case CS_TRAILER_VALUE:
            if (++c->trailer_bytes > max_trailer)
                goto error;
            if (ch == '\r')
                c->state = CS_TRAILER_LF;
            else if (!ext_char(ch))
                goto error;
            break;
        case CS_TRAILER_LF:
            if (ch != '\n')
                goto error;
            c->state = CS_TRAILER;
            break;
        case CS_END_LF:
            if (ch != '\n')
                goto error;
            c->state = CS_DONE;
            i++;
            rc = HTTP1_CHUNK_DONE;
            goto out;
        default:
            goto error;
        }
    }
out:
    *used = i;
    return rc;
error:
    *used = i;
    return HTTP1_CHUNK_ERROR;
}

void http1_chunked_data(struct http1_chunked *c, uint64_t n)
{
    c->remaining -= n;
    if (c->remaining == 0)
        c->state = CS_DATA_CR;
}
