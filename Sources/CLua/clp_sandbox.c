/* clp_sandbox.c: the sandbox's lifecycle (new, load, free) and its entries
 * (process_message, timer_event), each run protected inside the limits' bracket
 * (clp_limits.h). Preservation's entries live in clp_preserve.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clp_env.h"
#include "clp_limits.h"
#include "clp_require.h"

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
    long long ns = limits->max_process_duration > 0 ? (long long)(limits->max_process_duration * 1e9) : 0;
    sb->duration.tv_sec = (time_t)(ns / 1000000000LL);
    sb->duration.tv_nsec = (long)(ns % 1000000000LL);
    sb->defer = !limits->instruction_step && (!limits->instruction_limit || limits->instruction_limit >= CLP_DEFER_MIN);
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
    sb->headers_pending = 0;
    if (h) {
        sb->msg_headers = *h;
        sb->has_message = 1;
    } else {
        sb->has_message = 0;
    }
}

void clp_sandbox_set_record(clp_sandbox *sb, const clp_message_headers *fixed, int64_t timestamp, const char *payload,
                            size_t len) {
    clp_sandbox_set_message(sb, fixed);
    sb->msg_headers.timestamp = (clp_value){.type = CLP_V_INTEGER, .i = timestamp};
    /* an empty record still points somewhere readable */
    sb->msg_headers.payload = (clp_value){.type = CLP_V_STRING, .s = payload ? payload : "", .len = len};
}

void clp_sandbox_set_view(clp_sandbox *sb, const char *raw, size_t size, const heka_field_slot *fields,
                          size_t field_count, const clp_view_headers *vh) {
    sb->msg_headers.raw = raw;
    sb->msg_headers.size = size;
    sb->msg_headers.fields = fields;
    sb->msg_headers.field_count = field_count;
    sb->view_headers = *vh;
    sb->headers_pending = 1;
    sb->has_message = 1;
}

static clp_value view_string(const clp_sandbox *sb, int i) {
    int32_t start = sb->view_headers.spans[2 * i], end = sb->view_headers.spans[2 * i + 1];
    if (start < 0) return (clp_value){0};
    return (clp_value){.type = CLP_V_STRING, .s = sb->msg_headers.raw + start, .len = (size_t)(end - start)};
}

static clp_value view_integer(int present, long long v) {
    return present ? (clp_value){.type = CLP_V_INTEGER, .i = v} : (clp_value){0};
}

const clp_message_headers *clp_current_headers(clp_sandbox *sb) {
    if (sb->headers_pending) {
        const clp_view_headers *vh = &sb->view_headers;
        clp_message_headers *h = &sb->msg_headers;
        h->uuid = view_string(sb, 0);
        h->type = view_string(sb, 1);
        h->logger = view_string(sb, 2);
        h->payload = view_string(sb, 3);
        h->env_version = view_string(sb, 4);
        h->hostname = view_string(sb, 5);
        h->timestamp = view_integer(1, vh->timestamp);
        h->severity = view_integer(vh->has_severity, vh->severity);
        h->pid = view_integer(vh->has_pid, vh->pid);
        sb->headers_pending = 0;
    }
    return &sb->msg_headers;
}

void clp_sandbox_set_host(clp_sandbox *sb, void *host) {
    sb->host = host;
}

void clp_sandbox_free(clp_sandbox *sb) {
    if (!sb) return;
    clp_limits_leave(sb);
    if (sb->L) {
        sb->mem_limit_now = 0;
        lua_close(sb->L);
    }
    clp_buf_free(&sb->payload);
    clp_buf_free(&sb->out);
    clp_buf_free(&sb->packed);
    clp_buf_free(&sb->keys);
    clp_buf_free(&sb->key_cache);
    clp_buf_free(&sb->field_spans);
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
    clp_limits_begin(sb, "");
    int rc = luaL_loadbufferx(L, code, len, chunkname, "t");
    if (rc == LUA_OK) rc = lua_pcall(L, 0, 0, 0);
    if (clp_limits_end(sb, rc) != CLP_OK) return CLP_TERMINATED;
    lua_pushcfunction(L, refs_trampoline);
    if (clp_limits_end(sb, lua_pcall(L, 0, 0, 0)) != CLP_OK) return CLP_TERMINATED;
    if (sb->pm_ref == LUA_NOREF) {
        clp_mark_terminated(sb, "process_message() function was not found");
        return CLP_TERMINATED;
    }
    return CLP_OK;
}

size_t clp_sandbox_modules(clp_sandbox *sb, char *buf, size_t cap) { return clp_require_loaded(sb->L, buf, cap); }

int clp_sandbox_has_function(clp_sandbox *sb, const char *name) {
    if (strcmp(name, "process_message") == 0) return sb->pm_ref != LUA_NOREF;
    if (strcmp(name, "timer_event") == 0) return sb->te_ref != LUA_NOREF;
    return 0;
}

int clp_sandbox_process(clp_sandbox *sb, int *status) {
    lua_State *L = sb->L;
    *status = 0;
    if (sb->terminated) return CLP_TERMINATED;
    if (sb->pm_ref == LUA_NOREF) return CLP_MISSING;
    clp_limits_begin(sb, "process_message() ");
    lua_settop(L, 0);
    /* Pushed unprotected: an integer key's lookup in the registry neither raises nor
     * allocates, and the call itself is one C level fewer than through a trampoline. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, sb->pm_ref);
    if (clp_limits_end(sb, lua_pcall(L, 0, 2, 0)) != CLP_OK) return CLP_TERMINATED;
    if (lua_type(L, 1) != LUA_TNUMBER) {
        clp_mark_terminated(sb, "must return a numeric status code");
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
            clp_mark_terminated(sb, "must return a numeric status code");
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
    clp_limits_begin(sb, "timer_event() ");
    lua_settop(L, 0);
    lua_pushcfunction(L, te_trampoline);
    lua_pushinteger(L, ns);
    lua_pushboolean(L, shutdown);
    int rc = clp_limits_end(sb, lua_pcall(L, 2, 0, 0));
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
