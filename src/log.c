/* log.c -- error log and access log. See log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_level_min = LOG_INFO;

static FILE *errlog;            /* NULL means stderr */
static FILE *acclog;
static char *accbuf;

int log_open(const char *path)
{
    FILE *f;

    if (path == NULL || strcmp(path, "-") == 0) {
        if (errlog)
            fclose(errlog);
        errlog = NULL;
        return 0;
    }
    if ((f = fopen(path, "a")) == NULL)
        return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    if (errlog)
        fclose(errlog);
    errlog = f;
    return 0;
}

int log_level_parse(const char *s)
{
    static const char *const names[] = { "debug", "info", "warn", "error" };
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static void log_timestamp(char *buf, size_t len)
{
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    static const char *const names[] = { "debug", "info", "warn", "error" };
    FILE *f = errlog ? errlog : stderr;
    char ts[40];
    va_list ap;

    log_timestamp(ts, sizeof ts);
    fprintf(f, "%s %s ", ts, names[lvl]);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

int log_access_open(const char *path)
{
    static char *stdout_buf;          /* stdout keeps its buffer for good */
    FILE *f = NULL;

    /* the new file is opened before the old one is closed: a failed reopen
     * (SIGHUP, SIGUSR1) keeps logging to the open one */
    if (path && strcmp(path, "-") == 0)
        f = stdout;
    else if (path && (f = fopen(path, "a")) == NULL)
        return -1;
    if (acclog && acclog != stdout)
        fclose(acclog);               /* writes out what it buffered */
    else if (acclog)
        fflush(acclog);
    free(accbuf);
    accbuf = NULL;
    acclog = f;
    /* A big buffer: the access log is flushed by a timer, not per line. */
    if (f == stdout && stdout_buf == NULL && (stdout_buf = malloc(1 << 16)) != NULL)
        setvbuf(f, stdout_buf, _IOFBF, 1 << 16);
    else if (f && f != stdout && (accbuf = malloc(1 << 16)) != NULL)
        setvbuf(f, accbuf, _IOFBF, 1 << 16);
    return 0;
}

FILE *log_access_file(void)
{
    return acclog;
}

void log_flush(void)
{
    if (acclog)
        fflush(acclog);
    fflush(errlog ? errlog : stderr);
}

void log_close(void)
{
    log_access_open(NULL);
    log_open(NULL);
}

void log_json_str(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c < 0x20 || c >= 0x7f) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
}
