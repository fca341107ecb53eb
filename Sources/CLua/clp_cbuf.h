/* clp_cbuf.h: owns the circular_buffer module's entry point (the rest of it is private
 * to the clp_cbuf*.c files, see clp_cbuf_core.h). */
#ifndef CLP_CBUF_H
#define CLP_CBUF_H

#include <lua5.4/lua.h>

/* Pushes the module table and registers the metatable and restorer. */
int clp_open_circular_buffer(lua_State *L);

#endif
