/* fallback.h -- what a route in csr mode is answered with (README "The SSR
 * switch"): which fallback serves a route, the shell file a "file" fallback
 * sends, and the pieces of an exchange a fallback changes -- the headers
 * every csr answer carries, the header a "header" fallback adds to the
 * request, the upstream a "upstream" fallback sends it to.
 *
 * config.c parses "fallback" objects into struct config_fallback and reads
 * the shell with fallback_blob_read(); the proxy asks fallback_for() once per
 * request of a csr route and shapes the exchange with the rest. Nothing here
 * decides whether a route is in csr mode: that is mode.h. */
#ifndef LEAKPROXY_FALLBACK_H
#define LEAKPROXY_FALLBACK_H
#include <stddef.h>

#include "config.h"

struct evbuffer;

/* Every csr answer, from the shell or from an upstream: never cached as the
 * page, and marked so a client or a test can tell. */
#define FALLBACK_CSR_HEADERS "Cache-Control: no-store\r\nX-Leakproxy-Mode: csr\r\n"

#define FALLBACK_FILE_MAX (16L << 20)   /* a larger shell file is a config error */

/* The shell file, shared by every response that sends it (by reference):
 * freed when the last reference goes, so a reload never pulls it from under
 * a response still being written. */
struct fallback_blob {
    unsigned refs;
    size_t len;
    char data[];
};

/* Reads <path> into a new blob (one reference) at <*out>: 0, or -1 with the
 * reason in <why> ("No such file or directory", "larger than 16 MB", ...). */
int fallback_blob_read(const char *path, struct fallback_blob **out, char *why, size_t whylen);
void fallback_blob_unref(struct fallback_blob *b);     /* NULL is fine */

/* The fallback that serves route <id> of <cfg>: the route's own, else the
 * global one (kind FB_NONE when there is neither). _other and ids outside
 * the table (a route gone in a reload) get the global one. */
const struct config_fallback *fallback_for(const struct config *cfg, unsigned id);

/* Index into config.targets the request goes to: the fallback's upstream,
 * else 0 (the upstream). */
unsigned fallback_target(const struct config_fallback *fb);
/* Appends the header a "header" fallback adds to the request ("X-SSR-Off:
 * 1\r\n"); nothing for the other kinds. */
void fallback_request_header(const struct config_fallback *fb, struct evbuffer *out);
/* 1 if an upstream's response header <name> (<len> bytes) is one that
 * FALLBACK_CSR_HEADERS replaces in a csr answer. */
int fallback_replaces_header(const char *name, size_t len);
#endif
