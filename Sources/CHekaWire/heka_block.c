/* heka_block.c: blocks that go back to the thread that made them (see heka_block.h).
 *
 * Each thread that allocates gets a heap: per size class, a list of spare blocks only it
 * touches and a list other threads push freed blocks on (a lock-free stack: any thread
 * pushes, only the owner takes, and it takes the whole list with one exchange, so a
 * block is never popped while another thread reads it). A heap outlives its thread: at
 * the thread's exit it goes to an idle list, and the next new thread adopts it, with
 * whatever was freed to it meanwhile. */
#include "heka_block.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

enum { CLASSES = 6, SMALLEST_SHIFT = 8, SPARE_BYTES = 1024 * 1024 };

struct spare {
    struct spare *next;
};

struct heap {
    _Atomic(struct spare *) returned[CLASSES]; /* freed by other threads */
    _Atomic size_t returned_count[CLASSES];    /* about how many: see take_returned */
    struct spare *spare[CLASSES];              /* ready, this thread's alone */
    size_t count[CLASSES];
    struct heap *idle_next;
};

/* Before each block: its heap (NULL: plain malloc) and class; 16 bytes, so the block
 * keeps malloc's alignment. */
struct header {
    struct heap *heap;
    size_t cls;
};

static __thread struct heap *mine;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct heap *idle;

static size_t class_size(size_t c) { return (size_t)1 << (SMALLEST_SHIFT + c); }

/* Spare blocks a heap keeps per class; beyond, they go back to malloc. */
static size_t class_limit(size_t c) { return SPARE_BYTES >> (SMALLEST_SHIFT + c); }

static int class_of(size_t size) {
    for (int c = 0; c < CLASSES; c++)
        if (size <= class_size((size_t)c)) return c;
    return -1;
}

static void free_list(struct spare *s) {
    while (s) {
        struct spare *next = s->next;
        free((struct header *)s - 1);
        s = next;
    }
}

/* The thread ends: its spares go back to malloc, its heap to the idle list. */
static void release(void *arg) {
    struct heap *h = arg;
    for (size_t c = 0; c < CLASSES; c++) {
        free_list(h->spare[c]);
        free_list(atomic_exchange_explicit(&h->returned[c], NULL, memory_order_acquire));
        atomic_store_explicit(&h->returned_count[c], 0, memory_order_relaxed);
        h->spare[c] = NULL;
        h->count[c] = 0;
    }
    mine = NULL;
    pthread_mutex_lock(&idle_lock);
    h->idle_next = idle;
    idle = h;
    pthread_mutex_unlock(&idle_lock);
}

static void make_exit_key(void) { (void)pthread_key_create(&exit_key, release); }

static struct heap *attach(void) {
    pthread_once(&exit_key_once, make_exit_key);
    pthread_mutex_lock(&idle_lock);
    struct heap *h = idle;
    if (h) idle = h->idle_next;
    pthread_mutex_unlock(&idle_lock);
    if (!h && !(h = calloc(1, sizeof *h))) return NULL;
    if (pthread_setspecific(exit_key, h) != 0) {
        /* Without the exit hook the heap would be lost with the thread: keep it idle. */
        release(h);
        return NULL;
    }
    return mine = h;
}

/* What other threads gave back becomes spare; above the limit, it goes to malloc. The
 * list's length comes from a counter, not from walking it (the blocks were freed on
 * other processors: a walk would fetch each one's memory long before it is used). A
 * block pushed between the two exchanges is counted with the next list, so the count
 * can be off by a few, never for long, and the list's end is checked. */
static struct spare *take_returned(struct heap *h, size_t c) {
    struct spare *s = atomic_exchange_explicit(&h->returned[c], NULL, memory_order_acquire);
    size_t n = atomic_exchange_explicit(&h->returned_count[c], 0, memory_order_relaxed);
    for (; s && n > class_limit(c); n--) {
        struct spare *next = s->next;
        free((struct header *)s - 1);
        s = next;
    }
    h->spare[c] = s;
    h->count[c] = n;
    return s;
}

/* A new block from malloc, of heap h's class c (h NULL: a plain block, freed to malloc). */
static void *fresh(struct heap *h, size_t c, size_t size) {
    struct header *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    b->heap = h;
    b->cls = c;
    return b + 1;
}

void *heka_block_alloc(size_t size) {
    int k = class_of(size);
    if (k < 0) return fresh(NULL, 0, size);
    size_t c = (size_t)k;
    struct heap *h = mine ? mine : attach();
    if (!h) return fresh(NULL, 0, size);
    struct spare *s = h->spare[c];
    if (!s) s = take_returned(h, c);
    if (s) {
        h->spare[c] = s->next;
        if (h->count[c]) h->count[c]--; /* a taken list's count may be short by a few */
        return s;
    }
    return fresh(h, c, class_size(c));
}

void heka_block_free(void *block) {
    if (!block) return;
    struct header *b = (struct header *)block - 1;
    struct heap *h = b->heap;
    if (!h) {
        free(b);
        return;
    }
    size_t c = b->cls;
    struct spare *s = block;
    if (h == mine) {
        if (h->count[c] >= class_limit(c)) {
            free(b);
            return;
        }
        s->next = h->spare[c];
        h->spare[c] = s;
        h->count[c]++;
        return;
    }
    struct spare *top = atomic_load_explicit(&h->returned[c], memory_order_relaxed);
    do s->next = top;
    while (!atomic_compare_exchange_weak_explicit(&h->returned[c], &top, s, memory_order_release,
                                                  memory_order_relaxed));
    atomic_fetch_add_explicit(&h->returned_count[c], 1, memory_order_relaxed);
}

void heka_block_tune_malloc(void) { (void)mallopt(M_MXFAST, 160); }
