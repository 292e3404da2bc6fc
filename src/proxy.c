/* proxy.c -- client connections and the forwarding path. See proxy.h.
 *
 * A client moves through four states:
 *   C_HEAD     waiting for / parsing a request head (idle or header timer)
 *   C_BODY     relaying the request body to the upstream
 *   C_WAIT     request sent, relaying the response (the response may start
 *              while the body is still flowing: then the state stays C_BODY)
 *   C_CLOSING  flushing the last bytes, then a short lingering close
 * The response side has its own small state (resp_state) because it runs
 * concurrently with C_BODY.
 *
 * Invariants that keep this safe:
 * - a client is never freed inside a callback chain: client_kill() closes
 *   the socket, marks it dead and activates <resume>, whose callback frees
 *   it; every function that calls something able to kill checks c->dead;
 * - a bodiless request's head stays in c->in until its exchange ends, so a
 *   request that met a stale keep-alive connection can be parsed again and
 *   retried once on a fresh connection;
 * - an upstream connection returns to the pool only after a complete,
 *   correctly framed response to a completely sent request.
 *
 * Request framing to the upstream is re-generated (Content-Length or
 * re-chunked), never copied, and response bodies are re-framed for the
 * client the same way; see http1.h for what is refused. */
#include "proxy.h"
#include "app.h"
#include "config.h"
#include "log.h"
#include "gate.h"
#include "memsrc.h"
#include "probe.h"
#include "route.h"
#include "upstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OUT_HIGH   (64 * 1024)       /* pause the producer above this */
#define OUT_LOW    (16 * 1024)       /* resume it below this */
#define LINGER_SEC 2
/* Request bytes read ahead of the response being relayed (pipelining), over
 * all clients. Each client may hold one head's worth ahead, but ten
 * thousand connections doing so would be a gigabyte; past this budget a
 * pipelining client's next requests wait in the kernel's socket buffers
 * until its current exchange ends, which costs it nothing but latency. */
#define PIPELINE_BUDGET (16u * 1024 * 1024)
#define ACCEPT_RETRY_MS 100          /* out of descriptors: try accept() again after this (HAProxy) */
#define CSR_HEADERS "Cache-Control: no-store\r\nX-Leakproxy-Mode: csr\r\n"

enum { C_HEAD, C_BODY, C_WAIT, C_CLOSING };
enum { B_NONE, B_CL, B_CHUNKED, B_EOF };          /* body framing, inbound */
enum { O_NONE, O_CL, O_CHUNKED, O_RAW };          /* response framing, outbound */

struct client {
    struct app *app;
    struct client *next, *prev;
    int fd;
    int state;
    int dead;
    int reading;                     /* rev is added */
    int eof;                         /* client shut its write side */
    int header_timer;                /* header deadline armed */
    int out_blocked;                 /* pipelined input waits for c->out to drain */
    int kept;                        /* kept alive after an exchange (drainable while idle) */
    size_t ahead;                    /* bytes read during the exchange: app->pipelined */
    struct gate_waiter gw;           /* held at the admission gate (gate.h) */
    int gate_pass;                   /* released by the gate: this request starts */
    uint64_t held_us;                /* how long this request waited at the gate */
    struct event rev, wev, tmo, resume;
    struct evbuffer *in, *out;
    size_t scan;
    unsigned maxhdr;
    struct http1_hdr *hdr, *uhdr;    /* request / response header slots */
    uint8_t *kind, *ukind;
    struct http1_head req, resp;
    char ip[INET6_ADDRSTRLEN];

    /* the current exchange */
    int in_exchange;
    unsigned route, slot;
    int keepalive, minor, is_head;
    int reused, retried;             /* this attempt's connection was pooled; retried once */
    int safe_method;                 /* GET, HEAD or OPTIONS: may be retried */
    uint32_t head_pending;           /* request head bytes still in c->in */
    int req_mode;
    int64_t req_left, req_body;
    struct http1_chunked req_ch;
    struct upconn *up;
    int up_eof, up_paused, up_got_bytes;
    size_t uscan;
    int resp_state;                  /* 0: head, 1: body, 2: done */
    int resp_in, resp_out;
    int64_t resp_left;
    struct http1_chunked resp_ch;
    int resp_started, status, up_reusable;
    int resp_sent;                   /* a byte of this upstream response reached the client */
    size_t resp_mark;                /* bytes of earlier answers in c->out before its head */
    int from_upstream;               /* the response head came from the upstream */
    int csr;                         /* served by the fallback (route in csr mode) */
    const struct config_fallback *fb;/* valid while app->cfg == fb_cfg */
    const struct config *fb_cfg;
    int64_t mem_pid;                 /* worker that served it (header source) */
    const char *err_kind;
    uint64_t t_start, t_first;
    uint64_t bytes_in, bytes_out;
    char method[16];
    char path[256];
};

static void client_process(struct client *c);
static void client_flush(struct client *c);
static void exchange_finish(struct client *c);
static void pump_request_body(struct client *c);
static void process_response(struct client *c);

/* ---- small helpers ----------------------------------------------------- */

static struct stats_route *client_stats(struct client *c)
{
    return stats_at(&c->app->stats, c->slot);
}

static void client_timer(struct client *c, const struct timeval *tv)
{
    if (tv)
        event_add(&c->tmo, tv);
    else
        event_del(&c->tmo);
}

static void client_read_enable(struct client *c, int on)
{
    if (on && !c->reading && !c->eof && c->fd >= 0)
        event_add(&c->rev, NULL);
    else if (!on && c->reading)
        event_del(&c->rev);
    c->reading = on && !c->eof;
}

static void client_out(struct client *c, const void *p, size_t n)
{
    evbuffer_add(c->out, p, n);
    c->bytes_out += n;
}

#define OUT_LIT(c, s) client_out((c), (s), sizeof(s) - 1)

/* The pipelined bytes this client read ahead are no longer ahead. */
static void client_ahead_release(struct client *c)
{
    c->app->pipelined -= c->ahead;
    c->ahead = 0;
}

static void client_kill(struct client *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    client_ahead_release(c);
    event_del(&c->rev);
    event_del(&c->wev);
    event_del(&c->tmo);
    if (c->in_exchange) {
        struct stats_route *rs = client_stats(c);
        rs->inflight--;
        if (!c->err_kind) {
            rs->errors[STATS_ERR_CLIENT_ABORT]++;
            c->err_kind = stats_err_names[STATS_ERR_CLIENT_ABORT];
        }
        c->in_exchange = 0;
        if (c->app->gate)
            gate_finished(c->app->gate, c->slot, 0);
    }
    if (c->up) {
        upstream_detach(c->up);
        upstream_close(c->up);
        c->up = NULL;
    }
    if (c->gw.queued)
        gate_cancel(c->app->gate, &c->gw);
    close(c->fd);
    c->fd = -1;
    event_active(&c->resume, EV_READ, 0);
}

static void client_free(struct client *c)
{
    struct app *app = c->app;

    event_del(&c->resume);
    if (c->prev)
        c->prev->next = c->next;
    else
        app->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    free(c->hdr);
    free(c);
    app->nclients--;
    if (app->listener_paused && !app->draining &&
        app->nclients < (unsigned)app->cfg->limits.max_connections) {
        evconnlistener_enable(app->listener);
        app->listener_paused = 0;
    }
    if (app->draining && app->nclients == 0)
        event_base_loopbreak(app->base);
}

/* ---- responses the proxy makes itself ---------------------------------- */

static const char *status_text(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* Starts the bookkeeping of an exchange on <route>. */
static void exchange_begin(struct client *c, unsigned route)
{
    struct app *app = c->app;
    c->in_exchange = 1;
    c->route = route;
    c->slot = app->route_slot[route];
    if (app->gate)
        gate_started(app->gate, c->slot);
    struct stats_route *rs = client_stats(c);
    rs->requests++;
    rs->inflight++;
    c->t_start = app_now_us();
    c->t_first = 0;
    c->bytes_out = 0;
    c->err_kind = NULL;
    c->status = 0;
    c->resp_started = 0;
}

/* Answers the current request with <status> from the proxy itself and ends
 * the exchange. <close> ends the connection afterwards. */
static void respond_error(struct client *c, int status, int close_after,
                          const char *kind)
{
    char buf[512];
    const char *text = status_text(status);

    if (!c->in_exchange) {
        /* rejected before it had a route: count it under _other */
        exchange_begin(c, ROUTE_OTHER);
        c->minor = 1;
        c->is_head = 0;
        c->method[0] = '\0';
        c->path[0] = '\0';
    }
    if (c->resp_started) {            /* too late for a status: cut it */
        client_kill(c);
        return;
    }
    if (close_after || c->state == C_BODY)
        c->keepalive = 0;             /* the rest of the body is unread */
    if (c->up) {
        upstream_detach(c->up);
        upstream_close(c->up);
        c->up = NULL;
    }
    if (!c->err_kind)
        c->err_kind = kind;
    int blen = snprintf(buf, sizeof buf, "%d %s\n", status, text);
    char head[512];
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                        "Content-Length: %d\r\nCache-Control: no-store\r\n"
                        "X-Leakproxy-Error: %s\r\n%s\r\n",
                        status, text, blen, kind,
                        !c->keepalive ? "Connection: close\r\n"
                                      : c->minor == 0 ? "Connection: keep-alive\r\n" : "");
    client_out(c, head, (size_t)hlen);
    if (!c->is_head)
        client_out(c, buf, (size_t)blen);
    c->status = status;
    c->resp_started = 1;
    c->resp_state = 2;
    exchange_finish(c);
}

/* ---- the exchange ------------------------------------------------------ */

static void access_log(struct client *c, uint64_t now)
{
    FILE *f = log_access_file();
    char ts[40];
    struct timespec tv;
    struct tm tm;

    if (f == NULL)
        return;
    clock_gettime(CLOCK_REALTIME, &tv);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", tv.tv_nsec / 1000000);
    fprintf(f, "{\"time\":\"%s\",\"route\":\"%s\",\"method\":\"", ts, client_stats(c)->name);
    log_json_str(f, c->method, strlen(c->method));
    fputs("\",\"path\":\"", f);
    log_json_str(f, c->path, strlen(c->path));
    fprintf(f, "\",\"status\":%d,\"bytes_in\":%llu,\"bytes\":%llu,\"duration_ms\":%.3f,\"ttfb_ms\":",
            c->status, (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
            (double)(now - c->t_start) / 1000.0);
    if (c->t_first)
        fprintf(f, "%.3f", (double)(c->t_first - c->t_start) / 1000.0);
    else
        fputs("null", f);
    if (c->held_us)
        fprintf(f, ",\"held_ms\":%.3f", (double)c->held_us / 1000.0);
    if (c->err_kind) {
        fputs(",\"error\":\"", f);
        log_json_str(f, c->err_kind, strlen(c->err_kind));
        fputc('"', f);
    }
    fputs("}\n", f);
}

static void exchange_finish(struct client *c)
{
    struct app *app = c->app;
    uint64_t now = app_now_us();
    struct stats_route *rs = client_stats(c);

    rs->inflight--;
    if (c->status >= 100 && c->status <= 599)
        rs->status[c->status / 100]++;
    int rendered = c->from_upstream && !c->csr;
    if (c->held_us) {
        rs->held++;
        rs->held_us += c->held_us;
    }
    if (rendered) {
        rs->rendered++;
        if (c->mem_pid)
            memsrc_count(app, c->mem_pid, c->slot);
    }
    c->csr = 0;
    c->from_upstream = 0;
    c->mem_pid = 0;
    rs->bytes_in += c->bytes_in;
    rs->bytes_out += c->bytes_out;
    hist_add(&rs->latency, now - c->t_start);
    if (c->t_first)
        hist_add(&rs->ttfb, c->t_first - c->t_start);
    access_log(c, now);
    c->in_exchange = 0;
    c->held_us = 0;
    if (app->gate)
        gate_finished(app->gate, c->slot, rendered);

    if (c->up) {
        struct upconn *u = c->up;
        c->up = NULL;
        if (c->up_reusable && c->resp_state == 2 && c->state != C_BODY && !c->up_eof) {
            u->requests++;
            upstream_put(u);
        } else {
            upstream_detach(u);
            upstream_close(u);
        }
    }
    if (c->head_pending) {
        evbuffer_drain(c->in, c->head_pending);
        c->head_pending = 0;
    }
    c->bytes_in = 0;
    c->retried = 0;
    client_ahead_release(c);
    if (!c->keepalive || c->eof || app->draining) {
        c->state = C_CLOSING;
        client_read_enable(c, 1);     /* lingering: read and discard */
        client_flush(c);
        return;
    }
    c->state = C_HEAD;
    c->scan = 0;
    c->header_timer = 0;
    c->kept = 1;
    client_read_enable(c, 1);
    client_flush(c);
    if (c->dead)
        return;
    if (evbuffer_get_length(c->in) > 0)
        event_active(&c->resume, EV_READ, 0);   /* pipelined: next turn */
    else if (evbuffer_get_length(c->out) == 0)
        client_timer(c, &app->tv_idle);
}

static int is_ctl_header(const struct config *cfg, const char *name, size_t len)
{
    for (unsigned i = 0; i < cfg->nctl_headers; i++)
        if (strlen(cfg->ctl_headers[i]) == len && strncasecmp(cfg->ctl_headers[i], name, len) == 0)
            return 1;
    return 0;
}

/* 1 if request header <i> goes to the upstream as the client sent it: not
 * hop-by-hop (nor named by Connection), not framing or X-Forwarded-* (the
 * proxy writes its own), not the SSR switch's control header, and Host only
 * when the target did not carry the authority. The one rule for forwarding
 * and for what a probe captures. */
static int header_forwarded(const struct config *cfg, const char *p, const struct http1_head *h,
                            unsigned i)
{
    const struct http1_hdr *hd = &h->hdr[i];
    uint8_t k = h->hdr_kind[i];
    if (k & HTTP1_HDR_HOST)
        return !(h->flags & HTTP1_ABSOLUTE);
    if (k & (HTTP1_HDR_HOP | HTTP1_HDR_CL | HTTP1_HDR_TE | HTTP1_HDR_XFWD |
             HTTP1_HDR_EXPECT | HTTP1_HDR_XFF))
        return 0;
    if (http1_conn_names(p, h, i))
        return 0;
    if (cfg->nctl_headers && is_ctl_header(cfg, p + hd->name, hd->name_len))
        return 0;                    /* nobody outside steers the SSR switch */
    return 1;
}

struct fwd_ctx {
    const struct config *cfg;
    const char *p;
    const struct http1_head *h;
};

static int capture_forwarded(const void *ctx, unsigned i)
{
    const struct fwd_ctx *f = ctx;
    return header_forwarded(f->cfg, f->p, f->h, i);
}

/* Appends the request head for the upstream: origin-form target, headers
 * minus hop-by-hop ones, X-Forwarded-*, and framing we generate. */
static void serialize_request(struct client *c, const char *p, struct evbuffer *o)
{
    const struct http1_head *h = &c->req;
    const struct config *cfg = c->app->cfg;
    const char *host = NULL;
    size_t host_len = 0;
    int xff = 0;

    evbuffer_add(o, p + h->method, h->method_len);
    evbuffer_add(o, " ", 1);
    if ((h->flags & HTTP1_ABSOLUTE) && (h->target_len == 0 || p[h->target] != '/'))
        evbuffer_add(o, "/", 1);
    evbuffer_add(o, p + h->target, h->target_len);
    evbuffer_add(o, " HTTP/1.1\r\n", 11);
    for (unsigned i = 0; i < h->nhdr; i++) {
        const struct http1_hdr *hd = &h->hdr[i];
        uint8_t k = h->hdr_kind[i];
        if (k & HTTP1_HDR_HOST) {
            host = p + hd->value;
            host_len = hd->value_len;
        }
        if (!header_forwarded(cfg, p, h, i))
            continue;
        evbuffer_add(o, p + hd->name, hd->name_len);
        evbuffer_add(o, ": ", 2);
        evbuffer_add(o, p + hd->value, hd->value_len);
        evbuffer_add(o, "\r\n", 2);
    }
    if (c->csr && c->fb->kind == FB_HEADER)
        evbuffer_add_printf(o, "%s: %s\r\n", c->fb->hname, c->fb->hvalue);
    if (h->flags & HTTP1_ABSOLUTE) {
        host = p + h->host;
        host_len = h->host_len;
        evbuffer_add_printf(o, "Host: %.*s\r\n", (int)host_len, host);
    } else if (!(h->flags & HTTP1_HAS_HOST)) {
        evbuffer_add_printf(o, "Host: %s\r\n",
                            cfg->target_host[c->csr && c->fb->kind == FB_UPSTREAM ? c->fb->target : 0]);
    }
    /* X-Forwarded-For: the client's list, then the client */
    evbuffer_add(o, "X-Forwarded-For: ", 17);
    for (unsigned i = 0; i < h->nhdr; i++) {
        if (!(h->hdr_kind[i] & HTTP1_HDR_XFF) || h->hdr[i].value_len == 0)
            continue;
        evbuffer_add(o, p + h->hdr[i].value, h->hdr[i].value_len);
        evbuffer_add(o, ", ", 2);
        xff++;
    }
    evbuffer_add(o, c->ip, strlen(c->ip));
    evbuffer_add(o, "\r\nX-Forwarded-Proto: http\r\n", 27);
    if (host) {
        evbuffer_add(o, "X-Forwarded-Host: ", 18);
        evbuffer_add(o, host, host_len);
        evbuffer_add(o, "\r\n", 2);
    }
    if (c->req_mode == B_CL)
        evbuffer_add_printf(o, "Content-Length: %lld\r\n\r\n", (long long)c->req_left);
    else if (c->req_mode == B_CHUNKED)
        evbuffer_add(o, "Transfer-Encoding: chunked\r\n\r\n", 30);
    else if (h->flags & HTTP1_HAS_CL)
        evbuffer_add(o, "Content-Length: 0\r\n\r\n", 21);
    else
        evbuffer_add(o, "\r\n", 2);
}

/* upstream.c reports an attached connection's events here. */
static void upstream_error_cb(void *arg, int err, int timeout);
static void upstream_connected_cb(void *arg);
static void upstream_writable_cb(void *arg);
static void upstream_readable_cb(void *arg);
static const struct upstream_ops client_upstream_ops = {
    .connected = upstream_connected_cb,
    .readable = upstream_readable_cb,
    .writable = upstream_writable_cb,
    .error = upstream_error_cb,
};

/* Sends the parsed request (head at <p>) to an upstream connection. */
static void dispatch(struct client *c, const char *p)
{
    struct app *app = c->app;
    int reused;
    unsigned target = 0;
    if (c->csr) {
        if (c->fb_cfg != app->cfg) {           /* a reload since: the fallback is gone */
            respond_error(c, 502, c->req_mode != B_NONE, "fallback_reloaded");
            return;
        }
        if (c->fb->kind == FB_UPSTREAM)
            target = c->fb->target;
    }
    struct upconn *u = upstream_get(app, target, c->retried, &reused);

    if (u == NULL) {
        client_stats(c)->errors[STATS_ERR_CONNECT]++;
        log_at(LOG_WARN, "upstream %s: connect: %s", app->cfg->upstream.text, strerror(errno));
        respond_error(c, 502, c->req_mode != B_NONE, "upstream_connect");
        return;
    }
    upstream_attach(u, &client_upstream_ops, c);
    c->up = u;
    c->up_eof = c->up_paused = c->up_got_bytes = 0;
    c->uscan = 0;
    c->resp_state = 0;
    c->resp_started = 0;
    c->reused = reused;
    serialize_request(c, p, u->out);
    if (c->req_mode != B_NONE) {      /* the body follows the head: consume the head now */
        evbuffer_drain(c->in, c->req.head_len);
        c->head_pending = 0;
    }
    if (!u->connecting) {
        upstream_read_enable(u, 1);
        upstream_timer(u, &app->tv_response);
        if (upstream_flush(u) < 0)
            return;
    }
}

static void blob_done(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    fb_blob_unref(arg);
}

/* Answers from the fallback file, by reference: the upstream never sees it. */
static void respond_file(struct client *c)
{
    struct fb_blob *b = c->fb->blob;
    char head[512];

    if (c->req_mode != B_NONE) {
        c->keepalive = 0;            /* a body on a GET: not read, close after */
        c->state = C_BODY;
    }
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nX-Leakproxy-Mode: csr\r\n%s\r\n",
                     c->fb->content_type, b->len,
                     !c->keepalive ? "Connection: close\r\n" : c->minor == 0 ? "Connection: keep-alive\r\n" : "");
    client_out(c, head, (size_t)n);
    if (!c->is_head && b->len) {
        b->refs++;
        if (evbuffer_add_reference(c->out, b->data, b->len, blob_done, b) < 0)
            b->refs--;
        c->bytes_out += b->len;
    }
    c->status = 200;                 /* exchange_finish drains the head (head_pending) */
    c->resp_started = 1;
    c->resp_state = 2;
    c->t_first = app_now_us();
    exchange_finish(c);
}

/* The path routes and reserved paths are matched on: percent-encoded
 * unreserved characters decoded (http1_path_canon), so "/d%65tail/1" is
 * "/detail/1" here as for an upstream that normalises. <*len> in and out. */
static const char *match_path(struct app *app, const char *path, size_t *len)
{
    if (!memchr(path, '%', *len))
        return path;
    if (*len > app->path_cap) {      /* grows to the longest such path seen, once */
        char *b = realloc(app->path_buf, *len);
        if (b == NULL)
            return path;
        app->path_buf = b;
        app->path_cap = *len;
    }
    *len = http1_path_canon(path, *len, app->path_buf);
    return app->path_buf;
}

/* 1 if <path> is one of the memory source's own paths: clients never reach
 * them (forced GCs are leakproxy's to schedule). Case-insensitive, as some
 * routers are. */
static int reserved_path(const struct config *cfg, const char *path, size_t len)
{
    for (int k = 0; k < 2; k++) {
        const char *rp = cfg->reserved_paths[k];
        if (rp && strlen(rp) == len && strncasecmp(rp, path, len) == 0)
            return 1;
    }
    return 0;
}

static void client_start_exchange(struct client *c, const char *p)
{
    struct app *app = c->app;
    const struct http1_head *h = &c->req;
    unsigned route;

    size_t plen = h->path_len;
    const char *path = h->path_len ? match_path(app, p + h->target, &plen) : "/";
    if (h->path_len == 0)
        plen = 1;
    if (h->target_len == 1 && p[h->target] == '*')
        route = ROUTE_OTHER;
    else
        route = route_match(app->cfg->routes, path, plen);
    /* a route in csr mode renders nothing on the upstream: nothing to hold
     * it for (a designed row never counts it) */
    const struct stats_route *mrs = stats_at(&app->stats, app->route_slot[route]);
    int csr_route = mrs->mode == MODE_CSR && !mrs->never_csr;
    if (!c->gate_pass && app->gate && !app->draining && !csr_route &&
        !gate_admit(app->gate, app->route_slot[route], &c->gw, app_now_us())) {
        /* held: the head stays in c->in and is parsed again on release */
        client_timer(c, NULL);
        client_read_enable(c, 0);
        return;
    }
    c->gate_pass = 0;
    exchange_begin(c, route);
    /* the head stays in c->in until something consumes it (dispatch of a
     * request with a body) or the exchange ends (exchange_finish drains it):
     * an answer the proxy makes itself must not leave it to be parsed again */
    c->head_pending = h->head_len;
    c->bytes_in = h->head_len;
    c->minor = h->minor;
    c->keepalive = h->minor == 1 ? !(h->flags & HTTP1_CONN_CLOSE) : !!(h->flags & HTTP1_CONN_KEEP);
    if ((h->flags & HTTP1_TE_CL) || app->draining)
        c->keepalive = 0;
    c->is_head = http1_name_is(p + h->method, h->method_len, "head");
    c->safe_method = c->is_head || http1_name_is(p + h->method, h->method_len, "get") ||
                     http1_name_is(p + h->method, h->method_len, "options");
    c->retried = 0;
    if (log_access_file()) {
        size_t m = h->method_len < sizeof c->method - 1 ? h->method_len : sizeof c->method - 1;
        memcpy(c->method, p + h->method, m);
        c->method[m] = '\0';
        size_t t = h->target_len < sizeof c->path - 1 ? h->target_len : sizeof c->path - 1;
        memcpy(c->path, p + h->target, t);
        c->path[t] = '\0';
    }
    if (h->flags & HTTP1_CHUNKED) {
        c->req_mode = B_CHUNKED;
        http1_chunked_init(&c->req_ch);
    } else if ((h->flags & HTTP1_HAS_CL) && h->content_length > 0) {
        c->req_mode = B_CL;
        c->req_left = h->content_length;
    } else {
        c->req_mode = B_NONE;
    }
    c->req_body = 0;
    c->csr = 0;
    if (reserved_path(app->cfg, path, plen)) {
        respond_error(c, 403, c->req_mode != B_NONE, "memory_endpoint");
        return;
    }
    struct stats_route *rs = client_stats(c);
    if (rs->mode == MODE_CSR && !rs->never_csr && (c->is_head || http1_name_is(p + h->method, h->method_len, "get"))) {
        const struct config *cfg = app->cfg;
        const struct config_fallback *fb = route < cfg->nroute_fb && cfg->route_fb[route].kind != FB_NONE
                                               ? &cfg->route_fb[route] : &cfg->fallback;
        if (fb->kind != FB_NONE) {
            c->csr = 1;
            c->fb = fb;
            c->fb_cfg = cfg;
            rs->csr_requests++;
        }
    }
    if (h->flags & HTTP1_EXPECT_OTHER) {
        respond_error(c, 417, 1, "expectation");
        return;
    }
    if (c->req_mode == B_CL && h->content_length > app->cfg->limits.max_body_bytes) {
        respond_error(c, 413, 1, "body_too_large");
        return;
    }
    if (c->req_mode == B_NONE && (c->is_head || http1_name_is(p + h->method, h->method_len, "get"))) {
        struct fwd_ctx f = { app->cfg, p, h };
        probe_capture(app, c->slot, p, h, capture_forwarded, &f);
    }
    if (c->csr && c->fb->kind == FB_FILE) {
        respond_file(c);
        return;
    }
    c->state = c->req_mode == B_NONE ? C_WAIT : C_BODY;
    dispatch(c, p);
    if (c->dead || !c->in_exchange)
        return;
    if ((h->flags & HTTP1_EXPECT_100) && c->req_mode != B_NONE && h->minor == 1 &&
        evbuffer_get_length(c->in) == 0) {
        evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        client_flush(c);
        if (c->dead)
            return;
    }
    if (c->state == C_BODY) {
        client_timer(c, &app->tv_idle);
        pump_request_body(c);
    } else {
        client_timer(c, NULL);
    }
}

/* Moves request body bytes from the client to the upstream. */
static void pump_request_body(struct client *c)
{
    struct app *app = c->app;
    struct upconn *u = c->up;

    while (c->state == C_BODY && evbuffer_get_length(c->in) > 0) {
        size_t avail = evbuffer_get_length(c->in);
        if (c->req_mode == B_CL) {
            size_t n = avail < (uint64_t)c->req_left ? avail : (size_t)c->req_left;
            evbuffer_remove_buffer(c->in, u->out, n);
            c->req_left -= (int64_t)n;
            c->bytes_in += n;
            if (c->req_left == 0)
                c->state = C_WAIT;
            continue;
        }
        struct evbuffer_iovec v;
        size_t used;
        evbuffer_peek(c->in, -1, NULL, &v, 1);
        enum http1_chunk_rc rc = http1_chunked_parse(&c->req_ch, v.iov_base, v.iov_len, &used,
                                                     (uint32_t)app->cfg->limits.max_header_bytes);
        evbuffer_drain(c->in, used);
        c->bytes_in += used;
        if (rc == HTTP1_CHUNK_ERROR) {
            respond_error(c, 400, 1, "bad_chunked_body");
            return;
        }
        if (rc == HTTP1_CHUNK_DONE) {
            evbuffer_add(u->out, "0\r\n\r\n", 5);
            c->state = C_WAIT;
            break;
        }
        if (rc == HTTP1_CHUNK_DATA) {
            size_t have = evbuffer_get_length(c->in);
            size_t n = have < c->req_ch.remaining ? have : (size_t)c->req_ch.remaining;
            if (n == 0)
                break;
            c->req_body += (int64_t)n;
            if (c->req_body > app->cfg->limits.max_body_bytes) {
                respond_error(c, 413, 1, "body_too_large");
                return;
            }
            evbuffer_add_printf(u->out, "%zx\r\n", n);
            evbuffer_remove_buffer(c->in, u->out, n);
            evbuffer_add(u->out, "\r\n", 2);
            c->bytes_in += n;
            http1_chunked_data(&c->req_ch, n);
        }
    }
    if (c->state != C_BODY)
        client_timer(c, NULL);
    if (!u->connecting && upstream_flush(u) < 0)
        return;
    if (c->dead || c->up != u)
        return;
    /* backpressure: an upstream that does not read pauses the client */
    if (c->state == C_BODY && evbuffer_get_length(u->out) > OUT_HIGH)
        client_read_enable(c, 0);
}

/* ---- upstream events (called from upstream.c) --------------------------- */

/* The upstream failed before or during the response. */
static void exchange_fail(struct client *c, enum stats_err kind, int status)
{
    struct app *app = c->app;
    struct upconn *u = c->up;

    /* a stale pooled connection: try once more on a fresh one, only for a
     * safe method (GET, HEAD, OPTIONS): the upstream may have read the
     * request and acted on it before closing, and a POST, PUT, DELETE or
     * PATCH must never run twice on the proxy's initiative */
    if (!c->resp_started && !c->up_got_bytes && c->reused && !c->retried && c->req_mode == B_NONE &&
        c->safe_method &&
        (kind == STATS_ERR_RESET || kind == STATS_ERR_CONNECT) && c->head_pending) {
        c->up = NULL;
        upstream_detach(u);
        upstream_close(u);
        c->retried = 1;
        const char *p = (const char *)evbuffer_pullup(c->in, c->head_pending);
        c->req.hdr = c->hdr;
        c->req.hdr_kind = c->kind;
        struct http1_limits lim = app->lim;
        if (lim.max_headers > c->maxhdr)
            lim.max_headers = c->maxhdr;
        if (p && http1_parse_request(p, c->head_pending, &lim, &c->req) == 0) {
            dispatch(c, p);         /* B_NONE: the head stays pending, whatever the outcome */
            return;
        }
    }
    client_stats(c)->errors[kind]++;
    c->err_kind = stats_err_names[kind];
    if (c->resp_started && c->from_upstream && !c->resp_sent) {
        /* nothing of this response has reached the client yet (a broken
         * body in the same read as the head): take it back and answer with
         * a status rather than a bare close */
        struct evbuffer *keep = evbuffer_new();
        if (keep) {
            evbuffer_remove_buffer(c->out, keep, c->resp_mark);
            evbuffer_drain(c->out, evbuffer_get_length(c->out));
            evbuffer_add_buffer(c->out, keep);
            evbuffer_free(keep);
            c->resp_started = 0;
            c->from_upstream = 0;
            c->bytes_out = 0;
        }
    }
    if (c->resp_started) {
        log_at(LOG_DEBUG, "upstream %s mid-response on route %s: closing the client",
               stats_err_names[kind], client_stats(c)->name);
        c->keepalive = 0;
        client_kill(c);
        return;
    }
    log_at(LOG_DEBUG, "upstream %s on route %s: %d", stats_err_names[kind], client_stats(c)->name,
           status);
    respond_error(c, status, c->state == C_BODY, stats_err_names[kind]);
}

static void upstream_error_cb(void *arg, int err, int timeout)
{
    struct client *c = arg;
    (void)err;
    if (c->up->connecting)
        exchange_fail(c, STATS_ERR_CONNECT, 502);
    else if (timeout && c->resp_state == 0)
        exchange_fail(c, STATS_ERR_TIMEOUT, 504);
    else
        exchange_fail(c, STATS_ERR_RESET, 502);
}

static void upstream_connected_cb(void *arg)
{
    struct client *c = arg;
    struct upconn *u = c->up;
    upstream_read_enable(u, 1);
    upstream_timer(u, &c->app->tv_response);
    upstream_flush(u);
}

static void upstream_writable_cb(void *arg)
{
    struct client *c = arg;
    struct upconn *u = c->up;
    if (upstream_flush(u) < 0 || c->dead || c->up != u)
        return;
    if (c->state == C_BODY && evbuffer_get_length(u->out) < OUT_LOW && !c->reading) {
        client_read_enable(c, 1);
        pump_request_body(c);
    }
}

static void upstream_readable_cb(void *arg)
{
    struct client *c = arg;
    struct upconn *u = c->up;
    long r = upstream_io_read(u->in, u->fd);

    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        exchange_fail(c, STATS_ERR_RESET, 502);
        return;
    }
    if (r == 0) {
        c->up_eof = 1;
        upstream_read_enable(u, 0);
    } else {
        c->up_got_bytes = 1;
        if (c->t_first == 0)
            c->t_first = app_now_us();
    }
    process_response(c);
}

/* Writes the response head for the client. */
static void serialize_response(struct client *c, const char *p)
{
    const struct http1_head *h = &c->resp;
    struct evbuffer *o = c->out;
    size_t before = evbuffer_get_length(o);
    const struct config_memory *mc = &c->app->cfg->memory;

    c->resp_mark = before;
    c->resp_sent = 0;
    const char *strip = mc->source == MEMSRC_HEADER && mc->strip ? mc->header : NULL;
    size_t strip_len = strip ? strlen(strip) : 0;

    evbuffer_add_printf(o, "HTTP/1.1 %d %.*s\r\n", h->status, (int)h->reason_len, p + h->reason);
    for (unsigned i = 0; i < h->nhdr; i++) {
        const struct http1_hdr *hd = &h->hdr[i];
        if (h->hdr_kind[i] & (HTTP1_HDR_HOP | HTTP1_HDR_CL | HTTP1_HDR_TE))
            continue;
        if (http1_conn_names(p, h, i))
            continue;
        if (strip && hd->name_len == strip_len && strncasecmp(p + hd->name, strip, strip_len) == 0)
            continue;
        if (c->csr && (http1_name_is(p + hd->name, hd->name_len, "cache-control") ||
                       http1_name_is(p + hd->name, hd->name_len, "x-leakproxy-mode")))
            continue;                /* a csr answer must never be cached as the page */
        evbuffer_add(o, p + hd->name, hd->name_len);
        evbuffer_add(o, ": ", 2);
        evbuffer_add(o, p + hd->value, hd->value_len);
        evbuffer_add(o, "\r\n", 2);
    }
    if (c->csr)
        evbuffer_add(o, CSR_HEADERS, sizeof CSR_HEADERS - 1);
    /* A bodiless answer keeps its Content-Length only for HEAD: a 204 must
     * not carry one (RFC 9110 8.6), and on a 304 caches ignore it (RFC 9111
     * 3.2), so a client never reads framing where there is no body. */
    if (c->resp_out == O_CL || (c->resp_out == O_NONE && (h->flags & HTTP1_HAS_CL) &&
                                h->status != 204 && h->status != 304))
        evbuffer_add_printf(o, "Content-Length: %lld\r\n", (long long)h->content_length);
    else if (c->resp_out == O_CHUNKED)
        evbuffer_add(o, "Transfer-Encoding: chunked\r\n", 28);
    if (!c->keepalive)
        evbuffer_add(o, "Connection: close\r\n\r\n", 21);
    else if (c->minor == 0)
        evbuffer_add(o, "Connection: keep-alive\r\n\r\n", 26);
    else
        evbuffer_add(o, "\r\n", 2);
    c->bytes_out += evbuffer_get_length(o) - before;
}

/* Moves <n> response payload bytes from the upstream to the client. */
static void relay_body(struct client *c, struct evbuffer *in, size_t n)
{
    if (c->resp_out == O_CHUNKED) {
        char line[24];
        int l = snprintf(line, sizeof line, "%zx\r\n", n);
        client_out(c, line, (size_t)l);
        evbuffer_remove_buffer(in, c->out, n);
        OUT_LIT(c, "\r\n");
    } else {
        evbuffer_remove_buffer(in, c->out, n);
    }
    c->bytes_out += n;
}

/* Relays response body bytes; returns 1 when the body is complete, 0 when
 * more is needed, -1 after a failure (the client may be dead). */
static int pump_response(struct client *c)
{
    struct upconn *u = c->up;
    struct app *app = c->app;

    for (;;) {
        size_t avail = evbuffer_get_length(u->in);
        switch (c->resp_in) {
        case B_NONE:
            return 1;
        case B_CL: {
            size_t n = avail < (uint64_t)c->resp_left ? avail : (size_t)c->resp_left;
            if (n)
                relay_body(c, u->in, n);
            c->resp_left -= (int64_t)n;
            if (c->resp_left == 0)
                return 1;
            if (c->up_eof) {
                exchange_fail(c, STATS_ERR_RESET, 502);
                return -1;
            }
            return 0;
        }
        case B_EOF:
            if (avail)
                relay_body(c, u->in, avail);
            if (c->up_eof) {
                if (c->resp_out == O_CHUNKED)
                    OUT_LIT(c, "0\r\n\r\n");
                return 1;
            }
            return 0;
        case B_CHUNKED: {
            if (avail == 0) {
                if (c->up_eof) {
                    exchange_fail(c, STATS_ERR_RESET, 502);
                    return -1;
                }
                return 0;
            }
            struct evbuffer_iovec v;
            size_t used;
            evbuffer_peek(u->in, -1, NULL, &v, 1);
            enum http1_chunk_rc rc = http1_chunked_parse(&c->resp_ch, v.iov_base, v.iov_len, &used,
                                                         (uint32_t)app->cfg->limits.max_header_bytes);
            evbuffer_drain(u->in, used);
            if (rc == HTTP1_CHUNK_ERROR) {
                exchange_fail(c, STATS_ERR_BAD_RESPONSE, 502);
                return -1;
            }
            if (rc == HTTP1_CHUNK_DONE) {
                if (c->resp_out == O_CHUNKED)
                    OUT_LIT(c, "0\r\n\r\n");
                return 1;
            }
            if (rc == HTTP1_CHUNK_DATA) {
                size_t have = evbuffer_get_length(u->in);
                size_t n = have < c->resp_ch.remaining ? have : (size_t)c->resp_ch.remaining;
                if (n == 0)
                    continue;
                relay_body(c, u->in, n);
                http1_chunked_data(&c->resp_ch, n);
            }
            continue;
        }
        }
        return 0;
    }
}

static void process_response(struct client *c)
{
    struct app *app = c->app;
    struct upconn *u = c->up;

    while (c->resp_state == 0) {
        size_t len = evbuffer_get_length(u->in);
        size_t max = (size_t)app->cfg->limits.max_header_bytes;
        if (len == 0) {
            if (c->up_eof)
                exchange_fail(c, STATS_ERR_RESET, 502);
            return;
        }
        const char *p = (const char *)evbuffer_pullup(u->in, (ev_ssize_t)(len < max ? len : max));
        long n = http1_head_end(p, len < max ? len : max, &c->uscan, max, max);
        if (n == 0) {
            if (c->up_eof)
                exchange_fail(c, STATS_ERR_RESET, 502);
            return;
        }
        c->resp.hdr = c->uhdr;
        c->resp.hdr_kind = c->ukind;
        struct http1_limits lim = app->lim;
        if (lim.max_headers > c->maxhdr)
            lim.max_headers = c->maxhdr;
        if (n < 0 || http1_parse_response(p, (size_t)n, &lim, &c->resp) < 0 ||
            c->resp.status == 101) {
            log_at(LOG_WARN, "upstream sent an invalid response head (route %s)",
                   client_stats(c)->name);
            exchange_fail(c, STATS_ERR_BAD_RESPONSE, 502);
            return;
        }
        if (c->resp.status < 200) {            /* interim: drop it */
            evbuffer_drain(u->in, (size_t)n);
            c->uscan = 0;
            continue;
        }
        const struct http1_head *h = &c->resp;
        int nobody = c->is_head || h->status == 204 || h->status == 304;
        if (nobody)
            c->resp_in = B_NONE;
        else if (h->flags & HTTP1_CHUNKED)
            c->resp_in = B_CHUNKED;
        else if (h->flags & HTTP1_HAS_CL)
            c->resp_in = h->content_length > 0 ? B_CL : B_NONE;
        else
            c->resp_in = B_EOF;
        if (c->resp_in == B_CHUNKED)
            http1_chunked_init(&c->resp_ch);
        c->resp_left = h->content_length;
        /* after a response that has no body by rule (HEAD, 204, 304) the
         * connection is not pooled: an upstream that sends a body anyway
         * may do so in a later write, and those bytes would be read as the
         * next client's response */
        c->up_reusable = (h->minor == 1 ? !(h->flags & HTTP1_CONN_CLOSE)
                                        : !!(h->flags & HTTP1_CONN_KEEP)) &&
                         c->resp_in != B_EOF && !nobody;
        if (nobody || (c->resp_in == B_NONE))
            c->resp_out = O_NONE;
        else if (c->resp_in == B_CL)
            c->resp_out = O_CL;
        else if (c->minor == 1)
            c->resp_out = O_CHUNKED;
        else {
            c->resp_out = O_RAW;
            c->keepalive = 0;
        }
        if (app->draining || c->state == C_BODY)
            c->keepalive = 0;          /* an early response leaves the body unread */
        c->status = h->status;
        c->from_upstream = 1;
        if (app->cfg->memory.source == MEMSRC_HEADER) {
            const char *name = app->cfg->memory.header;
            size_t nl = strlen(name);
            for (unsigned i = 0; i < h->nhdr; i++)
                if (h->hdr[i].name_len == nl && strncasecmp(p + h->hdr[i].name, name, nl) == 0) {
                    c->mem_pid = memsrc_header_seen(app, p + h->hdr[i].value, h->hdr[i].value_len);
                    break;
                }
        }
        serialize_response(c, p);
        evbuffer_drain(u->in, (size_t)n);
        c->resp_started = 1;
        c->resp_state = 1;
    }
    if (c->resp_state == 1) {
        int done = pump_response(c);
        if (done < 0 || c->dead)
            return;
        if (done) {
            c->resp_state = 2;
            upstream_timer(u, NULL);
        } else if (!c->up_paused) {
            upstream_timer(u, &app->tv_response);
        }
        client_flush(c);
        if (c->dead)
            return;
        if (!done && evbuffer_get_length(c->out) > OUT_HIGH) {
            c->up_paused = 1;          /* a slow client pauses the upstream */
            upstream_read_enable(u, 0);
            upstream_timer(u, NULL);
        }
        if (done)
            exchange_finish(c);        /* after an early response, the client closes */
    }
}

/* ---- client events ----------------------------------------------------- */

static void client_flush(struct client *c)
{
    struct app *app = c->app;

    while (evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write(c->out, c->fd);
        if (n > 0 && !c->resp_sent) {
            if ((size_t)n > c->resp_mark)
                c->resp_sent = 1;
            else
                c->resp_mark -= (size_t)n;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                event_add(&c->wev, NULL);
                client_timer(c, &app->tv_idle);   /* a reader that stalls */
                return;
            }
            client_kill(c);
            return;
        }
    }
    event_del(&c->wev);
    if (c->out_blocked) {
        c->out_blocked = 0;
        client_read_enable(c, 1);
        if (c->state == C_HEAD)
            event_active(&c->resume, EV_READ, 0);
    }
    if (c->up && c->up_paused) {
        c->up_paused = 0;
        upstream_read_enable(c->up, 1);
        upstream_timer(c->up, &app->tv_response);
        if (evbuffer_get_length(c->up->in) > 0 || c->up_eof)
            process_response(c);
        return;
    }
    if (c->state == C_CLOSING) {
        shutdown(c->fd, SHUT_WR);
        static const struct timeval linger = { LINGER_SEC, 0 };
        client_timer(c, &linger);
    } else if (c->state == C_WAIT) {
        client_timer(c, NULL);
    }
}

static void client_process(struct client *c)
{
    struct app *app = c->app;

    if (c->state == C_BODY) {
        pump_request_body(c);
        return;
    }
    if (c->state == C_CLOSING) {
        evbuffer_drain(c->in, evbuffer_get_length(c->in));
        return;
    }
    if (c->state == C_WAIT) {
        /* pipelined requests wait in c->in; stop reading past a bound */
        if (evbuffer_get_length(c->in) - c->head_pending > (size_t)app->cfg->limits.max_header_bytes)
            client_read_enable(c, 0);
        return;
    }
    /* C_HEAD: a client that does not read its responses gets no new ones
     * (and is not read) until it has taken most of what is queued */
    if (evbuffer_get_length(c->out) > OUT_HIGH) {
        c->out_blocked = 1;
        client_read_enable(c, 0);
        return;
    }
    for (;;) {
        size_t len = evbuffer_get_length(c->in);
        if (len >= 1) {
            /* RFC 9112 2.2: ignore empty lines before a request */
            unsigned char two[2];
            evbuffer_copyout(c->in, two, len >= 2 ? 2 : 1);
            if (two[0] == '\r' && len >= 2 && two[1] == '\n' && c->scan == 0) {
                evbuffer_drain(c->in, 2);
                continue;
            }
            if (two[0] == '\r' && len == 1)
                return;
        }
        break;
    }
    if (c->gw.queued)
        return;                      /* held at the gate: released later */
    size_t len = evbuffer_get_length(c->in);
    if (len == 0) {
        if (c->eof) {
            client_kill(c);
            return;
        }
        if (!c->header_timer)
            client_timer(c, &app->tv_idle);
        return;
    }
    if (!c->header_timer) {
        c->header_timer = 1;
        client_timer(c, &app->tv_header);
    }
    size_t max = (size_t)app->lim.max_header_bytes;
    size_t take = len < max ? len : max;
    const char *p = (const char *)evbuffer_pullup(c->in, (ev_ssize_t)take);
    long n = http1_head_end(p, take, &c->scan, app->lim.max_request_line, max);
    if (n == 0) {
        if (c->eof)
            client_kill(c);          /* half a head, then EOF */
        return;
    }
    c->minor = 1;
    c->is_head = 0;
    c->keepalive = 0;
    if (n < 0) {
        log_at(LOG_DEBUG, "client %s: rejected a request head: %ld", c->ip, -n);
        respond_error(c, (int)-n, 1, n == -431 ? "header_too_large" :
                                     n == -414 ? "uri_too_long" : "bad_request");
        return;
    }
    c->req.hdr = c->hdr;
    c->req.hdr_kind = c->kind;
    struct http1_limits lim = app->lim;
    if (lim.max_headers > c->maxhdr)
        lim.max_headers = c->maxhdr;
    int rc = http1_parse_request(p, (size_t)n, &lim, &c->req);
    c->scan = 0;
    c->header_timer = 0;
    if (rc < 0) {
        log_at(LOG_DEBUG, "client %s: rejected a request: %d", c->ip, -rc);
        respond_error(c, -rc, 1, rc == -431 ? "header_too_large" : rc == -414 ? "uri_too_long" :
                                 "bad_request");
        return;
    }
    client_start_exchange(c, p);
}

static void client_readcb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    (void)what;

    /* Pipelined input beyond one head's worth waits in the socket: the
     * kernel's buffers, not ours, hold what a client sends ahead. */
    if (c->state != C_BODY && c->state != C_CLOSING &&
        evbuffer_get_length(c->in) >= c->head_pending + (size_t)c->app->lim.max_header_bytes) {
        client_read_enable(c, 0);
        if (c->state == C_HEAD)
            client_process(c);
        return;
    }
    if (c->state == C_WAIT && c->app->pipelined >= PIPELINE_BUDGET) {
        client_read_enable(c, 0);    /* exchange_finish reads again */
        return;
    }
    long r = upstream_io_read(c->in, fd);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        client_kill(c);
        return;
    }
    if (r == 0) {
        c->eof = 1;
        client_read_enable(c, 0);
        c->reading = 0;
        if (c->state == C_CLOSING || c->state == C_BODY) {
            client_kill(c);          /* lingering done, or the body will never end */
            return;
        }
        if (c->state == C_WAIT) {
            c->keepalive = 0;        /* answer, then close */
            return;
        }
    }
    if (c->state == C_WAIT && r > 0) {
        c->ahead += (size_t)r;
        c->app->pipelined += (size_t)r;
    }
    if (c->state == C_BODY)
        client_timer(c, &c->app->tv_idle);
    client_process(c);
}

static void client_writecb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    (void)fd;
    (void)what;
    client_flush(c);
    if (!c->dead && c->state == C_HEAD && evbuffer_get_length(c->out) == 0 && !c->header_timer)
        client_timer(c, &c->app->tv_idle);
}

static void client_timercb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    (void)fd;
    (void)what;

    switch (c->state) {
    case C_HEAD:
        if (evbuffer_get_length(c->in) > 0 && evbuffer_get_length(c->out) == 0) {
            respond_error(c, 408, 1, "header_timeout");
            return;
        }
        client_kill(c);             /* idle keep-alive, or a reader that stalls */
        return;
    case C_BODY:
        if (!c->resp_started) {
            respond_error(c, 408, 1, "body_timeout");
            return;
        }
        client_kill(c);
        return;
    default:
        client_kill(c);
        return;
    }
}

static void client_resumecb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    (void)fd;
    (void)what;
    if (c->dead) {
        client_free(c);
        return;
    }
    if (c->state == C_HEAD)
        client_process(c);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct app *app = arg;
    struct client *c;
    int one = 1;
    (void)l;
    (void)salen;

    if (app->draining) {
        close(fd);
        return;
    }
    unsigned maxhdr = (unsigned)app->cfg->limits.max_headers;
    size_t hsz = maxhdr * (2 * sizeof(struct http1_hdr) + 2);
    if ((c = calloc(1, sizeof *c)) == NULL || (c->hdr = malloc(hsz)) == NULL ||
        (c->in = evbuffer_new()) == NULL || (c->out = evbuffer_new()) == NULL) {
        log_at(LOG_ERROR, "out of memory accepting a connection");
        if (c) {
            if (c->in)
                evbuffer_free(c->in);
            free(c->hdr);
            free(c);
        }
        close(fd);
        return;
    }
    c->app = app;
    c->fd = fd;
    c->maxhdr = maxhdr;
    c->uhdr = c->hdr + maxhdr;
    c->kind = (uint8_t *)(c->uhdr + maxhdr);
    c->ukind = c->kind + maxhdr;
    c->state = C_HEAD;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->ip, sizeof c->ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->ip, sizeof c->ip);
    else
        strcpy(c->ip, "unknown");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    event_assign(&c->rev, app->base, fd, EV_READ | EV_PERSIST, client_readcb, c);
    event_assign(&c->wev, app->base, fd, EV_WRITE | EV_PERSIST, client_writecb, c);
    evtimer_assign(&c->tmo, app->base, client_timercb, c);
    event_assign(&c->resume, app->base, -1, 0, client_resumecb, c);
    c->next = app->clients;
    if (app->clients)
        app->clients->prev = c;
    app->clients = c;
    app->nclients++;
    app->connections_total++;
    client_read_enable(c, 1);
    client_timer(c, &app->tv_idle);
    if (app->nclients >= (unsigned)app->cfg->limits.max_connections && !app->listener_paused) {
        /* new connections wait in the kernel's backlog until one closes */
        evconnlistener_disable(app->listener);
        app->listener_paused = 1;
        log_at(LOG_WARN, "max_connections (%d) reached: not accepting until one closes",
               app->cfg->limits.max_connections);
    }
}

/* Out of descriptors: close up to <max> keep-alive connections that sit
 * idle between requests, oldest first (nginx does the same), so that new
 * clients are not left in the kernel's backlog until an idle one times out.
 * A connection in the middle of a request, or one that has not sent its
 * first request yet, is left alone. Returns how many were closed. */
static unsigned drain_idle(struct app *app, unsigned max)
{
    struct client *c = app->clients, *prev;
    unsigned n = 0;

    while (c && c->next)
        c = c->next;                  /* the tail: the oldest connection */
    for (; c && n < max; c = prev) {
        prev = c->prev;
        if (c->dead || !c->kept || c->state != C_HEAD || c->in_exchange ||
            evbuffer_get_length(c->in) > 0 || evbuffer_get_length(c->out) > 0)
            continue;
        client_kill(c);
        n++;
    }
    return n;
}

/* The listener was paused for lack of descriptors. Whoever frees one -- a
 * client, an upstream connection, the admin listener, a memory reading --
 * does not know about the proxy's listener, so accept() is simply tried
 * again a little later (HAProxy and nginx do the same); if descriptors are
 * still short it fails and pauses again. A pause at max_connections is left
 * to client_free(). */
static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct app *app = arg;
    (void)fd;
    (void)what;
    if (app->listener && app->listener_paused && !app->draining &&
        app->nclients < (unsigned)app->cfg->limits.max_connections) {
        evconnlistener_enable(app->listener);
        app->listener_paused = 0;
    }
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct app *app = arg;
    int err = EVUTIL_SOCKET_ERROR();
    (void)l;
    if (err == EMFILE || err == ENFILE) {
        static const struct timeval retry = { 0, ACCEPT_RETRY_MS * 1000 };
        /* out of descriptors: pause until a connection closes, or the retry */
        evconnlistener_disable(app->listener);
        app->listener_paused = 1;
        app->connections_rejected++;
        evtimer_add(app->ev_accept_retry, &retry);
        unsigned n = drain_idle(app, 32);
        app->idle_drained += n;
        uint64_t now = app_now_us();
        if (n > 0 || now - app->accept_warn_us >= 1000000) {   /* not ten lines a second */
            app->accept_warn_us = now;
            log_at(LOG_WARN, "accept: %s: closed %u idle keep-alive connection%s (limits.max_connections %d; "
                   "raise the descriptor limit or lower it)", evutil_socket_error_to_string(err), n,
                   n == 1 ? "" : "s", app->cfg->limits.max_connections);
        }
        return;
    }
    log_at(LOG_WARN, "accept: %s", evutil_socket_error_to_string(err));
}

int proxy_start(struct app *app)
{
    const struct config_addr *a = &app->cfg->listen;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;

    app->listener = evconnlistener_new_bind(app->base, accept_cb, app,
                                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                            LEV_OPT_CLOSE_ON_EXEC,
                                            1024, (const struct sockaddr *)&a->sa, (int)a->salen);
    if (app->listener == NULL) {
        log_at(LOG_ERROR, "listen %s: %s", a->text, strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(app->listener, accept_error_cb);
    app->ev_accept_retry = evtimer_new(app->base, accept_retry_cb, app);
    if (app->ev_accept_retry == NULL) {
        log_at(LOG_ERROR, "listen %s: out of memory", a->text);
        evconnlistener_free(app->listener);
        app->listener = NULL;
        return -1;
    }
    if (getsockname(evconnlistener_get_fd(app->listener), (struct sockaddr *)&ss, &sl) == 0)
        config_addr_str((struct sockaddr *)&ss, app->listen_addr, sizeof app->listen_addr);
    log_at(LOG_INFO, "proxy listening on %s, upstream %s", app->listen_addr,
           app->cfg->upstream.text);
    return 0;
}

void proxy_gate_release(struct app *app, struct gate_waiter *w)
{
    struct client *c = (struct client *)(void *)((char *)w - offsetof(struct client, gw));
    (void)app;
    uint64_t now = app_now_us();
    c->gate_pass = 1;
    c->held_us = now > w->since_us ? now - w->since_us : 0;
    if (c->dead)
        return;
    client_read_enable(c, 1);
    event_active(&c->resume, EV_READ, 0);     /* parsed again and started, next turn */
}

void proxy_drain(struct app *app)
{
    app->draining = 1;
    if (app->gate)
        gate_open(app->gate);        /* held requests finish like the others */
    if (app->ev_accept_retry)
        event_del(app->ev_accept_retry);
    if (app->listener) {
        evconnlistener_free(app->listener);   /* new connections are refused */
        app->listener = NULL;
    }
    upstream_pool_clear(app);
    for (struct client *c = app->clients; c; c = c->next) {
        if (!c->dead && c->state == C_HEAD && !c->in_exchange &&
            evbuffer_get_length(c->in) == 0 && evbuffer_get_length(c->out) == 0)
            client_kill(c);
    }
    if (app->nclients == 0)
        event_base_loopbreak(app->base);
}

void proxy_stop(struct app *app)
{
    if (app->ev_accept_retry)
        event_free(app->ev_accept_retry);
    app->ev_accept_retry = NULL;
    if (app->listener) {
        evconnlistener_free(app->listener);
        app->listener = NULL;
    }
    while (app->clients) {
        struct client *c = app->clients;
        client_kill(c);
        client_free(c);
    }
    upstream_pool_clear(app);
    free(app->path_buf);
    app->path_buf = NULL;
    app->path_cap = 0;
}
