/* attrib_cost.c -- cost of one attribution evaluation (3 metrics x 2
 * windows of attrib_fit) for 10 and 500 routes over a full window of rows.
 * Build and run: bench/attrib_cost.sh */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "attrib.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);   /* CPU time: the machine is shared */
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(void)
{
    const unsigned routes[] = { 10, 100, 500 }, n = 600;
    for (int r = 0; r < 3; r++) {
        unsigned k = routes[r];
        double *y = malloc(n * sizeof *y), *x = calloc((size_t)n * k, sizeof *x), *dt = malloc(n * sizeof *dt);
        double *z = calloc((size_t)n * k, sizeof *z);
        struct attrib_coef *c = malloc(k * sizeof *c);
        struct attrib_fit_info fi;
        srand(1);
        for (unsigned i = 0; i < n; i++) {
            dt[i] = 1;
            y[i] = 0;
            for (unsigned j = 0; j < k; j++) {
                /* sparse rows: ~150 requests spread over the routes */
                double v = (rand() % (k / 10 + 1)) == 0 ? rand() % 5 : 0;
                x[(size_t)i * k + j] = v;
                y[i] += v * (j % 7 == 0 ? 50000 : 0);
            }
            y[i] += (rand() % 200000) - 100000;
        }
        /* the RSS and external fits carry a nuisance column per route (the
         * change of its count from the row before) when the window can
         * carry them: 3 x (routes + columns) + 12 rows, as fit_rows */
        for (unsigned i = 0; i < n; i++)
            for (unsigned j = 0; j < k; j++)
                z[(size_t)i * k + j] = x[(size_t)i * k + j] - (i ? x[(size_t)(i - 1) * k + j] : x[j]);
        unsigned kz = n >= 3 * (2 * k) + 12 ? k : 0;
        struct attrib_problem pr = { n, k, y, x, NULL, dt, NULL, getenv("MAX_COLS") ? (unsigned)atoi(getenv("MAX_COLS")) : 0, 4096, NULL, 0 };
        int reps = k > 100 ? 2 : 20;
        double t0 = now_ms();
        for (int rep = 0; rep < reps; rep++)
            for (int f = 0; f < 6; f++) {
                pr.n = f % 2 ? n / 2 : n;
                pr.z = f >= 2 && kz && pr.n >= 3 * (2 * k) + 12 ? z : NULL;   /* fits 2..5: rss, external */
                pr.kz = pr.z ? kz : 0;
                pr.small_df_above = f % 2 ? INFINITY : 4096;   /* as the engine: newest rows need no df */
                attrib_fit(&pr, 5, c, &fi);
            }
        double per = (now_ms() - t0) / reps;
        printf("%4u routes, %u rows: %.1f ms of CPU per evaluation (6 fits; %u parameters; %u nuisance columns on rss/external)\n",
               k, n, per, fi.p, kz);
        free(y);
        free(x);
        free(dt);
        free(z);
        free(c);
    }
    return 0;
}
