/* clp_decode.h: owns the Heka protobuf -> Lua message table decoder. */
#ifndef CLP_DECODE_H
#define CLP_DECODE_H

#include <stddef.h>
#include <lua5.4/lua.h>
#include "clp_sandbox.h"

/* Pushes the Lua table form of a protobuf message; returns 1 or raises. */
int clp_push_decoded(lua_State *L, const unsigned char *p, size_t n);

/* read_message("Fields[name]", fi, ai) of the message msg..msg+size whose fields are at
 * slots: the ai-th value of the fi-th field called name. 1 found (a string points into
 * msg), 0 none, -1 malformed. */
int clp_find_field(const unsigned char *msg, size_t size, const heka_field_slot *slots, size_t count, const char *name,
                   size_t nlen, long fi, long ai, clp_value *out);

#endif
