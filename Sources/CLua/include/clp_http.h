/* clp_http.h: HTTP requests through Debian's libcurl (HttpOutput), opened on first
 * use. libcurl's options are set through a variadic C function Swift cannot call, hence
 * this shim. */
#ifndef CLP_HTTP_H
#define CLP_HTTP_H

#include <stddef.h>

typedef struct {
    /* The response's status code (0 when none arrived). */
    long status;
    /* Why no response arrived (refused, timeout, TLS …), empty otherwise. */
    char error[256];
} clp_http_result;

/* A client that keeps its connection open between requests (keep-alive); one thread at
 * a time. */
typedef struct clp_http_client clp_http_client;
clp_http_client *clp_http_client_new(void);
void clp_http_client_free(clp_http_client *c);

/**
 * Performs one request on `c`'s connection.
 * `headers`: "Name: value" strings; `userpwd`: "user:password" for basic authentication,
 * or NULL; `timeout_ms` 0 means none; with `gzip` the body is sent compressed
 * (Content-Encoding: gzip). Returns 0 when a response arrived (its status in `out`), -1
 * on a transport error (`out->error` says which). The response body's first `max_response` bytes are kept in
 * `*response` (malloc'd, NUL-terminated; free it with free()), its length in
 * `*response_len`.
 */
int clp_http_send(clp_http_client *c, const char *url, const char *method, const char *const *headers, size_t nheaders,
                  const void *body, size_t body_len, const char *userpwd, long timeout_ms, int gzip, size_t max_response,
                  clp_http_result *out, char **response, size_t *response_len);

#endif
