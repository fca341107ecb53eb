/* clp_cbuf.c: the circular_buffer module (Heka's API): a sliding window of `rows` time
 * rows of `spr` seconds each, `cols` double columns, NaN when unset. Rows advance with
 * the time written; reads never advance. This file holds the storage, its writes and
 * reads, headers and annotations, and registers the methods of the other concerns:
 * clp_cbuf_stats.c (compute, mannwhitneyu), clp_cbuf_output.c (cbuf/cbufd text) and
 * clp_cbuf_preserve.c (preserve_data, fromstring). */
#include <stdio.h>
#include <string.h>
#include "clp_api.h"
#include "clp_cbuf.h"
#include "clp_cbuf_core.h"
#include "clp_cbuf_output.h"
#include "clp_cbuf_preserve.h"
#include "clp_cbuf_stats.h"
#include "clp_preserve.h"

const char *const clp_cbuf_agg_names[] = {"sum", "min", "max", "avg", "none", NULL};

static void clear_row(cbuf *cb, unsigned r) {
    for (unsigned c = 0; c < cb->cols; c++) cb->values[r * cb->cols + c] = NAN;
    if (cb->delta_enabled) { /* a reused row starts without the changes of its former time */
        for (unsigned c = 0; c < cb->cols; c++) cb->deltas[r * cb->cols + c] = NAN;
        cb->changed[r] = 0;
    }
}

int clp_cbuf_row_for(cbuf *cb, double ns, int advance) {
    if (!cbuf_valid_ns(ns)) return -1;
    /* Heka's rule: seconds truncated toward zero, then to the row's start (so a time in
     * (-seconds_per_row, 0) is the row of 0); earlier times have no row. */
    long long t = (long long)(ns / 1e9);
    t -= t % cb->spr;
    if (t < 0 || t < cbuf_start_time(cb)) return -1;
    if (t > cb->current_time) {
        if (!advance) return -1;
        long long n = (t - cb->current_time) / cb->spr;
        if (n >= cb->rows) {
            for (unsigned r = 0; r < cb->rows; r++) clear_row(cb, r);
            cb->current_row = (unsigned)((cb->current_row + n) % cb->rows);
        } else {
            for (long long i = 0; i < n; i++) {
                cb->current_row = (cb->current_row + 1) % cb->rows;
                clear_row(cb, cb->current_row);
            }
        }
        cb->current_time = t;
    }
    long long back = (cb->current_time - t) / cb->spr;
    return (int)((cb->current_row + cb->rows - (unsigned)back) % cb->rows);
}

static void note_delta(cbuf *cb, int row, unsigned col, double d, int replace) {
    if (!cb->delta_enabled) return;
    double *dp = &cb->deltas[row * cb->cols + col];
    if (replace || isnan(*dp)) *dp = d;
    else *dp += d;
    cb->changed[row] = 1;
}

int clp_cbuf_new(lua_State *L) {
    lua_Integer rows = luaL_checkinteger(L, 1), cols = luaL_checkinteger(L, 2), spr = luaL_checkinteger(L, 3);
    int delta = lua_toboolean(L, 4);
    luaL_argcheck(L, rows > 1 && rows <= 1000000, 1, "rows must be > 1");
    luaL_argcheck(L, cols > 0 && cols <= 256, 2, "columns must be > 0 and <= 256");
    luaL_argcheck(L, spr > 0 && spr <= 86400, 3, "seconds_per_row must be > 0 and <= 86400");
    size_t cells = (size_t)rows * (size_t)cols;
    size_t size = sizeof(cbuf) + sizeof(cbuf_col) * (size_t)cols + sizeof(double) * cells * (delta ? 2 : 1) + (delta ? (size_t)rows : 0);
    cbuf *cb = lua_newuserdatauv(L, size, 1);
    memset(cb, 0, sizeof *cb);
    cb->rows = (unsigned)rows;
    cb->cols = (unsigned)cols;
    cb->spr = (unsigned)spr;
    cb->delta_enabled = delta;
    cb->info = (cbuf_col *)(cb + 1);
    cb->values = (double *)(cb->info + cols);
    cb->deltas = delta ? cb->values + cells : NULL;
    cb->changed = delta ? (unsigned char *)(cb->values + 2 * cells) : NULL;
    for (size_t i = 0; i < cells; i++) cb->values[i] = NAN;
    if (delta) {
        for (size_t i = 0; i < cells; i++) cb->deltas[i] = NAN;
        memset(cb->changed, 0, (size_t)rows);
    }
    for (unsigned c = 0; c < cb->cols; c++) {
        snprintf(cb->info[c].name, sizeof cb->info[c].name, "Column_%u", c + 1);
        strcpy(cb->info[c].unit, "count");
        cb->info[c].agg = AGG_SUM;
    }
    cb->current_time = (long long)cb->spr * (cb->rows - 1);
    cb->current_row = cb->rows - 1;
    lua_newtable(L); /* annotations: { [time_s .. ":" .. col] = {t, col, type, text} } */
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, CBUF_MT);
    return 1;
}

static void push_value_or_nil(lua_State *L, double d, int row) {
    if (row < 0) lua_pushnil(L);
    else lua_pushnumber(L, d);
}

/* The arguments of add and set: (cb, ns, col, value); the cell, or NULL (nil pushed)
 * when the time is before the window. */
static double *write_args(lua_State *L, cbuf **cbp, int *row, unsigned *col, double *v) {
    cbuf *cb = *cbp = cbuf_check(L, 1);
    double ns = luaL_checknumber(L, 2);
    *col = cbuf_check_col(L, cb, 3);
    *v = luaL_checknumber(L, 4);
    *row = clp_cbuf_row_for(cb, ns, 1);
    if (*row < 0) {
        lua_pushnil(L);
        return NULL;
    }
    return &cb->values[*row * cb->cols + *col];
}

static int cb_add(lua_State *L) {
    cbuf *cb;
    int row;
    unsigned col;
    double v;
    double *p = write_args(L, &cb, &row, &col, &v);
    if (!p) return 1;
    *p = isnan(*p) ? v : *p + v;
    note_delta(cb, row, col, v, 0);
    lua_pushnumber(L, *p);
    return 1;
}

static int cb_set(lua_State *L) {
    cbuf *cb;
    int row;
    unsigned col;
    double v;
    double *p = write_args(L, &cb, &row, &col, &v);
    if (!p) return 1;
    double old = *p;
    int agg = cb->info[col].agg;
    if (agg == AGG_MIN && !isnan(old) && !(v < old)) v = old;
    else if (agg == AGG_MAX && !isnan(old) && !(v > old)) v = old;
    if (!(v == old)) {
        *p = v;
        if (agg == AGG_SUM) note_delta(cb, row, col, isnan(old) || isnan(v) ? v : v - old, 0);
        else note_delta(cb, row, col, v, 1);
    }
    lua_pushnumber(L, *p);
    return 1;
}

static int cb_get(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    double ns = luaL_checknumber(L, 2);
    unsigned col = cbuf_check_col(L, cb, 3);
    int row = clp_cbuf_row_for(cb, ns, 0);
    push_value_or_nil(L, row < 0 ? 0 : cb->values[row * cb->cols + col], row);
    return 1;
}

static int cb_current_time(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    lua_pushinteger(L, (lua_Integer)cb->current_time * 1000000000LL);
    return 1;
}

static int cb_get_configuration(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    lua_pushinteger(L, cb->rows);
    lua_pushinteger(L, cb->cols);
    lua_pushinteger(L, cb->spr);
    return 3;
}

static void sanitize(char *dst, size_t cap, const char *src, int unit) {
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) {
        char c = src[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (unit && (c == '/' || c == '*'));
        dst[i] = ok ? c : '_';
    }
    dst[i] = 0;
}

static int cb_set_header(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    unsigned col = cbuf_check_col(L, cb, 2);
    const char *name = luaL_checkstring(L, 3), *unit = luaL_optstring(L, 4, "count");
    luaL_argcheck(L, name[0] != 0, 3, "the name must not be empty");
    luaL_argcheck(L, unit[0] != 0, 4, "the unit must not be empty");
    sanitize(cb->info[col].name, sizeof cb->info[col].name, name, 0);
    sanitize(cb->info[col].unit, sizeof cb->info[col].unit, unit, 1);
    cb->info[col].agg = luaL_checkoption(L, 5, "sum", clp_cbuf_agg_names);
    lua_pushinteger(L, (lua_Integer)col + 1);
    return 1;
}

static int cb_get_header(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    unsigned col = cbuf_check_col(L, cb, 2);
    lua_pushstring(L, cb->info[col].name);
    lua_pushstring(L, cb->info[col].unit);
    lua_pushstring(L, clp_cbuf_agg_names[cb->info[col].agg]);
    return 3;
}

static int cb_format(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    static const char *const fmts[] = {"cbuf", "cbufd", NULL};
    int f = luaL_checkoption(L, 2, NULL, fmts);
    if (f == 1 && !cb->delta_enabled) return luaL_error(L, "format(\"cbufd\") needs a circular buffer made with enable_delta");
    cb->format_delta = f;
    lua_settop(L, 1);
    return 1;
}

/* annotate(ns, col, type, text [, delta]): a cbuf_note shown on the graph at that row. */
static int cb_annotate(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    double ns = luaL_checknumber(L, 2);
    unsigned col = cbuf_check_col(L, cb, 3);
    static const char *const types[] = {"alert", "info", NULL};
    int type = luaL_checkoption(L, 4, NULL, types);
    const char *text = luaL_checkstring(L, 5);
    int row = clp_cbuf_row_for(cb, ns, 0);
    if (row < 0) return 0; /* outside the window (or not a time): nothing to show */
    long long t = (long long)floor(ns / 1e9);
    t -= ((t % cb->spr) + cb->spr) % cb->spr;
    lua_getiuservalue(L, 1, 1);
    lua_pushfstring(L, "%I:%d", (lua_Integer)t, (int)col + 1);
    lua_createtable(L, 4, 0);
    lua_pushinteger(L, (lua_Integer)t);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, (lua_Integer)col + 1);
    lua_rawseti(L, -2, 2);
    lua_pushstring(L, types[type]);
    lua_rawseti(L, -2, 3);
    lua_pushstring(L, text);
    lua_rawseti(L, -2, 4);
    lua_rawset(L, -3);
    return 0;
}
static int cb_tostring(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    lua_pushfstring(L, "circular_buffer(%d rows x %d columns, %d s per row)", (int)cb->rows, (int)cb->cols, (int)cb->spr);
    return 1;
}

int clp_open_circular_buffer(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"add", cb_add}, {"set", cb_set}, {"get", cb_get}, {"get_range", clp_cbuf_get_range}, {"compute", clp_cbuf_compute},
        {"mannwhitneyu", clp_cbuf_mannwhitneyu}, {"current_time", cb_current_time}, {"get_configuration", cb_get_configuration},
        {"set_header", cb_set_header}, {"get_header", cb_get_header}, {"format", cb_format}, {"annotate", cb_annotate},
        {"get_delta", clp_cbuf_get_delta}, {"fromstring", clp_cbuf_fromstring}, {NULL, NULL}};
    if (luaL_newmetatable(L, CBUF_MT)) {
        /* getmetatable(cb) must not let a script replace __clp_preserve/__clp_output, which
         * the host calls with the limits lifted. */
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, clp_cbuf_output);
        lua_setfield(L, -2, CLP_META_OUTPUT);
        lua_pushcfunction(L, clp_cbuf_preserve);
        lua_setfield(L, -2, CLP_META_PRESERVE);
        lua_pushliteral(L, "circular_buffer");
        lua_setfield(L, -2, CLP_META_KIND);
        lua_pushcfunction(L, cb_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    /* the restorer preserve_data's text calls */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, CLP_REG_RESTORERS);
    lua_pushcfunction(L, clp_cbuf_restore);
    lua_setfield(L, -2, "circular_buffer");
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, clp_cbuf_new);
    lua_setfield(L, -2, "new");
    return 1;
}
