/* clp_httpd.h: an HTTP/1.1 server on Debian's libmicrohttpd (HttpListenInput, and the
 * dashboard and health endpoints to come), opened with dlopen on first use: it links
 * GnuTLS and its dependencies, which a daemon serving no HTTP should not load. Requests
 * are served on libmicrohttpd's threads (one per connection); each complete request (its
 * body gathered up to a limit) is handed to one callback, which answers it with
 * clp_httpd_respond before returning. */
#ifndef CLP_HTTPD_H
#define CLP_HTTPD_H

#include <stddef.h>

typedef struct clp_httpd clp_httpd;

typedef struct clp_httpd_request {
    const char *method;
    const char *url;
    const char *version;
    /* The body (NULL when empty or too big). */
    const char *body;
    size_t body_len;
    /* The body is longer than the server's limit (it was not kept). */
    int too_big;
    /* Internal: the connection and the response queued by clp_httpd_respond. */
    void *connection;
    void *response;
    unsigned status;
} clp_httpd_request;

/* Called with each complete request; must call clp_httpd_respond. */
typedef void (*clp_httpd_handler)(void *ctx, clp_httpd_request *request);
/* libmicrohttpd's own error messages (a malformed request, a failed socket …). */
typedef void (*clp_httpd_logger)(void *ctx, const char *message);
/* A request that ended in an error before it was answered (read error, bad framing). */
typedef void (*clp_httpd_failed)(void *ctx, int code);

/* How a server treats its connections. */
typedef struct clp_httpd_limits {
    /* Requests on more connections than this get 503 + Retry-After without the handler. */
    unsigned served;
    /* Connections accepted at all (beyond: closed at accept). */
    unsigned accepted;
    /* Seconds a connection may be idle, or take to send a request. */
    unsigned timeout_s;
    /* Bytes of a connection's buffer for the request head (a longer head gets 431). */
    size_t head_bytes;
} clp_httpd_limits;

/**
 * Serves HTTP on `listen_fd` (a listening socket; the server closes it when stopped).
 * Returns NULL with the reason in `error` when libmicrohttpd is missing or will not start.
 */
clp_httpd *clp_httpd_start(int listen_fd, size_t max_body, clp_httpd_limits limits, clp_httpd_handler handler,
                           clp_httpd_logger logger, clp_httpd_failed failed, void *ctx, char *error, size_t error_len);

/* Stops serving and waits for the connection threads. */
void clp_httpd_stop(clp_httpd *server);

/**
 * Answers `request`: `headers` is "Name: value" lines separated by "\n" (or NULL); the
 * body is copied. Returns 0, or -1 when the response could not be made.
 */
int clp_httpd_respond(clp_httpd_request *request, unsigned status, const void *body, size_t body_len, const char *headers);

/* A stream's next bytes: blocks until it has some (libmicrohttpd serves each connection
 * on its own thread); returns how many it wrote into `buf` (at most `max`, at least 1),
 * or -1 at the end of the stream. */
typedef long (*clp_httpd_stream_read)(void *ctx, char *buf, size_t max);
typedef void (*clp_httpd_stream_free)(void *ctx);

/* Answers `request` with a body of unknown length read from `read` (Server-Sent Events);
 * `free_ctx` is called once the connection is done with it. Returns 0, or -1. */
int clp_httpd_respond_stream(clp_httpd_request *request, unsigned status, const char *headers, clp_httpd_stream_read read,
                             clp_httpd_stream_free free_ctx, void *ctx);

/* A request header (case-insensitive name), NULL when absent. */
const char *clp_httpd_header(const clp_httpd_request *request, const char *name);

/* Calls `each` with every query argument, in order. */
void clp_httpd_arguments(const clp_httpd_request *request, void (*each)(void *ctx, const char *key, const char *value), void *ctx);

/* Basic authentication's user name and password (both malloc'ed, free with
 * clp_httpd_free); returns the user name, NULL when the request has none. */
char *clp_httpd_basic_auth(const clp_httpd_request *request, char **password);
void clp_httpd_free(void *p);

/* The client's address ("192.0.2.1" or "2001:db8::1"), in `out`. */
void clp_httpd_peer(const clp_httpd_request *request, char *out, size_t out_len);

#endif
