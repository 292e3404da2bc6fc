/* proxy.h -- the client-facing listener and the forwarding path.
 *
 * Each client connection is a small state machine on plain libevent events
 * (no bufferevents, no evhttp): read a head, parse and validate it
 * (http1.c), tag it with its route, forward it to an upstream connection,
 * relay the body both ways with bounded buffers (a slow reader pauses the
 * other side), record the outcome in the route's stats slot. A request
 * allocates nothing beyond the evbuffer chains libevent needs. */
#ifndef LEAKPROXY_PROXY_H
#define LEAKPROXY_PROXY_H

struct app;

/* Binds cfg->listen and starts accepting. 0, or -1 with a message logged. */
int proxy_start(struct app *app);
/* Stops accepting (SIGTERM), closes idle connections and lets the others
 * finish their current exchange; the loop exits when none are left. */
void proxy_drain(struct app *app);
struct gate_waiter;
/* The admission gate (gate.h) lets the request held in <w> start. */
void proxy_gate_release(struct app *app, struct gate_waiter *w);

/* Closes every connection at once (final shutdown). */
void proxy_stop(struct app *app);
#endif
