/* clp_require.c: the sandbox's require. It finds modules only where the host allows:
 * the standard libraries already open, Debian's lpeg and cjson (linked in from their
 * static libraries), lpeg's re.lua by its fixed path, our circular_buffer, and Lua files
 * under the plugin's module_path. A module's table is code, not state: preserve_data
 * skips it. */
#include <stdio.h>
#include <string.h>
#include "clp_cbuf.h"
#include "clp_env.h"
#include "clp_require.h"
#include "clp_state.h"

/* Debian's lua-lpeg-dev and lua-cjson-dev (liblua5.4-lpeg.a, liblua5.4-cjson.a). */
int luaopen_lpeg(lua_State *L);
int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

static int load_native(lua_State *L, lua_CFunction open) {
    lua_pushcfunction(L, open);
    lua_call(L, 0, 1);
    return 1;
}

static int load_file_module(lua_State *L, const char *path, const char *name) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) luaL_addlstring(&b, chunk, n);
    fclose(f);
    luaL_pushresult(&b);
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    lua_pushfstring(L, "@%s", path);
    if (luaL_loadbufferx(L, src, len, lua_tostring(L, -1), "t") != LUA_OK) return lua_error(L);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    lua_replace(L, -3);
    lua_pop(L, 1);
    return 1;
}

static int valid_module_name(const char *s, size_t n) {
    if (n == 0 || n > 128 || s[0] == '.' || s[n - 1] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) return 0;
        if (c == '.' && s[i + 1] == '.') return 0;
    }
    return 1;
}

static int find_module(lua_State *L, const char *name, size_t n) {
    clp_sandbox *sb = clp_get(L);
    char rel[160];
    for (size_t i = 0; i <= n; i++) rel[i] = name[i] == '.' ? '/' : name[i];
    const char *p = sb->module_path;
    while (p && *p) {
        const char *e = strchr(p, ';');
        size_t dl = e ? (size_t)(e - p) : strlen(p);
        if (dl > 0 && dl < 3900) {
            char path[4096];
            snprintf(path, sizeof path, "%.*s/%s.lua", (int)dl, p, rel);
            if (load_file_module(L, path, name)) return 1;
        }
        p = e ? e + 1 : NULL;
    }
    return 0;
}

int clp_require(lua_State *L) {
    size_t n;
    const char *name = luaL_checklstring(L, 1, &n);
    lua_settop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, CLP_REG_LOADED); /* 2 */
    if (lua_getfield(L, 2, name) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    static const char *const stdlib[] = {"string", "table", "math", "os", "utf8", "coroutine", NULL};
    for (int i = 0; stdlib[i]; i++) {
        if (strcmp(name, stdlib[i]) == 0) {
            luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
            lua_getfield(L, -1, name);
            return 1;
        }
    }
    int setglobal = 0;
    if (strcmp(name, "lpeg") == 0) {
        load_native(L, luaopen_lpeg);
        setglobal = 1;
    } else if (strcmp(name, "cjson") == 0) {
        load_native(L, luaopen_cjson);
        setglobal = 1;
    } else if (strcmp(name, "cjson.safe") == 0) {
        load_native(L, luaopen_cjson_safe);
    } else if (strcmp(name, "circular_buffer") == 0) {
        clp_open_circular_buffer(L);
        setglobal = 1;
    } else if (strcmp(name, "re") == 0) {
        if (!load_file_module(L, "/usr/share/lua/5.4/re.lua", name))
            return luaL_error(L, "module 're' not found (install lua-lpeg)");
    } else {
        if (!valid_module_name(name, n)) return luaL_error(L, "module '%s' is not a valid module name", name);
        if (!find_module(L, name, n)) return luaL_error(L, "module '%s' not found", name);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
    /* Modules are code, not state: preserve_data skips them. */
    lua_getfield(L, LUA_REGISTRYINDEX, CLP_REG_SKIP);
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    if (setglobal) {
        lua_pushvalue(L, -1);
        lua_setglobal(L, name);
    }
    return 1;
}

size_t clp_require_loaded(lua_State *L, char *buf, size_t cap) {
    size_t used = 0;
    if (!L || cap == 0) return 0;
    if (lua_getfield(L, LUA_REGISTRYINDEX, CLP_REG_LOADED) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            if (used + n + 1 <= cap) {
                memcpy(buf + used, s, n);
                used += n;
                buf[used++] = '\n';
            }
        }
    }
    lua_pop(L, 1);
    return used;
}
