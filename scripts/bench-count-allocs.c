/*
 * LD_PRELOAD shim for scripts/bench: counts the calls to malloc, calloc, realloc,
 * posix_memalign, aligned_alloc and memalign a process makes and writes the total to
 * the file named by ALLOC_COUNT_FILE when it exits.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_ulong calls;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

/* dlsym may itself calloc before real_calloc is known: served from here. */
static char bootstrap[4096];
static size_t bootstrap_used;

static void resolve(void)
{
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
}

void *malloc(size_t n)
{
    if (!real_malloc) resolve();
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    if (!real_calloc) {
        size_t n = (a * b + 15) & ~(size_t)15;
        if (bootstrap_used + n <= sizeof bootstrap) {
            void *p = bootstrap + bootstrap_used;
            bootstrap_used += n;
            return p;
        }
        resolve();
    }
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    if (!real_realloc) resolve();
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return real_realloc(p, n);
}

void free(void *p)
{
    static void (*real_free)(void *);
    if ((char *)p >= bootstrap && (char *)p < bootstrap + sizeof bootstrap) return;
    if (!real_free) real_free = dlsym(RTLD_NEXT, "free");
    real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (!real_posix_memalign) resolve();
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    if (!real_aligned_alloc) resolve();
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return real_aligned_alloc(align, n);
}

void *memalign(size_t align, size_t n)
{
    if (!real_memalign) resolve();
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return real_memalign(align, n);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("ALLOC_COUNT_FILE");
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%lu\n", (unsigned long)atomic_load(&calls));
    fclose(f);
}
