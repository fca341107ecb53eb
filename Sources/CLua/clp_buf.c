/* clp_buf.c: growable byte buffer for host-bound output. */
#include <stdlib.h>
#include <string.h>
#include "clp_buf.h"

int clp_buf_reserve(clp_buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

void clp_buf_free(clp_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
