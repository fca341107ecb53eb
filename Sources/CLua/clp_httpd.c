/* clp_httpd.c: see clp_httpd.h. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>
#include "clp_httpd.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct {
    struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *, MHD_AccessHandlerCallback, void *, ...);
    void (*stop_daemon)(struct MHD_Daemon *);
    const char *(*lookup)(struct MHD_Connection *, enum MHD_ValueKind, const char *);
    int (*get_values)(struct MHD_Connection *, enum MHD_ValueKind, MHD_KeyValueIterator, void *);
    struct MHD_Response *(*create_response)(size_t, void *, enum MHD_ResponseMemoryMode);
    struct MHD_Response *(*create_callback_response)(uint64_t, size_t, MHD_ContentReaderCallback, void *, MHD_ContentReaderFreeCallback);
    enum MHD_Result (*add_header)(struct MHD_Response *, const char *, const char *);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
    void (*destroy_response)(struct MHD_Response *);
    char *(*basic_auth)(struct MHD_Connection *, char **);
    void (*free)(void *);
    const union MHD_ConnectionInfo *(*connection_info)(struct MHD_Connection *, enum MHD_ConnectionInfoType, ...);
    char missing[200];
} mhd;

static void load(void) {
    void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(mhd.missing, sizeof mhd.missing, "libmicrohttpd is not installed (apt-get install libmicrohttpd12): %s", dlerror());
        return;
    }
#define SYM(field, name) *(void **)(&mhd.field) = dlsym(h, name)
    SYM(start_daemon, "MHD_start_daemon");
    SYM(stop_daemon, "MHD_stop_daemon");
    SYM(lookup, "MHD_lookup_connection_value");
    SYM(get_values, "MHD_get_connection_values");
    SYM(create_response, "MHD_create_response_from_buffer");
    SYM(create_callback_response, "MHD_create_response_from_callback");
    SYM(add_header, "MHD_add_response_header");
    SYM(queue_response, "MHD_queue_response");
    SYM(destroy_response, "MHD_destroy_response");
    SYM(basic_auth, "MHD_basic_auth_get_username_password");
    SYM(free, "MHD_free");
    SYM(connection_info, "MHD_get_connection_info");
#undef SYM
    if (!mhd.start_daemon || !mhd.stop_daemon || !mhd.create_callback_response || !mhd.lookup || !mhd.get_values || !mhd.create_response || !mhd.add_header ||
        !mhd.queue_response || !mhd.destroy_response || !mhd.basic_auth || !mhd.free || !mhd.connection_info) {
        snprintf(mhd.missing, sizeof mhd.missing, "libmicrohttpd.so.12 lacks a function luapiped needs");
    }
}

struct clp_httpd {
    struct MHD_Daemon *daemon;
    size_t max_body;
    unsigned served;
    unsigned open; /* connections now (atomic) */
    clp_httpd_handler handler;
    clp_httpd_logger logger;
    clp_httpd_failed failed;
    void *ctx;
};

/* One request's state across the access handler's calls. */
struct pending {
    char *body;
    size_t len, cap;
    int too_big;
    int answered;
};

static void log_message(void *cls, const char *fmt, va_list ap) {
    struct clp_httpd *s = cls;
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) text[--n] = 0;
    s->logger(s->ctx, text);
}

static void connection_changed(void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code) {
    (void)c;
    (void)socket_context;
    struct clp_httpd *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) __atomic_add_fetch(&s->open, 1, __ATOMIC_RELAXED);
    else __atomic_sub_fetch(&s->open, 1, __ATOMIC_RELAXED);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    struct clp_httpd *s = cls;
    struct pending *p = *con_cls;
    int answered = p ? p->answered : 0;
    if (p) {
        free(p->body);
        free(p);
        *con_cls = NULL;
    }
    if (!answered && (toe == MHD_REQUEST_TERMINATED_WITH_ERROR || toe == MHD_REQUEST_TERMINATED_READ_ERROR)) s->failed(s->ctx, (int)toe);
}

/* Hands the request to the handler and queues its answer. */
static enum MHD_Result answer(struct clp_httpd *s, struct pending *p, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version) {
    clp_httpd_request r = {method, url, version, p->too_big ? NULL : p->body, p->too_big ? 0 : p->len, p->too_big, c, NULL, 0};
    s->handler(s->ctx, &r);
    p->answered = 1;
    if (!r.response) return MHD_NO; /* closes the connection */
    enum MHD_Result ok = mhd.queue_response(c, r.status, r.response);
    mhd.destroy_response(r.response);
    return ok;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size, void **con_cls) {
    struct clp_httpd *s = cls;
    struct pending *p = *con_cls;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) return MHD_NO;
        *con_cls = p;
        if (__atomic_load_n(&s->open, __ATOMIC_RELAXED) > s->served) {
            /* Busy: answered at once, without the handler and without reading a body. */
            static const char busy[] = "busy: too many connections; retry later\n";
            struct MHD_Response *resp = mhd.create_response(sizeof busy - 1, (void *)busy, MHD_RESPMEM_PERSISTENT);
            if (!resp) return MHD_NO;
            mhd.add_header(resp, "Retry-After", "1");
            p->answered = 1;
            enum MHD_Result ok = mhd.queue_response(c, 503, resp);
            mhd.destroy_response(resp);
            return ok;
        }
        /* A declared length over the limit is answered before the body is read. */
        const char *length = mhd.lookup(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > s->max_body) {
            p->too_big = 1;
            return answer(s, p, c, url, method, version);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (p->too_big || p->answered) return MHD_YES;
        if (p->len + n > s->max_body) {
            /* A chunked body past the limit: the rest is read and dropped, then 413. */
            p->too_big = 1;
            free(p->body);
            p->body = NULL;
            p->len = p->cap = 0;
            return MHD_YES;
        }
        if (p->len + n > p->cap) {
            size_t cap = p->cap ? p->cap : 4096;
            while (cap < p->len + n) cap *= 2;
            char *b = realloc(p->body, cap);
            if (!b) return MHD_NO;
            p->body = b;
            p->cap = cap;
        }
        memcpy(p->body + p->len, upload_data, n);
        p->len += n;
        return MHD_YES;
    }
    if (p->answered) return MHD_YES;
    return answer(s, p, c, url, method, version);
}

clp_httpd *clp_httpd_start(int listen_fd, size_t max_body, clp_httpd_limits limits, clp_httpd_handler handler,
                           clp_httpd_logger logger, clp_httpd_failed failed, void *ctx, char *error, size_t error_len) {
    pthread_once(&once, load);
    if (mhd.missing[0]) {
        snprintf(error, error_len, "%s", mhd.missing);
        return NULL;
    }
    struct clp_httpd *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    s->max_body = max_body;
    s->served = limits.served;
    s->handler = handler;
    s->logger = logger;
    s->failed = failed;
    s->ctx = ctx;
    s->daemon = mhd.start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 access_handler, s, MHD_OPTION_EXTERNAL_LOGGER, log_message, s, MHD_OPTION_LISTEN_SOCKET, listen_fd,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_NOTIFY_CONNECTION, connection_changed, s,
                                 MHD_OPTION_CONNECTION_LIMIT, limits.accepted, MHD_OPTION_CONNECTION_TIMEOUT, limits.timeout_s,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits.head_bytes, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(error, error_len, "libmicrohttpd would not start on the socket");
        free(s);
        return NULL;
    }
    return s;
}

void clp_httpd_stop(clp_httpd *s) {
    if (!s) return;
    mhd.stop_daemon(s->daemon);
    free(s);
}

static void add_headers(struct MHD_Response *resp, const char *headers) {
    if (headers) {
        const char *line = headers;
        while (*line) {
            const char *end = strchr(line, '\n');
            size_t n = end ? (size_t)(end - line) : strlen(line);
            const char *colon = memchr(line, ':', n);
            if (colon) {
                char name[256], value[2048];
                size_t nl = (size_t)(colon - line), vl = n - nl - 1;
                const char *v = colon + 1;
                while (vl > 0 && *v == ' ') v++, vl--;
                if (nl < sizeof name && vl < sizeof value) {
                    memcpy(name, line, nl);
                    name[nl] = 0;
                    memcpy(value, v, vl);
                    value[vl] = 0;
                    mhd.add_header(resp, name, value);
                }
            }
            line += n + (end ? 1 : 0);
        }
    }
}

static void set_response(clp_httpd_request *r, struct MHD_Response *resp, unsigned status) {
    if (r->response) mhd.destroy_response(r->response);
    r->response = resp;
    r->status = status;
}

int clp_httpd_respond(clp_httpd_request *r, unsigned status, const void *body, size_t body_len, const char *headers) {
    struct MHD_Response *resp = mhd.create_response(body_len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return -1;
    add_headers(resp, headers);
    set_response(r, resp, status);
    return 0;
}

struct stream {
    clp_httpd_stream_read read;
    clp_httpd_stream_free free_ctx;
    void *ctx;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    struct stream *s = cls;
    long n = s->read(s->ctx, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void stream_free(void *cls) {
    struct stream *s = cls;
    s->free_ctx(s->ctx);
    free(s);
}

int clp_httpd_respond_stream(clp_httpd_request *r, unsigned status, const char *headers, clp_httpd_stream_read read,
                             clp_httpd_stream_free free_ctx, void *ctx) {
    struct stream *s = malloc(sizeof *s);
    if (!s) return -1;
    *s = (struct stream){read, free_ctx, ctx};
    struct MHD_Response *resp = mhd.create_callback_response(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (!resp) {
        free(s);
        return -1;
    }
    add_headers(resp, headers);
    set_response(r, resp, status);
    return 0;
}

const char *clp_httpd_header(const clp_httpd_request *r, const char *name) {
    return mhd.lookup(r->connection, MHD_HEADER_KIND, name);
}

struct each_argument {
    void (*each)(void *, const char *, const char *);
    void *ctx;
};

static enum MHD_Result argument(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    struct each_argument *e = cls;
    e->each(e->ctx, key, value ? value : "");
    return MHD_YES;
}

void clp_httpd_arguments(const clp_httpd_request *r, void (*each)(void *ctx, const char *key, const char *value), void *ctx) {
    struct each_argument e = {each, ctx};
    mhd.get_values(r->connection, MHD_GET_ARGUMENT_KIND, argument, &e);
}

char *clp_httpd_basic_auth(const clp_httpd_request *r, char **password) {
    char *pass = NULL;
    char *user = mhd.basic_auth(r->connection, &pass);
    /* Copied so that the caller frees with free(), whatever MHD's allocator. */
    char *u = user ? strdup(user) : NULL;
    *password = pass ? strdup(pass) : NULL;
    if (user) mhd.free(user);
    if (pass) mhd.free(pass);
    return u;
}

void clp_httpd_free(void *p) { free(p); }

void clp_httpd_peer(const clp_httpd_request *r, char *out, size_t out_len) {
    out[0] = 0;
    const union MHD_ConnectionInfo *info = mhd.connection_info(r->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr) return;
    const struct sockaddr *a = info->client_addr;
    if (a->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, out, (socklen_t)out_len);
    } else if (a->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, out, (socklen_t)out_len);
    }
}
