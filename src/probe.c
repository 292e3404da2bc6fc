/* probe.c -- captured requests and the probe: a controlled experiment on one
 * route, the automated form of the routine teams ran by hand (force GC,
 * read, send requests, force GC, read, divide).
 *
 * Capture. Every GET/HEAD without a body is copied, as a ready-to-send
 * request (method, target, headers minus hop-by-hop ones, Cookie and
 * Authorization), into its route's ring of PROBE_RING slots of
 * PROBE_ENTRY_MAX bytes. The ring is allocated at the route's first request
 * and then only overwritten: memory is bounded by the number of routes,
 * never by traffic, and the hot path copies a few hundred bytes.
 *
 * Probe. Blocks of <block> requests replayed straight to the upstream (not
 * through the proxy, so they are not counted as live traffic), each between
 * two forced-GC readings. The first block is reported apart (warm-up: module
 * loading, caches filling); the estimate is the mean over the other blocks
 * with a Student t interval across blocks.
 *
 * Control: live traffic is held at the admission gate for each block, from
 * before its first reading (the live exchanges in flight end first) to its
 * second, so a block measures its replays alone, whatever the engine knows
 * yet (at full speed a leaking route in the live mix moves the heap by
 * megabytes a second: subtracting estimates that do not exist yet was the
 * error). Blocks run in chains of PROBE_CHAIN, one reading ending a block
 * and starting the next; between chains the gate opens for as long as the
 * chain took, so live traffic gets about half the time. The first block of
 * each chain is not measured (see floor_cb). If the gate's own bound ends a hold
 * early (5 s), the live requests that went through are subtracted with the
 * engine's estimates, counted and reported, as before.
 *
 * Split (data-dependent leaks: a route leaks only for some inputs): the
 * captured requests are grouped by the value of a path parameter, a query
 * key or a header, and each group is probed on its own: "/live/:id leaks
 * for id 1, 3, 5, not for 2, 4, 6". */
#include "probe.h"
#include "events.h"
#include "fit.h"
#include "app.h"
#include "attrib.h"
#include "config.h"
#include "log.h"
#include "memsrc.h"
#include "route.h"
#include "stats.h"
#include "utf8.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- capture ---------------------------------------------------------------- */

struct capture_ring {
    unsigned head, n;
    uint16_t len[PROBE_RING];
    char data[PROBE_RING][PROBE_ENTRY_MAX];
};

void probe_capture(struct app *app, unsigned slot, const char *p, const struct http1_head *h,
                   int (*forwarded)(const void *ctx, unsigned i), const void *ctx)
{
    struct probe_state *ps = &app->probe;
    if (slot >= PROBE_MAX_SLOTS)
        return;
    if (ps->rings[slot] == NULL) {
        /* once per route, at its first request: bounded by the route count */
        if ((ps->rings[slot] = calloc(1, sizeof *ps->rings[slot])) == NULL)
            return;
    }
    struct capture_ring *r = ps->rings[slot];
    unsigned idx = (r->head + r->n) % PROBE_RING;
    char *d = r->data[idx];
    size_t n = 0, max = PROBE_ENTRY_MAX;
#define PUT(src, l) do { if (n + (l) > max) return; memcpy(d + n, (src), (l)); n += (l); } while (0)
    PUT(p + h->method, h->method_len);
    PUT(" ", 1);
    if ((h->flags & HTTP1_ABSOLUTE) && (h->target_len == 0 || p[h->target] != '/'))
        PUT("/", 1);
    PUT(p + h->target, h->target_len);
    PUT("\n", 1);
    for (unsigned i = 0; i < h->nhdr; i++) {
        const struct http1_hdr *hd = &h->hdr[i];
        const char *name = p + hd->name;
        if (!forwarded(ctx, i))
            continue;                 /* as the upstream got it: the proxy's rules applied */
        if (http1_name_is(name, hd->name_len, "cookie") || http1_name_is(name, hd->name_len, "authorization"))
            continue;                 /* never kept: credentials */
        PUT(name, hd->name_len);
        PUT(": ", 2);
        PUT(p + hd->value, hd->value_len);
        PUT("\n", 1);
    }
#undef PUT
    r->len[idx] = (uint16_t)n;
    if (r->n < PROBE_RING)
        r->n++;
    else
        r->head = (r->head + 1) % PROBE_RING;
    ps->captured++;
}

void probe_free(struct app *app)
{
    struct probe_state *ps = &app->probe;
    if (ps->auto_timer) {
        event_free(ps->auto_timer);
        ps->auto_timer = NULL;
    }
    for (unsigned i = 0; i < PROBE_MAX_SLOTS; i++) {
        free(ps->rings[i]);
        ps->rings[i] = NULL;
    }
    if (ps->run) {
        probe_abort(app, "leakproxy is stopping");
    }
}

unsigned probe_captured(const struct app *app, unsigned slot)
{
    return slot < PROBE_MAX_SLOTS && app->probe.rings[slot] ? app->probe.rings[slot]->n : 0;
}

/* ---- the experiment ----------------------------------------------------------- */

#define PROBE_GROUPS_MAX 12
#define PROBE_BLOCKS_MAX 64
#define PROBE_CHAIN      4            /* blocks in a row with live traffic held */

struct probe_group {
    char key[64];                     /* split value, "" for all */
    unsigned idx[PROBE_RING];         /* captured entries of this group */
    unsigned nidx;
    unsigned nblocks;
    double per_req[PROBE_BLOCKS_MAX]; /* retained bytes per request, per block */
    double live_adjust[PROBE_BLOCKS_MAX];
    unsigned errors;
    /* result */
    int done;
    double est, low, high, first_block;
    const char *verdict;
};

struct probe_run {
    struct app *app;
    unsigned slot;
    /* the route's captured requests when the probe started: live traffic
     * keeps writing the route's ring meanwhile, and a group's entries must
     * stay the requests it was formed from (a split group replayed other
     * ids under its own label) */
    struct capture_ring *snap;
    char route[ROUTE_NAME_MAX + 1];
    unsigned block, concurrency, requests;
    char split[80];
    struct probe_group g[PROBE_GROUPS_MAX];
    unsigned ng, cur_g, cur_block;
    int phase;                        /* 0 GC before, 1 replay, 2 GC after */
    uint64_t floor0;
    uint64_t *counts0;                /* global rendered counts at the block's start */
    unsigned ncounts;
    unsigned sent, answered, inflight;
    uint64_t own;                     /* replays answered since the block's counts snapshot */
    struct evhttp_connection *conn[16];
    struct event *pause;              /* live traffic runs between two chains of blocks */
    unsigned chain_pos;               /* blocks done in the current chain */
    uint64_t block_started_us;
    uint64_t started_ms, finished_ms, live_total, live_unknown;
    char state[16];                   /* running, done, failed, aborted */
    char message[256];
};

static void probe_next(struct probe_run *pr);

static void probe_finish(struct probe_run *pr, const char *state, const char *msg)
{
    snprintf(pr->state, sizeof pr->state, "%s", state);
    snprintf(pr->message, sizeof pr->message, "%s", msg ? msg : "");
    pr->finished_ms = app_wall_ms(pr->app);
    for (unsigned i = 0; i < 16; i++)
        if (pr->conn[i]) {
            evhttp_connection_free(pr->conn[i]);
            pr->conn[i] = NULL;
        }
    memsrc_cancel_floor(pr->app);
    memsrc_hold_release(pr->app, 1);
    if (pr->pause)
        event_del(pr->pause);
    log_at(LOG_INFO, "probe of route %s: %s%s%s", pr->route, state, msg ? ": " : "", msg ? msg : "");
    struct event_rec *ev = events_begin(pr->app, EVT_PROBE, "probe");
    events_add_route(ev, pr->route);
    snprintf(ev->reason, sizeof ev->reason, "probe of %s %s%s%s", pr->route, state, msg && *msg ? ": " : "",
             msg ? msg : "");
    events_commit(pr->app, ev);
}

/* Expected retention of the live requests forwarded since <counts0>. */
static double live_retention(struct probe_run *pr)
{
    struct app *app = pr->app;
    double adj = 0;
    for (unsigned i = 0; i < app->stats.n && i < pr->ncounts; i++) {
        uint64_t d = stats_at(&app->stats, i)->rendered - pr->counts0[i];
        if (i == pr->slot)
            d = d > pr->own ? d - pr->own : 0;   /* our own replays are not live traffic */
        if (d == 0)
            continue;
        pr->live_total += d;
        const struct attrib_route *ar = attrib_route_get(app, i);
        if (ar && ar->est[ATTRIB_HEAP].ok)
            adj += ar->est[ATTRIB_HEAP].beta * (double)d;
        else
            pr->live_unknown += d;
    }
    return adj;
}

static void snapshot_counts(struct probe_run *pr)
{
    struct app *app = pr->app;
    if (app->stats.n > pr->ncounts) {
        uint64_t *c = realloc(pr->counts0, app->stats.n * sizeof *c);
        if (c == NULL)
            return;
        pr->counts0 = c;
        pr->ncounts = app->stats.n;
    }
    for (unsigned i = 0; i < app->stats.n; i++)
        pr->counts0[i] = stats_at(&app->stats, i)->rendered;
    pr->own = 0;
}

static void group_result(struct probe_run *pr, struct probe_group *g)
{
    double thr = (double)pr->app->cfg->attrib.min_leak_bytes;
    g->done = 1;
    g->first_block = g->nblocks ? g->per_req[0] : 0;
    unsigned k = g->nblocks > 1 ? g->nblocks - 1 : 0;
    if (k < 2) {
        g->verdict = "unknown";
        return;
    }
    double mean = 0, ss = 0;
    for (unsigned i = 1; i < g->nblocks; i++)
        mean += g->per_req[i];
    mean /= k;
    for (unsigned i = 1; i < g->nblocks; i++)
        ss += (g->per_req[i] - mean) * (g->per_req[i] - mean);
    double se = sqrt(ss / (k - 1) / k), tq = fit_t975((int)k - 1);
    g->est = mean;
    g->low = mean - tq * se;
    g->high = mean + tq * se;
    g->verdict = g->low > thr ? "leaking" : g->high < thr ? "clean" : "unknown";
}

static void floor_cb(void *arg, int err, uint64_t floor, unsigned workers)
{
    struct probe_run *pr = arg;
    (void)workers;
    if (strcmp(pr->state, "running") != 0)
        return;
    if (err) {
        probe_finish(pr, "failed", "the forced-GC memory reading failed (see /api/memory)");
        return;
    }
    struct probe_group *g = &pr->g[pr->cur_g];
    if (pr->phase == 0) {
        pr->floor0 = floor;
        pr->block_started_us = app_now_us();    /* the chain's start */
        snapshot_counts(pr);
        pr->phase = 1;
        pr->sent = pr->answered = 0;
        probe_next(pr);
        return;
    }
    /* phase 2: the block's result. Blocks run in chains of PROBE_CHAIN
     * with live traffic held; what a block creates and the next releases
     * (sockets, timers, caches of a few entries) cancels along a chain,
     * but the first block after a pause carries it alone: it is not
     * measured, except as the group's warm-up block. */
    double live = live_retention(pr);
    double per_req = ((double)floor - (double)pr->floor0 - live) / (double)pr->block;
    unsigned b = g->nblocks;
    if ((pr->chain_pos > 0 || b == 0) && b < PROBE_BLOCKS_MAX) {
        g->live_adjust[b] = live;
        g->per_req[b] = per_req;
        g->nblocks++;
    }
    pr->cur_block++;
    unsigned blocks_per_group = pr->requests / pr->block / pr->ng;
    if (blocks_per_group < 5)
        blocks_per_group = 5;          /* at least a warm-up block and four measured: df = 3 */
    if (blocks_per_group > PROBE_BLOCKS_MAX)
        blocks_per_group = PROBE_BLOCKS_MAX;
    if (pr->cur_block >= blocks_per_group && g->nblocks >= 5) {
        group_result(pr, g);
        pr->cur_block = 0;
        if (++pr->cur_g >= pr->ng) {
            probe_finish(pr, "done", NULL);
            return;
        }
    }
    if (++pr->chain_pos < PROBE_CHAIN) {
        /* the after-reading of this block is the before-reading of the next */
        pr->floor0 = floor;
        snapshot_counts(pr);
        pr->phase = 1;
        pr->sent = pr->answered = 0;
        probe_next(pr);
        return;
    }
    /* live requests go on for as long as the chain held them, then the
     * next chain starts with its own before-reading */
    pr->chain_pos = 0;
    memsrc_hold_release(pr->app, 0);
    pr->phase = 0;
    uint64_t took = app_now_us() - pr->block_started_us;
    if (took > 2000000)
        took = 2000000;
    struct timeval tv = { (time_t)(took / 1000000), (suseconds_t)(took % 1000000) };
    if (pr->pause == NULL || event_add(pr->pause, &tv) < 0)
        probe_next(pr);
}

static void pause_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct probe_run *pr = arg;
    if (strcmp(pr->state, "running") == 0)
        probe_next(pr);
}

static void replay_done(struct evhttp_request *req, void *arg)
{
    struct probe_run *pr = arg;
    pr->inflight--;
    pr->answered++;
    /* a replay is a request of the route the upstream rendered: the engine
     * must see it, or it would blame the growth on the live routes */
    if (req && evhttp_request_get_response_code(req) > 0 && pr->slot < pr->app->stats.n) {
        stats_at(&pr->app->stats, pr->slot)->rendered++;
        pr->own++;
    }
    if (req == NULL || evhttp_request_get_response_code(req) == 0 ||
        evhttp_request_get_response_code(req) >= 500)
        pr->g[pr->cur_g].errors++;
    if (strcmp(pr->state, "running") != 0)
        return;
    probe_next(pr);
}

/* A replay's body, as it arrives: a probe needs the status only (the memory
 * it moved is read from the upstream), so the body is dropped chunk by chunk
 * (libevent drains the buffer after this call) instead of being buffered
 * whole: a 100 MB page cost the proxy hundreds of MB. */
static void replay_body(struct evhttp_request *req, void *arg)
{
    (void)req;
    (void)arg;
}

/* Sends captured entry <e> of the route on connection <ci>. */
static int replay_one(struct probe_run *pr, unsigned ci, const char *e, size_t len)
{
    struct app *app = pr->app;
    if (pr->conn[ci] == NULL) {
        char host[sizeof app->cfg->upstream_host];
        unsigned port = 80;
        snprintf(host, sizeof host, "%s", app->cfg->upstream_host);
        char *colon = strrchr(host, ':');
        if (colon && !strchr(colon, ']')) {
            port = (unsigned)atoi(colon + 1);
            *colon = '\0';
        }
        if (host[0] == '[') {
            memmove(host, host + 1, strlen(host));
            host[strcspn(host, "]")] = '\0';
        }
        pr->conn[ci] = evhttp_connection_base_new(app->base, NULL, host, (unsigned short)port);
        if (pr->conn[ci] == NULL)
            return -1;
        evhttp_connection_set_timeout(pr->conn[ci], (app->cfg->timeouts.response_ms + 999) / 1000);
        /* the head is held whole: the same cap as for proxied responses */
        evhttp_connection_set_max_headers_size(pr->conn[ci], (size_t)app->cfg->limits.max_header_bytes);
    }
    struct evhttp_request *req = evhttp_request_new(replay_done, pr);
    if (req == NULL)
        return -1;
    evhttp_request_set_chunked_cb(req, replay_body);
    char line[PROBE_ENTRY_MAX + 1];
    memcpy(line, e, len);
    line[len] = '\0';
    char *save, *first = strtok_r(line, "\n", &save);
    char *sp = first ? strchr(first, ' ') : NULL;
    if (sp == NULL) {
        evhttp_request_free(req);
        return -1;
    }
    *sp = '\0';
    const char *target = sp + 1;
    struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
    int host = 0;
    for (char *l = strtok_r(NULL, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *c = strchr(l, ':');
        if (c == NULL)
            continue;
        *c = '\0';
        const char *v = c + 1;
        while (*v == ' ')
            v++;
        host |= strcasecmp(l, "host") == 0;
        evhttp_add_header(hdrs, l, v);
    }
    if (!host)
        evhttp_add_header(hdrs, "Host", app->cfg->upstream_host);
    evhttp_add_header(hdrs, "X-Leakproxy-Probe", "1");
    enum evhttp_cmd_type cmd = strcmp(line, "HEAD") == 0 ? EVHTTP_REQ_HEAD : EVHTTP_REQ_GET;
    if (evhttp_make_request(pr->conn[ci], req, cmd, target) < 0)
        return -1;
    pr->inflight++;
    pr->sent++;
    return 0;
}

static void probe_next(struct probe_run *pr)
{
    struct app *app = pr->app;
    struct probe_group *g = &pr->g[pr->cur_g];
    const struct capture_ring *r = pr->snap;

    if (pr->phase == 0) {
        if (memsrc_read_floor(app, floor_cb, pr, 1) < 0)
            probe_finish(pr, "failed", "the memory source cannot force a GC reading now");
        return;
    }
    if (pr->phase == 1) {
        while (pr->sent < pr->block && pr->inflight < pr->concurrency) {
            unsigned e = g->idx[(pr->cur_block * pr->block + pr->sent) % g->nidx];
            if (replay_one(pr, pr->sent % pr->concurrency, r->data[e], r->len[e]) < 0) {
                probe_finish(pr, "failed", "could not send a replayed request to the upstream");
                return;
            }
        }
        if (pr->answered < pr->block)
            return;
        pr->phase = 2;
        if (memsrc_read_floor(app, floor_cb, pr, 1) < 0)
            probe_finish(pr, "failed", "the memory source cannot force a GC reading now");
    }
}

/* Value of the split key in captured entry <e> ("" if absent). The value
 * comes from a client's request and is shown by GET /api/probe: it is cut
 * and cleaned as UTF-8 (utf8.h). */
static void split_value(const char *split, const char *pattern, const char *e, size_t len,
                        char *out, size_t outlen)
{
    char line[PROBE_ENTRY_MAX + 1];
    memcpy(line, e, len);
    line[len] = '\0';
    out[0] = '\0';
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    char *target = strchr(line, ' ');
    if (target == NULL)
        return;
    target++;
    if (strncmp(split, "param:", 6) == 0) {
        /* the segment index of ":name" in the pattern */
        char want[70];
        snprintf(want, sizeof want, ":%s", split + 6);
        int seg = -1, k = 0;
        for (const char *s = pattern; *s; s++)
            if (*s == '/') {
                k++;
                size_t l = strlen(want);
                if (strncmp(s + 1, want, l) == 0 && (s[1 + l] == '/' || s[1 + l] == '\0'))
                    seg = k;
            }
        if (seg < 0)
            return;
        char *q = strchr(target, '?');
        if (q)
            *q = '\0';
        k = 0;
        for (char *s = target; *s; s++)
            if (*s == '/' && ++k == seg) {
                size_t l = strcspn(s + 1, "/");
                utf8_copy(out, outlen, s + 1, l);
                return;
            }
    } else if (strncmp(split, "query:", 6) == 0) {
        char *q = strchr(target, '?');
        size_t kl = strlen(split + 6);
        for (char *s = q; s && *s; s = strchr(s + 1, '&')) {
            if (strncmp(s + 1, split + 6, kl) == 0 && s[1 + kl] == '=') {
                size_t l = strcspn(s + 2 + kl, "&");
                utf8_copy(out, outlen, s + 2 + kl, l);
                return;
            }
        }
    } else if (strncmp(split, "header:", 7) == 0) {
        size_t kl = strlen(split + 7);
        for (char *s = nl ? nl + 1 : NULL; s && *s;) {
            char *end = strchr(s, '\n');
            if (strncasecmp(s, split + 7, kl) == 0 && s[kl] == ':') {
                const char *v = s + kl + 1;
                while (*v == ' ')
                    v++;
                utf8_copy(out, outlen, v, end ? (size_t)(end - v) : strlen(v));
                return;
            }
            s = end ? end + 1 : NULL;
        }
    }
}

/* ---- API -------------------------------------------------------------------- */

int probe_start(struct app *app, const char *route, unsigned requests, unsigned concurrency,
                unsigned block, const char *split, char *err, size_t errlen)
{
    struct probe_state *ps = &app->probe;
    int id = route_find(app->cfg->routes, route);

    if (ps->run && strcmp(ps->run->state, "running") == 0) {
        snprintf(err, errlen, "a probe of route %s is running (DELETE /api/probe aborts it)", ps->run->route);
        return 409;
    }
    if (id < 0) {
        snprintf(err, errlen, "no such route");
        return 404;
    }
    if (!memsrc_can_force_gc(app)) {
        snprintf(err, errlen, "a probe needs per-process floors: a \"memory\" source of type \"http\" "
                 "with a \"gc_url\" (forced GC); this one is \"%s\"",
                 memsrc_kind_name(app->cfg->memory.source));
        return 409;
    }
    unsigned slot = app->route_slot[id];
    if (probe_captured(app, slot) == 0) {
        snprintf(err, errlen, "no requests of route %s captured yet: send some GET requests through the proxy first",
                 route);
        return 409;
    }
    if (split && split[0] && strncmp(split, "param:", 6) != 0 && strncmp(split, "query:", 6) != 0 &&
        strncmp(split, "header:", 7) != 0) {
        snprintf(err, errlen, "split must be \"param:NAME\", \"query:KEY\" or \"header:NAME\"");
        return 400;
    }
    struct probe_run *pr = calloc(1, sizeof *pr);
    if (pr == NULL) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    pr->app = app;
    pr->slot = slot;
    if ((pr->snap = malloc(sizeof *pr->snap)) == NULL) {
        free(pr);
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    memcpy(pr->snap, ps->rings[slot], sizeof *pr->snap);
    pr->pause = evtimer_new(app->base, pause_cb, pr);
    snprintf(pr->route, sizeof pr->route, "%s", route);
    pr->requests = requests ? requests : 200;
    pr->concurrency = concurrency ? (concurrency > 16 ? 16 : concurrency) : 1;
    pr->block = block ? block : 25;
    snprintf(pr->split, sizeof pr->split, "%s", split ? split : "");
    const struct capture_ring *r = pr->snap;
    if (pr->split[0]) {
        for (unsigned i = 0; i < r->n; i++) {
            unsigned e = (r->head + i) % PROBE_RING;
            char v[64];
            split_value(pr->split, route_pattern(app->cfg->routes, (unsigned)id), r->data[e], r->len[e], v, sizeof v);
            unsigned gi;
            for (gi = 0; gi < pr->ng; gi++)
                if (strcmp(pr->g[gi].key, v) == 0)
                    break;
            if (gi == pr->ng) {
                if (pr->ng == PROBE_GROUPS_MAX)
                    continue;
                snprintf(pr->g[pr->ng++].key, sizeof pr->g[0].key, "%s", v);
            }
            pr->g[gi].idx[pr->g[gi].nidx++] = e;
        }
        /* the values seen most first; as many as the budget allows at
         * five blocks each (one warm-up, four measured) */
        for (unsigned a = 0; a < pr->ng; a++)
            for (unsigned b2 = a + 1; b2 < pr->ng; b2++)
                if (pr->g[b2].nidx > pr->g[a].nidx) {
                    struct probe_group t = pr->g[a];
                    pr->g[a] = pr->g[b2];
                    pr->g[b2] = t;
                }
        unsigned fit = pr->requests / (5 * pr->block);
        if (fit < 2)
            fit = 2;
        if (pr->ng > fit)
            pr->ng = fit;
    } else {
        pr->ng = 1;
        for (unsigned i = 0; i < r->n; i++)
            pr->g[0].idx[pr->g[0].nidx++] = (r->head + i) % PROBE_RING;
    }
    if (ps->run) {
        free(ps->run->counts0);
        free(ps->run->snap);
        if (ps->run->pause)
            event_free(ps->run->pause);
    }
    free(ps->run);
    ps->run = pr;
    snprintf(pr->state, sizeof pr->state, "running");
    pr->started_ms = app_wall_ms(app);
    log_at(LOG_INFO, "probe of route %s: %u requests in blocks of %u%s%s", route, pr->requests, pr->block,
           pr->split[0] ? ", split by " : "", pr->split);
    struct event_rec *ev = events_begin(app, EVT_PROBE, "probe");
    events_add_route(ev, route);
    snprintf(ev->reason, sizeof ev->reason, "probe of %s started: %u replayed requests in blocks of %u",
             route, pr->requests, pr->block);
    events_commit(app, ev);
    probe_next(pr);
    return 200;
}

void probe_abort(struct app *app, const char *why)
{
    struct probe_run *pr = app->probe.run;
    if (pr && strcmp(pr->state, "running") == 0)
        probe_finish(pr, "aborted", why);
}

/* ---- attribution.auto_probe ---------------------------------------------- */

#define PROBE_AUTO_TICK_MS    2000
#define PROBE_AUTO_SPACING_MS 60000   /* one route is not probed again sooner */
#define PROBE_AUTO_REQUESTS   200

static void auto_tick(evutil_socket_t fd, short what, void *arg)
{
    struct app *app = arg;
    struct probe_state *ps = &app->probe;
    (void)fd;
    (void)what;
    if (!app->cfg->attrib.auto_probe || !memsrc_can_force_gc(app) ||
        (ps->run && strcmp(ps->run->state, "running") == 0))
        return;
    uint64_t now = app_wall_ms(app);
    int best = -1, best_rank = 0;
    double best_est = 0;
    for (unsigned id = 1; id < route_count(app->cfg->routes); id++) {
        unsigned slot = app->route_slot[id];
        if (slot >= PROBE_MAX_SLOTS || probe_captured(app, slot) == 0 ||
            (ps->auto_last_ms[slot] && now - ps->auto_last_ms[slot] < PROBE_AUTO_SPACING_MS))
            continue;
        const struct attrib_route *ar = attrib_route_get(app, slot);
        char how[8];
        if (ar == NULL || attrib_next_step(app, slot, probe_captured(app, slot), how, sizeof how) != NEXT_PROBE)
            continue;
        int rank = ar->verdict == V_SUSPECT ? 2 : 1;
        double est = ar->est[ATTRIB_HEAP].ok ? ar->est[ATTRIB_HEAP].beta : 0;
        if (rank > best_rank || (rank == best_rank && est > best_est)) {
            best = (int)id;
            best_rank = rank;
            best_est = est;
        }
    }
    if (best < 0)
        return;
    unsigned slot = app->route_slot[best];
    const char *name = route_name(app->cfg->routes, (unsigned)best);
    char err[256];
    ps->auto_last_ms[slot] = now;
    if (probe_start(app, name, PROBE_AUTO_REQUESTS, 2, 25, NULL, err, sizeof err) == 200)
        ps->auto_started++;
    else
        log_at(LOG_INFO, "attribution.auto_probe: probe of %s not started: %s", name, err);
}

int probe_auto_start(struct app *app)
{
    struct probe_state *ps = &app->probe;
    if (ps->auto_timer == NULL && (ps->auto_timer = event_new(app->base, -1, EV_PERSIST, auto_tick, app)) == NULL)
        return -1;
    struct timeval tv = { PROBE_AUTO_TICK_MS / 1000, (PROBE_AUTO_TICK_MS % 1000) * 1000 };
    return event_add(ps->auto_timer, &tv);
}

void probe_release(struct app *app)
{
    struct probe_run *pr = app->probe.run;
    if (pr) {
        free(pr->counts0);
        free(pr->snap);
        if (pr->pause)
            event_free(pr->pause);
        free(pr);
        app->probe.run = NULL;
    }
}

json_t *probe_json(const struct app *app)
{
    const struct probe_run *pr = app->probe.run;
    if (pr == NULL)
        return json_pack("{s:s}", "state", "idle");
    json_t *groups = json_array();
    const char *leaks[PROBE_GROUPS_MAX], *clean[PROBE_GROUPS_MAX], *unsure[PROBE_GROUPS_MAX];
    unsigned nl = 0, nc = 0, nu = 0;
    for (unsigned i = 0; i < pr->ng; i++) {
        const struct probe_group *g = &pr->g[i];
        json_t *blocks = json_array();
        for (unsigned b = 0; b < g->nblocks; b++)
            json_array_append_new(blocks, json_real(round(g->per_req[b])));
        json_t *gj = json_pack("{s:s,s:i,s:o,s:i,s:b}", "value", g->key, "captured", (int)g->nidx,
                               "blocks_bytes_per_request", blocks, "errors", (int)g->errors, "done", g->done);
        if (g->done) {
            json_object_set_new(gj, "verdict", json_string(g->verdict));
            json_object_set_new(gj, "first_block_bytes_per_request", json_real(round(g->first_block)));
            if (strcmp(g->verdict, "unknown") != 0 || g->nblocks > 2) {
                json_object_set_new(gj, "bytes_per_request", json_real(round(g->est)));
                json_object_set_new(gj, "low", json_real(round(g->low)));
                json_object_set_new(gj, "high", json_real(round(g->high)));
            }
            if (strcmp(g->verdict, "leaking") == 0 && nl < PROBE_GROUPS_MAX)
                leaks[nl++] = g->key;
            else if (strcmp(g->verdict, "clean") == 0 && nc < PROBE_GROUPS_MAX)
                clean[nc++] = g->key;
            else if (nu < PROBE_GROUPS_MAX)
                unsure[nu++] = g->key;
        }
        json_array_append_new(groups, gj);
    }
    json_t *j = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:s,s:I,s:I,s:I,s:o}",
        "state", pr->state, "message", pr->message, "route", pr->route,
        "requests", (int)pr->requests, "block", (int)pr->block, "concurrency", (int)pr->concurrency,
        "split", pr->split, "started_ms", (json_int_t)pr->started_ms,
        "live_requests_during_probe", (json_int_t)pr->live_total,
        "live_requests_not_estimated", (json_int_t)pr->live_unknown,
        "groups", groups);
    json_object_set_new(j, "control", json_string("live requests held at the admission gate during each block; "
                                                  "live_requests_during_probe counts any that went through"));
    if (pr->finished_ms)
        json_object_set_new(j, "finished_ms", json_integer((json_int_t)pr->finished_ms));
    if (pr->split[0] && pr->ng > 0) {
        char sum[512] = "";
        size_t n = 0;
        n += (size_t)snprintf(sum + n, sizeof sum - n, "%s leaks for %s ", pr->route, pr->split);
        for (unsigned i = 0; i < nl && n < sizeof sum; i++)
            n += (size_t)snprintf(sum + n, sizeof sum - n, "%s%s", i ? ", " : "", leaks[i]);
        if (nl == 0 && n < sizeof sum)
            n += (size_t)snprintf(sum + n, sizeof sum - n, "none");
        if (n < sizeof sum)
            n += (size_t)snprintf(sum + n, sizeof sum - n, "; not for ");
        for (unsigned i = 0; i < nc && n < sizeof sum; i++)
            n += (size_t)snprintf(sum + n, sizeof sum - n, "%s%s", i ? ", " : "", clean[i]);
        if (nc == 0 && n < sizeof sum)
            n += (size_t)snprintf(sum + n, sizeof sum - n, "none");
        for (unsigned i = 0; i < nu && n < sizeof sum; i++)
            n += (size_t)snprintf(sum + n, sizeof sum - n, "%s%s", i ? ", " : "; not enough evidence for ", unsure[i]);
        json_object_set_new(j, "summary", json_string(sum));
    } else if (pr->ng == 1 && pr->g[0].done) {
        const struct probe_group *g = &pr->g[0];
        char sum[256];
        snprintf(sum, sizeof sum, "%s: %s, %.1f KB per request (95%%: %.1f to %.1f KB); first block %.1f KB per request",
                 pr->route, g->verdict, g->est / 1024, g->low / 1024, g->high / 1024, g->first_block / 1024);
        json_object_set_new(j, "summary", json_string(sum));
    }
    return j;
}
