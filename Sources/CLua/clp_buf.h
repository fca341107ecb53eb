/* clp_buf.h: owns clp_buf, the growable malloc'd byte buffer for host-bound output. */
#ifndef CLP_BUF_H
#define CLP_BUF_H

#include <stddef.h>
#include <string.h>

/* On malloc, outside the Lua allocator: it holds host-bound output, bounded by the
 * output limit instead. */
typedef struct {
    char *data;
    size_t len, cap;
} clp_buf;

int clp_buf_reserve(clp_buf *b, size_t extra);

/* Inline: the encoder appends many small pieces. */
static inline int clp_buf_add(clp_buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap && clp_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}
void clp_buf_free(clp_buf *b);

/* A float as Heka's sandbox wrote numbers into payloads and circular-buffer text: up to
 * eight decimals (round half to even), trailing zeros dropped, "%0.17g" beyond the
 * 32-bit integer range, nan/inf/-inf. Writes at most 31 bytes and a NUL; returns the
 * length. */
size_t clp_heka_number(char out[32], double d);

#endif
