/* clp_encode.c: a Heka message table (Lua) -> Heka protobuf bytes, written straight
 * from the table into a C buffer (no intermediate tree).
 *
 * Same conventions as the Swift encoder: fields in field-number order, value_type
 * written only when not STRING, packed numeric arrays. Hash-form Fields are written in
 * name order, so output does not depend on Lua's (randomised) table order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "clp_internal.h"

static void oom(lua_State *L) {
    luaL_error(L, "inject_message() out of memory");
}

static void put_varint(lua_State *L, clp_buf *b, uint64_t v) {
    unsigned char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    if (clp_buf_add(b, tmp, n)) oom(L);
}

static void put_tag(lua_State *L, clp_buf *b, int field, int wire) {
    put_varint(L, b, (uint64_t)(field << 3 | wire));
}

static void put_bytes(lua_State *L, clp_buf *b, int field, const char *s, size_t n) {
    put_tag(L, b, field, 2);
    put_varint(L, b, n);
    if (clp_buf_add(b, s, n)) oom(L);
}

static void put_value(lua_State *L, clp_buf *b, int field, const clp_value *v) {
    if (v->type == CLP_V_STRING) put_bytes(L, b, field, v->s, v->len);
    else if (v->type == CLP_V_INTEGER) {
        put_tag(L, b, field, 0);
        put_varint(L, b, (uint64_t)v->i);
    }
}

static int rawfield(lua_State *L, int idx, const char *k) {
    lua_pushstring(L, k);
    return lua_rawget(L, idx);
}

/* A string header: the table's value (strings; numbers are converted), else the default. */
static void string_header(lua_State *L, clp_buf *b, int idx, const char *key, int field, const clp_value *def,
                          const char *prefix, size_t plen) {
    int t = rawfield(L, idx, key);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        if (plen) {
            put_tag(L, b, field, 2);
            put_varint(L, b, plen + n);
            if (clp_buf_add(b, prefix, plen) || clp_buf_add(b, s, n)) oom(L);
        } else {
            put_bytes(L, b, field, s, n);
        }
    } else if (t != LUA_TNIL) {
        luaL_error(L, "inject_message() %s must be a string, got %s", key, lua_typename(L, t));
    } else if (plen) {
        put_bytes(L, b, field, prefix, plen); /* filters: "heka.sandbox." even without a Type */
    } else {
        put_value(L, b, field, def);
    }
    lua_pop(L, 1);
}

static int64_t to_int64(lua_State *L, int idx) {
    if (lua_isinteger(L, idx)) return (int64_t)lua_tointeger(L, idx);
    lua_Number d = lua_tonumber(L, idx);
    if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)) return 0;
    return (int64_t)d;
}

static void int_header(lua_State *L, clp_buf *b, int idx, const char *key, int field, const clp_value *def) {
    int t = rawfield(L, idx, key);
    if (t == LUA_TNUMBER) {
        int64_t v = to_int64(L, -1);
        if (field != 2) v = (int32_t)v; /* Severity and Pid are int32 */
        put_tag(L, b, field, 0);
        put_varint(L, b, (uint64_t)v);
    } else if (t != LUA_TNIL) {
        luaL_error(L, "inject_message() %s must be a number, got %s", key, lua_typename(L, t));
    } else {
        put_value(L, b, field, def);
    }
    lua_pop(L, 1);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void uuid_header(lua_State *L, clp_buf *b, int idx, const clp_defaults *d) {
    unsigned char u[16];
    int t = rawfield(L, idx, "Uuid");
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        if (n == 16) {
            memcpy(u, s, 16);
        } else {
            int k = 0;
            for (size_t i = 0; i < n && k < 32; i++) {
                if (s[i] == '-') continue;
                int h = hexval(s[i]);
                if (h < 0) break;
                if (k % 2 == 0) u[k / 2] = (unsigned char)(h << 4);
                else u[k / 2] |= (unsigned char)h;
                k++;
            }
            if (k != 32 || (n != 32 && n != 36)) luaL_error(L, "inject_message() Uuid must be 16 bytes or 36 characters");
        }
    } else if (t != LUA_TNIL) {
        luaL_error(L, "inject_message() Uuid must be a string");
    } else {
        memcpy(u, d->uuid, 16);
    }
    lua_pop(L, 1);
    put_bytes(L, b, 1, (const char *)u, 16);
}

enum { VT_STRING = 0, VT_BYTES = 1, VT_INTEGER = 2, VT_DOUBLE = 3, VT_BOOL = 4 };

/* The value type a Lua value implies. */
static int implied_type(lua_State *L, int idx) {
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: return VT_STRING;
    case LUA_TBOOLEAN: return VT_BOOL;
    case LUA_TNUMBER: return lua_isinteger(L, idx) ? VT_INTEGER : VT_DOUBLE;
    default: return -1;
    }
}

static void check_elem(lua_State *L, const char *name, int vt, int idx) {
    int t = lua_type(L, idx);
    int ok = (vt == VT_STRING || vt == VT_BYTES) ? (t == LUA_TSTRING || t == LUA_TNUMBER)
           : (vt == VT_BOOL) ? t == LUA_TBOOLEAN : t == LUA_TNUMBER;
    if (!ok) luaL_error(L, "inject_message() field '%s': %s value in a field of value_type %d", name, lua_typename(L, t), vt);
}

/* Writes one Field submessage for name/value (value at vidx) into sb->field. */
static void encode_field(lua_State *L, const char *name, size_t nlen, int vidx) {
    clp_sandbox *sb = clp_get(L);
    clp_buf *f = &sb->field;
    f->len = 0;
    vidx = lua_absindex(L, vidx);
    int vt = -1;
    const char *rep = NULL;
    size_t replen = 0;
    int values = vidx; /* a single value or an array table */
    int single = 1;
    if (lua_type(L, vidx) == LUA_TTABLE) {
        if (rawfield(L, vidx, "value") != LUA_TNIL) {
            values = lua_gettop(L);
            if (rawfield(L, vidx, "representation") == LUA_TSTRING) rep = lua_tolstring(L, -1, &replen);
            lua_pop(L, 1); /* still referenced by the table */
            if (rawfield(L, vidx, "value_type") == LUA_TNUMBER) {
                vt = (int)lua_tointeger(L, -1);
                if (vt < 0 || vt > 4) luaL_error(L, "inject_message() field '%s': value_type %d is not 0..4", name, vt);
            }
            lua_pop(L, 1);
        } else {
            lua_pop(L, 1);
        }
        single = lua_type(L, values) != LUA_TTABLE;
    }
    lua_Integer count = single ? 1 : (lua_Integer)lua_rawlen(L, values);
    if (vt < 0) {
        if (single) {
            vt = implied_type(L, values);
        } else if (count > 0) {
            lua_rawgeti(L, values, 1);
            vt = implied_type(L, -1);
            lua_pop(L, 1);
            if (vt == VT_INTEGER) { /* an array of numbers is integer only if every element is */
                for (lua_Integer i = 2; i <= count; i++) {
                    lua_rawgeti(L, values, i);
                    if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) vt = VT_DOUBLE;
                    lua_pop(L, 1);
                }
            }
        } else {
            vt = VT_STRING;
        }
        if (vt < 0) luaL_error(L, "inject_message() field '%s': unsupported value type", name);
    }
    put_bytes(L, f, 1, name, nlen);
    if (vt != VT_STRING) {
        put_tag(L, f, 2, 0);
        put_varint(L, f, (uint64_t)vt);
    }
    if (rep) put_bytes(L, f, 3, rep, replen);
    clp_buf *packed = &sb->packed;
    packed->len = 0;
    for (lua_Integer i = 1; i <= count; i++) {
        int e;
        if (single) {
            lua_pushvalue(L, values);
        } else {
            lua_rawgeti(L, values, i);
        }
        e = lua_gettop(L);
        check_elem(L, name, vt, e);
        if (vt == VT_STRING || vt == VT_BYTES) {
            size_t n;
            const char *s = lua_tolstring(L, e, &n);
            put_bytes(L, f, vt == VT_STRING ? 4 : 5, s, n);
        } else if (vt == VT_INTEGER) {
            put_varint(L, packed, (uint64_t)to_int64(L, e));
        } else if (vt == VT_DOUBLE) {
            double d = (double)lua_tonumber(L, e);
            if (clp_buf_add(packed, &d, 8)) oom(L); /* little-endian hosts only (x86_64, arm64) */
        } else {
            unsigned char bv = (unsigned char)lua_toboolean(L, e);
            if (clp_buf_add(packed, &bv, 1)) oom(L);
        }
        lua_pop(L, 1);
    }
    if (packed->len) put_bytes(L, f, vt == VT_INTEGER ? 6 : vt == VT_DOUBLE ? 7 : 8, packed->data, packed->len);
    if (values != vidx) lua_pop(L, 1);
    put_bytes(L, &sb->out, 10, f->data ? f->data : "", f->len);
    clp_check_output(L, sb->out.len);
}

typedef struct {
    const char *s;
    size_t n;
} key_ref;

static int cmp_keys(const void *a, const void *b) {
    const key_ref *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->n < y->n ? -1 : x->n > y->n);
}

static void encode_fields(lua_State *L, int fidx) {
    fidx = lua_absindex(L, fidx);
    /* Array form: { {name=..., value=..., representation=..., value_type=...}, ... } */
    if (lua_rawgeti(L, fidx, 1) == LUA_TTABLE) {
        lua_pop(L, 1);
        lua_Integer n = (lua_Integer)lua_rawlen(L, fidx);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, fidx, i) != LUA_TTABLE) luaL_error(L, "inject_message() Fields[%d] must be a table", (int)i);
            int e = lua_gettop(L);
            if (rawfield(L, e, "name") != LUA_TSTRING) luaL_error(L, "inject_message() Fields[%d] has no name", (int)i);
            size_t nl;
            const char *name = lua_tolstring(L, -1, &nl);
            encode_field(L, name, nl, e);
            lua_pop(L, 2);
        }
        return;
    }
    lua_pop(L, 1);
    size_t cap = 16, count = 0;
    key_ref stack_keys[16];
    key_ref *keys = stack_keys;
    lua_pushnil(L);
    while (lua_next(L, fidx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            if (keys != stack_keys) free(keys);
            luaL_error(L, "inject_message() field names must be strings, got %s", luaL_typename(L, -1));
        }
        if (count == cap) {
            key_ref *nk = malloc(cap * 2 * sizeof *nk);
            if (!nk) {
                if (keys != stack_keys) free(keys);
                oom(L);
            }
            memcpy(nk, keys, cap * sizeof *nk);
            if (keys != stack_keys) free(keys);
            keys = nk;
            cap *= 2;
        }
        keys[count].s = lua_tolstring(L, -1, &keys[count].n);
        count++;
    }
    qsort(keys, count, sizeof *keys, cmp_keys);
    /* Errors below would leak a heap key array: encode from a Lua-owned copy instead. */
    key_ref *owned = keys;
    if (keys != stack_keys) {
        owned = lua_newuserdatauv(L, count * sizeof *keys, 0);
        memcpy(owned, keys, count * sizeof *keys);
        free(keys);
    }
    for (size_t i = 0; i < count; i++) {
        lua_pushlstring(L, owned[i].s, owned[i].n);
        lua_rawget(L, fidx);
        encode_field(L, owned[i].s, owned[i].n, -1);
        lua_pop(L, 1);
    }
    if (owned != stack_keys) lua_pop(L, 1);
}

void clp_encode_table(lua_State *L, int idx, int for_encode) {
    clp_sandbox *sb = clp_get(L);
    idx = lua_absindex(L, idx);
    clp_defaults d;
    memset(&d, 0, sizeof d);
    sb->cb.defaults(sb->host, for_encode, &d);
    clp_buf *b = &sb->out;
    b->len = 0;
    uuid_header(L, b, idx, &d);
    int_header(L, b, idx, "Timestamp", 2, &d.timestamp);
    string_header(L, b, idx, "Type", 3, &d.type, d.type_prefix, d.type_prefix_len);
    if (d.force_logger) put_value(L, b, 4, &d.logger);
    else string_header(L, b, idx, "Logger", 4, &d.logger, NULL, 0);
    int_header(L, b, idx, "Severity", 5, &d.severity);
    string_header(L, b, idx, "Payload", 6, &d.payload, NULL, 0);
    string_header(L, b, idx, "EnvVersion", 7, &d.env_version, NULL, 0);
    int_header(L, b, idx, "Pid", 8, &d.pid);
    string_header(L, b, idx, "Hostname", 9, &d.hostname, NULL, 0);
    clp_check_output(L, b->len);
    int t = rawfield(L, idx, "Fields");
    if (t == LUA_TTABLE) encode_fields(L, lua_gettop(L));
    else if (t != LUA_TNIL) luaL_error(L, "inject_message() Fields must be a table");
    lua_pop(L, 1);
}
