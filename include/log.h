/* log.h -- the error log (human lines on stderr or a file) and JSON-lines
 * logs (access log). Nothing else in leakproxy writes to stdout/stderr after
 * start-up. log_at() tests the level before formatting (Redis serverLog).
 * The access log is buffered in a FILE with a large buffer and flushed by
 * log_flush() from a timer, so a request costs one formatted write into
 * memory, not a syscall. */
#ifndef LEAKPROXY_LOG_H
#define LEAKPROXY_LOG_H
#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_level_min;   /* set by main from the config */

/* Opens <path> ("-" or NULL = stderr) as the error log. 0 or -1 (errno). */
int log_open(const char *path);
/* Parses "debug" | "info" | "warn" | "error"; -1 if none of them. */
int log_level_parse(const char *s);

void log_write(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_at(lvl, ...) \
    do { if ((lvl) >= log_level_min) log_write((lvl), __VA_ARGS__); } while (0)

/* Access log: NULL path = off, "-" = stdout. Replaces any open one (its
 * buffered lines are written out first); reopening the same path after the
 * file was renamed starts a new file (SIGUSR1, log rotation). Returns 0, or
 * -1 with errno and the open log kept. */
int log_access_open(const char *path);
FILE *log_access_file(void);           /* NULL when off */
void log_flush(void);                  /* flushes both logs */
void log_close(void);

/* Appends <s> to <f> as a JSON string body (no quotes), escaping as needed. */
void log_json_str(FILE *f, const char *s, size_t len);
#endif
