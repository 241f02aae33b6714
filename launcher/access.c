/* access.c: who may talk to a per-user agent: the owner-only policy, and the kernel's word on
 * who each peer is (SO_PEERCRED, SCM_CREDENTIALS, sock_diag). See access.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "peercred.h"
#include "sockdiag.h"

/* ---- the policy ---- */

static bool uid_listed(const uid_t *v, size_t n, uid_t uid) {
        for (size_t i = 0; i < n; i++)
                if (v[i] == uid)
                        return true;
        return false;
}

static bool gid_listed(const gid_t *v, size_t n, gid_t gid) {
        for (size_t i = 0; i < n; i++)
                if (v[i] == gid)
                        return true;
        return false;
}

static bool any_listed(const gid_t *gids, int n, const gid_t *allow, size_t n_allow) {
        for (int i = 0; i < n; i++)
                if (gid_listed(allow, n_allow, gids[i]))
                        return true;
        return false;
}

/* ---- group membership, as sshd's AllowGroups sees it, cached per uid ---- */

#define GROUPS_CACHED_USERS 32 /* a flood from more users than this only costs lookups */
#define GROUPS_PER_USER 256    /* a user in more groups is looked up every time */
#define GROUPS_MAX 65536       /* Linux's NGROUPS_MAX: what one lookup may allocate */
#define GROUPS_CACHE_USEC ((uint64_t)ACCESS_GROUPS_CACHE_SEC * 1000000)

struct user_groups {
        bool used;
        uid_t uid;
        uint64_t when_usec;
        int n;
        gid_t gids[GROUPS_PER_USER];
};

static struct {
        pthread_mutex_t lock;
        struct user_groups v[GROUPS_CACHED_USERS];
} group_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };
static atomic_ulong group_lookups;

unsigned long access_group_lookups(void) {
        return atomic_load(&group_lookups);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* uid's user's groups into gids (room for *n): its primary group in the passwd database and
 * every group naming it in the group database. *n becomes the count; a uid without a user is a
 * member of nothing. -ERANGE with *n raised when gids is too small, or -errno. */
static int read_groups(uid_t uid, gid_t *gids, int *n) {
        struct passwd pw, *found = NULL;
        size_t size = 4096;
        char *buf = NULL;
        int room = *n, r;

        atomic_fetch_add(&group_lookups, 1);
        for (;;) {
                char *b = realloc(buf, size);
                if (!b) {
                        r = ENOMEM;
                        break;
                }
                buf = b;
                r = getpwuid_r(uid, &pw, buf, size, &found);
                if (r != ERANGE || size >= (1u << 20))
                        break;
                size *= 2;
        }
        if (r == 0 && !found)
                *n = 0;
        else if (r == 0) {
#ifdef __APPLE__
                r = getgrouplist(pw.pw_name, (int)pw.pw_gid, (int *)gids, n) < 0 ? ERANGE : 0;
#else
                r = getgrouplist(pw.pw_name, pw.pw_gid, gids, n) < 0 ? ERANGE : 0;
#endif
                if (r == ERANGE && *n <= room)
                        *n = room * 2; /* macOS does not say how many it needs */
        }
        free(buf);
        return -r;
}

/* A user in more groups than a cache entry holds: looked up into a buffer of its own. */
static bool member_uncached(uid_t uid, int n, const gid_t *allow, size_t n_allow) {
        bool member = false;

        while (n <= GROUPS_MAX) {
                gid_t *gids = malloc((size_t)n * sizeof *gids);
                int got = n, r;

                if (!gids)
                        return false;
                r = read_groups(uid, gids, &got);
                if (r == 0)
                        member = any_listed(gids, got, allow, n_allow);
                free(gids);
                if (r != -ERANGE)
                        break;
                n = got;
        }
        return member;
}

/* 1 or 0 from a fresh cache entry for uid, -ENOENT when there is none. */
static int cached_member(uid_t uid, uint64_t now, const gid_t *allow, size_t n_allow) {
        int r = -ENOENT;

        pthread_mutex_lock(&group_cache.lock);
        for (size_t i = 0; i < GROUPS_CACHED_USERS; i++) {
                const struct user_groups *e = &group_cache.v[i];
                if (e->used && e->uid == uid && now - e->when_usec < GROUPS_CACHE_USEC) {
                        r = any_listed(e->gids, e->n, allow, n_allow);
                        break;
                }
        }
        pthread_mutex_unlock(&group_cache.lock);
        return r;
}

/* Replaces uid's entry, else a free one, else the oldest. */
static void cache_store(const struct user_groups *fresh) {
        struct user_groups *victim = NULL;

        pthread_mutex_lock(&group_cache.lock);
        for (size_t i = 0; i < GROUPS_CACHED_USERS && !victim; i++)
                if (group_cache.v[i].used && group_cache.v[i].uid == fresh->uid)
                        victim = &group_cache.v[i];
        for (size_t i = 0; i < GROUPS_CACHED_USERS && !victim; i++)
                if (!group_cache.v[i].used)
                        victim = &group_cache.v[i];
        if (!victim) {
                victim = &group_cache.v[0];
                for (size_t i = 1; i < GROUPS_CACHED_USERS; i++)
                        if (group_cache.v[i].when_usec < victim->when_usec)
                                victim = &group_cache.v[i];
        }
        *victim = *fresh;
        pthread_mutex_unlock(&group_cache.lock);
}

/* A fork while another thread holds the cache's lock would leave it held in the child. */
static void cache_prefork(void) {
        pthread_mutex_lock(&group_cache.lock);
}

static void cache_postfork(void) {
        pthread_mutex_unlock(&group_cache.lock);
}

static void cache_register_atfork(void) {
        (void)pthread_atfork(cache_prefork, cache_postfork, cache_postfork);
}

/* Is uid's user a member of a group in allow (the group database, not the peer's process)? */
static bool user_in_groups(uid_t uid, const gid_t *allow, size_t n_allow) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        struct user_groups fresh = { .used = true, .uid = uid, .n = GROUPS_PER_USER };
        int r;

        pthread_once(&once, cache_register_atfork);
        fresh.when_usec = now_usec();
        r = cached_member(uid, fresh.when_usec, allow, n_allow);
        if (r >= 0)
                return r;
        /* Read outside the lock: NSS may be slow, and other peers need not wait for it. */
        r = read_groups(uid, fresh.gids, &fresh.n);
        if (r == -ERANGE)
                return member_uncached(uid, fresh.n, allow, n_allow);
        if (r < 0)
                return false; /* the database could not be read: not a member, and not cached */
        cache_store(&fresh);
        return any_listed(fresh.gids, fresh.n, allow, n_allow);
}

bool access_allowed(const struct access_policy *p, const struct access_peer *peer) {
        if (!peer->known)
                return false;
        if (peer->uid == p->owner || uid_listed(p->allow_uid, p->n_allow_uid, peer->uid))
                return true;
        if (p->n_allow_gid == 0)
                return false;
        if (peer->gid != (gid_t)-1 && gid_listed(p->allow_gid, p->n_allow_gid, peer->gid))
                return true;
        return user_in_groups(peer->uid, p->allow_gid, p->n_allow_gid);
}

/* ---- inet peers ---- */

static bool is_loopback(int family, const uint8_t *a) {
        static const uint8_t v6_loopback[16] = { [15] = 1 };
        return family == AF_INET ? a[0] == 127 : memcmp(a, v6_loopback, 16) == 0;
}

static void format_addr(const struct sockdiag_query *q, char *buf, size_t size) {
        char text[INET6_ADDRSTRLEN];

        if (!inet_ntop(q->family, q->src, text, sizeof text))
                snprintf(text, sizeof text, "?");
        if (q->family == AF_INET6)
                snprintf(buf, size, "[%s]:%u", text, q->sport);
        else
                snprintf(buf, size, "%s:%u", text, q->sport);
}

#ifdef __linux__
/* One of this host's interface addresses? When they cannot be listed: yes (fail closed). */
static bool interface_address(int family, const uint8_t *a) {
        struct ifaddrs *ifs;
        bool found = false;

        if (getifaddrs(&ifs) < 0)
                return true;
        for (const struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
                if (!i->ifa_addr || i->ifa_addr->sa_family != family)
                        continue;
                if (family == AF_INET)
                        found = memcmp(&((const struct sockaddr_in *)i->ifa_addr)->sin_addr, a, 4) == 0;
                else
                        found = memcmp(&((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, a, 16) == 0;
        }
        freeifaddrs(ifs);
        return found;
}

/* Is the peer q names on this host: loopback, our own address (what the kernel picks to reach
 * a local address), or any address of this host's? */
static bool on_this_host(const struct sockdiag_query *q) {
        return is_loopback(q->family, q->src) || memcmp(q->src, q->dst, sizeof q->src) == 0 ||
               interface_address(q->family, q->src);
}
#endif

/* Names the owner of the peer q describes into *peer and decides: 1 allowed, 0 refused, or
 * -errno (sockdiag_lookup's) when it could not be looked up. */
static int decide_inet(const struct access_policy *p, const struct sockdiag_query *q, struct access_peer *peer) {
#ifdef __linux__
        struct sockdiag_owner o;
        int r;

        /* A UDP lookup is not exact: the kernel answers with whichever local socket would
         * receive a datagram for that address and port, and a wildcard-bound one on the same
         * port would answer for a remote sender. So only local senders are looked up. */
        if (q->protocol == IPPROTO_UDP && !on_this_host(q))
                return 1;
        r = sockdiag_lookup(q, &o);
        if (r == 0) {
                peer->known = peer->local = true;
                peer->uid = o.uid;
                return access_allowed(p, peer);
        }
        if (r == -EOWNERDEAD) {
                peer->local = true;
                return 0;
        }
        if (r != -ENOENT)
                return r;
        /* Nobody on this host has that socket: a remote peer, or a local one already gone (an
         * RST-closed TCP socket whose data is still queued for us). */
        peer->local = q->protocol == IPPROTO_UDP || on_this_host(q);
        return !peer->local;
#else
        /* macOS has no sock_diag: an inet peer's owner cannot be named (README, Security). */
        (void)p;
        peer->local = is_loopback(q->family, q->src);
        return 1;
#endif
}

static int inet_stream_decide(const struct access_policy *p, int fd, struct access_peer *peer) {
        struct sockaddr_storage local, remote;
        socklen_t llen = sizeof local, rlen = sizeof remote;
        struct sockdiag_query q;
        int r;

        if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
            getpeername(fd, (struct sockaddr *)&remote, &rlen) < 0)
                return -errno;
        r = sockdiag_query_peer(IPPROTO_TCP, (struct sockaddr *)&remote, (struct sockaddr *)&local, &q);
        if (r < 0)
                return r;
        format_addr(&q, peer->addr, sizeof peer->addr);
        return decide_inet(p, &q, peer);
}

int access_check_stream(const struct access_policy *p, int fd, int family, struct access_peer *ret_peer) {
        struct access_peer peer = { .uid = (uid_t)-1, .gid = (gid_t)-1 };
        struct peercred pc;
        int r;

        switch (family) {
        case AF_UNIX:
                if ((r = peercred_get_unix(fd, &pc)) < 0)
                        return r;
                peer.known = peer.local = true;
                peer.pid = pc.pid;
                peer.uid = pc.uid;
                peer.gid = pc.gid;
                r = access_allowed(p, &peer);
                break;
        case AF_INET:
        case AF_INET6:
                if ((r = inet_stream_decide(p, fd, &peer)) < 0)
                        return r;
                break;
        default:
                return -EAFNOSUPPORT;
        }
        *ret_peer = peer;
        return r;
}

/* ---- datagrams ---- */

/* The next datagram's sender, peeked: where it came from and, for UDP, where it was sent (its
 * destination, from IP_PKTINFO); for unix, the credentials the kernel attached. */
struct sender {
        struct sockaddr_storage from, to;
        bool has_creds;
        struct peercred creds;
};

/* For unix: room for the credentials and nothing more. A peeked datagram that carries
 * SCM_RIGHTS would install the sender's fds in this process on every peek; with no room left
 * for them, none are (and drop_datagram() has no room at all: the kernel closes them). */
#ifdef SCM_CREDENTIALS
#define UNIX_CONTROL_SIZE CMSG_SPACE(sizeof(struct ucred))
#else
#define UNIX_CONTROL_SIZE 0
#endif
#define INET_CONTROL_SIZE 64 /* one in6_pktinfo or in_pktinfo */

static void read_control(struct msghdr *m, struct sender *s) {
        (void)s; /* macOS has neither message */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
#ifdef SCM_CREDENTIALS
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                    c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
                        struct ucred uc;
                        memcpy(&uc, CMSG_DATA(c), sizeof uc);
                        /* pid 0: queued before SO_PASSCRED was set, so no credentials were
                         * attached (the uid then reads as the overflow uid, 65534). */
                        s->has_creds = uc.pid != 0;
                        s->creds = (struct peercred){ .pid = uc.pid, .uid = uc.uid, .gid = uc.gid };
                }
#endif
#ifdef __linux__
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && s->to.ss_family == AF_INET &&
                    c->cmsg_len == CMSG_LEN(sizeof(struct in_pktinfo))) {
                        struct in_pktinfo pi;
                        memcpy(&pi, CMSG_DATA(c), sizeof pi);
                        ((struct sockaddr_in *)&s->to)->sin_addr = pi.ipi_addr;
                }
                if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO && s->to.ss_family == AF_INET6 &&
                    c->cmsg_len == CMSG_LEN(sizeof(struct in6_pktinfo))) {
                        struct in6_pktinfo pi;
                        memcpy(&pi, CMSG_DATA(c), sizeof pi);
                        ((struct sockaddr_in6 *)&s->to)->sin6_addr = pi.ipi6_addr;
                }
#endif
        }
}

/* Peeks at the next datagram's sender. The only step whose failure leaves the datagram queued
 * (-EAGAIN: there is none). */
static int peek_sender(int fd, int family, struct sender *ret) {
        union {
                struct cmsghdr align;
                char buf[INET_CONTROL_SIZE];
        } control;
        struct sender s = {};
        socklen_t tolen = sizeof s.to;
        struct msghdr m = {
                .msg_control = control.buf,
                .msg_controllen = family == AF_UNIX ? UNIX_CONTROL_SIZE : INET_CONTROL_SIZE,
        };

        if (m.msg_controllen == 0)
                m.msg_control = NULL;
        if (family != AF_UNIX) {
                m.msg_name = &s.from;
                m.msg_namelen = sizeof s.from;
                /* Our address and port; read_control() puts the datagram's destination in place
                 * of a wildcard address when the socket reports it (access_prepare_datagram). */
                if (getsockname(fd, (struct sockaddr *)&s.to, &tolen) < 0)
                        return -errno;
        }
        while (recvmsg(fd, &m, MSG_PEEK | MSG_DONTWAIT) < 0)
                if (errno != EINTR)
                        return -errno;
        if (m.msg_control && m.msg_controllen > 0)
                read_control(&m, &s);
        *ret = s;
        return 0;
}

/* A unix datagram socket bound to a path that only owner (or root) may write: the kernel let
 * only them send to it (sendto() needs write permission on the socket file). */
static bool path_guards_senders(int fd, uid_t owner) {
        struct sockaddr_un sa;
        socklen_t len = sizeof sa;
        struct stat st;

        memset(&sa, 0, sizeof sa);
        if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || len <= offsetof(struct sockaddr_un, sun_path) ||
            sa.sun_path[0] == '\0' || len >= sizeof sa)
                return false; /* unbound or abstract: no file, no mode */
        sa.sun_path[len - offsetof(struct sockaddr_un, sun_path)] = '\0';
        return lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_uid == owner || st.st_uid == 0) &&
               !(st.st_mode & (S_IWGRP | S_IWOTH));
}

static int decide_sender(const struct access_policy *p, int fd, int family, const struct sender *s,
                         struct access_peer *peer) {
        struct sockdiag_query q;
        int r;

        if (family == AF_UNIX) {
                peer->local = true;
#ifndef SCM_CREDENTIALS
                /* macOS attaches no credentials to datagrams: the socket file's mode decides (the
                 * plists make it 0600). */
                return path_guards_senders(fd, p->owner) ? 1 : 0;
#else
                /* No credentials: the datagram was queued before SO_PASSCRED was set (the one that
                 * started us, when the .socket unit lacks PassCredentials=yes). Nobody can say who
                 * sent it, unless the socket file's mode let only the owner send at all. */
                if (!s->has_creds)
                        return path_guards_senders(fd, p->owner) ? 1 : 0;
                peer->known = true;
                peer->pid = s->creds.pid;
                peer->uid = s->creds.uid;
                peer->gid = s->creds.gid;
                return access_allowed(p, peer);
#endif
        }
        r = sockdiag_query_peer(IPPROTO_UDP, (const struct sockaddr *)&s->from, (const struct sockaddr *)&s->to, &q);
        if (r < 0)
                return r;
        format_addr(&q, peer->addr, sizeof peer->addr);
        return decide_inet(p, &q, peer);
}

/* Takes the head datagram off the socket, unread. */
static void drop_datagram(int fd) {
        struct msghdr m = {};

        while (recvmsg(fd, &m, MSG_DONTWAIT) < 0 && errno == EINTR)
                ;
}

int access_check_datagram(const struct access_policy *p, int fd, int family, struct access_peer *ret_peer) {
        struct access_peer peer = { .uid = (uid_t)-1, .gid = (gid_t)-1 };
        struct sender s;
        int r;

        if (family != AF_UNIX && family != AF_INET && family != AF_INET6)
                return -EAFNOSUPPORT;
        if ((r = peek_sender(fd, family, &s)) < 0)
                return r;
        r = decide_sender(p, fd, family, &s, &peer);
        if (r <= 0)
                drop_datagram(fd); /* refused, or not examined: fail closed */
        if (r >= 0)
                *ret_peer = peer;
        return r;
}

int access_prepare_datagram(int fd, int family) {
        int one = 1, r = 0;

        switch (family) {
        case AF_UNIX:
#ifdef SO_PASSCRED
                r = setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
#endif
                break;
        case AF_INET:
#ifdef __linux__
                r = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
#endif
                break;
        case AF_INET6:
#ifdef __linux__
                /* Also for IPv4 datagrams on a dual-stack socket: the kernel reports their
                 * destination v4-mapped. */
                r = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
#endif
                break;
        default:
                return -EAFNOSUPPORT;
        }
        (void)one, (void)fd; /* unused where no option above applies (macOS) */
        return r < 0 ? -errno : 0;
}

/* ---- for log lines ---- */

const char *access_peer_describe(const struct access_peer *peer, char *buf, size_t size) {
        if (peer->known && peer->addr[0])
                snprintf(buf, size, "uid %ld (%s)", (long)peer->uid, peer->addr);
        else if (peer->known && peer->pid > 0)
                snprintf(buf, size, "uid %ld (pid %ld)", (long)peer->uid, (long)peer->pid);
        else if (peer->known)
                snprintf(buf, size, "uid %ld", (long)peer->uid);
        else if (peer->addr[0])
                snprintf(buf, size, "%s (%s)", peer->addr, peer->local ? "on this host, owner unknown" : "remote");
        else
                snprintf(buf, size, "a local sender without credentials");
        return buf;
}

const char *access_error_hint(int err) {
        switch (err < 0 ? -err : err) {
        case EAFNOSUPPORT:
        case EPERM:
        case EACCES:
        case EPROTONOSUPPORT:
                return "the owner of a TCP or UDP peer on this host is looked up over a NETLINK_SOCK_DIAG "
                       "socket, which this process may not open: allow AF_NETLINK (systemd: "
                       "RestrictAddressFamilies=), or listen on a unix socket instead";
        case ETIMEDOUT:
                return "the kernel did not answer the socket-diagnostics lookup in time";
        default:
                return "";
        }
}
