/* clp_cbuf_output.h: owns the circular buffer's text forms (cbuf, cbufd) and the
 * annotations and number format they share with its preserved text. */
#ifndef CLP_CBUF_OUTPUT_H
#define CLP_CBUF_OUTPUT_H

#include "clp_cbuf_core.h"

typedef struct { long long t; int col; char type; const char *text; } cbuf_note;

/* Appends d as the cbuf text writes it (integers without a point, nan, inf). */
void clp_cbuf_add_number(luaL_Buffer *b, double d);
/* Pushes the live annotations of the buffer at `ud` as a userdata array of notes,
 * sorted by time and column (texts stay referenced by the annotation table, pushed
 * below it); drops the expired ones. Returns their number. */
int clp_cbuf_collect_notes(lua_State *L, cbuf *cb, int ud, cbuf_note **out);
/* The __clp_output metamethod: the text in the buffer's current format. */
int clp_cbuf_output(lua_State *L);
/* cb:get_delta(): the cbufd text whatever the format. */
int clp_cbuf_get_delta(lua_State *L);

#endif
