/* clp_http.c: see clp_http.h. libcurl is opened with dlopen on the first request, not
 * linked: it pulls in some forty shared libraries (TLS, HTTP/2, IDN, LDAP…) whose loading
 * costs several MiB of resident memory, which a daemon without an HttpOutput should not
 * pay. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <zlib.h>
#include "clp_http.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct {
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    char missing[200];
} curl;

static void load(void) {
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(curl.missing, sizeof curl.missing, "libcurl is not installed (apt-get install libcurl4): %s", dlerror());
        return;
    }
    CURLcode (*global_init)(long) = (CURLcode(*)(long))dlsym(h, "curl_global_init");
    curl.easy_init = (CURL * (*)(void)) dlsym(h, "curl_easy_init");
    curl.easy_setopt = (CURLcode(*)(CURL *, CURLoption, ...))dlsym(h, "curl_easy_setopt");
    curl.easy_perform = (CURLcode(*)(CURL *))dlsym(h, "curl_easy_perform");
    curl.easy_getinfo = (CURLcode(*)(CURL *, CURLINFO, ...))dlsym(h, "curl_easy_getinfo");
    curl.easy_cleanup = (void (*)(CURL *))dlsym(h, "curl_easy_cleanup");
    curl.easy_reset = (void (*)(CURL *))dlsym(h, "curl_easy_reset");
    curl.easy_strerror = (const char *(*)(CURLcode))dlsym(h, "curl_easy_strerror");
    curl.slist_append = (struct curl_slist * (*)(struct curl_slist *, const char *)) dlsym(h, "curl_slist_append");
    curl.slist_free_all = (void (*)(struct curl_slist *))dlsym(h, "curl_slist_free_all");
    if (!global_init || !curl.easy_init || !curl.easy_setopt || !curl.easy_perform || !curl.easy_getinfo || !curl.easy_cleanup || !curl.easy_reset ||
        !curl.easy_strerror || !curl.slist_append || !curl.slist_free_all) {
        snprintf(curl.missing, sizeof curl.missing, "libcurl.so.4 lacks a function luapiped needs");
        return;
    }
    global_init(CURL_GLOBAL_DEFAULT);
}

/* zlib, for gzip request bodies: loaded with libcurl (which links it) on first use. */
static struct {
    int (*init2)(z_streamp, int, int, int, int, int, const char *, int);
    int (*deflate)(z_streamp, int);
    int (*end)(z_streamp);
    uLong (*bound)(z_streamp, uLong);
} z;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;

static void zload(void) {
    void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    *(void **)&z.init2 = dlsym(h, "deflateInit2_");
    *(void **)&z.deflate = dlsym(h, "deflate");
    *(void **)&z.end = dlsym(h, "deflateEnd");
    *(void **)&z.bound = dlsym(h, "deflateBound");
}

/* `len` bytes gzip-compressed into a malloc'd buffer; NULL when zlib is missing. */
static unsigned char *gzip(const void *data, size_t len, size_t *out_len) {
    pthread_once(&zonce, zload);
    if (!z.init2 || !z.deflate || !z.end || !z.bound) return NULL;
    z_stream st;
    memset(&st, 0, sizeof st);
    if (z.init2(&st, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, (int)sizeof st) != Z_OK)
        return NULL;
    size_t cap = z.bound(&st, (uLong)len) + 32;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        z.end(&st);
        return NULL;
    }
    st.next_in = (Bytef *)data;
    st.avail_in = (uInt)len;
    st.next_out = buf;
    st.avail_out = (uInt)cap;
    int rc = z.deflate(&st, Z_FINISH);
    *out_len = cap - st.avail_out;
    z.end(&st);
    if (rc != Z_STREAM_END) {
        free(buf);
        return NULL;
    }
    return buf;
}

struct clp_http_client {
    CURL *curl;
};

typedef struct {
    char *data;
    size_t len, max;
} response_buf;

static size_t keep(char *ptr, size_t size, size_t nmemb, void *user) {
    response_buf *r = user;
    size_t n = size * nmemb;
    if (r && r->len < r->max) {
        size_t take = n < r->max - r->len ? n : r->max - r->len;
        char *grown = realloc(r->data, r->len + take + 1);
        if (grown) {
            memcpy(grown + r->len, ptr, take);
            r->len += take;
            grown[r->len] = 0;
            r->data = grown;
        }
    }
    return n;
}

clp_http_client *clp_http_client_new(void) { return calloc(1, sizeof(clp_http_client)); }

void clp_http_client_free(clp_http_client *c) {
    if (!c) return;
    if (c->curl) curl.easy_cleanup(c->curl);
    free(c);
}

int clp_http_send(clp_http_client *cl, const char *url, const char *method, const char *const *headers, size_t nheaders,
                  const void *body, size_t body_len, const char *userpwd, long timeout_ms, int compress, size_t max_response,
                  clp_http_result *out, char **response, size_t *response_len) {
    pthread_once(&once, load);
    out->status = 0;
    out->error[0] = 0;
    if (response) *response = NULL;
    if (response_len) *response_len = 0;
    if (curl.missing[0]) {
        snprintf(out->error, sizeof out->error, "%s", curl.missing);
        return -1;
    }
    if (!cl->curl) cl->curl = curl.easy_init();
    CURL *c = cl->curl;
    if (!c) {
        snprintf(out->error, sizeof out->error, "libcurl could not start a request");
        return -1;
    }
    /* The handle keeps its connection (keep-alive); the options are set afresh each time. */
    curl.easy_reset(c);
    unsigned char *packed = NULL;
    size_t packed_len = 0;
    if (compress && body_len > 0) {
        packed = gzip(body, body_len, &packed_len);
        if (!packed) {
            snprintf(out->error, sizeof out->error, "gzip compression is not available (zlib missing)");
            return -1;
        }
    }
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < nheaders; i++) list = curl.slist_append(list, headers[i]);
    list = curl.slist_append(list, "Expect:"); /* no 100-continue round trip */
    if (packed) list = curl.slist_append(list, "Content-Encoding: gzip");
    char errbuf[CURL_ERROR_SIZE] = {0};
    response_buf r = {NULL, 0, max_response};
    curl.easy_setopt(c, CURLOPT_URL, url);
    curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl.easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl.easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl.easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (strcmp(method, "GET") != 0) {
        const void *b = packed ? (const void *)packed : body;
        curl.easy_setopt(c, CURLOPT_POSTFIELDS, b ? b : "");
        curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(packed ? packed_len : body_len));
    }
    curl.easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (userpwd) {
        curl.easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl.easy_setopt(c, CURLOPT_USERPWD, userpwd);
    }
    /* Never blocked for ever (a reload or a stop waits for this thread): connecting is
     * bounded, and without an overall timeout a transfer that stalls for a minute fails. */
    curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 && timeout_ms < 10000 ? timeout_ms : 10000L);
    if (timeout_ms > 0) {
        curl.easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    } else {
        curl.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    }
    CURLcode rc = curl.easy_perform(c);
    int result = 0;
    if (rc == CURLE_OK) {
        curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    } else {
        snprintf(out->error, sizeof out->error, "%s", errbuf[0] ? errbuf : curl.easy_strerror(rc));
        result = -1;
    }
    curl.slist_free_all(list);
    free(packed);
    if (response && result == 0) {
        *response = r.data;
        if (response_len) *response_len = r.len;
    } else {
        free(r.data);
    }
    return result;
}
