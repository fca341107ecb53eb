/* clp_encode.h: owns the Lua message table -> Heka protobuf encoder. */
#ifndef CLP_ENCODE_H
#define CLP_ENCODE_H

#include <lua5.4/lua.h>

/* Encodes the table at idx into the sandbox's `out` buffer (for_encode: encode_message
 * rather than inject_message, which decides the defaults and the error names). Raises
 * on a bad table or the output limit. */
void clp_encode_table(lua_State *L, int idx, int for_encode);

/* A message table's header keys, in the order of the sandbox's hstr and href. */
extern const char *const clp_header_keys[];

#endif
