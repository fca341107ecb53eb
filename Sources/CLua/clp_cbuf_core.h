/* clp_cbuf_core.h: owns the circular buffer's storage, shared by the clp_cbuf*.c files:
 * the userdata layout, its row arithmetic, and the constructor. */
#ifndef CLP_CBUF_CORE_H
#define CLP_CBUF_CORE_H

#include <math.h>
#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>

#define CBUF_MT "clp.circular_buffer"

enum { AGG_SUM, AGG_MIN, AGG_MAX, AGG_AVG, AGG_NONE };
/* Their names, indexed by AGG_*, NULL-terminated for luaL_checkoption. */
extern const char *const clp_cbuf_agg_names[];

typedef struct {
    char name[16];
    char unit[8];
    int agg;
} cbuf_col;

typedef struct {
    unsigned rows, cols, spr;
    int delta_enabled;
    int format_delta;
    long long current_time; /* seconds: the start of the newest row */
    unsigned current_row;
    cbuf_col *info;
    double *values;  /* rows * cols */
    double *deltas;  /* rows * cols, when delta_enabled */
    unsigned char *changed; /* rows */
} cbuf;

static inline cbuf *cbuf_check(lua_State *L, int i) { return luaL_checkudata(L, i, CBUF_MT); }

static inline unsigned cbuf_check_col(lua_State *L, cbuf *cb, int i) {
    lua_Integer c = luaL_checkinteger(L, i);
    luaL_argcheck(L, c >= 1 && (lua_Unsigned)c <= cb->cols, i, "column out of range");
    return (unsigned)c - 1;
}

/* Whether `ns` is a time a buffer can hold: finite, within ±9.2e18 ns (so its seconds
 * and their alignment fit a long long). */
static inline int cbuf_valid_ns(double ns) { return isfinite(ns) && fabs(ns) < 9.2e18; }

static inline long long cbuf_start_time(cbuf *cb) { return cb->current_time - (long long)cb->spr * (cb->rows - 1); }

/* The row for `ns` (advancing the window when `advance` and the time is newer), or -1
 * when the time is before the window (or after it, without advance). */
int clp_cbuf_row_for(cbuf *cb, double ns, int advance);
/* circular_buffer.new(rows, columns, seconds_per_row [, enable_delta]) */
int clp_cbuf_new(lua_State *L);

#endif
