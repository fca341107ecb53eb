/* clp_cbuf_preserve.c: the circular buffer across restarts: its preserve_data text
 * and restorer (clp_preserve.h), and Heka's fromstring. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clp_cbuf_core.h"
#include "clp_cbuf_output.h"
#include "clp_cbuf_preserve.h"

/* preserve_data: "rows cols spr delta current_time current_row\n" then per column
 * "name unit agg\n", then the values (space separated), then per annotation
 * "t col type text-length\ntext\n". */
int clp_cbuf_preserve(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    lua_settop(L, 1);
    cbuf_note *notes;
    int n = clp_cbuf_collect_notes(L, cb, 1, &notes);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char num[200];
    snprintf(num, sizeof num, "%u %u %u %d %lld %u %d\n", cb->rows, cb->cols, cb->spr, cb->delta_enabled, cb->current_time,
             cb->current_row, n);
    luaL_addstring(&b, num);
    for (unsigned c = 0; c < cb->cols; c++) {
        snprintf(num, sizeof num, "%s %s %d\n", cb->info[c].name, cb->info[c].unit, cb->info[c].agg);
        luaL_addstring(&b, num);
    }
    size_t cells = (size_t)cb->rows * cb->cols;
    for (size_t i = 0; i < cells; i++) {
        if (i) luaL_addchar(&b, ' ');
        clp_cbuf_add_number(&b, cb->values[i]);
    }
    luaL_addchar(&b, '\n');
    for (int i = 0; i < n; i++) {
        snprintf(num, sizeof num, "%lld %d %c %zu\n", notes[i].t, notes[i].col, notes[i].type, strlen(notes[i].text));
        luaL_addstring(&b, num);
        luaL_addstring(&b, notes[i].text);
        luaL_addchar(&b, '\n');
    }
    luaL_pushresult(&b);
    return 1;
}

/* The inverse of clp_cbuf_preserve: a new circular buffer. */
int clp_cbuf_restore(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *end = s + len;
    unsigned rows, cols, spr, row;
    int delta, notes, used;
    long long ct;
    if (sscanf(s, "%u %u %u %d %lld %u %d\n%n", &rows, &cols, &spr, &delta, &ct, &row, &notes, &used) != 7)
        return luaL_error(L, "circular_buffer: preserved data is damaged");
    s += used;
    lua_settop(L, 0);
    lua_pushinteger(L, rows);
    lua_pushinteger(L, cols);
    lua_pushinteger(L, spr);
    lua_pushboolean(L, delta);
    clp_cbuf_new(L);
    cbuf *cb = cbuf_check(L, -1);
    if (row >= cb->rows) return luaL_error(L, "circular_buffer: preserved data is damaged");
    cb->current_time = ct;
    cb->current_row = row;
    for (unsigned c = 0; c < cols; c++) {
        char name[16], unit[8];
        int agg;
        if (sscanf(s, "%15s %7s %d\n%n", name, unit, &agg, &used) != 3 || agg < 0 || agg > AGG_NONE)
            return luaL_error(L, "circular_buffer: preserved data is damaged");
        strcpy(cb->info[c].name, name);
        strcpy(cb->info[c].unit, unit);
        cb->info[c].agg = agg;
        s += used;
    }
    size_t cells = (size_t)rows * cols;
    for (size_t i = 0; i < cells; i++) {
        char *e;
        while (s < end && *s == ' ') s++;
        double d = strtod(s, &e);
        if (e == s) return luaL_error(L, "circular_buffer: preserved data is damaged");
        cb->values[i] = d;
        s = e;
    }
    if (s < end && *s == '\n') s++;
    int ud = lua_gettop(L);
    lua_getiuservalue(L, ud, 1);
    for (int i = 0; i < notes; i++) {
        long long t;
        int col;
        char type;
        size_t tl;
        if (sscanf(s, "%lld %d %c %zu\n%n", &t, &col, &type, &tl, &used) != 4 || s + used + tl > end)
            return luaL_error(L, "circular_buffer: preserved data is damaged");
        s += used;
        lua_pushfstring(L, "%I:%d", (lua_Integer)t, col);
        lua_createtable(L, 4, 0);
        lua_pushinteger(L, (lua_Integer)t);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, col);
        lua_rawseti(L, -2, 2);
        lua_pushstring(L, type == 'A' ? "alert" : "info");
        lua_rawseti(L, -2, 3);
        lua_pushlstring(L, s, tl);
        lua_rawseti(L, -2, 4);
        lua_rawset(L, -3);
        s += tl + 1;
    }
    lua_settop(L, ud);
    return 1;
}

/* fromstring(text): Heka's restore of the values: "current_time current_row v1 v2 ..."
 * (time in seconds, rows*cols values). */
int clp_cbuf_fromstring(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    char *e;
    long long t = strtoll(s, &e, 10);
    if (e == s) return luaL_error(L, "fromstring() invalid time");
    s = e;
    unsigned long r = strtoul(s, &e, 10);
    if (e == s || r >= cb->rows) return luaL_error(L, "fromstring() invalid row");
    s = e;
    size_t cells = (size_t)cb->rows * cb->cols;
    double *tmp = lua_newuserdatauv(L, sizeof(double) * cells, 0);
    for (size_t i = 0; i < cells; i++) {
        double d = strtod(s, &e);
        if (e == s) return luaL_error(L, "fromstring() too few values");
        tmp[i] = d;
        s = e;
    }
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    /* Values of a buffer of another shape must not load misaligned (Heka's wording). */
    if (*s) return luaL_error(L, "fromstring() too many values, more than: %d", (int)cells);
    cb->current_time = t;
    cb->current_row = (unsigned)r;
    memcpy(cb->values, tmp, sizeof(double) * cells);
    return 0;
}
