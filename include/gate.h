/* gate.h -- the admission gate: which parsed requests may start now.
 *
 * leakproxy decides when the upstream's memory floor is read, so it can make
 * each reading informative. The gate is the one place that holds requests:
 *
 *   open      every request starts at once;
 *   row       a designed measurement row: only requests of the row's routes
 *             start; the others wait in a FIFO for at most hold_ms, then
 *             start anyway (they are counted in whatever row they land in,
 *             so holding changes how informative a row is, never what it
 *             says). The row is "full" when <target> admitted requests
 *             completed, or earlier when it stalls: nothing admitted is in
 *             flight while requests wait (closed-loop clients all waiting);
 *   quiesce   a forced-GC read is about to happen: nothing new starts; once
 *             the exchanges in flight end (or drain_ms passed) the owner
 *             reads the floor; at the latest hold_ms after it began, the
 *             hold ends whatever the memory source does.
 *
 * The proxy asks gate_admit() for every parsed request, parks the refused
 * ones (a struct gate_waiter inside its own client) and tells the gate when
 * an exchange starts and ends. The gate calls back through struct gate_ops:
 * it never knows what a client is. Memory never grows with traffic: the
 * waiters are the callers' structs, linked in place. */
#ifndef LEAKPROXY_GATE_H
#define LEAKPROXY_GATE_H
#include <stdint.h>

struct event_base;
struct gate;

struct gate_waiter {                  /* embedded in the caller's request state */
    struct gate_waiter *next, *prev;
    uint64_t since_us;                /* when it was parked */
    unsigned slot;                    /* its route's stats slot */
    int queued;
};

enum gate_state { GATE_OPEN, GATE_ROW, GATE_QUIESCE };

struct gate_ops {
    void *arg;
    /* a parked request may start now (the gate already unlinked it) */
    void (*release)(void *arg, struct gate_waiter *w);
    /* quiesce: the exchanges in flight ended (timed_out = 0) or quiesce_ms
     * passed first (1); the floor may be read now */
    void (*quiesced)(void *arg, int timed_out);
    /* the designed row is full or stalled: time for a floor reading */
    void (*row_full)(void *arg);
};

struct gate_stats {
    uint64_t held, held_us;           /* requests that waited, and how long in all */
    uint64_t hold_expired;            /* waited the whole hold_ms */
    uint64_t rows, rows_stalled;      /* designed rows begun; ended by a stall */
    uint64_t overflowed;              /* released by a stall while the row waited for its reading */
    unsigned waiting, inflight;
};

/* NULL on OOM. <nslots> bounds slot numbers (gate_resize grows it). */
struct gate *gate_new(struct event_base *base, unsigned nslots, const struct gate_ops *ops);
void gate_free(struct gate *g);       /* releases nobody: the owner closes its clients first */
int gate_resize(struct gate *g, unsigned nslots);   /* 0, or -1 on OOM (nothing changed) */

/* 1: the request of <slot> may start now (the caller then calls
 * gate_started); 0: <w> is parked, gate_ops.release will start it. */
int gate_admit(struct gate *g, unsigned slot, struct gate_waiter *w, uint64_t now_us);
/* A parked request's client went away. */
void gate_cancel(struct gate *g, struct gate_waiter *w);
/* An exchange of <slot> started / ended (ended: <counted> when it is a
 * completed request the memory rows count). */
void gate_started(struct gate *g, unsigned slot);
void gate_finished(struct gate *g, unsigned slot, int counted);

/* Begins a designed row: <admit>[slot] != 0 for the routes that start at
 * once, <target> completed admitted requests make it full; waiting requests
 * of admitted routes are released now. <hold_ms> bounds any wait. */
void gate_row(struct gate *g, const uint8_t *admit, unsigned nslots, unsigned target, unsigned hold_ms);
/* The full row waits for its reading (the forced-GC budget): <on> lets a
 * stall release every waiter instead of idling the upstream. The requests
 * still held when the reading comes are what make the row differ from the
 * client's mix. Ends with the next gate_row, gate_quiesce or gate_open. */
void gate_overflow(struct gate *g, int on);
/* Holds every new request until the exchanges in flight end, or <drain_ms>
 * passed; then gate_ops.quiesced. The hold ends by itself <hold_ms> after
 * this call whatever the owner does (the state before the quiesce returns);
 * the owner normally ends it sooner with gate_row or gate_open. */
void gate_quiesce(struct gate *g, unsigned drain_ms, unsigned hold_ms);
/* Marks in <mask> (n entries, zeroed first) the slots with held requests;
 * returns how many requests are held. */
unsigned gate_waiting(const struct gate *g, uint8_t *mask, unsigned n);
/* Every request starts at once; all waiters are released in arrival order. */
void gate_open(struct gate *g);

enum gate_state gate_state(const struct gate *g);
/* Completed admitted requests in the current row. */
unsigned gate_row_done(const struct gate *g);
void gate_get_stats(const struct gate *g, struct gate_stats *st);
#endif
