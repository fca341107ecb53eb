#define _GNU_SOURCE
#include "include/clp_net.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif

int clp_udp_prepare(int fd, int bytes)
{
    if (bytes > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0) {
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) != 0) return -1;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) != 0) return -1;
    int granted = 0;
    socklen_t n = sizeof granted;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &n) != 0) return -1;
    return granted;
}

ssize_t clp_udp_recv(int fd, void *buf, size_t len, int flags, uint32_t *drops, int *has_drops)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    union {
        char bytes[CMSG_SPACE(sizeof(uint32_t))];
        struct cmsghdr align;
    } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    *has_drops = 0;
    ssize_t n = recvmsg(fd, &msg, flags | MSG_TRUNC);
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            memcpy(drops, CMSG_DATA(c), sizeof *drops);
            *has_drops = 1;
        }
    }
    return n;
}

void clp_set_thread_name(const char *name)
{
    char shortName[16];
    strncpy(shortName, name, sizeof shortName - 1);
    shortName[sizeof shortName - 1] = 0;
    prctl(PR_SET_NAME, shortName, 0, 0, 0);
}

int clp_affinity_cpu_count(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}
