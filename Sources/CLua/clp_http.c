/* clp_http.c: see clp_http.h. libcurl is opened with dlopen on the first request, not
 * linked: it pulls in some forty shared libraries (TLS, HTTP/2, IDN, LDAP…) whose loading
 * costs several MiB of resident memory, which a daemon without an HttpOutput should not
 * pay. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <curl/curl.h>
#include "clp_http.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct {
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
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
    curl.easy_strerror = (const char *(*)(CURLcode))dlsym(h, "curl_easy_strerror");
    curl.slist_append = (struct curl_slist * (*)(struct curl_slist *, const char *)) dlsym(h, "curl_slist_append");
    curl.slist_free_all = (void (*)(struct curl_slist *))dlsym(h, "curl_slist_free_all");
    if (!global_init || !curl.easy_init || !curl.easy_setopt || !curl.easy_perform || !curl.easy_getinfo || !curl.easy_cleanup ||
        !curl.easy_strerror || !curl.slist_append || !curl.slist_free_all) {
        snprintf(curl.missing, sizeof curl.missing, "libcurl.so.4 lacks a function luapiped needs");
        return;
    }
    global_init(CURL_GLOBAL_DEFAULT);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *user) {
    (void)ptr;
    (void)user;
    return size * nmemb;
}

int clp_http_request(const char *url, const char *method, const char *const *headers, size_t nheaders,
                     const void *body, size_t body_len, const char *userpwd, long timeout_ms, clp_http_result *out) {
    pthread_once(&once, load);
    out->status = 0;
    out->error[0] = 0;
    if (curl.missing[0]) {
        snprintf(out->error, sizeof out->error, "%s", curl.missing);
        return -1;
    }
    CURL *c = curl.easy_init();
    if (!c) {
        snprintf(out->error, sizeof out->error, "libcurl could not start a request");
        return -1;
    }
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < nheaders; i++) list = curl.slist_append(list, headers[i]);
    list = curl.slist_append(list, "Expect:"); /* no 100-continue round trip */
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl.easy_setopt(c, CURLOPT_URL, url);
    curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl.easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(method, "GET") != 0) {
        curl.easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
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
    curl.easy_cleanup(c);
    return result;
}
