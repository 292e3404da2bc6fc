/* app.c -- what every module needs from struct app: the clock and the
 * limits and timeouts derived from the current config. */
#include "app.h"
#include "config.h"
#include "log.h"
#include "route.h"

#include <event2/event.h>
#include <sys/resource.h>
#include <time.h>

uint64_t app_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void ms_tv(struct app *app, int ms, struct timeval *out)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    /* common timeouts: O(1) add/remove for the many timers sharing one value */
    const struct timeval *ct = event_base_init_common_timeout(app->base, &tv);
    *out = ct ? *ct : tv;
}

void app_apply_limits(struct app *app)
{
    const struct config *c = app->cfg;
    app->lim.max_header_bytes = (uint32_t)c->limits.max_header_bytes;
    app->lim.max_request_line = (uint32_t)c->limits.max_request_line;
    app->lim.max_headers = (uint32_t)c->limits.max_headers;
    ms_tv(app, c->timeouts.connect_ms, &app->tv_connect);
    ms_tv(app, c->timeouts.response_ms, &app->tv_response);
    ms_tv(app, c->timeouts.client_idle_ms, &app->tv_idle);
    ms_tv(app, c->timeouts.header_ms, &app->tv_header);
    ms_tv(app, c->timeouts.upstream_idle_ms, &app->tv_upidle);
    app_fd_budget(c->limits.max_connections);
}

/* Each proxied connection holds two descriptors (client and upstream);
 * admin, memory source, logs and libevent need a few dozen more. Like
 * HAProxy, raise the soft RLIMIT_NOFILE to what max_connections needs (as
 * far as the hard limit allows) and say so when it cannot: otherwise the
 * proxy runs out of descriptors long before max_connections and the
 * listener stalls on EMFILE. */
void app_fd_budget(int max_connections)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)max_connections * 2 + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        struct rlimit want = rl;
        want.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        if (want.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &want) == 0) {
            log_at(LOG_INFO, "raised the descriptor limit (RLIMIT_NOFILE) from %llu to %llu for limits.max_connections %d",
                   (unsigned long long)rl.rlim_cur, (unsigned long long)want.rlim_cur, max_connections);
            rl.rlim_cur = want.rlim_cur;
        }
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    long fit = rl.rlim_cur > 64 ? (long)(rl.rlim_cur - 64) / 2 : 0;
    log_at(LOG_WARN, "limits.max_connections %d needs ~%llu descriptors but RLIMIT_NOFILE is %llu (hard %llu): "
           "about %ld connections fit; raise the limit (ulimit -n, LimitNOFILE=) or lower limits.max_connections",
           max_connections, (unsigned long long)need, (unsigned long long)rl.rlim_cur,
           (unsigned long long)rl.rlim_max, fit);
}


uint64_t app_wall_ms(const struct app *app)
{
    return app_wall_ms_at(app, app_now_us());
}

uint64_t app_wall_ms_at(const struct app *app, uint64_t t_us)
{
    return app->start_wall_ms + (t_us - app->start_us) / 1000;
}
