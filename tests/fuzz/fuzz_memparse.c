/* fuzz_memparse.c -- the six memory-source parsers of memsrc.h.
 *
 * Byte 0 selects the parser (low 3 bits, mod 6: proc status, u64 file,
 * cgroup memory.stat, JSON, Prometheus, header) and, in its high bits, the
 * sample array size (1..4) and, for Prometheus, the worker label ("pid" or
 * "worker"). The rest of the input is the parser's input. The sample array
 * is allocated at exactly its size, so writing past <max> is caught.
 * Invariants: 0 or -1 only; on success 1..max samples, each with RSS or
 * heap and known flags only, no figure above MEM_FIGURE_MAX; on -1 a non-empty, terminated message that is
 * valid UTF-8 (it quotes the input, and /api/memory serves it as JSON). */
#include "fuzz.h"
#include "memsrc.h"
#include "utf8.h"

#include <string.h>

#define KNOWN_FLAGS (MEM_HAS_RSS | MEM_HAS_HEAP | MEM_HAS_EXT | MEM_GC | MEM_HAS_FLOOR | \
                     MEM_HAS_LIMIT | MEM_HAS_SPLIT)

static void check_samples(const struct mem_sample *s, unsigned count, unsigned max)
{
    FUZZ_CHECK(count >= 1 && count <= max);
    for (unsigned i = 0; i < count; i++) {
        FUZZ_CHECK((s[i].flags & ~KNOWN_FLAGS) == 0);
        FUZZ_CHECK(s[i].flags & (MEM_HAS_RSS | MEM_HAS_HEAP));
        FUZZ_CHECK(s[i].pid >= -(int64_t)max && s[i].pid <= 0x7fffffff);
        FUZZ_CHECK(s[i].rss <= MEM_FIGURE_MAX && s[i].heap_used <= MEM_FIGURE_MAX &&
                   s[i].heap_total <= MEM_FIGURE_MAX && s[i].external <= MEM_FIGURE_MAX &&
                   s[i].array_buffers <= MEM_FIGURE_MAX && s[i].floor <= MEM_FIGURE_MAX &&
                   s[i].limit <= MEM_FIGURE_MAX);
    }
}

static void check_err(int rc, const char *err)
{
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(memchr(err, '\0', MEM_ERR_MAX) != NULL);
    if (rc < 0) {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(utf8_valid(err, strlen(err)));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0] & 7, max = 1 + ((data[0] >> 3) & 3);
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    char err[MEM_ERR_MAX];
    struct mem_sample *out = calloc(max, sizeof *out);
    unsigned count = 0;
    int rc;

    FUZZ_CHECK(out != NULL);
    memset(err, 0, sizeof err);
    switch (sel % 6) {
    case 0:
        rc = memparse_proc_status(s, n, out, err, sizeof err);
        check_err(rc, err);
        if (rc == 0)
            FUZZ_CHECK(out->flags & MEM_HAS_RSS);
        break;
    case 1: {
        uint64_t v;
        rc = memparse_u64_file(s, n, &v);
        FUZZ_CHECK(rc == 0 || rc == -1);
        break;
    }
    case 2: {
        uint64_t anon, file;
        rc = memparse_cgroup_stat(s, n, &anon, &file);
        FUZZ_CHECK(rc == 0 || rc == -1);
        break;
    }
    case 3:
        rc = memparse_json(s, n, out, max, &count, err, sizeof err);
        check_err(rc, err);
        if (rc == 0)
            check_samples(out, count, max);
        break;
    case 4: {
        struct memparse_prom_names names = {
            .rss = "process_resident_memory_bytes",
            .heap_used = "nodejs_heap_size_used_bytes",
            .heap_total = "nodejs_heap_size_total_bytes",
            .external = "nodejs_external_memory_bytes",
            .heap_limit = "v8_heap_limit_bytes",
            .worker_label = (data[0] & 0x20) ? "worker" : NULL,
        };
        rc = memparse_prom(s, n, &names, out, max, &count, err, sizeof err);
        check_err(rc, err);
        if (rc == 0)
            check_samples(out, count, max);
        break;
    }
    default:
        rc = memparse_header(s, n, out, err, sizeof err);
        check_err(rc, err);
        if (rc == 0) {
            FUZZ_CHECK(out->pid > 0 && out->pid <= 0x7fffffff);
            check_samples(out, 1, max);
        }
        break;
    }
    free(out);
    return 0;
}
