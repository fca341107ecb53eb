/* clp_cbuf_stats.c: the circular buffer's statistics over a column's rows: get_range,
 * compute (sum, avg, sd, min, max, variance) and mannwhitneyu. NaN (unset) cells are
 * left out. */
#include <stdlib.h>
#include "clp_cbuf_core.h"
#include "clp_cbuf_stats.h"

/* A time's row start in seconds (Heka's truncation toward zero), or -1 for none. */
static long long row_time(cbuf *cb, double ns) {
    if (!cbuf_valid_ns(ns)) return -1;
    long long t = (long long)(ns / 1e9);
    t -= t % cb->spr;
    return t < 0 ? -1 : t;
}

/* The [start, end] rows of an optional ns range (nil: the whole buffer); 0 when outside.
 * `end < start` (as given, in ns) raises against argument `ei`. */
static int range(lua_State *L, cbuf *cb, int si, int ei, int *first, unsigned *count) {
    double sn = lua_isnoneornil(L, si) ? 0 : luaL_checknumber(L, si), en = lua_isnoneornil(L, ei) ? 0 : luaL_checknumber(L, ei);
    if (!lua_isnoneornil(L, si) && !lua_isnoneornil(L, ei) && en < sn) luaL_argerror(L, ei, "end must be >= start");
    long long s = lua_isnoneornil(L, si) ? cbuf_start_time(cb) : row_time(cb, sn);
    long long e = lua_isnoneornil(L, ei) ? cb->current_time : row_time(cb, en);
    if (s < 0 || e < 0 || e < s) return 0;
    if (s < cbuf_start_time(cb) || e > cb->current_time) return 0;
    *first = clp_cbuf_row_for(cb, (double)s * 1e9, 0);
    *count = (unsigned)((e - s) / cb->spr) + 1;
    return 1;
}

int clp_cbuf_get_range(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    unsigned col = cbuf_check_col(L, cb, 2);
    int first;
    unsigned n;
    if (!range(L, cb, 3, 4, &first, &n)) { lua_pushnil(L); return 1; }
    lua_createtable(L, (int)n, 0);
    for (unsigned i = 0; i < n; i++) {
        lua_pushnumber(L, cb->values[((first + i) % cb->rows) * cb->cols + col]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

int clp_cbuf_compute(lua_State *L) {
    static const char *const fns[] = {"sum", "avg", "sd", "min", "max", "variance", NULL};
    cbuf *cb = cbuf_check(L, 1);
    int fn = luaL_checkoption(L, 2, NULL, fns);
    unsigned col = cbuf_check_col(L, cb, 3);
    int first;
    unsigned n;
    if (!range(L, cb, 4, 5, &first, &n)) { lua_pushnil(L); lua_pushinteger(L, 0); return 2; }  /* Heka: nil, 0 */
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    unsigned valid = 0;
    for (unsigned i = 0; i < n; i++) {
        double v = cb->values[((first + i) % cb->rows) * cb->cols + col];
        if (isnan(v)) continue;
        valid++;
        sum += v;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
    }
    double result;
    if (fn == 0) result = sum;
    else if (valid == 0) result = NAN;
    else if (fn == 1) result = sum / valid;
    else if (fn == 3) result = mn;
    else if (fn == 4) result = mx;
    else {
        double mean = sum / valid, ss = 0;
        for (unsigned i = 0; i < n; i++) {
            double v = cb->values[((first + i) % cb->rows) * cb->cols + col];
            if (!isnan(v)) ss += (v - mean) * (v - mean);
        }
        result = ss / valid;
        if (fn == 2) result = sqrt(result);
    }
    lua_pushnumber(L, result);
    lua_pushinteger(L, (lua_Integer)valid);
    return 2;
}

typedef struct { double v; int x; } ranked;

/* NaN (an unset row) sorts lowest and ties with NaN, as in Heka. */
static int cmp_ranked(const void *a, const void *b) {
    double x = ((const ranked *)a)->v, y = ((const ranked *)b)->v;
    if (isnan(x) || isnan(y)) return isnan(y) - isnan(x);
    return x < y ? -1 : x > y;
}

static int same_rank(double x, double y) { return x == y || (isnan(x) && isnan(y)); }

/* Mann-Whitney U of two row ranges of a column, as Heka's circular buffer computed it:
 * U of the first range and the one-sided p-value of the normal approximation, corrected
 * for ties (and continuity, by default). Every row is a sample, unset ones included. A
 * time outside the buffer, or ranks all tied, give no values. */
int clp_cbuf_mannwhitneyu(lua_State *L) {
    int argc = lua_gettop(L);
    /* Argument numbers as Lua reports them for a method call (self not counted). */
    if (argc < 6) return luaL_argerror(L, 0, "incorrect number of arguments");
    if (argc > 7) return luaL_argerror(L, 0, "too many arguments");
    cbuf *cb = cbuf_check(L, 1);
    unsigned col = cbuf_check_col(L, cb, 2);
    double s1 = luaL_checknumber(L, 3), e1 = luaL_checknumber(L, 4), s2 = luaL_checknumber(L, 5), e2 = luaL_checknumber(L, 6);
    if (e1 < s1) return luaL_argerror(L, 4, "end_1 must be >= start_1");
    if (e2 < s2) return luaL_argerror(L, 6, "end_2 must be >= start_2");
    if (!(e1 < s2 || e2 < s1)) return luaL_argerror(L, 4, "ranges must not overlap");
    int continuity = 1;
    if (argc == 7) {
        luaL_argcheck(L, lua_isboolean(L, 7), 7, "use_continuity must be a boolean");
        continuity = lua_toboolean(L, 7);
    }
    int f1, f2;
    unsigned n1, n2;
    if (!range(L, cb, 3, 4, &f1, &n1) || !range(L, cb, 5, 6, &f2, &n2)) return 0;
    unsigned n = n1 + n2;
    ranked *all = lua_newuserdatauv(L, sizeof(ranked) * n, 0);
    for (unsigned i = 0; i < n1; i++) { all[i].v = cb->values[((f1 + i) % cb->rows) * cb->cols + col]; all[i].x = 1; }
    for (unsigned i = 0; i < n2; i++) { all[n1 + i].v = cb->values[((f2 + i) % cb->rows) * cb->cols + col]; all[n1 + i].x = 0; }
    qsort(all, n, sizeof *all, cmp_ranked);
    double r1 = 0, ties = 0;
    for (unsigned i = 0; i < n;) {
        unsigned j = i;
        while (j + 1 < n && same_rank(all[j + 1].v, all[i].v)) j++;
        double rank = (i + j) / 2.0 + 1, t = j - i + 1;
        for (unsigned k = i; k <= j; k++) if (all[k].x) r1 += rank;
        ties += t * t * t - t;
        i = j + 1;
    }
    double tc = 1 - ties / ((double)n * n * n - n);
    if (tc <= 0) return 0;
    double u1 = r1 - n1 * (n1 + 1.0) / 2, u2 = (double)n1 * n2 - u1;
    double bigu = u1 > u2 ? u1 : u2;
    double sd = sqrt(tc * (double)n1 * n2 * (n + 1.0) / 12);
    double z = fabs(bigu - (continuity ? 0.5 : 0) - (double)n1 * n2 / 2.0) / sd;
    lua_pushnumber(L, u1);
    lua_pushnumber(L, 0.5 * erfc(z / sqrt(2)));
    return 2;
}
