/* test_memparse.c -- the memory-source parsers (memsrc.h): /proc status,
 * cgroup files, process.memoryUsage() JSON, Prometheus text and the memory
 * header. Valid inputs are real captures from this project's machines (see
 * tests/unit/data/memparse/README), odd-but-valid inputs come from the
 * format specs, and every parser gets the same list of malformed inputs:
 * truncated, wrong units, negative, overflowing, missing fields, garbage,
 * empty, NUL bytes inside. A malformed input must come back as -1 (with a
 * message where the function takes one), never as a sample.
 * Run from the repo root: the captures are read from DATA. */
#include "cm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memsrc.h"

#define DATA "tests/unit/data/memparse/"

/* A byte range with its exact length, so literals may hold NUL bytes. */
struct bytes {
    const char *s;
    size_t n;
};
#define B(lit) { (lit), sizeof(lit) - 1 }

/* Reads DATA<name> whole; the caller frees. Fails the test if missing. */
static char *slurp(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, DATA "%s", name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s (run the tests from the repo root)", path);
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

static const struct memparse_prom_names promclient = {
    .rss = "process_resident_memory_bytes",
    .heap_used = "nodejs_heap_size_used_bytes",
    .heap_total = "nodejs_heap_size_total_bytes",
    .external = "nodejs_external_memory_bytes",
    .heap_limit = NULL,
    .worker_label = NULL,
};

/* ---- /proc/PID/status --------------------------------------------------- */

static int proc(const char *s, size_t n, struct mem_sample *m, char *err)
{
    memset(m, 0, sizeof *m);
    err[0] = '\0';
    return memparse_proc_status(s, n, m, err, MEM_ERR_MAX);
}

static void test_proc_status_reads_real_captures(void **state)
{
    (void)state;
    struct mem_sample m;
    char err[MEM_ERR_MAX];
    size_t n;
    char *s = slurp("proc_self_status.txt", &n);          /* cat /proc/self/status */
    assert_int_equal(proc(s, n, &m, err), 0);
    assert_int_equal(m.rss, 1688ull << 10);
    assert_int_equal(m.rss_anon, 112ull << 10);
    assert_int_equal(m.rss_file, 1576ull << 10);
    assert_int_equal(m.flags, MEM_HAS_RSS | MEM_HAS_SPLIT);
    assert_int_equal(m.pid, 0);                           /* the caller knows the pid */
    free(s);

    s = slurp("proc_node_status.txt", &n);                /* a running node process */
    assert_int_equal(proc(s, n, &m, err), 0);
    assert_int_equal(m.rss, 53772ull << 10);
    assert_int_equal(m.rss_anon, 15876ull << 10);
    assert_int_equal(m.rss_file, 37896ull << 10);
    assert_int_equal(m.flags, MEM_HAS_RSS | MEM_HAS_SPLIT);
    assert_int_equal(m.heap_used, 0);                     /* no heap figures from /proc */

    /* the same file without its final newline, and cut right after VmRSS */
    assert_int_equal(proc(s, n - 1, &m, err), 0);
    const char *cut = strstr(s, "RssAnon:");
    assert_non_null(cut);
    assert_int_equal(proc(s, (size_t)(cut - s), &m, err), 0);
    assert_int_equal(m.rss, 53772ull << 10);
    assert_int_equal(m.flags, MEM_HAS_RSS);               /* no split without RssAnon/RssFile */
    free(s);
}

static void test_proc_status_kernel_thread_has_no_rss(void **state)
{
    (void)state;
    struct mem_sample m;
    char err[MEM_ERR_MAX];
    size_t n;
    char *s = slurp("proc_kthread_status.txt", &n);       /* a kworker: no Vm* lines */
    assert_int_equal(proc(s, n, &m, err), -1);
    assert_non_null(strstr(err, "VmRSS"));
    free(s);
}

static void test_proc_status_minimal_and_spacing(void **state)
{
    (void)state;
    struct mem_sample m;
    char err[MEM_ERR_MAX];
    const struct bytes ok[] = {
        B("VmRSS:\t    100 kB\n"),
        B("VmRSS: 100 kB"),
        B("VmRSS:100kB\n"),
        B("VmRSS:\t100 kB\r\n"),
        B("Name:\tnode: worker\nVmRSS:\t100 kB\nThreads:\t7\n"),
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (proc(ok[i].s, ok[i].n, &m, err) != 0)
            fail_msg("case %zu rejected: %s", i, err);
        assert_int_equal(m.rss, 100 << 10);
        assert_int_equal(m.flags, MEM_HAS_RSS);
    }
    /* a zero RSS is a reading, not an error */
    assert_int_equal(proc("VmRSS:\t0 kB\n", 12, &m, err), 0);
    assert_int_equal(m.rss, 0);
}

static void test_proc_status_rejects_malformed(void **state)
{
    (void)state;
    struct mem_sample m;
    char err[MEM_ERR_MAX];
    const struct bytes bad[] = {
        B(""),                                          /* empty */
        B("\n\n"),
        B("Name:\tnode\nState:\tS (sleeping)\n"),       /* missing VmRSS */
        B("RssAnon:\t100 kB\nRssFile:\t200 kB\n"),      /* split without VmRSS */
        B("VmRSS:\t"),                                  /* truncated */
        B("VmRSS:\t   537"),                            /* truncated before the unit */
        B("VmRSS:\t1764 MB\n"),                         /* wrong unit */
        B("VmRSS:\t1764\n"),                            /* no unit */
        B("VmRSS:\t1764 kb\n"),
        B("VmRSS:\t-1764 kB\n"),                        /* negative */
        B("VmRSS:\t+1764 kB\n"),
        B("VmRSS:\t1.5 kB\n"),
        B("VmRSS:\t0x10 kB\n"),
        B("VmRSS:\t99999999999999999999999 kB\n"),      /* overflows uint64 */
        B("VmRSS:\t18014398509481984 kB\n"),            /* 2^54 kB: overflows in bytes */
        B("VmRSS:\tlots kB\n"),                         /* garbage */
        B("VmRSS:\t17\0 kB\n"),                         /* NUL inside */
        B("VmRSS:\t\0" "17 kB\n"),
        B("VmRSS:\t100 kB\nRssAnon:\tx kB\n"),          /* a bad split line spoils it */
        B("VmRSS:\t100 kB\nRssFile:\t100 MB\n"),
        B("\x01\x02\xff garbage \xfe"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (proc(bad[i].s, bad[i].n, &m, err) != -1)
            fail_msg("case %zu accepted: rss=%llu", i, (unsigned long long)m.rss);
        if (err[0] == '\0')
            fail_msg("case %zu: no message", i);
    }
    /* a real file truncated before its VmRSS line */
    size_t n;
    char *s = slurp("proc_node_status.txt", &n);
    const char *vm = strstr(s, "VmRSS:");
    assert_non_null(vm);
    assert_int_equal(proc(s, (size_t)(vm - s), &m, err), -1);
    assert_int_equal(proc(s, (size_t)(vm - s) + 4, &m, err), -1);   /* "VmRS" */
    free(s);
    /* NULL err is allowed */
    assert_int_equal(memparse_proc_status("", 0, &m, NULL, 0), -1);
}

/* ---- cgroup files ------------------------------------------------------- */

static void test_u64_file_reads_cgroup_values(void **state)
{
    (void)state;
    uint64_t v;
    /* v1 memory.usage_in_bytes / memory.limit_in_bytes (no limit) of this machine */
    assert_int_equal(memparse_u64_file("78811136\n", 9, &v), 0);
    assert_int_equal(v, 78811136);
    assert_int_equal(memparse_u64_file("9223372036854771712\n", 20, &v), 0);
    assert_int_equal(v, 9223372036854771712ull);
    /* v2 memory.current and memory.max */
    assert_int_equal(memparse_u64_file("236318720\n", 10, &v), 0);
    assert_int_equal(v, 236318720);
    assert_int_equal(memparse_u64_file("max\n", 4, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(memparse_u64_file("536870912\n", 10, &v), 0);
    assert_int_equal(v, 536870912);
    /* without a newline, with CRLF, zero, the largest value */
    assert_int_equal(memparse_u64_file("123", 3, &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(memparse_u64_file("123\r\n", 5, &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(memparse_u64_file("0\n", 2, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(memparse_u64_file("18446744073709551615\n", 21, &v), 0);
    assert_true(v == UINT64_MAX);
}

static void test_u64_file_rejects_malformed(void **state)
{
    (void)state;
    const struct bytes bad[] = {
        B(""), B("\n"), B(" \n"),
        B("-1\n"),                                      /* negative */
        B("+1\n"),
        B("18446744073709551616\n"),                    /* UINT64_MAX + 1 */
        B("99999999999999999999999\n"),                 /* overflow */
        B("12 MB\n"), B("12M\n"), B("1.5\n"), B("0x10\n"), B("1e6\n"),
        B("max max\n"), B("maxx\n"), B("MAX\n"), B("unlimited\n"),
        B("12\n34\n"),                                  /* two values */
        B("12\0" "3\n"),                                /* NUL inside */
        B("\0" "123\n"),
        B("12\0"),
        B("garbage"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 0;
        if (memparse_u64_file(bad[i].s, bad[i].n, &v) != -1)
            fail_msg("case %zu accepted as %llu", i, (unsigned long long)v);
    }
}

static void test_cgroup_stat_v2(void **state)
{
    (void)state;
    size_t n;
    uint64_t anon = 0, file = 0;
    char *s = slurp("cgroup_v2_memory.stat", &n);       /* cgroup-v2.rst key list */
    assert_int_equal(memparse_cgroup_stat(s, n, &anon, &file), 0);
    assert_int_equal(anon, 183500800);                  /* not anon_thp, inactive_anon... */
    assert_int_equal(file, 52817920);                   /* not file_mapped, file_dirty... */
    /* cut after the "file" line: still complete */
    const char *k = strstr(s, "kernel ");
    assert_non_null(k);
    assert_int_equal(memparse_cgroup_stat(s, (size_t)(k - s), &anon, &file), 0);
    assert_int_equal(file, 52817920);
    /* keys in any order */
    assert_int_equal(memparse_cgroup_stat("file 7\nanon_thp 1\nanon 9\n", 24, &anon, &file), 0);
    assert_int_equal(anon, 9);
    assert_int_equal(file, 7);
    free(s);
}

static void test_cgroup_stat_v1_prefers_hierarchical_totals(void **state)
{
    (void)state;
    size_t n;
    uint64_t anon = 0, file = 0;
    /* this machine's root memory cgroup: rss 8900608 is the root's own pages,
     * total_rss 50577408 the whole hierarchy; the totals win */
    char *s = slurp("cgroup_v1_root_memory.stat", &n);
    assert_int_equal(memparse_cgroup_stat(s, n, &anon, &file), 0);
    assert_int_equal(anon, 50577408);
    assert_int_equal(file, 512638976);
    free(s);
    s = slurp("cgroup_v1_memory.stat", &n);              /* a leaf cgroup */
    assert_int_equal(memparse_cgroup_stat(s, n, &anon, &file), 0);
    assert_int_equal(anon, 1949696);
    assert_int_equal(file, 82300928);
    free(s);
    /* v1 as in Documentation/admin-guide/cgroup-v1/memory.rst 5.2, without totals */
    const char v1[] =
        "cache 11310592\nrss 2355200\nrss_huge 0\nshmem 0\nmapped_file 4497408\n"
        "dirty 0\nwriteback 0\nswap 0\npgpgin 19275\npgpgout 15942\npgfault 23640\n"
        "pgmajfault 87\ninactive_anon 0\nactive_anon 2367488\ninactive_file 6193152\n"
        "active_file 5120000\nunevictable 0\nhierarchical_memory_limit 9223372036854771712\n"
        "hierarchical_memsw_limit 9223372036854771712\n";
    assert_int_equal(memparse_cgroup_stat(v1, sizeof v1 - 1, &anon, &file), 0);
    assert_int_equal(anon, 2355200);
    assert_int_equal(file, 11310592);
    /* totals win whichever comes first */
    const char order[] = "total_rss 10\ntotal_cache 20\nrss 5\ncache 7\n";
    assert_int_equal(memparse_cgroup_stat(order, sizeof order - 1, &anon, &file), 0);
    assert_int_equal(anon, 10);
    assert_int_equal(file, 20);
}

static void test_cgroup_stat_rejects_malformed(void **state)
{
    (void)state;
    const struct bytes bad[] = {
        B(""), B("\n"),
        B("anon 1\n"),                                  /* missing file */
        B("file 1\n"),                                  /* missing anon */
        B("rss 1\nswap 0\n"),                           /* v1 without cache */
        B("anon 183500800\nfile"),                      /* truncated */
        B("anon 183500800\nfile "),
        B("anon -1\nfile 2\n"),                         /* negative */
        B("anon 99999999999999999999999\nfile 1\n"),    /* overflow */
        B("anon 12 kB\nfile 1\n"),                      /* unit */
        B("anon 12kB\nfile 1\n"),
        B("anon 1.5\nfile 1\n"),
        B("anon\t1\nfile 1\n"),
        B("anon 1\nfile 2\0\n"),                        /* NUL inside */
        B("anon 1\0\nfile 2\n"),
        B("anon 1\nfile 2\ngarbage\n"),                 /* garbage line */
        B("Name:\tnode\nVmRSS:\t100 kB\n"),             /* a /proc status file */
        B("{\"anon\": 1, \"file\": 2}"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t anon = 0, file = 0;
        if (memparse_cgroup_stat(bad[i].s, bad[i].n, &anon, &file) != -1)
            fail_msg("case %zu accepted: anon=%llu file=%llu", i,
                     (unsigned long long)anon, (unsigned long long)file);
    }
}

/* ---- process.memoryUsage() JSON ---------------------------------------- */

#define JMAX 8

static int json(const char *s, size_t n, struct mem_sample *out, unsigned max,
                unsigned *count, char *err)
{
    memset(out, 0, sizeof *out * JMAX);
    err[0] = '\0';
    *count = 12345;
    return memparse_json(s, n, out, max, count, err, MEM_ERR_MAX);
}

static int json_file(const char *name, struct mem_sample *out, unsigned *count, char *err)
{
    size_t n;
    char *s = slurp(name, &n);
    int rc = json(s, n, out, JMAX, count, err);
    free(s);
    return rc;
}

static void test_json_single_reading(void **state)
{
    (void)state;
    struct mem_sample m[JMAX];
    unsigned c;
    char err[MEM_ERR_MAX];

    /* node -e 'console.log(JSON.stringify(process.memoryUsage()))' */
    assert_int_equal(json_file("mu_single.json", m, &c, err), 0);
    assert_int_equal(c, 1);
    assert_int_equal(m[0].pid, 0);
    assert_int_equal(m[0].rss, 41127936);
    assert_int_equal(m[0].heap_total, 4169728);
    assert_int_equal(m[0].heap_used, 3199440);
    assert_int_equal(m[0].external, 1193051);
    assert_int_equal(m[0].array_buffers, 10511);
    assert_int_equal(m[0].flags, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_EXT);

    /* with the pid */
    assert_int_equal(json_file("mu_pid.json", m, &c, err), 0);
    assert_int_equal(c, 1);
    assert_int_equal(m[0].pid, 18026);
    assert_int_equal(m[0].rss, 41099264);

    /* with v8's heap_size_limit as heapLimit */
    assert_int_equal(json_file("mu_limit.json", m, &c, err), 0);
    assert_int_equal(m[0].pid, 18035);
    assert_int_equal(m[0].limit, 4345298944ull);
    assert_int_equal(m[0].flags, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_EXT | MEM_HAS_LIMIT);

    /* the demo's /__mem?gc=1 under --expose-gc: gc_ms marks a post-GC reading;
     * "rss" wins over "vmrss"; "worker", "gc_error" are ignored */
    assert_int_equal(json_file("mu_demo_gc.json", m, &c, err), 0);
    assert_int_equal(m[0].pid, 20635);
    assert_int_equal(m[0].rss, 46280704);
    assert_int_equal(m[0].heap_used, 3464976);
    assert_true(m[0].gc_ms > 6.129 && m[0].gc_ms < 6.131);
    assert_int_equal(m[0].flags, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_EXT | MEM_GC);
    /* the same without --expose-gc: not a post-GC reading */
    assert_int_equal(json_file("mu_demo_nogc.json", m, &c, err), 0);
    assert_int_equal(m[0].pid, 20652);
    assert_int_equal(m[0].flags, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_EXT);
    assert_true(m[0].gc_ms == 0);
}

static void test_json_optional_fields(void **state)
{
    (void)state;
    struct mem_sample m[JMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const char a[] = "{\"rss\": 1000, \"heapUsed\": 300, \"heapTotal\": 500, \"heapFloor\": 250,"
                     " \"gcSeq\": 17, \"gc\": true, \"arrayBuffers\": 5}";
    assert_int_equal(json(a, sizeof a - 1, m, JMAX, &c, err), 0);
    assert_int_equal(m[0].floor, 250);
    assert_int_equal(m[0].gc_seq, 17);
    assert_int_equal(m[0].array_buffers, 5);
    assert_int_equal(m[0].flags, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_FLOOR | MEM_GC);
    /* heap only; rss only; vmrss only (a /proc reading); null fields skipped */
    const char b[] = "{\"heapUsed\": 300, \"heapTotal\": 500}";
    assert_int_equal(json(b, sizeof b - 1, m, JMAX, &c, err), 0);
    assert_int_equal(m[0].flags, MEM_HAS_HEAP);
    const char d[] = "{\"rss\": 1000, \"heapUsed\": null, \"external\": null}";
    assert_int_equal(json(d, sizeof d - 1, m, JMAX, &c, err), 0);
    assert_int_equal(m[0].flags, MEM_HAS_RSS);
    const char e[] = "{\"pid\": 7, \"vmrss\": 4096}";
    assert_int_equal(json(e, sizeof e - 1, m, JMAX, &c, err), 0);
    assert_int_equal(m[0].rss, 4096);
    assert_int_equal(m[0].flags, MEM_HAS_RSS);
    /* numbers written as reals (some serializers) */
    const char f[] = "{\"rss\": 4.1127936e7, \"heapUsed\": 3199440.0, \"heapTotal\": 4169728}";
    assert_int_equal(json(f, sizeof f - 1, m, JMAX, &c, err), 0);
    assert_int_equal(m[0].rss, 41127936);
    assert_int_equal(m[0].heap_used, 3199440);
    /* whitespace and a BOM-less trailing newline */
    const char g[] = " \n\t{ \"rss\" : 1 }\n";
    assert_int_equal(json(g, sizeof g - 1, m, JMAX, &c, err), 0);
    assert_int_equal(m[0].rss, 1);
}

static void test_json_per_worker_forms(void **state)
{
    (void)state;
    struct mem_sample m[JMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    static const int64_t pid[3] = { 18110, 18111, 18112 };
    static const uint64_t rss[3] = { 49881088, 51515392, 53452800 };
    static const uint64_t used[3] = { 5057664, 6402128, 7023808 };
    /* three node:cluster workers reporting process.memoryUsage() + pid */
    const char *files[] = { "mu_workers.json", "mu_array.json", "mu_keyed.json" };
    for (int f = 0; f < 3; f++) {
        if (json_file(files[f], m, &c, err) != 0)
            fail_msg("%s: %s", files[f], err);
        assert_int_equal(c, 3);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(m[i].pid, pid[i]);
            assert_int_equal(m[i].rss, rss[i]);
            assert_int_equal(m[i].heap_used, used[i]);
            assert_int_equal(m[i].external, 1539235);
            assert_int_equal(m[i].flags, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_EXT);
        }
    }
    /* one worker in a list */
    const char one[] = "{\"workers\": [{\"pid\": 9, \"rss\": 1}]}";
    assert_int_equal(json(one, sizeof one - 1, m, JMAX, &c, err), 0);
    assert_int_equal(c, 1);
    assert_int_equal(m[0].pid, 9);
    /* exactly max workers is fine, one more is an error */
    size_t n;
    char *s = slurp("mu_array.json", &n);
    assert_int_equal(json(s, n, m, 3, &c, err), 0);
    assert_int_equal(c, 3);
    assert_int_equal(json(s, n, m, 2, &c, err), -1);
    assert_non_null(strstr(err, "more than 2"));
    free(s);
    s = slurp("mu_keyed.json", &n);
    assert_int_equal(json(s, n, m, 2, &c, err), -1);
    assert_true(err[0] != '\0');
    free(s);
}

/* Workers without a "pid" must still come out as distinct workers (as
 * memparse_prom does with its negative pseudo-ids): with pid 0 for all of
 * them series.c cannot tell them apart. */
static void test_json_workers_without_pid_stay_distinct(void **state)
{
    (void)state;
    struct mem_sample m[JMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const char *cases[] = {
        "[{\"rss\": 100}, {\"rss\": 200}, {\"rss\": 300}]",
        "{\"workers\": [{\"rss\": 100}, {\"rss\": 200}, {\"rss\": 300}]}",
        "{\"1\": {\"rss\": 100}, \"2\": {\"rss\": 200}, \"3\": {\"rss\": 300}}",
    };
    for (int k = 0; k < 3; k++) {
        assert_int_equal(json(cases[k], strlen(cases[k]), m, JMAX, &c, err), 0);
        assert_int_equal(c, 3);
        for (int i = 0; i < 3; i++)
            for (int j = i + 1; j < 3; j++)
                if (m[i].pid == m[j].pid)
                    fail_msg("case %d: workers %d and %d both have pid %lld", k, i, j,
                             (long long)m[i].pid);
    }
}

/* MEM_HAS_HEAP means heap_used AND heap_total: a null one is a missing one
 * (else heap_used reads 0, which becomes a floor of 0). */
static void test_json_heap_flag_needs_both_figures(void **state)
{
    (void)state;
    struct mem_sample m[JMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const char *with_rss[] = {
        "{\"rss\": 1000, \"heapUsed\": null, \"heapTotal\": 500}",
        "{\"rss\": 1000, \"heapUsed\": 300, \"heapTotal\": null}",
        "{\"rss\": 1000, \"heapUsed\": 300}",
        "{\"rss\": 1000, \"heapTotal\": 500}",
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof with_rss / sizeof with_rss[0]; i++) {
        int rc = json(with_rss[i], strlen(with_rss[i]), m, JMAX, &c, err);
        if (rc != 0 || m[0].flags != MEM_HAS_RSS) {
            print_error("%s: rc %d flags %#x heap_used %llu (want rc 0, MEM_HAS_RSS only)\n",
                        with_rss[i], rc, m[0].flags, (unsigned long long)m[0].heap_used);
            bad++;
        }
    }
    /* without rss, no figure at all: an error, not a heap_used of 0 */
    const char *alone[] = {
        "{\"heapUsed\": null, \"heapTotal\": 500}",
        "{\"heapUsed\": 300, \"heapTotal\": null}",
    };
    for (size_t i = 0; i < sizeof alone / sizeof alone[0]; i++) {
        int rc = json(alone[i], strlen(alone[i]), m, JMAX, &c, err);
        if (rc != -1) {
            print_error("%s: accepted, flags %#x heap_used %llu (want -1)\n", alone[i],
                        m[0].flags, (unsigned long long)m[0].heap_used);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* "Fills up to <max> samples": max 0 must not write out[0]. */
static void test_json_respects_max_zero(void **state)
{
    (void)state;
    struct mem_sample m[JMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const char a[] = "{\"pid\": 5, \"rss\": 1000}";
    assert_int_equal(json(a, sizeof a - 1, m, 0, &c, err), -1);
    assert_int_equal(c, 0);
    assert_int_equal(m[0].rss, 0);
    assert_int_equal(m[0].pid, 0);
}

static void test_json_rejects_malformed(void **state)
{
    (void)state;
    struct mem_sample m[JMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const struct bytes bad[] = {
        B(""), B(" "), B("\n"),                         /* empty */
        B("{"), B("{\"rss\": 4112"), B("[{\"rss\": 1}"),  /* truncated */
        B("{\"rss\": 1}}"), B("{\"rss\": 1} {\"rss\": 2}"), /* trailing data */
        B("null"), B("42"), B("\"rss\""), B("true"),     /* not an object */
        B("{}"), B("[]"), B("{\"workers\": []}"),        /* no figures, no workers */
        B("{\"workers\": {}}"),
        B("{\"heapTotal\": 5}"),                         /* missing fields */
        B("{\"heapUsed\": 5}"),
        B("{\"external\": 5, \"arrayBuffers\": 1}"),
        B("{\"pid\": 5}"),
        B("{\"rss\": -1}"),                              /* negative */
        B("{\"rss\": -0.5}"),
        B("{\"heapUsed\": 3, \"heapTotal\": -4}"),
        B("{\"rss\": 99999999999999999999999}"),         /* overflow */
        B("{\"rss\": 1e300}"),
        B("{\"rss\": \"41127936\"}"),                    /* wrong type */
        B("{\"rss\": \"40MB\"}"),                        /* units */
        B("{\"rss\": true}"),
        B("{\"rss\": [1]}"),
        B("{\"rss\": {\"bytes\": 1}}"),
        B("{\"rss\": NaN}"), B("{\"rss\": Infinity}"),
        B("{\"pid\": 0, \"rss\": 1}"),                   /* bad pid */
        B("{\"pid\": -5, \"rss\": 1}"),
        B("{\"pid\": 4294967296, \"rss\": 1}"),
        B("{\"pid\": \"worker-1\", \"rss\": 1}"),
        B("{\"pid\": null, \"rss\": 1}"),
        B("{\"vmrss\": -1}"),
        B("[{\"rss\": 1}, 2]"),                          /* a bad worker spoils the list */
        B("[{\"rss\": 1}, {\"heapTotal\": 2}]"),
        B("{\"a\": {\"rss\": 1}, \"b\": {\"rss\": -1}}"),
        B("{\"a\": {\"rss\": 1}, \"version\": \"1.0\"}"),
        B("{\"rss\": 1}\0"),                             /* NUL inside */
        B("{\"r\0ss\": 1}"),
        B("{\"rss\": \"1\0\"}"),
        B("\0{\"rss\": 1}"),
        B("{'rss': 1}"),                                 /* garbage */
        B("rss=1; heap_used=2"),
        B("\xff\xfe{\"rss\": 1}"),
        B("{\"rss\": 01}"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (json(bad[i].s, bad[i].n, m, JMAX, &c, err) != -1)
            fail_msg("case %zu accepted: %u samples, rss=%llu", i, c,
                     (unsigned long long)m[0].rss);
        if (err[0] == '\0')
            fail_msg("case %zu: no message", i);
    }
    /* a real capture cut in half */
    size_t n;
    char *s = slurp("mu_workers.json", &n);
    for (size_t cut = 1; cut < n - 2; cut += 7) {
        if (json(s, cut, m, JMAX, &c, err) != -1)
            fail_msg("cut at %zu accepted", cut);
        assert_true(err[0] != '\0');
    }
    free(s);
}

/* The input is a byte range from another process: a NUL byte anywhere is
 * garbage. (jansson 2.14 drops a NUL that directly follows a number:
 * {"rss": 1<NUL>} loads as {"rss": 1}.) */
static void test_json_rejects_nul_bytes(void **state)
{
    (void)state;
    struct mem_sample m[JMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const struct bytes bad[] = {
        B("{\"rss\": 1\0}"),
        B("{\"rss\": 1\0, \"pid\": 7}"),
        B("[{\"pid\": 7, \"rss\": 41127936\0}]"),
    };
    int n = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (json(bad[i].s, bad[i].n, m, JMAX, &c, err) != -1) {
            print_error("case %zu accepted: rss=%llu\n", i, (unsigned long long)m[0].rss);
            n++;
        }
    }
    assert_int_equal(n, 0);
}

/* A pid is an integer: 4123.7 is not one. */
static void test_json_rejects_fractional_pid(void **state)
{
    (void)state;
    struct mem_sample m[JMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const char a[] = "{\"pid\": 4123.7, \"rss\": 1}";
    assert_int_equal(json(a, sizeof a - 1, m, JMAX, &c, err), -1);
    assert_true(err[0] != '\0');
}

/* ---- Prometheus text ---------------------------------------------------- */

#define PMAX 8

static int prom(const char *s, size_t n, const struct memparse_prom_names *names,
                struct mem_sample *out, unsigned max, unsigned *count, char *err)
{
    memset(out, 0, sizeof *out * PMAX);
    err[0] = '\0';
    *count = 12345;
    return memparse_prom(s, n, names, out, max, count, err, MEM_ERR_MAX);
}

static void test_prom_reads_prom_client_default_metrics(void **state)
{
    (void)state;
    struct mem_sample m[PMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    size_t n;
    /* prom-client 15.1.3 collectDefaultMetrics(), register.metrics(): HELP,
     * TYPE, blank lines, labels, histograms with le="+Inf" */
    char *s = slurp("prom_client_default.txt", &n);
    if (prom(s, n, &promclient, m, PMAX, &c, err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c, 1);
    assert_int_equal(m[0].pid, 0);
    assert_int_equal(m[0].rss, 53587968);
    assert_int_equal(m[0].heap_used, 5533856);
    assert_int_equal(m[0].heap_total, 9674752);
    assert_int_equal(m[0].external, 1947455);
    assert_int_equal(m[0].flags, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_EXT);

    /* only rss configured */
    const struct memparse_prom_names rss_only = { .rss = "process_resident_memory_bytes" };
    assert_int_equal(prom(s, n, &rss_only, m, PMAX, &c, err), 0);
    assert_int_equal(c, 1);
    assert_int_equal(m[0].flags, MEM_HAS_RSS);
    assert_int_equal(m[0].heap_used, 0);

    /* a configured name that is not there: an error naming it */
    const struct memparse_prom_names wrong = { .rss = "process_rss_bytes" };
    assert_int_equal(prom(s, n, &wrong, m, PMAX, &c, err), -1);
    assert_non_null(strstr(err, "process_rss_bytes"));
    free(s);
}

static void test_prom_per_worker_by_pid_label(void **state)
{
    (void)state;
    struct mem_sample m[PMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    size_t n;
    /* prom-client AggregatorRegistry.clusterMetrics() over two node:cluster
     * workers with setDefaultLabels({pid}) */
    char *s = slurp("prom_client_cluster_pid.txt", &n);
    if (prom(s, n, &promclient, m, PMAX, &c, err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c, 2);
    assert_int_equal(m[0].pid, 18958);
    assert_int_equal(m[0].rss, 54099968);
    assert_int_equal(m[0].heap_used, 5955704);
    assert_int_equal(m[0].heap_total, 9674752);
    assert_int_equal(m[0].external, 2056200);
    assert_int_equal(m[1].pid, 18957);
    assert_int_equal(m[1].rss, 53993472);
    assert_int_equal(m[1].heap_used, 5948768);
    for (int i = 0; i < 2; i++)
        assert_int_equal(m[i].flags, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_EXT);
    /* max 1: too many workers */
    assert_int_equal(prom(s, n, &promclient, m, 1, &c, err), -1);
    assert_non_null(strstr(err, "more than"));
    free(s);
}

static void test_prom_per_worker_by_custom_label(void **state)
{
    (void)state;
    struct mem_sample m[PMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    size_t n;
    struct memparse_prom_names names = promclient;
    names.worker_label = "worker";
    /* the same with setDefaultLabels({worker: "w1"/"w2"}): no numeric pid,
     * so two distinct negative pseudo-ids */
    char *s = slurp("prom_client_cluster_worker.txt", &n);
    if (prom(s, n, &names, m, PMAX, &c, err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c, 2);
    assert_int_equal(m[0].rss, 54153216);               /* worker="w2" comes first */
    assert_int_equal(m[0].heap_used, 6019584);
    assert_int_equal(m[1].rss, 53927936);
    assert_int_equal(m[1].heap_used, 5950016);
    assert_true(m[0].pid < 0 && m[1].pid < 0 && m[0].pid != m[1].pid);
    free(s);
    /* a numeric custom label is taken as the pid; other labels do not matter */
    const char t[] =
        "process_resident_memory_bytes{instance=\"a\",worker=\"4123\"} 100\n"
        "process_resident_memory_bytes{worker=\"4124\",instance=\"a\"} 200\n"
        "nodejs_heap_size_used_bytes{worker=\"4123\",pid=\"1\"} 10\n"
        "nodejs_heap_size_total_bytes{worker=\"4123\"} 20\n";
    assert_int_equal(prom(t, sizeof t - 1, &names, m, PMAX, &c, err), 0);
    assert_int_equal(c, 2);
    assert_int_equal(m[0].pid, 4123);
    assert_int_equal(m[0].rss, 100);
    assert_int_equal(m[0].heap_used, 10);
    assert_int_equal(m[0].heap_total, 20);
    assert_int_equal(m[0].flags, MEM_HAS_RSS | MEM_HAS_HEAP);
    assert_int_equal(m[1].pid, 4124);
    assert_int_equal(m[1].flags, MEM_HAS_RSS);
}

static void test_prom_odd_but_valid_lines(void **state)
{
    (void)state;
    struct mem_sample m[PMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const char t[] =
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        "\n"
        "   \n"
        "\t\n"
        "#\n"
        "# a comment with \"quotes\", {braces} and = signs\n"
        "#no space after the hash\n"
        "  # indented comment\n"
        /* escapes in other label values, trailing comma, timestamp */
        "process_resident_memory_bytes{pid=\"101\",path=\"C:\\\\dir\\\\\",msg=\"say \\\"hi\\\"\\nbye\",} 1000 1700000000000\n"
        /* spaces inside the label set, tabs as separators, negative timestamp */
        "nodejs_heap_size_used_bytes{ pid = \"101\" , } 500\n"
        "nodejs_heap_size_total_bytes{pid=\"101\"}\t800\t-1700000000000\n"
        "nodejs_external_memory_bytes{pid=\"101\"} 1.5e3\n"
        /* NaN and infinities on other metrics */
        "some_gauge NaN\n"
        "some_gauge{a=\"b\"} +Inf\n"
        "some_gauge{a=\"c\"} -Inf 123\n"
        "some_gauge{a=\"d\"} Inf\n"
        "nodejs_gc_duration_seconds_bucket{le=\"+Inf\",kind=\"major\"} 3\n"
        "nodejs_gc_duration_seconds_sum{kind=\"major\"} 0.004217\n"
        "empty_labels{} 1\n"
        "label_with_braces{a=\"}{,=\"} 1\n"
        "utf8_label{a=\"\xc3\xa9t\xc3\xa9 \xe2\x9c\x93\"} 1\n"
        "colons:in:metric_name 1\n"
        /* leading blanks, exponent, CRLF */
        "\tprocess_resident_memory_bytes{pid=\"102\"} 2e3\n"
        "nodejs_heap_size_used_bytes{pid=\"102\"} 700\r\n"
        "nodejs_heap_size_total_bytes{pid=\"102\"}    900   \n"
        /* not readings: NaN, infinite, negative, absurd; worker 103 never appears */
        "process_resident_memory_bytes{pid=\"103\"} NaN\n"
        "process_resident_memory_bytes{pid=\"103\"} +Inf\n"
        "nodejs_heap_size_used_bytes{pid=\"103\"} -5\n"
        "process_resident_memory_bytes{pid=\"103\"} 99999999999999999999999\n"
        "process_resident_memory_bytes_total{pid=\"104\"} 1\n"        /* longer name */
        "process_resident_memory{pid=\"104\"} 1";                     /* no final newline */
    if (prom(t, sizeof t - 1, &promclient, m, PMAX, &c, err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c, 2);
    assert_int_equal(m[0].pid, 101);
    assert_int_equal(m[0].rss, 1000);
    assert_int_equal(m[0].heap_used, 500);
    assert_int_equal(m[0].heap_total, 800);
    assert_int_equal(m[0].external, 1500);
    assert_int_equal(m[0].flags, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_EXT);
    assert_int_equal(m[1].pid, 102);
    assert_int_equal(m[1].rss, 2000);
    assert_int_equal(m[1].heap_used, 700);
    assert_int_equal(m[1].heap_total, 900);
    assert_int_equal(m[1].flags, MEM_HAS_RSS | MEM_HAS_HEAP);

    /* the heap limit, when configured */
    struct memparse_prom_names names = promclient;
    names.heap_limit = "v8_heap_limit_bytes";
    const char l[] = "process_resident_memory_bytes 10\nv8_heap_limit_bytes 4345298944\n";
    assert_int_equal(prom(l, sizeof l - 1, &names, m, PMAX, &c, err), 0);
    assert_int_equal(m[0].limit, 4345298944ull);
    assert_int_equal(m[0].flags, MEM_HAS_RSS | MEM_HAS_LIMIT);
}

/* The format's values are whatever Go's strconv.ParseFloat accepts
 * (exposition_formats.md): "NaN", "Inf", "+Inf", "-Inf" in any case and
 * "Infinity" (OpenMetrics' ABNF strings are case-insensitive too), and
 * values that underflow to a subnormal or to 0. One such value on an
 * unrelated metric must not fail the whole scrape. */
static void test_prom_values_follow_go_parsefloat(void **state)
{
    (void)state;
    struct mem_sample m[PMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const char *odd[] = { "nan", "inf", "+inf", "-inf", "INF", "-Infinity", "+infinity",
                          "5e-324", "1e-310", "1e-400" };
    int bad = 0;
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        char t[160];
        int n = snprintf(t, sizeof t, "other_metric %s\nprocess_resident_memory_bytes 10\n", odd[i]);
        if (prom(t, (size_t)n, &promclient, m, PMAX, &c, err) != 0 || m[0].rss != 10) {
            print_error("value \"%s\" rejected: %s\n", odd[i], err);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_prom_rejects_malformed(void **state)
{
    (void)state;
    struct mem_sample m[PMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const struct bytes bad[] = {
        B(""), B("\n\n"),                               /* empty */
        B("# HELP x y\n# TYPE x gauge\n"),              /* only comments */
        B("other_metric 1\n"),                          /* no configured metric */
        B("process_resident_memory_bytes NaN\n"),       /* no reading in it */
        B("process_resident_memory_bytes -1\n"),        /* negative */
        B("process_resident_memory_bytes 99999999999999999999999\n"),
        B("process_resident_memory_bytes 1e400\n"),     /* out of float range */
        B("process_resident_memory_bytes\n"),           /* truncated: no value */
        B("process_resident_memory_bytes"),
        B("process_resident_memory_bytes "),
        B("process_resident_memory_bytes{pid=\"1\"\n"), /* unterminated label set */
        B("process_resident_memory_bytes{pid=\"1 100\n"), /* unterminated label string */
        B("process_resident_memory_bytes{pid=\"1\\\"} 100\n"),
        B("process_resident_memory_bytes{pid=\"1\\"),
        B("process_resident_memory_bytes{pid=\"\\x\"} 1\n"),  /* bad escapes */
        B("process_resident_memory_bytes{pid=\"\\t\"} 1\n"),
        B("process_resident_memory_bytes{pid=\"\\u0041\"} 1\n"),
        B("process_resident_memory_bytes{pid=1} 1\n"),  /* unquoted */
        B("process_resident_memory_bytes{pid='1'} 1\n"),
        B("process_resident_memory_bytes{pid=\"1\" a=\"2\"} 1\n"),   /* missing comma */
        B("process_resident_memory_bytes{,} 1\n"),
        B("process_resident_memory_bytes{pid=\"1\",,} 1\n"),
        B("process_resident_memory_bytes{=\"1\"} 1\n"),
        B("process_resident_memory_bytes{1a=\"1\"} 1\n"),
        B("process_resident_memory_bytes{pid=\"1\"}1\n"),
        B("process_resident_memory_bytes 100MB\n"),     /* units */
        B("process_resident_memory_bytes 100 MB\n"),
        B("process_resident_memory_bytes 0x10\n"),      /* hex */
        B("process_resident_memory_bytes 1_000\n"),
        B("process_resident_memory_bytes 1,5\n"),
        B("process_resident_memory_bytes 1 2 3\n"),     /* extra token */
        B("process_resident_memory_bytes 1 1.5\n"),     /* float timestamp */
        B("process_resident_memory_bytes 1 99999999999999999999999\n"),
        B("process_resident_memory_bytes \"1\"\n"),
        B("{pid=\"1\"} 1\n"),                           /* no name */
        B("1metric 1\n"),
        B("hello world\n"),                             /* garbage */
        B("<html><body>502 Bad Gateway</body></html>\n"),
        B("{\"rss\": 1}\n"),
        B("process_resident\0_memory_bytes 1\n"),       /* NUL inside */
        B("process_resident_memory_bytes\0 1\n"),
        B("process_resident_memory_bytes{pid\0=\"1\"} 1\n"),
        B("process_resident_memory_bytes 1 \0\n"),
        B("process_resident_memory_bytes 1\rx\n"),      /* lone CR */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (prom(bad[i].s, bad[i].n, &promclient, m, PMAX, &c, err) != -1)
            fail_msg("case %zu accepted: %u samples, rss=%llu", i, c,
                     (unsigned long long)m[0].rss);
        if (err[0] == '\0')
            fail_msg("case %zu: no message", i);
    }
    /* a syntax error anywhere fails the scrape, with its line number */
    const char t[] = "# HELP a b\nprocess_resident_memory_bytes 1\nbroken{\n";
    assert_int_equal(prom(t, sizeof t - 1, &promclient, m, PMAX, &c, err), -1);
    assert_non_null(strstr(err, "line 3"));
    /* a real exposition truncated in the middle of a line */
    size_t n;
    char *s = slurp("prom_client_default.txt", &n);
    const char *rss = strstr(s, "\nprocess_resident_memory_bytes ");
    assert_non_null(rss);
    size_t cut = (size_t)(rss - s) + 1 + strlen("process_resident_memory_bytes");
    assert_int_equal(prom(s, cut, &promclient, m, PMAX, &c, err), -1);
    unsigned line = 1;
    for (size_t i = 0; i < cut; i++)
        line += s[i] == '\n';
    char want[32];
    snprintf(want, sizeof want, "line %u:", line);
    if (strstr(err, want) == NULL)
        fail_msg("want \"%s\" in: %s", want, err);
    free(s);
}

/* A NUL byte is not part of a number: "5\0" "9" must not read as 5. */
static void test_prom_rejects_nul_inside_value(void **state)
{
    (void)state;
    struct mem_sample m[PMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const struct bytes bad[] = {
        B("process_resident_memory_bytes 5\0" "9\n"),
        B("process_resident_memory_bytes 5\0\n"),
        B("process_resident_memory_bytes 5\0"),
        B("process_resident_memory_bytes 10\nother 1\0\n"),
    };
    int n = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (prom(bad[i].s, bad[i].n, &promclient, m, PMAX, &c, err) != -1) {
            print_error("case %zu accepted: rss=%llu\n", i, (unsigned long long)m[0].rss);
            n++;
        }
    }
    assert_int_equal(n, 0);
}

/* Label names are [a-zA-Z_][a-zA-Z0-9_]*: colons are for metric names only. */
static void test_prom_rejects_colon_in_label_name(void **state)
{
    (void)state;
    struct mem_sample m[PMAX];
    unsigned c;
    char err[MEM_ERR_MAX];
    const char t[] = "process_resident_memory_bytes{a:b=\"1\"} 10\n";
    assert_int_equal(prom(t, sizeof t - 1, &promclient, m, PMAX, &c, err), -1);
}

/* ---- the memory header -------------------------------------------------- */

static int hdr(const char *s, struct mem_sample *m)
{
    char err[MEM_ERR_MAX];
    memset(m, 0xa5, sizeof *m);                         /* must be cleared */
    return memparse_header(s, strlen(s), m, err, sizeof err);
}

static void test_header_reads_all_keys(void **state)
{
    (void)state;
    struct mem_sample m;
    assert_int_equal(hdr("pid=4123; rss=183500800; heap_used=91234560; heap_total=120000000; "
                         "external=2000000; gc=1", &m), 0);
    assert_int_equal(m.pid, 4123);
    assert_int_equal(m.rss, 183500800);
    assert_int_equal(m.heap_used, 91234560);
    assert_int_equal(m.heap_total, 120000000);
    assert_int_equal(m.external, 2000000);
    assert_int_equal(m.flags, MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_EXT | MEM_GC);
    assert_int_equal(m.floor, 0);
    assert_int_equal(m.t_us, 0);

    assert_int_equal(hdr("pid=7;rss=1;array_buffers=2;floor=3;gc_seq=4;heap_limit=5;gc=0", &m), 0);
    assert_int_equal(m.array_buffers, 2);
    assert_int_equal(m.floor, 3);
    assert_int_equal(m.gc_seq, 4);
    assert_int_equal(m.limit, 5);
    assert_int_equal(m.flags, MEM_HAS_RSS | MEM_HAS_FLOOR | MEM_HAS_LIMIT);   /* gc=0: no GC */
    /* order, spacing, a trailing ';', unknown numeric keys ignored */
    assert_int_equal(hdr("  rss=10 ;pid=8;  future_key=99 ;", &m), 0);
    assert_int_equal(m.pid, 8);
    assert_int_equal(m.rss, 10);
    assert_int_equal(m.flags, MEM_HAS_RSS);
    assert_int_equal(hdr("pid=2147483647; heap_used=1", &m), 0);
    assert_int_equal(m.pid, 2147483647);
    assert_int_equal(m.flags, MEM_HAS_HEAP);
    /* the largest plausible figure (MEM_FIGURE_MAX, 1 PiB); gc_seq is a count */
    assert_int_equal(hdr("pid=1; rss=1125899906842624; gc_seq=18446744073709551615", &m), 0);
    assert_true(m.rss == MEM_FIGURE_MAX);
    assert_true(m.gc_seq == UINT64_MAX);
}

/* "Unknown keys are ignored" (memsrc.h): so are their values, whatever they
 * look like, or a newer contrib/node module breaks an older proxy. */
static void test_header_ignores_unknown_keys_with_any_value(void **state)
{
    (void)state;
    struct mem_sample m;
    const char *ok[] = {
        "pid=1; rss=2; version=1.2.3",
        "pid=1; rss=2; gc_ms=0.75",
        "pid=1; worker=w1; rss=2",
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (hdr(ok[i], &m) != 0 || m.pid != 1 || m.rss != 2) {
            print_error("\"%s\" rejected\n", ok[i]);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_header_rejects_malformed(void **state)
{
    (void)state;
    struct mem_sample m;
    const struct bytes bad[] = {
        B(""), B(" "), B(";"),                          /* empty */
        B("rss=1"),                                     /* missing pid */
        B("pid=1"),                                     /* missing figures */
        B("pid=1; heap_total=5; external=3"),
        B("pid=0; rss=1"),                              /* bad pid */
        B("pid=2147483648; rss=1"),
        B("pid=-1; rss=1"),                             /* negative */
        B("pid=1; rss=-1"),
        B("pid=1; rss=99999999999999999999999"),        /* overflow */
        B("pid=1; rss=100MB"),                          /* units */
        B("pid=1; rss=100 MB"),
        B("pid=1; rss=1.5"),
        B("pid=1; rss=0x10"),
        B("pid=1; rss="),                               /* truncated */
        B("pid=1; rss"),
        B("pid=1; r"),
        B("pid=1; =2"),
        B("pid=1;; rss=2"),
        B("pid=1 rss=2"),                               /* missing ';' */
        B("pid=1, rss=2"),
        B("pid = 1; rss = 2"),
        B("pid=1; rss=2\0"),                            /* NUL inside */
        B("pid=1\0; rss=2"),
        B("pid=1; rss=\0" "2"),
        B("garbage"),                                   /* garbage */
        B("{\"pid\": 1, \"rss\": 2}"),
        B("\xff\xfe"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[MEM_ERR_MAX] = "";
        memset(&m, 0, sizeof m);
        if (memparse_header(bad[i].s, bad[i].n, &m, err, sizeof err) != -1)
            fail_msg("case %zu accepted: pid=%lld rss=%llu", i, (long long)m.pid,
                     (unsigned long long)m.rss);
        if (err[0] == '\0')
            fail_msg("case %zu: refused without a message", i);
    }
}

/* Figures above MEM_FIGURE_MAX (1 PiB) from any source are refused with a
 * message naming the figure: near 2^63 they overflowed series.c (UBSan
 * aborted, release builds computed wrong rows). Counts (gcSeq, gc_seq) are
 * not bytes and are not capped. */
static void test_implausible_figures_are_refused(void **state)
{
    (void)state;
    struct mem_sample m[4];
    unsigned c;
    char err[MEM_ERR_MAX];
    const char *json_bad[] = {
        "{\"pid\": 1, \"rss\": 9223372036854775807, \"heapUsed\": 1, \"heapTotal\": 2}",
        "{\"rss\": 1125899906842625}",
        "{\"rss\": 1, \"heapUsed\": 9.0e18, \"heapTotal\": 2}",
        "{\"rss\": 1, \"heapUsed\": 1, \"heapTotal\": 9223372036854775000}",
        "{\"rss\": 1, \"external\": 4611686018427387904}",
        "{\"rss\": 1, \"arrayBuffers\": 4611686018427387904}",
        "{\"rss\": 1, \"heapFloor\": 4611686018427387904}",
        "{\"rss\": 1, \"heapLimit\": 4611686018427387904}",
        "{\"vmrss\": 4611686018427387904}",
        "[{\"rss\": 1}, {\"rss\": 9223372036854775807}]",
    };
    for (size_t i = 0; i < sizeof json_bad / sizeof json_bad[0]; i++) {
        err[0] = '\0';
        if (memparse_json(json_bad[i], strlen(json_bad[i]), m, 4, &c, err, sizeof err) != -1)
            fail_msg("json %zu accepted: rss %llu", i, (unsigned long long)m[0].rss);
        if (!strstr(err, "1 PiB"))
            fail_msg("json %zu: message should name the cap: \"%s\"", i, err);
    }
    const char ok[] = "{\"rss\": 1125899906842624, \"gcSeq\": 9223372036854775807}";
    assert_int_equal(memparse_json(ok, sizeof ok - 1, m, 4, &c, err, sizeof err), 0);
    assert_true(m[0].rss == MEM_FIGURE_MAX);

    const char *hdr_bad[] = {
        "pid=1; rss=18446744073709551615",
        "pid=1; rss=1; heap_used=9223372036854775808",
        "pid=1; rss=1125899906842625",
        "pid=1; rss=1; floor=4611686018427387904",
        "pid=1; rss=1; heap_limit=4611686018427387904",
        "pid=1; rss=1; external=4611686018427387904; array_buffers=1",
    };
    for (size_t i = 0; i < sizeof hdr_bad / sizeof hdr_bad[0]; i++) {
        err[0] = '\0';
        if (memparse_header(hdr_bad[i], strlen(hdr_bad[i]), m, err, sizeof err) != -1)
            fail_msg("header %zu accepted", i);
        if (!strstr(err, "1 PiB"))
            fail_msg("header %zu: message should name the cap: \"%s\"", i, err);
    }

    /* Prometheus: such a value is no reading (as NaN is); when nothing else
     * is read, the message says which line and why */
    const struct memparse_prom_names names = { "process_resident_memory_bytes", "nodejs_heap_size_used_bytes",
                                               "nodejs_heap_size_total_bytes", NULL, NULL, NULL };
    const char p1[] = "process_resident_memory_bytes 9.2e18\n";
    assert_int_equal(memparse_prom(p1, sizeof p1 - 1, &names, m, 4, &c, err, sizeof err), -1);
    if (!strstr(err, "line 1") || !strstr(err, "1 PiB"))
        fail_msg("prometheus message: \"%s\"", err);
    const char p2[] = "process_resident_memory_bytes{pid=\"4\"} 1000\n"
                      "nodejs_heap_size_used_bytes{pid=\"4\"} 4611686018427387904\n";
    assert_int_equal(memparse_prom(p2, sizeof p2 - 1, &names, m, 4, &c, err, sizeof err), 0);
    assert_int_equal(c, 1);
    assert_int_equal(m[0].rss, 1000);
    assert_int_equal(m[0].heap_used, 0);
    assert_int_equal(m[0].flags, MEM_HAS_RSS);

    /* /proc status: kB figures above it too */
    const char st[] = "VmRSS:\t1099511627777 kB\n";
    struct mem_sample one;
    memset(&one, 0, sizeof one);
    assert_int_equal(memparse_proc_status(st, sizeof st - 1, &one, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_status_reads_real_captures),
        cmocka_unit_test(test_proc_status_kernel_thread_has_no_rss),
        cmocka_unit_test(test_proc_status_minimal_and_spacing),
        cmocka_unit_test(test_proc_status_rejects_malformed),
        cmocka_unit_test(test_u64_file_reads_cgroup_values),
        cmocka_unit_test(test_u64_file_rejects_malformed),
        cmocka_unit_test(test_cgroup_stat_v2),
        cmocka_unit_test(test_cgroup_stat_v1_prefers_hierarchical_totals),
        cmocka_unit_test(test_cgroup_stat_rejects_malformed),
        cmocka_unit_test(test_json_single_reading),
        cmocka_unit_test(test_json_optional_fields),
        cmocka_unit_test(test_json_per_worker_forms),
        cmocka_unit_test(test_json_workers_without_pid_stay_distinct),
        cmocka_unit_test(test_json_heap_flag_needs_both_figures),
        cmocka_unit_test(test_json_respects_max_zero),
        cmocka_unit_test(test_json_rejects_malformed),
        cmocka_unit_test(test_json_rejects_nul_bytes),
        cmocka_unit_test(test_json_rejects_fractional_pid),
        cmocka_unit_test(test_prom_reads_prom_client_default_metrics),
        cmocka_unit_test(test_prom_per_worker_by_pid_label),
        cmocka_unit_test(test_prom_per_worker_by_custom_label),
        cmocka_unit_test(test_prom_odd_but_valid_lines),
        cmocka_unit_test(test_prom_values_follow_go_parsefloat),
        cmocka_unit_test(test_prom_rejects_malformed),
        cmocka_unit_test(test_prom_rejects_nul_inside_value),
        cmocka_unit_test(test_prom_rejects_colon_in_label_name),
        cmocka_unit_test(test_implausible_figures_are_refused),
        cmocka_unit_test(test_header_reads_all_keys),
        cmocka_unit_test(test_header_ignores_unknown_keys_with_any_value),
        cmocka_unit_test(test_header_rejects_malformed),
    };
    return cmocka_run_group_tests_name("memparse", tests, NULL, NULL);
}
