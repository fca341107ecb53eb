/* clp_api.c: Heka's Lua API (read_message, inject_message, inject_payload,
 * add_to_payload, read_config, read_next_field, decode_message, encode_message,
 * write_message). Values come from the host as plain clp_values and are pushed here;
 * host refusals become Lua errors raised here, in C. */
#include <stdio.h>
#include <string.h>
#include "clp_api.h"
#include "clp_decode.h"
#include "clp_encode.h"
#include "clp_limits.h"
#include "heka_wire.h"

static void push_value(lua_State *L, const clp_value *v) {
    switch (v->type) {
    case CLP_V_STRING: lua_pushlstring(L, v->s ? v->s : "", v->len); break;
    case CLP_V_INTEGER: lua_pushinteger(L, (lua_Integer)v->i); break;
    case CLP_V_DOUBLE: lua_pushnumber(L, v->d); break;
    case CLP_V_BOOL: lua_pushboolean(L, (int)v->i); break;
    default: lua_pushnil(L); break;
    }
}

/* Maps a read_message/write_message name to a CLP_RM_ code (0 when unknown). */
static int parse_name(const char *s, size_t n, const char **field, size_t *flen) {
    static const struct { const char *name; int code; } names[] = {
        {"Payload", CLP_RM_PAYLOAD}, {"Type", CLP_RM_TYPE}, {"Logger", CLP_RM_LOGGER},
        {"Timestamp", CLP_RM_TIMESTAMP}, {"Severity", CLP_RM_SEVERITY}, {"Hostname", CLP_RM_HOSTNAME},
        {"Uuid", CLP_RM_UUID}, {"Pid", CLP_RM_PID}, {"EnvVersion", CLP_RM_ENVVERSION},
        {"raw", CLP_RM_RAW}, {"framed", CLP_RM_FRAMED}, {"size", CLP_RM_SIZE},
    };
    *field = NULL;
    *flen = 0;
    if (n > 8 && memcmp(s, "Fields[", 7) == 0 && s[n - 1] == ']') {
        *field = s + 7;
        *flen = n - 8;
        return CLP_RM_FIELD;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0) return names[i].code;
    return 0;
}

/* A string header as Heka's sandbox read it: "" when the message has none. */
static void push_header_string(lua_State *L, const clp_value *v) {
    if (v->type == CLP_V_NIL) lua_pushliteral(L, "");
    else push_value(L, v);
}

/* The Uuid as Heka's sandbox read it: 36 characters, lower-case hex with dashes. */
static void push_uuid_text(lua_State *L, const clp_value *v) {
    if (v->type != CLP_V_STRING || v->len != 16) {
        push_value(L, v);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    char text[36];
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) text[o++] = '-';
        unsigned char b = (unsigned char)v->s[i];
        text[o++] = hex[b >> 4];
        text[o++] = hex[b & 15];
    }
    lua_pushlstring(L, text, sizeof text);
}

static int api_read_message(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    int argc = lua_gettop(L);
    if (argc < 1 || argc > 3) return luaL_error(L, "read_message() incorrect number of arguments");
    size_t n;
    const char *name = luaL_checklstring(L, 1, &n);
    /* Heka's indices were numbers cut toward zero (1.7 is 1). */
    /* Most calls name a header or a field alone: no index to read. */
    lua_Number fn = argc >= 2 ? luaL_optnumber(L, 2, 0) : 0, an = argc >= 3 ? luaL_optnumber(L, 3, 0) : 0;
    luaL_argcheck(L, fn >= 0 && fn < 2147483648.0, 2, "field index must be >= 0");
    luaL_argcheck(L, an >= 0 && an < 2147483648.0, 3, "array index must be >= 0");
    lua_Integer fi = (lua_Integer)fn, ai = (lua_Integer)an;
    const char *field;
    size_t flen;
    int what = parse_name(name, n, &field, &flen);
    if (!what) {
        lua_pushnil(L);
        return 1;
    }
    /* raw and size of a message not built yet (a decoder's record) come from the host */
    int built = sb->msg_headers.raw != NULL || (what != CLP_RM_RAW && what != CLP_RM_SIZE);
    if (sb->has_message && built && what != CLP_RM_FIELD && what != CLP_RM_FRAMED) {
        const clp_message_headers *h = clp_current_headers(sb);
        switch (what) {
        case CLP_RM_UUID: push_uuid_text(L, &h->uuid); break;
        case CLP_RM_TIMESTAMP: push_value(L, &h->timestamp); break;
        case CLP_RM_TYPE: push_header_string(L, &h->type); break;
        case CLP_RM_LOGGER: push_header_string(L, &h->logger); break;
        case CLP_RM_SEVERITY:
            if (h->severity.type == CLP_V_NIL) lua_pushinteger(L, 7); /* Heka's default */
            else push_value(L, &h->severity);
            break;
        case CLP_RM_PAYLOAD: push_header_string(L, &h->payload); break;
        case CLP_RM_ENVVERSION: push_header_string(L, &h->env_version); break;
        case CLP_RM_PID: push_value(L, &h->pid); break;
        case CLP_RM_HOSTNAME: push_header_string(L, &h->hostname); break;
        case CLP_RM_RAW: lua_pushlstring(L, h->raw, h->size); break;
        case CLP_RM_SIZE: lua_pushinteger(L, (lua_Integer)h->size); break;
        default: lua_pushnil(L); break;
        }
        return 1;
    }
    clp_value v = {0};
    if (what == CLP_RM_FIELD && sb->has_message && sb->msg_headers.raw) {
        /* a field of a built message: found by its slot and read in place, no host call */
        const clp_message_headers *h = &sb->msg_headers;
        if (clp_find_field((const unsigned char *)h->raw, h->size, h->fields, h->field_count, field, flen, (long)fi, (long)ai, &v) >= 0) {
            push_value(L, &v); /* nil when there is none */
            return 1;
        }
        v = (clp_value){0};
    }
    if (sb->cb.read_message(sb->host, what, field, flen, (int)fi, (int)ai, &v) != CLP_HOST_OK) v.type = CLP_V_NIL;
    push_value(L, &v);
    return 1;
}

static int api_read_next_field(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    clp_value name = {0}, value = {0}, rep = {0};
    int vt = 0, count = 0;
    if (lua_gettop(L) != 0) return luaL_error(L, "read_next_field() takes no arguments");
    if (sb->cb.read_next_field(sb->host, &name, &value, &rep, &vt, &count) != CLP_HOST_OK) {
        for (int i = 0; i < 5; i++) lua_pushnil(L); /* Heka's five nils after the last field */
        return 5;
    }
    lua_pushinteger(L, vt);
    push_value(L, &name);
    push_value(L, &value);
    if (rep.type == CLP_V_STRING) push_value(L, &rep);
    else lua_pushliteral(L, "");
    lua_pushinteger(L, count);
    return 5;
}

static int api_read_config(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    if (lua_gettop(L) != 1) return luaL_error(L, "read_config() must have a single argument");
    size_t n;
    const char *key = luaL_checklstring(L, 1, &n);
    clp_value v = {0};
    if (sb->cb.read_config(sb->host, key, n, &v) != CLP_HOST_OK) v.type = CLP_V_NIL;
    if (v.type != CLP_V_TABLE) {
        push_value(L, &v);
        return 1;
    }
    /* A fresh table on every call, so a script changing it never changes the setting. */
    if (luaL_loadbufferx(L, v.s, v.len, "=read_config", "t") != LUA_OK) return lua_error(L);
    lua_newtable(L);
    lua_setupvalue(L, -2, 1);
    lua_call(L, 0, 1);
    return 1;
}

/* Hands data to the host; raises its refusal. */
static void deliver(lua_State *L, const char *fname, int kind, const char *data, size_t len, const char *pt,
                    size_t ptl, const char *pn, size_t pnl) {
    clp_sandbox *sb = clp_get(L);
    char err[256] = {0};
    int rc = sb->cb.inject(sb->host, kind, data, len, pt, ptl, pn, pnl, err, sizeof err);
    sb->layout_valid = 0; /* the layout describes this injection only */
    if (rc == CLP_HOST_OK) return;
    if (rc == CLP_HOST_FATAL) {
        char buf[CLP_ERR_SIZE];
        luaL_where(L, 1);
        snprintf(buf, sizeof buf, "%s%s %s", lua_tostring(L, -1), fname, err);
        lua_pop(L, 1);
        clp_mark_terminated(sb, buf);
        clp_check_limits(L);
    }
    luaL_error(L, "%s %s", fname, err);
}

static int api_inject_message(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    clp_check_limits(L);
    int t = lua_gettop(L) == 1 ? lua_type(L, 1) : LUA_TNONE;
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, 1, &n);
        clp_check_output(L, n);
        deliver(L, "inject_message()", CLP_INJECT_RAW, s, n, NULL, 0, NULL, 0);
        sb->injects_this_call++;
    } else if (t == LUA_TTABLE) {
        clp_encode_table(L, 1, 0);
        sb->layout_valid = 1;
        deliver(L, "inject_message()", CLP_INJECT_MESSAGE, sb->out.data, sb->out.len, NULL, 0, NULL, 0);
        sb->injects_this_call++;
    } else {
        return luaL_error(L, "inject_message() takes a single string or table argument");
    }
    return 0;
}

/* Appends arguments first..top to the payload buffer (Heka's output semantics). */
static void add_values(lua_State *L, int first) {
    clp_sandbox *sb = clp_get(L);
    int top = lua_gettop(L);
    for (int i = first; i <= top; i++) {
        size_t n;
        const char *s;
        switch (lua_type(L, i)) {
        case LUA_TSTRING:
            s = lua_tolstring(L, i, &n);
            break;
        case LUA_TNUMBER: {
            char num[64];
            if (lua_isinteger(L, i)) n = (size_t)snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, i));
            else n = clp_heka_number(num, (double)lua_tonumber(L, i));
            lua_pushlstring(L, num, n);
            lua_replace(L, i);
            s = lua_tolstring(L, i, &n);
            break;
        }
        case LUA_TBOOLEAN:
            s = lua_toboolean(L, i) ? "true" : "false";
            n = strlen(s);
            break;
        case LUA_TNIL: /* Heka's sandbox wrote nil as text too */
            s = "nil";
            n = 3;
            break;
        case LUA_TUSERDATA:
            /* Output-capable userdata (circular_buffer) provide __clp_output. */
            if (luaL_getmetafield(L, i, CLP_META_OUTPUT) == LUA_TFUNCTION && lua_iscfunction(L, -1)) {
                lua_pushvalue(L, i);
                lua_call(L, 1, 1);
                if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "add_to_payload() userdata output is not a string");
                lua_replace(L, i);
                s = lua_tolstring(L, i, &n);
                break;
            }
            /* fallthrough */
        default:
            /* Heka's wording, its spelling included; the function is the caller's. */
            luaL_argerror(L, i, "unsuported type");
            return;
        }
        if (sb->limits.output_limit && sb->payload.len + n > sb->limits.output_limit) {
            sb->payload.len = 0;
            clp_check_output(L, sb->limits.output_limit + 1);
        }
        if (clp_buf_add(&sb->payload, s, n)) luaL_error(L, "add_to_payload() out of memory");
        clp_check_output(L, sb->payload.len);
    }
}

static int api_add_to_payload(lua_State *L) {
    clp_check_limits(L);
    if (lua_gettop(L) == 0) return luaL_argerror(L, 0, "must have at least one argument");
    add_values(L, 1);
    return 0;
}

static int api_inject_payload(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    clp_check_limits(L);
    size_t ptl = 3, pnl = 0;
    /* Given arguments must be strings (numbers convert), nil included: Heka's checks. */
    const char *pt = lua_gettop(L) >= 1 ? luaL_checklstring(L, 1, &ptl) : "txt";
    const char *pn = lua_gettop(L) >= 2 ? luaL_checklstring(L, 2, &pnl) : "";
    if (ptl == 0) { pt = "txt"; ptl = 3; }
    if (lua_gettop(L) > 2) add_values(L, 3);
    size_t len = sb->payload.len;
    sb->payload.len = 0; /* the payload is handed over or dropped, never kept */
    if (len == 0) return 0; /* as in Heka, an empty payload is not injected */
    deliver(L, "inject_payload()", CLP_INJECT_PAYLOAD, sb->payload.data, len, pt, ptl, pn, pnl);
    sb->injects_this_call++;
    return 0;
}

static int api_decode_message(lua_State *L) {
    if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING) return luaL_argerror(L, 0, "must have one string argument");
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    return clp_push_decoded(L, (const unsigned char *)s, n);
}

static int api_encode_message(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    int framed = lua_toboolean(L, 2);
    clp_encode_table(L, 1, 1);
    if (!framed) {
        lua_pushlstring(L, sb->out.data, sb->out.len);
        return 1;
    }
    uint8_t hdr[HEKA_FRAME_HEADER_MAX];
    size_t h = heka_frame_header(hdr, sb->out.len);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, (const char *)hdr, h);
    luaL_addlstring(&b, sb->out.data, sb->out.len);
    luaL_pushresult(&b);
    return 1;
}

static int api_write_message(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    size_t n;
    int argc = lua_gettop(L);
    if (argc < 2 || argc > 5) return luaL_error(L, "write_message() incorrect number of arguments");
    const char *name = luaL_checklstring(L, 1, &n);
    clp_value v = {0};
    /* Heka read the numeric headers with Lua's number conversion: "4" is 4. */
    int numeric_header = (n == 9 && memcmp(name, "Timestamp", 9) == 0) || (n == 8 && memcmp(name, "Severity", 8) == 0)
                         || (n == 3 && memcmp(name, "Pid", 3) == 0);
    if (numeric_header && lua_type(L, 2) == LUA_TSTRING && lua_stringtonumber(L, lua_tostring(L, 2)) != 0) lua_replace(L, 2);
    switch (lua_type(L, 2)) {
    case LUA_TSTRING: v.type = CLP_V_STRING; v.s = lua_tolstring(L, 2, &v.len); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, 2)) { v.type = CLP_V_INTEGER; v.i = lua_tointeger(L, 2); }
        else { v.type = CLP_V_DOUBLE; v.d = lua_tonumber(L, 2); }
        break;
    case LUA_TBOOLEAN: v.type = CLP_V_BOOL; v.i = lua_toboolean(L, 2); break;
    case LUA_TNIL: v.type = CLP_V_NIL; break;
    default: return luaL_error(L, "write_message() unsupported value type: %s", luaL_typename(L, 2));
    }
    size_t rl;
    const char *rep = luaL_optlstring(L, 3, "", &rl);
    lua_Integer fi = luaL_optinteger(L, 4, 0), ai = luaL_optinteger(L, 5, 0);
    if (fi < 0) return luaL_error(L, "write_message() field index must be >= 0");
    if (ai < 0) return luaL_error(L, "write_message() array index must be >= 0");
    const char *field;
    size_t flen;
    int what = parse_name(name, n, &field, &flen);
    if (!what || what >= CLP_RM_RAW) return luaL_error(L, "write_message() invalid field name");
    char err[256] = {0};
    if (sb->cb.write_message(sb->host, what, field, flen, &v, rep, rl, (int)fi, (int)ai, err, sizeof err) != CLP_HOST_OK)
        return luaL_error(L, "write_message() %s", err);
    return 0;
}

void clp_register_api(lua_State *L, clp_kind kind) {
    lua_register(L, "read_message", api_read_message);
    lua_register(L, "read_next_field", api_read_next_field);
    lua_register(L, "read_config", api_read_config);
    lua_register(L, "inject_message", api_inject_message);
    lua_register(L, "inject_payload", api_inject_payload);
    lua_register(L, "add_to_payload", api_add_to_payload);
    lua_register(L, "decode_message", api_decode_message);
    lua_register(L, "encode_message", api_encode_message);
    if (kind != CLP_FILTER) lua_register(L, "write_message", api_write_message);
}
