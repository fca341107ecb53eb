/* clp_cbuf_stats.h: owns the circular buffer's statistics methods. */
#ifndef CLP_CBUF_STATS_H
#define CLP_CBUF_STATS_H

#include <lua5.4/lua.h>

/* cb:get_range(col [, start_ns, end_ns]): the column's values, oldest first. */
int clp_cbuf_get_range(lua_State *L);
/* cb:compute(fn, col [, start_ns, end_ns]): the result and the number of set cells. */
int clp_cbuf_compute(lua_State *L);
/* cb:mannwhitneyu(col, s1, e1, s2, e2 [, continuity]): U and the p-value. */
int clp_cbuf_mannwhitneyu(lua_State *L);

#endif
