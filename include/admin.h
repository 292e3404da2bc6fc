/* admin.h -- the admin listener (libevent evhttp; low traffic, so the
 * convenience of evhttp is worth its cost here, unlike on the hot path):
 * JSON API, Prometheus /metrics, /healthz. Loopback by default; when it is
 * not, every request needs "Authorization: Bearer <admin_token>". */
#ifndef LEAKPROXY_ADMIN_H
#define LEAKPROXY_ADMIN_H
#include <stddef.h>

struct app;
struct evbuffer;

/* Binds cfg->admin. 0, or -1 with a message logged. */
int admin_start(struct app *app);
void admin_stop(struct app *app);

/* Renders the Prometheus text exposition of <app> into <out>. */
void admin_metrics(struct app *app, struct evbuffer *out);
/* 1 if <given> (<glen> bytes) equals <token>, in time independent of where
 * they differ. */
int admin_token_ok(const char *token, const char *given, size_t glen);
/* 1 if the Host header value <host> ("name", "name:port", "[v6]:port")
 * names this machine's loopback: "localhost", an IPv4 literal in
 * 127.0.0.0/8 or "[::1]", each with an optional decimal port. The whole
 * value is parsed, so "127.0.0.1.nip.io" or "localhost.evil.com" (names a
 * DNS-rebinding page can carry) are not loopback. */
int admin_host_is_loopback(const char *host);
#endif
