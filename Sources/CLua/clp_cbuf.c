/* clp_cbuf.c: the circular_buffer module (Heka's API): a sliding window of `rows` time
 * rows of `spr` seconds each, `cols` double columns, NaN when unset. Rows advance with
 * the time written; reads never advance. Output (add_to_payload/inject_payload) is the
 * cbuf text: a JSON header line, then one tab-separated line per row, oldest first; or
 * with format("cbufd") only the rows changed since the last delta output, each led by
 * its time. preserve_data saves and restores it (__clp_preserve). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <lua5.4/lauxlib.h>
#include "clp_api.h"
#include "clp_cbuf.h"
#include "clp_preserve.h"

#define CBUF_MT "clp.circular_buffer"

enum { AGG_SUM, AGG_MIN, AGG_MAX, AGG_AVG, AGG_NONE };
static const char *const agg_names[] = {"sum", "min", "max", "avg", "none", NULL};

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

static cbuf *check(lua_State *L, int i) { return luaL_checkudata(L, i, CBUF_MT); }

static unsigned check_col(lua_State *L, cbuf *cb, int i) {
    lua_Integer c = luaL_checkinteger(L, i);
    luaL_argcheck(L, c >= 1 && (lua_Unsigned)c <= cb->cols, i, "column out of range");
    return (unsigned)c - 1;
}

static void clear_row(cbuf *cb, unsigned r) {
    for (unsigned c = 0; c < cb->cols; c++) cb->values[r * cb->cols + c] = NAN;
    if (cb->delta_enabled) { /* a reused row starts without the changes of its former time */
        for (unsigned c = 0; c < cb->cols; c++) cb->deltas[r * cb->cols + c] = NAN;
        cb->changed[r] = 0;
    }
}

/* Whether `ns` is a time a buffer can hold: finite, within ±9.2e18 ns (so its seconds
 * and their alignment fit a long long). */
static int valid_ns(double ns) { return isfinite(ns) && fabs(ns) < 9.2e18; }

static long long start_time(cbuf *cb) { return cb->current_time - (long long)cb->spr * (cb->rows - 1); }

/* The row for `ns` (advancing the window when `advance` and the time is newer), or -1
 * when the time is before the window (or after it, without advance). */
static int row_for(cbuf *cb, double ns, int advance) {
    if (!valid_ns(ns)) return -1;
    long long t = (long long)floor(ns / 1e9);
    t -= ((t % cb->spr) + cb->spr) % cb->spr;
    if (t < start_time(cb)) return -1;
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

static int cb_new(lua_State *L) {
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
    cbuf *cb = *cbp = check(L, 1);
    double ns = luaL_checknumber(L, 2);
    *col = check_col(L, cb, 3);
    *v = luaL_checknumber(L, 4);
    *row = row_for(cb, ns, 1);
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
    cbuf *cb = check(L, 1);
    double ns = luaL_checknumber(L, 2);
    unsigned col = check_col(L, cb, 3);
    int row = row_for(cb, ns, 0);
    push_value_or_nil(L, row < 0 ? 0 : cb->values[row * cb->cols + col], row);
    return 1;
}

/* The [start, end] rows of an optional ns range (nil: the whole buffer); 0 when outside. */
static int range(lua_State *L, cbuf *cb, int si, int ei, int *first, unsigned *count) {
    double sn = lua_isnoneornil(L, si) ? 0 : luaL_checknumber(L, si), en = lua_isnoneornil(L, ei) ? 0 : luaL_checknumber(L, ei);
    if (!valid_ns(sn) || !valid_ns(en)) return 0;
    long long s = lua_isnoneornil(L, si) ? start_time(cb) : (long long)floor(sn / 1e9);
    long long e = lua_isnoneornil(L, ei) ? cb->current_time : (long long)floor(en / 1e9);
    s -= ((s % cb->spr) + cb->spr) % cb->spr;
    e -= ((e % cb->spr) + cb->spr) % cb->spr;
    if (e < s) luaL_error(L, "end must be >= start");
    if (s < start_time(cb) || e > cb->current_time) return 0;
    *first = row_for(cb, (double)s * 1e9, 0);
    *count = (unsigned)((e - s) / cb->spr) + 1;
    return 1;
}

static int cb_get_range(lua_State *L) {
    cbuf *cb = check(L, 1);
    unsigned col = check_col(L, cb, 2);
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

static int cb_compute(lua_State *L) {
    static const char *const fns[] = {"sum", "avg", "sd", "min", "max", "variance", NULL};
    cbuf *cb = check(L, 1);
    int fn = luaL_checkoption(L, 2, NULL, fns);
    unsigned col = check_col(L, cb, 3);
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
static int cb_mannwhitneyu(lua_State *L) {
    cbuf *cb = check(L, 1);
    unsigned col = check_col(L, cb, 2);
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

static int cb_current_time(lua_State *L) {
    cbuf *cb = check(L, 1);
    lua_pushinteger(L, (lua_Integer)cb->current_time * 1000000000LL);
    return 1;
}

static int cb_get_configuration(lua_State *L) {
    cbuf *cb = check(L, 1);
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
    cbuf *cb = check(L, 1);
    unsigned col = check_col(L, cb, 2);
    const char *name = luaL_checkstring(L, 3), *unit = luaL_optstring(L, 4, "count");
    luaL_argcheck(L, name[0] != 0, 3, "the name must not be empty");
    luaL_argcheck(L, unit[0] != 0, 4, "the unit must not be empty");
    sanitize(cb->info[col].name, sizeof cb->info[col].name, name, 0);
    sanitize(cb->info[col].unit, sizeof cb->info[col].unit, unit, 1);
    cb->info[col].agg = luaL_checkoption(L, 5, "sum", agg_names);
    lua_pushinteger(L, (lua_Integer)col + 1);
    return 1;
}

static int cb_get_header(lua_State *L) {
    cbuf *cb = check(L, 1);
    unsigned col = check_col(L, cb, 2);
    lua_pushstring(L, cb->info[col].name);
    lua_pushstring(L, cb->info[col].unit);
    lua_pushstring(L, agg_names[cb->info[col].agg]);
    return 3;
}

static int cb_format(lua_State *L) {
    cbuf *cb = check(L, 1);
    static const char *const fmts[] = {"cbuf", "cbufd", NULL};
    int f = luaL_checkoption(L, 2, NULL, fmts);
    if (f == 1 && !cb->delta_enabled) return luaL_error(L, "format(\"cbufd\") needs a circular buffer made with enable_delta");
    cb->format_delta = f;
    lua_settop(L, 1);
    return 1;
}

/* annotate(ns, col, type, text [, delta]): a note shown on the graph at that row. */
static int cb_annotate(lua_State *L) {
    cbuf *cb = check(L, 1);
    double ns = luaL_checknumber(L, 2);
    unsigned col = check_col(L, cb, 3);
    static const char *const types[] = {"alert", "info", NULL};
    int type = luaL_checkoption(L, 4, NULL, types);
    const char *text = luaL_checkstring(L, 5);
    int row = row_for(cb, ns, 0);
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

static void add_number(luaL_Buffer *b, double d) {
    char num[64];
    if (isnan(d)) strcpy(num, "nan");
    else if (isinf(d)) strcpy(num, d > 0 ? "inf" : "-inf");
    else if (d == floor(d) && fabs(d) < 1e15) snprintf(num, sizeof num, "%.0f", d);
    else {
        snprintf(num, sizeof num, "%.15g", d);
        if (strtod(num, NULL) != d) snprintf(num, sizeof num, "%.17g", d);
    }
    luaL_addstring(b, num);
}

static void add_json_string(luaL_Buffer *b, const char *s) {
    luaL_addchar(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { luaL_addchar(b, '\\'); luaL_addchar(b, (char)c); }
        else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            luaL_addstring(b, esc);
        } else luaL_addchar(b, (char)c);
    }
    luaL_addchar(b, '"');
}

typedef struct { long long t; int col; char type; const char *text; } note;

static int cmp_note(const void *a, const void *b) {
    const note *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->col - y->col;
}

/* Pushes the live annotations as a userdata array of notes (texts stay referenced by the
 * annotation table, pushed below it); drops the expired ones. Returns their number. */
static int collect_notes(lua_State *L, cbuf *cb, int ud, note **out) {
    lua_getiuservalue(L, ud, 1);
    int tbl = lua_gettop(L);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, tbl)) {
        lua_rawgeti(L, -1, 1);
        long long t = (long long)lua_tointeger(L, -1);
        lua_pop(L, 2);
        if (t < start_time(cb)) {
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, tbl); /* clearing a present field during traversal is allowed */
        } else n++;
    }
    note *notes = lua_newuserdatauv(L, sizeof(note) * (size_t)(n ? n : 1), 0);
    int i = 0;
    lua_pushnil(L);
    while (lua_next(L, tbl) && i < n) {
        lua_rawgeti(L, -1, 1);
        notes[i].t = (long long)lua_tointeger(L, -1);
        lua_rawgeti(L, -2, 2);
        notes[i].col = (int)lua_tointeger(L, -1);
        lua_rawgeti(L, -3, 3);
        notes[i].type = (char)toupper((unsigned char)lua_tostring(L, -1)[0]);
        lua_rawgeti(L, -4, 4);
        notes[i].text = lua_tostring(L, -1); /* anchored in the entry, anchored in tbl */
        lua_pop(L, 5);
        i++;
    }
    qsort(notes, (size_t)n, sizeof *notes, cmp_note);
    *out = notes;
    return n;
}

static void add_header(luaL_Buffer *b, cbuf *cb, note *notes, int n) {
    char num[200];
    snprintf(num, sizeof num, "{\"time\":%lld,\"rows\":%u,\"columns\":%u,\"seconds_per_row\":%u,\"column_info\":[",
             start_time(cb), cb->rows, cb->cols, cb->spr);
    luaL_addstring(b, num);
    for (unsigned c = 0; c < cb->cols; c++) {
        luaL_addstring(b, c ? ",{\"name\":" : "{\"name\":");
        add_json_string(b, cb->info[c].name);
        luaL_addstring(b, ",\"unit\":");
        add_json_string(b, cb->info[c].unit);
        luaL_addstring(b, ",\"aggregation\":");
        add_json_string(b, agg_names[cb->info[c].agg]);
        luaL_addchar(b, '}');
    }
    luaL_addchar(b, ']');
    if (n > 0) {
        luaL_addstring(b, ",\"annotations\":[");
        for (int i = 0; i < n; i++) {
            snprintf(num, sizeof num, "%s{\"x\":%lld,\"col\":%d,\"shortText\":\"%c\",\"text\":", i ? "," : "",
                     notes[i].t * 1000, notes[i].col, notes[i].type);
            luaL_addstring(b, num);
            add_json_string(b, notes[i].text);
            luaL_addchar(b, '}');
        }
        luaL_addchar(b, ']');
    }
    luaL_addstring(b, "}\n");
}

/* The output text: cbuf (every row, oldest first) or cbufd (rows changed since the last
 * delta output, each led by its time; the deltas are then reset; "" when none). */
static int cb_output(lua_State *L) {
    cbuf *cb = check(L, 1);
    lua_settop(L, 1);
    note *notes;
    int n = collect_notes(L, cb, 1, &notes);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    unsigned first = (cb->current_row + 1) % cb->rows;
    if (!cb->format_delta) {
        add_header(&b, cb, notes, n);
        for (unsigned i = 0; i < cb->rows; i++) {
            unsigned r = (first + i) % cb->rows;
            for (unsigned c = 0; c < cb->cols; c++) {
                if (c) luaL_addchar(&b, '\t');
                add_number(&b, cb->values[r * cb->cols + c]);
            }
            luaL_addchar(&b, '\n');
        }
    } else {
        int any = 0;
        for (unsigned i = 0; i < cb->rows; i++) any |= cb->changed[i];
        if (any) {
            add_header(&b, cb, notes, n);
            for (unsigned i = 0; i < cb->rows; i++) {
                unsigned r = (first + i) % cb->rows;
                if (!cb->changed[r]) continue;
                char num[32];
                snprintf(num, sizeof num, "%lld", start_time(cb) + (long long)i * cb->spr);
                luaL_addstring(&b, num);
                for (unsigned c = 0; c < cb->cols; c++) {
                    luaL_addchar(&b, '\t');
                    add_number(&b, cb->deltas[r * cb->cols + c]);
                    cb->deltas[r * cb->cols + c] = NAN;
                }
                luaL_addchar(&b, '\n');
                cb->changed[r] = 0;
            }
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* The delta text now, whatever the format (cbufd; "" when nothing changed). */
static int cb_get_delta(lua_State *L) {
    cbuf *cb = check(L, 1);
    if (!cb->delta_enabled) return luaL_error(L, "get_delta() needs a circular buffer made with enable_delta");
    int saved = cb->format_delta;
    cb->format_delta = 1;
    lua_settop(L, 1);
    cb_output(L);
    cb->format_delta = saved;
    return 1;
}

/* preserve_data: "rows cols spr delta current_time current_row\n" then per column
 * "name unit agg\n", then the values (space separated), then per annotation
 * "t col type text-length\ntext\n". */
static int cb_preserve(lua_State *L) {
    cbuf *cb = check(L, 1);
    lua_settop(L, 1);
    note *notes;
    int n = collect_notes(L, cb, 1, &notes);
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
        add_number(&b, cb->values[i]);
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

/* The inverse of cb_preserve: a new circular buffer. */
static int cb_restore(lua_State *L) {
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
    cb_new(L);
    cbuf *cb = check(L, -1);
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
static int cb_fromstring(lua_State *L) {
    cbuf *cb = check(L, 1);
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
    cb->current_time = t;
    cb->current_row = (unsigned)r;
    memcpy(cb->values, tmp, sizeof(double) * cells);
    return 0;
}

static int cb_tostring(lua_State *L) {
    cbuf *cb = check(L, 1);
    lua_pushfstring(L, "circular_buffer(%d rows x %d columns, %d s per row)", (int)cb->rows, (int)cb->cols, (int)cb->spr);
    return 1;
}

int clp_open_circular_buffer(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"add", cb_add}, {"set", cb_set}, {"get", cb_get}, {"get_range", cb_get_range}, {"compute", cb_compute},
        {"mannwhitneyu", cb_mannwhitneyu}, {"current_time", cb_current_time}, {"get_configuration", cb_get_configuration},
        {"set_header", cb_set_header}, {"get_header", cb_get_header}, {"format", cb_format}, {"annotate", cb_annotate},
        {"get_delta", cb_get_delta}, {"fromstring", cb_fromstring}, {NULL, NULL}};
    if (luaL_newmetatable(L, CBUF_MT)) {
        /* getmetatable(cb) must not let a script replace __clp_preserve/__clp_output, which
         * the host calls with the limits lifted. */
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, cb_output);
        lua_setfield(L, -2, CLP_META_OUTPUT);
        lua_pushcfunction(L, cb_preserve);
        lua_setfield(L, -2, CLP_META_PRESERVE);
        lua_pushliteral(L, "circular_buffer");
        lua_setfield(L, -2, CLP_META_KIND);
        lua_pushcfunction(L, cb_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    /* the restorer preserve_data's text calls */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, CLP_REG_RESTORERS);
    lua_pushcfunction(L, cb_restore);
    lua_setfield(L, -2, "circular_buffer");
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, cb_new);
    lua_setfield(L, -2, "new");
    return 1;
}
