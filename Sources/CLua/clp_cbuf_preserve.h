/* clp_cbuf_preserve.h: owns the circular buffer's preserved text (see clp_preserve.h
 * for the contract) and fromstring. */
#ifndef CLP_CBUF_PRESERVE_H
#define CLP_CBUF_PRESERVE_H

#include <lua5.4/lua.h>

/* The __clp_preserve metamethod: the buffer as text. */
int clp_cbuf_preserve(lua_State *L);
/* The restorer: text -> a new circular buffer. */
int clp_cbuf_restore(lua_State *L);
/* cb:fromstring(text): Heka's restore of the values. */
int clp_cbuf_fromstring(lua_State *L);

#endif
