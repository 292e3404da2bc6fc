/* fuzz_config.c -- config_parse() on arbitrary text, then config_free().
 *
 * The whole input is the configuration file. On failure the error must be
 * a terminated string with a path and a text, and format cleanly.
 *
 * Addresses in a config are resolved with getaddrinfo(); a fuzzer must not
 * send DNS queries for the random host names it invents (slow, and noise on
 * the network), so this file interposes getaddrinfo() to resolve numeric
 * addresses and "localhost" only (from /etc/hosts); every other name fails
 * as an unknown host would. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>

#include "fuzz.h"
#include "config.h"

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static gai_fn real;
    struct addrinfo h;
    if (real == NULL && (real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo")) == NULL)
        return EAI_FAIL;
    memset(&h, 0, sizeof h);
    if (hints)
        h = *hints;
    if (node && strcmp(node, "localhost") != 0)
        h.ai_flags |= AI_NUMERICHOST;
    return real(node, service, &h, res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config_err err;
    struct config *c = config_parse((const char *)data, size, "fuzz", &err);
    if (c == NULL) {
        char buf[512];
        FUZZ_CHECK(memchr(err.path, '\0', sizeof err.path) != NULL);
        FUZZ_CHECK(memchr(err.text, '\0', sizeof err.text) != NULL);
        FUZZ_CHECK(err.text[0] != '\0');
        FUZZ_CHECK(err.line >= 0 && err.column >= 0);
        config_err_format("fuzz.json", &err, buf, sizeof buf);
        FUZZ_CHECK(memchr(buf, '\0', sizeof buf) != NULL);
        return 0;
    }
    FUZZ_CHECK(c->routes != NULL);
    config_free(c);
    return 0;
}
