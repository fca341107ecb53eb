/* clp_env.h: owns the restricted environment (the allow-list, the limit-keeping
 * wrappers) and the registry tables that tell the environment from the script's state. */
#ifndef CLP_ENV_H
#define CLP_ENV_H

#include <lua5.4/lua.h>

/* Registry: modules require loaded, by name. */
#define CLP_REG_LOADED "clp.loaded"
/* Registry: set of tables and functions that are environment (or modules), not state. */
#define CLP_REG_SKIP "clp.skip"
/* Registry: the globals' initial values; a global still holding one is not state. */
#define CLP_REG_INITIAL "clp.initial"

/* Opens the environment into the state's globals (a lua_CFunction: run it protected). */
int clp_open_environment(lua_State *L);

#endif
