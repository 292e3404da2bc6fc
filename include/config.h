/* config.h -- load and validate leakproxy's JSON configuration.
 *
 * One file, parsed with jansson, then checked key by key: unknown keys are
 * errors (with a "did you mean"), every value is type- and range-checked, and
 * every error names the file, the line of the offending key and its path:
 *   conf/x.json:3: routes[1].match: expected a string
 * jansson knows positions only for syntax errors, so config.c scans the raw
 * text once to map key paths to lines. A struct config is immutable once
 * loaded: a reload builds a new one and swaps it in. */
#ifndef LEAKPROXY_CONFIG_H
#define LEAKPROXY_CONFIG_H
#include <stdint.h>
#include <sys/socket.h>

#include "config_err.h"

struct route_table;

struct config_addr {
    char text[300];                  /* as written, for messages */
    struct sockaddr_storage sa;
    socklen_t salen;
};

enum memsrc_kind { MEMSRC_NONE, MEMSRC_PROC, MEMSRC_CGROUP, MEMSRC_HTTP,
                   MEMSRC_PROMETHEUS, MEMSRC_HEADER };

/* "memory": where and how often the upstream's memory is read (memsrc.c) */
struct config_memory {
    enum memsrc_kind source;          /* MEMSRC_NONE: no "memory" section */
    int interval_ms, timeout_ms, gc_interval_ms, floor_window_ms;
    double max_gc_duty;               /* cap on the share of time spent in forced GC */
    int quiesce_ms;                   /* hold new requests up to this long before a forced GC */
    /* designed measurement rows (gate.h, rowplan.h): http source with gc_url */
    int design;                       /* on by default with a gc_url */
    int row_min, row_max;             /* completed requests per row */
    int hold_ms;                      /* longest a request waits for its route's row */
    int row_overflow;                 /* while a full row waits for its GC, a stall lets everyone go */
    char *url, *gc_url;               /* http, prometheus */
    int64_t pid;                      /* proc: one of pid, pidfile, process */
    char *pidfile, *process;
    int children;
    char *path;                       /* cgroup */
    char *header;                     /* header source: header name */
    int strip;                        /* remove the header before the client sees it */
    char *m_rss, *m_heap_used, *m_heap_total, *m_external, *m_heap_limit, *worker_label;
    int64_t limit_bytes;              /* 0: unknown, use the source's */
};

/* A client-render fallback (global "fallback" or a route's own). */
enum fallback_kind { FB_NONE, FB_FILE, FB_HEADER, FB_UPSTREAM };

struct fallback_blob;                 /* the shell file: fallback.h */

struct config_fallback {
    enum fallback_kind kind;
    char *path;                       /* file */
    struct fallback_blob *blob;       /* file contents, read at load */
    const char *content_type;         /* from the file's extension */
    char *hname, *hvalue;             /* header: "X-SSR-Off: 1" */
    unsigned target;                  /* upstream: index into config.targets */
    char *text;                       /* as written, for the API */
};

#define CONFIG_TARGETS_MAX 9          /* the upstream and up to 8 fallback upstreams */

/* "attribution": the engine's knobs (attrib.c, docs/attribution.md) */
struct config_attrib {
    int interval_ms;                  /* evaluation period */
    int window_rows;                  /* sliding window, in memory intervals */
    int64_t min_leak_bytes;           /* per request: below is clean */
    int confirm_requests;             /* a leak is named only after this many requests */
    int min_requests;                 /* fewer in the window: unknown */
    int max_routes;                   /* routes estimated on their own (the busiest) */
    int auto_probe;                   /* probe suspects by itself (probe.c) */
};

/* "guard": switch SSR off automatically before the upstream runs out of
 * memory (guard.c) */
enum guard_action { GUARD_LEAKING, GUARD_ALL, GUARD_LIST };
#define GUARD_MAX_PER_HOUR 256
struct config_guard {
    int enabled;                      /* a "guard" section is present */
    int metric;                       /* enum attrib_metric */
    int64_t high_bytes, low_bytes;    /* 0: not set */
    double high_fraction, low_fraction;  /* of the worker's limit; 0: not set */
    int min_minutes_to_oom;           /* 0: off */
    enum guard_action action;
    uint8_t *listed;                  /* GUARD_LIST: per route id */
    int hold_seconds;
    int max_switches_per_hour;
    int watch_ms;                     /* narrowing: how long each step is watched; 0: default */
    int restore_on_recovery;          /* "restore": "on_recovery" (else "manual") */
    int dry_run;
    char *webhook;                    /* NULL: none */
    int webhook_alertmanager;         /* "webhook_format": "alertmanager" */
};

struct config {
    char *file;

    struct config_addr listen;
    struct config_addr upstream;     /* "http://host:port" resolved at load */
    char upstream_host[300];         /* "host:port", Host header for HTTP/1.0 clients */
    struct config_addr admin;
    char *admin_token;               /* NULL when not set */

    struct route_table *routes;

    struct {
        int connect_ms, response_ms, client_idle_ms, header_ms;
        int upstream_idle_ms, drain_ms;
    } timeouts;
    struct {
        int max_header_bytes, max_headers, max_request_line;
        int64_t max_body_bytes;
        int max_connections, upstream_idle;
    } limits;

    char *access_log;                /* NULL = off, "-" = stdout */
    char *log_file;                  /* NULL or "-" = stderr */
    int log_level;                   /* enum log_level */

    struct config_memory memory;
    struct config_attrib attrib;
    struct config_guard guard;
    char *event_log;                 /* NULL = off, "-" = stdout */

    /* SSR off (fallback): per route id, from "routes" */
    struct config_fallback fallback;  /* global default (FB_NONE: none) */
    struct config_fallback *route_fb; /* per route id; kind FB_NONE = use the global */
    unsigned nroute_fb;
    uint8_t *route_csr;               /* per route id: "mode": "csr" in the config */
    uint8_t *route_never_csr;         /* per route id: "never_csr": true */
    struct config_addr targets[CONFIG_TARGETS_MAX];  /* [0] = upstream */
    char target_host[CONFIG_TARGETS_MAX][300];
    unsigned ntargets;
    char *ctl_headers[CONFIG_TARGETS_MAX];  /* fallback header names, stripped from requests */
    char *reserved_paths[2];          /* the memory endpoint's paths: clients get 403 */
    unsigned nctl_headers;
};

/* Loads <file>. Returns a config to free with config_free(), or NULL with
 * <err> filled (line, path, text). */
struct config *config_load(const char *file, struct config_err *err);
/* The same from a string (tests, fuzzing); <name> is used in messages. */
struct config *config_parse(const char *text, size_t len, const char *name,
                            struct config_err *err);
void config_free(struct config *c);   /* NULL is fine */

/* The keys config.c knows, as paths ("guard.watch_ms", "routes[].name"),
 * for the reference check of conf/README.md. config_key_at() returns NULL
 * past the end. */
unsigned config_key_count(void);
const char *config_key_at(unsigned i);

/* Parses "host:port" / "[v6]:port" into <a>; 0, or -1 with a reason. */
int config_parse_addr(const char *s, struct config_addr *a, const char **why);
/* 1 if <a> is a loopback address. */
int config_addr_is_loopback(const struct config_addr *a);
/* Prints <sa> as "host:port" / "[v6]:port". */
void config_addr_str(const struct sockaddr *sa, char *buf, size_t len);
#endif
