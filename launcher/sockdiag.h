/* sockdiag.h: the owner of a local TCP or UDP socket, from sock_diag(7) (Linux): the request,
 * the reply's parser, and the lookup over one netlink socket the whole process shares. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* A socket to find, as it sees itself: src is its own address and port, dst the ones it talks
 * to (ours). Addresses in network byte order (AF_INET: the first 4 bytes, the rest zero), ports
 * in host byte order. A v4-mapped IPv6 pair is asked as AF_INET: the other end of an IPv4
 * connection to a dual-stack listener is an AF_INET socket (or a dual-stack one, which the
 * kernel finds by its IPv4 addresses too). */
struct sockdiag_query {
        int family;   /* AF_INET or AF_INET6 */
        int protocol; /* IPPROTO_TCP or IPPROTO_UDP */
        uint8_t src[16], dst[16];
        uint16_t sport, dport;
};

struct sockdiag_owner {
        uid_t uid;
        uint32_t inode; /* never 0 on success */
        uint8_t state;  /* the kernel's TCP state numbering (1 established); UDP: 1 connected, 7 not */
};

/* A request: a struct nlmsghdr followed by a struct inet_diag_req_v2. */
#define SOCKDIAG_REQUEST_SIZE 72
/* How long a lookup waits for the kernel's answer (it answers at once: this bounds a bug). */
#define SOCKDIAG_TIMEOUT_MS 1000

/* The query for the peer of a connection or the sender of a datagram: peer is the other end's
 * address, local ours (getpeername/getsockname, or recvmsg's sender and the datagram's
 * destination). Pure. Returns 0, -EAFNOSUPPORT (not inet, or an IPv4 peer paired with a
 * non-mapped IPv6 local address), or -EPROTONOSUPPORT (neither TCP nor UDP). */
int sockdiag_query_peer(int protocol, const struct sockaddr *peer, const struct sockaddr *local,
                        struct sockdiag_query *ret);

/* Writes the exact-lookup request for q with sequence number seq into buf. Pure. Returns
 * SOCKDIAG_REQUEST_SIZE, -EINVAL for a query of another family or protocol, or -ENOBUFS. */
int sockdiag_build_request(const struct sockdiag_query *q, uint32_t seq, uint8_t *buf, size_t size);

/* Reads one datagram from the kernel that should answer the request for q with seq. Pure; *ret
 * is written only on success. Returns:
 *    0            the socket was found and has an owner: *ret filled
 *   -ENOENT       no socket on this host has that address pair (the kernel's answer; also when
 *                 it answers about another socket, such as a listener on that address and port)
 *   -EOWNERDEAD   the socket exists, but its process has closed it (orphaned, or TIME_WAIT, for
 *                 which the kernel reports uid 0): nobody can be named
 *   -ESTALE       no message in buf carries seq (an answer to an earlier request: read again)
 *   -EBADMSG      malformed or truncated, an ack without an answer, or an unknown message type
 *   -EINVAL       q is not a query sockdiag_build_request() accepts
 *   -errno        the kernel's own error for the request (-EPROTO if it would read as one of
 *                 the codes above) */
int sockdiag_parse_reply(const uint8_t *buf, size_t len, const struct sockdiag_query *q, uint32_t seq,
                         struct sockdiag_owner *ret);

/* The lookup itself: one NETLINK_SOCK_DIAG socket per process (opened on first use,
 * close-on-exec, reopened after fork), a mutex around each request and its answer, a sequence
 * number checked on each reply, SOCKDIAG_TIMEOUT_MS at most. Thread-safe. Returns what
 * sockdiag_parse_reply() does (never -ESTALE), -ETIMEDOUT, or -errno from the socket calls:
 * -EAFNOSUPPORT or -EPERM when a sandbox forbids netlink sockets. -EOPNOTSUPP off Linux. */
int sockdiag_lookup(const struct sockdiag_query *q, struct sockdiag_owner *ret);
