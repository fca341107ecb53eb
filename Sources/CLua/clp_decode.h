/* clp_decode.h: owns the Heka protobuf -> Lua message table decoder. */
#ifndef CLP_DECODE_H
#define CLP_DECODE_H

#include <stddef.h>
#include <lua5.4/lua.h>

/* Pushes the Lua table form of a protobuf message; returns 1 or raises. */
int clp_push_decoded(lua_State *L, const unsigned char *p, size_t n);

#endif
