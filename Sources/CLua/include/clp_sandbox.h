/* clp_sandbox.h: one Lua 5.4 state per plugin, with memory, instruction and output
 * limits, a restricted environment and Heka's Lua API.
 *
 * Every call into Lua goes through lua_pcall inside this C code: no Lua error (a
 * longjmp) ever reaches a Swift frame. Lua->host callbacks (read_message, inject_...)
 * call the host through the function pointers in clp_callbacks; the host answers with
 * plain values and a status, and the C side raises the Lua error if needed.
 *
 * A sandbox is used by one thread at a time. */
#ifndef CLP_SANDBOX_H
#define CLP_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include "heka_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clp_sandbox clp_sandbox;

/* Which of Heka's plugin kinds the script is; it decides the API exposed. */
typedef enum { CLP_DECODER = 0, CLP_FILTER = 1, CLP_ENCODER = 2 } clp_kind;

typedef struct {
    size_t memory_limit;                  /* bytes; 0 = unlimited */
    unsigned long long instruction_limit; /* per call; 0 = unlimited */
    size_t output_limit;                  /* bytes per payload or injected message */
    double max_process_duration;          /* seconds of wall clock per call; 0 = none */
    unsigned instruction_step;            /* count-hook granularity; 0 = default (1000) */
} clp_limits;

typedef struct {
    size_t memory_current, memory_peak;
    unsigned long long instructions_last, instructions_peak;
    size_t output_peak;
} clp_usage;

/* CLP_V_TABLE (read_config only): s holds a Lua chunk the host generated, "return {...}",
 * a table constructor of literals, run in an empty environment. */
typedef enum { CLP_V_NIL = 0, CLP_V_STRING = 1, CLP_V_INTEGER = 2, CLP_V_DOUBLE = 3, CLP_V_BOOL = 4, CLP_V_TABLE = 5 } clp_vtype;

/* A plain value crossing the C/host boundary. Strings point into host memory that
 * stays valid until the host is called again. */
typedef struct {
    int type; /* clp_vtype */
    long long i;
    double d;
    const char *s;
    size_t len;
} clp_value;

/* What read_message asks for. Header codes equal Heka's protobuf field numbers. */
enum {
    CLP_RM_UUID = HEKA_MESSAGE_UUID, CLP_RM_TIMESTAMP = HEKA_MESSAGE_TIMESTAMP, CLP_RM_TYPE = HEKA_MESSAGE_TYPE,
    CLP_RM_LOGGER = HEKA_MESSAGE_LOGGER, CLP_RM_SEVERITY = HEKA_MESSAGE_SEVERITY, CLP_RM_PAYLOAD = HEKA_MESSAGE_PAYLOAD,
    CLP_RM_ENVVERSION = HEKA_MESSAGE_ENV_VERSION, CLP_RM_PID = HEKA_MESSAGE_PID, CLP_RM_HOSTNAME = HEKA_MESSAGE_HOSTNAME,
    CLP_RM_FIELD = HEKA_MESSAGE_FIELDS, CLP_RM_RAW = 11, CLP_RM_FRAMED = 12, CLP_RM_SIZE = 13
};

/* Host answers. */
enum { CLP_HOST_OK = 0, CLP_HOST_ERROR = 1, CLP_HOST_FATAL = 2, CLP_HOST_NONE = 3 };

/* What inject hands over. */
enum { CLP_INJECT_MESSAGE = 0, CLP_INJECT_PAYLOAD = 1, CLP_INJECT_RAW = 2 };

/* Headers a table injection gets when the script leaves them unset (decoders inherit
 * the input's; filters get fresh ones). A CLP_V_NIL entry means "leave absent". */
typedef struct {
    clp_value type, logger, payload, env_version, hostname;
    clp_value timestamp, severity, pid;
    unsigned char uuid[16];
    int has_uuid;
    const char *type_prefix; /* filters: "heka.sandbox." prepended to Type */
    size_t type_prefix_len;
    int force_logger;        /* filters: Logger is always the plugin name */
} clp_defaults;

typedef struct {
    /* read_message(what, field name, fi, ai): fill out (CLP_V_NIL when absent).
     * Returns CLP_HOST_OK, or CLP_HOST_NONE when there is no current message. */
    int (*read_message)(void *host, int what, const char *field, size_t flen, int fi, int ai, clp_value *out);
    /* read_next_field: fill name/value/representation, *value_type and *count;
     * CLP_HOST_NONE at the end. */
    int (*read_next_field)(void *host, clp_value *name, clp_value *value, clp_value *rep, int *value_type, int *count);
    /* inject: kind CLP_INJECT_*; for payloads ptype/pname are the type and name. On
     * CLP_HOST_ERROR or CLP_HOST_FATAL the host writes a reason into err. */
    int (*inject)(void *host, int kind, const char *data, size_t len, const char *ptype, size_t ptlen,
                  const char *pname, size_t pnlen, char *err, size_t errlen);
    /* read_config(key): fill out; CLP_V_NIL when absent. */
    int (*read_config)(void *host, const char *key, size_t klen, clp_value *out);
    /* write_message(what, field, value, representation, fi, ai). */
    int (*write_message)(void *host, int what, const char *field, size_t flen, const clp_value *v,
                         const char *rep, size_t replen, int fi, int ai, char *err, size_t errlen);
    /* defaults for a table injection (for_encode: encode_message rather than inject). */
    void (*defaults)(void *host, int for_encode, clp_defaults *d);
    /* print() and warnings: one line, already bounded. */
    void (*log)(void *host, int level, const char *msg, size_t len);
} clp_callbacks;

/* The current message's headers, handed over once per message so that read_message
 * of a header (and a decoder's inherited headers) need no call into the host. Strings
 * point into the host's message, valid until the next clp_sandbox_set_message. */
typedef struct {
    clp_value uuid, timestamp, type, logger, severity, payload, env_version, pid, hostname;
    const char *raw; /* NULL: not built yet (a decoder's record); raw, size and fields come from the host */
    size_t size;
    const heka_field_slot *fields; /* where raw's fields are */
    size_t field_count;
} clp_message_headers;

/* Sets (or, with NULL, clears) the current message's headers. */
void clp_sandbox_set_message(clp_sandbox *sb, const clp_message_headers *h);

/* Sets a record's headers: `fixed`'s, with this Timestamp and Payload (the headers of
 * the records of one input differ only in these and in the Uuid's bytes). One copy made
 * here, for every record a decoder reads. */
void clp_sandbox_set_record(clp_sandbox *sb, const clp_message_headers *fixed, int64_t timestamp, const char *payload,
                            size_t len);

/* Where a built message's headers are, as the host's view of it located them: the
 * (start, end) byte offsets in raw of Uuid, Type, Logger, Payload, EnvVersion and
 * Hostname, in that order (start -1: absent), and the integer headers. */
typedef struct {
    int32_t spans[12];
    long long timestamp;
    int severity, has_severity, pid, has_pid;
} clp_view_headers;

/* Sets a built message as the current one. Its header values are made from `vh` only
 * when the script first needs one (most filters read a field or two, never a header);
 * raw, fields and vh's strings must stay valid until the next message is set. */
void clp_sandbox_set_view(clp_sandbox *sb, const char *raw, size_t size, const heka_field_slot *fields,
                          size_t field_count, const clp_view_headers *vh);

/* Where the encoder put a message's parts, so the host views the bytes without scanning
 * them again. Offsets into the injected bytes; an absent string header has len -1. */
typedef struct {
    long start, len;
} clp_span;
typedef struct {
    clp_span uuid, type, logger, payload, env_version, hostname;
    long long timestamp;
    int severity, pid;
    int has_severity, has_pid;
    const heka_field_slot *fields; /* in the form a MessageView keeps them: copied as is */
    size_t field_count;
} clp_layout;

/* The layout of the message a table injection hands to the inject callback (valid during
 * that callback only); NULL for other injections. */
const clp_layout *clp_sandbox_injected_layout(clp_sandbox *sb);

/* Results of a call. CLP_PRESERVE_FAILED: preserve or restore could not save or load
 * the data; unlike CLP_TERMINATED the sandbox goes on. */
enum { CLP_OK = 0, CLP_TERMINATED = 1, CLP_MISSING = 2, CLP_PRESERVE_FAILED = 3 };

/* Creates a state with the restricted environment. module_path: directories searched
 * by require, separated by ';'. Returns NULL only when out of memory. */
clp_sandbox *clp_sandbox_new(clp_kind kind, const clp_limits *limits, const clp_callbacks *cb, void *host,
                             const char *module_path);
void clp_sandbox_free(clp_sandbox *sb);
/* Sets the pointer handed back to every callback. */
void clp_sandbox_set_host(clp_sandbox *sb, void *host);

/* Compiles and runs the script's top level (text only). CLP_OK or CLP_TERMINATED. */
int clp_sandbox_load(clp_sandbox *sb, const char *chunkname, const char *code, size_t len);

/* Calls process_message(). On CLP_OK, *status is the script's status and
 * clp_sandbox_message() its error message (NULL when none). */
int clp_sandbox_process(clp_sandbox *sb, int *status);
/* Calls timer_event(ns, shutdown); CLP_MISSING when the script defines none. */
int clp_sandbox_timer(clp_sandbox *sb, long long ns, int shutdown);
/* Whether the script defines the global function `name`. */
int clp_sandbox_has_function(clp_sandbox *sb, const char *name);

/** The modules the script required, each name followed by '\n' (truncated to `cap`). */
size_t clp_sandbox_modules(clp_sandbox *sb, char *buf, size_t cap);

const char *clp_sandbox_message(clp_sandbox *sb, size_t *len);
/* The termination reason, or NULL while running. */
const char *clp_sandbox_error(clp_sandbox *sb);
int clp_sandbox_terminated(clp_sandbox *sb);
/* 1 when a reused Fields table is encoded from Lua's nodes (the check of Lua's table
 * layout at the first sandbox held), 0 when every field goes through lua_next. */
int clp_fields_in_place(void);
/* Terminates from the host (watchdog, failed invariant). */
void clp_sandbox_terminate(clp_sandbox *sb, const char *reason);
void clp_sandbox_usage(clp_sandbox *sb, clp_usage *u);

/* preserve_data: serializes the script's globals as Lua source into a malloc'd buffer
 * (*out, *len; free() it). CLP_OK, or CLP_PRESERVE_FAILED with the reason as a malloc'd
 * C string in *out: the state cannot be saved, but the sandbox is not terminated. */
int clp_sandbox_preserve(clp_sandbox *sb, char **out, size_t *len);
/* Restores globals written by clp_sandbox_preserve. Returns CLP_OK, CLP_MISSING when
 * _PRESERVATION_VERSION differs (nothing restored), CLP_PRESERVE_FAILED with a reason
 * in *err (a malloc'd string; free() it) when the data does not load (a limit it trips
 * ends the restore, not the sandbox, which stays usable), or CLP_TERMINATED (*err NULL)
 * when the sandbox was terminated already. */
int clp_sandbox_restore(clp_sandbox *sb, const char *data, size_t len, char **err);

#ifdef __cplusplus
}
#endif
#endif
