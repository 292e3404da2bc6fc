/* regress.c -- runs a fuzz target's LLVMFuzzerTestOneInput once on every
 * file given (directories are walked, one level), without libFuzzer, so the
 * seed corpora run as regression tests in `make test` in seconds (Envoy's
 * approach). Link it with one fuzz_<target>.c and the sources it needs.
 *
 *   regress FILE_OR_DIR...
 *
 * Prints "fuzz corpus regression: N files, OK" and exits 0; a crash,
 * sanitizer report or broken FUZZ_CHECK kills the process (non-zero exit)
 * after naming the input it was running. Exits 2 if nothing was run. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static char current[4096];

static void say_current(void)
{
    static const char pre[] = "fuzz corpus regression: FAILED on ";
    if (write(2, pre, sizeof pre - 1) < 0 || write(2, current, strlen(current)) < 0 ||
        write(2, "\n", 1) < 0)
        return;
}

static void on_signal(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "regress: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *b = realloc(buf, cap *= 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
            } else {
                buf = b;
            }
        }
    }
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "regress: out of memory reading %s\n", path);
        return -1;
    }
    /* an exact-size copy, as libFuzzer hands it over, so over-reads show */
    uint8_t *exact = malloc(n ? n : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    snprintf(current, sizeof current, "%s", path);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    long files = 0;
    int bad = 0;

    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(say_current);
    signal(SIGSEGV, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGILL, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGBUS, on_signal);
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) < 0) {
            fprintf(stderr, "regress: %s: no such file or directory\n", argv[a]);
            bad = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[a]) < 0)
                bad = 1;
            else
                files++;
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (d == NULL) {
            bad = 1;
            continue;
        }
        char **names = NULL;
        size_t nn = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            if (nn == cap) {
                char **p = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *p);
                if (p == NULL)
                    abort();
                names = p;
            }
            size_t l = strlen(argv[a]) + strlen(e->d_name) + 2;
            if ((names[nn] = malloc(l)) == NULL)
                abort();
            snprintf(names[nn++], l, "%s/%s", argv[a], e->d_name);
        }
        closedir(d);
        qsort(names, nn, sizeof *names, cmp);       /* a stable order */
        for (size_t i = 0; i < nn; i++) {
            if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(names[i]) < 0)
                    bad = 1;
                else
                    files++;
            }
            free(names[i]);
        }
        free(names);
    }
    if (bad)
        return 1;
    if (files == 0) {
        fprintf(stderr, "fuzz corpus regression: no input files\n");
        return 2;
    }
    printf("fuzz corpus regression: %ld files, OK\n", files);
    return 0;
}
