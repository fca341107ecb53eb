/* clp_api.h: owns Heka's Lua API functions (read_message, inject_*, encode/decode...)
 * and the metafield through which a userdata can be added to a payload. */
#ifndef CLP_API_H
#define CLP_API_H

#include <lua5.4/lua.h>
#include "clp_sandbox.h"

/* Metafield: a C function returning the userdata's payload text (circular_buffer). */
#define CLP_META_OUTPUT "__clp_output"

/* Registers the API functions the plugin kind gets as globals. */
void clp_register_api(lua_State *L, clp_kind kind);

#endif
