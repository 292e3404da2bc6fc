/* upstream.h -- connections to the SSR server: connect, keep-alive pool,
 * idle expiry.
 *
 * An upconn is either attached to a client (carrying one exchange, driven by
 * proxy.c through the callbacks below) or idle in the app's pool, where a
 * read event watches for the server closing it and a timer closes it after
 * timeouts.upstream_idle_ms (below Node's default keepAliveTimeout of 5 s, so
 * the proxy, not the server, normally closes idle connections). A connection
 * goes back to the pool only after a complete, correctly framed response
 * that did not ask to close; anything else discards it. */
#ifndef LEAKPROXY_UPSTREAM_H
#define LEAKPROXY_UPSTREAM_H
#include <event2/event_struct.h>
#include <stddef.h>
#include <stdint.h>

#include "http1.h"

struct app;
struct client;
struct evbuffer;

struct upconn {
    struct app *app;
    struct client *client;           /* NULL while idle */
    struct upconn *next, *prev;      /* pool list while idle */
    int fd;
    int connecting;
    int reading;                     /* read event added */
    struct event rev, wev, tmo;
    struct evbuffer *in, *out;
    unsigned requests;               /* exchanges carried so far */
    unsigned target;                 /* index into cfg->targets */
    unsigned gen;                    /* app->pool_gen when opened */
};

/* An idle pooled connection (unless <fresh>), or a new one being connected.
 * <*reused> says which. NULL if a socket cannot even be created or the
 * connect fails at once (then errno is set). */
struct upconn *upstream_get(struct app *app, unsigned target, int fresh, int *reused);
/* Returns <u> to the pool, or closes it when the pool is full. */
void upstream_put(struct upconn *u);
/* Closes <u> and frees it. */
void upstream_close(struct upconn *u);
/* Writes what <u->out> holds; the rest goes out when the socket is ready.
 * Returns -1 if the write failed: proxy_upstream_error() has run and <u> may
 * be gone. */
int upstream_flush(struct upconn *u);
/* Starts / stops reading (backpressure from a slow client). */
void upstream_read_enable(struct upconn *u, int on);
/* Arms <u>'s timer (NULL: disarm). */
void upstream_timer(struct upconn *u, const struct timeval *tv);
/* Closes every idle connection (reload, shutdown); after a reload, busy
 * ones are closed instead of pooled when they finish. */
void upstream_pool_clear(struct app *app);

/* Reads up to one chunk from <fd> into <b>: >0 bytes, 0 EOF, -1 error
 * (errno; EAGAIN means nothing to read). Shared with proxy.c. */
long io_read(struct evbuffer *b, int fd);

/* Implemented by proxy.c: events on an attached upconn. */
void proxy_upstream_connected(struct client *c);
void proxy_upstream_readable(struct client *c);
void proxy_upstream_writable(struct client *c);
void proxy_upstream_error(struct client *c, int err, int timeout);
#endif
