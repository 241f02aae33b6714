/* access.h: who may talk to a per-user agent. The owner, and whoever --allow-uid and --allow-gid
 * name; the peer is identified by the kernel, never by anything it sends: SO_PEERCRED on unix
 * stream and seqpacket connections, SCM_CREDENTIALS on each unix datagram, and for TCP and UDP
 * peers on this host the owner of the other socket, from the socket-diagnostics netlink
 * interface (sock_diag(7)). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct access_policy {
        uid_t owner; /* always allowed (the launcher's own uid) */
        const uid_t *allow_uid;
        size_t n_allow_uid;
        const gid_t *allow_gid; /* a peer in the group: its gid, or a member in the group database */
        size_t n_allow_gid;
};

struct access_peer {
        bool known;     /* the kernel named its user; false: a remote inet peer, or see local */
        bool local;     /* on this host (every unix peer). Known false and local true: a local peer
                         * nobody could name (its socket gone or closed, a unix datagram without
                         * credentials, an inet peer on macOS) */
        pid_t pid;      /* 0 when the platform cannot tell (always for inet peers) */
        uid_t uid;
        gid_t gid;      /* (gid_t)-1 when only the uid is known (inet peers) */
        char addr[64];  /* inet peers: "127.0.0.1:40522", "[::1]:40522"; "" for unix peers */
};

/* Decides for a peer whose credentials are known: its uid is the owner or in allow_uid, or its
 * gid is in allow_gid, or its user is a member of a group in allow_gid (getgrouplist(3), the way
 * sshd's AllowGroups decides; looked up only when the uid alone does not decide). */
bool access_allowed(const struct access_policy *p, const struct access_peer *peer);

/* An accepted stream or seqpacket connection on a socket of `family` (AF_UNIX, AF_INET,
 * AF_INET6): reads who is at the other end into *ret_peer and decides. A remote inet peer
 * (nobody on this host owns the other end) is allowed, with ret_peer->known false: a listener
 * on a non-loopback address is open to the network by the user's choice. An inet peer on this
 * host (loopback, or one of its addresses) whose socket is gone or closed by its process is
 * refused: nobody can say whose it was. macOS names no inet peer (known false, allowed).
 * Returns 1 allowed, 0 refused, or -errno when the peer could not be examined (refuse it). */
int access_check_stream(const struct access_policy *p, int fd, int family, struct access_peer *ret_peer);

/* Before a datagram socket (AF_UNIX, AF_INET or AF_INET6, prepared with
 * access_prepare_datagram()) is handed to the agent: looks at the sender of the next waiting
 * datagram without taking it (MSG_PEEK). A datagram from a sender that is not allowed is taken
 * off the socket and dropped, with *ret_peer saying whose it was. Never blocks (MSG_DONTWAIT).
 * A unix datagram without credentials (queued before SO_PASSCRED was set) is refused. A UDP
 * sender is looked up only when its address is on this host: others are remote (allowed).
 * Callers serialize the check and the hand-over per socket: the drop takes the head datagram.
 * Returns 1 allowed (the datagram stays queued for the agent), 0 refused (and dropped),
 * -EAGAIN when no datagram waits, or another -errno: then the sender could not be examined
 * and its datagram, if one was peeked, was dropped too (fail closed); *ret_peer is unchanged. */
int access_check_datagram(const struct access_policy *p, int fd, int family, struct access_peer *ret_peer);

/* At check-in, for a datagram socket: a unix one asks the kernel to attach the sender's
 * credentials to every datagram (SO_PASSCRED); a UDP one to say each datagram's destination
 * address (IP_PKTINFO, IPV6_RECVPKTINFO), without which a sender connected to one address of a
 * wildcard-bound socket cannot be found. Returns 0 or -errno. */
int access_prepare_datagram(int fd, int family);

/* "uid 1001 (pid 4242)", "uid 1001 (127.0.0.1:40522)", "127.0.0.1:40522 (remote)",
 * "127.0.0.1:40522 (on this host, owner unknown)": for log lines. */
const char *access_peer_describe(const struct access_peer *peer, char *buf, size_t size);

/* For the log line of a -errno from access_check_*(): what to fix, or "" (never NULL). */
const char *access_error_hint(int err);

/* How many times the passwd and group databases were read for --allow-gid membership (cached
 * per uid for ACCESS_GROUPS_CACHE_SEC): for tests and debugging. */
#define ACCESS_GROUPS_CACHE_SEC 5
unsigned long access_group_lookups(void);
