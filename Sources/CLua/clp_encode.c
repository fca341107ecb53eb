/* clp_encode.c: a Heka message table (Lua) -> Heka protobuf bytes, written straight
 * from the table into a C buffer (no intermediate tree).
 *
 * Same conventions as the Swift encoder: fields in field-number order, value_type
 * written only when not STRING, packed numeric arrays. Hash-form Fields are written in
 * name order, so output does not depend on Lua's (randomised) table order. The headers
 * are written here, the Fields by clp_encode_fields.c. */
#include <stddef.h>
#include <string.h>
#include "clp_encode.h"
#include "clp_encode_fields.h"
#include "clp_encode_wire.h"
#include "clp_limits.h"
#include "clp_lua_layout.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A Uuid the script set: 16 bytes, or 32 hex digits with or without dashes. */
static __attribute__((noinline, cold)) void uuid_from_lua(lua_State *L, int sidx, int t, unsigned char *u) {
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, sidx, &n);
        if (n == 16) {
            memcpy(u, s, 16);
            return;
        }
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
    } else {
        luaL_error(L, "%s Uuid must be a string", clp_get(L)->encode_fname);
    }
}

static void uuid_header(lua_State *L, clp_buf *b, int sidx, const unsigned char *def) {
    unsigned char u[16];
    int t = sidx ? lua_type(L, sidx) : LUA_TNIL;
    if (t != LUA_TNIL) uuid_from_lua(L, sidx, t, u);
    else memcpy(u, def, 16);
    put_bytes(L, b, HEKA_MESSAGE_UUID, (const char *)u, 16);
}

enum { H_UUID, H_TIMESTAMP, H_TYPE, H_LOGGER, H_SEVERITY, H_PAYLOAD, H_ENVVERSION, H_PID, H_HOSTNAME, H_FIELDS, H_COUNT };
_Static_assert(H_COUNT == CLP_HEADER_KEYS, "one interned name per header key");

const char *const clp_header_keys[CLP_HEADER_KEYS] = {"Uuid", "Timestamp", "Type", "Logger", "Severity",
                                                      "Payload", "EnvVersion", "Pid", "Hostname", "Fields"};

/* The header a key (its bytes) names, or -1. Every header's name is a short string,
 * which Lua interns: a key is one only if it is the very same string, so a pointer
 * compare each, with no call and no compare of bytes. */
static int header_index(const clp_sandbox *sb, const char *k) {
    for (int i = 0; i < H_COUNT; i++)
        if (sb->hstr[i] == k) return i;
    return -1;
}

/* The headers after Uuid, in field-number order: where a header's value (its slot),
 * default and place in the layout are. */
typedef struct {
    unsigned char field, is_int, slot;
    unsigned short def; /* offsetof(clp_defaults, the default) */
    unsigned short inh; /* offsetof(clp_message_headers, what a decoder inherits); 0: none */
    unsigned short lay; /* offsetof(clp_layout, its span, or its integer) */
    unsigned short has; /* offsetof(clp_layout, whether it was written): Severity and Pid */
    const char *name;
} header_spec;

/* Heka's decoders inherit every header but Payload and EnvVersion (inh 0; Uuid, which
 * sits at offset 0 of clp_message_headers, is not in this table). */
_Static_assert(offsetof(clp_message_headers, uuid) == 0, "inh 0 must name no inherited header");
static const header_spec HEADERS[] = {
    {HEKA_MESSAGE_TIMESTAMP, 1, H_TIMESTAMP, offsetof(clp_defaults, timestamp), offsetof(clp_message_headers, timestamp),
     offsetof(clp_layout, timestamp), 0, "Timestamp"},
    {HEKA_MESSAGE_TYPE, 0, H_TYPE, offsetof(clp_defaults, type), offsetof(clp_message_headers, type), offsetof(clp_layout, type), 0,
     "Type"},
    {HEKA_MESSAGE_LOGGER, 0, H_LOGGER, offsetof(clp_defaults, logger), offsetof(clp_message_headers, logger),
     offsetof(clp_layout, logger), 0, "Logger"},
    {HEKA_MESSAGE_SEVERITY, 1, H_SEVERITY, offsetof(clp_defaults, severity), offsetof(clp_message_headers, severity),
     offsetof(clp_layout, severity), offsetof(clp_layout, has_severity), "Severity"},
    {HEKA_MESSAGE_PAYLOAD, 0, H_PAYLOAD, offsetof(clp_defaults, payload), 0, offsetof(clp_layout, payload), 0, "Payload"},
    {HEKA_MESSAGE_ENV_VERSION, 0, H_ENVVERSION, offsetof(clp_defaults, env_version), 0, offsetof(clp_layout, env_version), 0,
     "EnvVersion"},
    {HEKA_MESSAGE_PID, 1, H_PID, offsetof(clp_defaults, pid), offsetof(clp_message_headers, pid), offsetof(clp_layout, pid),
     offsetof(clp_layout, has_pid), "Pid"},
    {HEKA_MESSAGE_HOSTNAME, 0, H_HOSTNAME, offsetof(clp_defaults, hostname), offsetof(clp_message_headers, hostname),
     offsetof(clp_layout, hostname), 0, "Hostname"},
};

/* The value the script gave a header (at stack index sidx): a string header takes a
 * string or a number (converted), an integer header a number or, with Lua's coercion as
 * Heka's sandbox applied it ("7", a grammar's digit capture of a Timestamp), a string
 * that is wholly a number. */
static __attribute__((noinline)) void header_value(lua_State *L, int sidx, const header_spec *h, clp_value *v) {
    int t = lua_type(L, sidx);
    if (!h->is_int) {
        if (t == LUA_TSTRING || t == LUA_TNUMBER) {
            v->type = CLP_V_STRING;
            v->s = lua_tolstring(L, sidx, &v->len);
            return;
        }
        luaL_error(L, "%s %s must be a string, got %s", clp_get(L)->encode_fname, h->name, lua_typename(L, t));
    }
    int idx = sidx;
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, sidx, &n);
        if (lua_stringtonumber(L, s) == n + 1) {
            idx = lua_gettop(L);
            t = LUA_TNUMBER;
        }
    }
    if (t != LUA_TNUMBER) luaL_error(L, "%s %s must be a number, got %s", clp_get(L)->encode_fname, h->name, lua_typename(L, t));
    v->type = CLP_V_INTEGER;
    v->i = to_int64(L, idx);
    if (idx != sidx) lua_pop(L, 1);
}

/* Writes one header (Type's bytes after a prefix, for filters) and notes its place in
 * the layout. Strings and integers share this one path: it runs for every header of
 * every injection, and its code is part of what a decoder keeps in the processor's
 * instruction cache, so it is one short loop body rather than a writer per header. */
static __attribute__((noinline)) void write_header(lua_State *L, clp_buf *b, const header_spec *h, const clp_value *v, const char *prefix,
                         size_t plen, clp_layout *lay) {
    char *to = (char *)lay + h->lay;
    if (v->type == CLP_V_STRING) {
        size_t n = plen + v->len;
        reserve(L, b, n + 11);
        unsigned char *base = (unsigned char *)b->data;
        unsigned char *p = base + b->len;
        *p++ = (unsigned char)HEKA_TAG(h->field, HEKA_WIRE_BYTES);
        p = wr_varint(p, n);
        *(clp_span *)to = (clp_span){(long)(p - base), (long)n};
        if (plen) memcpy(p, prefix, plen);
        copy_short(p + plen, v->s, v->len);
        b->len = (size_t)(p - base) + n;
        return;
    }
    if (v->type == CLP_V_INTEGER) {
        int64_t i = (int64_t)v->i;
        if (h->field != HEKA_MESSAGE_TIMESTAMP) i = (int32_t)i; /* Severity and Pid are int32 */
        reserve(L, b, 11);
        unsigned char *p = (unsigned char *)b->data + b->len;
        *p++ = (unsigned char)HEKA_TAG(h->field, HEKA_WIRE_VARINT);
        b->len = (size_t)(wr_varint(p, (uint64_t)i) - (unsigned char *)b->data);
        if (h->has) {
            *(int *)to = (int)i;
            *(int *)((char *)lay + h->has) = 1;
        } else {
            *(long long *)to = i;
        }
        return;
    }
    /* absent: nothing written */
    if (h->has) {
        *(int *)to = 0;
        *(int *)((char *)lay + h->has) = 0;
    } else if (h->is_int) {
        *(long long *)to = 0;
    } else {
        *(clp_span *)to = (clp_span){0, -1};
    }
}

/* The message table's headers through the API: each header's value pushed, its stack
 * index in slot. */
static void scan_stack(lua_State *L, const clp_sandbox *sb, int idx, int *slot) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int h = lua_type(L, -2) == LUA_TSTRING ? header_index(sb, lua_tostring(L, -2)) : -1;
        if (h >= 0 && !slot[h]) {
            lua_insert(L, -2); /* keep the value, key back on top */
            slot[h] = lua_gettop(L) - 1;
        } else {
            lua_pop(L, 1); /* other keys are ignored, as in Heka */
        }
    }
}

/* The same from the table's nodes (clp_lua_layout.h), without lua_next: a string
 * header's string and an integer header's integer are read there (into given, bit h of
 * *read); any other value (Uuid, Fields, a number Lua converts for a string header ...)
 * is pushed, as scan_stack does. 0 when the table cannot be read in place. */
static int scan_in_place(lua_State *L, const clp_sandbox *sb, int idx, int *slot, clp_value *given, unsigned *read) {
#if LUA_VERSION_NUM == 504
    enum { INTEGERS = 1u << H_TIMESTAMP | 1u << H_SEVERITY | 1u << H_PID, ON_STACK = 1u << H_UUID | 1u << H_FIELDS };
    const lt_table *t = clp_lt_table(L, idx);
    if (!t) return 0;
    const lt_node *found[H_COUNT];
    unsigned seen = 0;
    const lt_node *at = t->node, *end = lt_end(t), *n;
    while ((n = lt_next(&at, end))) {
        int h = n->key_tt == LT_SHORT ? header_index(sb, lt_chars(n->key.gc)) : -1;
        if (h >= 0) {
            found[h] = n;
            seen |= 1u << h;
        }
    }
    for (int h = 0; h < H_COUNT; h++) {
        if (!(seen >> h & 1)) continue;
        n = found[h];
        unsigned bit = 1u << h;
        if ((INTEGERS & bit) && n->tt == LT_INT) {
            given[h] = (clp_value){.type = CLP_V_INTEGER, .i = n->v.i};
            *read |= bit;
        } else if (!((INTEGERS | ON_STACK) & bit) && lt_string_tag(n->tt)) {
            given[h] = (clp_value){.type = CLP_V_STRING, .s = lt_chars(n->v.gc), .len = lt_len(n->v.gc, n->tt)};
            *read |= bit;
        } else {
            lua_rawgeti(L, LUA_REGISTRYINDEX, sb->href[h]);
            lua_rawget(L, idx);
            slot[h] = lua_gettop(L);
        }
    }
    return 1;
#else
    (void)L, (void)sb, (void)idx, (void)slot, (void)given, (void)read;
    return 0;
#endif
}

void clp_encode_table(lua_State *L, int idx, int for_encode) {
    clp_sandbox *sb = clp_get(L);
    sb->encode_fname = for_encode ? "encode_message()" : "inject_message()";
    idx = lua_absindex(L, idx);
    /* Where the headers' defaults are: a decoder's input (inherited), else what the host
     * filled in. */
    const clp_message_headers *inherited = NULL;
    const unsigned char *def_uuid;
    clp_defaults d;
    if (sb->kind == CLP_DECODER && !for_encode && sb->has_message && sb->injects_this_call == 0) {
        /* A decoder's first message inherits every unset header, Uuid included, from its
         * input: all at hand, no call into the host, and nothing copied. */
        static const unsigned char zero_uuid[16] = {0};
        inherited = clp_current_headers(sb);
        def_uuid = inherited->uuid.type == CLP_V_STRING && inherited->uuid.len == 16 ? (const unsigned char *)inherited->uuid.s
                                                                                    : zero_uuid;
        d.type_prefix_len = 0;
        d.force_logger = 0;
    } else {
        memset(&d, 0, sizeof d);
        sb->cb.defaults(sb->host, for_encode, &d);
        def_uuid = d.uuid;
    }
    /* One pass over the message table instead of a lookup per header: each header's
     * value read in place (bit h of `read`), or on the stack at slot[h]. */
    int slot[H_COUNT] = {0};
    clp_value given[H_COUNT];
    unsigned read = 0;
    int base = lua_gettop(L);
    luaL_checkstack(L, H_COUNT + 4, "stack overflow");
    if (!scan_in_place(L, sb, idx, slot, given, &read)) scan_stack(L, sb, idx, slot);
    /* Each header's place is noted as it is written (the layout handed to the host with
     * an injection, so that it need not scan the bytes again). One loop over the headers
     * rather than a written-out call for each: the encoder runs for every injection, and
     * its code is part of what a decoder keeps in the processor's instruction cache. */
    clp_buf *b = &sb->out;
    clp_layout *lay = &sb->layout;
    b->len = 0;
    sb->field_spans.len = 0;
    uuid_header(L, b, slot[H_UUID], def_uuid);
    lay->uuid = span_at(b, 0);
#pragma GCC unroll 1
    for (size_t i = 0; i < sizeof HEADERS / sizeof HEADERS[0]; i++) {
        static const clp_value empty = {.type = CLP_V_STRING, .s = "", .len = 0}, nil = {0};
        const header_spec *h = &HEADERS[i];
        int sidx = slot[h->slot];
        clp_value set;
        const clp_value *v = !inherited ? (const clp_value *)((const char *)&d + h->def)
                           : h->inh ? (const clp_value *)((const char *)inherited + h->inh)
                                    : &nil;
        const char *prefix = NULL;
        size_t plen = 0;
        int given_here = read >> h->slot & 1;
        if (h->field == HEKA_MESSAGE_LOGGER && d.force_logger) sidx = given_here = 0; /* filters: always the plugin's name */
        if (sidx) {
            header_value(L, sidx, h, &set);
            v = &set;
        } else if (given_here) {
            v = &given[h->slot];
        }
        if (h->field == HEKA_MESSAGE_TYPE && d.type_prefix_len) {
            /* filters: "heka.sandbox." before the script's Type, and alone without one */
            prefix = d.type_prefix;
            plen = d.type_prefix_len;
            if (!sidx && !given_here) v = &empty;
        }
        write_header(L, b, h, v, prefix, plen, lay);
    }
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
