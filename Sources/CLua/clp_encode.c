/* clp_encode.c: a Heka message table (Lua) -> Heka protobuf bytes, written straight
 * from the table into a C buffer (no intermediate tree).
 *
 * Same conventions as the Swift encoder: fields in field-number order, value_type
 * written only when not STRING, packed numeric arrays. Hash-form Fields are written in
 * name order, so output does not depend on Lua's (randomised) table order. The headers
 * are written here, the Fields by clp_encode_fields.c. */
#include <string.h>
#include "clp_encode.h"
#include "clp_encode_fields.h"
#include "clp_encode_wire.h"
#include "clp_limits.h"

static void put_value(lua_State *L, clp_buf *b, int field, const clp_value *v) {
    if (v->type == CLP_V_STRING) put_bytes(L, b, field, v->s, v->len);
    else if (v->type == CLP_V_INTEGER) {
        put_tag(L, b, field, HEKA_WIRE_VARINT);
        put_varint(L, b, (uint64_t)v->i);
    }
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

static void int_header(lua_State *L, clp_buf *b, int sidx, const char *key, int field, const clp_value *def) {
    int t = sidx ? lua_type(L, sidx) : LUA_TNIL;
    int idx = sidx;
    if (t == LUA_TSTRING) {
        /* Lua's numeric-string coercion, as Heka's sandbox applied it ("7", a grammar's
         * digit capture of a Timestamp); the whole string must be the number */
        size_t n;
        const char *s = lua_tolstring(L, sidx, &n);
        if (lua_stringtonumber(L, s) == n + 1) {
            idx = lua_gettop(L);
            t = LUA_TNUMBER;
        }
    }
    if (t == LUA_TNUMBER) {
        int64_t v = to_int64(L, idx);
        if (idx != sidx) lua_pop(L, 1);
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
        const clp_message_headers *h = clp_current_headers(sb);
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
    /* Each header's place is noted as it is written (the layout handed to the host with
     * an injection, so that it need not scan the bytes again). */
    clp_buf *b = &sb->out;
    clp_layout *lay = &sb->layout;
    long long v;
    size_t at;
    b->len = 0;
    sb->field_spans.len = 0;
    uuid_header(L, b, slot[H_UUID], &d);
    lay->uuid = span_at(b, 0);
    at = b->len;
    int_header(L, b, slot[H_TIMESTAMP], "Timestamp", HEKA_MESSAGE_TIMESTAMP, &d.timestamp);
    lay->timestamp = varint_at(b, at, &v) ? v : 0;
    at = b->len;
    string_header(L, b, slot[H_TYPE], "Type", HEKA_MESSAGE_TYPE, &d.type, d.type_prefix, d.type_prefix_len);
    lay->type = span_at(b, at);
    at = b->len;
    if (d.force_logger) put_value(L, b, HEKA_MESSAGE_LOGGER, &d.logger);
    else string_header(L, b, slot[H_LOGGER], "Logger", HEKA_MESSAGE_LOGGER, &d.logger, NULL, 0);
    lay->logger = span_at(b, at);
    at = b->len;
    int_header(L, b, slot[H_SEVERITY], "Severity", HEKA_MESSAGE_SEVERITY, &d.severity);
    lay->has_severity = varint_at(b, at, &v);
    lay->severity = lay->has_severity ? (int)(int32_t)v : 0;
    at = b->len;
    string_header(L, b, slot[H_PAYLOAD], "Payload", HEKA_MESSAGE_PAYLOAD, &d.payload, NULL, 0);
    lay->payload = span_at(b, at);
    at = b->len;
    string_header(L, b, slot[H_ENVVERSION], "EnvVersion", HEKA_MESSAGE_ENV_VERSION, &d.env_version, NULL, 0);
    lay->env_version = span_at(b, at);
    at = b->len;
    int_header(L, b, slot[H_PID], "Pid", HEKA_MESSAGE_PID, &d.pid);
    lay->has_pid = varint_at(b, at, &v);
    lay->pid = lay->has_pid ? (int)(int32_t)v : 0;
    at = b->len;
    string_header(L, b, slot[H_HOSTNAME], "Hostname", HEKA_MESSAGE_HOSTNAME, &d.hostname, NULL, 0);
    lay->hostname = span_at(b, at);
    clp_check_output(L, b->len);
    if (slot[H_FIELDS]) {
        int t = lua_type(L, slot[H_FIELDS]);
        if (t == LUA_TTABLE) clp_encode_fields(L, slot[H_FIELDS]);
        else if (t != LUA_TNIL) luaL_error(L, "%s Fields must be a table", clp_get(L)->encode_fname);
    }
    lay->fields = (const heka_field_slot *)sb->field_spans.data;
    lay->field_count = sb->field_spans.len / sizeof(heka_field_slot);
    lua_settop(L, base);
}

const clp_layout *clp_sandbox_injected_layout(clp_sandbox *sb) {
    return sb->layout_valid ? &sb->layout : NULL;
}
