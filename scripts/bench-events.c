/* Event benchmarks for scripts/bench: a client of a luapiped TcpInput (ack = true) and a
 * receiver for its TcpOutput, plus the floors they are compared with, all measured here.
 *
 *   bench-events handoff INTERVAL_US N         two threads, condition-variable hand-off
 *   bench-events fsync DIR N                   write(2) of 200 bytes + fdatasync
 *   bench-events latency IN OUT RATE N         send at RATE/s, time to the output
 *   bench-events ackrtt IN N                   one event, its acknowledgement, again
 *   bench-events throughput IN OUT N           N events with a window, until all are out
 *
 * Latencies print "p50_us p99_us"; throughput prints "events_per_s". Events carry their
 * send time (CLOCK_MONOTONIC, ns) as Payload, so the receiver computes the latency. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void sleep_until(uint64_t t) {
    struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_percentiles(uint64_t *v, size_t n) {
    qsort(v, n, sizeof *v, cmp);
    printf("%.1f %.1f\n", v[n / 2] / 1e3, v[(n * 99) / 100] / 1e3);
}

/* --- hand-off floor --- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static uint64_t posted;
static size_t handoffs, posts, measured;
static uint64_t *lat;

static void *waiter(void *arg) {
    size_t n = *(size_t *)arg;
    pthread_mutex_lock(&mu);
    while (handoffs < n) {
        while (posts == handoffs) pthread_cond_wait(&cv, &mu);
        lat[measured++] = now_ns() - posted;
        handoffs = posts;
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static int handoff(uint64_t interval_us, size_t n) {
    lat = calloc(n, sizeof *lat);
    pthread_t t;
    pthread_create(&t, NULL, waiter, &n);
    uint64_t next = now_ns();
    for (size_t i = 0; i < n; i++) {
        next += interval_us * 1000;
        sleep_until(next);
        pthread_mutex_lock(&mu);
        posted = now_ns();
        posts = i + 1;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    pthread_join(t, NULL);
    print_percentiles(lat, measured);
    return 0;
}

/* --- fsync floor --- */
static int fsync_floor(const char *dir, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/fsync-floor", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return perror(path), 1;
    char buf[200];
    memset(buf, 'x', sizeof buf);
    lat = calloc(n, sizeof *lat);
    for (size_t i = 0; i < n; i++) {
        uint64_t t = now_ns();
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf || fdatasync(fd) != 0) return perror("write"), 1;
        lat[i] = now_ns() - t;
    }
    close(fd);
    unlink(path);
    print_percentiles(lat, n);
    return 0;
}

/* --- the client --- */
static int connect_to(int port) {
    for (int tries = 0; tries < 500; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        close(fd);
        usleep(20000);
    }
    fprintf(stderr, "cannot connect to port %d\n", port);
    exit(1);
}

static size_t varint(uint8_t *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) out[n++] = (uint8_t)(v | 0x80), v >>= 7;
    out[n++] = (uint8_t)v;
    return n;
}

/* A framed message: Uuid (the counter), Timestamp, Type "event", Payload = send time. */
static size_t make_event(uint8_t *out, uint64_t counter, uint64_t sent) {
    uint8_t m[128];
    size_t n = 0;
    static uint64_t run;  /* distinct Uuids across runs against one daemon */
    if (!run) run = now_ns() ^ ((uint64_t)getpid() << 32);
    m[n++] = 0x0A, m[n++] = 16;
    memcpy(m + n, &run, 8), memcpy(m + n + 8, &counter, 8), n += 16;
    m[n++] = 0x10, n += varint(m + n, 1700000000000000000ull);
    m[n++] = 0x1A, m[n++] = 5, memcpy(m + n, "event", 5), n += 5;
    char p[32];
    int pl = snprintf(p, sizeof p, "%llu", (unsigned long long)sent);
    m[n++] = 0x32, m[n++] = (uint8_t)pl, memcpy(m + n, p, (size_t)pl), n += (size_t)pl;
    uint8_t h[16];
    size_t hn = 0;
    h[hn++] = 0x08, hn += varint(h + hn, n);
    size_t k = 0;
    out[k++] = 0x1E, out[k++] = (uint8_t)hn, memcpy(out + k, h, hn), k += hn, out[k++] = 0x1F;
    memcpy(out + k, m, n);
    return k + n;
}

static volatile size_t received;
static uint64_t *latencies;
static size_t expected;

static uint64_t read_varint(const uint8_t *b, size_t len, size_t *i) {
    uint64_t v = 0;
    for (int s = 0; *i < len && s < 64; s += 7) {
        uint8_t c = b[(*i)++];
        v |= (uint64_t)(c & 0x7F) << s;
        if (!(c & 0x80)) break;
    }
    return v;
}

/* The Payload of a message, parsed as the send time. */
static uint64_t payload_time(const uint8_t *m, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint64_t tag = read_varint(m, len, &i);
        switch (tag & 7) {
        case 0: read_varint(m, len, &i); break;
        case 1: i += 8; break;
        case 5: i += 4; break;
        case 2: {
            uint64_t l = read_varint(m, len, &i);
            if ((tag >> 3) == 6) return strtoull((const char *)(m + i), NULL, 10);
            i += l;
            break;
        }
        default: return 0;
        }
    }
    return 0;
}

/* Accepts luapiped's TcpOutput and records each event's latency. */
static void *receiver(void *arg) {
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    static uint8_t buf[1 << 20];
    size_t have = 0;
    while (received < expected) {
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n <= 0) break;
        uint64_t t = now_ns();
        have += (size_t)n;
        size_t i = 0;
        while (have - i >= 3 && buf[i] == 0x1E) {
            size_t hl = buf[i + 1];
            if (have - i < 2 + hl + 1) break;
            size_t j = i + 2;
            uint64_t ml = 0;
            while (j < i + 2 + hl) {
                uint64_t tag = read_varint(buf, i + 2 + hl, &j);
                uint64_t v = read_varint(buf, i + 2 + hl, &j);
                if (tag == 0x08) ml = v;
            }
            size_t start = i + 2 + hl + 1;
            if (have < start + ml) break;
            uint64_t sent = payload_time(buf + start, ml);
            if (received < expected) latencies[received] = sent ? t - sent : 0;
            received++;
            i = start + ml;
        }
        memmove(buf, buf + i, have - i);
        have -= i;
    }
    close(fd);
    return NULL;
}

static int in_fd;
static volatile size_t acked;
static void *ack_reader(void *arg) {
    (void)arg;
    uint8_t b[17 * 256];
    size_t carry = 0;
    ssize_t n;
    while ((n = read(in_fd, b, sizeof b)) > 0) {
        carry += (size_t)n;
        acked += carry / 17;
        carry %= 17;
    }
    return NULL;
}

static pthread_t start_receiver(int out_port) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)out_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4) != 0) perror("listen"), exit(1);
    static int fd;
    fd = lfd;
    pthread_t t;
    pthread_create(&t, NULL, receiver, &fd);
    return t;
}

/* The receiver for `n` events on `out_port`, then the client on `in_port` with its
 * acknowledgement reader. */
static pthread_t start_exchange(int in_port, int out_port, size_t n) {
    expected = n;
    latencies = calloc(expected, sizeof *latencies);
    pthread_t r = start_receiver(out_port);
    in_fd = connect_to(in_port);
    pthread_t a;
    pthread_create(&a, NULL, ack_reader, NULL);
    return r;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "handoff")) return handoff(strtoull(argv[2], 0, 10), strtoull(argv[3], 0, 10));
    if (argc >= 4 && !strcmp(argv[1], "fsync")) return fsync_floor(argv[2], strtoull(argv[3], 0, 10));
    uint8_t frame[256];
    if (argc >= 4 && !strcmp(argv[1], "ackrtt")) {
        size_t n = strtoull(argv[3], 0, 10);
        in_fd = connect_to(atoi(argv[2]));
        lat = calloc(n, sizeof *lat);
        uint8_t ack[17];
        for (size_t i = 0; i < n; i++) {
            uint64_t t = now_ns();
            size_t len = make_event(frame, i + 1, t);
            if (write(in_fd, frame, len) != (ssize_t)len) return perror("write"), 1;
            for (size_t got = 0; got < 17;) {
                ssize_t r = read(in_fd, ack + got, 17 - got);
                if (r <= 0) return fprintf(stderr, "no acknowledgement\n"), 1;
                got += (size_t)r;
            }
            lat[i] = now_ns() - t;
        }
        print_percentiles(lat, n);
        return 0;
    }
    if (argc >= 6 && !strcmp(argv[1], "latency")) {
        uint64_t rate = strtoull(argv[4], 0, 10);
        pthread_t r = start_exchange(atoi(argv[2]), atoi(argv[3]), strtoull(argv[5], 0, 10));
        uint64_t next = now_ns();
        for (size_t i = 0; i < expected; i++) {
            next += 1000000000ull / rate;
            sleep_until(next);
            size_t len = make_event(frame, i + 1, now_ns());
            if (write(in_fd, frame, len) != (ssize_t)len) return perror("write"), 1;
        }
        pthread_join(r, NULL);
        print_percentiles(latencies, expected);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "throughput")) {
        pthread_t r = start_exchange(atoi(argv[2]), atoi(argv[3]), strtoull(argv[4], 0, 10));
        uint64_t t0 = now_ns();
        static uint8_t batch[256 * 100];
        for (size_t i = 0; i < expected;) {
            while (i - acked > 20000) usleep(100);
            size_t k = 0;
            for (int j = 0; j < 100 && i < expected; j++, i++) k += make_event(batch + k, i + 1, now_ns());
            if (write(in_fd, batch, k) != (ssize_t)k) return perror("write"), 1;
        }
        pthread_join(r, NULL);
        printf("%.0f\n", expected / ((now_ns() - t0) / 1e9));
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of scripts/bench-events.c\n");
    return 2;
}
