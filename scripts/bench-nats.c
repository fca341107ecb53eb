/* bench-nats.c: the baseline of scripts/bench-topology: libnats alone publishing the
 * lines of FILE (each padded with PAD bytes, the size of the headers luapiped's protobuf
 * adds) to a JetStream stream asynchronously with a Nats-Msg-Id each, while a durable pull
 * consumer fetches them in batches of 256 and acknowledges each. Prints messages per
 * second, from the first publish to the last message consumed.
 *
 * Usage: bench-nats URL STREAM FILE PAD */
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static jsCtx *js;
static long total;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void check(natsStatus s, const char *what) {
    if (s != NATS_OK) {
        fprintf(stderr, "%s: %s\n", what, natsStatus_GetText(s));
        exit(1);
    }
}

static void *consume(void *subject) {
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckExplicit;
    check(js_PullSubscribe(&sub, js, subject, "bench", NULL, &so, NULL), "subscribe");
    long got = 0;
    while (got < total) {
        natsMsgList list;
        natsStatus s = natsSubscription_Fetch(&list, sub, 256, 1000, NULL);
        if (s == NATS_TIMEOUT) continue;
        check(s, "fetch");
        for (int i = 0; i < list.Count; i++) natsMsg_Ack(list.Msgs[i], NULL);
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Destroy(sub);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: bench-nats URL STREAM FILE PAD\n");
        return 2;
    }
    const char *stream = argv[2];
    int pad = atoi(argv[4]);
    FILE *f = fopen(argv[3], "r");
    if (!f) return 1;
    size_t cap = 0, n = 0;
    char **lines = NULL, *line = NULL;
    size_t len = 0;
    ssize_t r;
    while ((r = getline(&line, &len, f)) > 0) {
        if (n == cap) lines = realloc(lines, (cap = cap ? cap * 2 : 1024) * sizeof *lines);
        lines[n] = calloc(1, (size_t)r + (size_t)pad);
        memcpy(lines[n], line, (size_t)r);
        n++;
    }
    fclose(f);
    total = (long)n;
    size_t *lens = malloc(n * sizeof *lens);
    rewind(f = fopen(argv[3], "r"));
    for (size_t i = 0; i < n && (r = getline(&line, &len, f)) > 0; i++) lens[i] = (size_t)r + (size_t)pad;
    fclose(f);

    natsConnection *nc = NULL;
    check(natsConnection_ConnectTo(&nc, argv[1]), "connect");
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    check(natsConnection_JetStream(&js, nc, &jo), "jetstream");
    char subject[128];
    snprintf(subject, sizeof subject, "bench.%s", stream);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[1] = {subject};
    cfg.Name = stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Duplicates = 120LL * 1000000000;
    check(js_AddStream(NULL, js, &cfg, NULL, NULL), "add stream");

    double t0 = now();
    pthread_t consumer;
    pthread_create(&consumer, NULL, consume, subject);
    char id[40];
    for (size_t i = 0; i < n; i++) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        snprintf(id, sizeof id, "%032zx", i);
        po.MsgId = id;
        natsStatus s;
        while ((s = js_PublishAsync(js, subject, lines[i], (int)lens[i], &po)) == NATS_TIMEOUT) {}
        check(s, "publish");
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 60000;
    check(js_PublishAsyncComplete(js, &wait), "publish complete");
    pthread_join(consumer, NULL);
    double t = now() - t0;
    printf("%.0f\n", (double)n / t);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}
