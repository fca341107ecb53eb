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

/* Appends a varint; the caller reserved 10 bytes. */
static inline void raw_varint(clp_buf *b, uint64_t v) {
    unsigned char *p = (unsigned char *)b->data + b->len;
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
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

static inline void put_bytes(lua_State *L, clp_buf *b, int field, const char *s, size_t n) {
    reserve(L, b, n + 11);
    b->data[b->len++] = (char)HEKA_TAG(field, HEKA_WIRE_BYTES);
    raw_varint(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static inline int64_t to_int64(lua_State *L, int idx) {
    if (lua_isinteger(L, idx)) return (int64_t)lua_tointeger(L, idx);
    lua_Number d = lua_tonumber(L, idx);
    if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)) return 0;
    return (int64_t)d;
}

#endif
