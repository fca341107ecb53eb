/* clp_buf.c: growable byte buffer for host-bound output. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
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

size_t clp_heka_number(char out[32], double d) {
    if (isnan(d)) return (size_t)snprintf(out, 32, "nan");
    if (isinf(d)) return (size_t)snprintf(out, 32, d > 0 ? "inf" : "-inf");
    if (d < INT_MIN || d > INT_MAX) return (size_t)snprintf(out, 32, "%0.17g", d);
    int negative = d < 0;
    double a = negative ? -d : d;
    long whole = (long)a;
    double scaled = (a - (double)whole) * 1e8;
    unsigned long frac = (unsigned long)scaled;
    double rest = scaled - (double)frac;
    if (rest > 0.5 || (rest == 0.5 && (frac == 0 || (frac & 1)))) {
        if (++frac >= 100000000UL) { frac = 0; whole++; }
    }
    int digits = 8;
    while (digits > 0 && frac % 10 == 0) { frac /= 10; digits--; }
    const char *sign = negative && (whole || frac) ? "-" : "";
    if (digits == 0) return (size_t)snprintf(out, 32, "%s%ld", sign, whole);
    return (size_t)snprintf(out, 32, "%s%ld.%0*lu", sign, whole, digits, frac);
}
