/* heka_type_key.c: see heka_type_key.h. Watched Types sit in 128 buckets by hash; a
 * bucket is an immutable list, replaced whole (release) when a Type joins it and read
 * without a lock (acquire). A replaced list is kept, never freed (a reader may still be
 * looking at it): at most 128 Types are ever watched, so at most 128 lists are made. */
#include "heka_type_key.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t key;
    uint8_t len;
    char bytes[255];
} watched_type;

typedef struct {
    size_t count;
    const watched_type *types[];
} bucket;

static _Atomic(const bucket *) buckets[128];
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned next_key = 128;
static const bucket *replaced[128]; /* under watch_lock */
static size_t replaced_count;

uint8_t heka_type_hash(const void *type, size_t len) {
    /* Eight bytes at a time (Types are short: a few words), each word mixed by a
     * multiply, then folded to 7 bits. */
    const unsigned char *p = type;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, p + i, len - i);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    }
    h ^= h >> 32;
    h ^= h >> 16;
    h ^= h >> 8;
    return (uint8_t)(h & 0x7F);
}

static const watched_type *find(const bucket *b, const void *type, size_t len) {
    if (!b) return NULL;
    for (size_t i = 0; i < b->count; i++) {
        const watched_type *w = b->types[i];
        if (w->len == len && memcmp(w->bytes, type, len) == 0) return w;
    }
    return NULL;
}

uint8_t heka_type_key(const void *type, size_t len) {
    uint8_t h = heka_type_hash(type, len);
    const bucket *b = atomic_load_explicit(&buckets[h], memory_order_acquire);
    const watched_type *w = find(b, type, len);
    return w ? w->key : h;
}

uint8_t heka_type_watch(const void *type, size_t len) {
    if (len > 255) return 0;
    uint8_t h = heka_type_hash(type, len);
    pthread_mutex_lock(&watch_lock);
    const bucket *old = atomic_load_explicit(&buckets[h], memory_order_relaxed);
    const watched_type *w = find(old, type, len);
    uint8_t key = 0;
    if (w) {
        key = w->key;
    } else if (next_key <= 255) {
        size_t n = old ? old->count : 0;
        watched_type *t = malloc(sizeof *t);
        bucket *b = malloc(sizeof *b + (n + 1) * sizeof b->types[0]);
        if (t && b) {
            t->key = (uint8_t)next_key++;
            t->len = (uint8_t)len;
            memcpy(t->bytes, type, len);
            for (size_t i = 0; i < n; i++) b->types[i] = old->types[i];
            b->types[n] = t;
            b->count = n + 1;
            if (old) replaced[replaced_count++] = old;
            atomic_store_explicit(&buckets[h], b, memory_order_release);
            key = t->key;
        } else {
            free(t);
            free(b);
        }
    }
    pthread_mutex_unlock(&watch_lock);
    return key;
}
