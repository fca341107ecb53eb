/* clp_sandbox.c: the sandbox's lifecycle and its three limits.
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
#include <string.h>
#include "clp_internal.h"

static void *clp_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
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
    void *p = realloc(ptr, nsize);
    if (p == NULL) {
        if (nsize > osize) sb->mem_pending = 1;
        return NULL;
    }
    if (retry) sb->mem_pending = 0;
    sb->mem_current = sb->mem_current - osize + nsize;
    if (sb->mem_current > sb->mem_peak) sb->mem_peak = sb->mem_current;
    return p;
}

static int clp_panic(lua_State *L) {
    /* Unreachable by design: every entry is protected. Abort loudly rather than longjmp
     * into an unknown frame. */
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(non-string error)";
    fprintf(stderr, "luapiped: unprotected Lua error: %s\n", m);
    abort();
    return 0;
}

static void clp_warn(void *ud, const char *msg, int tocont) {
    clp_sandbox *sb = ud;
    (void)tocont;
    if (sb->cb.log && msg[0] != '@') sb->cb.log(sb->host, 4, msg, strnlen(msg, 1024));
}

void clp_mark_terminated(clp_sandbox *sb, const char *reason) {
    if (sb->terminated) return;
    sb->terminated = 1;
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
    if (sb->terminated) raise_terminated(L);
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
    if (sb->terminated || sb->mem_pending) clp_check_limits(L);
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

static void begin_call(clp_sandbox *sb, const char *entry) {
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

/* Turns the outcome of a protected call into the sandbox's state. */
static int end_call(clp_sandbox *sb, int rc) {
    lua_State *L = sb->L;
    sb->instr_last = sb->instr_used;
    if (sb->instr_used > sb->instr_peak) sb->instr_peak = sb->instr_used;
    if (rc != LUA_OK) {
        if (rc == LUA_ERRMEM || sb->mem_pending) {
            clp_mark_terminated(sb, "memory_limit exceeded");
        } else if (!sb->terminated) {
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
    if (!sb->terminated && past_deadline(sb)) clp_mark_terminated(sb, "max_process_duration exceeded");
    sb->has_deadline = 0;
    if (sb->terminated) {
        lua_settop(L, 0);
        return CLP_TERMINATED;
    }
    return CLP_OK;
}

static int open_trampoline(lua_State *L) {
    return clp_open_environment(L);
}

clp_sandbox *clp_sandbox_new(clp_kind kind, const clp_limits *limits, const clp_callbacks *cb, void *host,
                             const char *module_path) {
    clp_sandbox *sb = calloc(1, sizeof *sb);
    if (!sb) return NULL;
    sb->kind = kind;
    sb->limits = *limits;
    sb->cb = *cb;
    sb->host = host;
    sb->module_path = strdup(module_path ? module_path : "");
    sb->pm_ref = sb->te_ref = LUA_NOREF;
    sb->entry = "";
    sb->step = limits->instruction_step ? limits->instruction_step : 1000;
    if (limits->instruction_limit && limits->instruction_limit < sb->step) sb->step = (unsigned)limits->instruction_limit;
    sb->L = lua_newstate(clp_alloc, sb);
    if (!sb->L) {
        free(sb->module_path);
        free(sb);
        return NULL;
    }
    *(clp_sandbox **)lua_getextraspace(sb->L) = sb;
    lua_atpanic(sb->L, clp_panic);
    lua_setwarnf(sb->L, clp_warn, sb);
    lua_pushcfunction(sb->L, open_trampoline);
    if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK) {
        clp_mark_terminated(sb, lua_type(sb->L, -1) == LUA_TSTRING ? lua_tostring(sb->L, -1) : "environment setup failed");
        lua_settop(sb->L, 0);
    }
    sb->mem_limit_now = limits->memory_limit;
    return sb;
}

void clp_sandbox_set_message(clp_sandbox *sb, const clp_message_headers *h) {
    if (h) {
        sb->msg_headers = *h;
        sb->has_message = 1;
    } else {
        sb->has_message = 0;
    }
}

void clp_sandbox_set_host(clp_sandbox *sb, void *host) {
    sb->host = host;
}

void clp_sandbox_free(clp_sandbox *sb) {
    if (!sb) return;
    if (sb->L) {
        sb->mem_limit_now = 0;
        lua_close(sb->L);
    }
    clp_buf_free(&sb->payload);
    clp_buf_free(&sb->out);
    clp_buf_free(&sb->packed);
    clp_buf_free(&sb->keys);
    free(sb->module_path);
    free(sb);
}

static int refs_trampoline(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    lua_pushglobaltable(L);
    lua_pushliteral(L, "process_message");
    if (lua_rawget(L, -2) == LUA_TFUNCTION) sb->pm_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else lua_pop(L, 1);
    lua_pushliteral(L, "timer_event");
    if (lua_rawget(L, -2) == LUA_TFUNCTION) sb->te_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else lua_pop(L, 1);
    return 0;
}

int clp_sandbox_load(clp_sandbox *sb, const char *chunkname, const char *code, size_t len) {
    lua_State *L = sb->L;
    if (sb->terminated) return CLP_TERMINATED;
    begin_call(sb, "");
    int rc = luaL_loadbufferx(L, code, len, chunkname, "t");
    if (rc == LUA_OK) rc = lua_pcall(L, 0, 0, 0);
    if (end_call(sb, rc) != CLP_OK) return CLP_TERMINATED;
    lua_pushcfunction(L, refs_trampoline);
    if (end_call(sb, lua_pcall(L, 0, 0, 0)) != CLP_OK) return CLP_TERMINATED;
    if (sb->pm_ref == LUA_NOREF) {
        clp_mark_terminated(sb, "process_message() function was not found");
        return CLP_TERMINATED;
    }
    return CLP_OK;
}

size_t clp_sandbox_modules(clp_sandbox *sb, char *buf, size_t cap) { return clp_env_modules(sb->L, buf, cap); }

int clp_sandbox_has_function(clp_sandbox *sb, const char *name) {
    if (strcmp(name, "process_message") == 0) return sb->pm_ref != LUA_NOREF;
    if (strcmp(name, "timer_event") == 0) return sb->te_ref != LUA_NOREF;
    return 0;
}

static int pm_trampoline(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sb->pm_ref);
    lua_call(L, 0, 2);
    return 2;
}

int clp_sandbox_process(clp_sandbox *sb, int *status) {
    lua_State *L = sb->L;
    *status = 0;
    if (sb->terminated) return CLP_TERMINATED;
    if (sb->pm_ref == LUA_NOREF) return CLP_MISSING;
    begin_call(sb, "process_message() ");
    lua_settop(L, 0);
    lua_pushcfunction(L, pm_trampoline);
    if (end_call(sb, lua_pcall(L, 0, 2, 0)) != CLP_OK) return CLP_TERMINATED;
    if (lua_type(L, 1) != LUA_TNUMBER) {
        clp_mark_terminated(sb, "must return a numeric status");
        lua_settop(L, 0);
        return CLP_TERMINATED;
    }
    int t2 = lua_type(L, 2);
    if (t2 != LUA_TNIL && t2 != LUA_TSTRING) {
        clp_mark_terminated(sb, "must return a nil or string error message");
        lua_settop(L, 0);
        return CLP_TERMINATED;
    }
    int isint = 0;
    lua_Integer st = lua_tointegerx(L, 1, &isint);
    if (!isint) {
        lua_Number d = lua_tonumber(L, 1);
        if (d != d) { /* NaN is no status */
            clp_mark_terminated(sb, "must return a numeric status");
            lua_settop(L, 0);
            return CLP_TERMINATED;
        }
        st = d > 1e6 ? 1000000 : (d < -1e6 ? -1000000 : (lua_Integer)d);
    }
    *status = st > 1000000 ? 1000000 : (st < -1000000 ? -1000000 : (int)st);
    if (t2 == LUA_TSTRING) {
        size_t n;
        const char *m = lua_tolstring(L, 2, &n);
        if (n >= CLP_MSG_SIZE) n = CLP_MSG_SIZE - 1;
        memcpy(sb->msg, m, n);
        sb->msg[n] = 0;
        sb->msg_len = n;
        sb->has_msg = 1;
    }
    lua_settop(L, 0);
    if (*status > 0) {
        char buf[CLP_ERR_SIZE];
        if (sb->has_msg) snprintf(buf, sizeof buf, "%s", sb->msg);
        else snprintf(buf, sizeof buf, "returned fatal status %d", *status);
        clp_mark_terminated(sb, buf);
        return CLP_TERMINATED;
    }
    return CLP_OK;
}

static int te_trampoline(lua_State *L) {
    clp_sandbox *sb = clp_get(L);
    lua_Integer ns = lua_tointeger(L, 1);
    int shutdown = lua_toboolean(L, 2);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sb->te_ref);
    lua_pushinteger(L, ns);
    lua_pushboolean(L, shutdown);
    lua_call(L, 2, 0);
    return 0;
}

int clp_sandbox_timer(clp_sandbox *sb, long long ns, int shutdown) {
    lua_State *L = sb->L;
    if (sb->terminated) return CLP_TERMINATED;
    if (sb->te_ref == LUA_NOREF) return CLP_MISSING;
    begin_call(sb, "timer_event() ");
    lua_settop(L, 0);
    lua_pushcfunction(L, te_trampoline);
    lua_pushinteger(L, ns);
    lua_pushboolean(L, shutdown);
    int rc = end_call(sb, lua_pcall(L, 2, 0, 0));
    lua_settop(L, 0);
    return rc;
}

const char *clp_sandbox_message(clp_sandbox *sb, size_t *len) {
    if (!sb->has_msg) return NULL;
    if (len) *len = sb->msg_len;
    return sb->msg;
}

const char *clp_sandbox_error(clp_sandbox *sb) {
    return sb->terminated ? sb->err : NULL;
}

int clp_sandbox_terminated(clp_sandbox *sb) {
    return sb->terminated;
}

void clp_sandbox_terminate(clp_sandbox *sb, const char *reason) {
    const char *e = sb->entry;
    sb->entry = "";
    clp_mark_terminated(sb, reason);
    sb->entry = e;
}

void clp_sandbox_usage(clp_sandbox *sb, clp_usage *u) {
    u->memory_current = sb->mem_current;
    u->memory_peak = sb->mem_peak;
    u->instructions_last = sb->instr_last;
    u->instructions_peak = sb->instr_peak;
    u->output_peak = sb->output_peak;
}

/* Preservation runs with the limits lifted: it is the host's work, not the script's,
 * and a plugin that sits at its memory limit must still be able to save its state. */
static void lift_limits(clp_sandbox *sb) {
    sb->mem_limit_now = 0;
    sb->count_instructions = 0;
    sb->has_deadline = 0;
    lua_sethook(sb->L, NULL, 0, 0);
}

static void restore_limits(clp_sandbox *sb) {
    sb->mem_limit_now = sb->limits.memory_limit;
}

static int preserve_trampoline(lua_State *L) {
    clp_buf *out = lua_touserdata(L, 1);
    return clp_serialize_globals(L, out);
}

int clp_sandbox_preserve(clp_sandbox *sb, char **out, size_t *len) {
    lua_State *L = sb->L;
    clp_buf b = {0};
    *out = NULL;
    *len = 0;
    lift_limits(sb);
    lua_settop(L, 0);
    lua_pushcfunction(L, preserve_trampoline);
    lua_pushlightuserdata(L, &b);
    int rc = lua_pcall(L, 1, 0, 0);
    restore_limits(sb);
    if (rc != LUA_OK) {
        /* The state cannot be saved, but the script is intact and goes on running: the
         * reason is handed back in *out, the sandbox is not terminated. */
        *out = strdup(lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "preserve_data() failed");
        lua_settop(L, 0);
        clp_buf_free(&b);
        return CLP_TERMINATED;
    }
    *out = b.data;
    *len = b.len;
    return CLP_OK;
}

/* __clp_userdata(kind, text): rebuilds a preserved userdata with the restorer its
 * module registered (circular_buffer). */
static int restore_userdata(lua_State *L) {
    const char *kind = luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, "clp.restorers");
    if (lua_getfield(L, -1, kind) != LUA_TFUNCTION) {
        /* its module is not loaded yet: load it the way the script would */
        lua_pop(L, 1);
        lua_getglobal(L, "require");
        lua_pushstring(L, kind);
        lua_call(L, 1, 0);
        if (lua_getfield(L, -1, kind) != LUA_TFUNCTION) return luaL_error(L, "preserved %s cannot be restored", kind);
    }
    lua_pushvalue(L, 2);
    lua_call(L, 1, 1);
    return 1;
}

/* Runs the preserved chunk in a scratch environment T (T._G = T), then copies T into
 * the real globals only when _PRESERVATION_VERSION matches. */
static int restore_trampoline(lua_State *L) {
    const char *data = lua_touserdata(L, 1);
    size_t len = (size_t)lua_tointeger(L, 2);
    lua_settop(L, 0);
    if (luaL_loadbufferx(L, data, len, "=preserved data", "t") != LUA_OK) return lua_error(L);
    lua_newtable(L); /* T at 2 */
    lua_pushvalue(L, 2);
    lua_setfield(L, 2, "_G");
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "math");
    lua_setfield(L, 2, "math");
    lua_pop(L, 1);
    lua_pushcfunction(L, restore_userdata);
    lua_setfield(L, 2, "__clp_userdata");
    lua_pushvalue(L, 2);
    lua_setupvalue(L, 1, 1);
    lua_pushvalue(L, 1);
    lua_call(L, 0, 0);
    lua_remove(L, 1); /* T at 1 */
    lua_pushglobaltable(L); /* G at 2 */
    lua_getfield(L, 1, "_PRESERVATION_VERSION");
    lua_pushliteral(L, "_PRESERVATION_VERSION");
    lua_rawget(L, 2);
    lua_Number saved = lua_tonumber(L, -2), current = lua_tonumber(L, -1);
    lua_pop(L, 2);
    if (saved != current) {
        lua_pushboolean(L, 0);
        return 1;
    }
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "math");
    lua_replace(L, 3); /* math lib at 3 */
    lua_settop(L, 3);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        int skip = 0;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            if (strcmp(k, "_G") == 0 && lua_rawequal(L, -1, 1)) skip = 1;
            if (strcmp(k, "math") == 0 && lua_rawequal(L, -1, 3)) skip = 1;
            if (strcmp(k, "__clp_userdata") == 0) skip = 1;
        }
        if (!skip) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, 2);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int clp_sandbox_restore(clp_sandbox *sb, const char *data, size_t len, char **err) {
    lua_State *L = sb->L;
    *err = NULL;
    if (sb->terminated) return CLP_TERMINATED;
    /* Preserved data is straight-line code: bound it anyway (a corrupt or edited file
     * must not hang or exhaust the host), with room for the transient copy it makes. */
    begin_call(sb, "");
    sb->mem_limit_now = sb->limits.memory_limit ? sb->limits.memory_limit * 2 : 0;
    unsigned long long saved_limit = sb->limits.instruction_limit;
    sb->limits.instruction_limit = 1000000ULL + 20ULL * len;
    lua_settop(L, 0);
    lua_pushcfunction(L, restore_trampoline);
    lua_pushlightuserdata(L, (void *)data);
    lua_pushinteger(L, (lua_Integer)len);
    int rc = lua_pcall(L, 2, 1, 0);
    sb->limits.instruction_limit = saved_limit;
    restore_limits(sb);
    sb->has_deadline = 0;
    int result = CLP_OK;
    if (rc != LUA_OK || sb->mem_pending || sb->terminated) {
        const char *why = sb->terminated ? sb->err
                        : (rc == LUA_ERRMEM || sb->mem_pending) ? "memory_limit exceeded"
                        : lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "preserved data did not load";
        *err = strdup(why);
        result = CLP_TERMINATED;
        /* Only the scratch table was touched: the script's own state is intact, so the
         * sandbox goes on without the preserved data. */
        sb->terminated = 0;
        sb->err[0] = 0;
        sb->mem_pending = 0;
        lua_sethook(L, clp_hook, LUA_MASKCOUNT, (int)sb->step);
    } else if (!lua_toboolean(L, -1)) {
        result = CLP_MISSING;
    }
    lua_settop(L, 0);
    return result;
}
