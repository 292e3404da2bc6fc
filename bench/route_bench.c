/* route_bench.c -- cost of route_match() with 10 vs 10,000 routes.
 *
 * Tables:
 *   small  10 routes a typical SSR app has (exact, :param, trailing *).
 *   large  the same 10 plus 9,990 generated ones, a third each exact
 *          ("/catalog/c<k>/list"), parameter ("/shop/s<k>/:id",
 *          "/org/o<k>/repo/:repo/issues/:n") and wildcard ("/files/f<k>/ *").
 *   pathological (reported apart, not a realistic config): every combination
 *          of "a" and ":p" over D segments (2^D routes), so a miss one segment
 *          deeper makes the depth-first matcher visit the whole trie.
 * Path mixes (4,096 paths each, fixed PRNG seed, query strings already cut as
 * the proxy does):
 *   app     paths of the 10 app routes, ~12 % unmatched (favicon, probes,
 *           extra segments, trailing slashes);
 *   spread  paths spread over all generated routes, ~10 % near-misses
 *           (only meaningful for the large table).
 * Each figure is the median over REPS timed passes of ITERS matches, in ns
 * per match; a checksum of the ids keeps the compiler honest.
 *
 * Usage: route_bench [ITERS (2000000)] [REPS (9)]
 * Build: see bench/route_bench.sh. */
#define _GNU_SOURCE
#include "route.h"
#include "config_err.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NPATHS 4096
#define PATHMAX 128

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct routes {
    unsigned n, cap;
    char **names, **pats;
};

static void add(struct routes *r, const char *name, const char *pat)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->names = realloc(r->names, r->cap * sizeof *r->names);
        r->pats = realloc(r->pats, r->cap * sizeof *r->pats);
        if (!r->names || !r->pats) {
            perror("realloc");
            exit(2);
        }
    }
    r->names[r->n] = strdup(name);
    r->pats[r->n] = strdup(pat);
    r->n++;
}

static const char *const app_routes[][2] = {
    { "home", "/" },
    { "about", "/about" },
    { "detail", "/detail/:id" },
    { "user_post", "/u/:user/posts/:post" },
    { "static", "/static/*" },
    { "api_items", "/api/v1/items" },
    { "api_item", "/api/v1/items/:id" },
    { "blog", "/blog/:slug" },
    { "search", "/search" },
    { "assets", "/assets/*" },
};

static void gen_app(struct routes *r)
{
    for (size_t i = 0; i < sizeof app_routes / sizeof app_routes[0]; i++)
        add(r, app_routes[i][0], app_routes[i][1]);
}

static void gen_large(struct routes *r, unsigned total)
{
    char name[64], pat[128];
    gen_app(r);
    for (unsigned k = 0; r->n < total; k++) {
        switch (k % 4) {
        case 0:
            snprintf(name, sizeof name, "cat-%u", k);
            snprintf(pat, sizeof pat, "/catalog/c%u/list", k);
            break;
        case 1:
            snprintf(name, sizeof name, "shop-%u", k);
            snprintf(pat, sizeof pat, "/shop/s%u/:id", k);
            break;
        case 2:
            snprintf(name, sizeof name, "files-%u", k);
            snprintf(pat, sizeof pat, "/files/f%u/*", k);
            break;
        default:
            snprintf(name, sizeof name, "issues-%u", k);
            snprintf(pat, sizeof pat, "/org/o%u/repo/:repo/issues/:n", k);
            break;
        }
        add(r, name, pat);
    }
}

static void gen_patho(struct routes *r, unsigned depth)
{
    char name[64], pat[256];
    for (unsigned m = 0; m < (1u << depth); m++) {
        char *p = pat;
        for (unsigned d = 0; d < depth; d++)
            p += sprintf(p, "/%s", (m >> d) & 1 ? ":p" : "a");
        snprintf(name, sizeof name, "combo-%u", m);
        add(r, name, pat);
    }
}

struct mix {
    char p[NPATHS][PATHMAX];
    size_t len[NPATHS];
};
static struct mix app_mix, spread_mix, patho_mix;

static void set_path(struct mix *m, unsigned i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_path(struct mix *m, unsigned i, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->p[i], PATHMAX, fmt, ap);
    va_end(ap);
    m->len[i] = (size_t)n < PATHMAX ? (size_t)n : PATHMAX - 1;
}

static void mix_app(struct mix *m)
{
    static const char *const slugs[] = { "hello-world", "why-ssr-leaks", "2026-roadmap", "a" };
    static const char *const users[] = { "alice", "bob", "carol_99", "d" };
    for (unsigned i = 0; i < NPATHS; i++) {
        unsigned x = rnd(), k = rnd() % 100000;
        switch (x % 25) {
        case 0: case 1: case 2: set_path(m, i, "/"); break;
        case 3: set_path(m, i, "/about"); break;
        case 4: case 5: case 6: case 7: set_path(m, i, "/detail/%u", k); break;
        case 8: case 9: set_path(m, i, "/u/%s/posts/%u", users[k % 4], k); break;
        case 10: case 11: case 12: set_path(m, i, "/static/js/chunk-%05x.js", k); break;
        case 13: set_path(m, i, "/api/v1/items"); break;
        case 14: case 15: set_path(m, i, "/api/v1/items/%u", k); break;
        case 16: case 17: set_path(m, i, "/blog/%s", slugs[k % 4]); break;
        case 18: set_path(m, i, "/search"); break;
        case 19: set_path(m, i, "/assets/img/%u/logo.png", k % 50); break;
        case 20: set_path(m, i, "/detail/%u/", k); break;           /* trailing slash: detail */
        /* ~12 % unmatched */
        case 21: set_path(m, i, "/favicon.ico"); break;
        case 22: set_path(m, i, "/wp-login.php"); break;
        case 23: set_path(m, i, "/detail/%u/reviews", k); break;
        default: set_path(m, i, "/api/v2/items/%u", k); break;
        }
    }
}

static void mix_spread(struct mix *m, unsigned total)
{
    unsigned gen = total - 10;
    for (unsigned i = 0; i < NPATHS; i++) {
        unsigned k = rnd() % gen, v = rnd() % 1000000;
        if (rnd() % 10 == 0) {                         /* near-miss */
            set_path(m, i, "/catalog/c%u/nope", k);
            continue;
        }
        switch (k % 4) {
        case 0: set_path(m, i, "/catalog/c%u/list", k); break;
        case 1: set_path(m, i, "/shop/s%u/%u", k, v); break;
        case 2: set_path(m, i, "/files/f%u/css/site.%u.css", k, v); break;
        default: set_path(m, i, "/org/o%u/repo/leakproxy/issues/%u", k, v); break;
        }
    }
}

static volatile unsigned sink;

static unsigned matched_pct(const struct route_table *t, const struct mix *m)
{
    unsigned hit = 0;
    for (unsigned i = 0; i < NPATHS; i++)
        hit += route_match(t, m->p[i], m->len[i]) != ROUTE_OTHER;
    return hit * 100 / NPATHS;
}

/* ns per match for one pass of <iters> matches cycling through <m>. */
static double pass(const struct route_table *t, const struct mix *m, unsigned long iters)
{
    unsigned sum = 0;
    double t0 = now_ns();
    for (unsigned long i = 0; i < iters; i++) {
        unsigned j = i & (NPATHS - 1);
        sum += route_match(t, m->p[j], m->len[j]);
    }
    double t1 = now_ns();
    sink += sum;
    return (t1 - t0) / (double)iters;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct route_table *build(struct routes *r, double *ms)
{
    struct config_err err;
    memset(&err, 0, sizeof err);
    double t0 = now_ns();
    struct route_table *t = route_table_new((const char *const *)r->names,
                                            (const char *const *)r->pats, r->n, &err);
    *ms = (now_ns() - t0) / 1e6;
    if (t == NULL) {
        fprintf(stderr, "route_table_new(%u routes): %s: %s\n", r->n, err.path, err.text);
        exit(1);
    }
    return t;
}

static int failures;
static void expect(const struct route_table *t, const char *path, const char *name)
{
    unsigned id = route_match(t, path, strlen(path));
    const char *got = route_name(t, id);
    if (strcmp(got, name) != 0) {
        fprintf(stderr, "FAIL: %s -> %s, want %s\n", path, got, name);
        failures++;
    }
}

int main(int argc, char **argv)
{
    unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    if (reps < 1 || reps > 64)
        reps = 9;
    struct routes small = { 0 }, large = { 0 };
    double ms_small, ms_large;

    gen_app(&small);
    gen_large(&large, 10000);
    struct route_table *ts = build(&small, &ms_small);
    struct route_table *tl = build(&large, &ms_large);

    /* correctness, both tables */
    const struct route_table *both[] = { ts, tl };
    for (int i = 0; i < 2; i++) {
        const struct route_table *t = both[i];
        expect(t, "/", "home");
        expect(t, "/about/", "about");
        expect(t, "/detail/42", "detail");
        expect(t, "/detail/42/x", "_other");
        expect(t, "/u/alice/posts/7", "user_post");
        expect(t, "/static", "static");
        expect(t, "/static/a/b/c.js", "static");
        expect(t, "/api/v1/items", "api_items");
        expect(t, "/api/v1/items/9", "api_item");
        expect(t, "/favicon.ico", "_other");
    }
    expect(tl, "/catalog/c4/list", "cat-4");
    expect(tl, "/shop/s9985/abc", "shop-9985");
    expect(tl, "/files/f2/x/y/z", "files-2");
    expect(tl, "/org/o3/repo/r/issues/12", "issues-3");
    expect(tl, "/catalog/c5/list", "_other");
    if (failures)
        return 1;

    /* passes alternate small/app, large/app, large/spread so that the noise
     * of a shared machine hits all three alike; ratios are per pass */
    rng_state = 0x9e3779b97f4a7c15ull;
    mix_app(&app_mix);
    mix_spread(&spread_mix, large.n);
    double vs[64], vl[64], vsp[64], ratio[64];
    pass(ts, &app_mix, iters / 10 + 1);               /* warm-up */
    pass(tl, &app_mix, iters / 10 + 1);
    pass(tl, &spread_mix, iters / 10 + 1);
    for (int r = 0; r < reps; r++) {
        vs[r] = pass(ts, &app_mix, iters);
        vl[r] = pass(tl, &app_mix, iters);
        vsp[r] = pass(tl, &spread_mix, iters);
        ratio[r] = vl[r] / vs[r];
    }
    double b_s[64], b_l[64];
    for (int r = 0; r < 5; r++) {                      /* build time, median of 5 */
        route_table_free(build(&small, &b_s[r]));
        route_table_free(build(&large, &b_l[r]));
    }
    ms_small = median(b_s, 5);
    ms_large = median(b_l, 5);
    double ps = median(vs, reps), pl = median(vl, reps), psp = median(vsp, reps);
    double lo_s = vs[0], hi_s = vs[reps - 1], lo_l = vl[0], hi_l = vl[reps - 1];
    double lo_sp = vsp[0], hi_sp = vsp[reps - 1];

    printf("| table | routes | build ms (route_table_new, median of 5) | path mix | matched %% | ns/match median | min–max (%d passes × %lu) |\n",
           reps, iters);
    printf("|---|---|---|---|---|---|---|\n");
    printf("| small | %u | %.3f | app | %u | %.1f | %.1f–%.1f |\n", small.n, ms_small,
           matched_pct(ts, &app_mix), ps, lo_s, hi_s);
    printf("| large | %u | %.3f | app | %u | %.1f | %.1f–%.1f |\n", large.n, ms_large,
           matched_pct(tl, &app_mix), pl, lo_l, hi_l);
    printf("| large | %u | %.3f | spread | %u | %.1f | %.1f–%.1f |\n", large.n, ms_large,
           matched_pct(tl, &spread_mix), psp, lo_sp, hi_sp);
    printf("\nlarge/small on the app mix (median of per-pass ratios): %.2f×\n", median(ratio, reps));

    /* pathological: every a/:p combination; a miss one level deeper */
    printf("\nPathological (not a realistic config): all 2^D combinations of \"a\" and \":p\" over D segments;\n"
           "the path \"/a/.../a\" (D segments) matches, \"/a/.../a/x\" (D+1) misses after visiting the whole trie.\n\n");
    printf("| D | routes | build ms | ns/match, hit | ns/match, miss one deeper |\n|---|---|---|---|---|\n");
    static const unsigned depths[] = { 4, 8, 13 };
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        struct routes p = { 0 };
        double msb, hit[64], miss[64];
        gen_patho(&p, depths[d]);
        struct route_table *tp = build(&p, &msb);
        struct mix *m = &patho_mix;
        char one[PATHMAX] = "";
        for (unsigned i = 0; i < depths[d]; i++)
            strcat(one, "/a");
        unsigned long it = iters / (1ul << (depths[d] > 6 ? depths[d] - 6 : 0)) + 1000;
        int pr = reps < 5 ? reps : 5;
        for (int r = 0; r < pr; r++) {
            for (unsigned i = 0; i < NPATHS; i++)
                set_path(m, i, "%s", one);
            hit[r] = pass(tp, m, it);
            for (unsigned i = 0; i < NPATHS; i++)
                set_path(m, i, "%s/x", one);
            miss[r] = pass(tp, m, it);
        }
        printf("| %u | %u | %.3f | %.1f | %.1f |\n", depths[d], p.n, msb, median(hit, pr), median(miss, pr));
        route_table_free(tp);
        for (unsigned i = 0; i < p.n; i++) {
            free(p.names[i]);
            free(p.pats[i]);
        }
        free(p.names);
        free(p.pats);
    }
    route_table_free(ts);
    route_table_free(tl);
    fprintf(stderr, "checksum %u\n", sink);
    return 0;
}
