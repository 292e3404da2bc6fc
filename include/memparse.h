/* memparse.h -- what every memory source is called, below the sampler.
 *
 * The names of enum memsrc_kind (config.h) as the API, the logs and the
 * engine's advice print them: "none", "proc", "cgroup", "http",
 * "prometheus", "header". They live here, in the parsers' module, so that
 * modules memsrc.c itself depends on (attrib.c) can name a source without
 * depending on the sampler. The parsers are declared in memsrc.h. */
#ifndef LEAKPROXY_MEMPARSE_H
#define LEAKPROXY_MEMPARSE_H

/* The name of source kind <kind>, "?" for a value outside the enum. */
const char *memparse_kind_name(int kind);
#endif
