/* clp_encode_fields.h: owns the encoding of a message table's Fields. */
#ifndef CLP_ENCODE_FIELDS_H
#define CLP_ENCODE_FIELDS_H

#include <lua5.4/lua.h>

/* Appends the Fields table at fidx (array or hash form) to the sandbox's `out` buffer. */
void clp_encode_fields(lua_State *L, int fidx);

#endif
