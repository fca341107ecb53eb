/* clp_decode.c: decode_message(), Heka protobuf bytes -> Heka's Lua message table,
 * with Fields in array form: { {name=, value_type=, representation=, value={...}}, ... } */
#include <stdint.h>
#include <string.h>
#include <lua5.4/lauxlib.h>
#include "clp_decode.h"
#include "heka_wire.h"

typedef struct {
    const unsigned char *p, *end;
} reader;

static inline __attribute__((always_inline)) int rd_varint(reader *r, uint64_t *v) {
    if (r->p < r->end && *r->p < 0x80) { /* one byte: tags, short lengths */
        *v = *r->p++;
        return 1;
    }
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        unsigned char c = *r->p++;
        x |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

static inline __attribute__((always_inline)) int rd_len(reader *r, const unsigned char **s, size_t *n) {
    uint64_t l;
    if (!rd_varint(r, &l) || l > (uint64_t)(r->end - r->p)) return 0;
    *s = r->p;
    *n = (size_t)l;
    r->p += l;
    return 1;
}

static inline __attribute__((always_inline)) int skip(reader *r, int wire) {
    uint64_t v;
    const unsigned char *s;
    size_t n;
    switch (wire) {
    case HEKA_WIRE_VARINT: return rd_varint(r, &v);
    case HEKA_WIRE_FIXED64: if (r->end - r->p < 8) return 0; r->p += 8; return 1;
    case HEKA_WIRE_BYTES: return rd_len(r, &s, &n);
    case HEKA_WIRE_FIXED32: if (r->end - r->p < 4) return 0; r->p += 4; return 1;
    default: return 0;
    }
}

static int bad(lua_State *L) {
    return luaL_error(L, "decode_message() invalid protobuf string");
}

static void append(lua_State *L, int t) {
    lua_rawseti(L, t, (lua_Integer)lua_rawlen(L, t) + 1);
}

/* Pushes one Field table; returns 0 on malformed input. */
static int push_field(lua_State *L, const unsigned char *p, size_t n) {
    reader r = {p, p + n};
    lua_createtable(L, 0, 4);
    int ft = lua_gettop(L);
    lua_newtable(L);
    int vt = lua_gettop(L);
    int value_type = 0;
    while (r.p < r.end) {
        uint64_t tag, v;
        const unsigned char *s;
        size_t l;
        if (!rd_varint(&r, &tag)) return 0;
        int field = (int)(tag >> 3), wire = (int)(tag & 7);
        if (field == HEKA_FIELD_NAME && wire == HEKA_WIRE_BYTES) {
            if (!rd_len(&r, &s, &l)) return 0;
            lua_pushlstring(L, (const char *)s, l);
            lua_setfield(L, ft, "name");
        } else if (field == HEKA_FIELD_VALUE_TYPE && wire == HEKA_WIRE_VARINT) {
            if (!rd_varint(&r, &v)) return 0;
            value_type = (int)v;
        } else if (field == HEKA_FIELD_REPRESENTATION && wire == HEKA_WIRE_BYTES) {
            if (!rd_len(&r, &s, &l)) return 0;
            lua_pushlstring(L, (const char *)s, l);
            lua_setfield(L, ft, "representation");
        } else if ((field == HEKA_FIELD_VALUE_STRING || field == HEKA_FIELD_VALUE_BYTES) && wire == HEKA_WIRE_BYTES) {
            if (!rd_len(&r, &s, &l)) return 0;
            lua_pushlstring(L, (const char *)s, l);
            append(L, vt);
        } else if ((field == HEKA_FIELD_VALUE_INTEGER || field == HEKA_FIELD_VALUE_BOOL) && wire == HEKA_WIRE_VARINT) {
            if (!rd_varint(&r, &v)) return 0;
            if (field == HEKA_FIELD_VALUE_INTEGER) lua_pushinteger(L, (lua_Integer)(int64_t)v);
            else lua_pushboolean(L, v != 0);
            append(L, vt);
        } else if (field == HEKA_FIELD_VALUE_DOUBLE && wire == HEKA_WIRE_FIXED64) {
            double d;
            if (r.end - r.p < 8) return 0;
            memcpy(&d, r.p, 8);
            r.p += 8;
            lua_pushnumber(L, d);
            append(L, vt);
        } else if ((field == HEKA_FIELD_VALUE_INTEGER || field == HEKA_FIELD_VALUE_DOUBLE || field == HEKA_FIELD_VALUE_BOOL) &&
                   wire == HEKA_WIRE_BYTES) {
            if (!rd_len(&r, &s, &l)) return 0;
            reader sub = {s, s + l};
            while (sub.p < sub.end) {
                if (field == HEKA_FIELD_VALUE_DOUBLE) {
                    double d;
                    if (sub.end - sub.p < 8) return 0;
                    memcpy(&d, sub.p, 8);
                    sub.p += 8;
                    lua_pushnumber(L, d);
                } else {
                    if (!rd_varint(&sub, &v)) return 0;
                    if (field == HEKA_FIELD_VALUE_INTEGER) lua_pushinteger(L, (lua_Integer)(int64_t)v);
                    else lua_pushboolean(L, v != 0);
                }
                append(L, vt);
            }
        } else if (!skip(&r, wire)) {
            return 0;
        }
    }
    lua_setfield(L, ft, "value");
    lua_pushinteger(L, value_type);
    lua_setfield(L, ft, "value_type");
    return 1;
}

int clp_push_decoded(lua_State *L, const unsigned char *p, size_t n) {
    static const char *const names[] = {
        [HEKA_MESSAGE_UUID] = "Uuid", [HEKA_MESSAGE_TIMESTAMP] = "Timestamp", [HEKA_MESSAGE_TYPE] = "Type",
        [HEKA_MESSAGE_LOGGER] = "Logger", [HEKA_MESSAGE_SEVERITY] = "Severity", [HEKA_MESSAGE_PAYLOAD] = "Payload",
        [HEKA_MESSAGE_ENV_VERSION] = "EnvVersion", [HEKA_MESSAGE_PID] = "Pid", [HEKA_MESSAGE_HOSTNAME] = "Hostname"};
    reader r = {p, p + n};
    lua_createtable(L, 0, 10);
    int t = lua_gettop(L);
    int fields = 0, have_uuid = 0, have_ts = 0;
    while (r.p < r.end) {
        uint64_t tag, v;
        const unsigned char *s;
        size_t l;
        if (!rd_varint(&r, &tag)) return bad(L);
        int field = (int)(tag >> 3), wire = (int)(tag & 7);
        /* Timestamp, Severity and Pid are varints; the other headers are bytes. */
        if (field >= HEKA_MESSAGE_UUID && field <= HEKA_MESSAGE_HOSTNAME && field != HEKA_MESSAGE_TIMESTAMP &&
            field != HEKA_MESSAGE_SEVERITY && field != HEKA_MESSAGE_PID && wire == HEKA_WIRE_BYTES) {
            if (!rd_len(&r, &s, &l)) return bad(L);
            if (field == HEKA_MESSAGE_UUID) {
                if (l != 16) return bad(L);
                have_uuid = 1;
            }
            lua_pushlstring(L, (const char *)s, l);
            lua_setfield(L, t, names[field]);
        } else if ((field == HEKA_MESSAGE_TIMESTAMP || field == HEKA_MESSAGE_SEVERITY || field == HEKA_MESSAGE_PID) &&
                   wire == HEKA_WIRE_VARINT) {
            if (!rd_varint(&r, &v)) return bad(L);
            if (field == HEKA_MESSAGE_TIMESTAMP) {
                have_ts = 1;
                lua_pushinteger(L, (lua_Integer)(int64_t)v);
            } else {
                lua_pushinteger(L, (lua_Integer)(int32_t)(int64_t)v);
            }
            lua_setfield(L, t, names[field]);
        } else if (field == HEKA_MESSAGE_FIELDS && wire == HEKA_WIRE_BYTES) {
            if (!rd_len(&r, &s, &l)) return bad(L);
            if (!fields) {
                lua_newtable(L);
                lua_pushvalue(L, -1);
                lua_setfield(L, t, "Fields");
                fields = lua_gettop(L);
            }
            if (!push_field(L, s, l)) return bad(L);
            lua_rawseti(L, fields, (lua_Integer)lua_rawlen(L, fields) + 1);
        } else if (!skip(&r, wire)) {
            return bad(L);
        }
    }
    if (!have_uuid || !have_ts) return bad(L);
    lua_settop(L, t);
    return 1;
}

/* The value_type of the Field submessage p..end (0, string, when absent); -1 malformed. */
static int field_value_type(const unsigned char *p, const unsigned char *end) {
    reader r = {p, end};
    int vt = 0;
    while (r.p < r.end) {
        uint64_t tag, v;
        if (!rd_varint(&r, &tag)) return -1;
        if (tag == HEKA_TAG(HEKA_FIELD_VALUE_TYPE, HEKA_WIRE_VARINT)) {
            if (!rd_varint(&r, &v)) return -1;
            vt = (int)v;
        } else if (!skip(&r, (int)(tag & 7))) {
            return -1;
        }
    }
    return vt;
}

static void set_scalar(clp_value *out, int f, uint64_t v) {
    *out = (clp_value){.type = f == HEKA_FIELD_VALUE_INTEGER ? CLP_V_INTEGER : CLP_V_BOOL,
                       .i = f == HEKA_FIELD_VALUE_INTEGER ? (long long)v : v != 0};
}

/* The ai-th value of the Field p..end, of value_type vt: 1 found, 0 none, -1 malformed. */
static int field_value(const unsigned char *p, const unsigned char *end, int vt, long ai, clp_value *out) {
    reader r = {p, end};
    long seen = 0;
    int str = vt == HEKA_VALUE_STRING ? HEKA_FIELD_VALUE_STRING : vt == HEKA_VALUE_BYTES ? HEKA_FIELD_VALUE_BYTES : -1;
    int num = vt == HEKA_VALUE_INTEGER ? HEKA_FIELD_VALUE_INTEGER : vt == HEKA_VALUE_BOOL ? HEKA_FIELD_VALUE_BOOL : -1;
    while (r.p < r.end) {
        uint64_t tag, v;
        if (!rd_varint(&r, &tag)) return -1;
        int f = (int)(tag >> 3), wire = (int)(tag & 7);
        const unsigned char *s;
        size_t n;
        if (f == str && wire == HEKA_WIRE_BYTES) {
            if (!rd_len(&r, &s, &n)) return -1;
            if (seen++ == ai) {
                *out = (clp_value){.type = CLP_V_STRING, .s = (const char *)s, .len = n};
                return 1;
            }
        } else if (f == num && wire == HEKA_WIRE_VARINT) {
            if (!rd_varint(&r, &v)) return -1;
            if (seen++ == ai) {
                set_scalar(out, f, v);
                return 1;
            }
        } else if (f == num && wire == HEKA_WIRE_BYTES) { /* packed */
            if (!rd_len(&r, &s, &n)) return -1;
            reader packed = {s, s + n};
            while (packed.p < packed.end) {
                if (!rd_varint(&packed, &v)) return -1;
                if (seen++ == ai) {
                    set_scalar(out, f, v);
                    return 1;
                }
            }
        } else if (vt == HEKA_VALUE_DOUBLE && f == HEKA_FIELD_VALUE_DOUBLE && (wire == HEKA_WIRE_FIXED64 || wire == HEKA_WIRE_BYTES)) {
            if (wire == HEKA_WIRE_FIXED64) {
                s = r.p;
                n = 8;
                if (r.end - r.p < 8) return -1;
                r.p += 8;
            } else if (!rd_len(&r, &s, &n)) {
                return -1;
            }
            if (ai - seen < (long)(n / 8)) {
                *out = (clp_value){.type = CLP_V_DOUBLE};
                memcpy(&out->d, s + (ai - seen) * 8, 8); /* little-endian hosts only (x86_64, arm64) */
                return 1;
            }
            seen += (long)(n / 8);
        } else if (!skip(&r, wire)) {
            return -1;
        }
    }
    return 0;
}

/* The first value of a Field laid out as the encoders write it: its name first, then
 * [value_type] [representation] one string, or one integer (packed or not), and nothing
 * else up to the Field's end (so no other value_type could change what it means).
 * 1 found, 0 another layout (the caller reads the Field in full). */
static int plain_first_value(const unsigned char *msg, const heka_field_slot *f, clp_value *out) {
    reader head = {msg + f->start, msg + f->end};
    uint64_t nlen;
    if (head.p >= head.end || *head.p++ != HEKA_TAG(HEKA_FIELD_NAME, HEKA_WIRE_BYTES) || !rd_varint(&head, &nlen) ||
        head.p != msg + f->name_start || nlen != (uint64_t)(f->name_end - f->name_start))
        return 0;
    reader r = {msg + f->name_end, msg + f->end};
    uint64_t vt = HEKA_VALUE_STRING, tag, v;
    const unsigned char *s;
    size_t n;
    if (r.p < r.end && *r.p == HEKA_TAG(HEKA_FIELD_VALUE_TYPE, HEKA_WIRE_VARINT)) {
        r.p++;
        if (!rd_varint(&r, &vt)) return 0;
    }
    if (r.p < r.end && *r.p == HEKA_TAG(HEKA_FIELD_REPRESENTATION, HEKA_WIRE_BYTES)) {
        r.p++;
        if (!rd_len(&r, &s, &n)) return 0;
    }
    if (!rd_varint(&r, &tag)) return 0;
    if (vt == HEKA_VALUE_STRING && tag == HEKA_TAG(HEKA_FIELD_VALUE_STRING, HEKA_WIRE_BYTES)) {
        if (!rd_len(&r, &s, &n) || r.p != r.end) return 0;
        *out = (clp_value){.type = CLP_V_STRING, .s = (const char *)s, .len = n};
        return 1;
    }
    if (vt == HEKA_VALUE_INTEGER && tag == HEKA_TAG(HEKA_FIELD_VALUE_INTEGER, HEKA_WIRE_BYTES)) { /* packed */
        if (!rd_len(&r, &s, &n) || r.p != r.end || n == 0) return 0;
        reader packed = {s, s + n};
        if (!rd_varint(&packed, &v)) return 0;
        set_scalar(out, HEKA_FIELD_VALUE_INTEGER, v);
        return 1;
    }
    if (vt == HEKA_VALUE_INTEGER && tag == HEKA_TAG(HEKA_FIELD_VALUE_INTEGER, HEKA_WIRE_VARINT)) {
        if (!rd_varint(&r, &v) || r.p != r.end) return 0;
        set_scalar(out, HEKA_FIELD_VALUE_INTEGER, v);
        return 1;
    }
    return 0;
}

int clp_find_field(const unsigned char *msg, size_t size, const heka_field_slot *slots, size_t count, const char *name,
                   size_t nlen, long fi, long ai, clp_value *out) {
    long seen = 0;
    for (size_t i = 0; i < count; i++) {
        const heka_field_slot *f = &slots[i];
        if ((size_t)(f->name_end - f->name_start) != nlen || memcmp(msg + f->name_start, name, nlen) != 0) continue;
        if (seen++ != fi) continue;
        if (f->end > (long)size) return -1;
        /* the common case: a filter reading one plain value of a field an encoder wrote */
        if (ai == 0 && f->name_end <= f->end && plain_first_value(msg, f, out)) return 1;
        int vt = field_value_type(msg + f->start, msg + f->end);
        return vt < 0 ? -1 : field_value(msg + f->start, msg + f->end, vt, ai, out);
    }
    return 0;
}
