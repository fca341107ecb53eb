/* clp_internal.h: the sandbox structure and helpers shared by the C files. */
#ifndef CLP_INTERNAL_H
#define CLP_INTERNAL_H

#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>
#include <lua5.4/lualib.h>
#include <string.h>
#include <time.h>
#include "clp_sandbox.h"

#define CLP_ERR_SIZE 512
#define CLP_MSG_SIZE 512

/* A growable byte buffer on malloc (outside the Lua allocator: it holds host-bound
 * output, bounded by the output limit instead). */
typedef struct {
    char *data;
    size_t len, cap;
} clp_buf;

int clp_buf_reserve(clp_buf *b, size_t extra);

/* Inline: the encoder appends many small pieces. */
static inline int clp_buf_add(clp_buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap && clp_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}
void clp_buf_free(clp_buf *b);

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
    struct timespec deadline;
    int has_deadline;

    /* output */
    clp_buf payload;
    clp_buf out;
    clp_buf packed; /* scratch: its packed numeric values */
    clp_buf keys;   /* scratch: hash-form field names being sorted */
    size_t output_peak;

    int terminated;
    char err[CLP_ERR_SIZE];
    char msg[CLP_MSG_SIZE];
    size_t msg_len;
    int has_msg;
    const char *entry; /* "process_message() ", "timer_event() ", "" */

    int pm_ref, te_ref;
    clp_message_headers msg_headers;
    int has_message;
    int injects_this_call;
    const char *encode_fname; /* names the API function in encoder errors */
    /* interned keys the encoder looks up often: value, representation, value_type, name */
    int kref[4];
};

/* The sandbox of a state (kept in its extra space). */
static inline clp_sandbox *clp_get(lua_State *L) {
    return *(clp_sandbox **)lua_getextraspace(L);
}

/* Marks the sandbox terminated with a reason (first reason wins). */
void clp_mark_terminated(clp_sandbox *sb, const char *reason);
/* Raises the termination if a limit tripped: called at every checkpoint (API calls,
 * pcall/resume wrappers). Never returns when terminated. */
void clp_check_limits(lua_State *L);
/* Raises "output_limit exceeded" (terminating) when n exceeds the output limit. */
void clp_check_output(lua_State *L, size_t n);

enum { CLP_K_VALUE, CLP_K_REPRESENTATION, CLP_K_VALUE_TYPE, CLP_K_NAME };

/* clp_env.c */
int clp_open_environment(lua_State *L);
/* The circular_buffer module (pushes its table). */
int clp_open_circular_buffer(lua_State *L);
/* The names of the modules `require` loaded, each followed by '\n'; returns the bytes written. */
size_t clp_env_modules(lua_State *L, char *buf, size_t cap);
/* clp_api.c */
void clp_register_api(lua_State *L, clp_kind kind);
/* clp_encode.c: the table at idx as a Heka protobuf message into sb->out. */
void clp_encode_table(lua_State *L, int idx, int for_encode);
/* clp_decode.c: pushes the Lua table form of a protobuf message; returns 0 or raises. */
int clp_push_decoded(lua_State *L, const unsigned char *p, size_t n);
/* clp_preserve.c */
int clp_serialize_globals(lua_State *L, clp_buf *out);

#endif
