/* malloc_count.c -- LD_PRELOAD shim counting malloc/calloc/realloc/free
 * calls of one process into a small file (MALLOC_COUNT_FILE), which the
 * profiler reads before and after a load run. Used by bench/profile.sh only.
 *
 * Build: gcc -O2 -shared -fPIC -o malloc_count.so malloc_count.c
 * The file holds four native uint64_t: malloc, calloc, realloc, free
 * (posix_memalign/aligned_alloc/memalign count as malloc). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static uint64_t dummy[4];
static volatile uint64_t *cnt = dummy;

__attribute__((constructor)) static void mc_init(void)
{
    const char *f = getenv("MALLOC_COUNT_FILE");
    if (f == NULL)
        return;
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 4096) < 0)
        return;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p != MAP_FAILED)
        cnt = p;
}

#define INC(i) __atomic_fetch_add(&cnt[i], 1, __ATOMIC_RELAXED)

void *malloc(size_t n) { INC(0); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { INC(1); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { INC(2); return __libc_realloc(p, n); }
void free(void *p) { if (p) INC(3); __libc_free(p); }
void *memalign(size_t a, size_t n) { INC(0); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { INC(0); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n)
{
    INC(0);
    void *p = __libc_memalign(a, n);
    if (p == NULL)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}
