/* fuzz_route.c -- route_table_new() on fixed plus input-derived patterns,
 * then route_match() on input-derived paths.
 *
 * Input: lines. Byte 0 (mod 9) says how many of the first lines are extra
 * patterns; every other line is a path to match (a '?' and what follows is
 * dropped, as the proxy does). If the table with the extra patterns is
 * rejected, the fixed table alone is used, so paths are always matched.
 * Invariants: a match is a valid id with a name and a pattern; a pattern
 * without ':' or '*' matches itself (a literal beats every other kind), and
 * matching the same path twice gives the same id. */
#include "fuzz.h"
#include "config_err.h"
#include "route.h"

#define NFIXED 8
#define NEXTRA 8

static const char *const fixed_pat[NFIXED] = {
    "/", "/about", "/detail/:id", "/detail/new", "/detail/:id/edit",
    "/static/*", "/u/:user/posts/:post", "/api/v1/*",
};

static int literal(const char *p)
{
    return strchr(p, ':') == NULL && strchr(p, '*') == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = fuzz_dup(data + 1, size - 1);
    size_t len = size - 1;
    unsigned want = data[0] % (NEXTRA + 1);
    const char *names[NFIXED + NEXTRA], *pats[NFIXED + NEXTRA];
    char namebuf[NFIXED + NEXTRA][16];
    char *extra[NEXTRA];
    unsigned nextra = 0;
    size_t pos = 0;

    for (unsigned i = 0; i < NFIXED + NEXTRA; i++) {
        snprintf(namebuf[i], sizeof namebuf[i], "r%u", i);
        names[i] = namebuf[i];
        if (i < NFIXED)
            pats[i] = fixed_pat[i];
    }
    /* the first <want> lines are patterns (NUL-terminated copies) */
    while (nextra < want && pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
        extra[nextra] = malloc(l + 1);
        FUZZ_CHECK(extra[nextra] != NULL);
        memcpy(extra[nextra], text + pos, l);
        extra[nextra][l] = '\0';
        pats[NFIXED + nextra] = extra[nextra];
        nextra++;
        pos += l + (nl != NULL);
    }

    struct config_err err;
    memset(&err, 0, sizeof err);
    struct route_table *t = route_table_new(names, pats, NFIXED + nextra, &err);
    unsigned n = NFIXED + nextra;
    if (t == NULL) {
        FUZZ_CHECK(nextra > 0);             /* the fixed table alone is valid */
        FUZZ_CHECK(memchr(err.text, '\0', sizeof err.text) != NULL);
        FUZZ_CHECK(err.text[0] != '\0');
        t = route_table_new(names, pats, NFIXED, &err);
        FUZZ_CHECK(t != NULL);
        n = NFIXED;
    }
    FUZZ_CHECK(route_count(t) == n + 1);
    for (unsigned i = 0; i < n; i++) {
        FUZZ_CHECK(strcmp(route_name(t, i + 1), names[i]) == 0);
        FUZZ_CHECK(strcmp(route_pattern(t, i + 1), pats[i]) == 0);
        FUZZ_CHECK(route_find(t, names[i]) == (int)(i + 1));
        if (literal(pats[i])) {
            unsigned id = route_match(t, pats[i], strlen(pats[i]));
            if (id != i + 1) {
                fprintf(stderr, "literal pattern \"%s\" (route %u) matched route %u (\"%s\")\n",
                        pats[i], i + 1, id, route_pattern(t, id));
                FUZZ_CHECK(id == i + 1);
            }
        }
    }
    /* the remaining lines are paths, each matched in an exact-size copy */
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *q = memchr(text + pos, '?', l);
        size_t plen = q ? (size_t)(q - (text + pos)) : l;
        char *path = fuzz_dup(text + pos, plen);
        unsigned id = route_match(t, path, plen);
        FUZZ_CHECK(id < route_count(t));
        FUZZ_CHECK(route_name(t, id) != NULL);
        FUZZ_CHECK(route_pattern(t, id) != NULL);
        FUZZ_CHECK(route_match(t, path, plen) == id);
        free(path);
        pos += l + (nl != NULL);
    }
    /* and the whole remainder as one path */
    (void)route_match(t, text, len);
    route_table_free(t);
    for (unsigned i = 0; i < nextra; i++)
        free(extra[i]);
    free(text);
    return 0;
}
