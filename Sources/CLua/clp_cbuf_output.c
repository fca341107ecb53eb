/* clp_cbuf_output.c: the circular buffer's text for add_to_payload/inject_payload: a
 * JSON header line (columns, live annotations), then one tab-separated line per row,
 * oldest first (cbuf); or only the rows changed since the last delta output, each led
 * by its time (cbufd). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clp_buf.h"
#include "clp_cbuf_core.h"
#include "clp_cbuf_output.h"

void clp_cbuf_add_number(luaL_Buffer *b, double d) {
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

/* Values as Heka's circular buffer wrote them (its graphs' text format). */
static void add_heka_number(luaL_Buffer *b, double d) {
    char num[32];
    luaL_addlstring(b, num, clp_heka_number(num, d));
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

static int cmp_note(const void *a, const void *b) {
    const cbuf_note *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->col - y->col;
}

/* Pushes the live annotations as a userdata array of notes (texts stay referenced by the
 * annotation table, pushed below it); drops the expired ones. Returns their number. */
int clp_cbuf_collect_notes(lua_State *L, cbuf *cb, int ud, cbuf_note **out) {
    lua_getiuservalue(L, ud, 1);
    int tbl = lua_gettop(L);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, tbl)) {
        lua_rawgeti(L, -1, 1);
        long long t = (long long)lua_tointeger(L, -1);
        lua_pop(L, 2);
        if (t < cbuf_start_time(cb)) {
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, tbl); /* clearing a present field during traversal is allowed */
        } else n++;
    }
    cbuf_note *notes = lua_newuserdatauv(L, sizeof(cbuf_note) * (size_t)(n ? n : 1), 0);
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

static void add_header(luaL_Buffer *b, cbuf *cb, cbuf_note *notes, int n) {
    char num[200];
    snprintf(num, sizeof num, "{\"time\":%lld,\"rows\":%u,\"columns\":%u,\"seconds_per_row\":%u,\"column_info\":[",
             cbuf_start_time(cb), cb->rows, cb->cols, cb->spr);
    luaL_addstring(b, num);
    for (unsigned c = 0; c < cb->cols; c++) {
        luaL_addstring(b, c ? ",{\"name\":" : "{\"name\":");
        add_json_string(b, cb->info[c].name);
        luaL_addstring(b, ",\"unit\":");
        add_json_string(b, cb->info[c].unit);
        luaL_addstring(b, ",\"aggregation\":");
        add_json_string(b, clp_cbuf_agg_names[cb->info[c].agg]);
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
int clp_cbuf_output(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    lua_settop(L, 1);
    cbuf_note *notes;
    int n = clp_cbuf_collect_notes(L, cb, 1, &notes);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    unsigned first = (cb->current_row + 1) % cb->rows;
    if (!cb->format_delta) {
        add_header(&b, cb, notes, n);
        for (unsigned i = 0; i < cb->rows; i++) {
            unsigned r = (first + i) % cb->rows;
            for (unsigned c = 0; c < cb->cols; c++) {
                if (c) luaL_addchar(&b, '\t');
                add_heka_number(&b, cb->values[r * cb->cols + c]);
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
                snprintf(num, sizeof num, "%lld", cbuf_start_time(cb) + (long long)i * cb->spr);
                luaL_addstring(&b, num);
                for (unsigned c = 0; c < cb->cols; c++) {
                    luaL_addchar(&b, '\t');
                    add_heka_number(&b, cb->deltas[r * cb->cols + c]);
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
int clp_cbuf_get_delta(lua_State *L) {
    cbuf *cb = cbuf_check(L, 1);
    if (!cb->delta_enabled) return luaL_error(L, "get_delta() needs a circular buffer made with enable_delta");
    int saved = cb->format_delta;
    cb->format_delta = 1;
    lua_settop(L, 1);
    clp_cbuf_output(L);
    cb->format_delta = saved;
    return 1;
}
