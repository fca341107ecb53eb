/* clp_encode.c: a Heka message table (Lua) -> Heka protobuf bytes, written straight
 * from the table into a C buffer (no intermediate tree).
 *
 * Same conventions as the Swift encoder: fields in field-number order, value_type
 * written only when not STRING, packed numeric arrays. Hash-form Fields are written in
 * name order, so output does not depend on Lua's (randomised) table order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "clp_encode.h"
#include "clp_limits.h"
#include "heka_wire.h"

static void oom(lua_State *L) {
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

static void put_value(lua_State *L, clp_buf *b, int field, const clp_value *v) {
    if (v->type == CLP_V_STRING) put_bytes(L, b, field, v->s, v->len);
    else if (v->type == CLP_V_INTEGER) {
        put_tag(L, b, field, HEKA_WIRE_VARINT);
        put_varint(L, b, (uint64_t)v->i);
    }
}

/* t[key] without metamethods; idx must be absolute. */
static int rawkey(lua_State *L, int idx, int key) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, clp_get(L)->kref[key]);
    return lua_rawget(L, idx);
}

/* A string header: the table's value (strings; numbers are converted), else the default. */
/* Header values are found by one pass over the table (clp_encode_table) and left on the
 * stack; `sidx` is a value's stack index, 0 when the script did not set it. */
static void string_header(lua_State *L, clp_buf *b, int sidx, const char *key, int field, const clp_value *def,
                          const char *prefix, size_t plen) {
    int t = sidx ? lua_type(L, sidx) : LUA_TNIL;
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        size_t n;
        const char *s = lua_tolstring(L, sidx, &n);
        if (plen) {
            put_tag(L, b, field, HEKA_WIRE_BYTES);
            put_varint(L, b, plen + n);
            if (clp_buf_add(b, prefix, plen) || clp_buf_add(b, s, n)) oom(L);
        } else {
            put_bytes(L, b, field, s, n);
        }
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s %s must be a string, got %s", clp_get(L)->encode_fname, key, lua_typename(L, t));
    } else if (plen) {
        put_bytes(L, b, field, prefix, plen); /* filters: "heka.sandbox." even without a Type */
    } else {
        put_value(L, b, field, def);
    }
}

static int64_t to_int64(lua_State *L, int idx) {
    if (lua_isinteger(L, idx)) return (int64_t)lua_tointeger(L, idx);
    lua_Number d = lua_tonumber(L, idx);
    if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)) return 0;
    return (int64_t)d;
}

static void int_header(lua_State *L, clp_buf *b, int sidx, const char *key, int field, const clp_value *def) {
    int t = sidx ? lua_type(L, sidx) : LUA_TNIL;
    if (t == LUA_TNUMBER) {
        int64_t v = to_int64(L, sidx);
        if (field != HEKA_MESSAGE_TIMESTAMP) v = (int32_t)v; /* Severity and Pid are int32 */
        put_tag(L, b, field, HEKA_WIRE_VARINT);
        put_varint(L, b, (uint64_t)v);
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s %s must be a number, got %s", clp_get(L)->encode_fname, key, lua_typename(L, t));
    } else {
        put_value(L, b, field, def);
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void uuid_header(lua_State *L, clp_buf *b, int sidx, const clp_defaults *d) {
    unsigned char u[16];
    int t = sidx ? lua_type(L, sidx) : LUA_TNIL;
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, sidx, &n);
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
            if (k != 32 || (n != 32 && n != 36)) luaL_error(L, "%s Uuid must be 16 bytes or 36 characters", clp_get(L)->encode_fname);
        }
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s Uuid must be a string", clp_get(L)->encode_fname);
    } else {
        memcpy(u, d->uuid, 16);
    }
    put_bytes(L, b, HEKA_MESSAGE_UUID, (const char *)u, 16);
}

/* The value type a Lua value implies. */
static int implied_type(lua_State *L, int idx) {
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: return HEKA_VALUE_STRING;
    case LUA_TBOOLEAN: return HEKA_VALUE_BOOL;
    case LUA_TNUMBER: return lua_isinteger(L, idx) ? HEKA_VALUE_INTEGER : HEKA_VALUE_DOUBLE;
    default: return -1;
    }
}

static void check_elem(lua_State *L, const char *name, int vt, int idx) {
    int t = lua_type(L, idx);
    int ok = (vt == HEKA_VALUE_STRING || vt == HEKA_VALUE_BYTES) ? (t == LUA_TSTRING || t == LUA_TNUMBER)
           : (vt == HEKA_VALUE_BOOL) ? t == LUA_TBOOLEAN : t == LUA_TNUMBER;
    if (!ok) luaL_error(L, "%s field '%s': %s value in a field of value_type %d", clp_get(L)->encode_fname, name, lua_typename(L, t), vt);
}

/* Opens a length-delimited Fields entry in out; returns where its body starts. The length
 * is guessed to fit one byte and fixed up by close_field. */
static size_t open_field(lua_State *L, clp_buf *out) {
    reserve(L, out, 2);
    out->data[out->len++] = (char)HEKA_TAG(HEKA_MESSAGE_FIELDS, HEKA_WIRE_BYTES);
    out->len++; /* one-byte length placeholder */
    return out->len;
}

static void close_field(lua_State *L, clp_buf *out, size_t body) {
    size_t n = out->len - body;
    if (n < 0x80) {
        out->data[body - 1] = (char)n;
    } else {
        unsigned char tmp[10];
        size_t k = 0;
        uint64_t v = n;
        while (v >= 0x80) {
            tmp[k++] = (unsigned char)(v | 0x80);
            v >>= 7;
        }
        tmp[k++] = (unsigned char)v;
        reserve(L, out, k - 1);
        memmove(out->data + body - 1 + k, out->data + body, n);
        memcpy(out->data + body - 1, tmp, k);
        out->len += k - 1;
    }
    clp_check_output(L, out->len);
}

/* Writes one Field submessage for name/value (value at vidx) into sb->out. */
static void encode_field(lua_State *L, const char *name, size_t nlen, int vidx) {
    clp_sandbox *sb = clp_get(L);
    clp_buf *f = &sb->out;
    int vtype = lua_type(L, vidx);
    /* Fast path: one plain value, by far the common case. */
    if (vtype == LUA_TSTRING || vtype == LUA_TNUMBER || vtype == LUA_TBOOLEAN) {
        size_t body = open_field(L, f);
        put_bytes(L, f, HEKA_FIELD_NAME, name, nlen);
        if (vtype == LUA_TSTRING) {
            size_t n;
            const char *s = lua_tolstring(L, vidx, &n);
            put_bytes(L, f, HEKA_FIELD_VALUE_STRING, s, n);
        } else if (vtype == LUA_TBOOLEAN) {
            reserve(L, f, 5);
            f->data[f->len++] = HEKA_TAG(HEKA_FIELD_VALUE_TYPE, HEKA_WIRE_VARINT);
            f->data[f->len++] = HEKA_VALUE_BOOL;
            f->data[f->len++] = (char)HEKA_TAG(HEKA_FIELD_VALUE_BOOL, HEKA_WIRE_BYTES);
            f->data[f->len++] = 1;
            f->data[f->len++] = (char)lua_toboolean(L, vidx);
        } else if (lua_isinteger(L, vidx)) {
            reserve(L, f, 14);
            f->data[f->len++] = HEKA_TAG(HEKA_FIELD_VALUE_TYPE, HEKA_WIRE_VARINT);
            f->data[f->len++] = HEKA_VALUE_INTEGER;
            f->data[f->len++] = (char)HEKA_TAG(HEKA_FIELD_VALUE_INTEGER, HEKA_WIRE_BYTES);
            size_t at = f->len++;
            raw_varint(f, (uint64_t)lua_tointeger(L, vidx));
            f->data[at] = (char)(f->len - at - 1);
        } else {
            double d = (double)lua_tonumber(L, vidx);
            reserve(L, f, 12);
            f->data[f->len++] = HEKA_TAG(HEKA_FIELD_VALUE_TYPE, HEKA_WIRE_VARINT);
            f->data[f->len++] = HEKA_VALUE_DOUBLE;
            f->data[f->len++] = (char)HEKA_TAG(HEKA_FIELD_VALUE_DOUBLE, HEKA_WIRE_BYTES);
            f->data[f->len++] = 8;
            memcpy(f->data + f->len, &d, 8); /* little-endian hosts only (x86_64, arm64) */
            f->len += 8;
        }
        close_field(L, f, body);
        return;
    }
    vidx = lua_absindex(L, vidx);
    int vt = -1;
    const char *rep = NULL;
    size_t replen = 0;
    int values = vidx; /* a single value or an array table */
    int single = 1;
    if (vtype == LUA_TTABLE) {
        if (rawkey(L, vidx, CLP_K_VALUE) != LUA_TNIL) {
            values = lua_gettop(L);
            if (rawkey(L, vidx, CLP_K_REPRESENTATION) == LUA_TSTRING) rep = lua_tolstring(L, -1, &replen);
            lua_pop(L, 1); /* still referenced by the table */
            if (rawkey(L, vidx, CLP_K_VALUE_TYPE) == LUA_TNUMBER) {
                vt = (int)lua_tointeger(L, -1);
                if (vt < 0 || vt > HEKA_VALUE_BOOL) luaL_error(L, "%s field '%s': value_type %d is not 0..4", clp_get(L)->encode_fname, name, vt);
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
            if (vt == HEKA_VALUE_INTEGER) { /* an array of numbers is integer only if every element is */
                for (lua_Integer i = 2; i <= count; i++) {
                    lua_rawgeti(L, values, i);
                    if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) vt = HEKA_VALUE_DOUBLE;
                    lua_pop(L, 1);
                }
            }
        } else {
            vt = HEKA_VALUE_STRING;
        }
        if (vt < 0) luaL_error(L, "%s field '%s': unsupported value type", clp_get(L)->encode_fname, name);
    }
    size_t body = open_field(L, f);
    put_bytes(L, f, HEKA_FIELD_NAME, name, nlen);
    if (vt != HEKA_VALUE_STRING) {
        put_tag(L, f, HEKA_FIELD_VALUE_TYPE, HEKA_WIRE_VARINT);
        put_varint(L, f, (uint64_t)vt);
    }
    if (rep) put_bytes(L, f, HEKA_FIELD_REPRESENTATION, rep, replen);
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
        if (vt == HEKA_VALUE_STRING || vt == HEKA_VALUE_BYTES) {
            size_t n;
            const char *s = lua_tolstring(L, e, &n);
            put_bytes(L, f, vt == HEKA_VALUE_STRING ? HEKA_FIELD_VALUE_STRING : HEKA_FIELD_VALUE_BYTES, s, n);
        } else if (vt == HEKA_VALUE_INTEGER) {
            put_varint(L, packed, (uint64_t)to_int64(L, e));
        } else if (vt == HEKA_VALUE_DOUBLE) {
            double d = (double)lua_tonumber(L, e);
            if (clp_buf_add(packed, &d, 8)) oom(L); /* little-endian hosts only (x86_64, arm64) */
        } else {
            unsigned char bv = (unsigned char)lua_toboolean(L, e);
            if (clp_buf_add(packed, &bv, 1)) oom(L);
        }
        lua_pop(L, 1);
    }
    if (packed->len)
        put_bytes(L, f, vt == HEKA_VALUE_INTEGER ? HEKA_FIELD_VALUE_INTEGER : vt == HEKA_VALUE_DOUBLE ? HEKA_FIELD_VALUE_DOUBLE : HEKA_FIELD_VALUE_BOOL,
                  packed->data, packed->len);
    if (values != vidx) lua_pop(L, 1);
    close_field(L, f, body);
}

typedef struct {
    const char *s;
    size_t n;
    int vidx; /* the value's stack index */
} key_ref;

static int cmp_keys(const void *a, const void *b) {
    const key_ref *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->n < y->n ? -1 : x->n > y->n);
}

static void encode_fields(lua_State *L, int fidx) {
    clp_sandbox *sb = clp_get(L);
    fidx = lua_absindex(L, fidx);
    /* Array form: { {name=..., value=..., representation=..., value_type=...}, ... } */
    if (lua_rawgeti(L, fidx, 1) == LUA_TTABLE) {
        lua_pop(L, 1);
        lua_Integer n = (lua_Integer)lua_rawlen(L, fidx);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, fidx, i) != LUA_TTABLE) luaL_error(L, "%s Fields[%d] must be a table", clp_get(L)->encode_fname, (int)i);
            int e = lua_gettop(L);
            if (rawkey(L, e, CLP_K_NAME) != LUA_TSTRING) luaL_error(L, "%s Fields[%d] has no name", clp_get(L)->encode_fname, (int)i);
            size_t nl;
            const char *name = lua_tolstring(L, -1, &nl);
            encode_field(L, name, nl, e);
            lua_pop(L, 2);
        }
        return;
    }
    lua_pop(L, 1);
    /* Hash form: one pass leaves every value on the stack, then names are sorted so the
     * output does not depend on Lua's table order. Names stay valid: the table holds them. */
    int base = lua_gettop(L);
    clp_buf *keys = &sb->keys;
    keys->len = 0;
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, fidx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s field names must be strings, got %s", clp_get(L)->encode_fname, luaL_typename(L, -2));
        luaL_checkstack(L, 3, "too many fields");
        lua_insert(L, -2); /* [.. value, key] */
        key_ref k;
        k.s = lua_tolstring(L, -1, &k.n);
        k.vidx = lua_gettop(L) - 1;
        if (clp_buf_add(keys, &k, sizeof k)) oom(L);
        count++;
    }
    key_ref *ks = (key_ref *)keys->data;
    if (count > 16) {
        qsort(ks, count, sizeof *ks, cmp_keys);
    } else {
        for (size_t i = 1; i < count; i++) {
            key_ref k = ks[i];
            size_t j = i;
            while (j > 0 && cmp_keys(&ks[j - 1], &k) > 0) {
                ks[j] = ks[j - 1];
                j--;
            }
            ks[j] = k;
        }
    }
    for (size_t i = 0; i < count; i++) encode_field(L, ks[i].s, ks[i].n, ks[i].vidx);
    lua_settop(L, base);
}

enum { H_UUID, H_TIMESTAMP, H_TYPE, H_LOGGER, H_SEVERITY, H_PAYLOAD, H_ENVVERSION, H_PID, H_HOSTNAME, H_FIELDS, H_COUNT };

/* The header a table key names, or -1. */
static int header_index(const char *k, size_t n) {
    static const struct { const char *name; size_t len; } names[H_COUNT] = {
        {"Uuid", 4}, {"Timestamp", 9}, {"Type", 4}, {"Logger", 6}, {"Severity", 8},
        {"Payload", 7}, {"EnvVersion", 10}, {"Pid", 3}, {"Hostname", 8}, {"Fields", 6},
    };
    for (int i = 0; i < H_COUNT; i++)
        if (names[i].len == n && memcmp(names[i].name, k, n) == 0) return i;
    return -1;
}

void clp_encode_table(lua_State *L, int idx, int for_encode) {
    clp_sandbox *sb = clp_get(L);
    sb->encode_fname = for_encode ? "encode_message()" : "inject_message()";
    idx = lua_absindex(L, idx);
    clp_defaults d;
    memset(&d, 0, sizeof d);
    if (sb->kind == CLP_DECODER && !for_encode && sb->has_message && sb->injects_this_call == 0) {
        /* A decoder's first message inherits every unset header, Uuid included, from its
         * input: all at hand, no call into the host. */
        const clp_message_headers *h = &sb->msg_headers;
        d.type = h->type; /* Heka copies these headers, not Payload nor EnvVersion */
        d.logger = h->logger;
        d.hostname = h->hostname;
        d.timestamp = h->timestamp;
        d.severity = h->severity;
        d.pid = h->pid;
        if (h->uuid.type == CLP_V_STRING && h->uuid.len == 16) memcpy(d.uuid, h->uuid.s, 16);
    } else {
        sb->cb.defaults(sb->host, for_encode, &d);
    }
    /* One pass over the message table instead of a lookup per header. */
    int slot[H_COUNT] = {0};
    int base = lua_gettop(L);
    luaL_checkstack(L, H_COUNT + 4, "stack overflow");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int h = -1;
        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t n;
            const char *k = lua_tolstring(L, -2, &n);
            h = header_index(k, n);
        }
        if (h >= 0 && !slot[h]) {
            lua_insert(L, -2); /* keep the value, key back on top */
            slot[h] = lua_gettop(L) - 1;
        } else {
            lua_pop(L, 1); /* other keys are ignored, as in Heka */
        }
    }
    clp_buf *b = &sb->out;
    b->len = 0;
    uuid_header(L, b, slot[H_UUID], &d);
    int_header(L, b, slot[H_TIMESTAMP], "Timestamp", HEKA_MESSAGE_TIMESTAMP, &d.timestamp);
    string_header(L, b, slot[H_TYPE], "Type", HEKA_MESSAGE_TYPE, &d.type, d.type_prefix, d.type_prefix_len);
    if (d.force_logger) put_value(L, b, HEKA_MESSAGE_LOGGER, &d.logger);
    else string_header(L, b, slot[H_LOGGER], "Logger", HEKA_MESSAGE_LOGGER, &d.logger, NULL, 0);
    int_header(L, b, slot[H_SEVERITY], "Severity", HEKA_MESSAGE_SEVERITY, &d.severity);
    string_header(L, b, slot[H_PAYLOAD], "Payload", HEKA_MESSAGE_PAYLOAD, &d.payload, NULL, 0);
    string_header(L, b, slot[H_ENVVERSION], "EnvVersion", HEKA_MESSAGE_ENV_VERSION, &d.env_version, NULL, 0);
    int_header(L, b, slot[H_PID], "Pid", HEKA_MESSAGE_PID, &d.pid);
    string_header(L, b, slot[H_HOSTNAME], "Hostname", HEKA_MESSAGE_HOSTNAME, &d.hostname, NULL, 0);
    clp_check_output(L, b->len);
    if (slot[H_FIELDS]) {
        int t = lua_type(L, slot[H_FIELDS]);
        if (t == LUA_TTABLE) encode_fields(L, slot[H_FIELDS]);
        else if (t != LUA_TNIL) luaL_error(L, "%s Fields must be a table", clp_get(L)->encode_fname);
    }
    lua_settop(L, base);
}
