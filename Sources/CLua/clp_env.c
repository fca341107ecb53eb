/* clp_env.c: the restricted environment (an allow-list) and the wrappers that keep
 * limits in force inside pcall, xpcall, coroutines and metatables.
 *
 * Holes closed here:
 *  - pcall/xpcall/coroutine.resume swallow errors: after each, a tripped limit is
 *    raised again (clp_check_limits), so a caught limit still ends the plugin;
 *  - an xpcall message handler raised by the count hook would run with hooks off:
 *    once a limit has tripped the handler is skipped;
 *  - __gc finalizers run with hooks off and cannot be stopped: setmetatable refuses a
 *    metatable with a __gc field (Lua only registers finalizers at setmetatable time);
 *  - binary chunks can break the VM: load is text only, string.dump is gone;
 *  - collectgarbage("stop"/tuning) could defeat the memory limit: refused. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clp_api.h"
#include "clp_encode.h"
#include "clp_env.h"
#include "clp_limits.h"
#include "clp_lua_layout.h"
#include "clp_require.h"

static int finish_pcall(lua_State *L, int status, lua_KContext extra) {
    if (status != LUA_OK && status != LUA_YIELD) {
        if (status == LUA_ERRMEM) clp_get(L)->mem_pending = 1;
        clp_check_limits(L);
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

static int sb_pcall(lua_State *L) {
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
    return finish_pcall(L, status, 0);
}

static int xpcall_handler(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    if (sb->tripped || sb->mem_pending) return 1; /* leave the error as it is */
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, 1);
    return 1;
}

static int sb_xpcall(lua_State *L) {
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
    return finish_pcall(L, status, 2);
}

static int sb_resume(lua_State *L) {
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    clp_check_limits(L);
    return lua_gettop(L);
}

/* coroutine.create and coroutine.wrap: the new coroutine is counted from its first
 * instruction, even while the main thread's count is deferred (clp_limits.c). */
static int sb_cocreate(lua_State *L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    clp_limits_hook_thread(lua_tothread(L, -1));
    return 1;
}

static int sb_cowrap(lua_State *L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    if (lua_getupvalue(L, -1, 1)) { /* the coroutine, the one upvalue of wrap's function */
        if (lua_type(L, -1) == LUA_TTHREAD) clp_limits_hook_thread(lua_tothread(L, -1));
        lua_pop(L, 1);
    }
    return 1;
}

/* Keys the encoder compares often: each kept by the registry (refs) and, short strings
 * being interned, the same bytes (strs) wherever it is a key. */
static void intern_keys(lua_State *L, const char *const *names, int n, int *refs, const char **strs) {
    for (int i = 0; i < n; i++) {
        strs[i] = lua_pushstring(L, names[i]);
        refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
}

static int sb_setmetatable(lua_State *L) {
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable() __gc metamethods are not allowed in the sandbox");
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

static int sb_collectgarbage(lua_State *L) {
    static const char *const allowed[] = {"collect", "count", "step", "isrunning", NULL};
    const char *opt = luaL_optstring(L, 1, "collect");
    int ok = 0;
    for (int i = 0; allowed[i]; i++)
        if (strcmp(opt, allowed[i]) == 0) ok = 1;
    if (!ok) return luaL_error(L, "collectgarbage() option '%s' is not allowed in the sandbox", opt);
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

static int sb_load(lua_State *L) {
    int n = lua_gettop(L);
    luaL_checkany(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    if (n >= 2) lua_pushvalue(L, 2);
    else lua_pushnil(L);
    lua_pushliteral(L, "t"); /* text only, whatever the script asks */
    if (n >= 4) lua_pushvalue(L, 4);
    lua_call(L, n >= 4 ? 4 : 3, LUA_MULTRET);
    return lua_gettop(L) - n;
}

static int sb_print(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (len > 4096) len = 4096; /* bounded: a script cannot flood the log */
    if (sb->cb.log) sb->cb.log(sb->host, 6, s, len);
    return 0;
}

/* os.time in UTC, whatever the host's TZ (lua_sandbox does the same). */
static int getfield(lua_State *L, const char *k, int d, int delta) {
    int isnum;
    int t = lua_getfield(L, -1, k);
    lua_Integer res = lua_tointegerx(L, -1, &isnum);
    if (!isnum) {
        if (t != LUA_TNIL) return luaL_error(L, "field '%s' is not an integer", k);
        if (d < 0) return luaL_error(L, "field '%s' missing in date table", k);
        res = d;
    } else {
        res -= delta;
    }
    lua_pop(L, 1);
    return (int)res;
}

static int sb_os_time(lua_State *L) {
    time_t t;
    if (lua_isnoneornil(L, 1)) {
        t = time(NULL);
    } else {
        struct tm ts;
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
        ts.tm_year = getfield(L, "year", -1, 1900);
        ts.tm_mon = getfield(L, "month", -1, 1);
        ts.tm_mday = getfield(L, "day", -1, 0);
        ts.tm_hour = getfield(L, "hour", 12, 0);
        ts.tm_min = getfield(L, "min", 0, 0);
        ts.tm_sec = getfield(L, "sec", 0, 0);
        ts.tm_isdst = 0;
        t = timegm(&ts);
    }
    lua_pushinteger(L, (lua_Integer)t);
    return 1;
}

static int sb_os_date(lua_State *L) {
    const char *fmt = luaL_optstring(L, 1, "%c");
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    if (fmt[0] == '!') lua_pushstring(L, fmt);
    else lua_pushfstring(L, "!%s", fmt);
    if (n >= 2) lua_pushvalue(L, 2);
    lua_call(L, n >= 2 ? 2 : 1, 1);
    return 1;
}

static void open_os(lua_State *L) {
    lua_pushcfunction(L, luaopen_os);
    lua_call(L, 0, 1); /* the full os library, used only for its date and clock */
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, sb_os_time);
    lua_setfield(L, -2, "time");
    lua_getfield(L, -2, "date");
    lua_pushcclosure(L, sb_os_date, 1);
    lua_setfield(L, -2, "date");
    lua_getfield(L, -2, "clock");
    lua_setfield(L, -2, "clock");
    lua_remove(L, -2);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "os");
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_insert(L, -2);
    lua_setfield(L, -2, "os");
    lua_pop(L, 1);
}

static void wrap_global(lua_State *L, const char *name, lua_CFunction f) {
    lua_getglobal(L, name);
    lua_pushcclosure(L, f, 1);
    lua_setglobal(L, name);
}

int clp_open_environment(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 1);
    lua_settop(L, 0);
    open_os(L);

    static const char *const removed[] = {"dofile", "loadfile", "warn", NULL};
    for (int i = 0; removed[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[i]);
    }
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    wrap_global(L, "load", sb_load);
    wrap_global(L, "collectgarbage", sb_collectgarbage);
    wrap_global(L, "setmetatable", sb_setmetatable);
    lua_register(L, "pcall", sb_pcall);
    lua_register(L, "xpcall", sb_xpcall);
    lua_register(L, "print", sb_print);
    lua_register(L, "require", clp_require);
    lua_getglobal(L, "coroutine");
    static const struct { const char *name; lua_CFunction f; } co[] = {
        {"resume", sb_resume}, {"create", sb_cocreate}, {"wrap", sb_cowrap}};
    for (int i = 0; i < 3; i++) {
        lua_getfield(L, -1, co[i].name);
        lua_pushcclosure(L, co[i].f, 1);
        lua_setfield(L, -2, co[i].name);
    }
    lua_pop(L, 1);
    /* Lua 5.1 shim (Heka-era scripts): unpack is table.unpack. */
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "unpack");
    lua_setglobal(L, "unpack");
    lua_pop(L, 1);

    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, CLP_REG_LOADED);
    clp_register_api(L, sb->kind);
    clp_lua_layout_check(L);
    static const char *const keys[] = {"value", "representation", "value_type", "name"};
    intern_keys(L, keys, 4, sb->kref, sb->kstr);
    intern_keys(L, clp_header_keys, CLP_HEADER_KEYS, sb->href, sb->hstr);

    /* Everything global now is the environment, not the script's state. */
    lua_newtable(L);
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -1) == LUA_TTABLE || lua_type(L, -1) == LUA_TFUNCTION) {
            lua_pushboolean(L, 1);
            lua_rawset(L, -5);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_pushboolean(L, 1);
    lua_rawset(L, -3); /* the global table itself */
    lua_setfield(L, LUA_REGISTRYINDEX, CLP_REG_SKIP);
    /* ... and so are its other initial values (_VERSION): a shallow copy to compare with. */
    lua_newtable(L);
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -5);
    }
    lua_pop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, CLP_REG_INITIAL);
    return 0;
}
