/* clp_encode_fields.c: a message table's Fields -> Field submessages, in array form
 * ({ {name=, value=, representation=, value_type=}, ... }) or hash form ({name = value
 * or {value=, ...}}), the latter written in name order so output does not depend on
 * Lua's (randomised) table order. value_type is written only when not STRING; numeric
 * arrays are packed. */
#include <stdlib.h>
#include "clp_encode_fields.h"
#include "clp_encode_wire.h"
#include "clp_lua_layout.h"
#include "clp_limits.h"

/* t[key] without metamethods; idx must be absolute. */
static int rawkey(lua_State *L, int idx, int key) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, clp_get(L)->kref[key]);
    return lua_rawget(L, idx);
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

/* A length over one byte: the body moves to make room. */
static void close_long_field(lua_State *L, clp_buf *out, size_t body) {
    size_t n = out->len - body;
    unsigned char tmp[10];
    size_t k = (size_t)(wr_varint(tmp, n) - tmp);
    reserve(L, out, k - 1);
    memmove(out->data + body - 1 + k, out->data + body, n);
    memcpy(out->data + body - 1, tmp, k);
    out->len += k - 1;
}

static inline void close_field(lua_State *L, clp_sandbox *sb, clp_buf *out, size_t body) {
    size_t n = out->len - body;
    if (n < 0x80) out->data[body - 1] = (char)n;
    else close_long_field(L, out, body);
    clp_check_output_inline(L, sb, out->len);
}

/* Notes where a field written by encode_values is: its body ran from `body` to `end`
 * before close_field moved it by `shift` bytes (a length over one byte). */
static inline void note_field(lua_State *L, clp_sandbox *sb, size_t body, size_t end, size_t shift) {
    clp_span name = span_at(&sb->out, body + shift); /* the name comes first */
    heka_field_slot s = {(int32_t)(body + shift), (int32_t)(end + shift), (int32_t)name.start, (int32_t)(name.start + name.len)};
    if (clp_buf_add(&sb->field_spans, &s, sizeof s)) oom(L);
}

static int is_scalar(int t) {
    return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN;
}

/* An array of values (values at stack index `values`, absolute), or a value of no
 * supported type (raises): written with packed numbers. Rare in decoders, so kept apart
 * from the per-field path. */
static __attribute__((noinline)) void encode_values(lua_State *L, clp_sandbox *sb, const char *name, size_t nlen, int values,
                                                    int vt, const char *rep, size_t replen) {
    clp_buf *f = &sb->out;
    int single = lua_type(L, values) != LUA_TTABLE;
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
    size_t end = f->len;
    close_field(L, sb, f, body);
    note_field(L, sb, body, end, f->len - end);
}

/* What a {value=, representation=, value_type=} table adds to its value: value_type (-1:
 * the one the value implies) and the representation (NULL: none). */
typedef struct {
    int vt;
    const char *rep;
    size_t replen;
} value_opts;

/* A table value: {value=, representation=, value_type=} or an array. Returns the stack
 * index of its single plain value, with *o set (the representation kept alive by the
 * table), for encode_field to write; or 0 once it wrote the field itself (an array, or a
 * value of no supported type, which raises). */
static __attribute__((noinline)) int table_value(lua_State *L, clp_sandbox *sb, const char *name, size_t nlen, int vidx,
                                                 int vtype, value_opts *o) {
    vidx = lua_absindex(L, vidx);
    if (vtype == LUA_TTABLE) {
        if (rawkey(L, vidx, CLP_K_VALUE) != LUA_TNIL) {
            int values = lua_gettop(L);
            if (rawkey(L, vidx, CLP_K_REPRESENTATION) == LUA_TSTRING) o->rep = lua_tolstring(L, -1, &o->replen);
            lua_pop(L, 1); /* still referenced by the table */
            if (rawkey(L, vidx, CLP_K_VALUE_TYPE) == LUA_TNUMBER) {
                o->vt = (int)lua_tointeger(L, -1);
                if (o->vt < 0 || o->vt > HEKA_VALUE_BOOL) luaL_error(L, "%s field '%s': value_type %d is not 0..4", clp_get(L)->encode_fname, name, o->vt);
            }
            lua_pop(L, 1);
            if (is_scalar(lua_type(L, values))) return values;
            encode_values(L, sb, name, nlen, values, o->vt, o->rep, o->replen);
            return 0;
        }
        lua_pop(L, 1);
    }
    encode_values(L, sb, name, nlen, vidx, -1, NULL, 0);
    return 0;
}

/* A plain value to write: a string's bytes, an integer (or a boolean, 0 or 1), a double. */
typedef struct {
    const char *s;
    size_t n;
    int64_t i;
    double d;
} field_value;

/* Appends one Fields entry of a plain value of value_type vt (and representation rep when
 * not NULL) to out, and returns where it is: through a local cursor, one room check, and
 * the buffer's length stored once. Inlined in its two callers: the in-place loop runs it
 * for every field of every record, without a call, and checks the output limit once
 * after the last field (the Fields table, in Lua's memory already, bounds what it
 * writes meanwhile). */
static inline __attribute__((always_inline)) heka_field_slot write_field(lua_State *L, clp_sandbox *sb, const char *name,
                                                                         size_t nlen, int vt, const char *rep, size_t replen,
                                                                         const field_value *v) {
    clp_buf *f = &sb->out;
    /* tag, length, the name's tag, length and bytes, value_type, the representation's
     * tag, length and bytes, the value's (at most 14 bytes for a number, 11 and its bytes
     * for a string) */
    reserve(L, f, nlen + replen + v->n + 52);
    unsigned char *base = (unsigned char *)f->data;
    unsigned char *p = base + f->len;
    *p++ = (unsigned char)HEKA_TAG(HEKA_MESSAGE_FIELDS, HEKA_WIRE_BYTES);
    unsigned char *lenp = p++; /* one-byte length placeholder */
    size_t body = (size_t)(p - base);
    *p++ = (unsigned char)HEKA_TAG(HEKA_FIELD_NAME, HEKA_WIRE_BYTES);
    p = wr_varint(p, nlen);
    size_t name_at = (size_t)(p - base);
    copy_short(p, name, nlen);
    p += nlen;
    if (vt != HEKA_VALUE_STRING) {
        *p++ = HEKA_TAG(HEKA_FIELD_VALUE_TYPE, HEKA_WIRE_VARINT);
        *p++ = (unsigned char)vt;
    }
    if (rep) {
        *p++ = (unsigned char)HEKA_TAG(HEKA_FIELD_REPRESENTATION, HEKA_WIRE_BYTES);
        p = wr_varint(p, replen);
        copy_short(p, rep, replen);
        p += replen;
    }
    if (vt <= HEKA_VALUE_BYTES) {
        *p++ = (unsigned char)HEKA_TAG(vt == HEKA_VALUE_STRING ? HEKA_FIELD_VALUE_STRING : HEKA_FIELD_VALUE_BYTES, HEKA_WIRE_BYTES);
        p = wr_varint(p, v->n);
        copy_short(p, v->s, v->n);
        p += v->n;
    } else if (vt == HEKA_VALUE_INTEGER) {
        *p++ = (unsigned char)HEKA_TAG(HEKA_FIELD_VALUE_INTEGER, HEKA_WIRE_BYTES); /* packed */
        unsigned char *at = p++;
        p = wr_varint(p, (uint64_t)v->i);
        *at = (unsigned char)(p - at - 1);
    } else if (vt == HEKA_VALUE_DOUBLE) {
        *p++ = (unsigned char)HEKA_TAG(HEKA_FIELD_VALUE_DOUBLE, HEKA_WIRE_BYTES); /* packed */
        *p++ = 8;
        memcpy(p, &v->d, 8); /* little-endian hosts only (x86_64, arm64) */
        p += 8;
    } else {
        *p++ = (unsigned char)HEKA_TAG(HEKA_FIELD_VALUE_BOOL, HEKA_WIRE_BYTES);
        *p++ = 1;
        *p++ = (unsigned char)v->i;
    }
    size_t end = (size_t)(p - base);
    f->len = end;
    if (end - body < 0x80) *lenp = (unsigned char)(end - body);
    else close_long_field(L, f, body); /* moves the body (and its name) by the length's extra bytes */
    size_t shift = f->len - end;
    return (heka_field_slot){(int32_t)(body + shift), (int32_t)(end + shift), (int32_t)(name_at + shift),
                             (int32_t)(name_at + shift + nlen)};
}

/* Writes one Field submessage for name/value (value at vidx) into sb->out. A plain value
 * (a string, number or boolean: by far the common case, alone or as the single value of
 * a {value=, representation=, value_type=} table) goes to write_field, with the table's
 * value_type, or else the one the Lua value implies. */
static void encode_field(lua_State *L, const char *name, size_t nlen, int vidx) {
    clp_sandbox *sb = clp_get(L);
    int vtype = lua_type(L, vidx);
    int vt = -1;
    const char *rep = NULL;
    size_t replen = 0;
    int top = 0;
    if (!is_scalar(vtype)) {
        top = lua_gettop(L);
        value_opts o = {-1, NULL, 0};
        vidx = table_value(L, sb, name, nlen, vidx, vtype, &o);
        if (!vidx) {
            lua_settop(L, top);
            return;
        }
        vtype = lua_type(L, vidx);
        vt = o.vt;
        rep = o.rep;
        replen = o.replen;
    }
    if (vt < 0)
        vt = vtype == LUA_TSTRING ? HEKA_VALUE_STRING
           : vtype == LUA_TBOOLEAN ? HEKA_VALUE_BOOL
           : lua_isinteger(L, vidx) ? HEKA_VALUE_INTEGER : HEKA_VALUE_DOUBLE;
    else
        check_elem(L, name, vt, vidx);
    field_value v = {NULL, 0, 0, 0};
    if (vt <= HEKA_VALUE_BYTES) v.s = lua_tolstring(L, vidx, &v.n);
    else if (vt == HEKA_VALUE_INTEGER) v.i = to_int64(L, vidx);
    else if (vt == HEKA_VALUE_DOUBLE) v.d = (double)lua_tonumber(L, vidx);
    else v.i = lua_toboolean(L, vidx);
    heka_field_slot slot = write_field(L, sb, name, nlen, vt, rep, replen, &v);
    clp_check_output_inline(L, sb, sb->out.len);
    if (clp_buf_add(&sb->field_spans, &slot, sizeof slot)) oom(L);
    if (top) lua_settop(L, top);
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

/* Keeps the names at stack indices base + 2i + 1 alive in a registry table. */
static void anchor_keys(lua_State *L, clp_sandbox *sb, int base, size_t count) {
    luaL_checkstack(L, 2, "too many fields");
    lua_createtable(L, (int)count, 0);
    for (size_t i = 0; i < count; i++) {
        lua_pushvalue(L, base + 2 * (int)i + 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    if (sb->key_anchor) lua_rawseti(L, LUA_REGISTRYINDEX, sb->key_anchor);
    else sb->key_anchor = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Sorts keys (count of them, in table order in sb->keys; the i-th name at stack index
 * base + 2i + 1, its value at base + 2i + 2) by name and returns them. When the names are
 * the same strings in the same table order as last time (a decoder filling one table),
 * the last order is applied: no comparison at all. The last names are kept alive (see
 * anchor_keys), so a name at the same address is the same string. */
static key_ref *sorted_keys(lua_State *L, clp_sandbox *sb, int base, size_t count) {
    key_ref *ks = (key_ref *)sb->keys.data;
    if (count < 2) return ks;
    if (count == sb->key_cache_n) {
        const char **seen = (const char **)sb->key_cache.data;
        size_t i = 0;
        while (i < count && seen[i] == ks[i].s) i++;
        if (i == count) {
            reserve(L, &sb->keys, count * sizeof(key_ref));
            ks = (key_ref *)sb->keys.data;
            key_ref *out = ks + count;
            const size_t *order = (const size_t *)(seen + count);
            for (size_t j = 0; j < count; j++) out[j] = ks[order[j]];
            return out;
        }
    }
    sb->key_cache_n = 0; /* invalid until it matches the anchored names again */
    anchor_keys(L, sb, base, count);
    sb->key_cache.len = 0;
    reserve(L, &sb->key_cache, count * (sizeof(const char *) + sizeof(size_t)));
    const char **seen = (const char **)sb->key_cache.data;
    for (size_t i = 0; i < count; i++) seen[i] = ks[i].s;
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
    size_t *order = (size_t *)(seen + count);
    for (size_t j = 0; j < count; j++) order[j] = (size_t)(ks[j].vidx - base - 2) / 2;
    sb->key_cache_n = count;
    return ks;
}

#if LUA_VERSION_NUM == 504
/* Reading a Fields table in place. Through the API each field costs a lua_next (about
 * 200 instructions: it finds the previous key again by hashing it), a lua_type and a
 * lua_tolstring for the name, and its value's reads: a quarter of a pattern decoder's
 * inject_message. When the key cache above matches (a decoder filling one table, or
 * fresh ones with the same names) and Lua's table layout is the one clp_lua_layout.h
 * declares, the table is read straight from its nodes instead, for values that are plain
 * or {value = plain, representation = string} (nginx_access.lua's); anything else, a
 * value_type included, takes the general path. */

/* For a {value=, ...} table: the value's node, and the representation's (NULL when it
 * has none, or not a string). */
typedef struct {
    const lt_node *value, *rep;
} value_nodes;

/* The value and representation of a {value=, representation=} table; 0 when it is not
 * one the in-place path writes (no plain value, a value_type, an array part). Keys other
 * than these are ignored, as rawkey's lookups ignore them. */
static int value_table(const clp_sandbox *sb, const lt_table *t, value_nodes *f) {
    if (t->alimit) return 0;
    const lt_node *at = t->node, *end = lt_end(t), *n;
    f->value = f->rep = NULL;
    while ((n = lt_next(&at, end))) {
        if (!lt_string_tag(n->key_tt)) continue;
        const char *k = lt_chars(n->key.gc);
        if (k == sb->kstr[CLP_K_VALUE]) f->value = n;
        else if (k == sb->kstr[CLP_K_REPRESENTATION]) f->rep = lt_string_tag(n->tt) ? n : NULL;
        else if (k == sb->kstr[CLP_K_VALUE_TYPE]) return 0;
    }
    return f->value && lt_plain_tag(f->value->tt);
}

/* Writes the hash-form Fields table at fidx from its nodes; 0 (nothing written) when it
 * cannot (see above). */
static int encode_in_place(lua_State *L, clp_sandbox *sb, int fidx) {
    size_t count = sb->key_cache_n;
    const lt_table *t = count < 2 ? NULL : clp_lt_table(L, fidx);
    if (!t) return 0;
    const char *const *seen = (const char *const *)sb->key_cache.data;
    const size_t *order = (const size_t *)(seen + count);
    sb->keys.len = 0;
    reserve(L, &sb->keys, count * (sizeof(const lt_node *) + sizeof(value_nodes)));
    const lt_node **nodes = (const lt_node **)sb->keys.data;
    value_nodes *values = (value_nodes *)(nodes + count); /* only when a value is a table */
    const lt_node *at = t->node, *end = lt_end(t), *n;
    size_t i = 0;
    int tables = 0;
    while ((n = lt_next(&at, end))) {
        if (i == count || !lt_string_tag(n->key_tt) || lt_chars(n->key.gc) != seen[i]) return 0;
        if (!lt_plain_tag(n->tt)) {
            if (n->tt != LT_TABLE) return 0;
            tables = 1;
        }
        nodes[i++] = n;
    }
    if (i != count) return 0;
    for (i = 0; tables && i < count; i++) {
        n = nodes[i];
        if (n->tt != LT_TABLE) values[i] = (value_nodes){n, NULL};
        else if (!value_table(sb, n->v.gc, &values[i])) return 0;
    }
    reserve(L, &sb->field_spans, count * sizeof(heka_field_slot));
    heka_field_slot *slots = (heka_field_slot *)(sb->field_spans.data + sb->field_spans.len);
    for (size_t j = 0; j < count; j++) {
        const lt_node *f = nodes[order[j]], *rep = NULL;
        const lt_string *k = f->key.gc;
        n = f;
        if (tables) {
            n = values[order[j]].value;
            rep = values[order[j]].rep;
        }
        field_value v = {NULL, 0, 0, 0};
        int vt = HEKA_VALUE_STRING;
        if (lt_string_tag(n->tt)) {
            v.s = lt_chars(n->v.gc);
            v.n = lt_len(n->v.gc, n->tt);
        } else if (n->tt == LT_INT) {
            vt = HEKA_VALUE_INTEGER;
            v.i = (int64_t)n->v.i;
        } else if (n->tt == LT_FLOAT) {
            vt = HEKA_VALUE_DOUBLE;
            v.d = (double)n->v.n;
        } else {
            vt = HEKA_VALUE_BOOL;
            v.i = n->tt == LT_TRUE;
        }
        const lt_string *r = rep ? rep->v.gc : NULL;
        slots[j] = write_field(L, sb, k->contents, lt_len(k, f->key_tt), vt, r ? r->contents : NULL, r ? lt_len(r, rep->tt) : 0, &v);
    }
    sb->field_spans.len += count * sizeof(heka_field_slot);
    clp_check_output_inline(L, sb, sb->out.len);
    return 1;
}
#else
static int encode_in_place(lua_State *L, clp_sandbox *sb, int fidx) { (void)L, (void)sb, (void)fidx; return 0; }
#endif

void clp_encode_fields(lua_State *L, int fidx) {
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
    if (encode_in_place(L, sb, fidx)) return;
    /* Hash form: one pass leaves every name and value on the stack, then names are sorted
     * so the output does not depend on Lua's table order. Names stay valid: the stack holds
     * them. */
    int base = lua_gettop(L);
    clp_buf *keys = &sb->keys;
    keys->len = 0;
    size_t count = 0;
    lua_pushnil(L);
    for (;;) {
        if ((count & 7) == 0) luaL_checkstack(L, 20, "too many fields"); /* 8 names and values, and lua_next's */
        if (!lua_next(L, fidx)) break; /* [.. name value] */
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s field names must be strings, got %s", clp_get(L)->encode_fname, luaL_typename(L, -2));
        key_ref k;
        k.s = lua_tolstring(L, -2, &k.n);
        k.vidx = base + 2 * (int)count + 2; /* after the names and values before it */
        if (clp_buf_add(keys, &k, sizeof k)) oom(L);
        count++;
        lua_pushvalue(L, -2); /* the name again, for lua_next */
    }
    key_ref *ks = sorted_keys(L, sb, base, count);
    for (size_t i = 0; i < count; i++) encode_field(L, ks[i].s, ks[i].n, ks[i].vidx);
    lua_settop(L, base);
}
