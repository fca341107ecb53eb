/* clp_limits.c: the sandbox's three limits.
 *
 * Memory: our allocator counts every byte of the state and refuses growth past the
 * limit; Lua then collects garbage and retries once (same block, same sizes) before it
 * raises a memory error. A refusal that is not followed by a successful retry leaves
 * mem_pending set, and every checkpoint turns it into a termination, so a memory error
 * caught by pcall or a coroutine still ends the plugin.
 *
 * Instructions: a coarse count hook (every `step` instructions) charges one per-call
 * budget shared by all coroutines (they inherit the hook from the main thread). A
 * per-instruction hook would make Lua about twice as slow.
 *
 * Time: the hook also checks the wall clock against max_process_duration; code stuck
 * inside C (a pathological string.find) cannot be interrupted, so the elapsed time is
 * checked again when the call returns and the plugin is terminated then. */
#include <stdio.h>
#include <stdlib.h>
#include "clp_limits.h"

void *clp_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    clp_sandbox *sb = ud;
    if (ptr == NULL) osize = 0; /* osize then encodes the object type, not a size */
    if (nsize == 0) {
        free(ptr);
        sb->mem_current -= osize;
        return NULL;
    }
    int retry = sb->mem_pending && ptr == sb->refused_block && osize == sb->refused_osize && nsize == sb->refused_nsize;
    if (nsize > osize && sb->mem_limit_now && sb->mem_current - osize + nsize > sb->mem_limit_now) {
        sb->mem_pending = 1;
        sb->refused_block = ptr;
        sb->refused_osize = osize;
        sb->refused_nsize = nsize;
        return NULL;
    }
    void *p = ptr ? realloc(ptr, nsize) : malloc(nsize); /* most blocks are new ones */
    if (p == NULL) {
        if (nsize > osize) sb->mem_pending = 1;
        return NULL;
    }
    if (retry) sb->mem_pending = 0;
    sb->mem_current = sb->mem_current - osize + nsize;
    if (sb->mem_current > sb->mem_peak) sb->mem_peak = sb->mem_current;
    return p;
}

void clp_mark_terminated(clp_sandbox *sb, const char *reason) {
    if (sb->tripped) return;
    sb->tripped = 1;
    if (!sb->trip_ends_call_only) sb->terminated = 1;
    snprintf(sb->err, sizeof sb->err, "%s%s", sb->entry ? sb->entry : "", reason);
}

static void raise_terminated(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    /* Every later hook fires at once and raises again, in whatever thread runs. */
    lua_sethook(L, lua_gethook(L), LUA_MASKCOUNT, 1);
    lua_pushstring(L, sb->err);
    lua_error(L);
}

void clp_check_limits(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    if (sb->mem_pending) clp_mark_terminated(sb, "memory_limit exceeded");
    if (sb->tripped) raise_terminated(L);
}

void clp_check_output(lua_State *L, size_t n) {
    clp_sandbox *sb = clp_get(L);
    if (n > sb->output_peak) sb->output_peak = n;
    if (sb->limits.output_limit && n > sb->limits.output_limit) {
        char where[CLP_ERR_SIZE];
        luaL_where(L, 1);
        snprintf(where, sizeof where, "%soutput_limit exceeded", lua_tostring(L, -1));
        lua_pop(L, 1);
        clp_mark_terminated(sb, where);
        raise_terminated(L);
    }
}

static int past_deadline(clp_sandbox *sb) {
    if (!sb->has_deadline) return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return now.tv_sec > sb->deadline.tv_sec || (now.tv_sec == sb->deadline.tv_sec && now.tv_nsec > sb->deadline.tv_nsec);
}

static void clp_hook(lua_State *L, lua_Debug *ar) {
    clp_sandbox *sb = clp_get(L);
    if (sb->tripped || sb->mem_pending) clp_check_limits(L);
    if (!sb->count_instructions) return;
    sb->instr_used += sb->step;
    const char *reason = NULL;
    if (sb->limits.instruction_limit && sb->instr_used > sb->limits.instruction_limit)
        reason = "instruction_limit exceeded";
    else if (past_deadline(sb))
        reason = "max_process_duration exceeded";
    if (!reason) return;
    char buf[CLP_ERR_SIZE];
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
        snprintf(buf, sizeof buf, "%s:%d: %s", ar->short_src, ar->currentline, reason);
    else
        snprintf(buf, sizeof buf, "%s", reason);
    clp_mark_terminated(sb, buf);
    raise_terminated(L);
}

void clp_limits_begin(clp_sandbox *sb, const char *entry) {
    sb->entry = entry;
    sb->instr_used = 0;
    sb->has_msg = 0;
    sb->injects_this_call = 0;
    sb->count_instructions = 1;
    lua_sethook(sb->L, clp_hook, LUA_MASKCOUNT, (int)sb->step); /* also resets the count */
    sb->has_deadline = sb->limits.max_process_duration > 0;
    if (sb->has_deadline) {
        clock_gettime(CLOCK_MONOTONIC_COARSE, &sb->deadline);
        double d = sb->limits.max_process_duration;
        long long ns = (long long)(d * 1e9) + sb->deadline.tv_nsec;
        sb->deadline.tv_sec += ns / 1000000000LL;
        sb->deadline.tv_nsec = ns % 1000000000LL;
    }
}

int clp_limits_end(clp_sandbox *sb, int rc) {
    lua_State *L = sb->L;
    sb->instr_last = sb->instr_used;
    if (sb->instr_used > sb->instr_peak) sb->instr_peak = sb->instr_used;
    if (rc != LUA_OK) {
        if (rc == LUA_ERRMEM || sb->mem_pending) {
            clp_mark_terminated(sb, "memory_limit exceeded");
        } else if (!sb->tripped) {
            /* Never call __tostring on an error object: it may loop or raise. */
            if (lua_type(L, -1) == LUA_TSTRING) {
                clp_mark_terminated(sb, lua_tostring(L, -1));
            } else {
                char buf[96];
                snprintf(buf, sizeof buf, "error object is a %s value", luaL_typename(L, -1));
                clp_mark_terminated(sb, buf);
            }
        }
    } else if (sb->mem_pending) {
        clp_mark_terminated(sb, "memory_limit exceeded");
    }
    if (!sb->tripped && past_deadline(sb)) clp_mark_terminated(sb, "max_process_duration exceeded");
    sb->has_deadline = 0;
    if (sb->terminated) {
        lua_settop(L, 0);
        return CLP_TERMINATED;
    }
    return CLP_OK;
}

/* Preservation runs with the limits lifted: it is the host's work, not the script's,
 * and a plugin that sits at its memory limit must still be able to save its state. */
void clp_limits_lift(clp_sandbox *sb) {
    sb->mem_limit_now = 0;
    sb->count_instructions = 0;
    sb->has_deadline = 0;
    lua_sethook(sb->L, NULL, 0, 0);
}

void clp_limits_reinstate(clp_sandbox *sb) {
    sb->mem_limit_now = sb->limits.memory_limit;
}

void clp_limits_rehook(clp_sandbox *sb) {
    lua_sethook(sb->L, clp_hook, LUA_MASKCOUNT, (int)sb->step);
}
