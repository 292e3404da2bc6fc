/* config_err.h -- a caller-owned, fixed-size error description, filled by
 * whichever module rejects part of a configuration (as jansson's
 * json_error_t). Printed as "file:line: path: text". */
#ifndef LEAKPROXY_CONFIG_ERR_H
#define LEAKPROXY_CONFIG_ERR_H
#include <stddef.h>

#define CONFIG_PATH_MAX 128
#define CONFIG_TEXT_MAX 200

struct config_err {
    int  line;                   /* 1-based, 0 if unknown */
    int  column;                 /* 1-based, 0 if unknown */
    char path[CONFIG_PATH_MAX];  /* "routes[2].match", "" for the whole file */
    char text[CONFIG_TEXT_MAX];
};

/* Sets path and text (printf-style); line is filled in later by config.c. */
void config_err_set(struct config_err *err, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Formats "<file>:<line>: <path>: <text>" (":<line>:<column>" for JSON
 * syntax errors) into <buf>. */
void config_err_format(const char *file, const struct config_err *err,
                       char *buf, size_t len);
#endif
