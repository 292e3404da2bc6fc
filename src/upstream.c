/* upstream.c -- the upstream connection pool. See upstream.h.
 *
 * Reads go through upstream_io_read(): evbuffer_reserve_space() + readv() of
 * IO_READ_SIZE bytes, because libevent 2.1's evbuffer_read() reads at most
 * 4 KB per call plus an ioctl(FIONREAD). */
#include "upstream.h"
#include "app.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define IO_READ_SIZE 16384

long upstream_io_read(struct evbuffer *b, int fd)
{
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    int n = evbuffer_reserve_space(b, IO_READ_SIZE, v, 2);
    if (n <= 0) {
        errno = ENOMEM;
        return -1;
    }
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    ssize_t r = readv(fd, iov, n);
    if (r <= 0) {
        evbuffer_commit_space(b, v, 0);
        return r;
    }
    size_t left = (size_t)r;
    for (int i = 0; i < n; i++) {
        if (v[i].iov_len > left)
            v[i].iov_len = left;
        left -= v[i].iov_len;
    }
    evbuffer_commit_space(b, v, n);
    return r;
}

static void pool_unlink(struct upconn *u)
{
    struct app *app = u->app;
    if (u->prev)
        u->prev->next = u->next;
    else if (app->idle[u->target] == u)
        app->idle[u->target] = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->next = u->prev = NULL;
    app->nidle--;
    app->nidle_of[u->target]--;
}

void upstream_close(struct upconn *u)
{
    if (u == NULL)
        return;
    if (u->ops == NULL && (u->prev || u->next || u->app->idle[u->target] == u))
        pool_unlink(u);
    event_del(&u->rev);
    event_del(&u->wev);
    event_del(&u->tmo);
    if (u->fd >= 0)
        close(u->fd);
    evbuffer_free(u->in);
    evbuffer_free(u->out);
    u->app->nupconns--;
    free(u);
}

void upstream_timer(struct upconn *u, const struct timeval *tv)
{
    if (tv)
        event_add(&u->tmo, tv);
    else
        event_del(&u->tmo);
}

void upstream_read_enable(struct upconn *u, int on)
{
    if (on && !u->reading)
        event_add(&u->rev, NULL);
    else if (!on && u->reading)
        event_del(&u->rev);
    u->reading = on;
}

int upstream_flush(struct upconn *u)
{
    if (u->connecting)
        return 0;
    while (evbuffer_get_length(u->out) > 0) {
        int n = evbuffer_write(u->out, u->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                event_add(&u->wev, NULL);
                return 0;
            }
            if (u->ops)
                u->ops->error(u->owner, errno, 0);
            return -1;
        }
    }
    event_del(&u->wev);
    return 0;
}

static void upstream_readcb(evutil_socket_t fd, short what, void *arg)
{
    struct upconn *u = arg;
    (void)fd;
    (void)what;
    if (u->ops) {
        u->ops->readable(u->owner);
        return;
    }
    /* idle: the server closed it, or sent bytes nobody asked for */
    char b[1];
    if (recv(u->fd, b, 1, MSG_PEEK) < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    upstream_close(u);
}

static void upstream_writecb(evutil_socket_t fd, short what, void *arg)
{
    struct upconn *u = arg;
    (void)what;
    if (u->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            event_del(&u->wev);
            u->ops->error(u->owner, err, 0);
            return;
        }
        u->connecting = 0;
        u->ops->connected(u->owner);
        return;
    }
    if (u->ops)
        u->ops->writable(u->owner);
    else
        event_del(&u->wev);
}

static void upstream_timercb(evutil_socket_t fd, short what, void *arg)
{
    struct upconn *u = arg;
    (void)fd;
    (void)what;
    if (u->ops)
        u->ops->error(u->owner, ETIMEDOUT, 1);
    else
        upstream_close(u);
}

/* 1 if an idle connection has nothing to read: no byte the upstream sent
 * after its last response (which must never reach another client) and no
 * close. The read event may not have run yet, so ask the socket. */
static int pooled_clean(struct upconn *u)
{
    char b[1];
    if (evbuffer_get_length(u->in) > 0)
        return 0;
    return recv(u->fd, b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct upconn *upstream_get(struct app *app, unsigned target, int fresh, int *reused)
{
    struct upconn *u = app->idle[target];
    const struct config_addr *addr = &app->cfg->targets[target];
    int one = 1;

    while (u && !fresh) {
        pool_unlink(u);
        event_del(&u->tmo);
        if (pooled_clean(u)) {
            app->upstream_reuses++;
            *reused = 1;
            return u;
        }
        upstream_close(u);          /* late bytes or a close since it was pooled */
        u = app->idle[target];
    }
    *reused = 0;
    if ((u = calloc(1, sizeof *u)) == NULL)
        return NULL;
    u->app = app;
    u->target = target;
    u->gen = app->pool_gen;
    u->fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    u->in = evbuffer_new();
    u->out = evbuffer_new();
    if (u->fd < 0 || !u->in || !u->out) {
        int e = errno;
        if (u->fd >= 0)
            close(u->fd);
        evbuffer_free(u->in);
        evbuffer_free(u->out);
        free(u);
        errno = e;
        return NULL;
    }
    setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    event_assign(&u->rev, app->base, u->fd, EV_READ | EV_PERSIST, upstream_readcb, u);
    event_assign(&u->wev, app->base, u->fd, EV_WRITE | EV_PERSIST, upstream_writecb, u);
    evtimer_assign(&u->tmo, app->base, upstream_timercb, u);
    app->nupconns++;
    app->upstream_connects++;
    u->connecting = 1;
    if (connect(u->fd, (const struct sockaddr *)&addr->sa, addr->salen) == 0 ||
        errno == EINPROGRESS) {
        /* even an immediate success reports through the write event, so the
         * caller can finish setting up the exchange first */
        event_add(&u->wev, NULL);
        event_add(&u->tmo, &app->tv_connect);
        return u;
    }
    int e = errno;
    upstream_close(u);
    errno = e;
    return NULL;
}

void upstream_attach(struct upconn *u, const struct upstream_ops *ops, void *owner)
{
    u->ops = ops;
    u->owner = owner;
}

void upstream_detach(struct upconn *u)
{
    u->ops = NULL;
    u->owner = NULL;
}

void upstream_put(struct upconn *u)
{
    struct app *app = u->app;

    upstream_detach(u);
    event_del(&u->wev);
    if (app->draining || app->nidle >= (unsigned)app->cfg->limits.upstream_idle ||
        evbuffer_get_length(u->in) > 0 || u->gen != app->pool_gen) {
        upstream_close(u);
        return;
    }
    evbuffer_drain(u->out, evbuffer_get_length(u->out));
    u->next = app->idle[u->target];
    u->prev = NULL;
    if (u->next)
        u->next->prev = u;
    app->idle[u->target] = u;
    app->nidle++;
    app->nidle_of[u->target]++;
    upstream_read_enable(u, 1);
    event_add(&u->tmo, &app->tv_upidle);
}

void upstream_pool_clear(struct app *app)
{
    for (unsigned t = 0; t < CONFIG_TARGETS_MAX; t++)
        while (app->idle[t])
            upstream_close(app->idle[t]);
    app->pool_gen++;
}
