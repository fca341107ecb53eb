#pragma once
/*
 * clp_net: UDP receive helpers whose socket-option and control-message macros
 * (CMSG_FIRSTHDR, CMSG_DATA…) Swift cannot import.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Asks for a receive buffer of `bytes` (SO_RCVBUFFORCE when the process may, else
 * SO_RCVBUF, which net.core.rmem_max caps) and asks the kernel to report datagrams it
 * dropped for want of room (SO_RXQ_OVFL). Returns the buffer the kernel granted, in
 * bytes (as getsockopt reports it), or -1 with errno set.
 */
int clp_udp_prepare(int fd, int bytes);

/**
 * recvmsg() of one datagram into `buf`. Returns its full length (more than `len` when
 * it was cut), or -1 with errno set. When the kernel attached its count of datagrams
 * dropped on this socket so far (cumulative since the socket was made), it is stored in
 * `*drops` and `*has_drops` is set to 1.
 */
ssize_t clp_udp_recv(int fd, void *buf, size_t len, int flags, uint32_t *drops, int *has_drops);

/** Names the calling thread for the kernel (`top -H`, /proc): at most 15 bytes are kept. */
void clp_set_thread_name(const char *name);

/** The processors the calling thread may run on (sched_getaffinity's mask), or 0. */
int clp_affinity_cpu_count(void);

#ifdef __cplusplus
}
#endif
