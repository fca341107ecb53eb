/* clp_state.h: owns struct clp_sandbox (the per-plugin state every C file reads) and
 * clp_get; functions live in the headers of their concern, not here. */
#ifndef CLP_STATE_H
#define CLP_STATE_H

#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>
#include <lua5.4/lualib.h>
#include <signal.h>
#include <time.h>
#include "clp_buf.h"
#include "clp_sandbox.h"

#define CLP_ERR_SIZE 512
#define CLP_MSG_SIZE 512

/* How many keys of a message table are headers (Uuid ... Hostname, and Fields). */
#define CLP_HEADER_KEYS 10

struct clp_sandbox {
    lua_State *L;
    clp_kind kind;
    clp_limits limits;
    clp_callbacks cb;
    void *host;
    char *module_path;

    /* memory */
    size_t mem_current, mem_peak;
    /* a refused growth not yet retried successfully: Lua is raising a memory error */
    int mem_pending;
    const void *refused_block;
    size_t refused_osize, refused_nsize;
    size_t mem_limit_now; /* the limit in force (lifted while preserving) */

    /* instructions: charged by the count hook, shared by every coroutine */
    unsigned long long instr_used, instr_peak, instr_last;
    unsigned step;
    int count_instructions;
    /* Deferred counting (clp_limits.c): the main thread runs without the hook until a
     * processor-time tick finds it in a call, except in one call of CLP_SAMPLE_EVERY. */
    int defer;
    volatile sig_atomic_t hook_on; /* the count hook is set on L (the tick handler sets it too) */
    unsigned long calls;           /* calls begun, for the sampling */
    clp_sandbox *outer_call;       /* the thread's call this one runs inside, if any */
    struct timespec deadline;
    struct timespec duration; /* max_process_duration, split once */
    int has_deadline;

    /* output */
    clp_buf payload;
    clp_buf out;
    clp_buf packed; /* scratch: its packed numeric values */
    clp_buf keys;   /* scratch: hash-form field names being sorted */
    /* The last hash-form Fields table's names in table order and the order that sorted
     * them: a decoder that fills the same table each time is not sorted again. */
    clp_buf key_cache;
    size_t key_cache_n;
    int key_anchor; /* registry ref of a table holding those names: alive, so a name at the same address is the same string */
    clp_layout layout;      /* where clp_encode_table put out's parts */
    clp_buf field_spans;    /* its fields (heka_field_slot) */
    int layout_valid;       /* out holds a table injection being delivered */
    size_t output_peak;

    /* A limit tripped (the reason is in err): Lua unwinds and runs no further in this
     * call. The trip ends the plugin (terminated) unless trip_ends_call_only, set by
     * restore: a bad preserved file costs the preserved data, not the plugin. */
    int tripped;
    int trip_ends_call_only;
    int terminated;
    char err[CLP_ERR_SIZE];
    char msg[CLP_MSG_SIZE];
    size_t msg_len;
    int has_msg;
    const char *entry; /* "process_message() ", "timer_event() ", "" */

    int pm_ref, te_ref;
    clp_message_headers msg_headers;
    /* Set by clp_sandbox_set_view: msg_headers' header values are made from view_headers
     * on first use (clp_current_headers). */
    int headers_pending;
    clp_view_headers view_headers;
    int has_message;
    int injects_this_call;
    const char *encode_fname; /* names the API function in encoder errors */
    /* interned keys the encoder looks up often: value, representation, value_type, name */
    int kref[4];
    const char *kstr[4]; /* and their bytes: the same string wherever it is a key */
    /* the message table's keys (clp_header_keys' order: Uuid ... Fields), interned the same way */
    int href[CLP_HEADER_KEYS];
    const char *hstr[CLP_HEADER_KEYS];
};

enum { CLP_K_VALUE, CLP_K_REPRESENTATION, CLP_K_VALUE_TYPE, CLP_K_NAME };

/* The current message's headers (with has_message), made now if clp_sandbox_set_view
 * left them to be made on first use. */
const clp_message_headers *clp_current_headers(clp_sandbox *sb);

/* The sandbox of a state (kept in its extra space). */
static inline clp_sandbox *clp_get(lua_State *L) {
    return *(clp_sandbox **)lua_getextraspace(L);
}

#endif
