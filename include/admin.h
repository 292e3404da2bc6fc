/* admin.h -- the admin listener (libevent evhttp; low traffic, so the
 * convenience of evhttp is worth its cost here, unlike on the hot path):
 * JSON API, the leak report (report.h), Prometheus /metrics (metrics.h),
 * /healthz, the dashboard's files. Loopback by default; when it is not,
 * every request but /healthz and the dashboard's files needs
 * "Authorization: Bearer <admin_token>".
 *
 * A request is only checked once it is complete, so an idle or partial one
 * costs nothing to send: the listener holds at most ADMIN_MAX_CONNS
 * connections (more wait in the kernel's backlog), and each request must
 * arrive complete within ADMIN_REQUEST_SEC of the connection opening or of
 * the previous answer, else the connection is closed. So admin clients hold
 * a bounded number of the descriptors the proxy needs, each for a bounded
 * time. */
#ifndef LEAKPROXY_ADMIN_H
#define LEAKPROXY_ADMIN_H
#include <stddef.h>

struct app;
struct evbuffer;
struct json_t;

#define ADMIN_MAX_CONNS   64   /* open admin connections */
#define ADMIN_REQUEST_SEC 5    /* to send a whole request (head and body) */

/* Binds cfg->admin. 0, or -1 with a message logged. */
int admin_start(struct app *app);
/* Closes the listener and every admin connection. Fine if not started. */
void admin_stop(struct app *app);

/* Appends <j> as the body of a JSON answer (compact, one line) to <out>.
 * 0, or -1 when <j> is NULL (a json_pack that failed) or cannot be encoded
 * (a string that is not UTF-8) or out of memory; then the caller discards
 * what <out> got and answers 500. Does not take <j>. */
int admin_json_body(struct evbuffer *out, const struct json_t *j);
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
