/* clp_encode_wire.h: owns the protobuf writing primitives the encoder's files share:
 * appends to a clp_buf that raise "out of memory" in the API function's name. Inline:
 * they run for every header and field. */
#ifndef CLP_ENCODE_WIRE_H
#define CLP_ENCODE_WIRE_H

#include <stdint.h>
#include <string.h>
#include "clp_state.h"
#include "heka_wire.h"

static inline void oom(lua_State *L) {
    luaL_error(L, "%s out of memory", clp_get(L)->encode_fname);
}

static inline void reserve(lua_State *L, clp_buf *b, size_t n) {
    if (b->len + n > b->cap && clp_buf_reserve(b, n)) oom(L);
}

/* Writes v as a varint at p (room for 10 bytes); returns where it ends. */
static inline unsigned char *wr_varint(unsigned char *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

/* Copies n bytes (w <= n <= 2w) as two overlapping moves of w bytes, the first and the
 * last; w is a constant where it is inlined, so the moves are single loads and stores. */
static inline void copy_ends(unsigned char *d, const char *s, size_t n, size_t w) {
    unsigned char a[8], b[8];
    memcpy(a, s, w);
    memcpy(b, s + n - w, w);
    memcpy(d, a, w);
    memcpy(d + n - w, b, w);
}

/* Copies n bytes to d: a field's name or a short value without a call into libc, a
 * longer one with memcpy. */
static inline void copy_short(unsigned char *d, const char *s, size_t n) {
    if (n > 16) memcpy(d, s, n);
    else if (n >= 8) copy_ends(d, s, n, 8);
    else if (n >= 4) copy_ends(d, s, n, 4);
    else for (size_t i = 0; i < n; i++) d[i] = (unsigned char)s[i];
}

/* Appends a varint; the caller reserved 10 bytes. */
static inline void raw_varint(clp_buf *b, uint64_t v) {
    unsigned char *p = wr_varint((unsigned char *)b->data + b->len, v);
    b->len = (size_t)(p - (unsigned char *)b->data);
}

static inline void put_varint(lua_State *L, clp_buf *b, uint64_t v) {
    reserve(L, b, 10);
    raw_varint(b, v);
}

static inline void put_tag(lua_State *L, clp_buf *b, int field, int wire) {
    reserve(L, b, 1);
    b->data[b->len++] = (char)HEKA_TAG(field, wire);
}

/* A length-delimited field; the caller reserved n + 11 bytes. */
static inline void raw_bytes(clp_buf *b, int field, const char *s, size_t n) {
    b->data[b->len++] = (char)HEKA_TAG(field, HEKA_WIRE_BYTES);
    raw_varint(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static inline void put_bytes(lua_State *L, clp_buf *b, int field, const char *s, size_t n) {
    reserve(L, b, n + 11);
    raw_bytes(b, field, s, n);
}

/* Reads the varint at p into *v; returns its size in bytes. For bytes this file wrote. */
static inline size_t read_varint(const unsigned char *p, uint64_t *v) {
    uint64_t n = 0;
    size_t k = 0;
    for (; p[k] & 0x80; k++) n |= (uint64_t)(p[k] & 0x7F) << (7 * k);
    n |= (uint64_t)p[k] << (7 * k);
    *v = n;
    return k + 1;
}

/* Where the bytes of a length-delimited value written at `at` (one-byte tag, length,
 * bytes) are; len -1 when nothing was written there. */
static inline clp_span span_at(const clp_buf *b, size_t at) {
    if (b->len <= at) return (clp_span){0, -1};
    uint64_t n;
    size_t k = read_varint((const unsigned char *)b->data + at + 1, &n);
    return (clp_span){(long)(at + 1 + k), (long)n};
}

static inline int64_t to_int64(lua_State *L, int idx) {
    if (lua_isinteger(L, idx)) return (int64_t)lua_tointeger(L, idx);
    lua_Number d = lua_tonumber(L, idx);
    if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)) return 0;
    return (int64_t)d;
}

#endif
