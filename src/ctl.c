/* ctl.c -- "leakproxy ctl": a command-line client of the admin API.
 *
 *   leakproxy ctl [--admin HOST:PORT] [--token T] [-c FILE] [--json] COMMAND
 *     routes                 the route table (requests, latency, estimate, verdict, mode)
 *     mode NAME csr|ssr      switch a route's SSR off or on
 *     report [--markdown]    the ranked findings (text, or --json / --markdown)
 *     memory                 the memory source and each worker's latest reading
 *     bisect ..., probe ...  start, watch, abort a bisection or a probe
 *     events                 the decision log, newest first
 *     status                 version, uptime, connections
 * Options that take a value take it as "--name VALUE" or "--name=VALUE".
 *
 * A blocking HTTP/1.0 client on a plain socket: it runs once and exits, so
 * an event loop would only add code. The admin address comes from --admin,
 * else from the config given with -c, else 127.0.0.1:9091; the token from
 * --token, else $LEAKPROXY_TOKEN, else the config. */
#include "ctl.h"
#include "fmt.h"
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct ctl {
    char admin[300];
    char *token;
    int json, markdown;
};

/* Option <name> at argv[*i], as "--name VALUE" (the value is the next
 * argument: *i moves past it) or "--name=VALUE". Returns the value, or NULL
 * when argv[*i] is another option or the value is missing. */
static const char *ctl_opt(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* Prints <j> indented. Reals get 12 significant digits: the API's doubles
 * come back as 40.906083000000002 at jansson's default 17, and 12 digits
 * keep everything it measures (an epoch time in seconds to the ms). */
static void ctl_print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
    if (s)
        puts(s);
    free(s);
}

/* Sends <method> <path> with <body>; returns the HTTP status and the body
 * in <*out> (caller frees), or -1 with a message printed. */
static int ctl_http(const struct ctl *c, const char *method, const char *path, const char *body,
                    char **out)
{
    struct config_addr a;
    const char *why;
    int fd = -1, status = -1;
    char *buf = NULL;
    size_t len = 0, cap = 0;

    *out = NULL;
    if (config_parse_addr(c->admin, &a, &why) < 0) {
        fprintf(stderr, "leakproxy ctl: --admin %s: %s\n", c->admin, why);
        return -1;
    }
    fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = { 30, 0 };
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || connect(fd, (struct sockaddr *)&a.sa, a.salen) < 0) {
        fprintf(stderr, "leakproxy ctl: cannot reach the admin API at %s: %s\n", c->admin, strerror(errno));
        goto out;
    }
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: leakproxy-ctl\r\nAccept: */*\r\n"
                     "%s%s%sContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, c->admin, c->token ? "Authorization: Bearer " : "",
                     c->token ? c->token : "", c->token ? "\r\n" : "", body ? strlen(body) : 0);
    if (n < 0 || (size_t)n >= sizeof head || write(fd, head, (size_t)n) != n ||
        (body && write(fd, body, strlen(body)) != (ssize_t)strlen(body))) {
        fprintf(stderr, "leakproxy ctl: sending to %s failed\n", c->admin);
        goto out;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > (64u << 20)) {
                fprintf(stderr, "leakproxy ctl: answer too large\n");
                goto out;
            }
            char *nb = realloc(buf, cap);
            if (nb == NULL)
                goto out;
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "leakproxy ctl: reading from %s: %s\n", c->admin, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (buf == NULL || len < 12 || sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        fprintf(stderr, "leakproxy ctl: not an HTTP answer from %s\n", c->admin);
        status = -1;
        goto out;
    }
    buf[len] = '\0';
    char *b = strstr(buf, "\r\n\r\n");
    *out = strdup(b ? b + 4 : "");
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return status;
}

static json_t *ctl_json(const struct ctl *c, const char *method, const char *path, const char *body, int *status)
{
    char *text;
    *status = ctl_http(c, method, path, body, &text);
    if (*status < 0)
        return NULL;
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (j == NULL)
        fprintf(stderr, "leakproxy ctl: %s %s: HTTP %d, not JSON: %.200s\n", method, path, *status, text);
    free(text);
    return j;
}

static void print_bytes(char *buf, size_t len, json_t *v)
{
    if (!json_is_number(v)) {
        snprintf(buf, len, "-");
        return;
    }
    fmt_bytes(buf, len, json_number_value(v));
}

static int cmd_routes(const struct ctl *c)
{
    int status;
    json_t *j = ctl_json(c, "GET", "/api/routes", NULL, &status);
    if (j == NULL)
        return 1;
    if (c->json) {
        ctl_print_json(j);
        json_decref(j);
        return status == 200 ? 0 : 1;
    }
    printf("%-16s %9s %8s %8s %8s  %-30s %-8s %-4s %s\n", "route", "requests", "5xx", "p50 ms", "p99 ms",
           "retained per request (95%)", "verdict", "mode", "set by");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "routes"), i, r) {
        json_t *lat = json_object_get(r, "latency_ms"), *est = json_object_get(r, "estimate");
        const char *vm = json_string_value(json_object_get(r, "verdict_metric"));
        json_t *e = vm ? json_object_get(est, vm) : json_object_get(est, "heap_used");
        char b[32] = "-", lo[32] = "-", hi[32] = "-", iv[104] = "-";
        if (json_is_object(e)) {
            print_bytes(b, sizeof b, json_object_get(e, "bytes_per_request"));
            print_bytes(lo, sizeof lo, json_object_get(e, "low"));
            print_bytes(hi, sizeof hi, json_object_get(e, "high"));
            snprintf(iv, sizeof iv, "%s [%s, %s]", b, lo, hi);
        }
        printf("%-16s %9lld %8lld %8.1f %8.1f  %-30s %-8s %-4s %s\n",
               json_string_value(json_object_get(r, "name")),
               (long long)json_integer_value(json_object_get(r, "requests")),
               (long long)json_integer_value(json_object_get(json_object_get(r, "status"), "5xx")),
               json_number_value(json_object_get(lat, "p50")), json_number_value(json_object_get(lat, "p99")),
               iv, json_string_value(json_object_get(r, "verdict")) ? json_string_value(json_object_get(r, "verdict")) : "-",
               json_string_value(json_object_get(r, "mode")),
               json_string_value(json_object_get(r, "mode_by")) ? json_string_value(json_object_get(r, "mode_by")) : "");
    }
    json_decref(j);
    return status == 200 ? 0 : 1;
}

static int cmd_mode(const struct ctl *c, const char *name, const char *mode)
{
    char path[512], body[64];
    if (strcmp(mode, "csr") != 0 && strcmp(mode, "ssr") != 0) {
        fprintf(stderr, "leakproxy ctl: mode must be csr or ssr, not '%s'\n", mode);
        return 2;
    }
    snprintf(path, sizeof path, "/api/routes/%s/mode", name);
    snprintf(body, sizeof body, "{\"mode\": \"%s\"}", mode);
    int status;
    json_t *j = ctl_json(c, "PUT", path, body, &status);
    if (j == NULL)
        return 1;
    if (status != 200) {
        fprintf(stderr, "leakproxy ctl: %s: %s\n", name, json_string_value(json_object_get(j, "error")));
        json_decref(j);
        return 1;
    }
    if (c->json) {
        ctl_print_json(j);
    } else {
        printf("%s: mode %s (set by %s)\n", name, json_string_value(json_object_get(j, "mode")),
               json_string_value(json_object_get(j, "mode_by")));
    }
    json_decref(j);
    return 0;
}

static int cmd_report(const struct ctl *c)
{
    char *text;
    int status;
    if (c->json || c->markdown) {
        json_t *j = ctl_json(c, "GET", "/api/report", NULL, &status);
        if (j == NULL)
            return 1;
        if (c->json) {
            ctl_print_json(j);
        } else {
            printf("| route | verdict | metric | bytes/request | 95%% interval | requests | reason |\n"
                   "|---|---|---|--:|---|--:|---|\n");
            size_t i;
            json_t *r;
            json_array_foreach(json_object_get(j, "findings"), i, r) {
                const char *vm = json_string_value(json_object_get(r, "verdict_metric"));
                json_t *e = vm ? json_object_get(json_object_get(r, "estimate"), vm) : NULL;
                char b[32] = "-", lo[32] = "-", hi[32] = "-";
                if (json_is_object(e)) {
                    print_bytes(b, sizeof b, json_object_get(e, "bytes_per_request"));
                    print_bytes(lo, sizeof lo, json_object_get(e, "low"));
                    print_bytes(hi, sizeof hi, json_object_get(e, "high"));
                }
                printf("| %s | %s | %s | %s | %s .. %s | %lld | %s |\n",
                       json_string_value(json_object_get(r, "name")),
                       json_string_value(json_object_get(r, "verdict")), vm ? vm : "-", b, lo, hi,
                       (long long)json_integer_value(json_object_get(r, "rendered")),
                       json_string_value(json_object_get(r, "reason")));
            }
            json_array_foreach(json_object_get(j, "memory"), i, r) {
                char lo[32], hi[32];
                print_bytes(lo, sizeof lo, json_object_get(r, "low_bytes"));
                print_bytes(hi, sizeof hi, json_object_get(r, "high_bytes"));
                printf("%sWorker %lld, %s over the last %.0f s (%s .. %s):\n\n    %s\n",
                       i ? "\n" : "\n", (long long)json_integer_value(json_object_get(r, "pid")),
                       json_string_value(json_object_get(r, "metric")),
                       json_number_value(json_object_get(r, "span_s")), lo, hi,
                       json_string_value(json_object_get(r, "sparkline")));
            }
        }
        json_decref(j);
        return status == 200 ? 0 : 1;
    }
    status = ctl_http(c, "GET", "/api/report?format=text", NULL, &text);
    if (status < 0)
        return 1;
    fputs(text, stdout);
    free(text);
    return status == 200 ? 0 : 1;
}

static int cmd_get(const struct ctl *c, const char *path)
{
    int status;
    json_t *j = ctl_json(c, "GET", path, NULL, &status);
    if (j == NULL)
        return 1;
    ctl_print_json(j);
    json_decref(j);
    return status == 200 ? 0 : 1;
}

/* events: the decision log, newest first, one line each */
static int cmd_events(const struct ctl *c)
{
    int status;
    json_t *j = ctl_json(c, "GET", "/api/events?limit=50", NULL, &status);
    if (j == NULL)
        return 1;
    if (c->json || status != 200) {
        ctl_print_json(j);
        json_decref(j);
        return status == 200 ? 0 : 1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "events"), i, e) {
        time_t t = (time_t)(json_integer_value(json_object_get(e, "time_ms")) / 1000);
        struct tm tm;
        char when[32];
        localtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        printf("%s  %-9s %-7s %s%s\n", when, json_string_value(json_object_get(e, "type")),
               json_string_value(json_object_get(e, "source")),
               json_is_true(json_object_get(e, "dry_run")) ? "[dry run] " : "",
               json_string_value(json_object_get(e, "reason")));
    }
    if (i == 0)
        puts("no events yet");
    json_decref(j);
    return 0;
}

/* A probe's or bisection's answer <j>: says <what>'s error and frees <j>
 * unless <*status> is 200; with <wait>, polls GET <path> every <secs> s
 * while its "state" is "running". The last answer, or NULL. */
static json_t *ctl_follow(const struct ctl *c, const char *what, const char *path, json_t *j,
                          int *status, int wait, unsigned secs)
{
    if (j == NULL)
        return NULL;
    if (*status != 200) {
        fprintf(stderr, "leakproxy ctl: %s: %s\n", what, json_string_value(json_object_get(j, "error")));
        json_decref(j);
        return NULL;
    }
    const char *st;
    while (wait && (st = json_string_value(json_object_get(j, "state"))) && strcmp(st, "running") == 0) {
        json_decref(j);
        sleep(secs);
        if ((j = ctl_json(c, "GET", path, NULL, status)) == NULL)
            return NULL;
    }
    return j;
}

/* probe ROUTE [--requests N] [--concurrency C] [--split KEY] [--wait] */
static int cmd_probe(const struct ctl *c, int argc, char **argv)
{
    char body[512];
    const char *route = NULL, *split = NULL;
    int requests = 200, conc = 1, wait = 0, status;

    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = ctl_opt(argc, argv, &i, "--requests")))
            requests = atoi(v);
        else if ((v = ctl_opt(argc, argv, &i, "--concurrency")))
            conc = atoi(v);
        else if ((v = ctl_opt(argc, argv, &i, "--split")))
            split = v;
        else if (strcmp(argv[i], "--wait") == 0)
            wait = 1;
        else if (strcmp(argv[i], "--abort") == 0)
            route = "";
        else if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--markdown") == 0)
            continue;
        else if (route == NULL)
            route = argv[i];
    }
    json_t *j;
    if (route && route[0] == '\0')
        j = ctl_json(c, "DELETE", "/api/probe", NULL, &status);
    else if (route == NULL)
        j = ctl_json(c, "GET", "/api/probe", NULL, &status);
    else {
        snprintf(body, sizeof body, "{\"route\": \"%s\", \"requests\": %d, \"concurrency\": %d%s%s%s}",
                 route, requests, conc, split ? ", \"split\": \"" : "", split ? split : "", split ? "\"" : "");
        j = ctl_json(c, "POST", "/api/probe", body, &status);
    }
    if ((j = ctl_follow(c, "probe", "/api/probe", j, &status, wait, 1)) == NULL)
        return 1;
    if (c->json || !json_object_get(j, "summary")) {
        ctl_print_json(j);
    } else {
        printf("probe %s: %s\n%s\n", json_string_value(json_object_get(j, "route")),
               json_string_value(json_object_get(j, "state")), json_string_value(json_object_get(j, "summary")));
    }
    json_decref(j);
    return 0;
}

/* bisect [ROUTE...] [--round-seconds N] [--max-seconds N] [--metric rss] [--wait] [--abort] */
static int cmd_bisect(const struct ctl *c, int argc, char **argv)
{
    char body[4096];
    int rs = 60, maxs = 0, wait = 0, abort_ = 0, start = 0, status;
    const char *metric = "heap_used";
    size_t n = 0;
    n += (size_t)snprintf(body, sizeof body, "{\"routes\": [");
    int nr = 0;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = ctl_opt(argc, argv, &i, "--round-seconds")))
            rs = atoi(v), start = 1;
        else if ((v = ctl_opt(argc, argv, &i, "--max-seconds")))
            maxs = atoi(v), start = 1;
        else if ((v = ctl_opt(argc, argv, &i, "--metric")))
            metric = v, start = 1;
        else if (strcmp(argv[i], "--wait") == 0)
            wait = 1;
        else if (strcmp(argv[i], "--abort") == 0)
            abort_ = 1;
        else if (strcmp(argv[i], "--start") == 0 || strcmp(argv[i], "all") == 0)
            start = 1;
        else if (argv[i][0] != '-' && n < sizeof body - 200) {
            n += (size_t)snprintf(body + n, sizeof body - n, "%s\"%s\"", nr++ ? ", " : "", argv[i]);
            start = 1;
        }
    }
    if (nr == 0)
        n = (size_t)snprintf(body, sizeof body, "{\"routes\": \"all\"");
    else
        n += (size_t)snprintf(body + n, sizeof body - n, "]");
    if (maxs)
        n += (size_t)snprintf(body + n, sizeof body - n, ", \"max_seconds\": %d", maxs);
    snprintf(body + n, sizeof body - n, ", \"round_seconds\": %d, \"metric\": \"%s\"}", rs, metric);
    json_t *j = abort_ ? ctl_json(c, "DELETE", "/api/bisect", NULL, &status)
              : start ? ctl_json(c, "POST", "/api/bisect", body, &status)
                      : ctl_json(c, "GET", "/api/bisect", NULL, &status);
    if ((j = ctl_follow(c, "bisect", "/api/bisect", j, &status, wait, 2)) == NULL)
        return 1;
    if (c->json) {
        ctl_print_json(j);
    } else {
        printf("bisect: %s %s\n", json_string_value(json_object_get(j, "state")),
               json_string_value(json_object_get(j, "message")) ? json_string_value(json_object_get(j, "message")) : "");
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(j, "rounds"), i, r) {
            char off[256] = "";
            size_t k, o = 0;
            json_t *v;
            json_array_foreach(json_object_get(r, "off"), k, v)
                o += (size_t)snprintf(off + o, o < sizeof off ? sizeof off - o : 0, "%s%s", k ? "," : "",
                                      json_string_value(v));
            printf("  round %2lld %-8s off [%s]: %s\n", (long long)json_integer_value(json_object_get(r, "round")),
                   json_string_value(json_object_get(r, "kind")), off,
                   json_string_value(json_object_get(r, "decision")) ? json_string_value(json_object_get(r, "decision")) : "running");
        }
        printf("leaking:");
        json_array_foreach(json_object_get(j, "leaking"), i, r)
            printf(" %s", json_string_value(r));
        printf("\n");
    }
    json_decref(j);
    return 0;
}

static void ctl_usage(FILE *f)
{
    fprintf(f,
        "usage: leakproxy ctl [--admin HOST:PORT] [--token TOKEN] [-c CONFIG] [--json] COMMAND\n"
        "  routes                 the route table: requests, latency, estimate, verdict, mode\n"
        "  mode NAME csr|ssr      switch server rendering off (csr) or on (ssr) for a route\n"
        "  report [--markdown]    ranked findings (text; --json, --markdown)\n"
        "  memory                 the memory source and its workers (JSON)\n"
        "  bisect [ROUTE...|all] [--round-seconds N] [--max-seconds N] [--metric heap_used|rss|external] [--wait] [--abort]\n"
        "                         find leaking routes by switching groups to csr; no argument: show\n"
        "  probe ROUTE [--requests N] [--concurrency C] [--split param:NAME|query:KEY|header:NAME] [--wait]\n"
        "                         replay captured requests of ROUTE between forced GCs; without ROUTE: the\n"
        "                         current probe; --abort stops it\n"
        "  events                 what the guard, bisect, probe and people decided, newest first\n"
        "  status                 version, uptime, connections, the guard's state (JSON)\n"
        "Options taking a value also take it as --name=VALUE (--admin=127.0.0.1:9091).\n"
        "The admin address: --admin, else \"admin\" of the -c config, else 127.0.0.1:9091.\n"
        "The token: --token, else $LEAKPROXY_TOKEN, else \"admin_token\" of the -c config.\n");
}

int ctl_main(int argc, char **argv)
{
    struct ctl c = { .admin = "127.0.0.1:9091" };
    const char *conf = NULL;
    int i;

    for (i = 0; i < argc; i++) {
        const char *v;
        if ((v = ctl_opt(argc, argv, &i, "--admin")))
            snprintf(c.admin, sizeof c.admin, "%s", v);
        else if ((v = ctl_opt(argc, argv, &i, "--token"))) {
            free(c.token);
            c.token = strdup(v);
        } else if ((v = ctl_opt(argc, argv, &i, "-c")))
            conf = v;
        else if (strcmp(argv[i], "--json") == 0)
            c.json = 1;
        else if (strcmp(argv[i], "--markdown") == 0)
            c.markdown = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            ctl_usage(stdout);
            return 0;
        } else
            break;
    }
    if (conf) {
        struct config_err err;
        struct config *cfg = config_load(conf, &err);
        if (cfg == NULL) {
            char buf[512];
            config_err_format(conf, &err, buf, sizeof buf);
            fprintf(stderr, "leakproxy ctl: %s\n", buf);
            return 2;
        }
        if (strcmp(c.admin, "127.0.0.1:9091") == 0)
            snprintf(c.admin, sizeof c.admin, "%s", cfg->admin.text);
        if (c.token == NULL && cfg->admin_token)
            c.token = strdup(cfg->admin_token);
        config_free(cfg);
    }
    if (c.token == NULL && getenv("LEAKPROXY_TOKEN"))
        c.token = strdup(getenv("LEAKPROXY_TOKEN"));
    int rc = 2;
    /* options may also follow the command */
    for (int k = i + 1; k < argc; k++) {
        if (strcmp(argv[k], "--json") == 0)
            c.json = 1;
        else if (strcmp(argv[k], "--markdown") == 0)
            c.markdown = 1;
    }
    if (i >= argc)
        ctl_usage(stderr);
    else if (strcmp(argv[i], "routes") == 0)
        rc = cmd_routes(&c);
    else if (strcmp(argv[i], "mode") == 0 && i + 2 < argc)
        rc = cmd_mode(&c, argv[i + 1], argv[i + 2]);
    else if (strcmp(argv[i], "report") == 0)
        rc = cmd_report(&c);
    else if (strcmp(argv[i], "bisect") == 0)
        rc = cmd_bisect(&c, argc - i - 1, argv + i + 1);
    else if (strcmp(argv[i], "probe") == 0)
        rc = cmd_probe(&c, argc - i - 1, argv + i + 1);
    else if (strcmp(argv[i], "memory") == 0)
        rc = cmd_get(&c, "/api/memory?points=5");
    else if (strcmp(argv[i], "status") == 0)
        rc = cmd_get(&c, "/api/status");
    else if (strcmp(argv[i], "events") == 0)
        rc = cmd_events(&c);
    else {
        fprintf(stderr, "leakproxy ctl: unknown command '%s'\n", argv[i]);
        ctl_usage(stderr);
    }
    free(c.token);
    return rc;
}
