/* clp_nats.h: NATS JetStream through Debian's libnats 3.4 (NatsOutput, NatsInput), opened
 * with dlopen on first use: a daemon without NATS loads neither the library nor its
 * threads. Only what the two plugins need: a connection that reconnects for ever,
 * a stream made sure of, asynchronous publishing with per-message acknowledgements, and a
 * durable pull consumer. */
#ifndef CLP_NATS_H
#define CLP_NATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct clp_nats clp_nats;
typedef struct clp_nats_sub clp_nats_sub;
typedef struct clp_nats_batch clp_nats_batch;

/* A publish acknowledgement, on a libnats thread: `ok` 1 when the stream stored the
 * message (`duplicate` 1 when it had it already), 0 with `error` when it refused it or
 * the acknowledgement did not come in time. `msg_id` is the Nats-Msg-Id it was sent with. */
typedef void (*clp_nats_ack_fn)(void *closure, const char *msg_id, int ok, int duplicate, const char *error);
/* A connection event, on a libnats thread: `connected` 1 when (re)connected, 0 when lost. */
typedef void (*clp_nats_state_fn)(void *closure, int connected);

typedef struct {
    const char *const *servers;
    int nservers;
    const char *name;
    const char *user, *password, *token;
    const char *credentials; /* a .creds file (user JWT and NKey seed) */
    int tls;                 /* 1: TLS (also implied by tls:// URLs) */
    const char *cert_file, *key_file, *root_cafile;
    int64_t max_pending;   /* asynchronous publishes in flight (publishers) */
    int64_t ack_wait_ms;   /* how long a publish acknowledgement is awaited */
    clp_nats_ack_fn on_ack;
    clp_nats_state_fn on_state;
    void *closure;
} clp_nats_config;

/* Connects (once connected, a lost connection is retried for ever in the background).
 * Returns 0; -1 with `err` for options libnats refuses (a missing file); -2 with `err`
 * when no server took the connection now (none up, authorization refused): try again. */
int clp_nats_open(const clp_nats_config *c, clp_nats **out, char *err, size_t errlen);
/* Closes and frees; no callback runs after it returns. */
void clp_nats_close(clp_nats *n);
int clp_nats_connected(clp_nats *n);
/* 1 when libnats gave up on the connection for good (an authorization refused, say),
 * with the server's last error in `err`: it must be opened again. */
int clp_nats_closed(clp_nats *n, char *err, size_t errlen);

/* Makes sure `stream` exists and covers `subject`: created when missing (file storage,
 * the given replicas, max age and duplicate window, in milliseconds; 0 = none). Returns
 * 0 ready, 1 not now (not connected, no answer: try again), 2 for good (the stream does
 * not cover the subject, or the server refused the configuration); `err` says why. */
int clp_nats_ensure_stream(clp_nats *n, const char *stream, const char *subject, int64_t replicas, int64_t max_age_ms,
                           int64_t duplicate_window_ms, char *err, size_t errlen);

/* Publishes asynchronously with `msg_id` as Nats-Msg-Id; the outcome reaches on_ack.
 * Returns 0, or -1 with `err` (nothing was sent: try again). */
int clp_nats_publish(clp_nats *n, const char *subject, const void *data, size_t len, const char *msg_id, char *err,
                     size_t errlen);

/* Binds to (or creates) the durable pull consumer `durable` on `stream`, filtered on
 * `subject`. Returns 0, 1 not now, 2 for good, as clp_nats_ensure_stream. */
int clp_nats_subscribe(clp_nats *n, const char *stream, const char *subject, const char *durable, int64_t ack_wait_ms,
                       int64_t max_ack_pending, clp_nats_sub **out, char *err, size_t errlen);
void clp_nats_unsubscribe(clp_nats_sub *s);

/* Fetches up to `batch` messages, waiting up to `timeout_ms`. Returns how many (0 when
 * none came in time; *out is then NULL), or -1 with `err`. */
int clp_nats_fetch(clp_nats_sub *s, int batch, int64_t timeout_ms, clp_nats_batch **out, char *err, size_t errlen);
const void *clp_nats_batch_data(clp_nats_batch *b, int i, size_t *len);
/* How many times message i was delivered (1 the first time). */
uint64_t clp_nats_batch_delivered(clp_nats_batch *b, int i);
/* Acknowledges message i (done with it), or terminates it (never to be redelivered). */
void clp_nats_batch_ack(clp_nats_batch *b, int i);
void clp_nats_batch_term(clp_nats_batch *b, int i);
void clp_nats_batch_free(clp_nats_batch *b);

#endif
