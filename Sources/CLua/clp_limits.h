/* clp_limits.h: owns the three limits (memory via the allocator, instructions and wall
 * clock via the count hook, output bytes), the bracket around each call that arms and
 * settles them, and termination. */
#ifndef CLP_LIMITS_H
#define CLP_LIMITS_H

#include "clp_state.h"

/* The smallest instruction limit whose count is deferred (see clp_limits.c). */
#define CLP_DEFER_MIN 1000000ULL

/* The lua_Alloc of every sandbox (ud is the sandbox). */
void *clp_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* Trips the limits with a reason (first reason wins): the sandbox is terminated, or
 * with trip_ends_call_only only the current call is. */
void clp_mark_terminated(clp_sandbox *sb, const char *reason);
/* Raises the trip if a limit tripped: called at every checkpoint (API calls,
 * pcall/resume wrappers). Never returns when tripped. */
void clp_check_limits(lua_State *L);
/* Raises "output_limit exceeded" (terminating) when n exceeds the output limit. */
void clp_check_output(lua_State *L, size_t n);
/* The same for the encoder's many small checks: no call for a size at or under both the
 * peak so far and the limit. */
static inline void clp_check_output_inline(lua_State *L, clp_sandbox *sb, size_t n) {
    if (n > sb->output_peak || (sb->limits.output_limit && n > sb->limits.output_limit)) clp_check_output(L, n);
}

/* Starts a call named `entry` (the prefix of its termination reasons): a fresh
 * instruction budget, the count hook, the deadline, and the per-call API counters. */
void clp_limits_begin(clp_sandbox *sb, const char *entry);
/* Ends a protected call that returned `rc`: records the instructions used and turns an
 * error or a tripped limit into termination. CLP_OK or CLP_TERMINATED. */
int clp_limits_end(clp_sandbox *sb, int rc);
/* Ends the thread's record of the call in progress (clp_limits_end does it): for a call
 * that is begun but not ended through clp_limits_end, and before the sandbox is freed. */
void clp_limits_leave(clp_sandbox *sb);
/* Counts a new coroutine's instructions from its first one. */
void clp_limits_hook_thread(lua_State *co);
/* Lifts the limits for host work on the state (preservation). */
void clp_limits_lift(clp_sandbox *sb);
/* Puts the memory limit back after clp_limits_lift or a temporary change. */
void clp_limits_reinstate(clp_sandbox *sb);
/* Reinstalls the count hook at its normal step (a trip leaves it firing every instruction). */
void clp_limits_rehook(clp_sandbox *sb);

#endif
