/* upstream.h -- connections to the SSR server: connect, keep-alive pool,
 * idle expiry.
 *
 * An upconn is either attached to an owner (carrying one exchange: the
 * owner's upstream_ops hear its socket's events) or idle in the app's pool, where a
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
struct evbuffer;

/* What an attached connection reports to its owner (proxy.c's client):
 * the connect completed, the response can be read, the request can be
 * written, or it failed (<timeout>: the timer of upstream_timer fired). */
struct upstream_ops {
    void (*connected)(void *owner);
    void (*readable)(void *owner);
    void (*writable)(void *owner);
    void (*error)(void *owner, int err, int timeout);
};

struct upconn {
    struct app *app;
    const struct upstream_ops *ops;  /* NULL while idle */
    void *owner;
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
/* Attaches <u> to <owner>: from now its events go to <ops>. */
void upstream_attach(struct upconn *u, const struct upstream_ops *ops, void *owner);
/* Detaches <u> from its owner (before upstream_close, so that nothing more
 * reaches the owner). upstream_put detaches by itself. */
void upstream_detach(struct upconn *u);
/* Returns <u> to the pool, or closes it when the pool is full. */
void upstream_put(struct upconn *u);
/* Closes <u> and frees it. */
void upstream_close(struct upconn *u);
/* Writes what <u->out> holds; the rest goes out when the socket is ready.
 * Returns -1 if the write failed: the owner's error callback has run and
 * <u> may be gone. */
int upstream_flush(struct upconn *u);
/* Starts / stops reading (backpressure from a slow client). */
void upstream_read_enable(struct upconn *u, int on);
/* Arms <u>'s timer (NULL: disarm). */
void upstream_timer(struct upconn *u, const struct timeval *tv);
/* Closes every idle connection (reload, shutdown); after a reload, busy
 * ones are closed instead of pooled when they finish. */
void upstream_pool_clear(struct app *app);

/* Reads up to one chunk from <fd> into <b>: >0 bytes, 0 EOF, -1 error
 * (errno; EAGAIN means nothing to read). Shared with proxy.c's client side. */
long upstream_io_read(struct evbuffer *b, int fd);
#endif
