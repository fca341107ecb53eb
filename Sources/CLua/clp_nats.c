/* clp_nats.c: see clp_nats.h. libnats is opened with dlopen on first use, like libcurl:
 * linked, it would load with its TLS libraries at start in every daemon. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nats/nats.h>
#include "clp_nats.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char missing[256];

/* Every libnats function used, resolved once. */
static struct {
    natsStatus (*opts_create)(natsOptions **);
    void (*opts_destroy)(natsOptions *);
    natsStatus (*opts_servers)(natsOptions *, const char **, int);
    natsStatus (*opts_name)(natsOptions *, const char *);
    natsStatus (*opts_userinfo)(natsOptions *, const char *, const char *);
    natsStatus (*opts_token)(natsOptions *, const char *);
    natsStatus (*opts_creds)(natsOptions *, const char *, const char *);
    natsStatus (*opts_secure)(natsOptions *, bool);
    natsStatus (*opts_cafile)(natsOptions *, const char *);
    natsStatus (*opts_chain)(natsOptions *, const char *, const char *);
    natsStatus (*opts_max_reconnect)(natsOptions *, int);
    natsStatus (*opts_reconnect_wait)(natsOptions *, int64_t);
    natsStatus (*opts_disconnected)(natsOptions *, natsConnectionHandler, void *);
    natsStatus (*opts_reconnected)(natsOptions *, natsConnectionHandler, void *);
    natsStatus (*connect)(natsConnection **, natsOptions *);
    natsConnStatus (*status)(natsConnection *);
    natsStatus (*conn_last_error)(natsConnection *, const char **);
    void (*conn_destroy)(natsConnection *);
    void (*conn_close)(natsConnection *);
    const char *(*status_text)(natsStatus);
    const char *(*last_error)(natsStatus *);
    natsStatus (*js_init)(jsOptions *);
    natsStatus (*jetstream)(jsCtx **, natsConnection *, jsOptions *);
    void (*js_destroy)(jsCtx *);
    natsStatus (*stream_info)(jsStreamInfo **, jsCtx *, const char *, jsOptions *, jsErrCode *);
    void (*stream_info_destroy)(jsStreamInfo *);
    natsStatus (*stream_config_init)(jsStreamConfig *);
    natsStatus (*add_stream)(jsStreamInfo **, jsCtx *, jsStreamConfig *, jsOptions *, jsErrCode *);
    natsStatus (*msg_create)(natsMsg **, const char *, const char *, const char *, int);
    void (*msg_destroy)(natsMsg *);
    const char *(*msg_data)(const natsMsg *);
    int (*msg_len)(const natsMsg *);
    natsStatus (*header_get)(natsMsg *, const char *, const char **);
    natsStatus (*pub_init)(jsPubOptions *);
    natsStatus (*publish_async)(jsCtx *, natsMsg **, jsPubOptions *);
    natsStatus (*sub_init)(jsSubOptions *);
    natsStatus (*pull_subscribe)(natsSubscription **, jsCtx *, const char *, const char *, jsOptions *, jsSubOptions *,
                                 jsErrCode *);
    void (*sub_destroy)(natsSubscription *);
    natsStatus (*fetch)(natsMsgList *, natsSubscription *, int, int64_t, jsErrCode *);
    void (*list_destroy)(natsMsgList *);
    natsStatus (*ack)(natsMsg *, jsOptions *);
    natsStatus (*term)(natsMsg *, jsOptions *);
    natsStatus (*metadata)(jsMsgMetaData **, natsMsg *);
    void (*metadata_destroy)(jsMsgMetaData *);
} f;

#define SYM(field, name)                                                                                  \
    do {                                                                                                  \
        *(void **)&f.field = dlsym(h, name);                                                              \
        if (!f.field) {                                                                                   \
            snprintf(missing, sizeof missing, "libnats.so.3.4 lacks %s, which luapiped needs", name);     \
            return;                                                                                       \
        }                                                                                                 \
    } while (0)

static void load(void) {
    void *h = dlopen("libnats.so.3.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(missing, sizeof missing, "libnats is not installed (apt-get install libnats3.4): %s", dlerror());
        return;
    }
    SYM(opts_create, "natsOptions_Create");
    SYM(opts_destroy, "natsOptions_Destroy");
    SYM(opts_servers, "natsOptions_SetServers");
    SYM(opts_name, "natsOptions_SetName");
    SYM(opts_userinfo, "natsOptions_SetUserInfo");
    SYM(opts_token, "natsOptions_SetToken");
    SYM(opts_creds, "natsOptions_SetUserCredentialsFromFiles");
    SYM(opts_secure, "natsOptions_SetSecure");
    SYM(opts_cafile, "natsOptions_LoadCATrustedCertificates");
    SYM(opts_chain, "natsOptions_LoadCertificatesChain");
    SYM(opts_max_reconnect, "natsOptions_SetMaxReconnect");
    SYM(opts_reconnect_wait, "natsOptions_SetReconnectWait");
    SYM(opts_disconnected, "natsOptions_SetDisconnectedCB");
    SYM(opts_reconnected, "natsOptions_SetReconnectedCB");
    SYM(connect, "natsConnection_Connect");
    SYM(status, "natsConnection_Status");
    SYM(conn_last_error, "natsConnection_GetLastError");
    SYM(conn_destroy, "natsConnection_Destroy");
    SYM(conn_close, "natsConnection_Close");
    SYM(status_text, "natsStatus_GetText");
    SYM(last_error, "nats_GetLastError");
    SYM(js_init, "jsOptions_Init");
    SYM(jetstream, "natsConnection_JetStream");
    SYM(js_destroy, "jsCtx_Destroy");
    SYM(stream_info, "js_GetStreamInfo");
    SYM(stream_info_destroy, "jsStreamInfo_Destroy");
    SYM(stream_config_init, "jsStreamConfig_Init");
    SYM(add_stream, "js_AddStream");
    SYM(msg_create, "natsMsg_Create");
    SYM(msg_destroy, "natsMsg_Destroy");
    SYM(msg_data, "natsMsg_GetData");
    SYM(msg_len, "natsMsg_GetDataLength");
    SYM(header_get, "natsMsgHeader_Get");
    SYM(pub_init, "jsPubOptions_Init");
    SYM(publish_async, "js_PublishMsgAsync");
    SYM(sub_init, "jsSubOptions_Init");
    SYM(pull_subscribe, "js_PullSubscribe");
    SYM(sub_destroy, "natsSubscription_Destroy");
    SYM(fetch, "natsSubscription_Fetch");
    SYM(list_destroy, "natsMsgList_Destroy");
    SYM(ack, "natsMsg_Ack");
    SYM(term, "natsMsg_Term");
    SYM(metadata, "natsMsg_GetMetaData");
    SYM(metadata_destroy, "jsMsgMetaData_Destroy");
}

struct clp_nats {
    natsConnection *nc;
    jsCtx *js;
    int64_t ack_wait_ms;
    /* Callbacks stop at close: libnats may still be finishing one on its threads. */
    pthread_mutex_t lock;
    int closed;
    clp_nats_ack_fn on_ack;
    clp_nats_state_fn on_state;
    void *closure;
};

struct clp_nats_sub {
    natsSubscription *sub;
};

struct clp_nats_batch {
    natsMsgList list;
};

/* libnats's description of the last failure: its status text and detail. */
static void describe(natsStatus s, jsErrCode jerr, char *err, size_t errlen) {
    natsStatus last = NATS_OK;
    const char *detail = f.last_error(&last);
    if (detail && detail[0] == '(') {
        /* "(conn.c:1905): Authorization Violation": the source position says nothing to a user. */
        const char *end = strstr(detail, "): ");
        if (end) detail = end + 3;
    }
    if (detail && detail[0]) {
        snprintf(err, errlen, "%s", detail);
    } else if (jerr) {
        snprintf(err, errlen, "%s (JetStream error %d)", f.status_text(s), (int)jerr);
    } else {
        snprintf(err, errlen, "%s", f.status_text(s));
    }
}

static int loaded(char *err, size_t errlen) {
    pthread_once(&once, load);
    if (missing[0]) {
        snprintf(err, errlen, "%s", missing);
        return 0;
    }
    return 1;
}

static void state_changed(clp_nats *n, int connected) {
    pthread_mutex_lock(&n->lock);
    if (!n->closed && n->on_state) n->on_state(n->closure, connected);
    pthread_mutex_unlock(&n->lock);
}

static void on_connected(natsConnection *nc, void *closure) {
    (void)nc;
    state_changed(closure, 1);
}

static void on_disconnected(natsConnection *nc, void *closure) {
    (void)nc;
    state_changed(closure, 0);
}

static void on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
    (void)js;
    clp_nats *n = closure;
    const char *id = NULL;
    if (f.header_get(msg, "Nats-Msg-Id", &id) != NATS_OK) id = NULL;
    char why[256] = {0};
    if (!pa) {
        if (pae && pae->ErrText && pae->ErrText[0]) {
            snprintf(why, sizeof why, "%s (JetStream error %d)", pae->ErrText, (int)pae->ErrCode);
        } else {
            snprintf(why, sizeof why, "%s", pae ? f.status_text(pae->Err) : "no acknowledgement");
        }
    }
    pthread_mutex_lock(&n->lock);
    if (!n->closed && n->on_ack) n->on_ack(n->closure, id ? id : "", pa != NULL, pa && pa->Duplicate, why);
    pthread_mutex_unlock(&n->lock);
    f.msg_destroy(msg);
}

int clp_nats_open(const clp_nats_config *c, clp_nats **out, char *err, size_t errlen) {
    *out = NULL;
    if (!loaded(err, errlen)) return -1;
    clp_nats *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&n->lock, NULL);
    n->on_ack = c->on_ack;
    n->on_state = c->on_state;
    n->closure = c->closure;
    n->ack_wait_ms = c->ack_wait_ms > 0 ? c->ack_wait_ms : 5000;
    natsOptions *o = NULL;
    natsStatus s = f.opts_create(&o);
    if (s == NATS_OK) s = f.opts_servers(o, (const char **)c->servers, c->nservers);
    if (s == NATS_OK && c->name) s = f.opts_name(o, c->name);
    if (s == NATS_OK && c->user) s = f.opts_userinfo(o, c->user, c->password);
    if (s == NATS_OK && c->token) s = f.opts_token(o, c->token);
    if (s == NATS_OK && c->credentials) s = f.opts_creds(o, c->credentials, NULL);
    if (s == NATS_OK && c->tls) s = f.opts_secure(o, true);
    if (s == NATS_OK && c->root_cafile) s = f.opts_cafile(o, c->root_cafile);
    if (s == NATS_OK && c->cert_file) s = f.opts_chain(o, c->cert_file, c->key_file);
    /* Once connected, reconnect for ever. The first connection is tried once here (the
     * caller tries again): its failure then says why (an authorization refused reads
     * differently from no server up). */
    if (s == NATS_OK) s = f.opts_max_reconnect(o, -1);
    if (s == NATS_OK) s = f.opts_reconnect_wait(o, 500);
    if (s == NATS_OK) s = f.opts_disconnected(o, on_disconnected, n);
    if (s == NATS_OK) s = f.opts_reconnected(o, on_connected, n);
    int failure = -1;
    if (s == NATS_OK) {
        s = f.connect(&n->nc, o);
        if (s != NATS_OK) failure = -2;
    }
    if (s == NATS_OK) {
        jsOptions jo;
        f.js_init(&jo);
        jo.Wait = 5000;
        if (c->max_pending > 0) jo.PublishAsync.MaxPending = c->max_pending;
        jo.PublishAsync.AckHandler = on_pub_ack;
        jo.PublishAsync.AckHandlerClosure = n;
        s = f.jetstream(&n->js, n->nc, &jo);
    }
    if (s == NATS_OK && f.status(n->nc) == NATS_CONN_STATUS_CONNECTED) state_changed(n, 1);
    if (o) f.opts_destroy(o);
    if (s != NATS_OK) {
        describe(s, 0, err, errlen);
        if (n->js) f.js_destroy(n->js);
        if (n->nc) f.conn_destroy(n->nc);
        pthread_mutex_destroy(&n->lock);
        free(n);
        return failure;
    }
    *out = n;
    return 0;
}

void clp_nats_close(clp_nats *n) {
    if (!n) return;
    pthread_mutex_lock(&n->lock);
    n->closed = 1;
    pthread_mutex_unlock(&n->lock);
    f.conn_close(n->nc);
    f.js_destroy(n->js);
    f.conn_destroy(n->nc);
    /* The struct itself stays: a libnats thread finishing a callback may still take its
     * lock (a few dozen bytes per closed connection). */
}

int clp_nats_connected(clp_nats *n) { return f.status(n->nc) == NATS_CONN_STATUS_CONNECTED; }

int clp_nats_closed(clp_nats *n, char *err, size_t errlen) {
    if (f.status(n->nc) != NATS_CONN_STATUS_CLOSED) return 0;
    const char *text = NULL;
    natsStatus s = f.conn_last_error(n->nc, &text);
    snprintf(err, errlen, "%s", text && text[0] ? text : f.status_text(s));
    return 1;
}

/* Whether the subject filter `pattern` (with * and > wildcards) takes in all of `subject`. */
static int covers(const char *pattern, const char *subject) {
    for (;;) {
        const char *pe = strchr(pattern, '.'), *se = strchr(subject, '.');
        size_t pl = pe ? (size_t)(pe - pattern) : strlen(pattern), sl = se ? (size_t)(se - subject) : strlen(subject);
        if (pl == 1 && pattern[0] == '>') return 1;
        int same = pl == sl && memcmp(pattern, subject, pl) == 0;
        int star = pl == 1 && pattern[0] == '*' && !(sl == 1 && subject[0] == '>');
        if (!same && !star) return 0;
        if (!pe || !se) return !pe && !se;
        pattern = pe + 1;
        subject = se + 1;
    }
}

int clp_nats_ensure_stream(clp_nats *n, const char *stream, const char *subject, int64_t replicas, int64_t max_age_ms,
                           int64_t duplicate_window_ms, char *err, size_t errlen) {
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = f.stream_info(&si, n->js, stream, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamConfig *cfg = si->Config;
        int ok = 0;
        size_t used = (size_t)snprintf(err, errlen, "stream %s takes subjects [", stream);
        for (int i = 0; cfg && i < cfg->SubjectsLen; i++) {
            if (covers(cfg->Subjects[i], subject)) ok = 1;
            if (used < errlen) used += (size_t)snprintf(err + used, errlen - used, "%s%s", i ? ", " : "", cfg->Subjects[i]);
        }
        if (used < errlen) snprintf(err + used, errlen - used, "], none of which covers subject %s", subject);
        f.stream_info_destroy(si);
        if (ok) err[0] = 0;
        return ok ? 0 : 2;
    }
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
        describe(s, jerr, err, errlen);
        return 1;
    }
    jsStreamConfig cfg;
    f.stream_config_init(&cfg);
    const char *subjects[1] = {subject};
    cfg.Name = stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = replicas > 0 ? replicas : 1;
    cfg.MaxAge = max_age_ms * 1000000;
    cfg.Duplicates = duplicate_window_ms * 1000000;
    jerr = 0;
    s = f.add_stream(&si, n->js, &cfg, NULL, &jerr);
    if (s == NATS_OK) {
        f.stream_info_destroy(si);
        return 0;
    }
    describe(s, jerr, err, errlen);
    switch (jerr) {
    case JSStreamSubjectOverlapErr:
    case JSStreamInvalidConfig:
    case JSStreamReplicasNotSupportedErr:
    case JSNotEnabledErr:
    case JSNotEnabledForAccountErr:
        return 2;
    default:
        return 1;
    }
}

int clp_nats_publish(clp_nats *n, const char *subject, const void *data, size_t len, const char *msg_id, char *err,
                     size_t errlen) {
    natsMsg *m = NULL;
    natsStatus s = f.msg_create(&m, subject, NULL, data, (int)len);
    if (s == NATS_OK) {
        jsPubOptions po;
        f.pub_init(&po);
        po.MsgId = msg_id;
        po.MaxWait = n->ack_wait_ms;
        s = f.publish_async(n->js, &m, &po);
    }
    f.msg_destroy(m); /* nothing when libnats took it */
    if (s != NATS_OK) {
        describe(s, 0, err, errlen);
        return -1;
    }
    return 0;
}

int clp_nats_subscribe(clp_nats *n, const char *stream, const char *subject, const char *durable, int64_t ack_wait_ms,
                       int64_t max_ack_pending, clp_nats_sub **out, char *err, size_t errlen) {
    *out = NULL;
    jsSubOptions so;
    f.sub_init(&so);
    so.Stream = stream;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckWait = ack_wait_ms * 1000000;
    if (max_ack_pending > 0) so.Config.MaxAckPending = max_ack_pending;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s = f.pull_subscribe(&sub, n->js, subject, durable, NULL, &so, &jerr);
    if (s != NATS_OK) {
        describe(s, jerr, err, errlen);
        return jerr == JSConsumerFilterNotSubsetErr || jerr == JSStreamInvalidConfig ? 2 : 1;
    }
    clp_nats_sub *r = calloc(1, sizeof *r);
    if (!r) {
        f.sub_destroy(sub);
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    r->sub = sub;
    *out = r;
    return 0;
}

void clp_nats_unsubscribe(clp_nats_sub *s) {
    if (!s) return;
    f.sub_destroy(s->sub);
    free(s);
}

int clp_nats_fetch(clp_nats_sub *s, int batch, int64_t timeout_ms, clp_nats_batch **out, char *err, size_t errlen) {
    *out = NULL;
    clp_nats_batch *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    jsErrCode jerr = 0;
    natsStatus st = f.fetch(&b->list, s->sub, batch, timeout_ms, &jerr);
    if (st == NATS_TIMEOUT && b->list.Count == 0) {
        free(b);
        return 0;
    }
    if (st != NATS_OK && b->list.Count == 0) {
        describe(st, jerr, err, errlen);
        free(b);
        return -1;
    }
    *out = b;
    return b->list.Count;
}

const void *clp_nats_batch_data(clp_nats_batch *b, int i, size_t *len) {
    *len = (size_t)f.msg_len(b->list.Msgs[i]);
    return f.msg_data(b->list.Msgs[i]);
}

uint64_t clp_nats_batch_delivered(clp_nats_batch *b, int i) {
    jsMsgMetaData *meta = NULL;
    if (f.metadata(&meta, b->list.Msgs[i]) != NATS_OK || !meta) return 1;
    uint64_t n = meta->NumDelivered;
    f.metadata_destroy(meta);
    return n;
}

void clp_nats_batch_ack(clp_nats_batch *b, int i) { f.ack(b->list.Msgs[i], NULL); }
void clp_nats_batch_term(clp_nats_batch *b, int i) { f.term(b->list.Msgs[i], NULL); }

void clp_nats_batch_free(clp_nats_batch *b) {
    if (!b) return;
    f.list_destroy(&b->list);
    free(b);
}
