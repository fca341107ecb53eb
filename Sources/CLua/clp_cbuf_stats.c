/* clp_cbuf_stats.c: the circular buffer's statistics over a column's rows: get_range,
 * compute (sum, avg, sd, min, max, variance) and mannwhitneyu. NaN (unset) cells are
 * left out. */
#include <stdlib.h>
#include "clp_cbuf_core.h"
#include "clp_cbuf_stats.h"

/* The [start, end] rows of an optional ns range (nil: the whole buffer); 0 when outside. */
static int range(lua_State *L, cbuf *cb, int si, int ei, int *first, unsigned *count) {
    double sn = lua_isnoneornil(L, si) ? 0 : luaL_checknumber(L, si), en = lua_isnoneornil(L, ei) ? 0 : luaL_checknumber(L, ei);
    if (!cbuf_valid_ns(sn) || !cbuf_valid_ns(en)) return 0;
    long long s = lua_isnoneornil(L, si) ? cbuf_start_time(cb) : (long long)floor(sn / 1e9);
    long long e = lua_isnoneornil(L, ei) ? cb->current_time : (long long)floor(en / 1e9);
    s -= ((s % cb->spr) + cb->spr) % cb->spr;
    e -= ((e % cb->spr) + cb->spr) % cb->spr;
    if (e < s) luaL_error(L, "end must be >= start");
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
    if (!range(L, cb, 4, 5, &first, &n)) { lua_pushnil(L); return 1; }
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

static int cmp_ranked(const void *a, const void *b) {
    double x = ((const ranked *)a)->v, y = ((const ranked *)b)->v;
    return x < y ? -1 : x > y;
}

/* Mann-Whitney U of two row ranges of a column: the smaller U and the one-sided p-value
 * of the normal approximation, corrected for ties (and continuity, by default). */
int clp_cbuf_mannwhitneyu(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    unsigned col = cbuf_check_col(L, cb, 2);
    int f1, f2;
    unsigned n1r, n2r;
    if (!range(L, cb, 3, 4, &f1, &n1r) || !range(L, cb, 5, 6, &f2, &n2r)) { lua_pushnil(L); return 1; }
    int continuity = lua_isnoneornil(L, 7) ? 1 : lua_toboolean(L, 7);
    ranked *all = lua_newuserdatauv(L, sizeof(ranked) * (n1r + n2r), 0);
    unsigned n = 0, n1 = 0, n2 = 0;
    for (unsigned i = 0; i < n1r; i++) {
        double v = cb->values[((f1 + i) % cb->rows) * cb->cols + col];
        if (!isnan(v)) { all[n].v = v; all[n++].x = 1; n1++; }
    }
    for (unsigned i = 0; i < n2r; i++) {
        double v = cb->values[((f2 + i) % cb->rows) * cb->cols + col];
        if (!isnan(v)) { all[n].v = v; all[n++].x = 0; n2++; }
    }
    if (n1 == 0 || n2 == 0) { lua_pushnil(L); return 1; }
    qsort(all, n, sizeof *all, cmp_ranked);
    double r1 = 0, ties = 0;
    for (unsigned i = 0; i < n;) {
        unsigned j = i;
        while (j + 1 < n && all[j + 1].v == all[i].v) j++;
        double rank = (i + j) / 2.0 + 1, t = j - i + 1;
        for (unsigned k = i; k <= j; k++) if (all[k].x) r1 += rank;
        ties += t * t * t - t;
        i = j + 1;
    }
    double u1 = r1 - n1 * (n1 + 1.0) / 2, u2 = (double)n1 * n2 - u1;
    double bigu = u1 > u2 ? u1 : u2, smallu = u1 < u2 ? u1 : u2;
    double tc = 1 - ties / ((double)n * n * n - n);
    double sd = sqrt(tc * (double)n1 * n2 * (n + 1.0) / 12);
    double p = 0.5;
    if (sd > 0) {
        double z = (bigu - (continuity ? 0.5 : 0) - (double)n1 * n2 / 2.0) / sd;
        p = 0.5 * erfc(z / sqrt(2));
    }
    lua_pushnumber(L, smallu);
    lua_pushnumber(L, p);
    return 2;
}
