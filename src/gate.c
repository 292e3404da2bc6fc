/* gate.c -- the admission gate. See gate.h.
 *
 * One FIFO of parked requests (the callers' own structs, linked in place)
 * and one timer. The timer serves the earliest deadline that exists: the end
 * of a quiesce, or the oldest waiter's hold_ms (the FIFO is in arrival
 * order, so the head is always the oldest). Releasing calls back into the
 * owner, which may re-enter the gate (a released request starts, another
 * ends): every loop below re-reads the list head instead of keeping a
 * pointer across a callback. */
#include "gate.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* A row stalls when nothing it admits is in flight while requests wait.
 * A closed-loop client whose admitted request just ended sends its next one
 * a round trip later, so the stall must last this long before the row is
 * ended: otherwise every gap between two requests of the last admitted
 * client ends the row (rows of a handful of requests). Loopback round trips
 * through a busy proxy are well under this. */
#define GATE_STALL_GRACE_US 5000

struct gate {
    struct event *timer;
    struct event *stall_timer;
    struct gate_ops ops;
    enum gate_state state, before_quiesce;
    uint8_t *admit;                   /* per slot, in GATE_ROW */
    unsigned nslots;
    unsigned target, done;            /* the row's size and its completed admitted requests */
    unsigned admitted_inflight;       /* exchanges of admitted routes in flight */
    unsigned hold_ms;
    int row_reported;                 /* row_full called for this row */
    int overflow;                     /* the row waits for its reading: a stall lets everyone go */
    int quiesce_reported;             /* quiesced called for this quiesce */
    uint64_t drain_end_us, quiesce_end_us;
    struct gate_waiter *head, *tail;
    struct gate_stats st;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void stall_cb(evutil_socket_t fd, short what, void *arg);

struct gate *gate_new(struct event_base *base, unsigned nslots, const struct gate_ops *ops)
{
    struct gate *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->ops = *ops;
    g->timer = evtimer_new(base, timer_cb, g);
    g->stall_timer = evtimer_new(base, stall_cb, g);
    g->admit = calloc(nslots ? nslots : 1, 1);
    if (g->timer == NULL || g->stall_timer == NULL || g->admit == NULL) {
        gate_free(g);
        return NULL;
    }
    g->nslots = nslots;
    g->state = GATE_OPEN;
    return g;
}

void gate_free(struct gate *g)
{
    if (g == NULL)
        return;
    if (g->timer)
        event_free(g->timer);
    if (g->stall_timer)
        event_free(g->stall_timer);
    free(g->admit);
    free(g);
}

int gate_resize(struct gate *g, unsigned nslots)
{
    if (nslots <= g->nslots)
        return 0;
    uint8_t *a = realloc(g->admit, nslots);
    if (a == NULL)
        return -1;
    memset(a + g->nslots, 0, nslots - g->nslots);
    g->admit = a;
    g->nslots = nslots;
    return 0;
}

/* ---- the waiters --------------------------------------------------------- */

static void unlink_waiter(struct gate *g, struct gate_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        g->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        g->tail = w->prev;
    w->next = w->prev = NULL;
    w->queued = 0;
    g->st.waiting--;
}

static void park(struct gate *g, struct gate_waiter *w, unsigned slot, uint64_t now)
{
    w->slot = slot;
    w->since_us = now;
    w->next = NULL;
    w->prev = g->tail;
    if (g->tail)
        g->tail->next = w;
    else
        g->head = w;
    g->tail = w;
    w->queued = 1;
    g->st.waiting++;
}

static void release(struct gate *g, struct gate_waiter *w, uint64_t now)
{
    unlink_waiter(g, w);
    g->st.held++;
    g->st.held_us += now > w->since_us ? now - w->since_us : 0;
    g->ops.release(g->ops.arg, w);
}

static int admitted(const struct gate *g, unsigned slot)
{
    switch (g->state) {
    case GATE_OPEN:
        return 1;
    case GATE_ROW:
        return slot < g->nslots && g->admit[slot];
    default:
        return 0;
    }
}

/* The earliest deadline: the quiesce's end, else the oldest waiter's hold. */
static void arm(struct gate *g)
{
    uint64_t at = 0;
    if (g->state == GATE_QUIESCE)
        at = g->quiesce_reported ? g->quiesce_end_us : g->drain_end_us;
    else if (g->head)
        at = g->head->since_us + (uint64_t)g->hold_ms * 1000u;
    if (at == 0) {
        event_del(g->timer);
        return;
    }
    uint64_t now = now_us();
    uint64_t d = at > now ? at - now : 0;
    struct timeval tv = { (time_t)(d / 1000000u), (suseconds_t)(d % 1000000u) };
    event_add(g->timer, &tv);
}

/* Starts every waiter the current state admits, in arrival order. A
 * callback may change the state (a row fills, a quiesce begins), so the
 * walk restarts from the head after each release. */
static void release_admitted(struct gate *g)
{
    uint64_t now = now_us();
    for (;;) {
        struct gate_waiter *w = g->head;
        while (w && !admitted(g, w->slot))
            w = w->next;
        if (w == NULL)
            break;
        release(g, w, now);
    }
    arm(g);
}

/* ---- the row ------------------------------------------------------------- */

/* Nothing admitted in flight while requests wait: before the row is
 * reported, it ends it; after, while the owner waits for its reading
 * (overflow), the waiters go so the upstream does not idle. */
static int row_stalled(const struct gate *g)
{
    if (g->state != GATE_ROW || g->admitted_inflight != 0 || g->head == NULL)
        return 0;
    if (g->row_reported)
        return g->overflow;
    return g->done > 0 && g->done < g->target;
}

static void row_end(struct gate *g, int stalled)
{
    g->row_reported = 1;
    event_del(g->stall_timer);
    if (stalled)
        g->st.rows_stalled++;
    if (g->ops.row_full)
        g->ops.row_full(g->ops.arg);
}

static void row_check(struct gate *g)
{
    if (g->state != GATE_ROW || (g->row_reported && !g->overflow))
        return;
    if (!g->row_reported && g->done >= g->target) {
        row_end(g, 0);
        return;
    }
    if (row_stalled(g)) {
        if (!event_pending(g->stall_timer, EV_TIMEOUT, NULL)) {
            struct timeval tv = { 0, GATE_STALL_GRACE_US };
            event_add(g->stall_timer, &tv);
        }
    } else {
        event_del(g->stall_timer);
    }
}

static void stall_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gate *g = arg;
    (void)fd;
    (void)what;
    if (!row_stalled(g))
        return;
    if (!g->row_reported) {
        row_end(g, 1);
        return;
    }
    /* overflow: every closed-loop client waits and the reading is not due
     * yet; let them go (they are counted in this row) rather than idle */
    uint64_t now = now_us();
    while (g->head) {
        g->st.overflowed++;
        release(g, g->head, now);
    }
    arm(g);
}

static void quiesce_check(struct gate *g, int timed_out)
{
    if (g->state != GATE_QUIESCE || g->quiesce_reported)
        return;
    if (!timed_out && g->st.inflight > 0)
        return;
    g->quiesce_reported = 1;
    if (g->ops.quiesced)
        g->ops.quiesced(g->ops.arg, timed_out);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gate *g = arg;
    (void)fd;
    (void)what;
    uint64_t now = now_us();

    if (g->state == GATE_QUIESCE && !g->quiesce_reported && now + 500 >= g->drain_end_us) {
        quiesce_check(g, 1);         /* exchanges still in flight: read anyway */
        if (g->state == GATE_QUIESCE)
            arm(g);
        return;
    }
    if (g->state == GATE_QUIESCE && now + 500 >= g->quiesce_end_us) {
        /* the hold ends here whatever the memory source does */
        quiesce_check(g, 1);
        if (g->state == GATE_QUIESCE)
            g->state = g->before_quiesce;
        while (g->head) {
            g->st.hold_expired++;
            release(g, g->head, now);
        }
        release_admitted(g);
        return;
    }
    /* waiters past their hold start anyway */
    while (g->head && g->head->since_us + (uint64_t)g->hold_ms * 1000u <= now + 500) {
        g->st.hold_expired++;
        release(g, g->head, now);
    }
    arm(g);
}

/* ---- the interface ------------------------------------------------------- */

int gate_admit(struct gate *g, unsigned slot, struct gate_waiter *w, uint64_t now)
{
    if (admitted(g, slot))
        return 1;
    park(g, w, slot, now);
    if (g->head == w)
        arm(g);
    row_check(g);                     /* a stall shows when a request waits */
    return 0;
}

void gate_cancel(struct gate *g, struct gate_waiter *w)
{
    if (!w->queued)
        return;
    int was_head = g->head == w;
    unlink_waiter(g, w);
    if (was_head)
        arm(g);
}

void gate_started(struct gate *g, unsigned slot)
{
    g->st.inflight++;
    if (g->state == GATE_ROW && slot < g->nslots && g->admit[slot]) {
        g->admitted_inflight++;
        event_del(g->stall_timer);   /* not stalled after all */
    }
}

void gate_finished(struct gate *g, unsigned slot, int counted)
{
    if (g->st.inflight)
        g->st.inflight--;
    if (g->state == GATE_ROW && slot < g->nslots && g->admit[slot]) {
        if (g->admitted_inflight)
            g->admitted_inflight--;
        if (counted)
            g->done++;
    }
    row_check(g);
    quiesce_check(g, 0);
}

void gate_row(struct gate *g, const uint8_t *admit, unsigned nslots, unsigned target, unsigned hold_ms)
{
    unsigned n = nslots < g->nslots ? nslots : g->nslots;
    memset(g->admit, 0, g->nslots);
    memcpy(g->admit, admit, n);
    g->state = GATE_ROW;
    event_del(g->stall_timer);
    g->target = target ? target : 1;
    g->done = 0;
    g->row_reported = 0;
    g->overflow = 0;
    g->hold_ms = hold_ms;
    /* exchanges already in flight belong to the previous row's design; an
     * admitted count of 0 just means the stall test waits for the first */
    g->admitted_inflight = 0;
    g->st.rows++;
    release_admitted(g);
}

void gate_quiesce(struct gate *g, unsigned drain_ms, unsigned hold_ms)
{
    uint64_t now = now_us();
    if (g->state != GATE_QUIESCE)
        g->before_quiesce = g->state;
    g->state = GATE_QUIESCE;
    g->quiesce_reported = 0;
    g->drain_end_us = now + (uint64_t)drain_ms * 1000u;
    g->quiesce_end_us = now + (uint64_t)(hold_ms > drain_ms ? hold_ms : drain_ms) * 1000u;
    arm(g);
    quiesce_check(g, 0);
    if (g->state == GATE_QUIESCE)
        arm(g);                      /* quiesced: the hold's own end is next */
}

unsigned gate_waiting(const struct gate *g, uint8_t *mask, unsigned n)
{
    unsigned k = 0;
    memset(mask, 0, n);
    for (const struct gate_waiter *w = g->head; w; w = w->next, k++)
        if (w->slot < n)
            mask[w->slot] = 1;
    return k;
}

void gate_open(struct gate *g)
{
    g->state = GATE_OPEN;
    release_admitted(g);
}

void gate_overflow(struct gate *g, int on)
{
    g->overflow = on;
    if (on)
        row_check(g);
}

enum gate_state gate_state(const struct gate *g)
{
    return g ? g->state : GATE_OPEN;
}

unsigned gate_row_done(const struct gate *g)
{
    return g->done;
}

void gate_get_stats(const struct gate *g, struct gate_stats *st)
{
    if (g)
        *st = g->st;
    else
        memset(st, 0, sizeof *st);
}
