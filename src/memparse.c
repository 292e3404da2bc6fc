/* memparse.c -- parsers of every memory source's input. See memsrc.h.
 *
 * All of them take a byte range (not a C string), never read past it, never
 * allocate except through jansson for JSON, and reject anything they do not
 * fully understand with a message saying what and where: the input comes
 * from other processes, and a garbage reading must never become a sample.
 * Figures in bytes above MEM_FIGURE_MAX (1 PiB) are garbage too: no process
 * has them, and near 2^63 they would overflow series.c's arithmetic. */
#include "memsrc.h"
#include "utf8.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void seterr(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || len == 0)
        return;
    va_start(ap, fmt);
    utf8_vformat(err, len, fmt, ap);  /* messages quote the input: keep them UTF-8 */
    va_end(ap);
}

/* Parses decimal digits at [*p, end) into <out>; 0 or -1 (none, overflow). */
static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* ---- /proc/PID/status ---------------------------------------------------- */

int memparse_proc_status(const char *s, size_t n, struct mem_sample *out,
                         char *err, size_t errlen)
{
    const char *p = s, *end = s + n;
    int have_rss = 0, have_anon = 0, have_file = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon) {
            size_t klen = (size_t)(colon - p);
            uint64_t *dst = NULL;
            int *flag = NULL;
            if (klen == 5 && memcmp(p, "VmRSS", 5) == 0) {
                dst = &out->rss;
                flag = &have_rss;
            } else if (klen == 7 && memcmp(p, "RssAnon", 7) == 0) {
                dst = &out->rss_anon;
                flag = &have_anon;
            } else if (klen == 7 && memcmp(p, "RssFile", 7) == 0) {
                dst = &out->rss_file;
                flag = &have_file;
            }
            if (dst) {
                const char *v = skip_ws(colon + 1, le);
                uint64_t kb;
                if (parse_u64(&v, le, &kb) < 0 || kb > (MEM_FIGURE_MAX >> 10)) {
                    seterr(err, errlen, "/proc status: bad value for %.*s", (int)klen, p);
                    return -1;
                }
                v = skip_ws(v, le);
                if (le - v < 2 || memcmp(v, "kB", 2) != 0) {
                    seterr(err, errlen, "/proc status: %.*s is not in kB", (int)klen, p);
                    return -1;
                }
                *dst = kb << 10;
                *flag = 1;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (!have_rss) {
        /* kernel threads and zombies have no VmRSS */
        seterr(err, errlen, "/proc status: no VmRSS line (a zombie or kernel thread?)");
        return -1;
    }
    out->flags |= MEM_HAS_RSS;
    if (have_anon && have_file)
        out->flags |= MEM_HAS_SPLIT;
    return 0;
}

/* ---- cgroup files -------------------------------------------------------- */

int memparse_u64_file(const char *s, size_t n, uint64_t *out)
{
    const char *p = s, *end = s + n;
    while (end > p && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\r'))
        end--;
    if (end - p == 3 && memcmp(p, "max", 3) == 0) {
        *out = UINT64_MAX;
        return 0;
    }
    if (parse_u64(&p, end, out) < 0 || p != end)
        return -1;
    return 0;
}

int memparse_cgroup_stat(const char *s, size_t n, uint64_t *anon, uint64_t *file)
{
    const char *p = s, *end = s + n;
    int got_anon = 0, got_file = 0;   /* 2: v2 or total_*, 1: v1 local */

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *sp = memchr(p, ' ', (size_t)(le - p));
        if (sp) {
            size_t klen = (size_t)(sp - p);
            const char *v = sp + 1;
            uint64_t val;
            if (parse_u64(&v, le, &val) < 0 || v != le)
                return -1;
#define KEY(lit) (klen == sizeof(lit) - 1 && memcmp(p, lit, klen) == 0)
            if (KEY("anon") || KEY("total_rss")) {
                *anon = val;
                got_anon = 2;
            } else if (KEY("rss") && got_anon < 2) {
                *anon = val;
                got_anon = 1;
            } else if (KEY("file") || KEY("total_cache")) {
                *file = val;
                got_file = 2;
            } else if (KEY("cache") && got_file < 2) {
                *file = val;
                got_file = 1;
            }
#undef KEY
        } else if (le > p) {
            return -1;
        }
        p = nl ? nl + 1 : end;
    }
    return got_anon && got_file ? 0 : -1;
}

/* ---- JSON (process.memoryUsage()) ---------------------------------------- */

/* A non-negative integral number that fits a uint64 exactly enough. */
static int json_u64(json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return -1;
        *out = (uint64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0) || d > 9.0e18)
            return -1;
        *out = (uint64_t)d;
        return 0;
    }
    return -1;
}

/* One entry; <key> is the object key it came under (worker id), or NULL. */
static int json_entry(json_t *o, struct mem_sample *s, char *err, size_t errlen, const char *where)
{
    static const struct { const char *name; size_t off; unsigned flag; int bytes; } fields[] = {
        { "rss", offsetof(struct mem_sample, rss), MEM_HAS_RSS, 1 },
        { "heapUsed", offsetof(struct mem_sample, heap_used), MEM_HAS_HEAP, 1 },
        { "heapTotal", offsetof(struct mem_sample, heap_total), MEM_HAS_HEAP, 1 },
        { "external", offsetof(struct mem_sample, external), MEM_HAS_EXT, 1 },
        { "arrayBuffers", offsetof(struct mem_sample, array_buffers), 0, 1 },
        { "heapFloor", offsetof(struct mem_sample, floor), MEM_HAS_FLOOR, 1 },
        { "heapLimit", offsetof(struct mem_sample, limit), MEM_HAS_LIMIT, 1 },
        { "gcSeq", offsetof(struct mem_sample, gc_seq), 0, 0 },      /* a count */
    };
    unsigned have = 0;

    if (!json_is_object(o)) {
        seterr(err, errlen, "%s: expected an object with rss/heapUsed", where);
        return -1;
    }
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *v = json_object_get(o, fields[i].name);
        if (v == NULL || json_is_null(v))
            continue;
        uint64_t *dst = (uint64_t *)((char *)s + fields[i].off);
        if (json_u64(v, dst) < 0) {
            seterr(err, errlen, "%s: \"%s\" is not a non-negative number", where, fields[i].name);
            return -1;
        }
        if (fields[i].bytes && *dst > MEM_FIGURE_MAX) {
            seterr(err, errlen, "%s: \"%s\" is %llu bytes, above 1 PiB: not a memory figure", where,
                   fields[i].name, (unsigned long long)*dst);
            return -1;
        }
        have |= fields[i].flag;
    }
    json_t *hu = json_object_get(o, "heapUsed"), *ht = json_object_get(o, "heapTotal");
    if (!hu || !ht || json_is_null(hu) || json_is_null(ht))
        have &= ~MEM_HAS_HEAP;       /* heap figures only as a pair */
    if (!(have & (MEM_HAS_RSS | MEM_HAS_HEAP))) {
        /* "vmrss" alone (a reading of /proc) is an RSS too */
        json_t *v = json_object_get(o, "vmrss");
        if (v && json_u64(v, &s->rss) == 0 && s->rss > MEM_FIGURE_MAX) {
            seterr(err, errlen, "%s: \"vmrss\" is %llu bytes, above 1 PiB: not a memory figure", where,
                   (unsigned long long)s->rss);
            return -1;
        }
        if (v && json_u64(v, &s->rss) == 0)
            have |= MEM_HAS_RSS;
        else {
            seterr(err, errlen, "%s: neither rss nor heapUsed/heapTotal", where);
            return -1;
        }
    }
    json_t *pid = json_object_get(o, "pid");
    if (pid) {
        uint64_t p;
        if (!json_is_integer(pid) || json_u64(pid, &p) < 0 || p == 0 || p > 0x7fffffff) {
            seterr(err, errlen, "%s: bad \"pid\"", where);
            return -1;
        }
        s->pid = (int64_t)p;
    }
    json_t *gc = json_object_get(o, "gc_ms");
    if (gc && json_is_number(gc)) {
        double d = json_number_value(gc);
        if (d >= 0 && d < 1e7) {
            s->gc_ms = d;
            have |= MEM_GC;
        }
    }
    if (json_is_true(json_object_get(o, "gc")))
        have |= MEM_GC;
    s->flags = have;
    return 0;
}

int memparse_json(const char *s, size_t n, struct mem_sample *out, unsigned max,
                  unsigned *count, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(s, n, 0, &jerr), *list = NULL;
    char where[64];
    int rc = -1;

    *count = 0;
    if (memchr(s, '\0', n)) {
        json_decref(root);
        seterr(err, errlen, "NUL byte in the input");
        return -1;
    }
    if (root == NULL) {
        seterr(err, errlen, "invalid JSON at line %d: %s", jerr.line, jerr.text);
        return -1;
    }
    if (max == 0) {
        seterr(err, errlen, "no room for samples");
        goto out;
    }
    if (json_is_array(root))
        list = root;
    else if (json_is_object(root) && json_is_array(json_object_get(root, "workers")))
        list = json_object_get(root, "workers");
    if (list) {
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v) {
            if (*count >= max) {
                seterr(err, errlen, "more than %u workers", max);
                goto out;
            }
            snprintf(where, sizeof where, "worker [%zu]", i);
            if (json_entry(v, &out[*count], err, errlen, where) < 0)
                goto out;
            (*count)++;
        }
        if (*count == 0) {
            seterr(err, errlen, "no workers in the list");
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (!json_is_object(root)) {
        seterr(err, errlen, "expected a JSON object or array");
        goto out;
    }
    if (json_object_get(root, "rss") || json_object_get(root, "heapUsed") ||
        json_object_get(root, "vmrss")) {
        rc = json_entry(root, &out[0], err, errlen, "reading");
        *count = rc == 0;
        goto out;
    }
    /* {"<worker>": {...}, ...} */
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (*count >= max) {
            seterr(err, errlen, "more than %u workers", max);
            goto out;
        }
        snprintf(where, sizeof where, "worker \"%.40s\"", key);
        if (json_entry(v, &out[*count], err, errlen, where) < 0)
            goto out;
        (*count)++;
    }
    if (*count == 0) {
        seterr(err, errlen, "no memory figures (rss, heapUsed) found");
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc == 0 && *count > 1) {
        /* workers without a pid still are distinct workers */
        for (unsigned i = 0; i < *count; i++)
            if (out[i].pid == 0)
                out[i].pid = -(int64_t)(i + 1);
    }
    return rc;
}

/* ---- Prometheus text format ---------------------------------------------- */

#define PROM_WORKER_MAX 64

struct prom_worker {
    char key[64];                     /* value of the worker label, "" if none */
    struct mem_sample s;
};

static int prom_label_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static int prom_name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Parses a sample value: a float, NaN, +Inf, -Inf. */
static int prom_value(const char **p, const char *end, double *out)
{
    char buf[64];
    const char *s = *p;
    size_t len = 0;
    while (s + len < end && s[len] != ' ' && s[len] != '\t' && s[len] != '\r')
        len++;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    const char *u = buf + (buf[0] == '+' || buf[0] == '-');
    if (strcasecmp(buf, "nan") == 0)
        *out = NAN;
    else if (strcasecmp(u, "inf") == 0 || strcasecmp(u, "infinity") == 0)
        *out = buf[0] == '-' ? -INFINITY : INFINITY;   /* Go's ParseFloat, any case */
    else {
        char *e;
        errno = 0;
        *out = strtod(buf, &e);
        if (*e != '\0' || (errno == ERANGE && fabs(*out) > 1.0))
            return -1;              /* overflow; underflow gives 0 or a denormal, as in Go */
        /* strtod takes "nan", "inf", hex: the format does not */
        for (size_t i = 0; i < len; i++)
            if (!strchr("0123456789.eE+-", buf[i]))
                return -1;
    }
    *p = s + len;
    return 0;
}

/* One quoted label value at <q> (just past the opening quote) into <val>
 * (truncated to its size, escapes \\ \" \n resolved); returns the position
 * after the closing quote, or NULL if malformed. */
static const char *prom_label_value(const char *q, const char *le, char *val, size_t size)
{
    size_t vlen = 0;
    for (;;) {
        if (q >= le)
            return NULL;
        char c = *q++;
        if (c == '"')
            break;
        if (c == '\\') {
            if (q >= le)
                return NULL;
            c = *q++;
            if (c == 'n')
                c = '\n';
            else if (c != '\\' && c != '"')
                return NULL;
        }
        if (vlen < size - 1)
            val[vlen++] = c;
    }
    val[vlen] = '\0';
    return q;
}

/* The label set at <q> (just past '{'): the value of label <wlabel> goes to
 * <wkey> (the last one if repeated). Returns the position after '}', or
 * NULL if malformed. */
static const char *prom_labels(const char *q, const char *le, const char *wlabel, char *wkey, size_t wsize)
{
    for (;;) {
        q = skip_ws(q, le);
        if (q < le && *q == '}')
            return q + 1;
        const char *ln = q;
        if (q >= le || !prom_label_char(*q, 1))
            return NULL;
        while (q < le && prom_label_char(*q, 0))
            q++;
        size_t lnlen = (size_t)(q - ln);
        q = skip_ws(q, le);
        if (q >= le || *q != '=')
            return NULL;
        q = skip_ws(q + 1, le);
        if (q >= le || *q != '"')
            return NULL;
        char val[64];
        if ((q = prom_label_value(q + 1, le, val, sizeof val)) == NULL)
            return NULL;
        if (lnlen == strlen(wlabel) && memcmp(ln, wlabel, lnlen) == 0)
            snprintf(wkey, wsize, "%s", val);
        q = skip_ws(q, le);
        if (q < le && *q == ',') {
            q++;
            continue;
        }
        if (q < le && *q == '}')
            return q + 1;
        return NULL;
    }
}

/* One sample line [q, le) (not blank, not a comment): the metric name
 * (<*name>, <*nlen>), the worker label's value in <wkey>, the value in <v>;
 * an optional timestamp is checked and ignored. -1 if malformed. */
static int prom_sample(const char *q, const char *le, const char *wlabel, const char **name, size_t *nlen,
                       char *wkey, size_t wsize, double *v)
{
    *name = q;
    if (!prom_name_char(*q, 1))
        return -1;
    while (q < le && prom_name_char(*q, 0))
        q++;
    *nlen = (size_t)(q - *name);
    if (q < le && *q == '{' && (q = prom_labels(q + 1, le, wlabel, wkey, wsize)) == NULL)
        return -1;
    if (q >= le || (*q != ' ' && *q != '\t'))
        return -1;
    q = skip_ws(q, le);
    if (prom_value(&q, le, v) < 0)
        return -1;
    q = skip_ws(q, le);
    if (q < le && *q != '\r') {        /* optional timestamp (ms) */
        if (*q == '-')
            q++;
        uint64_t ts;
        if (parse_u64(&q, le, &ts) < 0)
            return -1;
        q = skip_ws(q, le);
    }
    if (q < le && !(*q == '\r' && q + 1 == le))
        return -1;
    return 0;
}

/* What one memparse_prom() call gathers: the workers seen so far, and the
 * first value of a wanted metric that was no memory figure. */
struct prom_parse {
    const struct memparse_prom_names *names;
    struct prom_worker *w;            /* PROM_WORKER_MAX */
    unsigned nw, max, line;
    unsigned odd_line;                /* first value that is no figure, 0 if none */
    double odd_v;
};

/* The worker with label value <wkey>, added if new; -1 (with <err>) past
 * the cap. */
static int prom_worker_index(struct prom_parse *pp, const char *wkey, char *err, size_t errlen)
{
    struct prom_worker *w = pp->w;
    unsigned i;
    for (i = 0; i < pp->nw; i++)
        if (strcmp(w[i].key, wkey) == 0)
            return (int)i;
    if (pp->nw == PROM_WORKER_MAX || pp->nw == pp->max) {
        seterr(err, errlen, "line %u: more than %u workers", pp->line, pp->nw);
        return -1;
    }
    snprintf(w[i].key, sizeof w[i].key, "%s", wkey);
    char *e;
    long pid = strtol(wkey, &e, 10);
    w[i].s.pid = (*wkey && *e == '\0' && pid > 0 && pid <= 0x7fffffff) ? pid : 0;
    pp->nw++;
    return (int)i;
}

/* Stores sample <name> = <v> of worker <wkey> if it is a metric we read.
 * 0, or -1 (with <err>) on too many workers. */
static int prom_store(struct prom_parse *pp, const char *name, size_t nlen, const char *wkey, double v,
                      char *err, size_t errlen)
{
    static const struct { size_t off; unsigned flag; } dst[5] = {
        { offsetof(struct mem_sample, rss), MEM_HAS_RSS },
        { offsetof(struct mem_sample, heap_used), MEM_HAS_HEAP },
        { offsetof(struct mem_sample, heap_total), 0 },
        { offsetof(struct mem_sample, external), MEM_HAS_EXT },
        { offsetof(struct mem_sample, limit), MEM_HAS_LIMIT },
    };
    const struct memparse_prom_names *nm = pp->names;
    const char *want[5] = { nm->rss, nm->heap_used, nm->heap_total, nm->external, nm->heap_limit };

    for (int k = 0; k < 5; k++) {
        if (!want[k] || strlen(want[k]) != nlen || memcmp(want[k], name, nlen) != 0)
            continue;
        if (!(v >= 0) || v > (double)MEM_FIGURE_MAX) {
            /* NaN, Inf, negative, above 1 PiB: not a reading; said in the
             * message if nothing else is read */
            if (pp->odd_line == 0) {
                pp->odd_line = pp->line;
                pp->odd_v = v;
            }
            return 0;
        }
        int i = prom_worker_index(pp, wkey, err, errlen);
        if (i < 0)
            return -1;
        *(uint64_t *)((char *)&pp->w[i].s + dst[k].off) = (uint64_t)v;
        pp->w[i].s.flags |= dst[k].flag;
        return 0;
    }
    return 0;
}

/* The workers with a reading into <out>; -1 (with <err>) when none has. */
static int prom_collect(struct prom_parse *pp, struct mem_sample *out, unsigned *count, char *err,
                        size_t errlen)
{
    const struct memparse_prom_names *nm = pp->names;
    for (unsigned i = 0; i < pp->nw; i++) {
        struct mem_sample *ms = &pp->w[i].s;
        if (!(ms->flags & (MEM_HAS_RSS | MEM_HAS_HEAP)))
            continue;
        /* workers without a numeric pid label get a stable pseudo-id */
        if (ms->pid == 0 && pp->nw > 1)
            ms->pid = -(int64_t)(i + 1);
        out[(*count)++] = *ms;
    }
    if (*count == 0 && pp->odd_line) {
        seterr(err, errlen, "line %u: %g is not a memory figure (negative, NaN, infinite or above "
               "1 PiB), and no other reading of %s, %s", pp->odd_line, pp->odd_v,
               nm->rss ? nm->rss : "-", nm->heap_used ? nm->heap_used : "-");
        return -1;
    }
    if (*count == 0) {
        seterr(err, errlen, "none of the configured metrics (%s, %s) found",
               nm->rss ? nm->rss : "-", nm->heap_used ? nm->heap_used : "-");
        return -1;
    }
    return 0;
}

int memparse_prom(const char *s, size_t n, const struct memparse_prom_names *names,
                  struct mem_sample *out, unsigned max, unsigned *count,
                  char *err, size_t errlen)
{
    const char *p = s, *end = s + n;
    struct prom_parse pp = { .names = names, .max = max };
    const char *wlabel = names->worker_label ? names->worker_label : "pid";
    int rc = -1;

    *count = 0;
    if ((pp.w = calloc(PROM_WORKER_MAX, sizeof *pp.w)) == NULL) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    if (memchr(s, '\0', n)) {
        free(pp.w);
        seterr(err, errlen, "NUL byte in the input");
        return -1;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *q = skip_ws(p, le), *name;
        size_t nlen;
        char wkey[64] = "";
        double v;
        pp.line++;
        if (!(q == le || *q == '#' || (le - q == 1 && *q == '\r'))) {   /* blank, HELP, TYPE, comment */
            if (prom_sample(q, le, wlabel, &name, &nlen, wkey, sizeof wkey, &v) < 0) {
                seterr(err, errlen, "line %u: not valid Prometheus text: %.*s", pp.line,
                       (int)((le - p) > 60 ? 60 : (le - p)), p);
                goto out;
            }
            if (prom_store(&pp, name, nlen, wkey, v, err, errlen) < 0)
                goto out;
        }
        p = nl ? nl + 1 : end;
    }
    rc = prom_collect(&pp, out, count, err, errlen);
out:
    free(pp.w);
    return rc;
}

/* ---- the memory header --------------------------------------------------- */

int memparse_header(const char *s, size_t n, struct mem_sample *out, char *err, size_t errlen)
{
    const char *p = s, *end = s + n;
    int have_pid = 0;
    uint64_t gc = 0;

    memset(out, 0, sizeof *out);
    while (p < end) {
        p = skip_ws(p, end);
        const char *k = p;
        while (p < end && *p != '=' && *p != ';' && *p != ' ')
            p++;
        size_t klen = (size_t)(p - k);
        if (p >= end || *p != '=' || klen == 0)
            goto bad;
        p++;
#define K(lit) (klen == sizeof(lit) - 1 && memcmp(k, lit, klen) == 0)
        int known = K("pid") || K("rss") || K("heap_used") || K("heap_total") || K("external") ||
                    K("array_buffers") || K("floor") || K("gc_seq") || K("heap_limit") || K("gc");
        uint64_t v = 0;
        if (known) {
            if (parse_u64(&p, end, &v) < 0)
                goto bad;
            if (v > MEM_FIGURE_MAX && !K("gc_seq") && !K("pid") && !K("gc")) {
                seterr(err, errlen, "%.*s=%llu is above 1 PiB: not a memory figure", (int)klen, k,
                       (unsigned long long)v);
                return -1;
            }
        } else {
            /* a key of a newer module version: skip its value, whatever it is */
            while (p < end && *p != ';')
                p++;
        }
        p = skip_ws(p, end);
        if (p < end) {
            if (*p != ';')
                goto bad;
            p++;
        }
        if (K("pid")) {
            if (v == 0 || v > 0x7fffffff)
                goto bad;
            out->pid = (int64_t)v;
            have_pid = 1;
        } else if (K("rss")) {
            out->rss = v;
            out->flags |= MEM_HAS_RSS;
        } else if (K("heap_used")) {
            out->heap_used = v;
            out->flags |= MEM_HAS_HEAP;
        } else if (K("heap_total")) {
            out->heap_total = v;
        } else if (K("external")) {
            out->external = v;
            out->flags |= MEM_HAS_EXT;
        } else if (K("array_buffers")) {
            out->array_buffers = v;
        } else if (K("floor")) {
            out->floor = v;
            out->flags |= MEM_HAS_FLOOR;
        } else if (K("gc_seq")) {
            out->gc_seq = v;
        } else if (K("heap_limit")) {
            out->limit = v;
            out->flags |= MEM_HAS_LIMIT;
        } else if (K("gc")) {
            gc = v;
        }
#undef K
    }
    if (!have_pid || !(out->flags & (MEM_HAS_RSS | MEM_HAS_HEAP))) {
        seterr(err, errlen, "no pid, or neither rss nor heap_used");
        return -1;
    }
    if (gc)
        out->flags |= MEM_GC;
    return 0;
bad:
    seterr(err, errlen, "malformed at byte %zu", (size_t)(p - s));
    return -1;
}
