/* config.c -- load and validate the JSON config. See config.h.
 *
 * Three steps: jansson parses (syntax errors come with line and column);
 * keyline_scan() walks the raw text once and records the line of every key
 * path; config_build() checks the tree against the schema below. Every key
 * is a row of one table (path, type, bounds, default, target field), as
 * Redis does with its config; the code that reads a row is generic, and
 * only the rules that span keys, the routes and the fallbacks are written
 * out by hand. */
#include "config.h"
#include "fallback.h"
#include "http1.h"
#include "log.h"
#include "route.h"
#include "series.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- key path -> line ------------------------------------------------- */

struct keyline {
    char path[CONFIG_PATH_MAX];
    int line;
};

struct keylines {
    struct keyline *v;
    size_t n, cap;
};

static void keyline_add(struct keylines *kl, const char *path, size_t plen, int line)
{
    if (kl->n == kl->cap) {
        size_t cap = kl->cap ? kl->cap * 2 : 64;
        struct keyline *v = realloc(kl->v, cap * sizeof *v);
        if (v == NULL)
            return;                   /* lines are a courtesy: degrade */
        kl->v = v;
        kl->cap = cap;
    }
    if (plen >= CONFIG_PATH_MAX)
        plen = CONFIG_PATH_MAX - 1;
    memcpy(kl->v[kl->n].path, path, plen);
    kl->v[kl->n].path[plen] = '\0';
    kl->v[kl->n].line = line;
    kl->n++;
}

/* Walks valid JSON text and records "a.b[2].c" -> line for every key and
 * array element. Assumes jansson accepted the text already. */
static void keyline_scan(const char *s, size_t n, struct keylines *kl)
{
    struct { char type; int index; size_t base; int expect_key; } st[64];
    int top = -1;
    char path[CONFIG_PATH_MAX];
    size_t plen = 0;
    int line = 1;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n') {
            line++;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == ':')
            continue;
        if (c == ',') {
            if (top >= 0 && st[top].type == '{')
                st[top].expect_key = 1;
            else if (top >= 0)
                st[top].index++;
            continue;
        }
        if (c == '}' || c == ']') {
            if (top >= 0)
                plen = st[top--].base;
            /* back to the parent's base: the next key or element sets it */
            if (top >= 0)
                plen = st[top].base;
            continue;
        }
        /* the start of a key or a value */
        if (top >= 0 && st[top].type == '{' && st[top].expect_key && c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            plen = st[top].base;
            int w = snprintf(path + plen, sizeof path - plen, "%s%.*s",
                             plen ? "." : "", (int)(j - i - 1), s + i + 1);
            if (w > 0)
                plen = plen + (size_t)w < sizeof path ? plen + (size_t)w : sizeof path - 1;
            keyline_add(kl, path, plen, line);
            st[top].expect_key = 0;
            i = j;
            continue;
        }
        if (top >= 0 && st[top].type == '[') {
            plen = st[top].base;
            int w = snprintf(path + plen, sizeof path - plen, "[%d]", st[top].index);
            if (w > 0)
                plen = plen + (size_t)w < sizeof path ? plen + (size_t)w : sizeof path - 1;
            keyline_add(kl, path, plen, line);
        }
        if (c == '{' || c == '[') {
            if (top + 1 < (int)(sizeof st / sizeof st[0])) {
                top++;
                st[top].type = c;
                st[top].index = 0;
                st[top].base = plen;
                st[top].expect_key = 1;
            }
            continue;
        }
        if (c == '"') {
            i++;
            while (i < n && s[i] != '"')
                i += s[i] == '\\' ? 2 : 1;
            continue;
        }
        while (i + 1 < n && !strchr(",]} \t\r\n", s[i + 1]))
            i++;                      /* a number or a literal */
    }
}

/* Line of <path>, or of its closest recorded ancestor; 0 if none. */
static int keyline_find(const struct keylines *kl, const char *path)
{
    char p[CONFIG_PATH_MAX];

    snprintf(p, sizeof p, "%s", path);
    for (;;) {
        for (size_t i = 0; i < kl->n; i++)
            if (strcmp(kl->v[i].path, p) == 0)
                return kl->v[i].line;
        char *dot = strrchr(p, '.'), *br = strrchr(p, '[');
        char *cut = dot > br ? dot : br;
        if (cut == NULL || cut == p)
            return p[0] ? 1 : 0;
        *cut = '\0';
    }
}

/* ---- addresses --------------------------------------------------------- */

int config_parse_addr(const char *s, struct config_addr *a, const char **why)
{
    char host[256];
    const char *port;
    struct addrinfo hints, *res = NULL;

    memset(a, 0, sizeof *a);
    snprintf(a->text, sizeof a->text, "%s", s);
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':') {
            *why = "expected \"[ipv6]:port\"";
            return -1;
        }
        if ((size_t)(rb - s - 1) >= sizeof host) {
            *why = "host too long";
            return -1;
        }
        memcpy(host, s + 1, (size_t)(rb - s - 1));
        host[rb - s - 1] = '\0';
        port = rb + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL || colon == s) {
            *why = "expected \"host:port\" (IPv6 as \"[::1]:port\")";
            return -1;
        }
        if (strchr(s, ':') != colon) {
            *why = "IPv6 addresses need brackets: \"[::1]:port\"";
            return -1;
        }
        if ((size_t)(colon - s) >= sizeof host) {
            *why = "host too long";
            return -1;
        }
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    char *end;
    errno = 0;
    long pn = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || errno || pn < 0 || pn > 65535 ||
        !isdigit((unsigned char)*port)) {
        *why = "port must be a number from 0 to 65535";
        return -1;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
        hints.ai_flags = AI_NUMERICSERV;       /* loopback-only machines */
        if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
            *why = "cannot resolve the host";
            return -1;
        }
    }
    memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
    a->salen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int config_addr_is_loopback(const struct config_addr *a)
{
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return 0;
}

void config_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
}

/* ---- schema ------------------------------------------------------------ */

/* One row per key, as Redis's standardConfig: the generic code below takes
 * parsing, defaults, range and type checks, the allowed keys of each object
 * (for "unknown key" and "did you mean", in row order) and the reference
 * check of conf/README.md from it. Rules that span keys are written out
 * after the section they belong to (memory_rules, guard_rules, ...). */
enum ktype {
    K_SECTION,                        /* an object whose keys are rows below it */
    K_CUSTOM,                         /* parsed by hand (routes, fallbacks, guard.action) */
    K_BOOL, K_INT, K_INT64,           /* int, int, int64_t in [min, max] */
    K_FRACTION,                       /* double in (0, 1]; hint: the example */
    K_STR, K_STR_NULL,                /* char *, strdup'ed; K_STR_NULL takes null */
    K_ENUM,                           /* int: base + index in names */
    K_ADDR,                           /* struct config_addr, "host:port" */
    K_UPSTREAM                        /* "http://host:port": config.upstream */
};

#define KF_REQUIRED    1u             /* absent: error, the text is hint */
#define KF_NO_GOT      2u             /* section: the type error names no type */
#define KF_DEFAULT_ALL 4u             /* default set whatever the memory source */

struct ckey {
    const char *path;                 /* "guard.watch_ms"; "routes[].name" */
    enum ktype type;
    unsigned src;                     /* memory keys: the sources (SRC()) that take it; 0: any */
    unsigned flags;
    int64_t min, max, def;
    double fdef;
    const char *sdef;                 /* K_STR, K_ADDR default */
    const char *const *names;         /* K_ENUM */
    int base;                         /* K_ENUM: value of names[0] */
    const char *hint;                 /* see K_FRACTION, K_SECTION, KF_REQUIRED */
    int (*check)(const char *s, const char *path, struct config_err *err);
    /* KF_REQUIRED: a message that depends on other keys (else hint) */
    void (*missing)(const struct config *c, const char *path, struct config_err *err);
    size_t off;                       /* into struct config */
};

static int check_http_url(const char *url, const char *path, struct config_err *err);
static int check_token(const char *s, const char *path, struct config_err *err);
static int check_header_name(const char *s, const char *path, struct config_err *err);
static void memory_url_missing(const struct config *c, const char *path, struct config_err *err);

/* Defaults of designed rows (conf/README.md says why these numbers):
 * - 20 to 100 completed requests a row: small enough that a route's share
 *   differs from row to row, large enough that a floor reading (a forced
 *   GC's cost) buys tens of requests; varied so a per-row constant is not
 *   confused with the sum of the route columns;
 * - a request waits at most 500 ms for its route's row, then goes anyway;
 * - quiesce 100 ms: the requests in flight at the end of a row finish
 *   before the floor is read (an SSR render takes a few to tens of ms);
 * - forced GC may take up to half the upstream's time while routes are
 *   unknown or suspect (a tenth of that once settled): staging only. */
#define ROWS_MIN_DEFAULT  20
#define ROWS_MAX_DEFAULT  100
#define ROWS_HOLD_MS      500
#define ROWS_QUIESCE_MS   100
#define ROWS_MAX_GC_DUTY  0.5

static const char *const memsrc_names[] = { "proc", "cgroup", "http", "prometheus", "header", NULL };
static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };
static const char *const metric_names[] = { "heap_used", "rss", "external", NULL };
static const char *const restore_names[] = { "manual", "on_recovery", NULL };
static const char *const whformat_names[] = { "json", "alertmanager", NULL };

#define OFF(f) offsetof(struct config, f)
#define SRC(kind) (1u << (kind))
#define PROC SRC(MEMSRC_PROC)
#define CGRP SRC(MEMSRC_CGROUP)
#define HTTP SRC(MEMSRC_HTTP)
#define PROM SRC(MEMSRC_PROMETHEUS)
#define HEAD SRC(MEMSRC_HEADER)
#define SEC(p, h, ...)  { .path = p, .type = K_SECTION, .hint = h, __VA_ARGS__ }
#define CUST(p)         { .path = p, .type = K_CUSTOM }
#define BOOL(p, d, f, ...) { .path = p, .type = K_BOOL, .def = d, .off = OFF(f), __VA_ARGS__ }
#define INT(p, lo, hi, d, f, ...) \
    { .path = p, .type = K_INT, .min = lo, .max = hi, .def = d, .off = OFF(f), __VA_ARGS__ }
#define I64(p, lo, hi, d, f, ...) \
    { .path = p, .type = K_INT64, .min = lo, .max = hi, .def = d, .off = OFF(f), __VA_ARGS__ }
#define FRAC(p, d, eg, f, ...) \
    { .path = p, .type = K_FRACTION, .fdef = d, .hint = eg, .off = OFF(f), __VA_ARGS__ }
#define STR(p, d, f, ...) { .path = p, .type = K_STR, .sdef = d, .off = OFF(f), __VA_ARGS__ }
#define STRN(p, f, ...) { .path = p, .type = K_STR_NULL, .off = OFF(f), __VA_ARGS__ }
#define URL(p, f, ...)  STR(p, NULL, f, .check = check_http_url, __VA_ARGS__)
#define ENUM(p, nm, b, d, f, ...) \
    { .path = p, .type = K_ENUM, .names = nm, .base = b, .def = d, .off = OFF(f), __VA_ARGS__ }
#define ADDR(p, d, f, ...) { .path = p, .type = K_ADDR, .sdef = d, .off = OFF(f), __VA_ARGS__ }

static const struct ckey ckeys[] = {
    ADDR("listen", NULL, listen, .flags = KF_REQUIRED, .hint = "missing (e.g. \"127.0.0.1:8080\")"),
    { .path = "upstream", .type = K_UPSTREAM, .flags = KF_REQUIRED,
      .hint = "missing (e.g. \"http://127.0.0.1:3000\")" },
    ADDR("admin", "127.0.0.1:9091", admin),
    STRN("admin_token", admin_token, .check = check_token),

    CUST("routes"),
    CUST("routes[].name"),
    CUST("routes[].match"),
    CUST("routes[].mode"),
    CUST("routes[].never_csr"),
    CUST("routes[].fallback"),

    SEC("timeouts", NULL),
    INT("timeouts.connect_ms", 1, 3600000, 2000, timeouts.connect_ms),
    INT("timeouts.response_ms", 1, 86400000, 30000, timeouts.response_ms),
    INT("timeouts.client_idle_ms", 1, 86400000, 60000, timeouts.client_idle_ms),
    INT("timeouts.header_ms", 1, 3600000, 10000, timeouts.header_ms),
    INT("timeouts.upstream_idle_ms", 1, 86400000, 4000, timeouts.upstream_idle_ms),
    INT("timeouts.drain_ms", 0, 3600000, 10000, timeouts.drain_ms),

    SEC("limits", NULL),
    INT("limits.max_header_bytes", 1024, 16777216, 65536, limits.max_header_bytes),
    INT("limits.max_headers", 1, 10000, 100, limits.max_headers),
    INT("limits.max_request_line", 64, 16777216, 8192, limits.max_request_line),
    I64("limits.max_body_bytes", 0, INT64_C(1) << 50, 10485760, limits.max_body_bytes),
    INT("limits.max_connections", 1, 1000000, 10000, limits.max_connections),
    INT("limits.upstream_idle", 0, 1000000, 512, limits.upstream_idle),

    STRN("access_log", access_log),
    STRN("log_file", log_file),
    ENUM("log_level", level_names, LOG_DEBUG, LOG_INFO, log_level),

    SEC("memory", "expected an object like {\"source\": \"http\", \"url\": ...}"),
    ENUM("memory.source", memsrc_names, MEMSRC_PROC, 0, memory.source, .flags = KF_REQUIRED,
         .hint = "missing: one of \"proc\", \"cgroup\", \"http\", \"prometheus\", \"header\""),
    INT("memory.interval_ms", 10, 3600000, 1000, memory.interval_ms),
    INT("memory.timeout_ms", 1, 600000, 2000, memory.timeout_ms),   /* memory_rules: derived */
    INT("memory.floor_window_ms", 100, 3600000, 30000, memory.floor_window_ms),
    I64("memory.limit_bytes", 0, INT64_C(1) << 50, 0, memory.limit_bytes),
    I64("memory.pid", 1, 0x7fffffff, 0, memory.pid, .src = PROC),
    STR("memory.pidfile", NULL, memory.pidfile, .src = PROC),
    STR("memory.process", NULL, memory.process, .src = PROC),
    BOOL("memory.children", 0, memory.children, .src = PROC),
    STR("memory.path", NULL, memory.path, .src = CGRP, .flags = KF_REQUIRED,
        .hint = "missing: a cgroup directory, e.g. \"/sys/fs/cgroup/ssr\""),
    URL("memory.url", memory.url, .src = HTTP | PROM, .flags = KF_REQUIRED, .missing = memory_url_missing),
    URL("memory.gc_url", memory.gc_url, .src = HTTP),
    INT("memory.gc_interval_ms", 10, 86400000, 1000, memory.gc_interval_ms, .src = HTTP,
        .flags = KF_DEFAULT_ALL),
    FRAC("memory.max_gc_duty", 0.05, "0.05", memory.max_gc_duty, .src = HTTP, .flags = KF_DEFAULT_ALL),
    INT("memory.quiesce_ms", 0, 10000, 0, memory.quiesce_ms, .src = HTTP),
    SEC("memory.rows", "expected an object like {\"design\": true, \"min_requests\": 20}", .src = HTTP),
    BOOL("memory.rows.design", 0, memory.design),
    INT("memory.rows.min_requests", 1, 100000, ROWS_MIN_DEFAULT, memory.row_min),
    INT("memory.rows.max_requests", 1, 100000, ROWS_MAX_DEFAULT, memory.row_max),
    INT("memory.rows.hold_ms", 0, 60000, ROWS_HOLD_MS, memory.hold_ms),
    BOOL("memory.rows.overflow", 1, memory.row_overflow),
    SEC("memory.metrics", "expected an object of metric names", .src = PROM, .flags = KF_NO_GOT),
    STR("memory.metrics.rss", "process_resident_memory_bytes", memory.m_rss),
    STR("memory.metrics.heap_used", "nodejs_heap_size_used_bytes", memory.m_heap_used),
    STR("memory.metrics.heap_total", "nodejs_heap_size_total_bytes", memory.m_heap_total),
    STR("memory.metrics.external", "nodejs_external_memory_bytes", memory.m_external),
    STR("memory.metrics.heap_limit", NULL, memory.m_heap_limit),
    STR("memory.worker_label", NULL, memory.worker_label, .src = PROM),
    STR("memory.header", "X-Leakproxy-Memory", memory.header, .src = HEAD,
        .check = check_header_name),
    BOOL("memory.strip", 1, memory.strip, .src = HEAD, .flags = KF_DEFAULT_ALL),

    SEC("attribution", NULL),
    INT("attribution.interval_ms", 100, 3600000, 2000, attrib.interval_ms),
    INT("attribution.window_rows", 16, SERIES_ROWS, 600, attrib.window_rows),
    I64("attribution.min_leak_bytes", 1, INT64_C(1) << 40, 4096, attrib.min_leak_bytes),
    INT("attribution.confirm_requests", 1, 100000000, 200, attrib.confirm_requests),
    INT("attribution.min_requests", 1, 100000000, 30, attrib.min_requests),
    INT("attribution.max_routes", 1, 2000, 100, attrib.max_routes),
    BOOL("attribution.auto_probe", 0, attrib.auto_probe),

    CUST("fallback"),
    CUST("fallback.file"),
    CUST("fallback.header"),
    CUST("fallback.upstream"),

    SEC("guard", "expected an object like {\"high_bytes\": 1200000000, \"action\": \"leaking\"}"),
    ENUM("guard.metric", metric_names, 0, 0, guard.metric),
    I64("guard.high_bytes", 1, INT64_C(1) << 50, 0, guard.high_bytes),
    I64("guard.low_bytes", 1, INT64_C(1) << 50, 0, guard.low_bytes),     /* guard_rules: derived */
    FRAC("guard.high_fraction", 0, "0.8", guard.high_fraction),
    FRAC("guard.low_fraction", 0, "0.8", guard.low_fraction),            /* guard_rules: derived */
    INT("guard.min_minutes_to_oom", 1, 100000, 0, guard.min_minutes_to_oom),
    CUST("guard.action"),
    INT("guard.hold_seconds", 0, 86400 * 7, 300, guard.hold_seconds),
    INT("guard.max_switches_per_hour", 1, GUARD_MAX_PER_HOUR, 6, guard.max_switches_per_hour),
    ENUM("guard.restore", restore_names, 0, 0, guard.restore_on_recovery),
    BOOL("guard.dry_run", 0, guard.dry_run),
    URL("guard.webhook", guard.webhook),
    ENUM("guard.webhook_format", whformat_names, 0, 0, guard.webhook_alertmanager),
    INT("guard.watch_ms", 500, 600000, 0, guard.watch_ms),   /* 0: from memory.interval_ms (guard.c) */

    STRN("event_log", event_log),
};
#define NKEYS (sizeof ckeys / sizeof ckeys[0])

unsigned config_key_count(void)
{
    return (unsigned)NKEYS;
}

const char *config_key_at(unsigned i)
{
    return i < NKEYS ? ckeys[i].path : NULL;
}

static const struct ckey *key_find(const char *path)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(ckeys[i].path, path) == 0)
            return &ckeys[i];
    return NULL;
}

static const char *key_leaf(const struct ckey *k)
{
    const char *dot = strrchr(k->path, '.');
    return dot ? dot + 1 : k->path;
}

/* 1 if <k> is a key of the object at <parent> ("" for the top). */
static int key_in(const struct ckey *k, const char *parent)
{
    size_t n = strlen(parent);
    if (n == 0)
        return strchr(k->path, '.') == NULL;
    return strncmp(k->path, parent, n) == 0 && k->path[n] == '.' && !strchr(k->path + n + 1, '.');
}

static int key_takes(const struct ckey *k, unsigned src)
{
    return k->src == 0 || src == 0 || (k->src & src);
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), d[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        d[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = d[0];
        d[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = d[j];
            size_t sub = prev + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t best = d[j] + 1 < d[j - 1] + 1 ? d[j] + 1 : d[j - 1] + 1;
            d[j] = sub < best ? sub : best;
            prev = cur;
        }
    }
    return d[lb];
}

/* The keys the table allows in the object at <parent> for memory source
 * mask <src>, in row order (the order decides between equally near
 * suggestions). */
static const char *nearest_key(const char *key, const char *parent, unsigned src, int *known)
{
    const char *best = NULL;
    size_t bestd = 3;

    *known = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct ckey *k = &ckeys[i];
        if (!key_in(k, parent) || !key_takes(k, src))
            continue;
        if (strcmp(key_leaf(k), key) == 0) {
            *known = 1;
            return NULL;
        }
        size_t d = edit_distance(key, key_leaf(k));
        if (d < bestd) {
            bestd = d;
            best = key_leaf(k);
        }
    }
    return best;
}

/* Fails on the first key of <obj> that the table does not allow at
 * <parent> (written <base> in messages), suggesting the nearest. */
static int check_keys(json_t *obj, const char *parent, const char *base, unsigned src,
                      struct config_err *err)
{
    const char *key;
    json_t *v;
    char path[CONFIG_PATH_MAX];

    json_object_foreach(obj, key, v) {
        int known;
        const char *best = nearest_key(key, parent, src, &known);
        if (known)
            continue;
        snprintf(path, sizeof path, "%s%s%s", base, *base ? "." : "", key);
        if (best)
            config_err_set(err, path, "unknown key (did you mean \"%s\"?)", best);
        else
            config_err_set(err, path, "unknown key");
        return -1;
    }
    return 0;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* <v> as a string; <out> is strdup'ed (NULL for null when allowed). */
static int string_value(json_t *v, const char *path, int allow_null, char **out,
                        struct config_err *err)
{
    *out = NULL;
    if (allow_null && json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        config_err_set(err, path, "expected a string%s, got %s",
                       allow_null ? " or null" : "", json_type_name(v));
        return -1;
    }
    if (json_string_length(v) != strlen(json_string_value(v))) {
        config_err_set(err, path, "must not contain NUL characters");
        return -1;
    }
    if ((*out = strdup(json_string_value(v))) == NULL) {
        config_err_set(err, path, "out of memory");
        return -1;
    }
    return 0;
}

static int parse_upstream(const char *url, struct config *c, struct config_err *err)
{
    const char *why;

    if (strncmp(url, "http://", 7) != 0) {
        config_err_set(err, "upstream", "'%s': expected \"http://host:port\"%s", url,
                       strncmp(url, "https://", 8) == 0 ? " (https upstreams are not supported)" : "");
        return -1;
    }
    const char *hp = url + 7;
    size_t len = strcspn(hp, "/");
    if (hp[len] == '/' && hp[len + 1] != '\0') {
        config_err_set(err, "upstream", "'%s': a path prefix is not supported, give only \"http://host:port\"", url);
        return -1;
    }
    if (len >= sizeof c->upstream_host) {
        config_err_set(err, "upstream", "host too long");
        return -1;
    }
    memcpy(c->upstream_host, hp, len);
    c->upstream_host[len] = '\0';
    char tmp[sizeof c->upstream_host + 4];
    /* a missing port means 80; a ':' inside "[v6]" is not a port */
    const char *rb = strchr(c->upstream_host, ']');
    if (strchr(rb ? rb : c->upstream_host, ':') == NULL)
        snprintf(tmp, sizeof tmp, "%s:80", c->upstream_host);
    else
        snprintf(tmp, sizeof tmp, "%s", c->upstream_host);
    if (config_parse_addr(tmp, &c->upstream, &why) < 0) {
        config_err_set(err, "upstream", "'%s': %s", url, why);
        return -1;
    }
    if (((struct sockaddr_in *)&c->upstream.sa)->sin_port == 0) {
        config_err_set(err, "upstream", "'%s': port 0 is not a server", url);
        return -1;
    }
    snprintf(c->upstream.text, sizeof c->upstream.text, "%s", url);
    return 0;
}

static int check_http_url(const char *url, const char *path, struct config_err *err)
{
    if (strncmp(url, "http://", 7) != 0 || url[7] == '\0' || url[7] == '/') {
        config_err_set(err, path, "'%s': expected \"http://host:port/path\"", url);
        return -1;
    }
    return 0;
}

static int check_token(const char *s, const char *path, struct config_err *err)
{
    if (strlen(s) < 16) {
        config_err_set(err, path, "too short: use at least 16 characters");
        return -1;
    }
    return 0;
}

static int check_header_name(const char *s, const char *path, struct config_err *err)
{
    for (const char *c = s; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_')) {
            config_err_set(err, path, "'%s' is not a header name", s);
            return -1;
        }
    return 0;
}

/* ---- generic parsing: one row ----------------------------------------- */

static int int_value(json_t *v, const struct ckey *k, const char *path, void *field,
                     struct config_err *err)
{
    if (!json_is_integer(v)) {
        config_err_set(err, path, "expected an integer, got %s", json_type_name(v));
        return -1;
    }
    json_int_t n = json_integer_value(v);
    if (n < k->min || n > k->max) {
        config_err_set(err, path, "%lld is out of range [%lld, %lld]", (long long)n,
                       (long long)k->min, (long long)k->max);
        return -1;
    }
    if (k->type == K_INT64)
        *(int64_t *)field = n;
    else
        *(int *)field = (int)n;
    return 0;
}

static int enum_value(json_t *v, const struct ckey *k, const char *path, int *field,
                      struct config_err *err)
{
    char *s, list[160] = "";
    size_t n = 0;

    if (string_value(v, path, 0, &s, err) < 0)
        return -1;
    for (int i = 0; k->names[i]; i++)
        if (strcmp(k->names[i], s) == 0) {
            *field = k->base + i;
            free(s);
            return 0;
        }
    for (int i = 0; k->names[i] && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s\"%s\"",
                              i == 0 ? "" : k->names[i + 1] ? ", " : " or ", k->names[i]);
    config_err_set(err, path, "'%s': expected %s", s, list);
    free(s);
    return -1;
}

/* K_STR, K_STR_NULL, K_ADDR, K_UPSTREAM: a string, then what it names. */
static int text_value(json_t *v, const struct ckey *k, const char *path, struct config *c,
                      struct config_err *err)
{
    void *field = (char *)c + k->off;
    const char *why;
    char *s;

    if (string_value(v, path, k->type == K_STR_NULL, &s, err) < 0)
        return -1;
    if (k->type == K_STR || k->type == K_STR_NULL) {
        *(char **)field = s;
        return s && k->check ? k->check(s, path, err) : 0;
    }
    int rc = 0;
    if (k->type == K_UPSTREAM) {
        rc = parse_upstream(s, c, err);
    } else if (config_parse_addr(s, field, &why) < 0) {
        config_err_set(err, path, "'%s': %s", s, why);
        rc = -1;
    }
    free(s);
    return rc;
}

static int row_value(json_t *v, const struct ckey *k, const char *path, struct config *c,
                     struct config_err *err)
{
    void *field = (char *)c + k->off;

    switch (k->type) {
    case K_BOOL:
        if (!json_is_boolean(v)) {
            config_err_set(err, path, "expected true or false, got %s", json_type_name(v));
            return -1;
        }
        *(int *)field = json_is_true(v);
        return 0;
    case K_INT:
    case K_INT64:
        return int_value(v, k, path, field, err);
    case K_FRACTION:
        if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 1) {
            config_err_set(err, path, "expected a number in (0, 1], e.g. %s", k->hint);
            return -1;
        }
        *(double *)field = json_number_value(v);
        return 0;
    case K_ENUM:
        return enum_value(v, k, path, field, err);
    default:
        return text_value(v, k, path, c, err);
    }
}

static int row_default(const struct ckey *k, const char *base, struct config *c,
                       struct config_err *err)
{
    void *field = (char *)c + k->off;
    const char *why;

    switch (k->type) {
    case K_BOOL: case K_INT: case K_ENUM:
        *(int *)field = (int)k->def;
        break;
    case K_INT64:
        *(int64_t *)field = k->def;
        break;
    case K_FRACTION:
        *(double *)field = k->fdef;
        break;
    case K_STR:
        if (k->sdef && (*(char **)field = strdup(k->sdef)) == NULL) {
            config_err_set(err, base, "out of memory");
            return -1;
        }
        break;
    case K_ADDR:
        if (k->sdef)
            (void)config_parse_addr(k->sdef, field, &why);   /* a literal that parses */
        break;
    default:
        break;
    }
    return 0;
}

static int parse_section(json_t *obj, const char *parent, const char *base, unsigned src,
                         struct config *c, struct config_err *err);

/* An object row: its type, its keys, then its rows (defaults when absent). */
static int parse_object(json_t *v, const struct ckey *k, const char *path, unsigned src,
                        struct config *c, struct config_err *err)
{
    if (v && !json_is_object(v)) {
        const char *hint = k->hint ? k->hint : "expected an object";
        if (k->flags & KF_NO_GOT)
            config_err_set(err, path, "%s", hint);
        else
            config_err_set(err, path, "%s, got %s", hint, json_type_name(v));
        return -1;
    }
    if (v && check_keys(v, k->path, path, src, err) < 0)
        return -1;
    return parse_section(v, k->path, path, src, c, err);
}

/* The row <k> of the object <obj> (NULL: absent) written at <base>. */
static int parse_row(json_t *obj, const struct ckey *k, const char *base, unsigned src,
                     struct config *c, struct config_err *err)
{
    char path[CONFIG_PATH_MAX];
    json_t *v = obj ? json_object_get(obj, key_leaf(k)) : NULL;

    snprintf(path, sizeof path, "%s%s%s", base, *base ? "." : "", key_leaf(k));
    if (k->type == K_SECTION)
        return parse_object(v, k, path, src, c, err);
    if (k->type == K_CUSTOM)
        return 0;
    if (v != NULL)
        return row_value(v, k, path, c, err);
    if (k->flags & KF_REQUIRED) {
        if (k->missing)
            k->missing(c, path, err);
        else
            config_err_set(err, path, "%s", k->hint);
        return -1;
    }
    return row_default(k, base, c, err);
}

/* Every row of the object at <parent> that memory source mask <src> takes,
 * in table order. */
static int parse_section(json_t *obj, const char *parent, const char *base, unsigned src,
                         struct config *c, struct config_err *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct ckey *k = &ckeys[i];
        if (!key_in(k, parent))
            continue;
        if (!key_takes(k, src)) {
            if ((k->flags & KF_DEFAULT_ALL) && row_default(k, base, c, err) < 0)
                return -1;
            continue;
        }
        if (parse_row(obj, k, base, src, c, err) < 0)
            return -1;
    }
    return 0;
}

/* A top-level row by name. */
static int parse_top(json_t *root, const char *name, struct config *c, struct config_err *err)
{
    return parse_row(root, key_find(name), "", 0, c, err);
}

/* ---- "memory" ----------------------------------------------------------- */

static void memory_url_missing(const struct config *c, const char *path, struct config_err *err)
{
    config_err_set(err, path, "missing (e.g. \"http://127.0.0.1:3000/%s\")",
                   c->memory.source == MEMSRC_HTTP ? "__mem" : "metrics");
}

/* After "unknown key": say when a key of <m> belongs to another source
 * (the first such key of the object, in another source's order). */
static void memory_other_source(json_t *m, enum memsrc_kind kind, struct config_err *err)
{
    const char *key;
    json_t *x;

    json_object_foreach(m, key, x) {
        for (size_t i = 0; i < NKEYS; i++) {
            const struct ckey *k = &ckeys[i];
            unsigned other = k->src & ~SRC(kind);
            if (!key_in(k, "memory") || other == 0 || strcmp(key_leaf(k), key) != 0)
                continue;
            int o = __builtin_ctz(other);
            snprintf(err->text, sizeof err->text, "not a key of the \"%s\" source (it belongs to \"%s\")",
                     memsrc_names[kind - MEMSRC_PROC], memsrc_names[o - MEMSRC_PROC]);
            return;
        }
    }
}

/* Designed rows and forced GCs (http source): the defaults that follow
 * other keys, and what needs "gc_url". */
static int memory_gc_rules(json_t *m, struct config_memory *mc, struct config_err *err)
{
    json_t *rows = json_object_get(m, "rows");

    if (json_object_get(rows, "design") == NULL)
        mc->design = mc->gc_url != NULL;
    if (mc->design && !mc->gc_url) {
        config_err_set(err, "memory.rows.design", "needs \"gc_url\": a designed row ends with a forced-GC reading");
        return -1;
    }
    if (json_object_get(rows, "max_requests") == NULL && mc->row_max < mc->row_min)
        mc->row_max = mc->row_min;
    if (mc->row_max < mc->row_min) {
        config_err_set(err, "memory.rows.max_requests", "%d is below min_requests (%d)", mc->row_max, mc->row_min);
        return -1;
    }
    /* designed rows read a floor per row: they need the in-flight requests
     * done (quiesce) and a budget that allows a floor per row; both
     * defaults follow (an explicit value wins) */
    if (json_object_get(m, "quiesce_ms") == NULL)
        mc->quiesce_ms = mc->design ? ROWS_QUIESCE_MS : 0;
    if (mc->quiesce_ms && !mc->gc_url) {
        config_err_set(err, "memory.quiesce_ms", "only works with \"gc_url\" (it holds requests for a forced GC)");
        return -1;
    }
    if (mc->design && json_object_get(m, "max_gc_duty") == NULL)
        mc->max_gc_duty = ROWS_MAX_GC_DUTY;
    return 0;
}

static int memory_rules(json_t *m, struct config_memory *mc, struct config_err *err)
{
    if (json_object_get(m, "timeout_ms") == NULL)
        mc->timeout_ms = mc->interval_ms * 2 < 2000 ? mc->interval_ms * 2 : 2000;
    switch (mc->source) {
    case MEMSRC_PROC:
        if ((mc->pid != 0) + (mc->pidfile != NULL) + (mc->process != NULL) != 1) {
            config_err_set(err, "memory", "the proc source needs exactly one of \"pid\", \"pidfile\", \"process\"");
            return -1;
        }
        return 0;
    case MEMSRC_HTTP:
        return memory_gc_rules(m, mc, err);
    default:
        return 0;
    }
}

static int parse_memory(json_t *m, struct config *c, struct config_err *err)
{
    const struct ckey *sec = key_find("memory");

    if (!json_is_object(m))
        return parse_object(m, sec, "memory", 0, c, err);
    if (parse_row(m, key_find("memory.source"), "memory", 0, c, err) < 0)
        return -1;
    unsigned src = SRC(c->memory.source);
    if (check_keys(m, "memory", "memory", src, err) < 0) {
        memory_other_source(m, c->memory.source, err);
        return -1;
    }
    if (parse_section(m, "memory", "memory", src, c, err) < 0)
        return -1;
    return memory_rules(m, &c->memory, err);
}

/* A client must not reach the memory endpoint through the proxy: its
 * forced GC would be a stop-the-world pause anyone could trigger. */
static void reserve_memory_paths(struct config *c)
{
    const char *murls[2] = { c->memory.source == MEMSRC_HTTP || c->memory.source == MEMSRC_PROMETHEUS
                                 ? c->memory.url : NULL, c->memory.gc_url };
    for (int k = 0; k < 2; k++) {
        if (murls[k] == NULL || strncmp(murls[k], "http://", 7) != 0)
            continue;
        const char *path = strchr(murls[k] + 7, '/');
        if (path == NULL || strcmp(path, "/") == 0)
            continue;
        c->reserved_paths[k] = strndup(path, strcspn(path, "?"));
    }
}

/* ---- guard -------------------------------------------------------------- */

static int guard_thresholds(struct config_guard *gc, enum memsrc_kind source, struct config_err *err)
{
    if (gc->metric != 1 && (source == MEMSRC_PROC || source == MEMSRC_CGROUP)) {
        config_err_set(err, "guard.metric", "the %s source reports RSS only: use \"rss\"",
                       source == MEMSRC_PROC ? "proc" : "cgroup");
        return -1;
    }
    if (gc->high_bytes && gc->high_fraction) {
        config_err_set(err, "guard.high_fraction", "set \"high_bytes\" or \"high_fraction\", not both");
        return -1;
    }
    if (!gc->high_bytes && !gc->high_fraction && !gc->min_minutes_to_oom) {
        config_err_set(err, "guard", "needs a trigger: \"high_bytes\", \"high_fraction\" "
                       "or \"min_minutes_to_oom\"");
        return -1;
    }
    if (gc->low_bytes && !gc->high_bytes) {
        config_err_set(err, "guard.low_bytes", "goes with \"high_bytes\"");
        return -1;
    }
    if (gc->low_fraction && !gc->high_fraction) {
        config_err_set(err, "guard.low_fraction", "goes with \"high_fraction\"");
        return -1;
    }
    if (gc->high_bytes && !gc->low_bytes)
        gc->low_bytes = gc->high_bytes / 4 * 3;      /* documented default: 75 % of high */
    if (gc->high_fraction && !gc->low_fraction)
        gc->low_fraction = gc->high_fraction * 0.75;
    if ((gc->high_bytes && gc->low_bytes >= gc->high_bytes) ||
        (gc->high_fraction && gc->low_fraction >= gc->high_fraction)) {
        config_err_set(err, gc->high_bytes ? "guard.low_bytes" : "guard.low_fraction",
                       "must be below the high threshold (the gap is the hysteresis)");
        return -1;
    }
    return 0;
}

/* guard.action as a list of route names. */
static int guard_list(json_t *a, struct config *c, struct config_err *err)
{
    struct config_guard *gc = &c->guard;
    size_t i;
    json_t *e;

    gc->action = GUARD_LIST;
    if ((gc->listed = calloc(route_count(c->routes), 1)) == NULL) {
        config_err_set(err, "guard", "out of memory");
        return -1;
    }
    json_array_foreach(a, i, e) {
        char path[CONFIG_PATH_MAX];
        snprintf(path, sizeof path, "guard.action[%zu]", i);
        int id = json_is_string(e) ? route_find(c->routes, json_string_value(e)) : -1;
        if (!json_is_string(e)) {
            config_err_set(err, path, "expected a route name, got %s", json_type_name(e));
            return -1;
        }
        if (id <= 0) {
            config_err_set(err, path, "no route named '%s'", json_string_value(e));
            return -1;
        }
        if (c->route_never_csr[id]) {
            config_err_set(err, path, "route '%s' is \"never_csr\": the guard cannot switch it",
                           json_string_value(e));
            return -1;
        }
        gc->listed[id] = 1;
    }
    return 0;
}

static int guard_action(json_t *a, struct config *c, struct config_err *err)
{
    struct config_guard *gc = &c->guard;

    if (a == NULL || (json_is_string(a) && strcmp(json_string_value(a), "leaking") == 0)) {
        gc->action = GUARD_LEAKING;
    } else if (json_is_string(a) && strcmp(json_string_value(a), "all") == 0) {
        gc->action = GUARD_ALL;
    } else if (json_is_array(a) && json_array_size(a) > 0) {
        if (guard_list(a, c, err) < 0)
            return -1;
    } else {
        config_err_set(err, "guard.action", "expected \"leaking\", \"all\" or a list of route names");
        return -1;
    }
    if (c->fallback.kind != FB_NONE)
        return 0;
    for (unsigned id = 1; id < route_count(c->routes); id++) {
        if (c->route_fb[id].kind != FB_NONE || c->route_never_csr[id] ||
            (gc->action == GUARD_LIST && !gc->listed[id]))
            continue;
        config_err_set(err, "guard", "route '%s' has no fallback to serve when the guard switches "
                       "it off: set \"fallback\" at the top or on the route",
                       route_name(c->routes, id));
        return -1;
    }
    return 0;
}

/* Needs the routes (a list names them) and the memory source. */
static int parse_guard(json_t *g, struct config *c, struct config_err *err)
{
    const struct ckey *sec = key_find("guard");

    if (!json_is_object(g))
        return parse_object(g, sec, "guard", 0, c, err);
    if (check_keys(g, "guard", "guard", 0, err) < 0)
        return -1;
    if (c->memory.source == MEMSRC_NONE) {
        config_err_set(err, "guard", "needs a \"memory\" source to watch");
        return -1;
    }
    c->guard.enabled = 1;
    if (parse_section(g, "guard", "guard", 0, c, err) < 0 ||
        guard_thresholds(&c->guard, c->memory.source, err) < 0)
        return -1;
    return guard_action(json_object_get(g, "action"), c, err);
}

/* ---- fallbacks ---------------------------------------------------------- */

static const char *content_type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && (strcmp(dot, ".html") == 0 || strcmp(dot, ".htm") == 0))
        return "text/html; charset=utf-8";
    if (dot && strcmp(dot, ".json") == 0)
        return "application/json";
    if (dot && strcmp(dot, ".txt") == 0)
        return "text/plain; charset=utf-8";
    return "text/html; charset=utf-8";
}

/* {"header": "Name: value"}: the header the upstream gets instead of SSR;
 * inbound copies of it are stripped (ctl_headers). */
static int parse_fb_header(const char *sv, const char *path, struct config *c,
                           struct config_fallback *fb, struct config_err *err)
{
    const char *colon = strchr(sv, ':');
    fb->kind = FB_HEADER;
    if (colon == NULL || colon == sv) {
        config_err_set(err, path, "'%s': expected \"Name: value\", e.g. \"X-SSR-Off: 1\"", sv);
        return -1;
    }
    for (const char *q = sv; q < colon; q++)
        if (!(isalnum((unsigned char)*q) || *q == '-' || *q == '_')) {
            config_err_set(err, path, "'%s': the header name may contain letters, digits, '-' and '_'", sv);
            return -1;
        }
    if (http1_header_kind(sv, (size_t)(colon - sv)) != 0) {
        /* the proxy strips inbound copies of this header and writes its
         * own: a framing or hop-by-hop name would desync or drop what
         * the upstream needs */
        config_err_set(err, path, "'%s': %.*s is framing, routing or hop-by-hop: the proxy writes or drops "
                       "it itself; use another name", sv, (int)(colon - sv), sv);
        return -1;
    }
    const char *val = colon + 1;
    while (*val == ' ')
        val++;
    for (const char *q = val; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f) {
            config_err_set(err, path, "'%s': control characters in the value", sv);
            return -1;
        }
    fb->hname = strndup(sv, (size_t)(colon - sv));
    fb->hvalue = strdup(val);
    if (!fb->hname || !fb->hvalue) {
        config_err_set(err, path, "out of memory");
        return -1;
    }
    unsigned i;
    for (i = 0; i < c->nctl_headers; i++)
        if (strcasecmp(c->ctl_headers[i], fb->hname) == 0)
            return 0;
    if (c->nctl_headers == CONFIG_TARGETS_MAX) {
        config_err_set(err, path, "too many different fallback headers (at most %d)", CONFIG_TARGETS_MAX);
        return -1;
    }
    if ((c->ctl_headers[c->nctl_headers++] = strdup(fb->hname)) == NULL) {
        config_err_set(err, path, "out of memory");
        return -1;
    }
    return 0;
}

/* {"upstream": "http://host:port"}: another server, one of c->targets. */
static int parse_fb_upstream(const char *sv, const char *path, struct config *c,
                             struct config_fallback *fb, struct config_err *err)
{
    struct config tmp;
    unsigned i;

    memset(&tmp, 0, sizeof tmp);
    fb->kind = FB_UPSTREAM;
    if (parse_upstream(sv, &tmp, err) < 0) {
        snprintf(err->path, sizeof err->path, "%.*s", (int)sizeof err->path - 1, path);
        return -1;
    }
    for (i = 0; i < c->ntargets; i++)
        if (strcmp(c->targets[i].text, tmp.upstream.text) == 0)
            break;
    if (i == c->ntargets) {
        if (c->ntargets == CONFIG_TARGETS_MAX) {
            config_err_set(err, path, "too many different fallback upstreams (at most %d)", CONFIG_TARGETS_MAX - 1);
            return -1;
        }
        c->targets[i] = tmp.upstream;
        snprintf(c->target_host[i], sizeof c->target_host[i], "%s", tmp.upstream_host);
        c->ntargets++;
    }
    fb->target = i;
    return 0;
}

/* Parses one fallback object at <kpath> into <fb>. */
static int parse_fallback(json_t *o, const char *kpath, struct config *c, struct config_fallback *fb,
                          struct config_err *err)
{
    char path[CONFIG_PATH_MAX + 16];

    if (!json_is_object(o) || json_object_size(o) != 1) {
        config_err_set(err, kpath, "expected one of {\"file\": \"dist/index.html\"}, {\"header\": \"X-SSR-Off: 1\"}, "
                       "{\"upstream\": \"http://127.0.0.1:5173\"}");
        return -1;
    }
    if (check_keys(o, "fallback", kpath, 0, err) < 0)
        return -1;
    const char *key = json_object_iter_key(json_object_iter(o));
    json_t *v = json_object_get(o, key);
    snprintf(path, sizeof path, "%s.%s", kpath, key);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        config_err_set(err, path, "expected a non-empty string");
        return -1;
    }
    const char *sv = json_string_value(v);
    if ((fb->text = malloc(strlen(key) + strlen(sv) + 4)) == NULL) {
        config_err_set(err, path, "out of memory");
        return -1;
    }
    sprintf(fb->text, "%s: %s", key, sv);
    if (strcmp(key, "file") == 0) {
        char why[CONFIG_TEXT_MAX / 2];
        fb->kind = FB_FILE;
        if ((fb->path = strdup(sv)) == NULL)
            return -1;
        if (fallback_blob_read(sv, &fb->blob, why, sizeof why) < 0) {
            config_err_set(err, path, "'%s': %s", sv, why);
            return -1;
        }
        fb->content_type = content_type_of(sv);
        return 0;
    }
    if (strcmp(key, "header") == 0)
        return parse_fb_header(sv, path, c, fb, err);
    return parse_fb_upstream(sv, path, c, fb, err);
}

static void free_fallback(struct config_fallback *fb)
{
    free(fb->path);
    fallback_blob_unref(fb->blob);
    free(fb->hname);
    free(fb->hvalue);
    free(fb->text);
    memset(fb, 0, sizeof *fb);
}

/* ---- routes ------------------------------------------------------------- */

/* Each route's "name" and "match", for route_table_new(). */
static int route_patterns(json_t *routes, size_t nr, const char **names, const char **pats,
                          struct config_err *err)
{
    static const char *const req[] = { "name", "match" };

    for (size_t i = 0; i < nr; i++) {
        json_t *r = json_array_get(routes, i), *v;
        char path[CONFIG_PATH_MAX + 16], base[CONFIG_PATH_MAX - 16];
        snprintf(base, sizeof base, "routes[%zu]", i);
        if (!json_is_object(r)) {
            config_err_set(err, base, "expected an object like {\"name\": \"home\", \"match\": \"/\"}, got %s",
                           json_type_name(r));
            return -1;
        }
        if (check_keys(r, "routes[]", base, 0, err) < 0)
            return -1;
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s.%s", base, req[k]);
            if ((v = json_object_get(r, req[k])) == NULL) {
                config_err_set(err, path, "missing");
                return -1;
            }
            if (!json_is_string(v)) {
                config_err_set(err, path, "expected a string, got %s", json_type_name(v));
                return -1;
            }
            if (json_string_length(v) != strlen(json_string_value(v))) {
                config_err_set(err, path, "must not contain NUL characters");
                return -1;
            }
        }
        names[i] = json_string_value(json_object_get(r, "name"));
        pats[i] = json_string_value(json_object_get(r, "match"));
    }
    return 0;
}

/* Route <i> (id i + 1): "mode", "never_csr", "fallback". */
static int route_options(json_t *r, size_t i, struct config *c, struct config_err *err)
{
    char path[CONFIG_PATH_MAX + 16], base[CONFIG_PATH_MAX - 16];
    json_t *v;

    snprintf(base, sizeof base, "routes[%zu]", i);
    if ((v = json_object_get(r, "mode")) != NULL) {
        snprintf(path, sizeof path, "%s.mode", base);
        if (!json_is_string(v) || (strcmp(json_string_value(v), "ssr") != 0 &&
                                   strcmp(json_string_value(v), "csr") != 0)) {
            config_err_set(err, path, "expected \"ssr\" or \"csr\"");
            return -1;
        }
        c->route_csr[i + 1] = strcmp(json_string_value(v), "csr") == 0;
    }
    if ((v = json_object_get(r, "never_csr")) != NULL) {
        snprintf(path, sizeof path, "%s.never_csr", base);
        if (!json_is_boolean(v)) {
            config_err_set(err, path, "expected true or false, got %s", json_type_name(v));
            return -1;
        }
        c->route_never_csr[i + 1] = json_is_true(v);
    }
    if (c->route_csr[i + 1] && c->route_never_csr[i + 1]) {
        snprintf(path, sizeof path, "%s.mode", base);
        config_err_set(err, path, "\"csr\" contradicts \"never_csr\": true");
        return -1;
    }
    if ((v = json_object_get(r, "fallback")) != NULL) {
        snprintf(path, sizeof path, "%s.fallback", base);
        if (parse_fallback(v, path, c, &c->route_fb[i + 1], err) < 0)
            return -1;
    }
    return 0;
}

/* The per-route arrays and options, once the route table exists. */
static int route_settings(json_t *routes, size_t nr, struct config *c, struct config_err *err)
{
    c->targets[0] = c->upstream;
    snprintf(c->target_host[0], sizeof c->target_host[0], "%s", c->upstream_host);
    c->ntargets = 1;
    c->route_fb = calloc(nr + 1, sizeof *c->route_fb);
    c->nroute_fb = (unsigned)nr + 1;
    c->route_csr = calloc(nr + 1, 1);
    c->route_never_csr = calloc(nr + 1, 1);
    if (!c->route_fb || !c->route_csr || !c->route_never_csr) {
        config_err_set(err, "routes", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nr; i++)
        if (route_options(json_array_get(routes, i), i, c, err) < 0)
            return -1;
    return 0;
}

static int parse_routes(json_t *routes, struct config *c, struct config_err *err)
{
    const char **names = NULL, **pats = NULL;
    int rc = -1;

    if (routes && !json_is_array(routes)) {
        config_err_set(err, "routes", "expected an array, got %s", json_type_name(routes));
        return -1;
    }
    size_t nr = routes ? json_array_size(routes) : 0;
    names = calloc(nr + 1, sizeof *names);
    pats = calloc(nr + 1, sizeof *pats);
    if (!names || !pats)
        config_err_set(err, "routes", "out of memory");
    else if (route_patterns(routes, nr, names, pats, err) == 0 &&
             (c->routes = route_table_new(names, pats, (unsigned)nr, err)) != NULL) {
        rc = route_settings(routes, nr, c, err);
        if (rc < 0) {
            route_table_free(c->routes);
            c->routes = NULL;
        }
    }
    free(names);
    free(pats);
    return rc;
}

/* A route that starts in "csr" needs something to serve. */
static int check_csr_fallbacks(const struct config *c, struct config_err *err)
{
    for (unsigned id = 1; id < route_count(c->routes); id++)
        if (c->route_csr[id] && c->route_fb[id].kind == FB_NONE && c->fallback.kind == FB_NONE) {
            char path[CONFIG_PATH_MAX];
            snprintf(path, sizeof path, "routes[%u].mode", id - 1);
            config_err_set(err, path, "\"csr\" needs a fallback: set \"fallback\" at the top or on the route");
            return -1;
        }
    return 0;
}

/* ---- the whole file ----------------------------------------------------- */

/* listen, upstream, admin, admin_token: a public admin address needs a token. */
static int parse_addresses(json_t *root, struct config *c, struct config_err *err)
{
    if (parse_top(root, "listen", c, err) < 0 || parse_top(root, "upstream", c, err) < 0 ||
        parse_top(root, "admin", c, err) < 0 || parse_top(root, "admin_token", c, err) < 0)
        return -1;
    if (!config_addr_is_loopback(&c->admin) && c->admin_token == NULL) {
        config_err_set(err, "admin", "'%s' is not a loopback address: set \"admin_token\" "
                       "(admin requests then need \"Authorization: Bearer <token>\")", c->admin.text);
        return -1;
    }
    return 0;
}

/* timeouts, limits, attribution: max_request_line defaults to at most
 * max_header_bytes and may not exceed it. */
static int parse_tuning(json_t *root, struct config *c, struct config_err *err)
{
    if (parse_top(root, "timeouts", c, err) < 0 || parse_top(root, "limits", c, err) < 0 ||
        parse_top(root, "attribution", c, err) < 0)
        return -1;
    json_t *lims = json_object_get(root, "limits");
    if (c->limits.max_request_line > c->limits.max_header_bytes &&
        !(lims && json_object_get(lims, "max_request_line")))
        c->limits.max_request_line = c->limits.max_header_bytes;   /* default follows */
    if (c->limits.max_request_line > c->limits.max_header_bytes) {
        config_err_set(err, "limits.max_request_line", "must not exceed limits.max_header_bytes (%d)",
                       c->limits.max_header_bytes);
        return -1;
    }
    return 0;
}

static int config_build(json_t *root, struct config *c, struct config_err *err)
{
    if (!json_is_object(root)) {
        config_err_set(err, "", "expected a JSON object at the top");
        return -1;
    }
    if (check_keys(root, "", "", 0, err) < 0 || parse_addresses(root, c, err) < 0 ||
        parse_tuning(root, c, err) < 0 || parse_routes(json_object_get(root, "routes"), c, err) < 0)
        return -1;
    if (parse_top(root, "access_log", c, err) < 0 || parse_top(root, "log_file", c, err) < 0 ||
        parse_top(root, "log_level", c, err) < 0)
        return -1;
    json_t *mem = json_object_get(root, "memory");
    if (mem && parse_memory(mem, c, err) < 0)
        return -1;
    reserve_memory_paths(c);
    json_t *gfb = json_object_get(root, "fallback");
    if ((gfb && parse_fallback(gfb, "fallback", c, &c->fallback, err) < 0) ||
        check_csr_fallbacks(c, err) < 0)
        return -1;
    json_t *guard = json_object_get(root, "guard");
    if (guard && parse_guard(guard, c, err) < 0)
        return -1;
    return parse_top(root, "event_log", c, err);
}

struct config *config_parse(const char *text, size_t len, const char *name,
                            struct config_err *err)
{
    struct config *c = calloc(1, sizeof *c);
    json_error_t jerr;
    json_t *root;
    struct keylines kl = { 0 };

    memset(err, 0, sizeof *err);
    if (c == NULL || (c->file = strdup(name)) == NULL) {
        config_err_set(err, "", "out of memory");
        goto fail;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        err->line = jerr.line > 0 ? jerr.line : 0;
        err->column = jerr.column > 0 ? jerr.column : 0;
        config_err_set(err, "", "invalid JSON: %s", jerr.text);
        goto fail;
    }
    keyline_scan(text, len, &kl);
    if (config_build(root, c, err) < 0) {
        err->line = keyline_find(&kl, err->path);
        json_decref(root);
        free(kl.v);
        goto fail;
    }
    json_decref(root);
    free(kl.v);
    return c;
fail:
    config_free(c);
    return NULL;
}

struct config *config_load(const char *file, struct config_err *err)
{
    FILE *f = fopen(file, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    struct config *c = NULL;

    memset(err, 0, sizeof *err);
    if (f == NULL) {
        config_err_set(err, "", "cannot open: %s", strerror(errno));
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (64u << 20)) {
                config_err_set(err, "", "file too large");
                goto out;
            }
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                config_err_set(err, "", "out of memory");
                goto out;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        config_err_set(err, "", "read error: %s", strerror(errno));
        goto out;
    }
    c = config_parse(buf, len, file, err);
out:
    fclose(f);
    free(buf);
    return c;
}

void config_free(struct config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (ckeys[i].type == K_STR || ckeys[i].type == K_STR_NULL)
            free(*(char **)((char *)c + ckeys[i].off));
    for (unsigned id = 0; c->route_fb && id < c->nroute_fb; id++)
        free_fallback(&c->route_fb[id]);
    free(c->reserved_paths[0]);
    free(c->reserved_paths[1]);
    free(c->route_fb);
    free(c->route_csr);
    free(c->route_never_csr);
    free_fallback(&c->fallback);
    for (unsigned i = 0; i < c->nctl_headers; i++)
        free(c->ctl_headers[i]);
    route_table_free(c->routes);
    free(c->guard.listed);
    free(c->file);
    free(c);
}
