/* Umbrella header of the CLua module: the sandbox and the matcher's regex engine.
 * Lua's own headers stay private to the C files: Swift never calls Lua directly. */
#ifndef CLUA_H
#define CLUA_H
#include "clp_sandbox.h"
#include "clp_regex.h"
#include "clp_http.h"
#include "clp_httpd.h"
#include "clp_net.h"
#include "clp_nats.h"
#endif
