/* report.h -- the leak report: every route ranked by its verdict (leaking
 * first), what would settle the routes not settled yet, the routes whose
 * latency rises with memory, the projection to the memory limit, each live
 * worker's memory curve as a line of block characters, the latest events.
 *
 * The text form (GET /api/report?format=text, `leakproxy ctl report`) is
 * written here from the modules' own structures; admin renders the JSON
 * form from the same ranking (report_rank) and curves (report_spark), so the
 * two list the same routes in the same order. Only reads. Sits above the
 * modules it reads and below admin: it calls nothing in admin. */
#ifndef LEAKPROXY_REPORT_H
#define LEAKPROXY_REPORT_H

struct app;
struct evbuffer;
struct series_worker;

/* One route of the report, in report order. */
struct report_row {
    unsigned slot;                    /* stats slot */
    int id;                           /* route id */
    int rank;                         /* leaking 4 .. clean 0 */
    double est;                       /* its largest estimate, bytes per request */
};

/* Every route of the config, ranked: by verdict (leaking, suspect, warming,
 * unknown, clean), then by estimate, largest first. Sets *<n>; the caller
 * frees. NULL when out of memory. */
struct report_row *report_rank(const struct app *app, unsigned *n);

#define REPORT_SPARK_COLS 60

/* A worker's memory over its raw ring: the heap floor if the ring has any,
 * else RSS, the lowest value of each of REPORT_SPARK_COLS columns. */
struct report_spark {
    const char *metric;               /* "heap floor" or "rss" */
    double low, high;                 /* bytes: the range of the columns */
    double span_s;                    /* time covered */
    char line[REPORT_SPARK_COLS * 3 + 1];   /* UTF-8 blocks, ' ' where no data */
};

/* Fills <s> for worker <w>: 1, or 0 when it has no curve (fewer than two
 * readings, or none of the chosen kind). */
int report_spark(const struct series_worker *w, struct report_spark *s);

/* Appends the text report to <out>: 0, or -1 when out of memory. */
int report_text(struct app *app, struct evbuffer *out);
#endif
