/* fmt.h -- byte figures for people: the one formatter, so that a reason, a
 * guard event and the report print the same number the same way.
 *
 *   |v| < 1 KiB   "512 B"
 *   < 1 MiB       "9.9 KB"      (KB = 1024 bytes, one decimal)
 *   < 1 GiB       "187.3 MB"
 *   otherwise     "1.25 GB"     (two decimals: heaps are a few GB)
 *
 * Signed: a shrinking figure keeps its minus sign. Machine-readable output
 * (JSON, /metrics) always carries plain bytes, never this. */
#ifndef LEAKPROXY_FMT_H
#define LEAKPROXY_FMT_H
#include <stddef.h>

#define FMT_BYTES_MAX 24              /* enough for any double this prints */

/* Writes <v> bytes into <buf> (<len> bytes, NUL-terminated); returns buf. */
char *fmt_bytes(char *buf, size_t len, double v);
#endif
