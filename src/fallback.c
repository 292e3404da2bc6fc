/* fallback.c -- the client-render fallback, see fallback.h. */
#include "fallback.h"
#include "http1.h"
#include "route.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fallback_blob_unref(struct fallback_blob *b)
{
    if (b && --b->refs == 0)
        free(b);
}

int fallback_blob_read(const char *path, struct fallback_blob **out, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) < 0) {
        fclose(f);
        snprintf(why, whylen, "not a regular file");
        return -1;
    }
    long len = ftell(f);
    if (len < 0 || len > FALLBACK_FILE_MAX) {
        fclose(f);
        snprintf(why, whylen, "%s", len < 0 ? "cannot tell its size" : "larger than 16 MB");
        return -1;
    }
    rewind(f);
    struct fallback_blob *b = malloc(sizeof *b + (size_t)len + 1);
    if (b == NULL || fread(b->data, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        fclose(f);
        snprintf(why, whylen, "read error");
        return -1;
    }
    fclose(f);
    b->refs = 1;
    b->len = (size_t)len;
    *out = b;
    return 0;
}

const struct config_fallback *fallback_for(const struct config *cfg, unsigned id)
{
    if (id != ROUTE_OTHER && id < cfg->nroute_fb && cfg->route_fb[id].kind != FB_NONE)
        return &cfg->route_fb[id];
    return &cfg->fallback;
}

unsigned fallback_target(const struct config_fallback *fb)
{
    return fb->kind == FB_UPSTREAM ? fb->target : 0;
}

void fallback_request_header(const struct config_fallback *fb, struct evbuffer *out)
{
    if (fb->kind == FB_HEADER)
        evbuffer_add_printf(out, "%s: %s\r\n", fb->hname, fb->hvalue);
}

int fallback_replaces_header(const char *name, size_t len)
{
    return http1_name_is(name, len, "cache-control") || http1_name_is(name, len, "x-leakproxy-mode");
}
