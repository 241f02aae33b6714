/* sockdiag.c: the owner of a local TCP or UDP socket, from sock_diag(7). The query, the request
 * and the reply's parser are pure (libc only: the fuzz targets link this file without the
 * rest); sockdiag_lookup(), at the end, is the one place that talks to the kernel. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "sockdiag.h"

#ifdef __linux__
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct nlmsghdr) + sizeof(struct inet_diag_req_v2) == SOCKDIAG_REQUEST_SIZE,
               "SOCKDIAG_REQUEST_SIZE");
#endif

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* One end of the pair, IPv4-mapped addresses unmapped. */
struct side {
        int family;
        uint8_t addr[16];
        uint16_t port;
};

static int side_from(const struct sockaddr *sa, struct side *ret) {
        struct side s = {};

        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
                s.family = AF_INET;
                memcpy(s.addr, &sin->sin_addr, 4);
                s.port = ntohs(sin->sin_port);
        } else if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
                const uint8_t *a = (const uint8_t *)&sin6->sin6_addr;
                bool mapped = memcmp(a, v4mapped_prefix, sizeof v4mapped_prefix) == 0;

                s.family = mapped ? AF_INET : AF_INET6;
                memcpy(s.addr, mapped ? a + 12 : a, mapped ? 4 : 16);
                s.port = ntohs(sin6->sin6_port);
        } else
                return -EAFNOSUPPORT;
        *ret = s;
        return 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

int sockdiag_query_peer(int protocol, const struct sockaddr *peer, const struct sockaddr *local,
                        struct sockdiag_query *ret) {
        struct side p, l;
        int r;

        if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
                return -EPROTONOSUPPORT;
        if ((r = side_from(peer, &p)) < 0 || (r = side_from(local, &l)) < 0)
                return r;
        /* An IPv4 sender on a dual-stack UDP socket whose datagram's destination is unknown: our
         * "::" is IPv4's 0.0.0.0. Any other mix cannot be one connection. */
        if (p.family == AF_INET && l.family == AF_INET6 && all_zero(l.addr, 16))
                l.family = AF_INET;
        if (p.family != l.family)
                return -EAFNOSUPPORT;
        *ret = (struct sockdiag_query){ .family = p.family, .protocol = protocol, .sport = p.port, .dport = l.port };
        memcpy(ret->src, p.addr, sizeof ret->src);
        memcpy(ret->dst, l.addr, sizeof ret->dst);
        return 0;
}

#ifdef __linux__

static bool query_valid(const struct sockdiag_query *q) {
        return (q->family == AF_INET || q->family == AF_INET6) &&
               (q->protocol == IPPROTO_TCP || q->protocol == IPPROTO_UDP);
}

static size_t addr_len(int family) {
        return family == AF_INET ? 4 : 16;
}

int sockdiag_build_request(const struct sockdiag_query *q, uint32_t seq, uint8_t *buf, size_t size) {
        struct nlmsghdr h = {
                .nlmsg_len = SOCKDIAG_REQUEST_SIZE,
                .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                .nlmsg_flags = NLM_F_REQUEST, /* no NLM_F_DUMP: an exact lookup, one answer */
                .nlmsg_seq = seq,
        };
        struct inet_diag_req_v2 r = {
                .sdiag_family = (uint8_t)q->family,
                .sdiag_protocol = (uint8_t)q->protocol,
                .idiag_states = ~0u,
                .id.idiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE },
        };
        size_t n = addr_len(q->family);

        if (!query_valid(q))
                return -EINVAL;
        if (size < SOCKDIAG_REQUEST_SIZE)
                return -ENOBUFS;
        if (q->protocol == IPPROTO_TCP) {
                /* inet_diag_find_one_icsk(): the socket whose own end is src:sport. */
                memcpy(r.id.idiag_src, q->src, n);
                memcpy(r.id.idiag_dst, q->dst, n);
                r.id.idiag_sport = htons(q->sport);
                r.id.idiag_dport = htons(q->dport);
        } else {
                /* udp_dump_one() looks up the socket that would receive a datagram sent from
                 * idiag_src to idiag_dst ("src and dst are swapped for historical reasons"): the
                 * one a reply from us would reach. So dst is the wanted socket's own end. */
                memcpy(r.id.idiag_src, q->dst, n);
                memcpy(r.id.idiag_dst, q->src, n);
                r.id.idiag_sport = htons(q->dport);
                r.id.idiag_dport = htons(q->sport);
        }
        memcpy(buf, &h, sizeof h);
        memcpy(buf + sizeof h, &r, sizeof r);
        return SOCKDIAG_REQUEST_SIZE;
}

/* Is the address a (family, 16 bytes) reply names the query's (family, addr)? A dual-stack
 * socket found by IPv4 addresses reports them v4-mapped. */
static bool same_addr(int qfamily, const uint8_t *q, int mfamily, const uint8_t *m) {
        if (qfamily == mfamily)
                return memcmp(q, m, addr_len(qfamily)) == 0;
        return qfamily == AF_INET && mfamily == AF_INET6 && memcmp(m, v4mapped_prefix, 12) == 0 &&
               memcmp(m + 12, q, 4) == 0;
}

/* The reply is about the socket asked for. TCP: both ends exactly (inet_lookup() falls back to
 * a listener on src:sport, which is not the peer). UDP: its own port, its own address or a
 * wildcard, and, if it is connected, connected to us. */
static bool answers_query(const struct inet_diag_msg *m, const struct sockdiag_query *q) {
        const uint8_t *src = (const uint8_t *)m->id.idiag_src, *dst = (const uint8_t *)m->id.idiag_dst;
        bool wild_src = all_zero(src, 16), unconnected = all_zero(dst, 16) && m->id.idiag_dport == 0;

        if (m->id.idiag_sport != htons(q->sport))
                return false;
        if (q->protocol == IPPROTO_TCP)
                return m->id.idiag_dport == htons(q->dport) && same_addr(q->family, q->src, m->idiag_family, src) &&
                       same_addr(q->family, q->dst, m->idiag_family, dst);
        return (wild_src || same_addr(q->family, q->src, m->idiag_family, src)) &&
               (unconnected ||
                (m->id.idiag_dport == htons(q->dport) && same_addr(q->family, q->dst, m->idiag_family, dst)));
}

static int parse_error(const uint8_t *payload, size_t len) {
        struct nlmsgerr e;

        if (len < sizeof e)
                return -EBADMSG;
        memcpy(&e, payload, sizeof e);
        if (e.error >= 0 || e.error < -4095)
                return -EBADMSG; /* an ack (we asked for none), or no errno at all */
        switch (e.error) {
        case -EOWNERDEAD:
        case -ESTALE:
        case -EBADMSG:
        case -EINVAL:
                return -EPROTO; /* our own codes mean something else: keep them unambiguous */
        }
        return e.error;
}

static int parse_answer(const uint8_t *payload, size_t len, const struct sockdiag_query *q,
                        struct sockdiag_owner *ret) {
        struct inet_diag_msg m;

        if (len < sizeof m)
                return -EBADMSG;
        memcpy(&m, payload, sizeof m);
        if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6)
                return -EBADMSG;
        if (!answers_query(&m, q))
                return -ENOENT;
        /* A socket its process has closed has no inode; for TIME_WAIT and request sockets the
         * kernel writes uid 0 (inet_twsk_diag_fill): that is nobody, not root. */
        if (m.idiag_inode == 0)
                return -EOWNERDEAD;
        *ret = (struct sockdiag_owner){ .uid = m.idiag_uid, .inode = m.idiag_inode, .state = m.idiag_state };
        return 0;
}

int sockdiag_parse_reply(const uint8_t *buf, size_t len, const struct sockdiag_query *q, uint32_t seq,
                         struct sockdiag_owner *ret) {
        size_t off = 0;

        if (!query_valid(q))
                return -EINVAL;
        if (len < sizeof(struct nlmsghdr))
                return -EBADMSG;
        while (off < len) {
                struct nlmsghdr h;
                const uint8_t *payload = buf + off + sizeof h;

                if (len - off < sizeof h)
                        return -EBADMSG;
                memcpy(&h, buf + off, sizeof h);
                if (h.nlmsg_len < sizeof h || h.nlmsg_len > len - off)
                        return -EBADMSG;
                if (h.nlmsg_seq == seq) {
                        if (h.nlmsg_type == NLMSG_ERROR)
                                return parse_error(payload, h.nlmsg_len - sizeof h);
                        if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY)
                                return parse_answer(payload, h.nlmsg_len - sizeof h, q, ret);
                        return -EBADMSG;
                }
                off += ((size_t)h.nlmsg_len + NLMSG_ALIGNTO - 1) & ~(size_t)(NLMSG_ALIGNTO - 1);
        }
        return -ESTALE;
}

/* The lookup: the only code here that makes system calls. One socket for the process, so
 * handler threads that come and go leave nothing behind; the mutex keeps each request and its
 * answer together. */
static struct {
        pthread_mutex_t lock;
        int fd;
        pid_t pid; /* the process that opened fd: a forked child must not share its replies */
        uint32_t seq;
} nl = { PTHREAD_MUTEX_INITIALIZER, -1, 0, 0 };

/* A fork while another thread holds the lock would leave it held in the child forever. */
static void nl_prefork(void) {
        pthread_mutex_lock(&nl.lock);
}

static void nl_postfork(void) {
        pthread_mutex_unlock(&nl.lock);
}

static void nl_register_atfork(void) {
        (void)pthread_atfork(nl_prefork, nl_postfork, nl_postfork);
}

static int nl_open(void) {
        int fd;

        if (nl.fd >= 0 && nl.pid == getpid())
                return 0;
        if (nl.fd >= 0)
                close(nl.fd); /* inherited: the parent keeps its own */
        nl.fd = -1;
        fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (fd < 0)
                return -errno;
        nl.fd = fd;
        nl.pid = getpid();
        return 0;
}

/* After a transport error or a timeout: the next lookup starts on a fresh socket, with nothing
 * stale or half-read queued on it. */
static void nl_reset(void) {
        if (nl.fd >= 0)
                close(nl.fd);
        nl.fd = -1;
}

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int nl_send(const uint8_t *req, size_t len) {
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

        for (;;) {
                ssize_t n = sendto(nl.fd, req, len, 0, (const struct sockaddr *)&kernel, sizeof kernel);
                if (n == (ssize_t)len)
                        return 0;
                if (n >= 0)
                        return -EIO;
                if (errno != EINTR)
                        return -errno;
        }
}

/* The next datagram from the kernel, waiting until deadline. Returns its length or -errno. */
static int nl_receive(uint8_t *buf, size_t size, int64_t deadline) {
        for (;;) {
                struct sockaddr_nl from = {};
                struct iovec iov = { .iov_base = buf, .iov_len = size };
                struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1 };
                struct pollfd pfd = { .fd = nl.fd, .events = POLLIN };
                ssize_t n = recvmsg(nl.fd, &m, MSG_DONTWAIT);
                int64_t left;

                if (n >= 0) {
                        if (m.msg_flags & MSG_TRUNC)
                                return -EMSGSIZE;
                        /* Only the kernel (port 0) answers; unprivileged processes cannot send
                         * to our port anyway (NETLINK_SOCK_DIAG has no NL_CFG_F_NONROOT_SEND). */
                        if (m.msg_namelen >= sizeof from && from.nl_pid == 0)
                                return (int)n;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                left = deadline - now_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
                        return -errno;
        }
}

static int lookup_locked(const struct sockdiag_query *q, struct sockdiag_owner *ret) {
        uint8_t req[SOCKDIAG_REQUEST_SIZE];
        /* An answer is an inet_diag_msg and a few attributes (~200 bytes); an error echoes the
         * request. Anything larger would be a surprise, reported as -EMSGSIZE. */
        _Alignas(struct nlmsghdr) uint8_t reply[4096];
        uint32_t seq = ++nl.seq;
        int64_t deadline;
        int r, len;

        if ((len = sockdiag_build_request(q, seq, req, sizeof req)) < 0)
                return len;
        if ((r = nl_open()) < 0)
                return r;
        if ((r = nl_send(req, (size_t)len)) < 0)
                goto fail;
        deadline = now_ms() + SOCKDIAG_TIMEOUT_MS;
        for (;;) {
                if ((len = nl_receive(reply, sizeof reply, deadline)) < 0) {
                        r = len;
                        goto fail;
                }
                r = sockdiag_parse_reply(reply, (size_t)len, q, seq, ret);
                if (r != -ESTALE)
                        return r;
                /* A late answer to a request that timed out: ours is behind it. */
        }
fail:
        nl_reset();
        return r;
}

int sockdiag_lookup(const struct sockdiag_query *q, struct sockdiag_owner *ret) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        int r;

        pthread_once(&once, nl_register_atfork);
        pthread_mutex_lock(&nl.lock);
        r = lookup_locked(q, ret);
        pthread_mutex_unlock(&nl.lock);
        return r;
}

#else /* !__linux__: no sock_diag; access.c names no inet peer there. */

int sockdiag_build_request(const struct sockdiag_query *q, uint32_t seq, uint8_t *buf, size_t size) {
        (void)q, (void)seq, (void)buf, (void)size;
        return -EOPNOTSUPP;
}

int sockdiag_parse_reply(const uint8_t *buf, size_t len, const struct sockdiag_query *q, uint32_t seq,
                         struct sockdiag_owner *ret) {
        (void)buf, (void)len, (void)q, (void)seq, (void)ret;
        return -EOPNOTSUPP;
}

int sockdiag_lookup(const struct sockdiag_query *q, struct sockdiag_owner *ret) {
        (void)q, (void)ret;
        return -EOPNOTSUPP;
}

#endif
