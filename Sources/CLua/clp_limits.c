/* clp_limits.c: the sandbox's three limits.
 *
 * Memory: our allocator counts every byte of the state and refuses growth past the
 * limit; Lua then collects garbage and retries once (same block, same sizes) before it
 * raises a memory error. A refusal that is not followed by a successful retry leaves
 * mem_pending set, and every checkpoint turns it into a termination, so a memory error
 * caught by pcall or a coroutine still ends the plugin.
 *
 * Instructions: a coarse count hook (every `step` instructions) charges one per-call
 * budget shared by all coroutines. A per-instruction hook would make Lua about twice as
 * slow, and even a coarse one costs 5-16% of a decoder's time, because Lua calls into
 * its hook machinery before every instruction once any count hook is set. So for a limit
 * of at least CLP_DEFER_MIN (the default) the count is deferred:
 *  - the main thread runs without the hook. Every thread that runs calls has a timer on
 *    its own processor-time clock, firing every CLP_TICK_NS of the thread's CPU (the
 *    kernel checks such timers at its scheduler tick, so at HZ=250 every 4 ms). The
 *    handler runs on that thread (as lua.c's SIGINT handler does) and sets the hook if
 *    the thread is in a call; the call is counted from then on with its whole budget.
 *    So a runaway call ends after the limit plus at most one tick of work;
 *  - one call in CLP_SAMPLE_EVERY is counted from its first instruction, so
 *    instructions_peak still says what a call costs;
 *  - a coroutine is counted from its first instruction (clp_limits_hook_thread, where
 *    it is created): the handler reaches only the main thread.
 * A smaller limit, an explicit step, or a thread whose timer cannot be made counts every
 * instruction of every call.
 *
 * Time: the hook also checks the wall clock against max_process_duration; code stuck
 * inside C (a pathological string.find) cannot be interrupted, so the elapsed time is
 * checked again when the call returns and the plugin is terminated then. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
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
    sb->hook_on = 1;
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

/* The deferred count's ticks (see the top of the file). */
#define CLP_TICK_NS 1000000L
#define CLP_SAMPLE_EVERY 64

static _Thread_local clp_sandbox *volatile tick_call; /* the thread's call in progress */
static _Thread_local int tick_ready; /* 1: the timer runs; -1: it cannot be made here */
static _Thread_local timer_t tick_timer;
static pthread_once_t tick_once = PTHREAD_ONCE_INIT;
static pthread_key_t tick_key; /* deletes a thread's timer when the thread ends */
static int tick_signal;

static void set_main_hook(clp_sandbox *sb) {
    sb->hook_on = 1;
    lua_sethook(sb->L, clp_hook, LUA_MASKCOUNT, (int)sb->step); /* also resets the count */
}

/* A signal handler on the thread that owns the state: only async-signal-safe work, and
 * lua_sethook is written to be called from one. */
static void on_tick(int sig) {
    (void)sig;
    clp_sandbox *sb = tick_call;
    if (sb && !sb->hook_on) set_main_hook(sb);
}

static void drop_tick_timer(void *unused) {
    (void)unused;
    timer_delete(tick_timer);
    tick_ready = 0;
}

/* A real-time signal nobody handles yet, its handler, and the key that cleans up. */
static void tick_init(void) {
    for (int sig = SIGRTMAX; sig >= SIGRTMIN && !tick_signal; sig--) {
        struct sigaction old;
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_DFL) tick_signal = sig;
    }
    if (!tick_signal) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tick;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(tick_signal, &sa, NULL) != 0 || pthread_key_create(&tick_key, drop_tick_timer) != 0) tick_signal = 0;
}

/* The calling thread's timer: 1 when it runs, -1 when it cannot be made. */
static int tick_start(void) {
    pthread_once(&tick_once, tick_init);
    if (!tick_signal) return -1;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = tick_signal;
    ev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &tick_timer) != 0) return -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, tick_signal);
    struct itimerspec every = {{0, CLP_TICK_NS}, {0, CLP_TICK_NS}};
    if (pthread_setspecific(tick_key, &tick_timer) != 0 || pthread_sigmask(SIG_UNBLOCK, &set, NULL) != 0
        || timer_settime(tick_timer, 0, &every, NULL) != 0) {
        pthread_setspecific(tick_key, NULL); /* nothing left for the key to delete */
        timer_delete(tick_timer);
        return -1;
    }
    return 1;
}

void clp_limits_leave(clp_sandbox *sb) {
    if (tick_call != sb) return;
    tick_call = sb->outer_call;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void clp_limits_hook_thread(lua_State *co) {
    clp_sandbox *sb = clp_get(co);
    if (sb->count_instructions) lua_sethook(co, clp_hook, LUA_MASKCOUNT, (int)sb->step);
}

void clp_limits_begin(clp_sandbox *sb, const char *entry) {
    sb->entry = entry;
    sb->instr_used = 0;
    sb->has_msg = 0;
    sb->injects_this_call = 0;
    sb->count_instructions = 1;
    if (sb->defer && (tick_ready > 0 || (tick_ready == 0 && (tick_ready = tick_start()) > 0))) {
        /* The handler does not look at this sandbox until tick_call names it. */
        if (++sb->calls % CLP_SAMPLE_EVERY == 0) {
            set_main_hook(sb);
        } else if (sb->hook_on) {
            lua_sethook(sb->L, NULL, 0, 0);
            sb->hook_on = 0;
        }
        sb->outer_call = tick_call;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        tick_call = sb;
    } else {
        set_main_hook(sb);
    }
    sb->has_deadline = sb->limits.max_process_duration > 0;
    if (sb->has_deadline) {
        clock_gettime(CLOCK_MONOTONIC_COARSE, &sb->deadline);
        sb->deadline.tv_sec += sb->duration.tv_sec;
        sb->deadline.tv_nsec += sb->duration.tv_nsec;
        if (sb->deadline.tv_nsec >= 1000000000L) {
            sb->deadline.tv_sec++;
            sb->deadline.tv_nsec -= 1000000000L;
        }
    }
}

int clp_limits_end(clp_sandbox *sb, int rc) {
    lua_State *L = sb->L;
    clp_limits_leave(sb);
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
    sb->hook_on = 0;
}

void clp_limits_reinstate(clp_sandbox *sb) {
    sb->mem_limit_now = sb->limits.memory_limit;
}

void clp_limits_rehook(clp_sandbox *sb) {
    set_main_hook(sb);
}
