/* config_err.c -- the error description every config check fills. See
 * config_err.h. Its own module so that a module config.c calls (route.c)
 * can report errors without depending on config.c back. */
#include "config_err.h"

#include <stdarg.h>
#include <stdio.h>

void config_err_set(struct config_err *err, const char *path, const char *fmt, ...)
{
    va_list ap;

    snprintf(err->path, sizeof err->path, "%s", path);
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
}

void config_err_format(const char *file, const struct config_err *err,
                       char *buf, size_t len)
{
    char where[32] = "";

    if (err->line > 0 && err->column > 0)
        snprintf(where, sizeof where, ":%d:%d", err->line, err->column);
    else if (err->line > 0)
        snprintf(where, sizeof where, ":%d", err->line);
    snprintf(buf, len, "%s%s: %s%s%s", file, where, err->path,
             err->path[0] ? ": " : "", err->text);
}
