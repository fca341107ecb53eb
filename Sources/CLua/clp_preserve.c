/* clp_preserve.c: preserve_data. The script's globals are written as Lua source,
 *     _G["count"] = 42
 *     _G["t"] = {}
 *     _G["t"]["a"] = 1.5
 *     _G["alias"] = _G["t"]      -- shared tables stay shared, cycles are fine
 *     _G["data"] = __clp_userdata("circular_buffer", "...")   -- userdata that can preserve itself
 * skipping functions, threads, other userdata, the environment and required modules.
 * Restoring runs this text in a scratch table (clp_sandbox_restore). Both entries run
 * here, with the limits lifted (preserve) or bounded for the data (restore). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clp_env.h"
#include "clp_limits.h"
#include "clp_preserve.h"

static void out(lua_State *L, clp_buf *b, const char *s, size_t n) {
    if (clp_buf_add(b, s, n)) luaL_error(L, "preserve_data() out of memory");
}

static void outs(lua_State *L, clp_buf *b, const char *s) {
    out(L, b, s, strlen(s));
}

static void quote(lua_State *L, clp_buf *b, const char *s, size_t n) {
    out(L, b, "\"", 1);
    size_t plain = 0; /* start of the run of bytes copied as they are */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        int special = c == '"' || c == '\\' || c == '\n' || c < 0x20 || c == 0x7F;
        if (!special) continue;
        if (i > plain) out(L, b, s + plain, i - plain);
        plain = i + 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            out(L, b, esc, 2);
        } else if (c == '\n') {
            out(L, b, "\\n", 2);
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof esc, "\\%03d", c); /* three digits: safe before a digit */
            out(L, b, esc, 4);
        }
    }
    if (n > plain) out(L, b, s + plain, n - plain);
    out(L, b, "\"", 1);
}

/* Writes a key or scalar value; returns 0 for types that are not serialized. */
static int scalar(lua_State *L, clp_buf *b, int idx) {
    char num[64];
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        quote(L, b, s, n);
        return 1;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            lua_Integer i = lua_tointeger(L, idx);
            if (i == LUA_MININTEGER) outs(L, b, "math.mininteger");
            else {
                snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)i);
                outs(L, b, num);
            }
        } else {
            double d = (double)lua_tonumber(L, idx);
            if (isnan(d)) outs(L, b, "(0/0)");
            else if (isinf(d)) outs(L, b, d > 0 ? "math.huge" : "-math.huge");
            else {
                snprintf(num, sizeof num, "%.17g", d);
                outs(L, b, num);
                if (!strpbrk(num, ".eEn")) outs(L, b, ".0"); /* keep 3.0 a float */
            }
        }
        return 1;
    case LUA_TBOOLEAN:
        outs(L, b, lua_toboolean(L, idx) ? "true" : "false");
        return 1;
    default:
        return 0;
    }
}

static int serializable_key(lua_State *L, int idx) {
    int t = lua_type(L, idx);
    if (t == LUA_TNUMBER && !lua_isinteger(L, idx)) {
        double d = (double)lua_tonumber(L, idx);
        return !isnan(d);
    }
    return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN;
}

/* A userdata that preserves itself: __clp_userdata(KIND, TEXT), rebuilt on restore by
 * the restorer its module registered. */
static void userdata_value(lua_State *L, clp_buf *b, int v) {
    luaL_getmetafield(L, v, CLP_META_KIND);
    luaL_getmetafield(L, v, CLP_META_PRESERVE);
    lua_pushvalue(L, v);
    lua_call(L, 1, 1);
    size_t kl, tl;
    const char *kind = lua_tolstring(L, -2, &kl);
    const char *text = lua_tolstring(L, -1, &tl);
    if (!kind || !text) luaL_error(L, "preserve_data() userdata without a kind or text");
    outs(L, b, "__clp_userdata(");
    quote(L, b, kind, kl);
    outs(L, b, ", ");
    quote(L, b, text, tl);
    outs(L, b, ")\n");
    lua_pop(L, 2);
}

/* Stack: seen (table -> path string) at `seen`, skip set at `skipset`. Serializes the
 * table at `tidx`, whose path (e.g. _G["t"]) is the string at `pidx`. */
static void table_body(lua_State *L, clp_buf *b, int tidx, int pidx, int seen, int skipset, int depth) {
    if (depth > 200) luaL_error(L, "preserve_data() tables nested deeper than 200");
    luaL_checkstack(L, 16, "preserve_data() tables nested too deep");
    lua_pushnil(L);
    while (lua_next(L, tidx)) {
        int k = lua_gettop(L) - 1, v = k + 1;
        int vt = lua_type(L, v);
        /* only a C function the host installed (scripts cannot reach those metatables) */
        int preservable = vt == LUA_TUSERDATA && luaL_getmetafield(L, v, CLP_META_PRESERVE) == LUA_TFUNCTION && lua_iscfunction(L, -1);
        if (vt == LUA_TUSERDATA && lua_gettop(L) > v) lua_settop(L, v);
        int skip = !serializable_key(L, k) || vt == LUA_TFUNCTION || (vt == LUA_TUSERDATA && !preservable) || vt == LUA_TTHREAD ||
                   vt == LUA_TLIGHTUSERDATA;
        if (!skip && vt == LUA_TTABLE) {
            lua_pushvalue(L, v);
            skip = lua_rawget(L, skipset) != LUA_TNIL;
            lua_pop(L, 1);
        }
        if (!skip && depth == 0) {
            /* a global still holding its initial value is environment, not state */
            lua_getfield(L, LUA_REGISTRYINDEX, CLP_REG_INITIAL);
            lua_pushvalue(L, k);
            lua_rawget(L, -2);
            skip = lua_rawequal(L, -1, v);
            lua_pop(L, 2);
        }
        if (skip) {
            lua_pop(L, 1);
            continue;
        }
        if (vt != LUA_TUSERDATA && vt != LUA_TTABLE) {
            /* a scalar: its path is written straight out (no string made for it) */
            size_t pl;
            const char *ps = lua_tolstring(L, pidx, &pl);
            out(L, b, ps, pl);
            out(L, b, "[", 1);
            scalar(L, b, k);
            out(L, b, "] = ", 4);
            scalar(L, b, v);
            outs(L, b, "\n");
            lua_settop(L, k);
            continue;
        }
        /* path of this entry (kept in `seen` for the tables and userdata met again) */
        clp_buf key = {0};
        scalar(L, &key, k);
        lua_pushvalue(L, pidx);
        lua_pushliteral(L, "[");
        lua_pushlstring(L, key.data, key.len);
        lua_pushliteral(L, "]");
        lua_concat(L, 4);
        clp_buf_free(&key);
        int path = lua_gettop(L);
        size_t pl;
        const char *ps = lua_tolstring(L, path, &pl);
        out(L, b, ps, pl);
        outs(L, b, " = ");
        lua_pushvalue(L, v);
        if (lua_rawget(L, seen) == LUA_TSTRING) {
            /* seen before: the same object, by its first path (shared stays shared) */
            size_t sl;
            const char *s = lua_tolstring(L, -1, &sl);
            out(L, b, s, sl);
            outs(L, b, "\n");
            lua_pop(L, 1);
        } else {
            lua_pop(L, 1);
            lua_pushvalue(L, v);
            lua_pushvalue(L, path);
            lua_rawset(L, seen);
            if (vt == LUA_TUSERDATA) {
                userdata_value(L, b, v);
            } else {
                outs(L, b, "{}\n");
                table_body(L, b, v, path, seen, skipset, depth + 1);
            }
        }
        lua_settop(L, k);
    }
}

static int serialize_globals(lua_State *L, clp_buf *b) {
    lua_settop(L, 1);
    lua_newtable(L);                                 /* 2: seen */
    lua_getfield(L, LUA_REGISTRYINDEX, CLP_REG_SKIP);  /* 3: skip set */
    lua_pushglobaltable(L);                          /* 4: _G */
    lua_pushliteral(L, "_G");                        /* 5: path */
    lua_pushvalue(L, 4);
    lua_pushvalue(L, 5);
    lua_rawset(L, 2);
    table_body(L, b, 4, 5, 2, 3, 0);
    return 0;
}

static int preserve_trampoline(lua_State *L) {
    clp_buf *out = lua_touserdata(L, 1);
    return serialize_globals(L, out);
}

int clp_sandbox_preserve(clp_sandbox *sb, char **out, size_t *len) {
    lua_State *L = sb->L;
    clp_buf b = {0};
    *out = NULL;
    *len = 0;
    clp_limits_lift(sb);
    lua_settop(L, 0);
    lua_pushcfunction(L, preserve_trampoline);
    lua_pushlightuserdata(L, &b);
    int rc = lua_pcall(L, 1, 0, 0);
    clp_limits_reinstate(sb);
    if (rc != LUA_OK) {
        /* The state cannot be saved, but the script is intact and goes on running: the
         * reason is handed back in *out. Nothing here trips a limit (they are lifted). */
        *out = strdup(lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "preserve_data() failed");
        lua_settop(L, 0);
        clp_buf_free(&b);
        return CLP_PRESERVE_FAILED;
    }
    *out = b.data;
    *len = b.len;
    return CLP_OK;
}

/* __clp_userdata(kind, text): rebuilds a preserved userdata with the restorer its
 * module registered (circular_buffer). */
static int restore_userdata(lua_State *L) {
    const char *kind = luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, CLP_REG_RESTORERS);
    if (lua_getfield(L, -1, kind) != LUA_TFUNCTION) {
        /* its module is not loaded yet: load it the way the script would */
        lua_pop(L, 1);
        lua_getglobal(L, "require");
        lua_pushstring(L, kind);
        lua_call(L, 1, 0);
        if (lua_getfield(L, -1, kind) != LUA_TFUNCTION) return luaL_error(L, "preserved %s cannot be restored", kind);
    }
    lua_pushvalue(L, 2);
    lua_call(L, 1, 1);
    return 1;
}

/* Runs the preserved chunk in a scratch environment T (T._G = T), then copies T into
 * the real globals only when _PRESERVATION_VERSION matches. */
static int restore_trampoline(lua_State *L) {
    const char *data = lua_touserdata(L, 1);
    size_t len = (size_t)lua_tointeger(L, 2);
    lua_settop(L, 0);
    if (luaL_loadbufferx(L, data, len, "=preserved data", "t") != LUA_OK) return lua_error(L);
    lua_newtable(L); /* T at 2 */
    lua_pushvalue(L, 2);
    lua_setfield(L, 2, "_G");
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "math");
    lua_setfield(L, 2, "math");
    lua_pop(L, 1);
    lua_pushcfunction(L, restore_userdata);
    lua_setfield(L, 2, "__clp_userdata");
    lua_pushvalue(L, 2);
    lua_setupvalue(L, 1, 1);
    lua_pushvalue(L, 1);
    lua_call(L, 0, 0);
    lua_remove(L, 1); /* T at 1 */
    lua_pushglobaltable(L); /* G at 2 */
    lua_getfield(L, 1, "_PRESERVATION_VERSION");
    lua_pushliteral(L, "_PRESERVATION_VERSION");
    lua_rawget(L, 2);
    lua_Number saved = lua_tonumber(L, -2), current = lua_tonumber(L, -1);
    lua_pop(L, 2);
    if (saved != current) {
        lua_pushboolean(L, 0);
        return 1;
    }
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "math");
    lua_replace(L, 3); /* math lib at 3 */
    lua_settop(L, 3);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        int skip = 0;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            if (strcmp(k, "_G") == 0 && lua_rawequal(L, -1, 1)) skip = 1;
            if (strcmp(k, "math") == 0 && lua_rawequal(L, -1, 3)) skip = 1;
            if (strcmp(k, "__clp_userdata") == 0) skip = 1;
        }
        if (!skip) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, 2);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int clp_sandbox_restore(clp_sandbox *sb, const char *data, size_t len, char **err) {
    lua_State *L = sb->L;
    *err = NULL;
    if (sb->terminated) return CLP_TERMINATED;
    /* Preserved data is straight-line code: bound it anyway (a corrupt or edited file
     * must not hang or exhaust the host), with room for the transient copy it makes. */
    clp_limits_begin(sb, "");
    sb->trip_ends_call_only = 1;
    sb->mem_limit_now = sb->limits.memory_limit ? sb->limits.memory_limit * 2 : 0;
    unsigned long long saved_limit = sb->limits.instruction_limit;
    sb->limits.instruction_limit = 1000000ULL + 20ULL * len;
    lua_settop(L, 0);
    lua_pushcfunction(L, restore_trampoline);
    lua_pushlightuserdata(L, (void *)data);
    lua_pushinteger(L, (lua_Integer)len);
    int rc = lua_pcall(L, 2, 1, 0);
    clp_limits_leave(sb);
    sb->trip_ends_call_only = 0;
    sb->limits.instruction_limit = saved_limit;
    clp_limits_reinstate(sb);
    sb->has_deadline = 0;
    int result = CLP_OK;
    if (rc != LUA_OK || sb->mem_pending || sb->tripped) {
        const char *why = sb->tripped ? sb->err
                        : (rc == LUA_ERRMEM || sb->mem_pending) ? "memory_limit exceeded"
                        : lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "preserved data did not load";
        *err = strdup(why);
        result = CLP_PRESERVE_FAILED;
        /* Only the scratch table was touched: the script's own state is intact, so the
         * sandbox goes on without the preserved data, and the trip ends with this call. */
        sb->tripped = 0;
        sb->err[0] = 0;
        sb->mem_pending = 0;
        clp_limits_rehook(sb);
    } else if (!lua_toboolean(L, -1)) {
        result = CLP_MISSING;
    }
    lua_settop(L, 0);
    return result;
}
