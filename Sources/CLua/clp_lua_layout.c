/* clp_lua_layout.c: the check of Lua 5.4's table layout (clp_lua_layout.h). */
#include "clp_lua_layout.h"
#include "clp_sandbox.h"

#if LUA_VERSION_NUM == 504
static int layout_state; /* 0 not checked yet, 1 it holds, -1 it does not */

const lt_table *clp_lt_table(lua_State *L, int idx) {
    if (__atomic_load_n(&layout_state, __ATOMIC_RELAXED) != 1) return NULL;
    const lt_table *t = lua_topointer(L, idx);
    return t->alimit ? NULL : t;
}

int clp_fields_in_place(void) { return __atomic_load_n(&layout_state, __ATOMIC_RELAXED) == 1; }

/* Does the node hold the key and value on top of the stack? */
static int lt_matches(lua_State *L, const lt_node *n) {
    size_t len;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
    if (!k || !lt_string_tag(n->key_tt) || lt_chars(n->key.gc) != k || lt_len(n->key.gc, n->key_tt) != len)
        return 0;
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        const char *v = lua_tolstring(L, -1, &len);
        return lt_string_tag(n->tt) && lt_chars(n->v.gc) == v && lt_len(n->v.gc, n->tt) == len;
    }
    case LUA_TNUMBER:
        return lua_isinteger(L, -1) ? n->tt == LT_INT && n->v.i == lua_tointeger(L, -1)
                                    : n->tt == LT_FLOAT && n->v.n == lua_tonumber(L, -1);
    case LUA_TBOOLEAN: return n->tt == (lua_toboolean(L, -1) ? LT_TRUE : LT_FALSE);
    case LUA_TTABLE: return n->tt == LT_TABLE && n->v.gc == lua_topointer(L, -1);
    default: return 0;
    }
}

void clp_lua_layout_check(lua_State *L) {
    if (__atomic_load_n(&layout_state, __ATOMIC_RELAXED)) return;
    static const char long_text[] = "a string of more than forty bytes, which Lua keeps apart";
    lua_createtable(L, 0, 9);
    int t = lua_gettop(L);
    lua_pushliteral(L, "a short string");
    lua_setfield(L, t, "s");
    lua_pushstring(L, long_text);
    lua_setfield(L, t, long_text);
    lua_pushinteger(L, -42);
    lua_setfield(L, t, "i");
    lua_pushnumber(L, 1.5);
    lua_setfield(L, t, "d");
    lua_pushboolean(L, 1);
    lua_setfield(L, t, "t");
    lua_pushboolean(L, 0);
    lua_setfield(L, t, "f");
    lua_createtable(L, 0, 0);
    lua_setfield(L, t, "table");
    lua_pushinteger(L, 1);
    lua_setfield(L, t, "gone");
    lua_pushnil(L);
    lua_setfield(L, t, "gone"); /* an empty slot to step over */
    const lt_table *tab = lua_topointer(L, t);
    int ok = tab->alimit == 0 && tab->lsizenode <= 6;
    const lt_node *at = tab->node, *end = lt_end(tab);
    size_t seen = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        const lt_node *n = ok ? lt_next(&at, end) : NULL;
        ok = n && lt_matches(L, n);
        seen++;
        lua_pop(L, 1);
    }
    ok = ok && seen == 7 && !lt_next(&at, end);
    lua_settop(L, t - 1);
    __atomic_store_n(&layout_state, ok ? 1 : -1, __ATOMIC_RELAXED);
}
#else
void clp_lua_layout_check(lua_State *L) { (void)L; }
int clp_fields_in_place(void) { return 0; }
#endif
