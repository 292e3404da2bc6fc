/* config.c -- load and validate the JSON config. See config.h.
 *
 * Three steps: jansson parses (syntax errors come with line and column);
 * keyline_scan() walks the raw text once and records the line of every key
 * path; config_build() checks the tree against the schema below. Scalar keys
 * of the "timeouts" and "limits" sections are rows of one table (name,
 * bounds, default, target field), as Redis does with its config. */
#include "config.h"
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

struct config_int {
    const char *section, *name;
    int64_t min, max, def;
    size_t off;
    int is64;
};

#define CI(sec, name, min, max, def, field) \
    { sec, #name, min, max, def, offsetof(struct config, field), 0 }
static const struct config_int config_ints[] = {
    CI("timeouts", connect_ms, 1, 3600000, 2000, timeouts.connect_ms),
    CI("timeouts", response_ms, 1, 86400000, 30000, timeouts.response_ms),
    CI("timeouts", client_idle_ms, 1, 86400000, 60000, timeouts.client_idle_ms),
    CI("timeouts", header_ms, 1, 3600000, 10000, timeouts.header_ms),
    CI("timeouts", upstream_idle_ms, 1, 86400000, 4000, timeouts.upstream_idle_ms),
    CI("timeouts", drain_ms, 0, 3600000, 10000, timeouts.drain_ms),
    CI("limits", max_header_bytes, 1024, 16777216, 65536, limits.max_header_bytes),
    CI("limits", max_headers, 1, 10000, 100, limits.max_headers),
    CI("limits", max_request_line, 64, 16777216, 8192, limits.max_request_line),
    { "limits", "max_body_bytes", 0, INT64_C(1) << 50, 10485760,
      offsetof(struct config, limits.max_body_bytes), 1 },
    CI("limits", max_connections, 1, 1000000, 10000, limits.max_connections),
    CI("limits", upstream_idle, 0, 1000000, 512, limits.upstream_idle),
    CI("attribution", interval_ms, 100, 3600000, 2000, attrib.interval_ms),
    CI("attribution", window_rows, 16, SERIES_ROWS, 600, attrib.window_rows),
    { "attribution", "min_leak_bytes", 1, INT64_C(1) << 40, 4096,
      offsetof(struct config, attrib.min_leak_bytes), 1 },
    CI("attribution", confirm_requests, 1, 100000000, 200, attrib.confirm_requests),
    CI("attribution", min_requests, 1, 100000000, 30, attrib.min_requests),
    CI("attribution", max_routes, 1, 2000, 100, attrib.max_routes),
};
#define NINTS (sizeof config_ints / sizeof config_ints[0])

static const char *const top_keys[] = {
    "listen", "upstream", "admin", "admin_token", "routes", "timeouts",
    "limits", "access_log", "log_file", "log_level", "memory", "attribution", "fallback",
    "guard", "event_log", NULL
};
static const char *const route_keys[] = { "name", "match", "mode", "never_csr", "fallback", NULL };

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

/* Fails on the first key of <obj> not in <allowed>, suggesting the nearest. */
static int check_keys(json_t *obj, const char *const *allowed, const char *base,
                      struct config_err *err)
{
    const char *key;
    json_t *v;
    char path[CONFIG_PATH_MAX];

    json_object_foreach(obj, key, v) {
        const char *best = NULL;
        size_t bestd = 3;
        int ok = 0;
        for (const char *const *k = allowed; *k; k++) {
            if (strcmp(*k, key) == 0) {
                ok = 1;
                break;
            }
            size_t d = edit_distance(key, *k);
            if (d < bestd) {
                bestd = d;
                best = *k;
            }
        }
        if (ok)
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

/* Optional string; <out> is strdup'ed (NULL if absent or null and allowed). */
static int get_string(json_t *obj, const char *key, const char *path, int allow_null,
                      char **out, struct config_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || (allow_null && json_is_null(v)))
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

/* ---- "memory" ----------------------------------------------------------- */

static int get_int(json_t *obj, const char *key, const char *base, int64_t min, int64_t max,
                   int64_t *out, struct config_err *err)
{
    char path[CONFIG_PATH_MAX];
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    snprintf(path, sizeof path, "%s.%s", base, key);
    if (!json_is_integer(v)) {
        config_err_set(err, path, "expected an integer, got %s", json_type_name(v));
        return -1;
    }
    json_int_t n = json_integer_value(v);
    if (n < min || n > max) {
        config_err_set(err, path, "%lld is out of range [%lld, %lld]", (long long)n,
                       (long long)min, (long long)max);
        return -1;
    }
    *out = n;
    return 0;
}

static int get_str(json_t *obj, const char *key, const char *base, char **out,
                   struct config_err *err)
{
    char path[CONFIG_PATH_MAX];
    snprintf(path, sizeof path, "%s.%s", base, key);
    return get_string(obj, key, path, 0, out, err);
}

static int check_http_url(const char *url, const char *path, struct config_err *err)
{
    if (strncmp(url, "http://", 7) != 0 || url[7] == '\0' || url[7] == '/') {
        config_err_set(err, path, "'%s': expected \"http://host:port/path\"", url);
        return -1;
    }
    return 0;
}

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

static int get_bool(json_t *o, const char *key, const char *base, int *out, struct config_err *err);

/* memory.rows: {"design": bool, "min_requests", "max_requests", "hold_ms", "overflow": bool} */
static int parse_rows(json_t *m, struct config_memory *mc, struct config_err *err)
{
    static const char *const keys[] = { "design", "min_requests", "max_requests", "hold_ms", "overflow", NULL };
    json_t *r = json_object_get(m, "rows");
    int64_t v;

    mc->design = mc->gc_url != NULL;
    mc->row_min = ROWS_MIN_DEFAULT;
    mc->row_max = ROWS_MAX_DEFAULT;
    mc->hold_ms = ROWS_HOLD_MS;
    mc->row_overflow = 1;
    if (r == NULL)
        return 0;
    if (!json_is_object(r)) {
        config_err_set(err, "memory.rows", "expected an object like {\"design\": true, \"min_requests\": 20}, got %s",
                       json_type_name(r));
        return -1;
    }
    if (check_keys(r, keys, "memory.rows", err) < 0 || get_bool(r, "design", "memory.rows", &mc->design, err) < 0)
        return -1;
    if (mc->design && !mc->gc_url) {
        config_err_set(err, "memory.rows.design", "needs \"gc_url\": a designed row ends with a forced-GC reading");
        return -1;
    }
    v = mc->row_min;
    if (get_int(r, "min_requests", "memory.rows", 1, 100000, &v, err) < 0)
        return -1;
    mc->row_min = (int)v;
    v = mc->row_max > mc->row_min ? mc->row_max : mc->row_min;
    if (get_int(r, "max_requests", "memory.rows", 1, 100000, &v, err) < 0)
        return -1;
    mc->row_max = (int)v;
    if (mc->row_max < mc->row_min) {
        config_err_set(err, "memory.rows.max_requests", "%d is below min_requests (%d)", mc->row_max, mc->row_min);
        return -1;
    }
    v = mc->hold_ms;
    if (get_int(r, "hold_ms", "memory.rows", 0, 60000, &v, err) < 0)
        return -1;
    mc->hold_ms = (int)v;
    if (get_bool(r, "overflow", "memory.rows", &mc->row_overflow, err) < 0)
        return -1;
    return 0;
}

static int parse_memory(json_t *m, struct config_memory *mc, struct config_err *err)
{
    static const char *const names[] = { "proc", "cgroup", "http", "prometheus", "header", NULL };
    static const char *const common[] = { "source", "interval_ms", "timeout_ms", "floor_window_ms",
                                          "limit_bytes" };
    static const char *const extra[][10] = {
        { "pid", "pidfile", "process", "children", NULL },
        { "path", NULL },
        { "url", "gc_url", "gc_interval_ms", "max_gc_duty", "quiesce_ms", "rows", NULL },
        { "url", "metrics", "worker_label", NULL },
        { "header", "strip", NULL },
    };
    const char *allowed[20];
    char *src = NULL;
    int64_t v;

    if (!json_is_object(m)) {
        config_err_set(err, "memory", "expected an object like {\"source\": \"http\", \"url\": ...}, got %s",
                       json_type_name(m));
        return -1;
    }
    if (json_object_get(m, "source") == NULL) {
        config_err_set(err, "memory.source", "missing: one of \"proc\", \"cgroup\", \"http\", "
                       "\"prometheus\", \"header\"");
        return -1;
    }
    if (get_str(m, "source", "memory", &src, err) < 0)
        return -1;
    int k;
    for (k = 0; names[k]; k++)
        if (strcmp(names[k], src) == 0)
            break;
    if (names[k] == NULL) {
        config_err_set(err, "memory.source", "'%s': expected \"proc\", \"cgroup\", \"http\", "
                       "\"prometheus\" or \"header\"", src);
        free(src);
        return -1;
    }
    free(src);
    mc->source = (enum memsrc_kind)(k + 1);
    size_t na = 0;
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        allowed[na++] = common[i];
    for (size_t i = 0; extra[k][i]; i++)
        allowed[na++] = extra[k][i];
    allowed[na] = NULL;
    if (check_keys(m, allowed, "memory", err) < 0) {
        /* say when the key belongs to another source */
        const char *key;
        json_t *x;
        json_object_foreach(m, key, x) {
            for (int o = 0; names[o]; o++)
                for (size_t i = 0; extra[o][i]; i++)
                    if (o != k && strcmp(extra[o][i], key) == 0) {
                        snprintf(err->text, sizeof err->text,
                                 "not a key of the \"%s\" source (it belongs to \"%s\")", names[k], names[o]);
                        return -1;
                    }
        }
        return -1;
    }
    mc->interval_ms = 1000;
    mc->timeout_ms = 2000;
    mc->floor_window_ms = 30000;
    mc->gc_interval_ms = 1000;
    mc->max_gc_duty = 0.05;
    mc->strip = 1;
    v = mc->interval_ms;
    if (get_int(m, "interval_ms", "memory", 10, 3600000, &v, err) < 0)
        return -1;
    mc->interval_ms = (int)v;
    v = mc->interval_ms * 2 < 2000 ? mc->interval_ms * 2 : 2000;
    if (get_int(m, "timeout_ms", "memory", 1, 600000, &v, err) < 0)
        return -1;
    mc->timeout_ms = (int)v;
    v = mc->floor_window_ms;
    if (get_int(m, "floor_window_ms", "memory", 100, 3600000, &v, err) < 0)
        return -1;
    mc->floor_window_ms = (int)v;
    if (get_int(m, "limit_bytes", "memory", 0, INT64_C(1) << 50, &mc->limit_bytes, err) < 0)
        return -1;

    switch (mc->source) {
    case MEMSRC_PROC: {
        int given = 0;
        if (get_int(m, "pid", "memory", 1, 0x7fffffff, &mc->pid, err) < 0 ||
            get_str(m, "pidfile", "memory", &mc->pidfile, err) < 0 ||
            get_str(m, "process", "memory", &mc->process, err) < 0)
            return -1;
        given = (mc->pid != 0) + (mc->pidfile != NULL) + (mc->process != NULL);
        if (given != 1) {
            config_err_set(err, "memory", "the proc source needs exactly one of \"pid\", \"pidfile\", \"process\"");
            return -1;
        }
        json_t *c = json_object_get(m, "children");
        if (c && !json_is_boolean(c)) {
            config_err_set(err, "memory.children", "expected true or false, got %s", json_type_name(c));
            return -1;
        }
        mc->children = json_is_true(c);
        break;
    }
    case MEMSRC_CGROUP:
        if (json_object_get(m, "path") == NULL) {
            config_err_set(err, "memory.path", "missing: a cgroup directory, e.g. \"/sys/fs/cgroup/ssr\"");
            return -1;
        }
        if (get_str(m, "path", "memory", &mc->path, err) < 0)
            return -1;
        break;
    case MEMSRC_HTTP:
    case MEMSRC_PROMETHEUS:
        if (json_object_get(m, "url") == NULL) {
            config_err_set(err, "memory.url", "missing (e.g. \"http://127.0.0.1:3000/%s\")",
                           mc->source == MEMSRC_HTTP ? "__mem" : "metrics");
            return -1;
        }
        if (get_str(m, "url", "memory", &mc->url, err) < 0 ||
            check_http_url(mc->url, "memory.url", err) < 0)
            return -1;
        if (mc->source == MEMSRC_HTTP) {
            if (get_str(m, "gc_url", "memory", &mc->gc_url, err) < 0 ||
                (mc->gc_url && check_http_url(mc->gc_url, "memory.gc_url", err) < 0))
                return -1;
            v = mc->gc_interval_ms;
            if (get_int(m, "gc_interval_ms", "memory", 10, 86400000, &v, err) < 0)
                return -1;
            mc->gc_interval_ms = (int)v;
            if (parse_rows(m, mc, err) < 0)
                return -1;
            /* designed rows read a floor per row: they need the in-flight
             * requests done (quiesce) and a budget that allows a floor per
             * row; both defaults follow (an explicit value wins) */
            v = mc->design ? ROWS_QUIESCE_MS : 0;
            if (get_int(m, "quiesce_ms", "memory", 0, 10000, &v, err) < 0)
                return -1;
            mc->quiesce_ms = (int)v;
            if (mc->quiesce_ms && !mc->gc_url) {
                config_err_set(err, "memory.quiesce_ms", "only works with \"gc_url\" (it holds requests for a forced GC)");
                return -1;
            }
            if (mc->design)
                mc->max_gc_duty = ROWS_MAX_GC_DUTY;
            json_t *d = json_object_get(m, "max_gc_duty");
            if (d) {
                if (!json_is_number(d) || json_number_value(d) <= 0 || json_number_value(d) > 1) {
                    config_err_set(err, "memory.max_gc_duty", "expected a number in (0, 1], e.g. 0.05");
                    return -1;
                }
                mc->max_gc_duty = json_number_value(d);
            }
        } else {
            json_t *mm = json_object_get(m, "metrics");
            static const char *const mkeys[] = { "rss", "heap_used", "heap_total", "external",
                                                 "heap_limit", NULL };
            if (mm) {
                if (!json_is_object(mm)) {
                    config_err_set(err, "memory.metrics", "expected an object of metric names");
                    return -1;
                }
                if (check_keys(mm, mkeys, "memory.metrics", err) < 0)
                    return -1;
            }
            char **dst[] = { &mc->m_rss, &mc->m_heap_used, &mc->m_heap_total, &mc->m_external,
                             &mc->m_heap_limit };
            const char *defs[] = { "process_resident_memory_bytes", "nodejs_heap_size_used_bytes",
                                   "nodejs_heap_size_total_bytes", "nodejs_external_memory_bytes",
                                   NULL };
            for (int i = 0; i < 5; i++) {
                if (mm && json_object_get(mm, mkeys[i])) {
                    if (get_str(mm, mkeys[i], "memory.metrics", dst[i], err) < 0)
                        return -1;
                } else if (i < 4 && (*dst[i] = strdup(defs[i])) == NULL) {
                    config_err_set(err, "memory", "out of memory");
                    return -1;
                }
            }
            if (get_str(m, "worker_label", "memory", &mc->worker_label, err) < 0)
                return -1;
        }
        break;
    case MEMSRC_HEADER: {
        if (get_str(m, "header", "memory", &mc->header, err) < 0)
            return -1;
        if (mc->header == NULL && (mc->header = strdup("X-Leakproxy-Memory")) == NULL) {
            config_err_set(err, "memory", "out of memory");
            return -1;
        }
        for (const char *c = mc->header; *c; c++)
            if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_')) {
                config_err_set(err, "memory.header", "'%s' is not a header name", mc->header);
                return -1;
            }
        json_t *st = json_object_get(m, "strip");
        if (st && !json_is_boolean(st)) {
            config_err_set(err, "memory.strip", "expected true or false, got %s", json_type_name(st));
            return -1;
        }
        if (st)
            mc->strip = json_is_true(st);
        break;
    }
    default:
        break;
    }
    return 0;
}

/* ---- guard -------------------------------------------------------------- */

static int get_fraction(json_t *o, const char *key, double *out, struct config_err *err)
{
    json_t *d = json_object_get(o, key);
    char path[CONFIG_PATH_MAX];

    if (d == NULL)
        return 0;
    snprintf(path, sizeof path, "guard.%s", key);
    if (!json_is_number(d) || json_number_value(d) <= 0 || json_number_value(d) > 1) {
        config_err_set(err, path, "expected a number in (0, 1], e.g. 0.8");
        return -1;
    }
    *out = json_number_value(d);
    return 0;
}

static int get_bool(json_t *o, const char *key, const char *base, int *out, struct config_err *err)
{
    json_t *b = json_object_get(o, key);
    char path[CONFIG_PATH_MAX];

    if (b == NULL)
        return 0;
    if (!json_is_boolean(b)) {
        snprintf(path, sizeof path, "%s.%s", base, key);
        config_err_set(err, path, "expected true or false, got %s", json_type_name(b));
        return -1;
    }
    *out = json_is_true(b);
    return 0;
}

/* Needs the routes (a list names them) and the memory source. */
static int parse_guard(json_t *g, struct config *c, struct config_err *err)
{
    static const char *const keys[] = {
        "metric", "high_bytes", "low_bytes", "high_fraction", "low_fraction", "min_minutes_to_oom",
        "action", "hold_seconds", "max_switches_per_hour", "restore", "dry_run", "webhook",
        "webhook_format", "watch_ms", NULL
    };
    struct config_guard *gc = &c->guard;
    char *s = NULL;
    int64_t v;
    int rc = -1;

    if (!json_is_object(g)) {
        config_err_set(err, "guard", "expected an object like {\"high_bytes\": 1200000000, "
                       "\"action\": \"leaking\"}, got %s", json_type_name(g));
        return -1;
    }
    if (check_keys(g, keys, "guard", err) < 0)
        return -1;
    if (c->memory.source == MEMSRC_NONE) {
        config_err_set(err, "guard", "needs a \"memory\" source to watch");
        return -1;
    }
    gc->enabled = 1;
    gc->hold_seconds = 300;
    gc->max_switches_per_hour = 6;
    if (get_str(g, "metric", "guard", &s, err) < 0)
        return -1;
    gc->metric = 0;                   /* ATTRIB_HEAP */
    if (s) {
        static const char *const m[] = { "heap_used", "rss", "external" };
        for (gc->metric = 0; gc->metric < 3 && strcmp(m[gc->metric], s) != 0; gc->metric++)
            ;
        if (gc->metric == 3) {
            config_err_set(err, "guard.metric", "'%s': expected \"heap_used\", \"rss\" or \"external\"", s);
            goto out;
        }
        free(s);
        s = NULL;
    }
    if (gc->metric != 1 && (c->memory.source == MEMSRC_PROC || c->memory.source == MEMSRC_CGROUP)) {
        config_err_set(err, "guard.metric", "the %s source reports RSS only: use \"rss\"",
                       c->memory.source == MEMSRC_PROC ? "proc" : "cgroup");
        goto out;
    }
    if (get_int(g, "high_bytes", "guard", 1, INT64_C(1) << 50, &gc->high_bytes, err) < 0 ||
        get_int(g, "low_bytes", "guard", 1, INT64_C(1) << 50, &gc->low_bytes, err) < 0 ||
        get_fraction(g, "high_fraction", &gc->high_fraction, err) < 0 ||
        get_fraction(g, "low_fraction", &gc->low_fraction, err) < 0)
        goto out;
    v = 0;
    if (get_int(g, "min_minutes_to_oom", "guard", 1, 100000, &v, err) < 0)
        goto out;
    gc->min_minutes_to_oom = (int)v;
    if (gc->high_bytes && gc->high_fraction) {
        config_err_set(err, "guard.high_fraction", "set \"high_bytes\" or \"high_fraction\", not both");
        goto out;
    }
    if (!gc->high_bytes && !gc->high_fraction && !gc->min_minutes_to_oom) {
        config_err_set(err, "guard", "needs a trigger: \"high_bytes\", \"high_fraction\" "
                       "or \"min_minutes_to_oom\"");
        goto out;
    }
    if (gc->low_bytes && !gc->high_bytes) {
        config_err_set(err, "guard.low_bytes", "goes with \"high_bytes\"");
        goto out;
    }
    if (gc->low_fraction && !gc->high_fraction) {
        config_err_set(err, "guard.low_fraction", "goes with \"high_fraction\"");
        goto out;
    }
    if (gc->high_bytes && !gc->low_bytes)
        gc->low_bytes = gc->high_bytes / 4 * 3;      /* documented default: 75 % of high */
    if (gc->high_fraction && !gc->low_fraction)
        gc->low_fraction = gc->high_fraction * 0.75;
    if ((gc->high_bytes && gc->low_bytes >= gc->high_bytes) ||
        (gc->high_fraction && gc->low_fraction >= gc->high_fraction)) {
        config_err_set(err, gc->high_bytes ? "guard.low_bytes" : "guard.low_fraction",
                       "must be below the high threshold (the gap is the hysteresis)");
        goto out;
    }

    json_t *a = json_object_get(g, "action");
    unsigned nid = route_count(c->routes);
    if (a == NULL || (json_is_string(a) && strcmp(json_string_value(a), "leaking") == 0)) {
        gc->action = GUARD_LEAKING;
    } else if (json_is_string(a) && strcmp(json_string_value(a), "all") == 0) {
        gc->action = GUARD_ALL;
    } else if (json_is_array(a) && json_array_size(a) > 0) {
        gc->action = GUARD_LIST;
        if ((gc->listed = calloc(nid, 1)) == NULL) {
            config_err_set(err, "guard", "out of memory");
            goto out;
        }
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e) {
            char path[CONFIG_PATH_MAX];
            snprintf(path, sizeof path, "guard.action[%zu]", i);
            int id = json_is_string(e) ? route_find(c->routes, json_string_value(e)) : -1;
            if (!json_is_string(e)) {
                config_err_set(err, path, "expected a route name, got %s", json_type_name(e));
                goto out;
            }
            if (id <= 0) {
                config_err_set(err, path, "no route named '%s'", json_string_value(e));
                goto out;
            }
            if (c->route_never_csr[id]) {
                config_err_set(err, path, "route '%s' is \"never_csr\": the guard cannot switch it",
                               json_string_value(e));
                goto out;
            }
            gc->listed[id] = 1;
        }
    } else {
        config_err_set(err, "guard.action", "expected \"leaking\", \"all\" or a list of route names");
        goto out;
    }
    if (c->fallback.kind == FB_NONE) {
        for (unsigned id = 1; id < nid; id++) {
            if (c->route_fb[id].kind != FB_NONE || c->route_never_csr[id] ||
                (gc->action == GUARD_LIST && !gc->listed[id]))
                continue;
            config_err_set(err, "guard", "route '%s' has no fallback to serve when the guard switches "
                           "it off: set \"fallback\" at the top or on the route",
                           route_name(c->routes, id));
            goto out;
        }
    }
    v = gc->hold_seconds;
    if (get_int(g, "hold_seconds", "guard", 0, 86400 * 7, &v, err) < 0)
        goto out;
    gc->hold_seconds = (int)v;
    v = gc->max_switches_per_hour;
    if (get_int(g, "max_switches_per_hour", "guard", 1, GUARD_MAX_PER_HOUR, &v, err) < 0)
        goto out;
    gc->max_switches_per_hour = (int)v;
    v = 0;                            /* 0: from memory.interval_ms (guard.c) */
    if (get_int(g, "watch_ms", "guard", 500, 600000, &v, err) < 0)
        goto out;
    gc->watch_ms = (int)v;
    if (get_str(g, "restore", "guard", &s, err) < 0)
        goto out;
    if (s && strcmp(s, "on_recovery") == 0)
        gc->restore_on_recovery = 1;
    else if (s && strcmp(s, "manual") != 0) {
        config_err_set(err, "guard.restore", "'%s': expected \"manual\" or \"on_recovery\"", s);
        goto out;
    }
    free(s);
    s = NULL;
    if (get_bool(g, "dry_run", "guard", &gc->dry_run, err) < 0 ||
        get_str(g, "webhook", "guard", &gc->webhook, err) < 0 ||
        (gc->webhook && check_http_url(gc->webhook, "guard.webhook", err) < 0) ||
        get_str(g, "webhook_format", "guard", &s, err) < 0)
        goto out;
    if (s && strcmp(s, "alertmanager") == 0)
        gc->webhook_alertmanager = 1;
    else if (s && strcmp(s, "json") != 0) {
        config_err_set(err, "guard.webhook_format", "'%s': expected \"json\" or \"alertmanager\"", s);
        goto out;
    }
    rc = 0;
out:
    free(s);
    return rc;
}

/* ---- fallbacks ---------------------------------------------------------- */

void fb_blob_unref(struct fb_blob *b)
{
    if (b && --b->refs == 0)
        free(b);
}

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

static int read_blob(const char *path, struct fb_blob **out, const char *kpath, struct config_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        config_err_set(err, kpath, "'%s': %s", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) < 0) {
        fclose(f);
        config_err_set(err, kpath, "'%s': not a regular file", path);
        return -1;
    }
    long len = ftell(f);
    if (len < 0 || len > (16L << 20)) {
        fclose(f);
        config_err_set(err, kpath, "'%s': %s", path, len < 0 ? "cannot tell its size" : "larger than 16 MB");
        return -1;
    }
    rewind(f);
    struct fb_blob *b = malloc(sizeof *b + (size_t)len + 1);
    if (b == NULL || fread(b->data, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        fclose(f);
        config_err_set(err, kpath, "'%s': read error", path);
        return -1;
    }
    fclose(f);
    b->refs = 1;
    b->len = (size_t)len;
    *out = b;
    return 0;
}

/* Parses one fallback object at <kpath> into <fb>. */
static int parse_fallback(json_t *o, const char *kpath, struct config *c, struct config_fallback *fb,
                          struct config_err *err)
{
    static const char *const keys[] = { "file", "header", "upstream", NULL };
    char path[CONFIG_PATH_MAX + 16];

    if (!json_is_object(o) || json_object_size(o) != 1) {
        config_err_set(err, kpath, "expected one of {\"file\": \"dist/index.html\"}, {\"header\": \"X-SSR-Off: 1\"}, "
                       "{\"upstream\": \"http://127.0.0.1:5173\"}");
        return -1;
    }
    if (check_keys(o, keys, kpath, err) < 0)
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
        fb->kind = FB_FILE;
        if ((fb->path = strdup(sv)) == NULL || read_blob(sv, &fb->blob, path, err) < 0)
            return -1;
        fb->content_type = content_type_of(sv);
    } else if (strcmp(key, "header") == 0) {
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
                break;
        if (i == c->nctl_headers) {
            if (c->nctl_headers == CONFIG_TARGETS_MAX) {
                config_err_set(err, path, "too many different fallback headers (at most %d)", CONFIG_TARGETS_MAX);
                return -1;
            }
            if ((c->ctl_headers[c->nctl_headers++] = strdup(fb->hname)) == NULL) {
                config_err_set(err, path, "out of memory");
                return -1;
            }
        }
    } else {
        struct config tmp;
        memset(&tmp, 0, sizeof tmp);
        fb->kind = FB_UPSTREAM;
        if (parse_upstream(sv, &tmp, err) < 0) {
            snprintf(err->path, sizeof err->path, "%.*s", (int)sizeof err->path - 1, path);
            return -1;
        }
        unsigned i;
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
    }
    return 0;
}

static void fallback_free(struct config_fallback *fb)
{
    free(fb->path);
    fb_blob_unref(fb->blob);
    free(fb->hname);
    free(fb->hvalue);
    free(fb->text);
    memset(fb, 0, sizeof *fb);
}

static int config_build(json_t *root, struct config *c, struct config_err *err)
{
    char *s = NULL;
    const char *why;
    int rc = -1;

    if (!json_is_object(root)) {
        config_err_set(err, "", "expected a JSON object at the top");
        return -1;
    }
    if (check_keys(root, top_keys, "", err) < 0)
        return -1;

    /* listen, upstream: required */
    if (json_object_get(root, "listen") == NULL) {
        config_err_set(err, "listen", "missing (e.g. \"127.0.0.1:8080\")");
        return -1;
    }
    if (get_string(root, "listen", "listen", 0, &s, err) < 0)
        return -1;
    if (config_parse_addr(s, &c->listen, &why) < 0) {
        config_err_set(err, "listen", "'%s': %s", s, why);
        goto out;
    }
    free(s);
    s = NULL;
    if (json_object_get(root, "upstream") == NULL) {
        config_err_set(err, "upstream", "missing (e.g. \"http://127.0.0.1:3000\")");
        return -1;
    }
    if (get_string(root, "upstream", "upstream", 0, &s, err) < 0 || parse_upstream(s, c, err) < 0)
        goto out;
    free(s);
    s = NULL;

    if (get_string(root, "admin", "admin", 0, &s, err) < 0)
        goto out;
    if (config_parse_addr(s ? s : "127.0.0.1:9091", &c->admin, &why) < 0) {
        config_err_set(err, "admin", "'%s': %s", s, why);
        goto out;
    }
    free(s);
    s = NULL;
    if (get_string(root, "admin_token", "admin_token", 1, &c->admin_token, err) < 0)
        goto out;
    if (c->admin_token && strlen(c->admin_token) < 16) {
        config_err_set(err, "admin_token", "too short: use at least 16 characters");
        goto out;
    }
    if (!config_addr_is_loopback(&c->admin) && c->admin_token == NULL) {
        config_err_set(err, "admin", "'%s' is not a loopback address: set \"admin_token\" "
                       "(admin requests then need \"Authorization: Bearer <token>\")", c->admin.text);
        goto out;
    }

    /* timeouts, limits */
    for (size_t i = 0; i < NINTS; i++) {
        const struct config_int *ci = &config_ints[i];
        char *field = (char *)c + ci->off;
        if (ci->is64)
            *(int64_t *)field = ci->def;
        else
            *(int *)field = (int)ci->def;
    }
    static const char *const sections[] = { "timeouts", "limits", "attribution" };
    for (int sec = 0; sec < 3; sec++) {
        json_t *obj = json_object_get(root, sections[sec]);
        const char *allowed[32];
        size_t na = 0;
        if (obj == NULL)
            continue;
        if (!json_is_object(obj)) {
            config_err_set(err, sections[sec], "expected an object, got %s", json_type_name(obj));
            goto out;
        }
        for (size_t i = 0; i < NINTS; i++)
            if (strcmp(config_ints[i].section, sections[sec]) == 0)
                allowed[na++] = config_ints[i].name;
        if (strcmp(sections[sec], "attribution") == 0)
            allowed[na++] = "auto_probe";
        allowed[na] = NULL;
        if (check_keys(obj, allowed, sections[sec], err) < 0)
            goto out;
        if (strcmp(sections[sec], "attribution") == 0 &&
            get_bool(obj, "auto_probe", "attribution", &c->attrib.auto_probe, err) < 0)
            goto out;
        for (size_t i = 0; i < NINTS; i++) {
            const struct config_int *ci = &config_ints[i];
            char path[CONFIG_PATH_MAX];
            json_t *v;
            if (strcmp(ci->section, sections[sec]) != 0 ||
                (v = json_object_get(obj, ci->name)) == NULL)
                continue;
            snprintf(path, sizeof path, "%s.%s", ci->section, ci->name);
            if (!json_is_integer(v)) {
                config_err_set(err, path, "expected an integer, got %s", json_type_name(v));
                goto out;
            }
            json_int_t n = json_integer_value(v);
            if (n < ci->min || n > ci->max) {
                config_err_set(err, path, "%lld is out of range [%lld, %lld]", (long long)n,
                               (long long)ci->min, (long long)ci->max);
                goto out;
            }
            char *field = (char *)c + ci->off;
            if (ci->is64)
                *(int64_t *)field = n;
            else
                *(int *)field = (int)n;
        }
    }
    json_t *lims = json_object_get(root, "limits");
    if (c->limits.max_request_line > c->limits.max_header_bytes &&
        !(lims && json_object_get(lims, "max_request_line")))
        c->limits.max_request_line = c->limits.max_header_bytes;   /* default follows */
    if (c->limits.max_request_line > c->limits.max_header_bytes) {
        config_err_set(err, "limits.max_request_line", "must not exceed limits.max_header_bytes (%d)",
                       c->limits.max_header_bytes);
        goto out;
    }

    /* routes */
    json_t *routes = json_object_get(root, "routes");
    const char **names = NULL, **pats = NULL;
    size_t nr = 0;
    if (routes && !json_is_array(routes)) {
        config_err_set(err, "routes", "expected an array, got %s", json_type_name(routes));
        goto out;
    }
    nr = routes ? json_array_size(routes) : 0;
    names = calloc(nr + 1, sizeof *names);
    pats = calloc(nr + 1, sizeof *pats);
    if (!names || !pats) {
        config_err_set(err, "routes", "out of memory");
        goto routes_out;
    }
    for (size_t i = 0; i < nr; i++) {
        json_t *r = json_array_get(routes, i), *v;
        char path[CONFIG_PATH_MAX + 16], base[CONFIG_PATH_MAX - 16];
        snprintf(base, sizeof base, "routes[%zu]", i);
        if (!json_is_object(r)) {
            config_err_set(err, base, "expected an object like {\"name\": \"home\", \"match\": \"/\"}, got %s",
                           json_type_name(r));
            goto routes_out;
        }
        if (check_keys(r, route_keys, base, err) < 0)
            goto routes_out;
        static const char *const req[] = { "name", "match" };
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s.%s", base, req[k]);
            if ((v = json_object_get(r, req[k])) == NULL) {
                config_err_set(err, path, "missing");
                goto routes_out;
            }
            if (!json_is_string(v)) {
                config_err_set(err, path, "expected a string, got %s", json_type_name(v));
                goto routes_out;
            }
            if (json_string_length(v) != strlen(json_string_value(v))) {
                config_err_set(err, path, "must not contain NUL characters");
                goto routes_out;
            }
        }
        names[i] = json_string_value(json_object_get(r, "name"));
        pats[i] = json_string_value(json_object_get(r, "match"));
    }
    c->routes = route_table_new(names, pats, (unsigned)nr, err);
    if (c->routes) {
        c->targets[0] = c->upstream;
        snprintf(c->target_host[0], sizeof c->target_host[0], "%s", c->upstream_host);
        c->ntargets = 1;
        c->route_fb = calloc(nr + 1, sizeof *c->route_fb);
        c->nroute_fb = (unsigned)nr + 1;
        c->route_csr = calloc(nr + 1, 1);
        c->route_never_csr = calloc(nr + 1, 1);
        if (!c->route_fb || !c->route_csr || !c->route_never_csr) {
            config_err_set(err, "routes", "out of memory");
            goto routes_fail;
        }
        for (size_t i = 0; i < nr; i++) {
            json_t *r = json_array_get(routes, i), *v;
            char path[CONFIG_PATH_MAX + 16], base[CONFIG_PATH_MAX - 16];
            snprintf(base, sizeof base, "routes[%zu]", i);
            if ((v = json_object_get(r, "mode")) != NULL) {
                snprintf(path, sizeof path, "%s.mode", base);
                if (!json_is_string(v) || (strcmp(json_string_value(v), "ssr") != 0 &&
                                           strcmp(json_string_value(v), "csr") != 0)) {
                    config_err_set(err, path, "expected \"ssr\" or \"csr\"");
                    goto routes_fail;
                }
                c->route_csr[i + 1] = strcmp(json_string_value(v), "csr") == 0;
            }
            if ((v = json_object_get(r, "never_csr")) != NULL) {
                snprintf(path, sizeof path, "%s.never_csr", base);
                if (!json_is_boolean(v)) {
                    config_err_set(err, path, "expected true or false, got %s", json_type_name(v));
                    goto routes_fail;
                }
                c->route_never_csr[i + 1] = json_is_true(v);
            }
            if (c->route_csr[i + 1] && c->route_never_csr[i + 1]) {
                snprintf(path, sizeof path, "%s.mode", base);
                config_err_set(err, path, "\"csr\" contradicts \"never_csr\": true");
                goto routes_fail;
            }
            if ((v = json_object_get(r, "fallback")) != NULL) {
                snprintf(path, sizeof path, "%s.fallback", base);
                if (parse_fallback(v, path, c, &c->route_fb[i + 1], err) < 0)
                    goto routes_fail;
            }
        }
    }
    if (0) {
routes_fail:
        route_table_free(c->routes);
        c->routes = NULL;
    }
routes_out:
    free(names);
    free(pats);
    if (c->routes == NULL)
        goto out;

    if (get_string(root, "access_log", "access_log", 1, &c->access_log, err) < 0 ||
        get_string(root, "log_file", "log_file", 1, &c->log_file, err) < 0 ||
        get_string(root, "log_level", "log_level", 0, &s, err) < 0)
        goto out;
    c->log_level = LOG_INFO;
    if (s && (c->log_level = log_level_parse(s)) < 0) {
        config_err_set(err, "log_level", "'%s': expected \"debug\", \"info\", \"warn\" or \"error\"", s);
        goto out;
    }
    json_t *mem = json_object_get(root, "memory");
    if (mem && parse_memory(mem, &c->memory, err) < 0)
        goto out;
    /* a client must not reach the memory endpoint through the proxy: its
     * forced GC would be a stop-the-world pause anyone could trigger */
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
    json_t *gfb = json_object_get(root, "fallback");
    if (gfb && parse_fallback(gfb, "fallback", c, &c->fallback, err) < 0)
        goto out;
    for (unsigned id = 1; id < route_count(c->routes); id++)
        if (c->route_csr[id] && c->route_fb[id].kind == FB_NONE && c->fallback.kind == FB_NONE) {
            char path[CONFIG_PATH_MAX];
            snprintf(path, sizeof path, "routes[%u].mode", id - 1);
            config_err_set(err, path, "\"csr\" needs a fallback: set \"fallback\" at the top or on the route");
            goto out;
        }
    json_t *guard = json_object_get(root, "guard");
    if (guard && parse_guard(guard, c, err) < 0)
        goto out;
    if (get_string(root, "event_log", "event_log", 1, &c->event_log, err) < 0)
        goto out;
    rc = 0;
out:
    free(s);
    return rc;
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
    for (unsigned id = 0; c->route_fb && id < c->nroute_fb; id++)
        fallback_free(&c->route_fb[id]);
    free(c->reserved_paths[0]);
    free(c->reserved_paths[1]);
    free(c->route_fb);
    free(c->route_csr);
    free(c->route_never_csr);
    fallback_free(&c->fallback);
    for (unsigned i = 0; i < c->nctl_headers; i++)
        free(c->ctl_headers[i]);
    route_table_free(c->routes);
    struct config_memory *m = &c->memory;
    free(m->url);
    free(m->gc_url);
    free(m->pidfile);
    free(m->process);
    free(m->path);
    free(m->header);
    free(m->m_rss);
    free(m->m_heap_used);
    free(m->m_heap_total);
    free(m->m_external);
    free(m->m_heap_limit);
    free(m->worker_label);
    free(c->guard.listed);
    free(c->guard.webhook);
    free(c->event_log);
    free(c->admin_token);
    free(c->access_log);
    free(c->log_file);
    free(c->file);
    free(c);
}
