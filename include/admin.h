/* admin.h -- the admin listener (libevent evhttp; low traffic, so the
 * convenience of evhttp is worth its cost here, unlike on the hot path):
 * JSON API, Prometheus /metrics, /healthz. Loopback by default; when it is
 * not, every request needs "Authorization: Bearer <admin_token>". */
#ifndef LEAKPROXY_ADMIN_H
#define LEAKPROXY_ADMIN_H
#include <stddef.h>

struct app;
struct evbuffer;
struct json_t;

/* Binds cfg->admin. 0, or -1 with a message logged. */
int admin_start(struct app *app);
void admin_stop(struct app *app);

/* Renders the Prometheus text exposition of <app> into <out>. */
void admin_metrics(struct app *app, struct evbuffer *out);
/* Appends <j> as the body of a JSON answer (compact, one line) to <out>.
 * 0, or -1 when <j> is NULL (a json_pack that failed) or cannot be encoded
 * (a string that is not UTF-8) or out of memory; then the caller discards
 * what <out> got and answers 500. Does not take <j>. */
int admin_json_body(struct evbuffer *out, const struct json_t *j);
/* 1 if <given> (<glen> bytes) equals <token>, in time independent of where
 * they differ. */
int admin_token_ok(const char *token, const char *given, size_t glen);
#endif
