/* fmt.c -- byte figures for people, see fmt.h. */
#include "fmt.h"
#include <math.h>
#include <stdio.h>

char *fmt_bytes(char *buf, size_t len, double v)
{
    double a = fabs(v);

    if (a >= 1024.0 * 1024 * 1024)
        snprintf(buf, len, "%.2f GB", v / (1024.0 * 1024 * 1024));
    else if (a >= 1024.0 * 1024)
        snprintf(buf, len, "%.1f MB", v / (1024.0 * 1024));
    else if (a >= 1024)
        snprintf(buf, len, "%.1f KB", v / 1024);
    else
        snprintf(buf, len, "%.0f B", v);
    return buf;
}
