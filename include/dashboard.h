/* dashboard.h -- the dashboard's files (src/dashboard/), compiled into the
 * binary by src/dashboard/embed.sh and served by the admin listener at "/". */
#ifndef LEAKPROXY_DASHBOARD_H
#define LEAKPROXY_DASHBOARD_H
#include <stddef.h>

struct dashboard_asset {
    const char *path;                 /* "/index.html", "/app.js", ... */
    const char *type;                 /* Content-Type */
    const unsigned char *data;
    size_t len;
};
extern const struct dashboard_asset dashboard_assets[];   /* ends with path NULL */
#endif
