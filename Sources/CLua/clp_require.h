/* clp_require.h: owns the sandbox's require and the record of what it loaded. */
#ifndef CLP_REQUIRE_H
#define CLP_REQUIRE_H

#include <stddef.h>
#include <lua5.4/lua.h>

/* require(name): the global the environment installs. */
int clp_require(lua_State *L);
/* The names of the modules require loaded, each followed by '\n'; returns the bytes written. */
size_t clp_require_loaded(lua_State *L, char *buf, size_t cap);

#endif
